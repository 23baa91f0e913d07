"""The session browser: every saved session in the sessions folder, newest first, with its date,
source, length and model, read from the first and last lines of each file (fast for any number of
sessions of any length)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from streamer.session import (
    being_written,
    end_record,
    ended_unreported,
    renamed_tracks,
    session_complete,
    session_head_tail,
    skipped_tracks,
)
from streamer.summary import clock_text

OPEN = "open (interrupted?)"  # no end record: killed or crashed, or still being written
MAX_COLUMN_PX = 320  # wider texts are shortened in the middle; the tooltip has them whole
MIN_SHRUNK_COLUMN_PX = 120  # a column shortened to fit the screen keeps this much
DIALOG_PX = (900, 420)  # the smallest the dialog opens at; wider for its columns (_fit_width)
SCREEN_SHARE = 0.95  # of the screen's width, at most
SCREEN_PX = 1366  # the screen's width when Qt gives none
INTERRUPTED = "interrupted"  # no end record and nobody writing it: killed or crashed


@dataclass(frozen=True)
class SessionInfo:
    path: Path
    created: str
    source: str
    duration_s: float | None  # how far its analysis got: its end record's, else its last result's end
    model: str
    state: str  # "complete", "stopped", "ended by an error: MESSAGE" or OPEN
    recording_s: float | None = None  # the length of its recording (files), None for a microphone
    lanes: str = ""  # how its channels were analysed: "mixed", "Agent, Customer (Customer analysed)" ...


def read_session_info(path: Path) -> SessionInfo | None:
    """What the browser lists of one session file, or None if it is not a session."""
    try:
        head, tail = session_head_tail(path)
    except OSError:
        return None
    if not head or head[0].get("type") != "metadata":
        return None
    meta = dict(head[0])
    for rec in head[1:]:
        if rec.get("type") == "metadata-update":
            meta.update(rec)
    # Its tracks renamed (the last names hold): the end record of the run that renamed them says so (the
    # rename itself may be far from the end), and a rename of the saved session is its last record.
    for rec in tail:
        renamed = rec.get("type") == "metadata-update" and rec.get("tracks_renamed")
        if (renamed or rec.get("type") == "end") and isinstance(rec.get("track_names"), list):
            meta.update(track_names=rec["track_names"], tracks_renamed=True)
    end = end_record(tail)
    if end is not None and isinstance(end.get("tracks_left_out"), list):  # its settings changed as it went
        meta["tracks_left_out"] = end["tracks_left_out"]
    engine = meta.get("engine") or {}
    engine_source = engine.get("source") if isinstance(engine.get("source"), dict) else {}
    # A microphone by its name once the engine opened it ("microphone pulse"), not the index it was chosen by.
    device = engine_source.get("device_name") or meta.get("device")
    source = meta.get("path") or engine_source.get("path") or \
        (f"microphone {device if device is not None else '(default)'}" if meta.get("source") == "microphone" else "")
    model = Path(str((engine.get("model") or {}).get("path", ""))).name
    ends = [float(r["end_s"]) for r in tail if r.get("type") == "result" and "end_s" in r]
    state = OPEN if end is None else ("complete" if session_complete(tail) else "stopped")
    if state == "stopped" and isinstance(end.get("ended_by"), str) and end["ended_by"]:
        # the microphone lost, not its user's Stop
        state = ("ended by itself, with no error reported" if ended_unreported(end["ended_by"])
                 else f"ended by an error: {end['ended_by']}")
    until = (end or {}).get("analysed_until_s")  # how far it got, past its last result (silence, noise)
    if isinstance(until, (int, float)) and until > 0:
        ends.append(float(until))
    recording = engine_source.get("duration_s")  # from where the analysis started (start_s) to the end
    if isinstance(recording, (int, float)):
        start = engine_source.get("start_s")
        recording = float(recording) + (float(start) if isinstance(start, (int, float)) else 0.0)  # the whole file
        if state == "complete":  # to its end: the detector's last part-frame is not left out of the count
            ends.append(recording)
    else:
        recording = None
    return SessionInfo(path, str(meta.get("created", ""))[:19].replace("T", " "), str(source or "?"),
                       max(ends) if ends else None, model or "?", state, recording, lanes_text(meta))


def lanes_text(meta: dict) -> str:
    """How a session's channels were analysed, told apart in the list (the same recording analysed
    mixed and in the call-centre view gave two rows alike): "mixed (2 channels)", "one channel",
    "Agent, Customer (Customer analysed)"; a single lane the user named, with its name: "Dana: one
    channel"."""
    engine = meta.get("engine") if isinstance(meta.get("engine"), dict) else {}
    source = engine.get("source") if isinstance(engine.get("source"), dict) else {}
    renamed = renamed_tracks(meta)
    names = [str(n) for n in (renamed or engine.get("tracks") or meta.get("track_names") or [])
             if isinstance(n, str)]
    channels = source.get("n_channels")
    if source.get("channels") == "mix" or len(names) == 1:
        many = isinstance(channels, int) and channels > 1
        how = f"mixed ({channels} channels)" if many else "one channel"
        return f"{renamed[0]}: {how}" if renamed and len(renamed) == 1 and renamed[0].strip() else how
    if not names:
        return ""
    skipped = skipped_tracks(meta)
    analysed = [n for i, n in enumerate(names) if i not in skipped]
    return ", ".join(names) + (f" ({', '.join(analysed)} analysed)" if skipped and analysed else "")


