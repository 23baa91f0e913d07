"""Log-mel features against an independent NumPy computation."""

import numpy as np
import pytest
import torch

from model.features import FeatureConfig
from model.logmel import LogMel


def hz_to_mel_slaney(f):
    f = np.asarray(f, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz, logstep = 1000.0, np.log(6.4) / 27.0
    mel = f / f_sp
    return np.where(f >= min_log_hz, min_log_hz / f_sp + np.log(np.maximum(f, 1e-9) / min_log_hz) / logstep, mel)


def mel_to_hz_slaney(m):
    m = np.asarray(m, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz, logstep = 1000.0, np.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def numpy_logmel(x: np.ndarray, c: FeatureConfig) -> np.ndarray:
    """Textbook log-mel: periodic Hann window centred in n_fft, |rfft|^2, Slaney-normalised
    triangular mel filters, natural log with a floor."""
    n = np.arange(c.win_length)
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * n / c.win_length)
    window = np.zeros(c.n_fft)
    left = (c.n_fft - c.win_length) // 2
    window[left:left + c.win_length] = hann
    n_frames = 1 + (len(x) - c.n_fft) // c.hop_length
    frames = np.stack([x[i * c.hop_length:i * c.hop_length + c.n_fft] for i in range(n_frames)])
    power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2  # (frames, bins)
    freqs = np.linspace(0, c.sample_rate_hz / 2, c.n_fft // 2 + 1)
    mel_pts = np.linspace(hz_to_mel_slaney(c.f_min_hz), hz_to_mel_slaney(c.f_max_hz), c.n_mels + 2)
    hz_pts = mel_to_hz_slaney(mel_pts)
    fb = np.zeros((len(freqs), c.n_mels))
    for m in range(c.n_mels):
        lo, mid, hi = hz_pts[m], hz_pts[m + 1], hz_pts[m + 2]
        up = (freqs - lo) / (mid - lo)
        down = (hi - freqs) / (hi - mid)
        fb[:, m] = np.maximum(0, np.minimum(up, down)) * 2.0 / (hi - lo)
    return np.log(power @ fb + c.log_floor).T  # (mels, frames)


def test_logmel_matches_numpy_reference():
    c = FeatureConfig()
    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    x = (0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(len(t))).astype(np.float32)
    ours = LogMel(c)(torch.from_numpy(x))[0].numpy()
    ref = numpy_logmel(x.astype(np.float64), c)
    assert ours.shape == ref.shape == (c.n_mels, c.n_frames(len(x)))
    np.testing.assert_allclose(ours, ref, atol=2e-3, rtol=1e-3)


def test_frames_depend_only_on_their_samples():
    """No centre padding: features of a slice equal the matching frames of the whole signal."""
    c = FeatureConfig()
    x = np.random.default_rng(1).standard_normal(48000).astype(np.float32) * 0.1
    lm = LogMel(c)
    whole = lm(torch.from_numpy(x))[0]
    start = 100 * c.hop_length
    part = lm(torch.from_numpy(x[start:start + 32000]))[0]
    np.testing.assert_allclose(part.numpy(), whole[:, 100:100 + part.shape[1]].numpy(), atol=1e-4)


def test_feature_config_round_trip_and_frame_count():
    c = FeatureConfig(n_mels=80)
    assert FeatureConfig.from_dict(c.to_dict()) == c
    assert c.n_frames(100) == 0
    assert c.n_frames(32000) == 1 + (32000 - 512) // 160


@pytest.mark.parametrize("cfg", [FeatureConfig(), FeatureConfig(n_mels=40, f_min_hz=0.0, n_fft=400, f_max_hz=7600.0)])
def test_numpy_mel_filterbank_is_torchaudios(cfg):
    """The app's spectrogram (numpy, no torch) uses the model's own filters."""
    import torchaudio

    from model.features import mel_filterbank

    ref = torchaudio.functional.melscale_fbanks(cfg.n_fft // 2 + 1, cfg.f_min_hz, cfg.f_max_hz, cfg.n_mels,
                                                cfg.sample_rate_hz, norm="slaney", mel_scale="slaney").numpy()
    np.testing.assert_allclose(mel_filterbank(cfg), ref, atol=1e-6)
