"""Speaker adaptation, voice gender and calibrated "uncertain" results: in the model, and through
the streaming engine (streaming still equals offline at every chunk size)."""

from __future__ import annotations

import numpy as np
import pytest

from model import Predictor
from model.adaptation import SpeakerStats
from model.audio import load_mono_16k
from model.checkpoint import load_model
from model.testing import make_tiny_model
from streamer import EngineConfig, WindowResult, analyze_waveform

BLOCK_SIZES = (160, 512, 4000)
ATOL = 1e-5
# The tiny random network reacts weakly to its input: a changed reference moves its outputs by about 1e-5.
CHANGED = 1e-6


# The two ways a model adapts to its speaker: centring the log-mel on the speaker's average
# (speaker_norm), and judging the voice embedding against the speaker's average (voice_emotion),
# the latter also with the voice encoder run once every 2 s of a segment (voice_cadence).
@pytest.fixture(scope="module", params=["speaker_norm", "voice_emotion", "voice_cadence"])
def adaptive_path(request, tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("adaptive") / f"{request.param}.safetensors",
                           speaker_norm=request.param == "speaker_norm", voice_gender=True,
                           voice_emotion=request.param != "speaker_norm", level_norm_dbfs=-20.0,
                           calibration={"temperature": 2.0, "uncertain_below": 0.5},
                           voice_emotion_every_s=2.0 if request.param == "voice_cadence" else 0.0)


@pytest.fixture(scope="module")
def adaptive(adaptive_path):
    return Predictor.load(adaptive_path, device="cpu")


def test_speaker_stats_wait_for_enough_speech_then_average():
    stats = SpeakerStats(min_windows=3)
    assert stats.add(np.array([1.0, 2.0])) is None
    assert stats.add(np.array([3.0, 4.0])) is None
    np.testing.assert_allclose(stats.add(np.array([5.0, 6.0])), [3.0, 4.0])
    np.testing.assert_allclose(stats.add(np.array([7.0, 8.0])), [4.0, 5.0])
    stats.reset()
    assert stats.count == 0 and stats.reference() is None


def test_adapted_windows_use_the_speakers_average(adaptive, speech_16k):
    windows = [speech_16k[i:i + 32000] for i in range(0, 16 * 8000, 8000)]
    alone = adaptive.predict_batch(windows)
    stats = SpeakerStats(min_windows=8)
    adapted = adaptive.predict_batch(windows, speaker=stats)
    assert stats.count == len(windows)
    # Before enough speech, the same as unadapted; after, centred on the speaker's average.
    for a, b in zip(alone[:7], adapted[:7]):
        np.testing.assert_allclose(a.probabilities, b.probabilities, atol=ATOL)
    assert any(not np.allclose(a.probabilities, b.probabilities, rtol=0, atol=CHANGED)
               for a, b in zip(alone[8:], adapted[8:]))
    # Counting in several calls gives the same as one call.
    stats2 = SpeakerStats(min_windows=8)
    parts = adaptive.predict_batch(windows[:5], speaker=stats2) + adaptive.predict_batch(windows[5:], speaker=stats2)
    for a, b in zip(adapted, parts):
        np.testing.assert_allclose(a.probabilities, b.probabilities, atol=ATOL)


def test_calibration_and_uncertain_flag(adaptive_path, adaptive, speech_16k):
    net, meta = load_model(adaptive_path)
    assert meta.temperature == 2.0 and meta.uncertain_below == 0.5
    p = adaptive.predict(speech_16k[:32000])
    # The temperature flattens the distribution; the flag follows the threshold.
    import torch

    x = torch.from_numpy(speech_16k[:32000])[None]
    with torch.inference_mode():
        out = net(x)
        logits = out["emotion"]
        if meta.arch.voice_emotion:  # unadapted: the raw voice heads at their weight, a weighted geometric mean
            emb = net.voice.embed_batch(x)
            w = meta.arch.voice_emotion_weight_unadapted
            voice_logp = torch.log_softmax(net.voice.emotion_raw(emb), dim=1)
            logits = torch.log_softmax((1 - w) * torch.log_softmax(logits, dim=1) + w * voice_logp, dim=1)
            dims = (1 - w) * out["dimensions"] + w * net.voice.dimensions_raw(emb)
            np.testing.assert_allclose(p.dimensions, dims[0].numpy(), atol=1e-5)
    np.testing.assert_allclose(p.probabilities, torch.softmax(logits / 2.0, dim=1)[0].numpy(), atol=1e-6)
    assert not np.allclose(p.probabilities, torch.softmax(logits, dim=1)[0].numpy(), atol=1e-6)
    assert p.uncertain == (p.top_probability < 0.5)
    assert p.to_dict()["uncertain"] == p.uncertain


