"""training/voice_int8.py: the rotated first layer is the encoder it measures, and its int8 graph runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.voice import VoiceGender
from training.voice_int8 import Encoder, cosines, int8_session


@pytest.fixture(scope="module")
def voice():
    torch.manual_seed(0)
    return VoiceGender().eval()  # random weights: the mechanics, not GE2E's numbers


@pytest.fixture(scope="module")
def mels():
    rng = np.random.default_rng(0)
    return (10 ** rng.uniform(-6, 0.5, size=(5, 160, 40))).astype(np.float32)  # mel power over 65 dB


def test_rotation_unclipped_is_the_encoder(voice, mels):
    x = torch.from_numpy(mels)
    with torch.no_grad():
        reference = voice.encode_partials(x)
        assert torch.allclose(Encoder(voice)(x), reference, atol=1e-5)  # anchored, not rotated
        rotated = Encoder(voice, clip=1e6)
        assert torch.allclose(rotated(x), reference, atol=1e-4)
        clipped = Encoder(voice, clip=1e-3)(x)  # clipping the rotated input changes the result
        assert not torch.allclose(clipped, reference, atol=1e-2)


def test_int8_sessions_and_cosines(voice, mels):
    with torch.no_grad():
        reference = voice.encode_partials(torch.from_numpy(mels)).numpy()
    shipped = int8_session(Encoder(voice).eval(), 1)
    every = int8_session(Encoder(voice, clip=50).eval(), 0)  # all three layers: quantize_voice_lstm checks
    assert cosines(lambda m: reference[:len(m)], mels, reference, batch=5) == {"mean": 1.0, "p1": 1.0, "min": 1.0}
    for sess in (shipped, every):
        c = cosines(lambda m, s=sess: s.run(None, {"mel": m})[0], mels, reference, batch=5)
        assert -1 <= c["min"] <= c["p1"] <= c["mean"] <= 1
    assert cosines(lambda m: shipped.run(None, {"mel": m})[0], mels, reference, batch=5)["min"] > 0.95
