"""The GUI's own event types: plain dataclasses the widgets are fed with.

Only :mod:`gui.engine_bridge` converts the streaming engine's events into these, so the widgets,
the histories and the tests never depend on the engine's classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Result:
    """One model result (a window or a whole utterance) of one track."""

    track: int
    start_s: float
    end_s: float
    probabilities: dict[str, float]
    gender: dict[str, float] = field(default_factory=dict)
    valence: float = float("nan")
    arousal: float = float("nan")
    dominance: float = float("nan")
    dimensions_source: str = "derived-from-category"
    kind: str = "window"
    track_name: str = ""
    speech_ratio: float = 1.0
    latency_ms: float = float("nan")
    uncertain: bool = False  # the model's calibrated confidence is below its threshold

    @property
    def top_label(self) -> str:
        return max(self.probabilities, key=self.probabilities.get)

    @property
    def mid_s(self) -> float:
        return 0.5 * (self.start_s + self.end_s)


@dataclass(frozen=True)
class Segment:
    """A closed speech segment of one track."""

    track: int
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Audio:
    """A block of 16 kHz mono float32 samples of one track, for level and spectrogram display."""

    track: int
    start_s: float
    samples: np.ndarray


@dataclass(frozen=True)
class VadFlags:
    """Voice-activity flags of consecutive frames of one track."""

    track: int
    start_s: float
    frame_s: float
    flags: np.ndarray


@dataclass(frozen=True)
class Problem:
    """An error the engine reported; ``fatal`` means the engine stopped."""

    message: str
    fatal: bool = False


@dataclass(frozen=True)
class Finished:
    """A track's source reached its end."""

    track: int


GuiEvent = Result | Segment | Audio | VadFlags | Problem | Finished
