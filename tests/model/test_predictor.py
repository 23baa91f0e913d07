"""Predictor on arrays: outputs, resampling, aggregation, and clear errors for bad audio."""

import numpy as np
import pytest
import soundfile as sf

from model import AudioError, Predictor, aggregate, window_bounds
from model.audio import load_mono_16k, read_audio


@pytest.fixture(scope="module")
def predictor(tiny_model_path):
    return Predictor.load(tiny_model_path, device="auto")


def test_device_auto_is_cpu_without_cuda(predictor):
    import torch

    assert predictor.device.type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_prediction_has_every_label(predictor, speech_paths):
    x = load_mono_16k(speech_paths[0])
    p = predictor.predict(x[:32000])
    assert set(p.to_dict()["probabilities"]) == set(predictor.labels)
    assert p.probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    assert p.gender_probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    assert all(0.0 <= v <= 1.0 for v in p.dimensions)
    top = p.top_k(3)
    assert len(top) == 3 and top[0][0] == p.top_label and top[0][1] >= top[1][1] >= top[2][1]


def test_batch_equals_single(predictor, speech_paths):
    x = load_mono_16k(speech_paths[1])
    windows = [x[:32000], x[4000:36000], x[:20000]]
    batch = predictor.predict_batch(windows)
    for w, b in zip(windows, batch):
        np.testing.assert_allclose(predictor.predict(w).probabilities, b.probabilities, atol=1e-5)


def test_resamples_other_rates(predictor, speech_paths):
    import soxr

    x = load_mono_16k(speech_paths[2])[:32000]
    x48 = soxr.resample(x, 16000, 48000)
    p16, p48 = predictor.predict(x), predictor.predict(x48, 48000)
    np.testing.assert_allclose(p16.probabilities, p48.probabilities, atol=0.05)
    x8 = soxr.resample(x, 16000, 8000)  # telephone audio is analysed after upsampling
    assert predictor.predict(x8, 8000).probabilities.shape == (len(predictor.labels),)


def test_utterance_aggregates_windows(predictor, speech_16k):
    utt = predictor.predict_utterance(speech_16k, trim=False)
    bounds = window_bounds(len(speech_16k), 32000, 8000)
    windows = predictor.predict_batch([speech_16k[s:e] for s, e in bounds])
    np.testing.assert_allclose(utt.probabilities, aggregate(windows).probabilities, atol=1e-6)


def test_window_bounds_cover_the_signal():
    assert window_bounds(10, 32, 8) == [(0, 10)]
    assert window_bounds(96, 32, 8) == [(s, s + 32) for s in range(0, 65, 8)]  # the grid ends at the end
    # A tail the grid leaves: the next grid start to the end, shorter than a window ...
    b = window_bounds(100, 32, 8)
    assert b[:-1] == [(s, s + 32) for s in range(0, 65, 8)] and b[-1] == (72, 100)
    # ... unless that is under half a window: then a full window aligned to the end.
    b = window_bounds(100, 32, 30)
    assert b == [(0, 32), (30, 62), (60, 92), (68, 100)]
    for n, window, hop in [(100, 32, 8), (100, 32, 30), (31999, 32000, 8000), (45678, 32000, 8000), (40001, 32000, 16000)]:
        b = window_bounds(n, window, hop)
        assert b[0][0] == 0 and b[-1][1] == n and all(b[i][1] >= b[i + 1][0] for i in range(len(b) - 1))
        assert all(min(n, window) / 2 <= e - s <= window for s, e in b)


@pytest.mark.parametrize("bad, match", [
    (np.zeros(0, dtype=np.float32), "no audio"),
    (np.full(32000, np.nan, dtype=np.float32), "NaN"),
    (np.zeros((32000, 2), dtype=np.float32), "mono"),
    (np.zeros(100, dtype=np.float32), "too short"),
])
def test_bad_arrays_give_clear_errors(predictor, bad, match):
    with pytest.raises(AudioError, match=match):
        predictor.predict(bad)


def test_too_low_rate(predictor):
    with pytest.raises(AudioError, match="too low"):
        predictor.predict(np.zeros(8000, dtype=np.float32), 4000)


def test_bad_files_give_clear_errors(tmp_path, speech_paths):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(AudioError, match="empty.wav"):
        read_audio(empty)
    truncated = tmp_path / "truncated.flac"
    truncated.write_bytes(speech_paths[0].read_bytes()[:200])
    with pytest.raises(AudioError, match="truncated.flac"):
        load_mono_16k(truncated)
    with pytest.raises(AudioError, match="not found"):
        read_audio(tmp_path / "missing.wav")
    header_only = tmp_path / "header_only.wav"
    sf.write(header_only, np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(AudioError, match="no audio samples"):
        read_audio(header_only)
    nan = tmp_path / "nan.wav"
    sf.write(nan, np.full(1600, np.nan, dtype=np.float32), 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN"):
        read_audio(nan)


def test_stereo_file_is_mixed_and_resampled(tmp_path, speech_paths):
    x = load_mono_16k(speech_paths[0])
    stereo = tmp_path / "stereo.wav"
    sf.write(stereo, np.stack([x, 0.5 * x], axis=1), 16000)
    y = load_mono_16k(stereo)
    np.testing.assert_allclose(y, 0.75 * x, atol=1e-4)
