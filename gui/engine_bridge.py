"""The one place where the GUI touches the streaming engine (``streamer``).

It builds the engine from :class:`gui.settings.GuiSettings`, starts it on a file or a microphone,
drains its events into the GUI's own event types (:mod:`gui.events`), opens saved sessions and
exports them. Errors users can cause come out as :class:`model.errors.SERError` subclasses.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from gui.events import Audio, Finished, GuiEvent, Problem, Segment, VadFlags
from gui.settings import GuiSettings
from model.errors import ModelFileError, SERError
from model.meta import DEFAULT_ANALYSIS
from streamer.player import SOUND_NOTICE_END
from streamer.session import ANALYSIS_COMPLETE, ANALYSIS_STOPPED, session_complete, session_head_tail

DEFAULT_TRACK_NAMES = ("Agent", "Customer")
AGENT_TRACK = 0  # in the call-centre view the first channel is the agent's (as `ser batch` assumes)
CUSTOMER_TRACK = 1  # and the second the customer's, the one channel it analyses unless asked otherwise
CALL_CENTRE_CHANNELS = len(DEFAULT_TRACK_NAMES)  # a microphone split for a call centre: its first two channels
SESSION_SUFFIX = ".jsonl"
AUDIO_READ_AHEAD_S = 1000.0  # audio read ahead for the display of an analysis reopened from its session


@dataclass(frozen=True)
class ModelInfo:
    """What the window shows about a model without loading its weights."""

    path: str
    labels: list[str]
    dimensions_source: str
    features: object = None  # the model's model.features.FeatureConfig (its spectrogram bands)
    heads: tuple = ()  # the outputs the model file declares (ModelMeta.heads): one plot each
    window_s: float = DEFAULT_ANALYSIS["window_s"]  # the analysis window and hop the model file says it
    hop_s: float = DEFAULT_ANALYSIS["hop_s"]  # was trained for

    @property
    def name(self) -> str:
        return Path(self.path).name


@dataclass(frozen=True)
class LoadedSession:
    """A saved session read back: its events (results and segments) and metadata."""

    path: Path
    events: list[GuiEvent]
    metadata: dict
    heads: list  # the model's declared heads (or, for sessions that did not record them, its labels)
    salvaged: dict | None = None  # what was left out when a damaged session was opened up to the damage
    analysis: dict | None = None  # how far the analysis got (streamer.session.analysis_state)
    # What was said while it was analysed (a clipped or very quiet recording, a damaged file, a
    # failure), in order, each once.
    messages: list[str] = field(default_factory=list)


def read_model_info(model_path: str) -> ModelInfo:
    """Labels and V/A/D source of a model file; raises :class:`ModelFileError` with what to do."""
    from model.meta import read_meta, resolve_model_path

    path = resolve_model_path(model_path)
    if not path.is_file():
        hint = (" The default model has not been installed or trained yet: choose a model file in Settings, "
                "or train one with 'ser train'.") if str(model_path) == "default" else \
            " Choose an existing .safetensors model file in Settings."
        raise ModelFileError(f"{path}: model file not found.{hint}")
    meta = read_meta(path)
    return ModelInfo(str(path), list(meta.labels), meta.dimensions_source, meta.features, tuple(meta.heads),
                     meta.window_s, meta.hop_s)


def list_devices(rescan: bool = False) -> list[tuple[int, str]]:
    """Input devices as (id to pass back, display name), with ``rescan`` as the system has them now
    (see :func:`streamer.list_input_devices`); raises :class:`SERError` if none can be listed."""
    import streamer

    return [(d.index, f"{d.name} ({d.hostapi})" + (" – default" if d.is_default else ""))
            for d in streamer.list_input_devices(rescan=rescan)]


def file_info(path: str | Path) -> tuple[int, float]:
    """(channels, duration in seconds) of an audio file; (1, 0.0) if it cannot be told (the engine
    reports unreadable files properly when it starts)."""
    from model.audio import audio_info

    try:
        info = audio_info(path)
        return int(info.channels), float(info.duration)
    except Exception:  # noqa: BLE001
        return 1, 0.0


def check_audio_file(path: str | Path, channels: str = "mix") -> None:
    """Raise the engine's clear error for a file it cannot read (not audio, empty, an odd rate ...)
    before anything open is given up for it."""
    import streamer

    source = streamer.FileSource(str(path), pace="fast", channels=channels)
    try:
        source.open()
    finally:
        source.close()


def _analysed_channels(metadata: dict) -> tuple[list[int], list[str]] | None:
    """For a call an earlier ``ser batch`` split into channels and analysed only in part (the
    customer's, say): the file channel of each of its result tracks (those batches numbered the
    analysed channels from 0 and listed only them as ``tracks``), and the names of all the file's
    channels. None for other sessions, whose tracks are the file's channels, as in the batches since,
    which list every channel."""
    source = (metadata.get("engine") or {}).get("source")
    if not isinstance(source, dict) or source.get("kind") != "ChannelSelection":
        return None
    names, tracks = list(source.get("channel_names") or []), list(source.get("tracks") or [])
    if tracks == names:  # a track per channel: the results' tracks are the file's channels
        return None
    keep = source.get("channels_analysed")
    if keep is None:  # written before the batch recorded the channels: found by name, if names are unique
        if len(set(names)) != len(names) or not set(tracks) <= set(names):
            return None
        keep = [names.index(t) for t in tracks]
    if (not tracks or len(keep) != len(tracks)
            or not all(isinstance(c, int) and 0 <= c < len(names) for c in keep)):
        return None
    return list(keep), names


def default_session_path(directory: Path, stem: str) -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    directory.mkdir(parents=True, exist_ok=True)
    return directory / f"{stamp}-{stem}{SESSION_SUFFIX}"


def convert(ev) -> GuiEvent | None:
    """Engine event -> GUI event (None for kinds the GUI does not show)."""
    import streamer

    if isinstance(ev, streamer.WindowResult):
        return ev  # the one result record (gui.events.Result)
    if isinstance(ev, streamer.AudioBlock):
        return Audio(ev.track, ev.start_s, np.asarray(ev.samples, dtype=np.float32))
    if isinstance(ev, streamer.VadFrames):
        return VadFlags(ev.track, ev.start_s, ev.frame_s, np.asarray(ev.flags, dtype=np.float32))
    if isinstance(ev, streamer.SpeechSegment):
        return Segment(ev.track, ev.start_s, ev.end_s, ev.not_speech)
    if isinstance(ev, streamer.EngineError):
        return Problem(ev.message, ev.fatal, ev.notice)
    if isinstance(ev, streamer.SourceFinished):
        return Finished(ev.track)
    return None


def _device_key(text: str) -> int | str | None:
    """A device as typed in Settings: empty for the default, digits for an index, else (part of) a name."""
    text = text.strip()
    if not text:
        return None
    return int(text) if text.isdigit() else text


# Raised when the engine's results change for the same inputs (then nothing old is reused). 2: segments
# record sound the speech gate left out (not_speech), which is not shaded or counted as speech. 3: the
# voice-activity detector's gain, and, with channels split, the crosstalk gate (streamer/vad.py). 4: V/A/D
# kept within [0, 1]; results on less than 0.8 s of speech marked uncertain (streamer/pipeline.py).
ANALYSIS_KEY_VERSION = 4
FILE_ANALYSIS_NICE = 10  # a recording's analysis at full speed runs this much lower than the window
_HASHES: dict[tuple, str] = {}  # (path, size, mtime) -> content hash: a file is read once per change


def _ahead_of_playhead(source) -> bool:
    """A recording analysed ahead of the playhead as fast as the cores allow (not live audio): it
    runs at FILE_ANALYSIS_NICE, and a stop may drop what it had queued (it can be analysed again)."""
    import streamer

    return isinstance(source, streamer.FileSource) and source.pace == "fast"


def content_sha256(path: str | Path) -> str:
    """A file's SHA-256, computed once per (path, size, modification time)."""
    from model.files import file_sha256

    st = Path(path).stat()
    key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
    if key not in _HASHES:
        _HASHES[key] = file_sha256(path)
    return _HASHES[key]


