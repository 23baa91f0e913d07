"""The analyzer's main window: source choice, transport controls, plot stack, side panel,
status bar and an in-window error banner.

A recording is a document: opening a file analyses all of it in the background at full speed
(or reopens its earlier analysis from the session folder), while the playhead plays it at the
chosen speed, with sound at 1x. Seeking, pausing and playing again move only the playhead
(:class:`gui.transport.Transport`); nothing computed is discarded. The microphone streams live.

Threads: the engine runs in its own workers; this window only drains its results on a QTimer
(``REFRESH_MS``) and redraws what changed. Nothing here waits for audio or the model; opening a
recording reads it once to hash it (the reuse of earlier analyses), then again only when it changes.
"""

from __future__ import annotations

import html
import math
import os
import re
import time
from pathlib import Path

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from gui import engine_bridge as eb
from gui.events import Audio, Finished, Problem, Result, Segment, VadFlags
from gui.filedialogs import choose_file
from gui.history import TrackHistory
from gui.paths import sessions_folder
from gui.plots import NO_AUDIO_INPUT_HINT, NO_MICROPHONE_HINT, PLOT_BACKGROUND, START_HINT, PlotStack
from gui.settings import SPEEDS, GuiSettings, SettingsDialog
from gui.side_panel import SidePanel
from gui.transport import END_MARGIN_S, FILE, IDLE, MIC, SESSION, Transport
from model.audio import (
    TURN_TAKING,
    VERY_QUIET_PEAK,
    in_app_split_advice,
    is_live_quiet_message,
    is_live_sound_back_message,
)
from model.errors import SERError
from streamer import portaudio
from streamer.monitor import OUTPUT_ADVICE
from streamer.player import SOUND_NOTICE_END
from streamer.session import LIVE_ENDED_UNREPORTED, ended_unreported, is_live, renamed_tracks, skipped_tracks
from streamer.summary import clock_text as _clock
from streamer.summary import pause_length_text, time_text

REFRESH_MS = 33  # ~30 redraws per second
MAX_EVENTS_PER_TICK = 4000  # bounds the work of one tick; the rest waits for the next one
STATUS_EVERY_S = 0.5
SEEK_STEP_S = 5.0
TITLE_PAD_PX = 6  # above and below the title line of an exported image
MAX_ERRORS_KEPT = 100
BANNER_MESSAGES_KEPT = 8  # messages the banner keeps (the newest; it scrolls)
BANNER_SEPARATOR = "\n\n"
BANNER_HEIGHT_SHARE = 0.12  # of the window's height: the banner's text scrolls beyond it ...
BANNER_MIN_LINES = 3  # ... or beyond this many lines in a small window
# The engine's session store writes JSON lines; a JSON export (ser analyze --format json, the JSON
# export, ser batch's results.json) opens the same way.
SESSION_SUFFIXES = (".jsonl", ".json")
AUDIO_FILTER = "Audio files (*.wav *.flac *.ogg *.mp3 *.aiff *.aif);;All files (*)"
SESSION_FILTER = "Sessions and JSON exports (*.jsonl *.json);;All files (*)"
SOUND_SPEED = 1.0  # sound plays at this speed only
SOUND_HINT_MS = 6000
REOPEN_NOTE_MS = 8000
STATUS_MARGIN_PX = 6  # room a passing note in the status bar leaves on each side
# The status bar's state field takes the room the other fields leave, less this much for a passing
# note, and at least STATE_FIELD_MIN_PX (cut short with "…", whole in its tooltip): a long state
# ("session NAME: live audio, not recorded: ...") crushed the fields beside it to "devic…" and left
# a passing note ("Exported ...") a few letters.
FLASH_ROOM_PX = 360
STATE_FIELD_MIN_PX = 120
AUDIO_MARGIN_S = 60.0  # a recording's level and spectrogram history: its length and this (header rounding)
AGENT_NOT_ANALYSED = " (the agent's channel: turn it on in Settings where that is lawful)"
# The same lane in a saved session: what Settings say now does not change what was analysed then.
SESSION_NOT_ANALYSED = " (left out when this call was analysed, as the settings were then)"
# Analysis settings changed while a saved session is shown.
SESSION_SETTINGS = ("The new analysis settings apply to what is analysed from now on: this saved session keeps the "
                    "results it was made with.")
# The channel setting changed while a saved session is shown: its lanes are those it was analysed with.
SESSION_CHANNELS = ("The channel setting applies to what is analysed from now on: this saved session keeps the lanes "
                    "it was analysed with.")
# After either, how the session could be analysed again: from its recording, or not at all (live audio).
AGAIN_FROM_RECORDING = " Open its recording to analyse it again with {them}."
AGAIN_LIVE = " Its audio was live and not recorded, so it cannot be analysed again."
MONO_MIC_NOTICE = ("This microphone has one channel, so the call-centre view analyses all of it: every voice it "
                   "hears, an agent's too. In the EU, inferring the emotions of employees at work is prohibited "
                   "(AI Act, Art. 5(1)(f)): do not listen to an agent's headset here. The call-centre view leaves "
                   "the agent out of a device with a channel for each party.")
# A recording of one channel in the call-centre view: the agent's voice is in it (see _show_mono_call).
MONO_CALL_NOT_ANALYSED = (" (one channel holds every voice of the call, the agent's too: Channels: Mixed analyses "
                          "it whole)")
# A further channel of a call with more than two (the call-centre view analyses the customer's only).
OTHER_NOT_ANALYSED = " (only the customer's channel is analysed: Settings turns on every channel where that is lawful)"
# Other speeds are silent rather than resampled: a sped-up or slowed voice changes pitch, which
# misleads about the very emotion being judged.
CHANNEL_CHOICES = (("Mixed", "Mixed (one lane)", "mix"), ("Call centre", "Call centre (two lanes)", "split"))
DEVICE_NAME_CHARS = 16  # the microphone list's width in characters (a longer name is cut in the toolbar)
WINDOW_PX = (1400, 900)  # the window's first size where the screen has room for it ...
SCREEN_SHARE = 0.95  # ... else this share of the screen's free area
MIN_WINDOW_PX = (900, 560)  # below this, lane titles, axis labels and the panel ran into each other
INTERRUPTED_QUIET_S = 30.0  # a session without an end record unchanged this long is not being written
SOUND_TIP = ("Play the replayed file through the sound output (at 1x speed only: other speeds are silent, "
             "because a sped-up or slowed voice changes pitch). Choose the output device in Settings.")

NOTHING_TO_PLAY = "nothing to play: open a file (Ctrl+O) or a session, or press Listen for the microphone"
PLAY_TIP = "Start, pause or resume (Space)"
UNHEARD_MIN_S = 0.25  # a live restart's gap in the audio from this long on is recorded as a pause

# Sources that read a file: the app's and ser analyze's FileSource, and ser batch's ChannelSelection
# (a call file split into channels).
FILE_SOURCES = ("FileSource", "ChannelSelection")


def _engine_source(meta: dict) -> dict:
    """What the engine recorded of a session's source (kind, path, channels, duration_s), or {}."""
    return (meta.get("engine") or {}).get("source") or {}


def _session_channels(meta: dict, n_tracks: int) -> str:
    """How a session's recording was read: "split" (a track per channel) or "mix"."""
    return meta.get("channels") or _engine_source(meta).get("channels") or ("split" if n_tracks > 1 else "mix")


def _recording_path(meta: dict) -> str | None:
    """The recording a session's metadata names, when its source was a file (else None)."""
    source = _engine_source(meta)
    if meta.get("source") == "file" and meta.get("path"):
        return meta["path"]
    return source.get("path") if source.get("kind") in FILE_SOURCES else None


def pause_text(paused_s: float) -> str:
    """The label of a live pause's marker."""
    return f"paused {pause_length_text(paused_s)}"


EXPORT_ENDINGS = {"html": (".html", ".htm")}  # the endings a format's file may have (else ".FORMAT")


def export_path(path: str | Path, fmt: str) -> Path:
    """Where an export named ``path`` goes: with the format's ending added when it has none of them."""
    path = Path(path)
    if path.suffix.lower() in EXPORT_ENDINGS.get(fmt, (f".{fmt}",)) or not path.name:
        return path
    return path.with_name(f"{path.name}.{fmt}")


def sentence(text: str) -> str:
    """A message as a sentence: a capital first, a full stop last (an engine's message may start with a
    device's name in lower case, or end with a bracket)."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "?", "!")) else text + "."


def _incomplete_note(name: str, loaded) -> str | None:
    """What to tell the user when an opened session's analysis did not reach the end of its
    recording: stopped (by the user, or on an error) or unfinished (no end record: killed, or the
    machine stopped), how far it got and of how much; None when it is complete."""
    analysis = loaded.analysis or {}
    state = analysis.get("state")
    if state in (None, "complete"):
        return None
    until = analysis.get("analysed_until_s") or 0.0
    if state != "stopped" and analysis.get("exported_running"):  # no end record yet when it was exported
        doing = "listening" if is_live(loaded.metadata) else "its analysis running"
        return (f"{name}: this JSON export was made while the session was still being written ({doing}); the "
                f"results up to {time_text(until)} are in it.")
    if is_live(loaded.metadata):  # listening ends when someone stops it: an error or a kill is worth a word
        ended_by = (analysis.get("ended") or {}).get("ended_by")
        if state == "stopped" and ended_unreported(ended_by):
            return f"{name}: listening ended by itself, with no error reported. The results up to {time_text(until)} are kept."
        if state == "stopped" and isinstance(ended_by, str) and ended_by:
            said = "." if ended_by in loaded.messages else f": {sentence(ended_by)}"  # else "While it listened" says it
            return f"{name}: listening ended on an error{said} The results up to {time_text(until)} are kept."
        if state == "stopped":
            return None
        return (f"{name}: the program was killed or crashed while it listened, or the disk filled up; the results "
                f"up to {time_text(until)} are kept.")
    total = _engine_source(loaded.metadata).get("duration_s")
    of = f" of {time_text(total)}" if total else ""
    if state == "stopped":
        why = "the analysis was stopped before the end of the recording"
    else:
        why = "the analysis did not finish (the program was killed or crashed while it ran, or the disk filled up)"
    return f"{name}: {why}. Its results cover {time_text(until)}{of}."


MESSAGES_SHOWN = 3  # of what was said while a session was analysed, when it is opened


def _in_app_words(message: str, session: bool = False) -> str:
    """A message's advice as the window gives it (the engine's is for the command line): a device
    error's (a microphone's, the sound output's), and a note's that a mixed call's channels take turns (``session``: said of an open
    session, whose recording must be opened again to be analysed otherwise)."""
    message = message.replace("; run `ser devices` to list them.", ": press ↻ beside the microphone list to "
                              "refresh it, choose one, and press Listen.").replace(OUTPUT_ADVICE, APP_OUTPUT_ADVICE)
    return in_app_split_advice(message, session)


def _file_stamp(path: Path) -> tuple[int, int] | None:
    """A file's size and modification time: another recording written to the same path differs."""
    try:
        st = Path(path).stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


_PATH = re.compile(r"[^\s:'\"()]*/[^\s:'\"()]+")  # a path with a folder in a message


def _said_within(text: str, shown: str) -> bool:
    """Whether ``text`` is said within ``shown``, a path in it also where ``shown`` names the same file
    by a shorter path, the end of it: a session's note names its recording as the session recorded it
    (calls/x.wav, relative to where it was analysed), the recording read again by its full path."""
    if text in shown:
        return True
    for path in set(_PATH.findall(text)):
        for short in set(_PATH.findall(shown)):
            if path.endswith("/" + short.lstrip("./")) and text.replace(path, short) in shown:
                return True
    return False


def _said_note(messages: list[str], live: bool = False) -> str | None:
    """What was said while an opened session was analysed (its recording's level, a damaged file, a
    failure), or while it listened (``live``), as the banner gives it then; None when nothing was."""
    if not messages:
        return None
    more = len(messages) - MESSAGES_SHOWN
    rest = f" ({more} more in its JSON export.)" if more > 0 else ""
    return (("While it listened: " if live else "When it was analysed: ")
            + " ".join(_in_app_words(m, session=True) for m in messages[:MESSAGES_SHOWN]) + rest)


EXPORT_FAILED = "Export failed: "  # how the banner begins an export's failure
LIVE_ENDED = LIVE_ENDED_UNREPORTED  # what ended it, when the engine said nothing (the exports say it so)
PAUSED_SETTINGS = "Settings changed while paused: "  # a notice that holds only until the paused session ends
NO_INPUT_ERRORS = ("No microphone found.", "Microphones cannot be listed")  # how Listen's errors with none begin
WITHOUT_SOUND = " without sound."  # how a message that the sound failed ends
# The app's words for OUTPUT_ADVICE: it turns the sound off itself.
SOUND_OFF = "Sound is now off (Ctrl+M turns it on again)."
APP_OUTPUT_ADVICE = f"{SOUND_OFF[:-1]}; Settings > Sound output chooses the device."
SETTINGS_CHANGED = "Settings changed at "  # how the notice of a change while listening begins
MIXED_CALL = "Mixed: all channels are analysed together, "  # how the notice of a call turned to Mixed begins
NEXT_LISTEN = " from the next Listen: "  # what a choice that waits for the next session says


def initial_size(screen: QtGui.QScreen | None) -> tuple[int, int]:
    """The window's first size: WINDOW_PX, within the screen's free area (a 1366 x 768 laptop's was
    smaller than it: the panel's percentages and Follow were cut off), never below MIN_WINDOW_PX."""
    if screen is None:
        return WINDOW_PX
    free = screen.availableGeometry()
    room = (int(free.width() * SCREEN_SHARE), int(free.height() * SCREEN_SHARE))
    return tuple(max(low, min(want, have)) for want, have, low in zip(WINDOW_PX, room, MIN_WINDOW_PX))


class ElidedLabel(QtWidgets.QLabel):
    """A status-bar field that, where the bar is too narrow for it, ends with "…" instead of being
    cut mid-word ("device: cpu (ONNX Runtim"); while it is cut short, its tooltip has it whole (the
    state field's always has: see MainWindow._set_state)."""

    def __init__(self, text: str = "", parent=None):
        super().__init__(text, parent)
        self._own_tip = ""  # a tooltip set on purpose, kept when the text fits

    def minimumSizeHint(self) -> QtCore.QSize:  # noqa: N802 - Qt override
        hint = super().minimumSizeHint()
        return QtCore.QSize(min(hint.width(), self.fontMetrics().horizontalAdvance("…" * 4) + 8), hint.height())

    def setText(self, text: str) -> None:  # noqa: N802 - Qt override
        super().setText(text)
        self._fit_tip()

    def setToolTip(self, tip: str) -> None:  # noqa: N802 - Qt override
        self._own_tip = tip
        self._fit_tip()

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._fit_tip()

    def _fit_tip(self) -> None:
        own = self._own_tip
        if self.shown_text() != self.text() and not own.startswith(self.text()):
            own = self.text() + (f"\n{own}" if own else "")  # the whole text first, then what it means
        super().setToolTip(own)

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:  # noqa: N802 - Qt override
        painter = QtGui.QPainter(self)
        room = self.contentsRect()
        text = self.fontMetrics().elidedText(self.text(), QtCore.Qt.TextElideMode.ElideRight, room.width())
        painter.drawText(room, int(QtCore.Qt.AlignmentFlag.AlignLeft | QtCore.Qt.AlignmentFlag.AlignVCenter), text)

    def shown_text(self) -> str:
        """The text as it is drawn now."""
        return self.fontMetrics().elidedText(self.text(), QtCore.Qt.TextElideMode.ElideRight, self.contentsRect().width())


