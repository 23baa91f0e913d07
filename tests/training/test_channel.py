"""Channel augmentation: rooms, EQ, phone lines and codecs keep a crop's length and level, and do
what they say to its spectrum."""

import numpy as np
import pytest

from model.audio import load_mono_16k
from training.channel import CODECS, ChannelAugmenter, ChannelConfig, codec_roundtrip


def _band_energy(x: np.ndarray, lo_hz: float, hi_hz: float) -> float:
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / 16000)
    return float(spec[(f >= lo_hz) & (f < hi_hz)].sum() / spec.sum())


@pytest.fixture(scope="module")
def crop(speech_paths):
    return load_mono_16k(speech_paths[1])[8000:40000]


@pytest.mark.parametrize("codec", sorted(CODECS))
def test_codec_roundtrip_keeps_length_and_changes_the_signal(crop, codec):
    y = codec_roundtrip(crop, codec)
    assert y.shape == crop.shape and y.dtype == np.float32 and np.isfinite(y).all()
    assert not np.allclose(y, crop, atol=1e-4)
    assert np.corrcoef(y, crop)[0, 1] > 0.5 or codec == "gsm"  # GSM keeps intelligibility, not the waveform


def test_telephone_line_removes_the_upper_band(crop):
    aug = ChannelAugmenter(ChannelConfig(telephone_prob=1.0), np.random.default_rng(0))
    y = aug(crop)
    assert y.shape == crop.shape
    assert _band_energy(y, 4200, 8000) < 0.01 < _band_energy(crop, 4200, 8000)
    assert np.sqrt(np.mean(y ** 2)) == pytest.approx(np.sqrt(np.mean(crop ** 2)), rel=0.05)


def test_rooms_and_eq_are_seeded_and_keep_the_level(crop):
    cfg = ChannelConfig(reverb_prob=1.0, eq_prob=1.0, rir_bank_size=4)
    a = ChannelAugmenter(cfg, np.random.default_rng(3))
    b = ChannelAugmenter(cfg, np.random.default_rng(3))
    assert len(a.rirs) == 4 and all(np.abs(r).max() == pytest.approx(1.0) for r in a.rirs)
    ya, yb = a(crop), b(crop)
    np.testing.assert_array_equal(ya, yb)
    assert not np.allclose(ya, crop, atol=1e-3)
    assert np.sqrt(np.mean(ya ** 2)) == pytest.approx(np.sqrt(np.mean(crop ** 2)), rel=0.05)


@pytest.mark.parametrize("kind", ["telephone", "gsm", "mp3"])
def test_fixed_degradations_for_evaluation(crop, kind):
    from training.channel import degrade

    y = degrade(crop, kind)
    assert y.shape == crop.shape and np.isfinite(y).all()
    np.testing.assert_array_equal(y, degrade(crop, kind))  # deterministic
    if kind != "mp3":
        assert _band_energy(y, 4200, 8000) < 0.01
