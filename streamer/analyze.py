"""Headless analysis of files on the engine: used by ``ser analyze`` and by batch analysis."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from model.adaptation import DEFAULT_MIN_WINDOWS
from streamer.config import SAMPLE_RATE_HZ, EngineConfig
from streamer.engine import Engine, EngineStats
from streamer.events import EngineError, SpeechSegment, WindowResult
from streamer.sources import FileSource

WAIT_STEP_S = 0.05


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
    metadata: dict = field(default_factory=dict)


def engine_metadata(predictor, config: EngineConfig, source) -> dict:
    """What a session records about how it was made."""
    meta = getattr(predictor, "meta", None)
    model = {"path": getattr(predictor, "source", ""), "labels": list(getattr(predictor, "labels", []))}
    if meta is not None:
        model.update(vad_source=meta.vad_source, created=meta.created,
                     gender_source="voice-encoder" if meta.arch.voice_gender else "emotion-network",
                     calibration=dict(meta.calibration))
        if meta.arch.voice_gender and meta.arch.voice_emotion:
            model["voice_emotion"] = {"weight_adapted": meta.arch.voice_emotion_weight,
                                      "weight_unadapted": meta.arch.voice_emotion_weight_unadapted}
    adapts = bool(getattr(predictor, "adapts_to_speaker", False))
    model["speaker_adaptation"] = {
        "model_supports": adapts, "enabled": adapts and config.speaker_adaptation,
        "min_windows": DEFAULT_MIN_WINDOWS,
        "note": "each track is judged against its own speaker's running average after this many analysed windows"}
    return {"source": source.metadata(), "model": model, "settings": config.to_dict(),
            "sample_rate_hz": SAMPLE_RATE_HZ, "tracks": list(source.track_names)}


def analyze_file(path: str | os.PathLike, predictor, config: EngineConfig | None = None, *, pace: str = "fast",
                 speed: float = 1.0, start_s: float = 0.0, channels: str = "mix", track_names=None, session=None,
                 session_path: str | os.PathLike | None = None,
                 progress: Callable[[float], None] | None = None) -> AnalysisResult:
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

    Raises:
        AudioError: The file is missing, unreadable, empty or at too low a rate. A failure while
            reading (a truncated file) does not raise: the results so far are returned and
            ``errors`` holds the message.
    """
    from streamer.session import SessionStore

    config = config or EngineConfig()
    if config.emit_audio:
        config = EngineConfig.from_dict({**config.to_dict(), "emit_audio": False})
    source = FileSource(path, pace=pace, speed=speed, start_s=start_s, channels=channels, track_names=track_names)
    source.open()  # raises AudioError before anything is created for a bad file
    own_session = None
    if session is None and session_path is not None:
        session = own_session = SessionStore.create(session_path, {"created_by": "analyze_file"}, overwrite=True)
    engine = Engine(predictor, config, session=session)
    out = AnalysisResult(str(path), list(source.track_names), duration_s=source.total_s,
                         metadata=engine_metadata(predictor, config, source))
    engine.start(source)
    try:
        while True:
            done = engine.wait(WAIT_STEP_S)
            _collect(engine.poll(), out)
            if progress is not None:
                progress(max(engine.stats.samples_processed.values(), default=0) / SAMPLE_RATE_HZ)
            if done:
                break
    finally:
        engine.stop()
        _collect(engine.poll(), out)
        out.stats = engine.stats
        if own_session is not None:
            own_session.close(stats=out.stats.to_dict())
    return out


def _collect(events, out: AnalysisResult) -> None:
    for e in events:
        if isinstance(e, WindowResult):
            out.results.append(e)
        elif isinstance(e, SpeechSegment):
            out.segments.append(e)
        elif isinstance(e, EngineError):
            (out.notices if e.notice else out.errors).append(e.message)

