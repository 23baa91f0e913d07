"""Speaker adaptation: running statistics of one speaker's speech, for speaker-normalised models.

A person's voice has its own baseline (pitch range, timbre, the microphone in front of them). A
model with ``ArchConfig.speaker_norm`` centres each window's log-mel on a reference spectrum: the
speaker's own average once enough of their speech has been heard; before that, what its
``speaker_norm_fallback`` says (the training set's mean, or the window's own mean). A model with
``ArchConfig.voice_emotion`` judges each window's voice embedding against the speaker's average
embedding once it is known (model/voice.py).

:class:`SpeakerStats` keeps that average for one track: the mean over analysed windows of one
vector per window (the window's mean log-mel per mel band, its voice embedding, or both side by
side: model/predictor.py). Memory is bounded (a sum and a count), and the value depends
only on the sequence of analysed windows, which the engine derives from the sample clock, so
streaming at any chunk size and an offline pass give the same references.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Windows analysed before the speaker's average is used: about 10 s of speech at the default
# 2-s window and 0.5-s hop (the first window brings 2 s, each further one 0.5 s).
DEFAULT_MIN_WINDOWS = 16


@dataclass
class SpeakerStats:
    """Running mean of one vector per analysed window of one speaker (one track)."""

    min_windows: int = DEFAULT_MIN_WINDOWS
    count: int = 0
    total: np.ndarray | None = field(default=None, repr=False)

    def reset(self) -> None:
        self.count = 0
        self.total = None

    @property
    def ready(self) -> bool:
        return self.count >= self.min_windows

    def add(self, vector: np.ndarray) -> np.ndarray | None:
        """Count one analysed window (its vector); returns the reference for that
        window: the running mean including it once :attr:`ready`, else None (the model's fallback)."""
        v = np.asarray(vector, dtype=np.float64)
        self.total = v.copy() if self.total is None else self.total + v
        self.count += 1
        return self.reference()

    def reference(self) -> np.ndarray | None:
        if not self.ready or self.total is None:
            return None
        return (self.total / self.count).astype(np.float32)

    def to_dict(self) -> dict:
        """What a session's metadata records of the adaptation (not the statistics themselves)."""
        return {"enabled": True, "min_windows": self.min_windows}