def analysis_key(path: str | Path, settings: GuiSettings, track_names: list[str] | None, n_channels: int) -> dict:
    """What makes two analyses of a recording the same: its content, the model file's content and
    the settings that change results (the batch cache's rule), with the channels left out of the
    recording's ``n_channels``. Stored in a session's metadata."""
    from model.meta import resolve_model_path

    return {"version": ANALYSIS_KEY_VERSION, "content_sha256": content_sha256(path),
            "model_sha256": content_sha256(resolve_model_path(settings.model_path)),
            "channels": settings.channels, "window_s": settings.window_s, "hop_s": settings.hop_s,
            "vad_aggressiveness": settings.vad_aggressiveness, "speaker_adaptation": settings.speaker_adaptation,
            "skip_tracks": list(skipped_tracks(settings, n_channels)), "track_names": list(track_names or [])}


def analysed_only(settings: GuiSettings) -> tuple[int, ...]:
    """The tracks the engine analyses, if not all: in the call-centre view only the customer's, unless
    the agent's is asked for too (then every channel is)."""
    return (CUSTOMER_TRACK,) if settings.channels == "split" and not settings.analyse_agent else ()


def skipped_tracks(settings: GuiSettings, n_tracks: int) -> tuple[int, ...]:
    """The tracks of a source with ``n_tracks`` tracks that are shown but not analysed: in the
    call-centre view the agent's, and any channel beyond the customer's, unless the agent's is asked
    for; none for a one-track source (the engine analyses it whatever the view)."""
    only = analysed_only(settings)
    return tuple(t for t in range(n_tracks) if t not in only) if only and n_tracks > 1 else ()