class ErrorBanner(QtWidgets.QFrame):
    """A dismissable message strip at the top of the window (never a modal dialog)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("errorBanner")
        self.setStyleSheet(self.ERROR_STYLE)
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        self.label = QtWidgets.QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.label.setAlignment(QtCore.Qt.AlignmentFlag.AlignLeft | QtCore.Qt.AlignmentFlag.AlignTop)
        # Several messages in a small window took the plots' room: beyond a share of the window's
        # height they scroll (the newest in view).
        self.scroll = QtWidgets.QScrollArea()
        self.scroll.setWidget(self.label)
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.viewport().setAutoFillBackground(False)
        self.label.setAutoFillBackground(False)
        self._shown: list[tuple[str, bool, bool]] = []  # (text, notice, passing), oldest first
        close = QtWidgets.QPushButton("Dismiss")
        close.clicked.connect(self.dismiss)
        layout.addWidget(self.scroll, 1)
        layout.addWidget(close, 0, QtCore.Qt.AlignmentFlag.AlignTop)
        self.hide()

    def _fit_height(self) -> None:
        """As tall as its text, up to BANNER_HEIGHT_SHARE of the window (at least BANNER_MIN_LINES)."""
        window = self.window().height() if self.window() is not self else 0
        lines = self.label.fontMetrics().lineSpacing()
        most = max(BANNER_MIN_LINES * lines, int(BANNER_HEIGHT_SHARE * window))
        width = self.scroll.viewport().width() or self.scroll.width()
        need = self.label.heightForWidth(width) if width > 0 else self.label.sizeHint().height()
        # Scrolled to the newest, what is out of view above is whole lines (a line cut in half read badly).
        height = need if need <= most else need - -(-(need - most) // lines) * lines
        self.scroll.setFixedHeight(max(lines, height))
        self._show_newest()

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._fit_height()

    _SCROLL_STYLE = (" QScrollArea, QScrollArea > QWidget > QWidget { background: transparent; }"
                     " QScrollBar:vertical { background: transparent; width: 8px; margin: 0; }"
                     " QScrollBar::handle:vertical { background: rgba(255, 255, 255, 110); border-radius: 4px;"
                     " min-height: 16px; }"
                     " QScrollBar::add-line:vertical, QScrollBar::sub-line:vertical { height: 0; }"
                     " QScrollBar::add-page:vertical, QScrollBar::sub-page:vertical { background: none; }")
    ERROR_STYLE = ("#errorBanner { background: #5a1d1d; border: 1px solid #c0392b; } QLabel { color: #ffdede; }"
                   + _SCROLL_STYLE)
    NOTE_TEXT_ON_ERROR = "#a9d1ff"  # a note's text in a banner that also shows an error
    NOTICE_STYLE = ("#errorBanner { background: #1d3a5a; border: 1px solid #2f6fab; } QLabel { color: #e2efff; }"
                    + _SCROLL_STYLE)

    def show_message(self, text: str, notice: bool = False, passing: bool = False, keep: bool = True) -> None:
        """An error (red), or with ``notice`` a note on what the app does (blue), below the messages
        shown (a recording's notes on its audio came together, and each hid the one before); one said
        again moves to the end, and one said already within a shown message is not added. The newest BANNER_MESSAGES_KEPT stay, besides a ``passing`` message (an
        export's failure), which replaces an earlier one and goes with :meth:`withdraw`. Without
        ``keep``, in place of them all. Red while any message shown is an error. A new start clears
        it (MainWindow.clear_error), a restart its errors only (:meth:`drop_errors`)."""
        # Said already within a longer message (a session's note "When it was analysed: ...", and the
        # same damage met again when its recording is read): its words are shown once, and an error
        # said within a note makes that message an error (the banner turns red).
        within = [i for i, m in enumerate(self._shown) if text != m[0] and _said_within(text, m[0])] if keep else []
        if within:
            if not notice:
                i = within[0]
                self._shown[i] = (self._shown[i][0], False, self._shown[i][2])
                self._render()
            return
        kept = [m for m in self._shown if m[0] != text and not (passing and m[2])] if keep else []
        kept.append((text, notice, passing))
        while sum(not m[2] for m in kept) > BANNER_MESSAGES_KEPT:  # the oldest goes (never for a passing one)
            kept.remove(next(m for m in kept if not m[2]))
        self._shown = kept
        self._render()

    def _render(self) -> None:
        if not self._shown:
            self.hide()
            return
        notes = [m[1] for m in self._shown]
        self.setStyleSheet(self.NOTICE_STYLE if all(notes) else self.ERROR_STYLE)
        if all(notes) or not any(notes):
            self.label.setTextFormat(QtCore.Qt.TextFormat.PlainText)
            self.label.setText(self.text())
        else:  # errors and notes together: each note keeps its blue (a note read as an error in red)
            self.label.setTextFormat(QtCore.Qt.TextFormat.RichText)
            self.label.setText(self._mixed_html())
        self.show()
        self._fit_height()

    def text(self) -> str:
        """The messages as one text, oldest first, a blank line between them."""
        return BANNER_SEPARATOR.join(m[0] for m in self._shown)

    def _mixed_html(self) -> str:
        """The messages as rich text: each note in the notes' blue and called a note, inside the
        errors' red banner (a note in red read as an error; on a blue block, as a selection). Lines of
        one height, so that the banner scrolls by whole lines."""
        parts = []
        for text, notice, _ in self._shown:
            body = html.escape(text).replace("\n", "<br>")
            parts.append(f'<span style="color: {self.NOTE_TEXT_ON_ERROR};"><b>Note:</b> {body}</span>' if notice
                         else body)
        return "<br><br>".join(parts)

    def _show_newest(self) -> None:
        """Scroll to the newest message, once the text is laid out (the timer goes with the banner)."""
        bar = self.scroll.verticalScrollBar()
        QtCore.QTimer.singleShot(0, bar, lambda: bar.setValue(bar.maximum()))

    def _take_off(self, gone) -> None:
        """Take the messages ``gone((text, notice, passing))`` says are gone off; the banner hides
        when none is left."""
        if any(gone(m) for m in self._shown) and not self.isHidden():
            self._shown = [m for m in self._shown if not gone(m)]
            self._render()

    def drop_errors(self) -> None:
        """Take the errors off, keep the notes (a restart of the same analysis or session: what went
        wrong before it no longer applies, what was said of its audio still does)."""
        self._take_off(lambda m: not m[1])

    def dismiss(self) -> None:
        """Hide it and forget what it showed (what comes next starts afresh)."""
        self._shown = []
        self.hide()

    def messages(self) -> list[str]:
        """The messages shown, oldest first (none when hidden)."""
        return [] if self.isHidden() else [m[0] for m in self._shown]

    def replace_message(self, old: str, new: str) -> None:
        """Put ``new`` where ``old`` is shown (the call-centre notice names the lanes as they are now)."""
        if old in self.messages():
            self._shown = [(new, *m[1:]) if m[0] == old else m for m in self._shown]
            self._render()

    def withdraw_containing(self, part: str) -> None:
        """Take the messages that contain ``part`` off."""
        self._take_off(lambda m: part in m[0])

    def withdraw(self, prefix: str | tuple[str, ...]) -> None:
        """Take the messages that begin with ``prefix`` (or one of them) off (an export's failure, once
        an export worked); what they covered stays, or the banner hides."""
        self._take_off(lambda m: m[0].startswith(prefix))


class _ClickToSeekStyle(QtWidgets.QProxyStyle):
    """The application's style, but a left click on a slider's groove moves the handle to the point
    clicked (as in media players), where Qt's default steps a page toward it."""

    def styleHint(self, hint, option=None, widget=None, return_data=None):
        if hint == QtWidgets.QStyle.StyleHint.SH_Slider_AbsoluteSetButtons:
            return QtCore.Qt.MouseButton.LeftButton.value
        return super().styleHint(hint, option, widget, return_data)


class MainWindow(QtWidgets.QMainWindow):
    """Live monitoring, file replay, saved sessions and the call-centre view."""

    sig_replay_finished = QtCore.Signal()  # the playhead reached the end of the recording
    sig_analysis_finished = QtCore.Signal()  # the recording is analysed to its end
    sig_error = QtCore.Signal(str)
    position_changed = QtCore.Signal(float)

    def __init__(self, settings: GuiSettings | None = None, bridge: eb.EngineBridge | None = None,
                 session_dir: str | Path | None = None, session_path: str | Path | None = None,
                 store: QtCore.QSettings | None = None, track_names: list[str] | None = None):
        """Args:
            settings: Initial settings.
            bridge: The engine bridge (tests may pass a stand-in).
            session_dir: Where new session files go.
            session_path: The session file of the first run (``ser gui --session``).
            store: Where settings and lane names are saved when they change (None: not saved).
            track_names: Lane names of a stereo source (default "Agent", "Customer").
        """
        super().__init__()
        self.setWindowTitle("Speech-emotion analyzer")
        self.resize(*initial_size(QtGui.QGuiApplication.primaryScreen()))
        self.setMinimumSize(*MIN_WINDOW_PX)
        self.setAcceptDrops(True)
        self.settings = settings or GuiSettings()
        self.bridge = bridge or eb.EngineBridge()
        self.session_dir = Path(session_dir) if session_dir else sessions_folder()
        self._export_dir: Path | None = None  # where the last export went: the next one is offered there
        self.explicit_session_path = Path(session_path) if session_path else None
        self.scripted = False  # run by ser gui --exit-when-done or --snapshot: no question is asked
        self.session_path: Path | None = None
        self.transport = Transport(speed=self.settings.speed)
        self.session_metadata: dict = {}  # of the session opened with open_session
        self._actions_state = None  # what the enabled actions were last set for
        self.source_path: Path | None = None
        self.mic_device = None
        self._mic_paused = False
        self._listening_with: tuple | None = None  # (device, channels) of the running live session
        self._waiting_choices: list[str] = []  # choices made while listening, for the next Listen
        self._paused_since = 0.0  # monotonic time of the live session's pause
        self._analysed_with: tuple | None = None  # the analysis settings the live engine last started with
        self._split_shown: tuple[int, str] | None = None  # the call-centre notice shown: channels, text
        self._tick_t = time.monotonic()
        self._announced_end = False
        self._waiting_for_analysis = False  # the playhead caught up with the analysis; the sound waits too
        self._analysis_failed = False  # the running analysis reported a fatal error: its session is not complete
        self.store = store
        self.track_names: list[str] = list(track_names or eb.DEFAULT_TRACK_NAMES)
        # The lane names each new recording and live session starts with. A rename is the shown
        # recording's or session's only (saved in its session, not in the settings: a name typed for one
        # call is often a person's); an open session shows the names it was saved with.
        self._own_track_names: list[str] = list(self.track_names)
        self._single_name: str | None = None  # what the user named a single lane (_single_lane), this source's
        self._salvaged = False  # the session shown opened up to its damage
        self._quiet_notes: dict[str, int | None] = {}  # notes of a silent live input shown: text -> its lane (None: all)
        self._session_state: str | None = None  # the state an opened session shows (its name)
        self._source_stamp: tuple[int, int] | None = None  # the recording shown: its size and time (_file_stamp)
        self._reading_shown = False  # the state says its recording is being read for level and spectrogram
        self.histories: dict[int, TrackHistory] = {}
        self.finished_tracks: set[int] = set()
        self.model_info: eb.ModelInfo | None = None
        self.errors: list[str] = []  # what the banner said, errors and notices, in order (bounded)
        self.notices: list[str] = []  # of those, the notices (said about the audio; nothing failed)
        self._fatal_message: str | None = None  # what stopped the engine, when it stopped by itself
        self._flashing: tuple[str, float] | None = None  # a passing status note, and when it goes
        self._expected_tracks = 1
        self._frames = 0
        self._fps = 0.0
        self._fps_t0 = time.monotonic()
        self._status_t = 0.0
        self._devices: list[tuple] = []
        self._devices_error: str | None = None  # why microphones cannot be listed (PortAudio missing ...)
        # Live: the time looked back at (a click on the slider or a plot) while the view does not
        # follow the newest audio; the slider, the time, the plots' cursor and the panel show it.
        self._look_s: float | None = None
        self._recording_s = 0.0  # the length of the recording shown (a file, or a session's), 0 live

        self._build_ui()
        self._build_actions()
        self.load_model_info()
        self.refresh_devices()

        self.timer = QtCore.QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self.tick)
        self.timer.start()

    # -- the transport's state, as the rest of the window reads it ------------------------------
    @property
    def mode(self) -> str:
        return self.transport.mode

    @property
    def position_s(self) -> float:
        return self.transport.position_s

    @position_s.setter
    def position_s(self, t_s: float) -> None:
        self.transport.position_s = float(t_s)

    @property
    def duration_s(self) -> float:
        return self.transport.duration_s

    @duration_s.setter
    def duration_s(self, t_s: float) -> None:
        self.transport.duration_s = float(t_s)

    @property
    def paused(self) -> bool:
        """Something is loaded that could play, and it does not."""
        if self.mode == MIC:
            return self._mic_paused
        return self.mode != IDLE and not self.transport.playing

    @property
    def playing(self) -> bool:
        return self.transport.playing

    # -- construction ------------------------------------------------------------------------
    def _build_ui(self) -> None:
        central = QtWidgets.QWidget()
        outer = QtWidgets.QVBoxLayout(central)
        outer.setContentsMargins(4, 4, 4, 4)
        self.banner = ErrorBanner()
        outer.addWidget(self.banner)

        seek_row = QtWidgets.QHBoxLayout()
        self.seek_slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.seek_slider.setRange(0, 0)
        self.seek_slider.setToolTip("Replay position: click or drag to seek (or click a plot)")
        jump = _ClickToSeekStyle()  # a click on the groove goes there, not a page step toward it
        jump.setParent(self.seek_slider)
        self.seek_slider.setStyle(jump)
        self.seek_slider.setSingleStep(1000)  # milliseconds
        self.seek_slider.setPageStep(int(SEEK_STEP_S * 1000))
        self.seek_slider.sliderReleased.connect(lambda: self.seek(self.seek_slider.value() / 1000.0))
        self.seek_slider.actionTriggered.connect(self._on_slider_action)
        self.time_label = QtWidgets.QLabel("0:00.0 / 0:00.0")
        self.follow_check = QtWidgets.QCheckBox("Follow")
        self.follow_check.setChecked(True)
        self.follow_check.setToolTip("Scroll the plots with the playback position")
        seek_row.addWidget(self.seek_slider, 1)
        seek_row.addWidget(self.time_label)
        seek_row.addWidget(self.follow_check)
        outer.addLayout(seek_row)

        splitter = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        self.plot_stack = PlotStack()
        self.plot_stack.span_s = self.settings.view_span_s
        self.side_panel = SidePanel()
        # The plots scroll up and down in a small window rather than shrink below a readable height
        # (PlotStack.minimum_plots_height); in time they scroll by themselves.
        self.plot_scroll = QtWidgets.QScrollArea()
        self.plot_scroll.setWidget(self.plot_stack)
        self.plot_scroll.setWidgetResizable(True)
        self.plot_scroll.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.plot_scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        splitter.addWidget(self.plot_scroll)
        splitter.addWidget(self.side_panel)
        splitter.setStretchFactor(0, 4)
        splitter.setStretchFactor(1, 1)
        outer.addWidget(splitter, 1)
        self.setCentralWidget(central)

        self.plot_stack.sig_seek_requested.connect(self.seek)
        self.plot_stack.follow_changed.connect(self.follow_check.setChecked)
        self.plot_stack.follow_changed.connect(self._on_follow_changed)
        self.follow_check.toggled.connect(self.plot_stack.set_follow)
        self.side_panel.lane_name_changed.connect(self.rename_lane)

        sb = self.statusBar()
        sb.messageChanged.connect(lambda text: text or self._flash_gone())
        self.status_model = ElidedLabel()
        self.status_device = ElidedLabel("device: –")
        self.status_latency = ElidedLabel("result delay: –")
        self.status_latency.setToolTip("How long after its audio arrived each result was ready (median, and p95): "
                                       "live, the delay you see; in a file's background analysis, its queueing")
        self.status_overflows = ElidedLabel("overflows: 0")
        self.status_fps = QtWidgets.QLabel("0 fps")
        self.status_state = ElidedLabel("idle")
        for i, w in enumerate((self.status_state, self.status_model, self.status_device, self.status_latency,
                               self.status_overflows, self.status_fps)):
            if i:  # fields apart, so that they do not run together
                line = QtWidgets.QFrame()
                line.setFrameShape(QtWidgets.QFrame.Shape.VLine)
                line.setFrameShadow(QtWidgets.QFrame.Shadow.Sunken)
                sb.addPermanentWidget(line)
            w.setContentsMargins(4, 0, 4, 0)
            sb.addPermanentWidget(w)

    def _build_actions(self) -> None:
        self.main_toolbar = tb = self.addToolBar("Main")
        tb.setObjectName("mainToolbar")
        tb.setMovable(False)

        def action(text, shortcut, slot, tip):
            a = QtGui.QAction(text, self)
            if shortcut:
                a.setShortcut(QtGui.QKeySequence(shortcut))
                a.setShortcutContext(QtCore.Qt.ShortcutContext.WindowShortcut)
            a.setToolTip(f"{tip} ({shortcut})" if shortcut else tip)
            a.triggered.connect(slot)
            self.addAction(a)
            return a

        self.device_combo = QtWidgets.QComboBox()
        self.device_combo.setMinimumWidth(160)
        # A long device name ("HDA Intel PCH: ALC3246 Analog (hw:0,0)") widened the toolbar until it
        # hid other controls: the combo keeps a width of its own, the list shows whole names.
        self.device_combo.setSizeAdjustPolicy(
            QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.device_combo.setMinimumContentsLength(DEVICE_NAME_CHARS)
        self.device_combo.setToolTip("Microphone to listen to")
        self.device_combo.activated.connect(
            lambda _i: (self.listening or self._mic_paused) and self._next_listen_notice("The microphone chosen"))
        self.act_refresh_devices = action("↻", "", self.rescan_devices, "Refresh the device list")
        self.act_listen = action("Listen", "Ctrl+L", self.start_microphone, "Start live analysis of the microphone")
        self.act_open_file = action("Open file…", "Ctrl+O", self.open_file_dialog, "Replay an audio file")
        self.act_open_session = action("Open session…", "Ctrl+Shift+O", self.open_session_dialog,
                                       f"Open a saved session (every analysis is saved in {self.session_dir})")
        self.act_play = action("Play", "Space", self.toggle_pause, "Start, pause or resume")
        # Space while Play is greyed (nothing to play, a stopped live session, a session without its
        # recording): the state field says why instead of the key doing nothing. Only one of the two
        # is enabled at a time, so the shortcut is never ambiguous.
        self.act_play_why = QtGui.QAction(self)
        self.act_play_why.setShortcut(QtGui.QKeySequence("Space"))
        self.act_play_why.setShortcutContext(QtCore.Qt.ShortcutContext.WindowShortcut)
        self.act_play_why.triggered.connect(lambda: self.toggle_pause())
        self.addAction(self.act_play_why)
        self.act_stop = action("Stop", "Esc", lambda: self.stop(), "Stop analysing")  # (not triggered's bool)
        self.act_back = action("−5 s", "Left", lambda: self.seek(self.position_s - SEEK_STEP_S), "Seek back")
        self.act_forward = action("+5 s", "Right", lambda: self.seek(self.position_s + SEEK_STEP_S), "Seek forward")
        self.act_slower = action("Slower", "-", lambda: self.step_speed(-1), "Slower replay")
        self.act_faster = action("Faster", "+", lambda: self.step_speed(+1), "Faster replay")
        self.act_export_csv = action("CSV", "Ctrl+Shift+C", lambda: self._export_dialog("csv"), "Export results as CSV")
        self.act_export_json = action("JSON", "Ctrl+Shift+J", lambda: self._export_dialog("json"),
                                      "Export results as JSON")
        self.act_export_png = action("PNG", "Ctrl+Shift+P", lambda: self._export_dialog("png"),
                                     "Save an image of the plots")
        self.act_export_html = action("Report", "Ctrl+Shift+R", lambda: self._export_dialog("html"),
                                      "Save a report per speaker (summary, top moments, timeline) as HTML, the one "
                                      "'ser batch' writes for a call")
        self.act_settings = action("Settings…", "Ctrl+,", self.open_settings,
                                   "Window, hop, VAD, smoothing, model, sound output")
        self.act_sound = action("Sound", "Ctrl+M", self.set_sound, SOUND_TIP)
        self.act_sound.setCheckable(True)
        self.act_sound.setChecked(self.settings.sound)

        self.speed_combo = QtWidgets.QComboBox()
        for s in SPEEDS:
            self.speed_combo.addItem(f"{s:g}x", s)
        self.speed_combo.addItem("max", 0.0)
        self.speed_combo.setToolTip("Replay speed")
        self._select_speed(self.settings.speed)
        self.speed_combo.currentIndexChanged.connect(lambda _i: self.set_speed(self.speed_combo.currentData()))

        self.channels_combo = QtWidgets.QComboBox()
        for short, long, value in CHANNEL_CHOICES:  # the toolbar's short text, the menu's and the tooltip's long one
            self.channels_combo.addItem(short, value)
            self.channels_combo.setItemData(self.channels_combo.count() - 1, long, QtCore.Qt.ItemDataRole.ToolTipRole)
        self.channels_combo.setCurrentIndex(1 if self.settings.channels == "split" else 0)
        self.channels_combo.setToolTip("How to treat stereo sources: mixed into one lane, or the call-centre view "
                                       "(a lane per channel: agent and customer)")
        self.channels_combo.currentIndexChanged.connect(
            lambda _i: self.set_channels(self.channels_combo.currentData()))

        def labelled(text: str, widget: QtWidgets.QWidget) -> QtWidgets.QWidget:
            """A label and its control as one toolbar item: they go behind the overflow arrow together."""
            box = QtWidgets.QWidget()
            row = QtWidgets.QHBoxLayout(box)
            row.setContentsMargins(0, 0, 0, 0)
            row.addWidget(QtWidgets.QLabel(text))
            row.addWidget(widget)
            return box

        tb.addWidget(labelled(" Mic: ", self.device_combo))
        for a in (self.act_refresh_devices, self.act_listen):
            tb.addAction(a)
        tb.addSeparator()
        for a in (self.act_open_file, self.act_open_session):
            tb.addAction(a)
        tb.addSeparator()
        for a in (self.act_play, self.act_stop, self.act_back, self.act_forward, self.act_sound):
            tb.addAction(a)
        play = tb.widgetForAction(self.act_play)
        if play is not None:  # as wide as its wider text, so the toolbar does not shift when Play becomes Pause
            metrics = play.fontMetrics()
            extra = play.sizeHint().width() - metrics.horizontalAdvance(self.act_play.text())
            play.setMinimumWidth(max(metrics.horizontalAdvance(t) for t in ("Play", "Pause")) + extra + 2)
        # The analysis controls in a toolbar of their own, which goes to a second row when the window
        # is too narrow for both (at 1024 pixels Export and Settings went behind the overflow arrow).
        self.analysis_toolbar = tb = self.addToolBar("Analysis")
        tb.setObjectName("analysisToolbar")
        tb.setMovable(False)
        tb.addWidget(labelled(" Speed: ", self.speed_combo))
        tb.addWidget(labelled(" Channels: ", self.channels_combo))
        tb.addSeparator()
        # One button with the four exports (four buttons and a label pushed Settings and the exports
        # behind the overflow arrow in a 1280-pixel-wide window).
        self.export_button = QtWidgets.QToolButton()
        self.export_button.setText("Export")
        self.export_button.setPopupMode(QtWidgets.QToolButton.ToolButtonPopupMode.InstantPopup)
        self.export_button.setToolTip("Export the results (CSV, JSON), an image of the plots (PNG) or a report "
                                      "per speaker (HTML)")
        tb.addWidget(self.export_button)
        tb.addSeparator()
        tb.addAction(self.act_settings)
        self._build_menus()

    def _build_menus(self) -> None:
        """The same actions in a menu bar, so that every one is reachable in a narrow window (the
        toolbar then hides some behind its overflow arrow)."""
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        for a in (self.act_open_file, self.act_open_session):
            file_menu.addAction(a)
        self.act_browse_sessions = QtGui.QAction("Sessions…", self)
        self.act_browse_sessions.setShortcut(QtGui.QKeySequence("Ctrl+Shift+S"))
        self.act_browse_sessions.setToolTip(f"Every saved session, newest first (folder: {self.session_dir})")
        self.act_browse_sessions.triggered.connect(self.browse_sessions)
        self.addAction(self.act_browse_sessions)
        file_menu.addAction(self.act_browse_sessions)
        file_menu.addSeparator()
        export_menu = file_menu.addMenu("Export")
        for a, text in ((self.act_export_csv, "Results as CSV…"), (self.act_export_json, "Results as JSON…"),
                        (self.act_export_png, "Plots as PNG…"), (self.act_export_html, "Report per speaker (HTML)…")):
            a.setText(text)
            export_menu.addAction(a)
        self.export_button.setMenu(export_menu)
        file_menu.addSeparator()
        file_menu.addAction(self.act_settings)
        quit_action = file_menu.addAction("Quit")
        quit_action.setShortcut(QtGui.QKeySequence("Ctrl+Q"))
        quit_action.triggered.connect(self.close)
        play_menu = bar.addMenu("&Playback")
        for a in (self.act_play, self.act_stop, self.act_back, self.act_forward, self.act_slower, self.act_faster,
                  self.act_sound):
            play_menu.addAction(a)
        speed_menu = play_menu.addMenu("Speed")
        for i in range(self.speed_combo.count()):
            value = self.speed_combo.itemData(i)
            a = speed_menu.addAction(self.speed_combo.itemText(i))
            a.triggered.connect(lambda _c=False, v=value: self.set_speed(v))
        live_menu = bar.addMenu("&Live")
        live_menu.addAction(self.act_listen)
        for a in (self.act_play, self.act_stop):  # pause, resume and stop listening (also under Playback)
            live_menu.addAction(a)
        refresh = live_menu.addAction("Refresh microphone list")  # the toolbar's ↻
        refresh.setToolTip(self.act_refresh_devices.toolTip())
        refresh.triggered.connect(self.rescan_devices)
        view_menu = bar.addMenu("&View")
        group = QtGui.QActionGroup(view_menu)  # one of them, checked: the view in use
        self.view_channel_actions: dict[str, QtGui.QAction] = {}
        for _short, long, value in CHANNEL_CHOICES:
            a = group.addAction(view_menu.addAction(long))
            a.setCheckable(True)
            a.triggered.connect(lambda _c=False, v=value: self.set_channels(v))
            self.view_channel_actions[value] = a
        view_menu.aboutToShow.connect(self._check_view)
        self._check_view()
        help_menu = bar.addMenu("&Help")  # the last, as everywhere
        self.act_shortcuts = help_menu.addAction("Keyboard shortcuts")
        self.act_shortcuts.setShortcut(QtGui.QKeySequence("F1"))
        self.act_shortcuts.triggered.connect(self.show_shortcuts)
        self.addAction(self.act_shortcuts)
        self.act_about = help_menu.addAction("About")
        self.act_about.triggered.connect(self.show_about)

    def _check_view(self) -> None:
        """The View menu checks the view in use (the toolbar's Channels shows it too)."""
        for value, action in self.view_channel_actions.items():
            action.setChecked(value == self.channels_combo.currentData())

    def show_about(self) -> QtWidgets.QDialog:
        """Help > About: the app, its model (what it learnt from, its licence, its accuracy on
        speakers and corpora it never heard), the sessions folder."""
        from gui import about
        from model.meta import package_version, read_meta

        meta = None
        if self.model_info is not None:
            try:
                meta = read_meta(self.model_info.path)
            except SERError:
                meta = None
        device, name = self.bridge.compute() or ("", "")
        unit = "the CPU" if device == "cpu" else f"the GPU ({device})"
        runtime = (f"{name} on {unit}" if name and device else device
                   or "ONNX Runtime on the CPU (torch on a CUDA GPU where one is present)")
        text = about.about_html(package_version(), self.model_info.path if self.model_info else None, meta, runtime,
                                self.session_dir)
        return about.show_text_dialog(self, "About", text, "aboutDialog")

    def keyboard_shortcuts(self) -> list[tuple[str, str]]:
        """(what, key) for every key the window answers to: its actions and its menus' (Quit)."""
        from gui import about

        in_menus = [a for m in self.menuBar().findChildren(QtWidgets.QMenu) for a in m.actions()]
        return about.shortcut_rows([*self.actions(), *in_menus])

    def show_shortcuts(self) -> QtWidgets.QDialog:
        """Help > Keyboard shortcuts (F1): every action's key, from the actions themselves."""
        from gui import about

        rows = self.keyboard_shortcuts()
        table = "".join(f"<tr><td>{html.escape(what)}</td><td><b>{html.escape(keys)}</b></td></tr>"
                        for what, keys in rows)
        text = (f'<table cellspacing="0" cellpadding="4">{table}</table><p>In the plots: click to seek; the '
                "pointer's readout gives the values under it.</p>")
        return about.show_text_dialog(self, "Keyboard shortcuts", text, "shortcutsDialog")

    # -- model, devices, errors --------------------------------------------------------------
    def load_model_info(self) -> bool:
        """Read the model's labels (fast); on failure show why and stay usable."""
        try:
            self.model_info = eb.read_model_info(self.settings.model_path)
        except SERError as exc:
            self.model_info = None
            self.status_model.setText("model: none")
            self.show_error(str(exc))
            return False
        self.status_model.setText(f"model: {self.model_info.name}")
        self.status_model.setToolTip(self.model_info.path)
        self.plot_stack.set_heads(self.model_info.heads or self.model_info.labels)
        return True

    def rescan_devices(self) -> None:
        """↻: the input devices as the system has them now, a microphone plugged in (or a sound server
        started) since the program started included. While the microphone or the replay's sound is
        open, PortAudio cannot look again (it would close them), nor while a live session is paused
        (the devices' numbers may change, and Resume must reopen the same microphone): the list is
        then the one it has, and the status bar says so."""
        busy = ("listening is paused" if self.mode == MIC and self._mic_paused else
                "the microphone or the sound is open" if portaudio.in_use() else None)
        self.refresh_devices(rescan=busy is None)
        if busy:
            # What to do first: the status bar cuts a long note short at its end (1400 px cut this one).
            self._flash(f"Stop first, then press ↻ again: devices plugged in since the program started are listed "
                        f"once nothing uses the sound devices ({busy}).")

    def refresh_devices(self, rescan: bool = False) -> None:
        """List the input devices again (``rescan``: see :meth:`rescan_devices`); the one chosen stays
        chosen while it is still there (else the first: Listen with another device ends a running session)."""
        chosen, chosen_name = self.device_combo.currentData(), self.device_combo.currentText()  # (None, "": none yet)
        self.device_combo.clear()
        try:
            self._devices = eb.list_devices(rescan=rescan)
        except Exception as exc:  # noqa: BLE001 - PortAudio missing etc.: say so, stay usable
            self._devices = []
            self._devices_error = (f"{NO_INPUT_ERRORS[1]} ({exc}). Install what the message names (the "
                                   "audio library PortAudio: libportaudio2), then restart the program.")
            self.device_combo.addItem("no microphone available", None)
            self._set_state(f"microphones unavailable: {exc}")
            self._listen_ready(False)
            return
        self._devices_error = None
        if self._devices:  # Listen's error that there was none no longer holds
            self.banner.withdraw(NO_INPUT_ERRORS)
        if not self._devices:
            self.device_combo.addItem("no microphone found", None)
        for key, name in self._devices:
            self.device_combo.addItem(name, key)
            self.device_combo.setItemData(self.device_combo.count() - 1, name, QtCore.Qt.ItemDataRole.ToolTipRole)
        # The same device by its name (indices can move when devices come and go), else by its key.
        same = next((i for i in range(self.device_combo.count()) if self.device_combo.itemText(i) == chosen_name), -1)
        if same < 0 and chosen is not None:
            same = self.device_combo.findData(chosen)
        if same >= 0:
            self.device_combo.setCurrentIndex(same)
        metrics = self.device_combo.view().fontMetrics()
        widest = max(metrics.horizontalAdvance(self.device_combo.itemText(i)) for i in range(self.device_combo.count()))
        self.device_combo.view().setMinimumWidth(widest + 40)
        self._listen_ready(bool(self._devices))

    def _listen_ready(self, ready: bool) -> None:
        """Whether there is a microphone to listen to: without one, Listen's tooltip and the empty
        canvas say so, and Listen (or Ctrl+L, which a disabled button would swallow) says what to do."""
        self.act_listen.setToolTip("Start live analysis of the microphone (Ctrl+L)" if ready else
                                   self._devices_error or "No microphone found: connect one and press ↻ to refresh "
                                   "the list")
        self.plot_stack.set_hint(START_HINT if ready else NO_AUDIO_INPUT_HINT if self._devices_error
                                 else NO_MICROPHONE_HINT)

    def ask_salvage(self, message: str) -> bool:
        """Ask whether to open a damaged session up to its damage."""
        answer = QtWidgets.QMessageBox.question(
            self, "Damaged session file", f"{message}\n\nOpen what precedes the damage?",
            QtWidgets.QMessageBox.StandardButton.Open | QtWidgets.QMessageBox.StandardButton.Cancel,
            QtWidgets.QMessageBox.StandardButton.Open)
        return answer == QtWidgets.QMessageBox.StandardButton.Open

    def show_error(self, message: str, passing: bool = False, keep: bool = True, notice: bool = False) -> None:
        """Show an error (or a ``notice``) in the window; the app keeps running. ``passing``, ``keep``:
        see ErrorBanner.show_message."""
        self.errors = [*self.errors[-(MAX_ERRORS_KEPT - 1):], message]  # bounded, like every history
        if notice:
            self.notices = [*self.notices[-(MAX_ERRORS_KEPT - 1):], message]
        self.banner.show_message(message, notice=notice, passing=passing, keep=keep)
        self.sig_error.emit(message)

    def _say_unsaved(self) -> None:
        """After a session ended, however it ended (the window's tick asks too): when its file could not
        take what it kept in memory (the disk still full), say that those results are only in memory
        and how to keep them; said once."""
        if self.bridge.take_unsaved_news():
            path, n, lost = self.bridge.unsaved_results
            lost_text = f" ({lost} more, past what memory keeps, are lost)" if lost else ""
            self.show_error(f"{path}: the disk is still full, so {n} records of this session are only in memory, not in "
                            f"its file{lost_text}. Export them now, to another disk (File > Export > Results as JSON, "
                            "Ctrl+Shift+J: all of the session, and it opens like one), before quitting or opening "
                            "something else.")

    def keep_unsaved_first(self, doing: str) -> bool:
        """Before ``doing`` (opening something else, quitting) drops records that are only in memory
        (a session whose disk filled): those of the last session ended are written first if there is
        room now; else, or for the session open now (written when it ends, if there is room then),
        the user is asked. Whether to go on; nothing is stopped here."""
        unsaved = self.bridge.open_unsaved or self.bridge.unsaved_results
        if unsaved is None or (not self.bridge.session_failed and self.bridge.retry_unsaved()):
            return True
        path, n, _ = unsaved
        if not self.ask_discard_unsaved(
                f"{n} records of the session {path.name} are only in memory: its disk is full. {doing} loses them "
                "unless the disk has room when the session ends.\n\nGo on? (No: export them first, with File > Export > "
                "Results as JSON, to another disk.)"):
            return False
        self.bridge.let_unsaved_go()  # the user chose: not said again
        return True

    def ask_discard_unsaved(self, message: str) -> bool:
        """Ask whether to go on and lose records only in memory; a scripted run (``ser gui
        --exit-when-done`` or ``--snapshot``) asks nobody: its errors are printed and its exit code says it."""
        if self.scripted:
            return True
        answer = QtWidgets.QMessageBox.question(
            self, "Results not saved", message,
            QtWidgets.QMessageBox.StandardButton.Yes | QtWidgets.QMessageBox.StandardButton.No,
            QtWidgets.QMessageBox.StandardButton.No)
        return answer == QtWidgets.QMessageBox.StandardButton.Yes

    def clear_error(self) -> None:
        self.banner.dismiss()

    # -- sources -----------------------------------------------------------------------------
    def reset_view(self, heads, n_tracks: int) -> None:
        """Empty histories and fresh lanes for ``n_tracks`` tracks of a model with these ``heads``
        (its declared heads, or its emotion labels: gui.history.head_layout)."""
        self.plot_stack.clear_lanes()
        self.side_panel.clear_lanes()
        self.plot_stack.set_heads(heads)
        self.histories = {}
        self.finished_tracks = set()
        self._expected_tracks = n_tracks
        self.position_s = 0.0
        self.duration_s = 0.0
        self.plot_stack.position_s = 0.0
        self.plot_stack.set_follow(True)
        for t in range(n_tracks):
            self._ensure_track(t)

    def _ensure_track(self, track: int) -> TrackHistory:
        if track not in self.histories:
            features = self.model_info.features if self.model_info is not None else None
            self.histories[track] = TrackHistory(self.plot_stack.heads, features=features)
            self.histories[track].set_smoothing(self.settings.smoothing)
            if self.mode in (FILE, SESSION):  # a recording's level and spectrogram kept whole (up to a limit)
                self.histories[track].keep_audio_for(self._audio_history_s())
            name = self.lane_name(track)
            self.plot_stack.ensure_lane(track, name)
            self.side_panel.ensure_lane(track, name)
        return self.histories[track]

    def _audio_history_s(self) -> float:
        """How much level and spectrogram a lane of the recording shown keeps: its length (known
        from the file, or what its session analysed) and a margin."""
        return max(self.duration_s, self._recording_s) + AUDIO_MARGIN_S

    def _model_heads(self) -> list:
        """The current model's declared heads (its labels for an older model file)."""
        if self.model_info is None:
            return []
        return list(self.model_info.heads or self.model_info.labels)

    def _single_lane(self) -> bool:
        """One lane for a recording or microphone (mixed, or a mono source): named for what it is,
        not after the call-centre lanes' names."""
        return self._expected_tracks == 1 and self.mode in (FILE, MIC)

    def lane_name(self, track: int) -> str:
        return self._name_of(track, self.track_names, self._single_name)

    def _name_of(self, track: int, names: list[str], single_name: str | None) -> str:
        """A lane's name from ``names`` (call-centre lanes) or ``single_name`` (a single lane's own)."""
        if self._expected_tracks == 1 and self.mode != SESSION:
            return (single_name if self._single_lane() else None) or ("Speech" if self.mode == FILE else "Microphone")
        return names[track] if track < len(names) else f"Track {track + 1}"

    def rename_lane(self, track: int, name: str) -> None:
        """The user renamed a lane: its plots and the session shown take the name (the whole session:
        its exports and report, and the Sessions list). The name is this recording's or session's only:
        the next recording or live session starts with the lanes' usual names (a name typed for one
        call, often a person's, must not label another call's results)."""
        if self._single_lane() and track == 0:
            if name == self.lane_name(track):
                return
            self._single_name = name
        else:
            if track < len(self.track_names) and self.track_names[track] == name:
                return
            while len(self.track_names) <= track:
                self.track_names.append(f"Track {len(self.track_names) + 1}")
            self.track_names[track] = name
        self.plot_stack.set_lane_name(track, name)
        shown = self._split_shown
        if shown is not None and shown[1] in self.banner.messages():
            self._split_shown = (shown[0], self._split_notice(shown[0]))  # it names the lanes: as they are now
            self.banner.replace_message(shown[1], self._split_shown[1])
        self._save_lane_names()

    def _save_lane_names(self) -> None:
        """The lanes' names into the session shown (being written, or saved), if there is one."""
        path = self.session_path
        if path is None or not path.is_file():
            return
        if self.mode == SESSION and self._salvaged:  # read up to its damage: a record after it would not be read
            self.banner.show_message(f"{path.name} is damaged, so the new name is not saved in it; it shows here "
                                     "only.", notice=True)
            return
        lanes = max([self._expected_tracks, 1, *(t + 1 for t in self.histories)])
        try:
            self.bridge.rename_tracks(path, [self.lane_name(t) for t in range(lanes)])
        except SERError as exc:
            self.banner.show_message(f"{_in_app_words(str(exc))} The name shows here only.", notice=True)

    def _show_lane_name(self, track: int, name: str) -> None:
        """Put ``name`` on a lane's plots and panel (a name that comes from a session)."""
        self.plot_stack.set_lane_name(track, name)
        panel = self.side_panel.panels.get(track)
        if panel is not None and panel.name_edit.text() != name:
            panel.name_edit.setText(name)

    def _new_session_path(self, stem: str) -> Path:
        if self.explicit_session_path is not None:
            path, self.explicit_session_path = self.explicit_session_path, None
            return path
        return eb.default_session_path(self.session_dir, stem)

    def open_path(self, path: str | Path) -> None:
        """Open whatever was dropped or chosen: a saved session or an audio file."""
        path = Path(path)
        if path.suffix.lower() in SESSION_SUFFIXES:
            self.open_session(path)
        else:
            self.open_file(path)

    def open_file(self, path: str | Path) -> bool:
        """Open a recording as a document: its analysis runs in the background at full speed (or an
        earlier complete analysis with the same model and settings is reopened from its session)
        while the playhead plays it from the start. A file that cannot be read is reported and
        what is open stays as it is."""
        path = Path(path)
        self._show_channels(self.settings.channels)
        if not path.is_file():
            from model.audio import not_a_file_reason

            self.show_error(f"{path}: {not_a_file_reason(path)}. Open an existing audio file (WAV, FLAC, OGG) with "
                            "Ctrl+O.")
            return False
        try:
            eb.check_audio_file(path, self.settings.channels)
        except SERError as exc:
            self.show_error(str(exc))
            return False
        if not self.keep_unsaved_first("Opening another recording"):
            return False
        self.stop(review=False)
        self.clear_error()  # an error about what was tried before no longer applies (also when reopened from a session)
        if self.model_info is None and not self.load_model_info():
            return False
        n_ch, duration_s = eb.file_info(path)
        split = self.settings.channels == "split" and n_ch > 1
        stamp = _file_stamp(path)
        if not (self.mode in (FILE, SESSION) and path == self.source_path and stamp == self._source_stamp):
            # Another recording (or another one written to the same file): not the names of the call or
            # session shown before. The same one, analysed again or opened from its session, keeps them.
            self.track_names = list(self._own_track_names)
            self._single_name = None
        self.source_path, self._source_stamp = path, stamp
        self._recording_s = duration_s
        self.setWindowTitle(f"Speech-emotion analyzer: {path.name}")
        self.transport.load(FILE, duration_s)  # before the lanes, which are named after what is open
        self.reset_view(self._model_heads(), n_ch if split else 1)
        self.transport.load(FILE, duration_s)
        self._analysis_failed = False
        names = self._track_names_for_engine()
        if self.settings.channels == "split" and n_ch < 2 and not self.settings.analyse_agent:
            return self._show_mono_call(path)
        try:
            key = eb.analysis_key(path, self.settings, names, n_ch)
        except OSError as exc:
            self.show_error(f"{path}: cannot be read ({exc}). Check the file and its permissions.")
            self.transport.load(IDLE)
            return False
        cached = eb.find_analysis(self.session_dir, key, path) if self.explicit_session_path is None else None
        fresh = self._fresh_names_for_engine()
        if cached is None and names != fresh and self.explicit_session_path is None:
            # The lanes keep names given to this recording (renamed in its session, shown before): its
            # analysis was started with the usual names and renamed since, which its session restores.
            cached = eb.find_analysis(self.session_dir, {**key, "track_names": fresh}, path)
        reopened = self._reopen_analysis(cached, path, names) if cached is not None else None
        if reopened is not None:
            started = True
        else:
            self.session_path = self._new_session_path(path.stem)
            started = self._start_file(0.0, new_session=True, metadata={"analysis_key": key})
        if not started:
            return False
        if self.settings.channels == "split":
            self._show_split_notice(n_ch)
        for message in reopened or []:  # what the analysis said of the recording holds still (and is said
            self.show_error(_in_app_words(message), notice=True)  # as its notices were: a script gets it too)
        for t in eb.skipped_tracks(self.settings, n_ch):
            self._mark_not_analysed(t)
        self._play()
        return True

    def _show_mono_call(self, path: Path) -> bool:
        """The call-centre view of a recording of one channel: every voice of the call is in it, the
        agent's too, so it is shown (level, spectrogram, sound) but not analysed, as 'ser batch'
        refuses such a call. Mixed, or the agent's channel analysed too (Settings), analyses it whole."""
        try:
            self.bridge.read_audio(path, "mix", None)
        except SERError as exc:
            self.show_error(str(exc))
            self.transport.load(IDLE)
            return False
        self.session_path = None  # nothing analysed, nothing saved
        if self.explicit_session_path is not None:  # asked for (ser gui --session): said, and not kept for later
            asked, self.explicit_session_path = self.explicit_session_path, None
            self.show_error(f"{asked}: no session written: the call-centre view does not analyse a recording of "
                            "one channel (see the note).")
        self.transport.analysis_progress(self.duration_s, done=True)
        self._show_split_notice(1)
        self._mark_not_analysed(0, MONO_CALL_NOT_ANALYSED)
        self._play()
        return True

    def _reopen_analysis(self, session_path: Path, path: Path, names: list[str] | None) -> list[str] | None:
        """Show an earlier complete analysis of this recording (same content, model and settings)
        from its session, and read the recording again for its level and spectrogram. Returns what
        its analysis said of the recording, or None when the session cannot be reused."""
        try:
            loaded = eb.EngineBridge.open_session(session_path)
            self.bridge.read_audio(path, self.settings.channels, names)
        except Exception:  # noqa: BLE001 - a session that cannot be reused is analysed again
            return None
        self.session_path = session_path
        self.bridge.forget_last_run()  # shown from its session: no run of this window's
        renamed = renamed_tracks(loaded.metadata)
        if renamed and self._single_lane():  # its lanes renamed when it was shown before: so they are now
            self._single_name = renamed[0]
            self._show_lane_name(0, renamed[0])
        elif renamed:
            self.track_names = renamed + self.track_names[len(renamed):]
            for t in range(len(renamed)):
                self._show_lane_name(t, renamed[t])
        self.dispatch(loaded.events)
        self.transport.analysis_progress(self.duration_s, done=True)
        self._flash(f"{path.name}: analysed before; shown from its session",
                    tip=f"Same content, model and settings as session {session_path}")
        return list(loaded.messages)  # its notes on the recording (clipped, channels alike ...)

    def _mark_not_analysed(self, track: int, why: str | None = None) -> None:
        """A lane that is shown but not analysed (the agent's) says so, and ``why`` (by default, as
        the agent's or a further channel's), in its plots and panel."""
        self._ensure_track(track)
        name = self.lane_name(track)
        if why is None:
            why = (AGENT_NOT_ANALYSED if track == eb.AGENT_TRACK or name == eb.DEFAULT_TRACK_NAMES[eb.AGENT_TRACK]
                   else OTHER_NOT_ANALYSED)
        self.plot_stack.ensure_lane(track, name).set_analysed(False, why)
        self.side_panel.ensure_lane(track, name).set_analysed(False, why)

    def _show_split_notice(self, n_channels: int) -> None:
        """Show :meth:`_split_notice`, and keep it in step with the lane names while it is shown."""
        self._split_shown = (n_channels, self._split_notice(n_channels))
        self.banner.show_message(self._split_shown[1], notice=True)

    def _split_notice(self, n_channels: int) -> str:
        """What the call-centre view does with this file, said when it starts."""
        if n_channels < 2 and not self.settings.analyse_agent:
            return ("This file has one channel: every voice of a call is in it, the agent's too, so the call-centre "
                    "view shows it but does not analyse it, as 'ser batch' refuses such a call (in the EU, inferring "
                    "the emotions of employees at work is prohibited, AI Act Art. 5(1)(f)). To analyse it whole, "
                    "choose Channels: Mixed, or, where it is lawful, turn on \"Analyse the agent's channel too\" in "
                    "Settings. The call-centre view separates the parties of a stereo recording with each on a "
                    "channel of their own.")
        if n_channels < 2:
            return ("This file has one channel, so it is shown as one lane and analysed whole: every voice in it, "
                    "the agent's too, as chosen in Settings. The call-centre view separates the parties of a stereo "
                    "recording with each on a channel of their own.")
        agent = self.lane_name(eb.AGENT_TRACK)
        if not self.settings.analyse_agent:
            others = [self.lane_name(t) for t in range(n_channels) if t not in (eb.AGENT_TRACK, eb.CUSTOMER_TRACK)]
            extra = (f" It has {n_channels} channels: only the customer's ({self.lane_name(eb.CUSTOMER_TRACK)}) is "
                     f"analysed, the others ({', '.join(others)}) are shown but not analysed." if others else "")
            return (f"The agent's lane ({agent}) is shown but not analysed, as 'ser batch' does: in the EU, inferring "
                    "the emotions of employees at work is prohibited (AI Act, Art. 5(1)(f)). Where it is lawful, "
                    f"turn on \"Analyse the agent's channel too\" in Settings.{extra}")
        names = ", ".join(self.lane_name(t) for t in range(n_channels))
        return (f"Every channel is analysed, the agent's too ({names}), as chosen in Settings. In the EU, inferring "
                "the emotions of employees at work is prohibited (AI Act, Art. 5(1)(f)).")

    def _fresh_names_for_engine(self) -> list[str]:
        """The names :meth:`_track_names_for_engine` gives a recording opened afresh (no lane renamed)."""
        return [self._name_of(t, self._own_track_names, None) for t in range(max(self._expected_tracks, 1))]

    def _track_names_for_engine(self, channels: str | None = None) -> list[str] | None:
        if self.mode == MIC and (channels or self.settings.channels) == "split":  # the device's first two channels
            return [self.lane_name(t) for t in range(eb.CALL_CENTRE_CHANNELS)]
        return [self.lane_name(t) for t in range(max(self._expected_tracks, 1))]

    def _start_file(self, start_s: float, new_session: bool = False, metadata: dict | None = None) -> bool:
        """Start the background analysis of the recording (at full speed, no sound)."""
        self.clear_error()
        session = self.session_path if new_session else None
        try:
            self.bridge.start_file(self.source_path, self.settings.replace(speed=0.0, sound=False), start_s=start_s,
                                   track_names=self._track_names_for_engine(), session_path=session, metadata=metadata)
        except SERError as exc:
            self.show_error(f"{exc}")
            self._set_state("stopped")
            self.transport.load(IDLE)  # nothing to play: Play must not move a playhead over no analysis
            return False
        except Exception as exc:  # noqa: BLE001 - an engine bug must not take the window down
            self.show_error(f"Could not start the analysis of {self.source_path}: {exc!r}. "
                            "Try another file, or report this with the file attached.")
            self._set_state("stopped")
            self.transport.load(IDLE)
            return False
        self.finished_tracks = set()
        self._analysis_failed = False
        self._set_state(f"analysing {self.source_path.name}")
        return True

    def start_microphone(self, device=None) -> bool:
        """Live analysis of a microphone (the selected one unless ``device`` is given), in a new session.
        Listen while listening with the same microphone and channels changes nothing; while paused, it
        resumes the session. With another microphone or channels, the session so far ends (kept, and
        said so) and a new one starts."""
        chosen = self.device_combo.currentData() if device is None or device is False else device
        if self.mode == MIC and self.bridge.active and not self.bridge.running:
            self._engine_ended_live()  # ended by itself before this Listen: kept, and said why
        same = self._listening_with == (chosen, self.settings.channels)
        if same and (self.listening or self._mic_paused):
            if self._mic_paused:
                self.resume()  # one that fails ends the session and says why
                if self.listening:
                    self._flash("Listen resumed the paused session; Stop ends it, and Listen then starts a new "
                                "one.")
                return self.listening
            self._flash("Already listening to this microphone: Stop ends this session, and Listen then "
                        "starts a new one.")
            return True
        if (device is None or device is False) and chosen is None and not self._devices:
            # Nothing to listen to: say so (in place of what an earlier Listen said), and leave what is
            # shown (a replay, a session) as it is.
            self.banner.withdraw(NO_INPUT_ERRORS)
            self.show_error(f"{self._devices_error} Open an audio file (Ctrl+O) meanwhile." if self._devices_error else
                            f"{NO_INPUT_ERRORS[0]} Connect one and press ↻ to refresh the list, or open an audio "
                            "file (Ctrl+O).")
            return False
        previous_live = (self.session_path if self.mode == MIC and (self.listening or self._mic_paused)
                         and self.session_path is not None and self.session_path.is_file() else None)
        if not self.keep_unsaved_first("Listening in a new session"):
            return False
        self.stop(review=False)
        self._show_channels(self.settings.channels)
        if self.model_info is None and not self.load_model_info():
            return False
        if device is None or device is False:
            device = self.device_combo.currentData()
        previous = self.session_path if self.session_path is not None and self.session_path.is_file() else None
        # A live session's level and spectrogram are not in its file: kept in case this Listen fails.
        heard = dict(self.histories) if previous is not None else {}
        self.transport.load(MIC)
        self._recording_s = 0.0  # live audio: an hour of level and spectrogram, as ever
        self.track_names = list(self._own_track_names)
        self._single_name = None
        self.mic_device = device
        self.source_path = None
        self.setWindowTitle("Speech-emotion analyzer: live")
        self.reset_view(self._model_heads(), 2 if self.settings.channels == "split" else 1)
        self.session_path = self._new_session_path("live")
        if self._start_mic(new_session=True):
            if previous_live is not None:  # another microphone or channels: the last session is not lost
                self.banner.show_message(f"A new live session: the one before ({previous_live.name}) ended here "
                                         "and is kept; File > Sessions opens it.", notice=True)
            return True
        self._after_failed_listen(previous, heard)
        return False

    def _after_failed_listen(self, previous: Path | None, heard: dict | None = None) -> None:
        """The microphone did not open: no live session exists. What was shown before comes back
        (from its saved session, with the level and spectrogram ``heard`` of a live one), else the
        window is empty; the error stays in the banner."""
        message = self.errors[-1] if self.errors else None
        self.session_path = None
        self.transport.load(IDLE)
        self.setWindowTitle("Speech-emotion analyzer")
        if previous is not None and self.open_session(previous):
            if heard and not self.transport.has_audio:  # (a recording's session reads its recording again)
                for t, old in heard.items():
                    if t in self.histories and len(old.level):
                        self.histories[t].take_audio(old)
                        self.plot_stack.lanes[t].set_no_audio("")
                self.redraw()
            if message:
                self.show_error(message)
        self._set_state("stopped: the microphone did not open")

    def _start_mic(self, new_session: bool = False, start_s: float = 0.0) -> bool:
        """Start listening: a new session on the chosen microphone and channels, or (a resume, a
        settings change) the same session on the microphone and channels it started with."""
        if new_session:
            self.clear_error()
            self._waiting_choices = []  # they apply now
        else:  # what was said of the session's device and channels still holds (said once a session)
            self.banner.drop_errors()
            self.banner.withdraw(PAUSED_SETTINGS)  # they apply now
        self._fatal_message = None
        device, channels = ((self.mic_device, self.settings.channels) if new_session or self._listening_with is None
                            else self._listening_with)
        try:
            self.bridge.start_microphone(device, self.settings.replace(channels=channels),
                                         track_names=self._track_names_for_engine(channels),
                                         session_path=self.session_path if new_session else None, start_s=start_s)
        except Exception as exc:  # noqa: BLE001 - SERError says what to do; anything else must not take the window down
            message = (_in_app_words(f"{exc}") if isinstance(exc, SERError) else
                       f"Could not open the microphone {device!r}: {exc!r}. Choose another device and press "
                       "Listen, or open a file.")
            self.show_error(message)
            self._set_state("stopped")
            self.transport.pause()
            if not new_session:  # a resume or restart that failed: the session ends here, with its end record
                self._live_ended(message, start_s)
            return False
        key = self.bridge.analysis_settings(self.settings)  # as the session records them
        if not new_session and self._analysed_with is not None and key != self._analysed_with:
            self.plot_stack.add_marker(start_s, "settings changed")  # changed while listening or paused
        self._analysed_with = key
        self._mic_paused = False
        self._listening_with = (device, channels)
        self.transport.playing = True
        skipped = set(self.bridge.skipped_tracks)
        for t, lane in self.plot_stack.lanes.items():
            # The agent's channel turned on while listening: its lane shows results from here. One
            # turned off keeps the results it has (the session's report counts them too).
            if t not in skipped and not lane.analysed:
                lane.set_analysed(True)
                self.side_panel.ensure_lane(t, self.lane_name(t)).set_analysed(True)
        for t in skipped:
            if t not in self.histories or not len(self.histories[t].results.view()):
                self._mark_not_analysed(t)
        split_source = channels == "split" and (source := self.bridge.source) is not None and source.n_tracks > 1
        if new_session and (self.bridge.skipped_tracks or split_source):  # the agent's left out, or analysed too
            source = self.bridge.source
            self._show_split_notice(source.n_tracks if source is not None else 2)
        elif (not new_session and self._split_shown is not None and self._split_shown[1] in self.banner.messages()
              and (now := self._split_notice(self._split_shown[0])) != self._split_shown[1]):
            # the agent's channel turned on or off while listening: the notice says what is analysed now
            self.banner.replace_message(self._split_shown[1], now)
            self._split_shown = (self._split_shown[0], now)
        elif (new_session and channels == "split" and not self.settings.analyse_agent
              and (source := self.bridge.source) is not None and source.n_tracks < 2):
            # A device of one channel has no agent's channel to leave out: the engine analyses it whole.
            self.banner.show_message(MONO_MIC_NOTICE, notice=True)
        self._set_state("listening")
        return True

    def open_session(self, path: str | Path, salvage: bool | None = None) -> bool:
        """Show a saved session (no audio needed). A damaged session file opens up to its damage
        when ``salvage`` is True; None asks the user (False only reports the damage)."""
        from streamer.errors import CorruptSessionError

        if not self.keep_unsaved_first("Opening a session"):
            return False
        self.stop(review=False)
        self.bridge.forget_last_run()  # its result delay and overflows are not the session's
        try:
            loaded = eb.EngineBridge.open_session(path, salvage=bool(salvage))
        except CorruptSessionError as exc:
            if salvage is None and self.ask_salvage(str(exc)):
                return self.open_session(path, salvage=True)
            self.show_error(str(exc))
            return False
        except SERError as exc:
            self.show_error(str(exc))
            return False
        except Exception as exc:  # noqa: BLE001
            self.show_error(f"{path}: cannot read this session ({exc!r}). Open a session file saved by the analyzer.")
            return False
        heads = loaded.heads or self._model_heads()
        # The lanes: every track with results, every track left out (the app, the batch and the engine
        # record those), every track of the source and every channel of a batch call (a customer who
        # never spoke has no results but keeps a lane).
        skipped = skipped_tracks(loaded.metadata)
        engine_tracks = (loaded.metadata.get("engine") or {}).get("tracks") or []
        lanes = max([e.track + 1 for e in loaded.events if isinstance(e, (Result, Segment))]
                    + [t + 1 for t in skipped] + [int(loaded.metadata.get("lanes") or 1), len(engine_tracks)])
        names = list(loaded.metadata.get("track_names") or [])
        if not names:  # `ser analyze` and `ser batch`: the engine's track names, then those the results carry
            by_track = {e.track: e.track_name for e in loaded.events if isinstance(e, Result) and e.track_name}
            names = [engine_tracks[t] if t < len(engine_tracks) and isinstance(engine_tracks[t], str)
                     else by_track.get(t, f"Track {t + 1}") for t in range(lanes)]
        if names == ["mix"]:  # the command line's one mixed track: named as the window names it
            names = ["Microphone" if is_live(loaded.metadata) else "Speech"]
        # ser batch writes every call's results as <call>/results.json: the call's folder names it
        name = (f"{Path(path).parent.name}/{Path(path).name}" if loaded.metadata.get("created_by") == "ser batch"
                else Path(path).name)
        self.session_metadata = dict(loaded.metadata)
        self.source_path = None
        self.session_path = Path(path)
        self._salvaged = bool(loaded.salvaged)
        self.track_names = list(names) + list(eb.DEFAULT_TRACK_NAMES)[len(names):]
        self.setWindowTitle(f"Speech-emotion analyzer: session {name}")
        self.transport.load(SESSION)  # before the lanes, which are named after what is open
        # Its lanes hold what it analysed (and its recording's length once that is found, below).
        self._recording_s = float((loaded.analysis or {}).get("analysed_until_s") or 0.0)
        self.reset_view(heads, lanes)
        self.clear_error()
        if loaded.salvaged:
            s = loaded.salvaged
            said = _said_note(loaded.messages, is_live(loaded.metadata))
            self.banner.show_message(
                f"{name}: damaged at line {s['damaged_line']}. Showing the {s['results_kept']} results "
                f"before it (up to {time_text(s['kept_until_s'])}); the {s['lines_left_out']} lines from there on are "
                "left out. The file itself is unchanged." + (f" {said}" if said else ""))
        elif notes := [n for n in (_incomplete_note(name, loaded), _said_note(loaded.messages, is_live(loaded.metadata)))
                       if n]:
            self.banner.show_message(" ".join(notes), notice=True)
        self.dispatch(loaded.events)
        for pause in loaded.metadata.get("pauses") or []:  # a live session's pauses, where they were
            self.plot_stack.add_marker(float(pause["at_s"]), pause_text(float(pause["paused_s"])))
        for change in (loaded.metadata.get("settings_history") or [])[1:]:  # and where settings changed
            self.plot_stack.add_marker(float(change.get("from_s") or 0.0), "settings changed")
        end = max((h.end_s for h in self.histories.values()), default=0.0)
        recording = self._session_recording()
        channels = _session_channels(loaded.metadata, lanes)
        if recording is not None:  # its recording is still there: level, spectrogram and sound come back
            n_ch, file_s = eb.file_info(recording)
            self._recording_s = max(self._recording_s, file_s)
            for h in self.histories.values():  # (lanes made from now on: _ensure_track)
                h.keep_audio_for(self._audio_history_s())
            try:
                self.bridge.read_audio(recording, channels, names[:n_ch] if channels == "split" else None)
            except Exception as exc:  # noqa: BLE001 - the results are shown all the same
                self.show_error(f"{recording}: cannot be read for its level and spectrogram ({exc}); the results "
                                "are shown.")
                recording = None
            else:
                end = max(end, file_s)
        self.source_path, self._source_stamp = recording, (_file_stamp(recording) if recording is not None else None)
        if recording is None:  # the level and spectrogram plots say why they are empty
            self.plot_stack.set_no_audio(self._session_no_audio_why())
        self._show_channels(channels)
        # The axis covers what was analysed, where no result ends (live audio listened to after the
        # last speech), as the banner and the report count it; a recording whose analysis stopped
        # part-way ends there, as it did on screen when it was stopped (the banner gives its length).
        progress = loaded.analysis or {}
        until = float(progress.get("analysed_until_s") or 0.0)
        if recording is not None and progress.get("state") not in (None, "complete") and until > 0:
            end = max(until, max((h.analysed_s for h in self.histories.values()), default=0.0))
        end = max(end, until)
        self.transport.load(SESSION, end, has_audio=recording is not None, analysed_s=end, analysis_done=True)
        if lanes > 1:
            for t in sorted(skipped):
                self._mark_not_analysed(t, SESSION_NOT_ANALYSED)
        self._session_state = f"session {name}" + ("" if recording is not None else f": {self._session_audio_note()}")
        self._set_state(self._session_state)
        if recording is None:  # nothing to play: the playhead at the end, so the panel shows where it got to
            self.transport.seek(end)
            self.plot_stack.set_position(self.position_s)
        self.redraw()
        self.plot_stack.show_all(end)
        return True

    def _session_recording(self) -> Path | None:
        """The opened session's recording, when it was a file and is still there."""
        path = _recording_path(self.session_metadata or {})
        return Path(path) if path and Path(path).is_file() else None

    # -- transport ---------------------------------------------------------------------------
    def toggle_pause(self) -> None:
        """Space: pause or play. A recording plays again from the start once it reached its end, without
        analysing it again; a stopped microphone starts again."""
        if self.playing:
            self.pause()
        elif self.mode == MIC and self._mic_paused:
            self.resume()
        elif self.mode == MIC:  # stopped: a new session only when asked for by name
            self._set_state("stopped: press Listen (Ctrl+L) to start a new live session")
        elif self.transport.playable:
            self.resume()
        elif self.mode == SESSION:
            self._set_state(self._session_audio_note())
        else:  # nothing loaded: never start the microphone unasked (it would record and save a session)
            self._set_state(NOTHING_TO_PLAY)

    def _session_no_audio_why(self) -> str:
        """Why an opened session shows no level or spectrogram, in a few words."""
        path = _recording_path(self.session_metadata or {})
        if not path:
            return "live audio is not recorded"
        return "its recording could not be read" if Path(path).is_file() else "its recording is not there any more"

    def _session_audio_note(self) -> str:
        """What Play can do for an opened session: it shows saved results; its recording replays as a file."""
        path = _recording_path(self.session_metadata or {})
        if path:
            if Path(path).is_file() and self.source_path is None:  # there, but it could not be read
                return f"a saved session: its recording {path} could not be read; the results are shown"
            if Path(path).is_file():
                return f"a saved session: press Play to hear {Path(path).name} with its results"
            return f"a saved session: its recording {path} is not there any more; the results are shown"
        return "live audio, not recorded: no recording to play; the results are shown"

    def _play(self) -> None:
        """Start the playhead (and the sound at 1x)."""
        if self.transport.play():
            self.plot_stack.set_follow(True)  # the view goes with the playhead
            self._tick_t = time.monotonic()
            self._announced_end = False
            self._sync_sound()
            what = self.source_path.name if self.source_path is not None else "session"
            self._set_state(f"playing {what}" + (", analysing" if self.bridge.active else ""))

    def _sync_sound(self) -> None:
        """Sound follows the playhead: on while a recording plays at 1x with sound chosen, else off."""
        want = (self.settings.sound and self.playing and self.mode in (FILE, SESSION)
                and self.transport.speed == SOUND_SPEED and self.source_path is not None
                and self.position_s < self.transport.end_s - END_MARGIN_S)
        if not want:
            self.bridge.stop_sound()
            return
        try:
            self.bridge.play_sound(self.source_path, self.position_s, self.settings)
        except SERError as exc:
            self.show_error(f"{exc} The replay goes on{WITHOUT_SOUND}")
        except Exception as exc:  # noqa: BLE001 - sound must not stop the replay
            self.show_error(f"Sound output failed ({exc!r}); the replay goes on{WITHOUT_SOUND}")
        else:
            self.banner.withdraw_containing(WITHOUT_SOUND)  # the sound works again

    def pause(self) -> None:
        if self.mode == MIC:
            if not self.bridge.active:
                return
            self.dispatch(self.bridge.stop(close_session=False))
            self._mic_paused = True
            self._paused_since = time.monotonic()
            self.transport.pause()
            self._set_state("paused")
            return
        if self.mode == IDLE:
            return
        self.transport.pause()
        self.bridge.stop_sound()
        self._set_state("paused" + (", analysing" if self.bridge.active else ""))

    def resume(self) -> None:
        if self.mode == MIC:
            if self._mic_paused:
                # The engine's sample clock starts where the pause left the axis, so the session's times
                # go on too: the pause itself is not on the axis. The session and the plots mark it.
                at = self.position_s
                if self._start_mic(start_s=at):
                    # Measured once the device is open again: the audio not heard includes its opening.
                    paused_s = time.monotonic() - self._paused_since
                    self.bridge.note_pause(at, paused_s)
                    self.plot_stack.add_marker(at, pause_text(paused_s))
            return
        if self.mode in (FILE, SESSION):
            self._play()

    def stop(self, review: bool = True) -> None:
        """Stop the analysis, the sound and the microphone, and close the session file; the plots keep
        what they show (an incomplete analysis is not reused later). A recording stopped before its
        analysis ended plays on over what was analysed; a live session becomes a session to move
        through (``review``; not when something else is opened next)."""
        was_analysing = self.mode == FILE and self.bridge.active
        # A live session, listening, paused, or ended by itself (the microphone lost): its file is there.
        was_live = review and self.mode == MIC
        if self.mode == MIC and self.bridge.active and not self.bridge.running:
            # It ended by itself just now (before the timer saw it): that is why it ended, not this Stop.
            if review:
                self._engine_ended_live()
                return
            self.dispatch(self.bridge.stop(close_session=False))
            self.bridge.close_session(ended_by=self._fatal_message or LIVE_ENDED)
            self._say_unsaved()
        self._withdraw_session_notices()  # no resume will come, and the session does not go on
        self.dispatch(self.bridge.stop())
        self._mic_paused = False
        self.transport.pause()
        if was_live and self.session_path is not None and self.session_path.is_file():
            self._review_live_session()
            self._set_state("stopped: press Listen (Ctrl+L) for a new live session")
            return
        if self.mode == FILE:
            analysed = max((h.analysed_s for h in self.histories.values()), default=0.0)
            self.transport.analysis_progress(analysed, done=True)
            if was_analysing:
                self.transport.duration_s = min(self.transport.duration_s or analysed, analysed) or analysed
        if self.mode in (FILE, SESSION):
            self.transport.seek(0.0)  # Stop goes back to the start (Pause stays where it is)
            self._announced_end = False
        if self.mode == FILE and was_analysing:
            self._set_state(f"stopped; analysed up to {time_text(self.transport.end_s)}")
        elif self.mode != IDLE:
            self._set_state("stopped")

    def _engine_ended_live(self) -> None:
        """Live, the engine ended by itself (the microphone lost, an error): keep what we have."""
        self.dispatch(self.bridge.stop(close_session=False))
        self._live_ended(self._fatal_message or LIVE_ENDED, self._analysed_s())

    def _live_ended(self, message: str, at_s: float) -> None:
        """A live session ended by itself: the microphone lost (unplugged, taken, its sound server gone)
        while listening, or when a resume or a restart with new settings opened it again, or an error.
        Its results up to there are kept: the session's end record says why it ended (File > Sessions
        lists it so), and it is on screen as after Stop, to move through and export."""
        self.bridge.close_session(ended_by=message)
        self._say_unsaved()
        self._withdraw_session_notices()
        self._mic_paused = False
        self.transport.pause()
        if self.session_path is None or not self.session_path.is_file():
            self._set_state("stopped")
            return
        self._review_live_session()
        kept = (f"The session is kept up to {time_text(at_s)}: move through it and export it here (File > "
                "Sessions opens it later); press Listen (Ctrl+L) for a new live session.")
        if message in self.banner.messages():  # said as the engine reported it: said again, with what is kept
            self.banner.replace_message(message, f"{sentence(message)} {kept}")
        else:
            self.banner.show_message(f"{sentence(message)} {kept}")
        self._set_state(f"stopped at {time_text(at_s)}: the live audio ended (see above); the results are kept")

    def _review_live_session(self) -> None:
        """A live session that stopped becomes a saved session on screen, its plots (spectrogram and
        level included) as they are: the slider, -5 s / +5 s and the position move through it as
        through any session opened from File > Sessions (live, they only looked back while the
        analysis went on, and stayed at its end once it stopped)."""
        end = max((max(h.end_s, h.analysed_s) for h in self.histories.values()), default=0.0)
        self.session_metadata = {"source": "microphone"}  # live audio is not recorded: nothing to play
        self.setWindowTitle(f"Speech-emotion analyzer: session {self.session_path.name}")
        self.transport.load(SESSION, end, analysed_s=end, analysis_done=True)
        self.transport.seek(end)
        self.plot_stack.set_position(self.position_s)
        self.plot_stack.show_all(end)  # the whole session in view (and in a PNG export), as a replay's end shows
        self.position_changed.emit(self.position_s)
        self._update_actions()

    def seek(self, t_s: float) -> None:
        """Move the playhead of a recording or a session to ``t_s`` (nothing is analysed again or lost);
        live, look back at ``t_s`` while the analysis goes on."""
        if self.mode == MIC:
            # Live audio cannot be skipped: look back at t_s (centred) while the analysis goes on;
            # ticking Follow goes back to the newest audio.
            self._look_s = min(max(0.0, float(t_s)), self.duration_s)
            self.plot_stack.look_at(self._look_s)
            self.redraw()
            return
        if self.mode == IDLE:
            return
        self.transport.seek(t_s)
        self._announced_end = False
        self.plot_stack.set_follow(True)
        if self.playing:
            self._sync_sound()
        self.plot_stack.set_position(self.position_s)
        self.position_changed.emit(self.position_s)

    def _on_follow_changed(self, follow: bool) -> None:
        if follow:
            self._look_s = None  # live: back to the newest audio

    def _shown_s(self) -> float:
        """The time the slider, the time label, the plots' cursor and the panel show: the playhead, or
        live the time looked back at (see ``_look_s``)."""
        return self._look_s if self.mode == MIC and self._look_s is not None else self.position_s

    def _on_slider_action(self, action: int) -> None:
        """Clicks on the groove and arrow keys on the slider seek; a drag seeks when released."""
        if action != QtWidgets.QAbstractSlider.SliderAction.SliderMove.value:
            self.seek(self.seek_slider.sliderPosition() / 1000.0)

    def _select_speed(self, speed: float) -> None:
        i = self.speed_combo.findData(speed)
        if i < 0:
            self.speed_combo.addItem(f"{speed:g}x", speed)
            i = self.speed_combo.count() - 1
        self.speed_combo.blockSignals(True)
        self.speed_combo.setCurrentIndex(i)
        self.speed_combo.blockSignals(False)

    def set_speed(self, speed: float) -> None:
        """Playback speed of the playhead (0: as fast as the analysis); the analysis is not affected."""
        speed = float(speed)
        if speed == self.settings.speed:
            return
        self.settings = self.settings.replace(speed=speed)
        self.transport.set_speed(speed)
        self._select_speed(speed)
        if self.playing:
            self._sync_sound()

    def set_sound(self, on: bool) -> None:
        """Sound of a recording on or off; it applies at once to a playing recording."""
        on = bool(on)
        self.act_sound.setChecked(on)
        if on == self.settings.sound:
            return
        self.settings = self.settings.replace(sound=on)
        self.save_settings()
        if on and self.settings.speed != SOUND_SPEED:
            self._flash(f"Sound plays at {SOUND_SPEED:g}x only; choose {SOUND_SPEED:g}x to hear the replay.",
                        SOUND_HINT_MS)
        if self.playing:
            self._sync_sound()

    def step_speed(self, direction: int) -> None:
        speeds = list(SPEEDS)
        cur = self.settings.speed if self.settings.speed in speeds else 1.0
        i = max(0, min(len(speeds) - 1, speeds.index(cur) + direction))
        self.set_speed(speeds[i])

    def set_channels(self, channels: str) -> None:
        """Mixed or call-centre lanes; takes effect on the next start (restarts a file replay)."""
        if channels == self.settings.channels:
            return
        was_split = self.settings.channels == "split"
        self.settings = self.settings.replace(channels=channels)
        self.channels_combo.setCurrentIndex(1 if channels == "split" else 0)
        if self.mode == FILE and self.source_path is not None:
            agent_left_out = was_split and not self.settings.analyse_agent and len(self.plot_stack.lanes) > 1
            at, was_playing, was_at_end = self.position_s, self.playing, self.transport.at_end
            if not self.open_file(self.source_path):
                # (the file gone): the control says what the analysis on screen did
                self.settings = self.settings.replace(channels="split" if was_split else "mix")
                self.channels_combo.blockSignals(True)
                self.channels_combo.setCurrentIndex(1 if was_split else 0)
                self.channels_combo.blockSignals(False)
                return
            self.seek(at)  # where it was, as after a settings change (it started again from 0:00)
            if not was_playing:
                self.pause()
                if was_at_end:  # it had played to its end: it still has (the status said "paused")
                    self.transport.at_end = True
                    if not self.bridge.active:
                        self._set_state("replay finished")
            if agent_left_out:
                # The call-centre view left the agent out; mixed, the agent's voice is analysed with the
                # customer's (the batch refuses --channels mix without --analyse-agent for this reason).
                # It says what the note that the channels take turns would (reopened from its session).
                self.banner.withdraw_containing(TURN_TAKING)
                self.banner.show_message(
                    f"{MIXED_CALL}the agent's voice included. For a call "
                    "recording, the call-centre view analyses only the customer (inferring the emotions of "
                    "people at work is prohibited in the EU, AI Act Art. 5(1)(f)).", notice=True)
        elif self.mode == MIC and (self.listening or self._mic_paused):
            self._next_listen_notice("The channel setting")
        elif self.mode == SESSION:
            self.banner.show_message(SESSION_CHANNELS + self._again_text("it"), notice=True)

    def _again_text(self, them: str) -> str:
        """How the saved session shown could be analysed again with new settings (see SESSION_SETTINGS)."""
        if is_live(self.session_metadata or {}):
            return AGAIN_LIVE
        return AGAIN_FROM_RECORDING.format(them=them)

    @property
    def listening(self) -> bool:
        """The microphone is being analysed (not paused or stopped)."""
        return self.mode == MIC and self.bridge.running and not self._mic_paused

    def _next_listen_notice(self, what: str) -> None:
        """A microphone or channel choice made while listening applies to the next session: one notice
        names every such choice."""
        if what not in self._waiting_choices:
            self._waiting_choices.append(what)
        names = self._waiting_choices
        said = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1][0].lower()}{names[-1][1:]}"
        self.banner.withdraw_containing(NEXT_LISTEN)  # in place of the notice of the choices before
        self.banner.show_message(f"{said} {'applies' if len(names) == 1 else 'apply'}{NEXT_LISTEN}this session goes "
                                 f"on as it started (it is saved). Press Listen to start a new session with "
                                 f"{'it' if len(names) == 1 else 'them'}.", notice=True)

    def _withdraw_session_notices(self) -> None:
        """The live session ended: what its notices said of it going on no longer holds."""
        self.banner.withdraw((PAUSED_SETTINGS, SETTINGS_CHANGED))
        self.banner.withdraw_containing(NEXT_LISTEN)
        self._waiting_choices = []

    def _show_channels(self, channels: str) -> None:
        """Show in the Channels control what is on screen (an opened session's one lane or two),
        without analysing anything again or changing the user's setting, which the next recording
        or microphone uses (:meth:`open_file` and :meth:`start_microphone` show it again)."""
        self.channels_combo.blockSignals(True)
        self.channels_combo.setCurrentIndex(1 if channels == "split" else 0)
        self.channels_combo.blockSignals(False)

    def open_settings(self) -> None:
        if self.model_info is not None:
            dialog = SettingsDialog(self.settings, self, (self.model_info.window_s, self.model_info.hop_s))
        else:
            dialog = SettingsDialog(self.settings, self)
        if dialog.exec() == QtWidgets.QDialog.DialogCode.Accepted:
            self.apply_settings(dialog.values())

    def save_settings(self) -> None:
        """Remember the settings for the next start (when the window has a store)."""
        if self.store is not None:
            from gui.settings import save_settings

            save_settings(self.store, self.settings)

    def apply_settings(self, settings: GuiSettings) -> None:
        """Apply new settings. A recording is analysed again with new analysis settings (or reopened
        from an earlier analysis with them), the playhead staying where it is; the microphone
        restarts with them."""
        model_changed = settings.model_path != self.settings.model_path
        refused = None
        if model_changed:  # a model file that cannot be used is not taken, nor saved for the next start
            try:
                eb.read_model_info(settings.model_path)
            except SERError as exc:
                refused = f"{exc} The model stays {Path(self.settings.model_path).name}."
                settings = settings.replace(model_path=self.settings.model_path)
                model_changed = False
        smoothing_changed = settings.smoothing != self.settings.smoothing
        engine_changed = self.bridge.analysis_settings(settings) != self.bridge.analysis_settings(self.settings)
        sound_device_changed = settings.sound_device != self.settings.sound_device
        at, was_playing = self.position_s, self.playing
        mic_live = self.mode == MIC and self.bridge.active
        self.settings = settings
        self.transport.set_speed(settings.speed)
        self.save_settings()
        self.plot_stack.span_s = settings.view_span_s
        if model_changed:
            self.stop(review=False)
            if self.load_model_info():
                self.clear_error()
        if smoothing_changed:
            for h in self.histories.values():
                h.set_smoothing(settings.smoothing)
        if (engine_changed or model_changed) and self.mode == FILE and self.source_path is not None:
            if self.open_file(self.source_path):
                self.seek(at)
                if not was_playing:
                    self.pause()
        elif model_changed and mic_live:
            self.start_microphone(self.mic_device)  # a new model: a new session
        elif engine_changed and mic_live:
            # The analysis starts again from here with the new settings, in the same session. The audio
            # of the restart (the device closed and opened again) is not heard: recorded as a pause.
            stopped_at = time.monotonic()
            self.dispatch(self.bridge.stop(close_session=False))
            if not self._start_mic(start_s=at):  # the device is gone: its error stays in the banner
                self.redraw()
                return
            unheard_s = time.monotonic() - stopped_at
            unheard = ""
            if unheard_s >= UNHEARD_MIN_S:
                self.bridge.note_pause(at, unheard_s)
                unheard = f"; the {unheard_s:.1f} s the microphone took to restart were not heard (recorded as a pause)"
            self.banner.withdraw(SETTINGS_CHANGED)  # the latest change's notice in place of the one before
            self.banner.show_message(f"{SETTINGS_CHANGED}{time_text(at)}: the analysis goes on with them in the same "
                                     f"session, which records where they changed (its report and exports say so)"
                                     f"{unheard}.", notice=True)
        elif engine_changed and self.mode == MIC and self._mic_paused:
            self.banner.show_message(f"{PAUSED_SETTINGS}they apply when you resume (Space), in the same session, "
                                     "which records where they changed (its report and exports say so).",
                                     notice=True)
        elif engine_changed and self.mode == SESSION:
            self.banner.show_message(SESSION_SETTINGS + self._again_text("them"), notice=True)
        elif sound_device_changed and self.playing:
            self._sync_sound()
        if refused is not None:  # said last: a recording opened again above clears the banner
            self.show_error(refused)
        self.redraw()

    # -- the timer ---------------------------------------------------------------------------
    def tick(self) -> None:
        """Drain the engine's events, move the playhead and redraw; runs every REFRESH_MS on the GUI
        thread."""
        try:
            now = time.monotonic()
            wall, self._tick_t = now - self._tick_t, now
            if self.bridge.active or self.bridge.reading or self.bridge.sound_playing:
                self.dispatch(self.bridge.poll(MAX_EVENTS_PER_TICK))
            self._say_unsaved()  # a session that ended with records only in memory, however it ended
            if self.bridge.active:
                if self.mode == FILE and (self._all_finished() or not self.bridge.running):
                    self._on_analysis_finished()
                elif not self.bridge.running:
                    self._engine_ended_live()
            self._show_reading()
            if self.mode == FILE:
                self.transport.analysis_progress(max((h.analysed_s for h in self.histories.values()), default=0.0))
            elif self.mode == MIC and self.histories:
                self.transport.live_progress(self._analysed_s())
            before = self.position_s
            self.transport.advance(wall)
            self._follow_with_sound(waiting=self.playing and wall > 0 and self.transport.speed > 0
                                    and self.position_s == before and not self.transport.analysis_done)
            if self.transport.at_end and not self._announced_end:
                self._on_replay_finished()
            self.redraw()
        except Exception as exc:  # noqa: BLE001 - a drawing bug must not stop the timer forever
            self.show_error(f"Display error: {exc!r}. The analysis goes on; please report this.")

    def _show_reading(self) -> None:
        """While an opened session's recording is read again for its level and spectrogram (seconds for
        a long one, the plots filling meanwhile), the state says how far it got."""
        ours = self.mode == SESSION and not self.playing and self._session_state  # the state says the session
        if ours and self.bridge.reading:
            self._set_state(f"{self._session_state}: reading its recording for the level and spectrogram, "
                            f"{time_text(self.bridge.read_s)} of {time_text(self.duration_s)}")
            self._reading_shown = True
        elif self._reading_shown:
            self._reading_shown = False
            if ours:
                self._set_state(self._session_state)

    def _follow_with_sound(self, waiting: bool) -> None:
        """The sound pauses while the playhead waits for the analysis, and goes on from the playhead
        when it moves again (so sound and playhead never drift apart). Live audio is never waited
        for: the playhead stands still between the microphone's blocks, and the state says listening."""
        waiting = waiting and self.mode != MIC
        if waiting and not self._waiting_for_analysis:
            self._waiting_for_analysis = True
            self.bridge.stop_sound()
            self._set_state("waiting for the analysis")
        elif not waiting and self._waiting_for_analysis:
            self._waiting_for_analysis = False
            if self.playing and self.mode == MIC:
                self._set_state("listening")
            elif self.playing:
                self._sync_sound()
                self._set_state(f"playing {self.source_path.name if self.source_path else ''}".strip())

    def _analysed_s(self) -> float:
        return max((h.end_s for h in self.histories.values()), default=0.0)

    def _all_finished(self) -> bool:
        return bool(self.finished_tracks) and (None in self.finished_tracks or
                                               len(self.finished_tracks) >= self._expected_tracks)

    def _on_analysis_finished(self) -> None:
        """The analysis ended: when it reached the end of the recording without a fatal error, its
        session is complete (and the recording reopens from it next time)."""
        failed_before = self._analysis_failed
        self.dispatch(self.bridge.stop_analysis())
        complete = self._all_finished() and not self._analysis_failed and not failed_before
        self.bridge.close_session(complete=complete)
        self._say_unsaved()
        end = self._analysed_s()
        if complete:
            self.duration_s = max(self.duration_s, end)
        else:  # as after Stop, the playhead plays over what was analysed: a cut file has nothing beyond it
            self.duration_s = min(self.duration_s or end, end) or end
        self.transport.analysis_progress(end, done=True)
        ended = "" if complete else ", analysis stopped early (see the message above)"
        if self.transport.at_end:
            self._set_state("replay finished" + ended)
        elif not self.playing:
            self._set_state("paused" + ended)
        else:
            self._set_state(f"playing {self.source_path.name if self.source_path else ''}{ended}".strip())
        self.sig_analysis_finished.emit()

    def _on_replay_finished(self) -> None:
        """The playhead reached the end of the recording; Play starts it again from the beginning."""
        self._announced_end = True
        self.bridge.stop_sound()
        ended = ", analysis stopped early (see the message above)" if self._analysis_failed else ""
        self._set_state("replay finished" + (", analysing" if self.bridge.active else ended))
        self.redraw()
        self.plot_stack.show_all(self.duration_s)
        self.redraw()
        self.sig_replay_finished.emit()

    def dispatch(self, events) -> None:
        """Route GUI events to the per-track histories."""
        for ev in events:
            if isinstance(ev, Problem):
                message = ev.message
                if message.endswith(SOUND_NOTICE_END):
                    # The sound output failed (not found, would not open, stopped): Sound goes off. Left
                    # on, it failed again at every play and every file opened, each time with this error.
                    self.set_sound(False)
                    if OUTPUT_ADVICE not in message:  # (whose app words say so already)
                        message = message.replace(SOUND_NOTICE_END, f"{SOUND_OFF} {SOUND_NOTICE_END}")
                if TURN_TAKING in message and any(m.startswith(MIXED_CALL) for m in self.banner.messages()):
                    continue  # the user chose Mixed for this call, and was told what it means
                if is_live_sound_back_message(message):  # (recorded in the session, for its report)
                    where = message.split(": ", 1)[0]
                    for text in [t for t in self._quiet_notes if t.startswith(where + ":")]:
                        self.banner.withdraw(text)
                        del self._quiet_notes[text]
                    self._flash(_in_app_words(message))
                    continue
                # below what the banner says of this run
                self.show_error(_in_app_words(message), notice=ev.notice)
                if self.mode == MIC and is_live_quiet_message(message):  # it holds until sound comes in
                    # (named as the device's source named its channels: a lane may be renamed since)
                    names = list(getattr(self.bridge.source, "track_names", None) or
                                 [self.lane_name(t) for t in range(max(self._expected_tracks, 1))])
                    lane = next((t for t, n in enumerate(names) if f"({n} channel):" in message), None)
                    self._quiet_notes[_in_app_words(message)] = lane
                self._analysis_failed |= bool(ev.fatal)
                if ev.fatal:
                    self._fatal_message = ev.message
                continue
            if isinstance(ev, Finished):
                self.finished_tracks.add(ev.track)
                continue
            h = self._ensure_track(ev.track)
            if isinstance(ev, Audio):
                h.add_audio(ev)
                if self._quiet_notes:
                    self._heard(ev)
            elif isinstance(ev, Result):
                h.add_result(ev)
            elif isinstance(ev, Segment):
                h.add_segment(ev)
            elif isinstance(ev, VadFlags):
                h.add_vad(ev)
        if self.mode == MIC and self.histories:  # live, the playhead is the newest audio
            self.transport.live_progress(self._analysed_s())

    def _heard(self, audio: Audio) -> None:
        """Sound came in on a live input said to be muted or very quiet: that note no longer holds,
        so it goes (a passing note says why)."""
        shown = self.banner.messages()
        for text, lane in list(self._quiet_notes.items()):
            if text not in shown:  # taken off meanwhile (closed, or a new listen)
                del self._quiet_notes[text]
                continue
            if lane not in (None, audio.track) or not len(audio.samples):
                continue
            x = audio.samples
            if float(np.max(np.abs(x - x.mean()))) >= VERY_QUIET_PEAK:
                del self._quiet_notes[text]
                self.banner.withdraw(text)
                where = "" if lane is None else f" on {self.lane_name(lane)}'s channel"
                self._flash(f"Sound is coming in{where} now: the note on a silent microphone no longer holds.")

    def redraw(self) -> None:
        if self.mode != MIC:
            self._look_s = None
        self.plot_stack.set_position(self._shown_s())
        self.plot_stack.refresh(self.histories)
        # Live, the panel shows the newest result (or the one looked back at); in a replay or a
        # session, the one under the playhead.
        analysed = math.inf if self.mode == MIC or self.transport.analysis_done else self.transport.analysed_s
        shown = self._look_s if self.mode == MIC else self.position_s
        self.side_panel.refresh(self.histories, shown, analysed)
        self._update_transport()
        self._frames += 1
        now = time.monotonic()
        if now - self._fps_t0 >= 1.0:
            self._fps = self._frames / (now - self._fps_t0)
            self._frames, self._fps_t0 = 0, now
        if now - self._status_t >= STATUS_EVERY_S:
            self._status_t = now
            self._update_status()

    def _update_transport(self) -> None:
        shown = self._shown_s()
        if not self.seek_slider.isSliderDown():
            self.seek_slider.setRange(0, int(self.duration_s * 1000))
            self.seek_slider.setValue(int(shown * 1000))
        self.time_label.setText(f"{_clock(shown)} / {_clock(self.duration_s)}")
        self.act_play.setText("Pause" if self.playing else "Resume" if self.mode == MIC and self._mic_paused else "Play")
        self._update_actions()

    def _update_actions(self) -> None:
        """Enable what can act now: transport once something plays or can play, exports once there
        is a session file (CSV, JSON) or a lane (PNG). Applied only when that changes (every frame
        calls this)."""
        has_session = self.mode != IDLE and self.session_path is not None  # export() says if the file is gone
        state = (self.mode, self.bridge.active, self.transport.playable, has_session, bool(self.plot_stack.lanes),
                 self._mic_paused)
        if state == self._actions_state:
            return
        self._actions_state = state
        silent = self.mode == SESSION and not self.transport.playable  # a session without its recording
        # Live: Play pauses and resumes the microphone; once stopped, only Listen starts a new session.
        live = self.mode == MIC and (self.bridge.active or self._mic_paused)
        replayable = self.transport.playable and self.mode != MIC
        self.act_play.setEnabled(self.mode == FILE or live or replayable or self.bridge.active)
        self.act_play_why.setEnabled(not self.act_play.isEnabled())
        self.act_play.setToolTip(f"{PLAY_TIP}: {self._session_audio_note()}" if silent
                                 else f"{PLAY_TIP}: stopped; press Listen (Ctrl+L) for a new live session"
                                 if self.mode == MIC and not live
                                 else PLAY_TIP if self.mode != IDLE else f"{PLAY_TIP}: {NOTHING_TO_PLAY}")
        self.act_sound.setEnabled(not silent and self.mode != MIC)  # live audio is analysed, never played
        self.act_sound.setToolTip("Sound: live audio is not played back" if self.mode == MIC else SOUND_TIP)
        self.act_stop.setEnabled(self.mode == FILE or live or self.bridge.active or replayable)
        for a in (self.act_back, self.act_forward):
            a.setEnabled(self.mode in (FILE, SESSION))
        # Speed: a recording's replay only (live audio comes at its own pace; a session without its
        # recording has nothing to play).
        replays = self.mode == FILE or (self.mode == SESSION and self.transport.has_audio)
        for w in (self.speed_combo, self.act_slower, self.act_faster):
            w.setEnabled(replays)
        self.speed_combo.setToolTip("Replay speed" if replays else "Replay speed: live audio comes at its own pace"
                                    if self.mode == MIC else "Replay speed: nothing to replay")
        for a in (self.act_export_csv, self.act_export_json, self.act_export_html):
            a.setEnabled(has_session)
        self.act_export_png.setEnabled(bool(self.plot_stack.lanes))
        self.export_button.setEnabled(any(a.isEnabled() for a in self.export_button.menu().actions()))

    def _fit_state_field(self) -> None:
        """The state field's widest: what the status bar's other fields leave (at their full texts),
        less room for a passing note; see FLASH_ROOM_PX."""
        others = sum(f.sizeHint().width() + 12 for f in (self.status_model, self.status_device, self.status_latency,
                                                          self.status_overflows, self.status_fps))
        room = self.statusBar().width() - others - FLASH_ROOM_PX
        self.status_state.setMaximumWidth(max(STATE_FIELD_MIN_PX, room))

    def _update_status(self) -> None:
        stats = self.bridge.stats()
        self.status_device.setText(f"device: {stats.get('device', '–')}")
        p50 = _first(stats, ("latency_ms_p50", "latency_p50_ms", "p50_ms"))
        p95 = _first(stats, ("latency_ms_p95", "latency_p95_ms", "p95_ms"))
        # (none yet: a new run's, not the last run's)
        text = "result delay: –" if p50 is None else f"result delay: {p50:.0f} ms" + (
            f" (p95 {p95:.0f})" if p95 is not None else "")
        self.status_latency.setText(text)
        overflows = _first(stats, ("overflows", "input_overflows"))
        text = f"overflows: {'–' if overflows is None else int(overflows)}"
        dropped = int(_first(stats, ("dropped_display_events",)) or 0)
        if dropped:
            text += f", display drops: {dropped}"  # audio the plots missed; the analysis has all of it
        gaps = int(_first(stats, ("sound_underflows",)) or 0)
        if gaps:
            text += f", sound gaps: {gaps}"  # the sound output ran dry; the analysis has all of the audio
        self.status_overflows.setText(text)
        self.status_fps.setText(f"{self._fps:.0f} fps" if self._fps else "– fps")  # measured over a second
        self._fit_state_field()
        self._fit_flash()

    def _flash(self, text: str, ms: int = REOPEN_NOTE_MS, tip: str | None = None) -> None:
        """A passing note in the status bar's free room (left of its fields), cut short with an
        ellipsis where it does not fit (Qt cuts it mid-word), whole (or ``tip``) in the status bar's
        tooltip while it shows."""
        self.statusBar().setToolTip(tip or text)
        self._flashing = (text, time.monotonic() + ms / 1000.0)
        self._fit_flash(renew=True)

    def _flash_gone(self) -> None:
        """A passing note's time is up (or it was cleared): its tooltip goes with it."""
        self._flashing = None
        self.statusBar().setToolTip("")

    def _fit_flash(self, renew: bool = False) -> None:
        """Show the passing note cut to the room it has now (the fields beside it grow and shrink as
        their texts change); the status bar's refresh calls this again. ``renew``: a note shown anew
        (the same text again too) gets its whole time again."""
        if self._flashing is None:
            return
        text, until = self._flashing
        left_ms = int((until - time.monotonic()) * 1000)
        sb = self.statusBar()
        if left_ms <= 0:
            self._flashing = None
            sb.clearMessage()
            return
        if sb.layout() is not None:
            sb.layout().activate()  # the fields' places after their texts' latest change
        room = self.status_state.geometry().left() - 2 * STATUS_MARGIN_PX
        shown = text
        if self.status_state.isVisible() and room > 0:
            shown = sb.fontMetrics().elidedText(text, QtCore.Qt.TextElideMode.ElideRight, room)
        if renew or shown != sb.currentMessage():
            sb.showMessage(shown, left_ms)

    def _set_state(self, text: str) -> None:
        self.status_state.setText(text)
        self.status_state.setToolTip(text)  # whole, where the status bar cuts a long one short

    # -- exports -----------------------------------------------------------------------------
    def _export_dialog(self, fmt: str) -> None:
        filters = {"csv": "CSV (*.csv)", "json": "JSON (*.json)", "png": "PNG image (*.png)",
                   "html": "HTML report (*.html)"}
        # The export adds the format's ending to a name without it: the question whether to replace a
        # file is asked here, of the file that will be written (the dialog would ask of the name typed).
        path = choose_file(self, f"Export {fmt.upper()}", self.default_export_path(fmt), filters[fmt], save=True)
        if not path:
            return
        written = export_path(path, fmt)
        if written.exists():
            answer = QtWidgets.QMessageBox.question(
                self, f"Export {fmt.upper()}", f"{written} already exists. Replace it?",
                QtWidgets.QMessageBox.StandardButton.Yes | QtWidgets.QMessageBox.StandardButton.No,
                QtWidgets.QMessageBox.StandardButton.No)
            if answer != QtWidgets.QMessageBox.StandardButton.Yes:
                return
        self.export(fmt, written)

    def default_export_path(self, fmt: str) -> Path:
        """Where an export goes unless the user says otherwise: the folder of the last export, else
        beside the recording (where the user keeps it, if writable), else (live audio, a recording on
        a read-only disk) the user's documents folder or home, not the sessions folder hidden in the
        application's data; named after what was analysed (the replayed file's name, or the session's)."""
        recording = Path(self.source_path).parent if self.source_path is not None else None
        documents = Path(QtCore.QStandardPaths.writableLocation(
            QtCore.QStandardPaths.StandardLocation.DocumentsLocation) or Path.home())
        if self._export_dir is not None and self._export_dir.is_dir():
            folder = self._export_dir
        elif recording is not None and recording.is_dir() and os.access(recording, os.W_OK):
            folder = recording
        elif documents.is_dir() and os.access(documents, os.W_OK):
            folder = documents
        elif os.access(Path.home(), os.W_OK):
            folder = Path.home()
        else:
            folder = self.session_path.parent if self.session_path is not None else self.session_dir
        stem = Path(self.source_path).stem if self.source_path is not None else (
            self.session_path.stem if self.session_path is not None else "analysis")
        return folder / f"{stem}.{fmt}"

    def export(self, fmt: str, path: str | Path) -> Path | None:
        """Write CSV or JSON of the session's results, its HTML report, or a PNG of the plots; errors go
        to the banner, and an export that works takes an earlier export's failure off it. A name
        without the format's ending gets it (an image named report.html would overwrite a report, and
        open as none)."""
        path = export_path(path, fmt)
        try:
            if fmt == "png":
                if not self._titled(self.plot_stack.grab()).save(str(path), "PNG"):
                    raise OSError(f"{path}: the image could not be written; choose a writable folder.")
                written, state = path, f"image {path.name} saved in {path.parent}"
            else:
                if self.session_path is None or not self.session_path.exists():
                    raise OSError("Nothing to export yet: replay a file, listen, or open a session first.")
                written = self.bridge.export(self.session_path, path, fmt)
                state = f"exported {Path(written).name} to {Path(written).parent}"  # the name first: it is cut last
        except (SERError, OSError) as exc:
            self.show_error(f"{EXPORT_FAILED}{exc}", passing=True)
            return None
        self._flash(sentence(state), tip=str(written))  # a passing note: the state field's next change hid it
        self._export_dir = Path(written).parent
        self.banner.withdraw(EXPORT_FAILED)  # the failure is behind the user now; what it covered comes back
        return written

    def _titled(self, plots: QtGui.QPixmap) -> QtGui.QPixmap:
        """The plots' image under a line that says what they show: the recording or session, the model
        and when the image was made (an image on its own does not say)."""
        import datetime as _dt

        if self.source_path is not None:
            what = self.source_path.name
        elif self.mode == MIC:
            what = f"live: {self.device_combo.currentText() or 'microphone'}"
        else:
            what = self.session_path.name if self.session_path is not None else "analysis"
        recorded = ((self.session_metadata or {}).get("engine") or {}).get("model") or {} if self.mode == SESSION else {}
        if recorded.get("path"):  # a session opened: the model that analysed it, not the one loaded now
            model = Path(str(recorded["path"])).name
        else:
            model = self.model_info.name if self.model_info is not None else Path(self.settings.model_path).name
        text = f"{what}   ·   model {model}   ·   {_dt.datetime.now():%Y-%m-%d %H:%M}"
        if self.plot_stack.lanes:  # the stretch the image shows: the view, which may be part of the whole
            x0, x1 = self.plot_stack.x_range()
            end = self.transport.end_s if math.isfinite(self.transport.end_s) else self.position_s
            end = max(end, self.position_s)
            text += f"   ·   shown {_clock(max(x0, 0.0))}-{_clock(min(x1, end) if end > 0 else x1)}"
            if end > 0:
                text += f" of {_clock(end)}"
        font = self.font()
        # Drawn in logical pixels at the plots' pixel ratio: a HiDPI screen's grab has 2 device pixels
        # per logical one, and the title and the plots keep their proportions.
        ratio = plots.devicePixelRatio()
        width, plots_h = plots.width() / ratio, plots.height() / ratio
        height = QtGui.QFontMetrics(font).height() + 2 * TITLE_PAD_PX
        out = QtGui.QPixmap(round(width * ratio), round((plots_h + height) * ratio))
        out.setDevicePixelRatio(ratio)
        out.fill(QtGui.QColor(*PLOT_BACKGROUND))
        painter = QtGui.QPainter(out)
        painter.setFont(font)
        painter.setPen(QtGui.QColor(220, 220, 220))
        painter.drawText(QtCore.QRectF(TITLE_PAD_PX, 0, width - 2 * TITLE_PAD_PX, height),
                         int(QtCore.Qt.AlignmentFlag.AlignVCenter | QtCore.Qt.AlignmentFlag.AlignLeft), text)
        painter.drawPixmap(QtCore.QPointF(0, height), plots)
        painter.end()
        return out

    def save_snapshot(self, path: str | Path) -> bool:
        """PNG of the whole window."""
        return self.grab().save(str(path), "PNG")

    # -- drag and drop, closing ----------------------------------------------------------------
    def dragEnterEvent(self, event: QtGui.QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QtGui.QDropEvent) -> None:  # noqa: N802 - Qt override
        files = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if files:
            event.acceptProposedAction()
            self.open_path(files[0])

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:  # noqa: N802 - Qt override
        self._arrange_toolbars(event.size().width())
        super().resizeEvent(event)
        self._fit_state_field()
        if not self.banner.isHidden():
            self.banner._fit_height()  # its room is a share of the window's height

    def _arrange_toolbars(self, width: int) -> None:
        """The analysis toolbar beside the main one when both fit in ``width``, else on a row below it
        (rather than controls behind an overflow arrow)."""
        needed = self.main_toolbar.sizeHint().width() + self.analysis_toolbar.sizeHint().width()
        apart = self.toolBarBreak(self.analysis_toolbar)
        if needed > width and not apart:
            self.insertToolBarBreak(self.analysis_toolbar)
        elif needed <= width and apart:
            self.removeToolBarBreak(self.analysis_toolbar)

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:  # noqa: N802 - Qt override
        if not self.keep_unsaved_first("Quitting"):
            event.ignore()
            return
        self.timer.stop()
        self.bridge.stop()
        self.save_settings()  # speed and channels change without the dialog
        super().closeEvent(event)

    def open_file_dialog(self) -> None:
        path = choose_file(self, "Replay an audio file", "", AUDIO_FILTER)
        if path:
            self.open_file(path)

    def notice_interrupted_session(self, quiet_s: float = INTERRUPTED_QUIET_S) -> bool:
        """At start: when the newest saved session has no end record and no program is writing it
        (its writer's lock is gone; where locks cannot be asked about, nothing has written to it for
        ``quiet_s``), the program was killed or crashed while it ran. Says so and how to open it; its
        results up to then are kept."""
        from gui.sessions import OPEN, list_sessions
        from streamer.session import being_written

        newest = next(iter(list_sessions(self.session_dir)), None)
        if newest is None or newest.state != OPEN:
            return False
        writing = being_written(newest.path)
        if writing:
            return False
        try:
            if writing is None and time.time() - newest.path.stat().st_mtime < quiet_s:
                return False
        except OSError:
            return False
        until = f" up to {time_text(newest.duration_s)}" if newest.duration_s is not None else ""
        self.banner.show_message(
            f"The last session ({newest.path.name}, {newest.source}, started {newest.created} UTC) was not closed: the "
            f"program was killed or crashed while it ran, or the disk filled up. Its results{until} are kept: "
            f"File > Sessions opens it.", notice=True)
        return True

    def writing_session(self) -> Path | None:
        """The session file this window is writing (a paused live session's too), or None."""
        writing = self.bridge.active or (self.mode == MIC and self._mic_paused)
        return self.session_path if writing else None

    def browse_sessions(self) -> None:
        """The session browser: every saved session with its date, source, length and model."""
        from gui.sessions import SessionBrowser

        dialog = SessionBrowser(self.session_dir, self, current=self.writing_session())
        if dialog.exec() == QtWidgets.QDialog.DialogCode.Accepted and dialog.chosen is not None:
            self.open_session(dialog.chosen)

    def open_session_dialog(self) -> None:
        path = choose_file(self, "Open a session", self.session_dir, SESSION_FILTER)
        if path:
            self.open_session(path)


def _first(d: dict, keys) -> float | None:
    for k in keys:
        v = d.get(k)
        if isinstance(v, (int, float)) and math.isfinite(v):
            return float(v)
    return None
