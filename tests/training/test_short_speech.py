"""training/short_speech.py: the crops and how their results are scored."""

from __future__ import annotations

import numpy as np

from model.audio import load_mono_16k, speech_bounds
from training.manifest import ManifestEntry
from training.short_speech import crop, measure


def test_a_crop_is_taken_from_the_middle_of_the_speech(speech_paths):
    clip = load_mono_16k(speech_paths[0])
    a, b = speech_bounds(clip, 16000)
    piece = crop(clip, 0.4)
    assert len(piece) == 6400
    start = int(np.flatnonzero(np.all(np.lib.stride_tricks.sliding_window_view(clip, 6400) == piece, axis=1))[0])
    assert a <= start and start + 6400 <= b and abs(start + 3200 - (a + b) // 2) <= 1
    assert crop(clip[:1000], 0.4) is None  # shorter than the crop: left out


def test_results_are_scored_per_length_restricted_to_the_corpus_classes(speech_paths):
    from model.inference import Prediction

    labels = ("neutral", "happy", "sad", "angry")

    class Longer:
        """Right (sad) and sure on 1 s or more; on less, wrong (angry, a class the corpus has not) or
        unsure."""

        def __init__(self):
            self.labels = labels

        def predict(self, x, rate):
            long = len(x) >= rate
            probs = np.array([0.05, 0.05, 0.8, 0.1] if long else [0.1, 0.05, 0.25, 0.6], np.float32)
            return Prediction(labels, probs, np.array([0.5, 0.5], np.float32), np.full(3, 0.5, np.float32),
                              uncertain_below=0.5 if long else 0.7)

    waves = [load_mono_16k(p) for p in speech_paths[:3]]
    entries = [ManifestEntry(path=str(p), corpus="test", speaker="a", gender=None, label=lab, duration_s=0.0)
               for p, lab in zip(speech_paths[:3], ("sad", "neutral", "boredom"), strict=True)]
    short, long = measure(Longer(), entries, waves, lengths=(0.5, 1.0))
    assert short["n"] == long["n"] == 2  # the clip of a class the model has not is left out
    # Restricted to the corpus's classes (sad, neutral) the short crops' "angry" is read as sad: the
    # sad clip right, the neutral one wrong, all of them unsure.
    assert short["ua_restricted"] == 0.5 and short["uncertain_share"] == 1.0
    assert short["right_confident"] is None and short["right_uncertain"] == 0.5
    assert long["ua_restricted"] == 0.5 and long["uncertain_share"] == 0.0 and long["right_confident"] == 0.5