def _clock(seconds: float | None) -> str:
    return "–" if seconds is None else clock_text(seconds)


def list_sessions(folder: Path) -> list[SessionInfo]:
    """Every session in ``folder``, newest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    infos = [read_session_info(p) for p in folder.glob("*.jsonl")]
    return sorted((i for i in infos if i is not None), key=lambda i: i.created, reverse=True)


class SessionBrowser(QtWidgets.QDialog):
    """Lists the sessions of a folder; Open (or a double click) opens the chosen one."""

    COLUMNS = ("date (UTC)", "source", "channels", "recording", "analysed up to", "model", "state")

    def __init__(self, folder: Path, parent=None, current: Path | None = None):
        super().__init__(parent)
        self.setWindowTitle("Sessions")
        self.resize(*DIALOG_PX)
        self.folder = Path(folder)
        self.chosen: Path | None = None
        layout = QtWidgets.QVBoxLayout(self)
        where = QtWidgets.QLabel(f"Sessions are saved in <b>{self.folder}</b> (every analysis, as it happens).")
        where.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(where)
        self.table = QtWidgets.QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.doubleClicked.connect(lambda _i: self._open())
        layout.addWidget(self.table)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Open
                                             | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._open)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.sessions = list_sessions(self.folder)
        self.table.setRowCount(len(self.sessions))
        for row, info in enumerate(self.sessions):
            state = info.state
            if current is not None and info.path == Path(current) and info.state == OPEN:
                state = "being written now (this window)"  # no end record yet: it is not interrupted
            elif info.state == OPEN:
                writing = being_written(info.path)  # another window or `ser analyze` still writing it?
                state = {True: "being written now", False: INTERRUPTED}.get(writing, OPEN)
            texts = (info.created, info.source, info.lanes or "–", _clock(info.recording_s), _clock(info.duration_s),
                     info.model, state)
            for col, text in enumerate(texts):
                item = QtWidgets.QTableWidgetItem(text)
                item.setToolTip(str(info.path) if col == 0 else text)
                self.table.setItem(row, col, item)
        self.table.resizeColumnsToContents()
        self.table.setTextElideMode(QtCore.Qt.TextElideMode.ElideMiddle)
        for col in range(self.table.columnCount()):  # a long path would push the state column out of sight
            self.table.setColumnWidth(col, min(self.table.columnWidth(col), MAX_COLUMN_PX))
        self._fit_width()
        if not self.sessions:
            where.setText(where.text() + "<br>No sessions yet: open a file or press Listen.")

    def _fit_width(self, screen_px: int | None = None) -> None:
        """As wide as its columns, within the screen (``screen_px`` wide; by default the one it is
        on): at 1366 pixels the state column had been cut off ("interrupte") behind a scroll bar. Where the screen is narrower than the columns, the source
        and channels columns give up the difference (their texts shortened in the middle)."""
        n = self.table.columnCount()
        widths = [self.table.columnWidth(c) for c in range(n)]
        margins = self.layout().contentsMargins()
        chrome = (self.table.verticalHeader().sizeHint().width() + 2 * self.table.frameWidth()
                  + self.table.verticalScrollBar().sizeHint().width() + margins.left() + margins.right())
        if screen_px is None:
            screen = (self.parentWidget() or self).screen()
            screen_px = screen.availableGeometry().width() if screen is not None else SCREEN_PX
        room = int(screen_px * SCREEN_SHARE)
        excess = sum(widths) + chrome - room
        for col in sorted((self.COLUMNS.index("source"), self.COLUMNS.index("channels")), key=lambda c: -widths[c]):
            if excess <= 0:
                break
            cut = min(excess, max(0, widths[col] - MIN_SHRUNK_COLUMN_PX))
            widths[col] -= cut
            excess -= cut
            self.table.setColumnWidth(col, widths[col])
        self.resize(max(DIALOG_PX[0], min(sum(widths) + chrome, room)), DIALOG_PX[1])

    def _open(self) -> None:
        row = self.table.currentRow()
        if 0 <= row < len(self.sessions):
            self.chosen = self.sessions[row].path
            self.accept()