def find_analysis(session_dir: Path, key: dict, path: str | Path) -> Path | None:
    """The newest complete session in ``session_dir`` of an analysis with this key of the recording
    at ``path``, or None. A copy of an analysed file elsewhere is analysed in its own session: the
    session, its exports and report name the recording they were made from."""
    recording = os.path.normcase(os.path.realpath(path))  # however the path was spelt (case on Windows, links)
    found = []
    for session in Path(session_dir).glob(f"*{SESSION_SUFFIX}") if Path(session_dir).is_dir() else []:
        try:
            head, tail = session_head_tail(session)
        except OSError:
            continue
        if (head and head[0].get("analysis_key") == key and isinstance(head[0].get("path"), str)
                and os.path.normcase(os.path.realpath(head[0]["path"])) == recording and session_complete(tail)):
            found.append(session)
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def _unsaved_of(session) -> tuple[Path, int, int] | None:
    """A session store whose file failed: its path, the records it keeps in memory only, and those
    it lost past the memory bound; None for one whose file is whole (or none)."""
    if session is None or not session.failed:
        return None
    return Path(session.path), len(session.unsaved), session.unsaved_dropped


class EngineBridge:
    """Owns at most one running engine, a cached predictor, the sound player and a display reader."""

    def __init__(self):
        self._engine = None
        self._predictor = None
        self._predictor_key: tuple | None = None
        self._session = None
        self._unsaved_session = None  # the last session, while it keeps results its file lacks (close_session)
        self._unsaved_news = False
        self._let_go = False  # the open session's records only in memory may go when it ends
        self._mic_source = None  # the open session's last microphone (its channels compared or not)
        self._last_stats = None
        self._analysed_until_s: float | None = None
        self._player = None
        self._reader = None  # the display reader of a recording shown without analysing it
        self.read_s = 0.0  # how far the display reader has read its recording (seconds)
        self.session_path: Path | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def _predictor_for(self, settings: GuiSettings):
        from model.meta import resolve_model_path
        from model.runtime import load_predictor

        path = resolve_model_path(settings.model_path)
        try:
            st = path.stat()
            key = (str(path), st.st_size, st.st_mtime_ns)  # a model file rewritten in place is loaded again
        except OSError:
            key = (str(path),)
        if self._predictor is None or self._predictor_key != key:
            read_model_info(settings.model_path)  # the friendly "not found" message
            # Loaded for the thread count the engine runs it with (EngineConfig.inference_threads):
            # each engine start would otherwise rebuild its ONNX sessions, and each stop again.
            self._predictor = load_predictor(settings.model_path, device="auto",
                                             threads=self._config(settings).inference_threads)
            self._predictor_key = key
        return self._predictor

    def analysis_settings(self, settings: GuiSettings) -> tuple:
        """What of ``settings`` the engine's results depend on, as the session records it (a window of
        0 is the model's own, analysing the agent changes nothing in the mixed view)."""
        c = self._config(settings)
        return (c.window_s, c.hop_s, c.vad_aggressiveness, c.speaker_adaptation, tuple(c.only_tracks))

    def _config(self, settings: GuiSettings):
        import streamer

        predictor = self._predictor
        window = settings.window_s or (predictor.window_s if predictor is not None else 2.0)
        hop = min(settings.hop_s or (predictor.hop_s if predictor is not None else 0.5), window)
        return streamer.EngineConfig(window_s=window, hop_s=hop,
                                     vad_aggressiveness=settings.vad_aggressiveness,
                                     speaker_adaptation=settings.speaker_adaptation,
                                     only_tracks=analysed_only(settings))

    def _start(self, source, settings: GuiSettings, session_path: Path | None, metadata: dict) -> None:
        """Start an engine on ``source``. A new ``session_path`` starts a new session file; None keeps
        appending to the current one (a resumed microphone is one session)."""
        import streamer

        self._stop_engine(discard=True)
        predictor = self._predictor_for(settings)
        config = self._config(settings)
        if _ahead_of_playhead(source):  # the window must keep drawing meanwhile (EngineConfig.background_nice)
            config = replace(config, background_nice=FILE_ANALYSIS_NICE)
        if session_path is not None:
            self.close_session()
            self._session = streamer.SessionStore.create(session_path, metadata)
            self.session_path = Path(session_path)
        engine = streamer.Engine(predictor, config, session=self._session, close_session=False)
        try:
            engine.start(source)
        except BaseException:
            if session_path is not None:  # a file or device that never opened leaves no empty session
                self.close_session()
                Path(session_path).unlink(missing_ok=True)
                self.session_path = None
            raise
        self._engine = engine

    def note_pause(self, at_s: float, paused_s: float) -> None:
        """The open live session was paused for ``paused_s`` at ``at_s`` (its axis leaves the pause out)."""
        if self._session is not None:
            try:
                self._session.note_pause(at_s, paused_s)
            except SERError:
                pass  # a failing disk is reported by the engine's next write

    def close_session(self, complete: bool = False, ended_by: str | None = None) -> None:
        """Write the session's end record (``complete``: the recording was analysed to its end, so the
        session can stand in for analysing it again; ``ended_by``: what ended it when its user did not,
        the error's message); later starts need a new session path."""
        session, self._session = self._session, None
        self._mic_source = None
        if session is not None:
            why = {"ended_by": ended_by} if ended_by else {}
            try:
                session.close(analysis=ANALYSIS_COMPLETE if complete else ANALYSIS_STOPPED, **self._until(), **why)
            except SERError:
                pass  # said below, from the store
            # A session whose file failed and still had no room at its end keeps its records in memory:
            # exports find them, and the window says so (take_unsaved_news) and asks before they go
            # (unless its user let them go already, let_unsaved_go).
            kept = session.failed and session.unsaved and not self._let_go
            self._unsaved_session = session if kept else None
            self._unsaved_news = kept
            self._let_go = False

    @property
    def unsaved_results(self) -> tuple[Path, int, int] | None:
        """The ended session whose file still lacks records (its disk full at its end too): its path, the
        records it keeps in memory only, and those it lost past the memory bound; None when every
        session's file is whole."""
        s = self._unsaved_session
        return _unsaved_of(s) if s is not None and s.unsaved else None

    @property
    def session_failed(self) -> bool:
        """Whether the open session's file failed (a full disk): its records go on in memory."""
        return self._session is not None and self._session.failed

    @property
    def open_unsaved(self) -> tuple[Path, int, int] | None:
        """The open session, when its file failed: its path, the records it keeps in memory only so
        far, and those it lost past the memory bound."""
        return _unsaved_of(self._session)

    def let_unsaved_go(self) -> None:
        """Its user let the records only in memory go (going on regardless): the last session's now,
        the open one's when it ends (if its disk has no room by then)."""
        self._unsaved_session = None
        self._unsaved_news = False
        self._let_go = self._session is not None

    def take_unsaved_news(self) -> bool:
        """Whether a session ended since the last call with records its file lacks (said once)."""
        news, self._unsaved_news = self._unsaved_news, False
        return news and self.unsaved_results is not None

    def retry_unsaved(self) -> bool:
        """Try again to write the last session's records that are only in memory (room may have been
        made meanwhile); whether its file is whole now."""
        s = self._unsaved_session
        if s is None:
            return True
        try:
            s.write_unsaved()
        except SERError:
            return False
        self._unsaved_session = None
        return True

    def rename_tracks(self, session_path: str | Path, names: list[str]) -> None:
        """Name the tracks of the session at ``session_path`` ``names`` (the lanes renamed), for all of
        it: the session being written (and the engine's results from now on), else the saved file.
        Raises SERError when the names cannot be saved (said to the user; they stay on screen)."""
        from streamer.errors import SessionError
        from streamer.session import rename_session_tracks

        path = Path(session_path)
        names = [str(n) for n in names]
        if self._session is not None and Path(self._session.path) == path and not self._session.closed:
            if self._engine is not None:
                self._engine.rename_tracks(names)
            try:
                self._session.rename_tracks(names)
            except SERError:
                if not self._session.failed:
                    raise
                # a full disk: the record waits in memory with the results, said as they are (session_failed)
            return
        s = self._unsaved_session
        if s is not None and Path(s.path) == path:  # the file lacks its last records: a record after them would be lost
            raise SessionError(f"{path}: the session's last results are not saved yet (the disk was full); "
                               "the new name is not saved in it.")
        rename_session_tracks(path, names)

    def _until(self) -> dict:
        """The end record's ``analysed_until_s``: how far the last analysis got, when one ran."""
        return {} if self._analysed_until_s is None else {"analysed_until_s": self._analysed_until_s}

    # -- sound and display of a recording, apart from its analysis ---------------------------
    def play_sound(self, path: str | Path, start_s: float, settings: GuiSettings) -> None:
        """Play ``path`` from ``start_s`` (the playhead) through the sound output, at 1x."""
        from streamer.player import FilePlayer

        self.stop_sound()
        player = FilePlayer(str(path), start_s=start_s, channels="mix", device=_device_key(settings.sound_device))
        player.start()
        self._player = player

    def stop_sound(self) -> None:
        player, self._player = self._player, None
        if player is not None:
            player.stop()
            self._last_sound = player.stats()

    @property
    def sound_playing(self) -> bool:
        return self._player is not None and not self._player.finished

    def read_audio(self, path: str | Path, channels: str, track_names: list[str] | None) -> None:
        """Read a recording for its level and spectrogram only (no analysis)."""
        import streamer
        from streamer.player import BlockReader

        self.stop_reading()
        kwargs = {"pace": "fast", "channels": channels}
        if track_names and channels == "split":
            kwargs["track_names"] = list(track_names)
        source = streamer.FileSource(str(path), **kwargs)
        reader = BlockReader(source, max_blocks=max(2, math.ceil(AUDIO_READ_AHEAD_S / source.block_s)))
        reader.start()
        self._reader = reader
        self.read_s = 0.0

    def stop_reading(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.stop()

    @property
    def reading(self) -> bool:
        return self._reader is not None and not (self._reader.finished and not self._reader.queue)

    def start_file(self, path: str | Path, settings: GuiSettings, start_s: float = 0.0,
                   track_names: list[str] | None = None, session_path: Path | None = None,
                   metadata: dict | None = None) -> None:
        """Replay a file at ``settings.speed`` (0: as fast as possible) from ``start_s``; with
        ``settings.sound`` the engine also plays it (at 1x only) on ``settings.sound_device``."""
        import streamer

        path = Path(path)
        if not path.is_file():
            from model.audio import not_a_file_reason

            raise streamer.AudioError(f"{path}: {not_a_file_reason(path)}. Open an existing audio file (WAV, FLAC, "
                                      "OGG).")
        pace = "fast" if settings.speed <= 0 else "realtime"
        kwargs = dict(pace=pace, speed=settings.speed if settings.speed > 0 else 1.0, start_s=start_s,
                      channels=settings.channels, monitor=settings.sound,
                      monitor_device=_device_key(settings.sound_device))
        if track_names:
            kwargs["track_names"] = list(track_names)
        source = streamer.FileSource(str(path), **kwargs)
        # The channels left out are known once the file is open: the engine records them in the
        # session (its settings' skip_tracks, streamer.session.skipped_tracks).
        meta = {"source": "file", "path": os.path.abspath(path), "channels": settings.channels, "start_s": start_s,
                "track_names": list(track_names or []), **(metadata or {})}
        self._start(source, settings, session_path, meta)

    def start_microphone(self, device, settings: GuiSettings, track_names: list[str] | None = None,
                         session_path: Path | None = None, start_s: float = 0.0) -> None:
        """Listen to an input device (None: the system default); ``start_s`` is where its results start
        on the session's time axis (a resumed recording continues it)."""
        import streamer

        kwargs = {"channels": settings.channels, "start_s": start_s}
        earlier = self._mic_source
        resumed = session_path is None and self._session is not None and earlier is not None
        if resumed:
            kwargs["first_in_session"] = False  # its notes on the device were said
            if earlier.twins_checked:
                kwargs["check_twins"] = False  # the session's channels were compared: its note is not said again
            if earlier.quiet_noted:
                kwargs["check_quiet"] = False  # a muted microphone was said to be once this session
        if settings.channels == "split":  # call centre: the agent's and the customer's channels, whatever
            kwargs["input_channels"] = CALL_CENTRE_CHANNELS  # else the device offers (ALSA's default: 32)
        if track_names:
            kwargs["track_names"] = list(track_names)
        source = streamer.MicrophoneSource(device=device, **kwargs)
        # The device's channels left out are known once it is open: the engine records them (as for files).
        meta = {"source": "microphone", "device": device, "channels": settings.channels,
                "track_names": list(track_names or [])}
        self._start(source, settings, session_path, meta)
        self._mic_source = source

    @property
    def skipped_tracks(self) -> tuple[int, ...]:
        """The running engine's tracks that are shown but not analysed."""
        return () if self._engine is None else self._engine.skipped_tracks

    def stop(self, close_session: bool = True, complete: bool = False) -> list[GuiEvent]:
        """Stop the engine, the sound and the display reader; returns the events the engine flushed
        on the way out. With ``close_session`` False the session stays open for a resume;
        ``complete`` marks it as a whole recording's analysis."""
        self.stop_sound()
        self.stop_reading()
        events = self._stop_engine(discard=not complete)
        if close_session:
            self.close_session(complete)
        return events

    def stop_analysis(self) -> list[GuiEvent]:
        """Stop the engine only (the sound and the display go on; the session stays open for
        :meth:`close_session`). Returns the events it flushed."""
        return self._stop_engine()

    def _stop_engine(self, discard: bool = False) -> list[GuiEvent]:
        """Stop the engine; with ``discard``, a recording's analysis ahead of the playhead ends at once
        with its last result instead of working through the audio it had queued (at nice +10 under
        other programs' load that took seconds; Engine.stop). Live audio is always analysed to the
        end of what was heard."""
        engine, self._engine = self._engine, None
        if engine is None:
            return []
        engine.stop(discard=discard and _ahead_of_playhead(engine.source))
        self._last_stats = engine.stats  # the status bar keeps showing the last run's numbers
        self._analysed_until_s = engine.analysed_until_s  # for the session's end record
        return self._drain(engine, None)

    @property
    def running(self) -> bool:
        return self._engine is not None and bool(self._engine.running)

    @property
    def source(self):
        """The running engine's source (its pace, speed, start), or None."""
        return self._engine.source if self._engine is not None else None

    @property
    def active(self) -> bool:
        """An engine exists (it may have finished but still hold events)."""
        return self._engine is not None

    def poll(self, max_events: int | None = 4000) -> list[GuiEvent]:
        """The engine's new events, the display reader's audio and the sound's notices."""
        out = [] if self._engine is None else self._drain(self._engine, max_events)
        if self._reader is not None:
            for block in self._reader.take(max_events or 4000):
                start_s = block.start / 16000
                self.read_s = max(self.read_s, start_s + len(block.data) / 16000)
                out += [Audio(t, start_s, np.ascontiguousarray(block.data[:, t], dtype=np.float32))
                        for t in range(block.data.shape[1])]
            if self._reader.error:
                out.append(Problem(self._reader.error, False))
                self._reader.error = None
        if self._player is not None:
            out += [Problem(n, False) for n in self._player.notices]
        return out

    @staticmethod
    def _drain(engine, max_events) -> list[GuiEvent]:
        out = []
        for ev in engine.poll(max_events=max_events):
            g = convert(ev)
            if g is not None:
                out.append(g)
        return out

    def compute(self) -> tuple[str, str] | None:
        """The loaded model's device ("cpu", "cuda:0") and its runtime's name ("ONNX Runtime", "torch";
        empty when not known), or None before a model is loaded."""
        if self._predictor is None:
            return None
        from model.runtime import RUNTIME_NAMES

        return str(self._predictor.device), RUNTIME_NAMES.get(getattr(self._predictor, "runtime", ""), "")

    def forget_last_run(self) -> None:
        """The last run's numbers are not those of what is shown now (a saved session opened): the
        status bar shows none until the next run."""
        self._last_stats = None
        self._last_sound = {}

    def stats(self) -> dict:
        """Engine statistics (latency, overflows) plus the compute device, for the status bar."""
        info: dict = {}
        if (compute := self.compute()) is not None:
            device, runtime = compute
            info["device"] = f"{device} ({runtime})" if runtime else device
        s = self._engine.stats if self._engine is not None else self._last_stats
        if s is not None:
            info["overflows"] = int(s.overflows)
            info["dropped_display_events"] = int(s.dropped_display_events)
            for key, value in (s.latency_ms or {}).items():
                info[f"latency_ms_{key}"] = float(value)
        sound = self._player.stats() if self._player is not None else getattr(self, "_last_sound", {})
        if sound:
            info["sound_frames_played"] = int(sound.get("monitor_frames_played", 0))
            info["sound_underflows"] = int(sound.get("monitor_underflows", 0))
        return info

    # -- sessions ----------------------------------------------------------------------------
    @staticmethod
    def open_session(path: str | Path, salvage: bool = False) -> LoadedSession:
        """Read a session file; with ``salvage`` a damaged file opens up to its damage (else
        :class:`streamer.CorruptSessionError` says what could be opened)."""
        import streamer

        store = streamer.SessionStore.open(Path(path), salvage=salvage)
        events: list[GuiEvent] = list(store.results)
        for s in store.segments:
            g = convert(s)
            if g is not None:
                events.append(g)
        metadata = dict(store.metadata or {})
        channels = _analysed_channels(metadata)
        if channels is not None:  # each result beside its own channel's audio, the others shown as not analysed
            keep, names = channels
            events = [replace(e, track=keep[e.track]) if 0 <= e.track < len(keep) else e for e in events]
            metadata["track_names"] = names
            metadata["skip_tracks"] = [c for c in range(len(names)) if c not in keep]
            metadata["lanes"] = len(names)  # a lane per channel, with results or not
        heads = ((metadata.get("engine") or {}).get("model") or {}).get("heads")
        if not heads:  # sessions written before the model's heads were recorded: its labels
            heads = list(store.results[0].probabilities) if store.results else []
        from streamer.session import analysis_state

        analysis = analysis_state(store.ended, store.segments, store.results)
        analysis["exported_running"] = store.exported_running  # a JSON export made while it was being written
        # ser batch keeps a call's notes in its metadata, beside the errors
        notices = metadata.get("notices") if isinstance(metadata.get("notices"), list) else []
        # (what the sound output said is not about the analysis: it is not said again)
        messages = list(dict.fromkeys(str(m) for m in [*store.errors, *notices]
                                      if m and not str(m).endswith(SOUND_NOTICE_END)))
        return LoadedSession(Path(path), events, metadata, heads, store.salvaged, analysis, messages)

    def export(self, session_path: str | Path, out_path: str | Path, fmt: str) -> Path:
        """Export a session file to CSV or JSON through the engine's session store, or as the HTML
        report `ser batch` writes, for this one session (streamer.batch.report.export_session). The
        session this bridge writes, or wrote last, is exported with what it keeps in memory since its
        file failed (a full disk), which the file lacks."""
        from streamer.batch.report import export_session

        path = Path(session_path)
        store = next((s for s in (self._session, self._unsaved_session)
                      if s is not None and s.failed and Path(s.path) == path), None)
        # The records as a reader of the whole session sees them (a running one is "unfinished", as
        # an export of its file says).
        return export_session(path, out_path, fmt, None if store is None else store.contents())


__all__ = ["DEFAULT_TRACK_NAMES", "EngineBridge", "LoadedSession", "ModelInfo", "SERError", "file_info",
           "list_devices", "read_model_info"]