def test_voice_gender_is_one_value_per_utterance(adaptive, speech_paths):
    x = load_mono_16k(speech_paths[0])
    g = adaptive.voice_gender(x)
    assert g.shape == (2,) and g.sum() == pytest.approx(1.0, abs=1e-5)
    assert np.allclose(adaptive.predict_utterance(x).gender_probabilities, adaptive.voice_gender(
        x[slice(*__import__("model.audio", fromlist=["speech_bounds"]).speech_bounds(x))]), atol=1e-5)


@pytest.fixture(scope="module")
def adaptive_offline(speech_16k, adaptive):
    long = np.concatenate([speech_16k] * 3)  # enough speech for adaptation to start
    return long, analyze_waveform(long, adaptive, EngineConfig(emit_audio=False))


@pytest.mark.parametrize("block", BLOCK_SIZES)
def test_adapted_streaming_equals_offline(adaptive, adaptive_offline, block):
    long, offline = adaptive_offline
    streamed = analyze_waveform(long, adaptive, EngineConfig(emit_audio=False), block_samples=block)
    a = [e for e in offline if isinstance(e, WindowResult)]
    b = [e for e in streamed if isinstance(e, WindowResult)]
    assert [(x.kind, x.start_s, x.end_s) for x in a] == [(x.kind, x.start_s, x.end_s) for x in b]
    for x, y in zip(a, b):
        np.testing.assert_allclose(list(x.probabilities.values()), list(y.probabilities.values()), atol=ATOL)
        np.testing.assert_allclose(list(x.gender.values()), list(y.gender.values()), atol=ATOL)
        assert x.uncertain == y.uncertain


def test_adaptation_changes_late_results_and_can_be_turned_off(adaptive, adaptive_offline):
    long, adapted = adaptive_offline
    plain = analyze_waveform(long, adaptive, EngineConfig(emit_audio=False, speaker_adaptation=False))
    a = [e for e in adapted if isinstance(e, WindowResult) and e.kind == "window"]
    p = [e for e in plain if isinstance(e, WindowResult) and e.kind == "window"]
    assert len(a) == len(p) > 16
    early = [np.allclose(list(x.probabilities.values()), list(y.probabilities.values()), rtol=0, atol=CHANGED)
             for x, y in zip(a[:15], p[:15])]
    late = [np.allclose(list(x.probabilities.values()), list(y.probabilities.values()), rtol=0, atol=CHANGED)
            for x, y in zip(a[16:], p[16:])]
    assert all(early) and not all(late)


def test_gender_is_constant_within_a_segment(adaptive, adaptive_offline):
    _, events = adaptive_offline
    windows = [e for e in events if isinstance(e, WindowResult) and e.kind == "window"]
    utterances = [e for e in events if isinstance(e, WindowResult) and e.kind == "utterance"]
    for u in utterances:
        inside = [w for w in windows if u.start_s <= w.start_s and w.end_s <= u.end_s]
        assert inside
        assert all(w.gender == inside[0].gender for w in inside)


def test_uncertain_results_reach_sessions_exports_and_summaries(tmp_path, speech_16k):
    import csv

    from streamer import SessionStore, SpeechSegment, write_csv
    from streamer.summary import summarize

    path = make_tiny_model(tmp_path / "unsure.safetensors", calibration={"temperature": 1.0, "uncertain_below": 0.99})
    events = analyze_waveform(speech_16k, Predictor.load(path, device="cpu"), EngineConfig(emit_audio=False))
    results = [e for e in events if isinstance(e, WindowResult)]
    segments = [e for e in events if isinstance(e, SpeechSegment)]
    assert results and all(r.uncertain for r in results)
    with open(write_csv(tmp_path / "r.csv", results), newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["uncertain"] for r in rows} == {"1"}
    store = SessionStore.create(tmp_path / "s.jsonl", {"tracks": ["mix"]})
    for e in segments + results:
        store.append(e)
    store.close()
    assert all(r.uncertain for r in SessionStore.open(tmp_path / "s.jsonl").results)
    summary = summarize(["mix"], segments, results)[0]
    assert summary.emotion_shares == {} and summary.uncertain_s > 0
    assert "uncertain" in summary.line()


