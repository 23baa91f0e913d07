"""Events the engine hands to its consumers. All are frozen dataclasses with ``to_dict()``.

Times are positions on the sample clock in seconds (``start_s``, ``end_s``); wall-clock time only
enters ``latency_ms``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

WINDOW = "window"
UTTERANCE = "utterance"


class _StoredRecord:
    """Round trip through the session file's JSON records, tagged with ``RECORD_TYPE``."""

    RECORD_TYPE = ""

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["type"] = self.RECORD_TYPE
        return d

    @classmethod
    def from_dict(cls, data: dict):
        names = {f.name for f in dataclasses.fields(cls)}
        if "vad_source" in data and "dimensions_source" not in data:  # session format 1
            data = {**data, "dimensions_source": data["vad_source"]}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class WindowResult(_StoredRecord):
    """Model output for one analysis window (``kind="window"``) or one speech segment (``"utterance"``)."""

    track: int
    track_name: str
    kind: str
    start_s: float
    end_s: float
    probabilities: dict[str, float]
    top_label: str
    gender: dict[str, float]
    valence: float
    arousal: float
    dominance: float
    dimensions_source: str
    speech_ratio: float
    latency_ms: float
    # The calibrated top probability is below the model file's threshold (sessions written before
    # models had one read back as False).
    uncertain: bool = False

    RECORD_TYPE = "result"


@dataclass(frozen=True)
class SpeechSegment(_StoredRecord):
    """A stretch of speech found by the voice-activity detector, padding included."""

    track: int
    track_name: str
    start_s: float
    end_s: float

    RECORD_TYPE = "segment"

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True, eq=False)
class AudioBlock:
    """A copy of 16 kHz mono audio of one track, for level meters and spectrograms."""

    track: int
    start_s: float
    samples: np.ndarray = field(repr=False)

    def to_dict(self) -> dict:
        return {"type": "audio", "track": self.track, "start_s": self.start_s, "n_samples": int(len(self.samples))}


@dataclass(frozen=True)
class VadFrames:
    """Voice-activity flags of consecutive frames of one track, starting at ``start_s``."""

    track: int
    start_s: float
    frame_s: float
    flags: tuple[bool, ...]

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["flags"] = list(self.flags)
        d["type"] = "vad"
        return d


@dataclass(frozen=True)
class EngineError:
    """A problem in the source or the worker. ``fatal`` means the engine has stopped. A ``notice``
    is something the source wants said about its audio (a very quiet recording, decoder
    complaints, sound output lost) while the analysis itself is complete."""

    message: str
    fatal: bool = True
    notice: bool = False

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["type"] = "error"
        return d


@dataclass(frozen=True)
class SourceFinished:
    """The source has no more audio (``track`` None: all tracks); everything pending has been emitted."""

    track: int | None = None

    def to_dict(self) -> dict:
        return {"type": "finished", "track": self.track}


Event = WindowResult | SpeechSegment | AudioBlock | VadFrames | EngineError | SourceFinished
