"""The event types the widgets are fed with.

A model result is the engine's own record (:class:`streamer.events.WindowResult`, here ``Result``):
every output under ``heads``, as the model file declares them, so a new head reaches the plots
without a copy of its fields. The other events are plain dataclasses that :mod:`gui.engine_bridge`
makes from the engine's, so the widgets and histories need nothing else from the engine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from streamer.events import WindowResult as Result


@dataclass(frozen=True)
class Segment:
    """A closed speech segment of one track; ``not_speech``: what the sound was when the speech gate
    rejected all of it (see :class:`streamer.events.SpeechSegment`)."""

    track: int
    start_s: float
    end_s: float
    not_speech: str | None = None


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
    """An error the engine reported; ``fatal`` means the engine stopped; a ``notice`` is a note on
    the audio (a very quiet recording, channels alike ...), said while its analysis goes on."""

    message: str
    fatal: bool = False
    notice: bool = False


@dataclass(frozen=True)
class Finished:
    """A track's source reached its end."""

    track: int


GuiEvent = Result | Segment | Audio | VadFlags | Problem | Finished
