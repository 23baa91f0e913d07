"""training/voice_cadence.py: the long-speech streams and how their windows are scored."""

from __future__ import annotations

import pytest

from model.audio import load_mono_16k, speech_bounds
from training.manifest import ManifestEntry
from training.voice_cadence import block_streams, measure, score_windows, unweighted_accuracy


def _entries(paths, labels):
    return [ManifestEntry(path=str(p), corpus="test", speaker=spk, gender=None, label=lab, duration_s=0.0)
            for p, (spk, lab) in zip(paths, labels, strict=True)]


def test_streams_are_each_speakers_clips_in_blocks_of_one_emotion(speech_paths):
    paths = speech_paths[:6]
    entries = _entries(paths, [("a", "sad"), ("a", "happy"), ("a", "sad"), ("b", "angry"), ("b", None), ("a", "happy")])
    streams = block_streams(entries, seed=0)
    assert [s[0] for s in streams] == ["a", "b"]
    speaker, x, spans = streams[0]
    labels = [lab for *_, lab in spans]
    assert sorted(labels) == ["happy", "happy", "sad", "sad"]
    assert labels in (["happy", "happy", "sad", "sad"], ["sad", "sad", "happy", "happy"])  # one block per emotion
    assert spans[0][0] == 0 and all(b == a2 for (_, b, _), (a2, _, _) in zip(spans, spans[1:]))
    assert spans[-1][1] == len(x)
    clip = load_mono_16k(paths[0])  # each clip cut to its audible part
    a, b = speech_bounds(clip)
    assert any(e - s == b - a for s, e, lab in spans)
    assert len(streams[1][2]) == 1  # the unlabelled clip is left out


class _Result:
    def __init__(self, start_s, end_s, probs):
        self.start_s, self.end_s = start_s, end_s
        self.heads = {"emotion": probs}


def test_windows_are_scored_by_the_clip_under_their_middle():
    labels = ["neutral", "happy", "sad", "angry"]
    spans = [(0, 48000, "sad"), (48000, 96000, "happy"), (96000, 160000, "happy")]
    results = [_Result(0.0, 2.0, {"neutral": 0.9, "happy": 0.0, "sad": 0.1, "angry": 0.0}),  # middle 1 s: sad
               _Result(2.5, 4.5, {"neutral": 0.0, "happy": 0.7, "sad": 0.3, "angry": 0.0}),  # 3.5 s: happy, near
               _Result(8.0, 10.0, {"neutral": 0.0, "happy": 0.2, "sad": 0.8, "angry": 0.0}),  # 9 s: happy, steady
               _Result(9.5, 11.5, {"neutral": 1.0, "happy": 0.0, "sad": 0.0, "angry": 0.0})]  # 10.5 s: outside
    scored = score_windows(results, spans, labels, ["happy", "sad"], near_s=4.0)
    # neutral is not among the corpus's classes: the first window's answer is sad, restricted
    assert scored == [(1, 1, False), (0, 0, True), (0, 1, False)]
    assert unweighted_accuracy(scored, 2) == pytest.approx((0.5 + 1.0) / 2)
    assert unweighted_accuracy([s for s in scored if s[2]], 2) == 1.0


def test_the_cadence_reaches_the_engine(speech_paths, monkeypatch):
    """The cadence asked for is the one the engine runs the voice encoder at: every window at 0.5 s
    (the bundled model's hop), once per segment and then every 8 s at 8."""
    from model.runtime import OnnxPredictor

    predictor = OnnxPredictor.load("default", threads=1)  # the bundled model has voice-emotion heads
    entries = _entries(speech_paths[:4], [("a", "sad"), ("a", "sad"), ("a", "happy"), ("a", "happy")])
    streams = block_streams(entries)
    assert len(streams[0][1]) > 6 * 16000
    embedded = []
    run = predictor._embeddings
    monkeypatch.setattr(predictor, "_embeddings", lambda windows: embedded.append(len(windows)) or run(windows))
    every = measure(predictor, streams, 0.5, near_s=4.0)
    n_every = sum(embedded)
    embedded.clear()
    sparse = measure(predictor, streams, 8.0, near_s=4.0)
    assert every["windows"] == sparse["windows"] >= 8
    assert n_every >= every["windows"]  # every window (the utterance results add none)
    assert every["segments"] <= sum(embedded) < n_every / 4
    assert predictor.meta.arch.voice_emotion_every_s == 8.0
