"""Events the engine hands to its consumers. All are frozen dataclasses with ``to_dict()``.

Times are positions on the sample clock in seconds (``start_s``, ``end_s``); wall-clock time only
enters ``latency_ms``.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field

import numpy as np

WINDOW = "window"
UTTERANCE = "utterance"


def _plain(value):
    """A copy of a record field's dicts, lists and tuples (their other values are immutable)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    return value


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


class _StoredRecord:
    """Round trip through the session file's JSON records, tagged with ``RECORD_TYPE``."""

    RECORD_TYPE = ""

    def record(self) -> dict:
        """The record as the session file holds it, its values not copied: for writing at once
        (the session writes one per result; copying them cost about a fifth of the results' thread).
        :meth:`to_dict` gives a copy to keep or change."""
        d = {name: getattr(self, name) for name in _field_names(type(self))}
        d["type"] = self.RECORD_TYPE
        return d

    def to_dict(self) -> dict:
        # What dataclasses.asdict gives for these flat records (their dicts and lists copied, so
        # the record stays as it was whatever the caller does with the result), without its
        # generic deep copy, which cost more than writing the record.
        return {k: _plain(v) for k, v in self.record().items()}

    @classmethod
    def from_dict(cls, data: dict):
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class WindowResult(_StoredRecord):
    """Model output for one analysis window (``kind="window"``) or one speech segment (``"utterance"``).

    ``heads`` holds every output the model file declares (``ModelMeta.heads``), as
    ``head name -> {label or name: value}``: class probabilities for a categorical head (``emotion``,
    ``gender``), values for a regression head (``dimensions``: valence, arousal, dominance). Sessions,
    exports, summaries and the app read the heads from here, so a model with a further head needs
    no code that names it. The properties below are shorthands for the built-in heads.
    """

    track: int
    track_name: str
    kind: str
    start_s: float
    end_s: float
    heads: dict[str, dict[str, float]]
    speech_ratio: float
    latency_ms: float
    # Where the V/A/D values come from (the model file's dimensions head: "derived-from-category"
    # means estimated from the emotion categories).
    dimensions_source: str = "derived-from-category"
    # The calibrated top probability is below the model file's threshold (sessions written before
    # models had one read back as False).
    uncertain: bool = False

    RECORD_TYPE = "result"

    @classmethod
    def built_in(cls, track: int, start_s: float, end_s: float, probabilities: dict[str, float],
                 gender: dict[str, float] | None = None, valence: float = float("nan"),
                 arousal: float = float("nan"), dominance: float = float("nan"), kind: str = WINDOW,
                 track_name: str = "", speech_ratio: float = 1.0, latency_ms: float = float("nan"),
                 dimensions_source: str = "derived-from-category", uncertain: bool = False) -> WindowResult:
        """A result of the three built-in heads, for tools and tests that make results by hand."""
        heads = {"emotion": dict(probabilities), "gender": dict(gender or {}),
                 "dimensions": {"valence": valence, "arousal": arousal, "dominance": dominance}}
        return cls(track, track_name, kind, start_s, end_s, heads, speech_ratio, latency_ms, dimensions_source,
                   uncertain)

    @property
    def probabilities(self) -> dict[str, float]:
        return self.heads.get("emotion", {})

    @property
    def top_label(self) -> str:
        probs = self.probabilities
        return max(probs, key=probs.get) if probs else ""

    @property
    def gender(self) -> dict[str, float]:
        return self.heads.get("gender", {})

    def _dimension(self, name: str) -> float:
        return float(self.heads.get("dimensions", {}).get(name, float("nan")))

    @property
    def valence(self) -> float:
        return self._dimension("valence")

    @property
    def arousal(self) -> float:
        return self._dimension("arousal")

    @property
    def dominance(self) -> float:
        return self._dimension("dominance")

    @property
    def mid_s(self) -> float:
        return 0.5 * (self.start_s + self.end_s)

    def record(self) -> dict:
        d = super().record()
        d["top_label"] = self.top_label  # for readers of the file; derived from the emotion head
        return d

    @classmethod
    def from_dict(cls, data: dict) -> WindowResult:
        if "heads" not in data:  # session formats 1 and 2: the three built-in heads as flat fields
            dims = {n: data[n] for n in ("valence", "arousal", "dominance") if data.get(n) is not None}
            heads = {"emotion": dict(data.get("probabilities") or {}), "gender": dict(data.get("gender") or {})}
            if dims:
                heads["dimensions"] = dims
            data = {**data, "heads": heads, "dimensions_source": data.get("dimensions_source",
                                                                        data.get("vad_source", "derived-from-category"))}
        return super().from_dict(data)


@dataclass(frozen=True)
class SpeechSegment(_StoredRecord):
    """A stretch of speech found by the voice-activity detector, padding included. ``not_speech``:
    when the speech gate (streamer/speechgate.py) rejected every window of it, what the sound was
    instead (:attr:`streamer.speechgate.GateReading.reason`: "steady sound (noise, hum, a tone or
    sustained music)", "a tone", "noise", "held notes (music)", "steady tones (a ringing or busy tone,
    or music)"); None
    otherwise (and in sessions written before it was recorded)."""

    track: int
    track_name: str
    start_s: float
    end_s: float
    not_speech: str | None = None

    RECORD_TYPE = "segment"

    def record(self) -> dict:
        d = super().record()
        if d.get("not_speech") is None:  # speech, as nearly every segment is: its record as before
            d.pop("not_speech", None)
        return d

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
