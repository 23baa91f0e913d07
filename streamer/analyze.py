"""Headless analysis of files on the engine: used by ``ser analyze`` and by batch analysis."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from streamer.config import SAMPLE_RATE_HZ, EngineConfig
from streamer.engine import SAVING_STOPPED, Engine, EngineStats, engine_metadata
from streamer.errors import SessionError
from streamer.events import EngineError, SpeechSegment, WindowResult
from streamer.session import ANALYSIS_STOPPED
from streamer.sources import FileSource, Source
from streamer.summary import counts_for_peak


@dataclass
class AnalysisResult:
    """Everything one file produced."""

    path: str
    track_names: list[str]
    segments: list[SpeechSegment] = field(default_factory=list)
    results: list[WindowResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)  # said about the audio; the analysis is complete
    stats: EngineStats | None = None
    duration_s: float | None = None
    analysed_until_s: float = 0.0  # how far into the file the analysis got (Engine.analysed_until_s)
    metadata: dict = field(default_factory=dict)
    # (analysed channel, another) pairs that held the same sound throughout (Source.twin_pairs), once
    # the file was read to its end
    twin_pairs: list[tuple[int, int]] = field(default_factory=list)
    # With keep_windows=False: per (track, head, output), the window result holding its peak so far
    # (the first of equal ones) and its place in arrival order.
    _peaks: dict = field(default_factory=dict, repr=False)
    _seen: int = field(default=0, repr=False)

    def _keep_peaks(self, r: WindowResult) -> None:
        self._seen += 1
        for head, values in r.heads.items():
            if not counts_for_peak(head, r):  # as summarize reads the peaks
                continue
            for name, v in values.items():
                kept = self._peaks.get((r.track, head, name))
                if kept is None or v > kept[0]:
                    self._peaks[(r.track, head, name)] = (v, self._seen, r)

    def _finish_peaks(self) -> None:
        """Put the peak windows after the other results, in the order they came."""
        if self._peaks:
            unique = {id(r): (seq, r) for _, seq, r in self._peaks.values()}
            self.results += [r for _, r in sorted(unique.values(), key=lambda e: e[0])]
            self._peaks = {}


def analyze_file(path: str | os.PathLike, predictor, config: EngineConfig | None = None, *, pace: str = "fast",
                 speed: float = 1.0, start_s: float = 0.0, channels: str = "mix", track_names=None, session=None,
                 session_path: str | os.PathLike | None = None,
                 progress: Callable[[float], None] | None = None, source: Source | None = None,
                 keep_windows: bool = True) -> AnalysisResult:
    """Analyse one file on the engine and return its segments and results.

    Args:
        path: Audio file.
        predictor: A loaded ``Predictor``.
        config: Engine settings (audio display events are switched off here).
        pace: ``fast`` or ``realtime``; ``speed`` scales real-time replay.
        start_s: Where to start in the file (result times stay file times).
        channels: ``mix`` or ``split``; ``track_names`` names split tracks.
        session: A ``SessionStore`` to append to, or ``session_path`` to create one (closed at the end).
        progress: Called with the seconds of audio processed so far.
        source: Analyse this source instead of opening ``path`` as a file (``path`` then only names
            the result); ``pace``, ``speed``, ``start_s``, ``channels`` and ``track_names`` are its own.
        keep_windows: Return every window result. False keeps, of the window results, only those
            that hold a peak of some output (what :func:`streamer.summary.summarize` reads of them),
            after the other results, so memory does not grow with the window results of a long
            file; the session file has them all.

    Raises:
        AudioError: The file is missing, unreadable, empty or at too low a rate. A failure while
            reading (a truncated file) does not raise: the results so far are returned and
            ``errors`` holds the message.
    """
    from streamer.session import SessionStore

    config = config or EngineConfig()
    if config.emit_audio:
        config = EngineConfig.from_dict({**config.to_dict(), "emit_audio": False})
    if source is None:
        source = FileSource(path, pace=pace, speed=speed, start_s=start_s, channels=channels, track_names=track_names)
    source.open()  # raises AudioError before anything is created for a bad file
    own_session = None
    if session is None and session_path is not None:
        session = own_session = SessionStore.create(session_path, {"created_by": "analyze_file"}, overwrite=True)
    engine = Engine(predictor, config, session=session)
    out = AnalysisResult(str(path), list(source.track_names), duration_s=source.total_s,
                         metadata=engine_metadata(predictor, config, source))
    step = None if progress is None else (
        lambda: progress(engine.samples_done / SAMPLE_RATE_HZ))
    try:
        engine.run(source, lambda events: _collect(events, out, keep_windows), step)
    finally:
        out._finish_peaks()
        out.stats = engine.stats
        out.analysed_until_s = engine.analysed_until_s
        out.twin_pairs = list(source.twin_pairs)
        if own_session is not None:  # a no-op after the engine closed it; here when it could not
            own_session.close(stats=out.stats.to_dict(), analysis=ANALYSIS_STOPPED,
                              analysed_until_s=out.analysed_until_s)
    if own_session is not None and own_session.failed:  # its file failed, and had no room at the end either
        lost = (f" {own_session.unsaved_dropped} more records, past what memory could keep meanwhile, were lost."
                if own_session.unsaved_dropped else "")
        raise SessionError((own_session.failure or f"{session_path}: cannot write to the session file.") + lost)
    if own_session is not None and own_session.unsaved_dropped:  # written at the end, but not all of it
        until = own_session.ended.get("analysed_until_s") if own_session.ended else None
        raise SessionError(f"{session_path}: writing it failed for a while (is the disk full?), longer than the "
                           f"results could be kept in memory meanwhile: {own_session.unsaved_dropped} records were "
                           "lost" + (f"; it holds the results up to {until:.1f} s" if until is not None else "")
                           + ". Analyse the file again once there is room.")
    if engine.saving_failed and session is not None and not session.failed and not session.unsaved_dropped:
        # The file failed part-way, and the results kept in memory meanwhile went in at the end: the
        # session lacks nothing, which the error said at the time could happen.
        out.errors = [m for m in out.errors if not m.endswith(SAVING_STOPPED)]
        out.notices.append(f"{session.path}: writing it failed for a while (is the disk full?); the results "
                           "of that time were kept in memory and written at the end: it lacks nothing.")
    return out


def _collect(events, out: AnalysisResult, keep_windows: bool = True) -> None:
    for e in events:
        if isinstance(e, WindowResult) and not keep_windows and e.kind == "window":
            out._keep_peaks(e)
        elif isinstance(e, WindowResult):
            out.results.append(e)
        elif isinstance(e, SpeechSegment):
            out.segments.append(e)
        elif isinstance(e, EngineError):
            (out.notices if e.notice else out.errors).append(e.message)