def test_fusion_weights_the_two_opinions():
    """The network's and the voice heads' outputs: a weighted geometric mean of the class
    probabilities and a weighted mean of V/A/D (model/inference.py, both runtimes). The fused
    emotion is log-probabilities up to a constant per window, which the predictions' softmax
    takes out."""
    import dataclasses

    from model.arch import ArchConfig
    from model.inference import InferenceBase, log_softmax
    from model.meta import ModelMeta

    net = log_softmax(np.array([[2.0, 0.0, -1.0]]))
    voice = np.array([[-1.0, 0.5, 3.0]])
    out = {"emotion": net, "dimensions": np.array([[0.2, 0.4, 0.6]]), "voice_emotion": voice,
           "voice_dimensions": np.array([[0.8, 0.6, 0.4]]), "voice_male": np.array([0.9])}
    base = InferenceBase()
    for w, expect in ((0.0, net), (1.0, log_softmax(voice))):
        arch = ArchConfig(voice_gender=True, voice_emotion=True, voice_emotion_weight=w)
        base.meta = ModelMeta(labels=["a", "b", "c"], arch=arch)
        np.testing.assert_allclose(log_softmax(base._fuse(out, centred=True)["emotion"]), expect, atol=1e-9)
    base.meta = dataclasses.replace(base.meta, arch=ArchConfig(voice_gender=True, voice_emotion=True,
                                                               voice_emotion_weight_unadapted=0.5))
    fused = base._fuse(out, centred=False)
    geo = np.sqrt(np.exp(net) * np.exp(log_softmax(voice)))
    np.testing.assert_allclose(np.exp(log_softmax(fused["emotion"])), geo / geo.sum(), atol=1e-9)
    base.temperature, base.labels = 1.0, ("a", "b", "c")
    np.testing.assert_allclose(base._predictions(fused, 1)[0].probabilities, (geo / geo.sum())[0], atol=1e-6)
    np.testing.assert_allclose(fused["dimensions"], [[0.5, 0.5, 0.5]], atol=1e-9)
    np.testing.assert_allclose(np.exp(fused["gender"]), [[0.1, 0.9]], atol=1e-9)
    # The voice heads' V/A/D are linear: a value past the declared range [0, 1] is kept within it
    # (a trial's call had arousal 1.03 in its report).
    far = {**out, "voice_dimensions": np.array([[-0.9, 1.9, 0.4]])}
    np.testing.assert_allclose(base._fuse(far, centred=False)["dimensions"], [[0.0, 1.0, 0.5]], atol=1e-9)


def test_voice_emotion_heads_are_fitted_per_speaker(speech_16k):
    """The heads learn what tells the classes apart on the voice embedding, raw and centred on each
    speaker's average; V/A/D follows its labels."""
    from types import SimpleNamespace

    from model.voice import VoiceGender
    from training.voice import fit_voice_emotion, load_encoder

    rng = np.random.default_rng(0)
    voice = VoiceGender(n_labels=2).eval()
    load_encoder(voice)
    entries, waves, emotion, dims = [], [], [], []
    base = speech_16k[:40000]
    for spk, gain in (("01", 1.0), ("02", 0.3)):
        for k in range(6):
            label = k % 2
            x = base * gain if label == 0 else (base * gain + 0.05 * rng.standard_normal(len(base))).astype(np.float32)
            entries.append(SimpleNamespace(path=f"fake/{spk}-{k}.wav", speaker=spk))
            waves.append(np.ascontiguousarray(x, dtype=np.float32))
            emotion.append(label)
            dims.append((0.5, 0.2 if label == 0 else 0.8, 0.5))
    bank = SimpleNamespace(entries=entries, waves={1.0: waves}, emotion=np.array(emotion),
                           dimensions=np.array(dims, dtype=np.float32))
    fit = fit_voice_emotion(voice, bank)
    assert fit["speakers"] == 2 and fit["windows"] >= 12
    assert fit["raw_train_accuracy"] >= 0.9 and fit["centred_train_accuracy"] >= 0.9
    import torch

    with torch.inference_mode():
        emb = voice.embed_batch(torch.from_numpy(np.stack([w[:32000] for w in waves])))
        logp, arousal = torch.log_softmax(voice.emotion_raw(emb), dim=1), voice.dimensions_raw(emb)
    assert (logp.argmax(dim=1).numpy() == np.array(emotion)).mean() >= 0.9
    assert arousal[np.array(emotion) == 1, 1].mean() > arousal[np.array(emotion) == 0, 1].mean() + 0.3


def test_voice_encoder_runs_at_the_models_cadence_within_a_segment(tmp_path, speech_16k, monkeypatch):
    """With ``voice_emotion_every_s`` = 2 s, windows every 0.5 s embed at 0, 2, 4 s... of their
    segment and reuse that embedding in between; a new segment starts afresh; windows given in
    several calls get what one call gives."""
    from model.predictor import SegmentState

    predictor = Predictor.load(make_tiny_model(tmp_path / "cadence.safetensors", voice_emotion=True,
                                               voice_emotion_every_s=2.0), device="cpu")
    rows = []
    embed = predictor.net.voice.embed_batch
    monkeypatch.setattr(predictor.net.voice, "embed_batch", lambda x: rows.append(len(x)) or embed(x))
    starts = list(range(0, 9 * 8000, 8000))  # 0, 0.5, ... 4 s
    windows = [speech_16k[s:s + 32000] for s in starts]
    seg = SegmentState()
    once = predictor.predict_batch(windows, segments=[(seg, s) for s in starts])
    assert sum(rows) == 3 and seg.anchor == 64000  # windows at 0, 2 and 4 s
    # The 0.5-s window is judged with the 0-s window's embedding.
    kept = SegmentState(anchor=0, embedding=predictor._embeddings([windows[0]])[0])
    alone = predictor.predict_batch([windows[1]], segments=[(kept, starts[1])])[0]
    np.testing.assert_allclose(alone.probabilities, once[1].probabilities, atol=ATOL)
    assert not np.allclose(predictor.predict(windows[1]).probabilities, once[1].probabilities, rtol=0, atol=CHANGED)
    rows.clear()
    seg2 = SegmentState()
    split = (predictor.predict_batch(windows[:3], segments=[(seg2, s) for s in starts[:3]])
             + predictor.predict_batch(windows[3:], segments=[(seg2, s) for s in starts[3:]]))
    assert sum(rows) == 3
    for a, b in zip(once, split):
        np.testing.assert_allclose(a.probabilities, b.probabilities, atol=ATOL)
    # Two segments in one batch keep their own cadence.
    rows.clear()
    s1, s2 = SegmentState(), SegmentState()
    predictor.predict_batch(windows[:4] + windows[:4], segments=[(s1, s) for s in starts[:4]] +
                            [(s2, s) for s in starts[:4]])
    assert sum(rows) == 2
    # Without segments (single windows) every window is embedded; a model without a cadence
    # embeds every window of a segment too.
    rows.clear()
    predictor.predict_batch(windows)
    assert sum(rows) == len(windows)
    with pytest.raises(ValueError, match="segment entries"):
        predictor.predict_batch(windows, segments=[(seg, 0)])


def test_voice_embeddings_computed_ahead_give_the_same_predictions(tmp_path, speech_16k):
    """The engine's voice thread computes a batch's embeddings ahead (voice_embeddings) and hands them
    to predict_batch: the predictions are those of predict_batch computing them itself, and the
    segment's cadence advances the same way."""
    from model.predictor import SegmentState
    from model.runtime import load_predictor

    predictor = load_predictor(make_tiny_model(tmp_path / "ahead.safetensors", voice_emotion=True,
                                               voice_emotion_every_s=2.0), device="cpu")
    starts = list(range(0, 9 * 8000, 8000))
    windows = [speech_16k[s:s + 32000] for s in starts]
    plain_seg, ahead_seg = SegmentState(), SegmentState()
    plain = predictor.predict_batch(windows, segments=[(plain_seg, s) for s in starts])
    segments = [(ahead_seg, s) for s in starts]
    embeddings = predictor.voice_embeddings(windows[:5], segments[:5]) + predictor.voice_embeddings(
        windows[5:], segments[5:])
    assert ahead_seg.anchor == plain_seg.anchor == 64000
    ahead = predictor.predict_batch(windows, segments=segments, embeddings=embeddings)
    for a, b in zip(plain, ahead, strict=True):
        np.testing.assert_array_equal(a.probabilities, b.probabilities)
        np.testing.assert_array_equal(a.dimensions, b.dimensions)
    with pytest.raises(ValueError, match="embeddings"):
        predictor.predict_batch(windows, segments=segments, embeddings=embeddings[:3])
    plain_model = load_predictor(make_tiny_model(tmp_path / "plain.safetensors"), device="cpu")
    assert plain_model.voice_embeddings(windows, segments) is None
