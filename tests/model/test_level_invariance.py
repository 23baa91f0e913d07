"""The bundled model does not depend on recording level: the same clip at 0, -10, -20 and -30 dB of
gain (stored as 16-bit samples, as a recording would be) gets the same top class for at least 90 % of
the comparisons and the same gender for at least 97 %."""

import numpy as np
import pytest
import torch

from model import Predictor
from model.audio import load_mono_16k
from model.features import FeatureConfig
from model.logmel import LogMel

GAINS_DB = (-10.0, -20.0, -30.0)
INT16_FULL_SCALE = 32767


def at_gain(x: np.ndarray, gain_db: float) -> np.ndarray:
    """``x`` scaled by ``gain_db`` and quantised to 16 bits, as a file at that level would hold it."""
    y = np.clip(x * 10 ** (gain_db / 20), -1.0, 1.0)
    return (np.round(y * INT16_FULL_SCALE) / INT16_FULL_SCALE).astype(np.float32)


@pytest.fixture(scope="module")
def default_predictor():
    return Predictor.load("default", device="cpu")


def test_default_model_is_level_invariant(default_predictor, speech_paths):
    same_top, same_gender = [], []
    for path in speech_paths:
        x = load_mono_16k(path)
        ref = default_predictor.predict_utterance(at_gain(x, 0.0))
        for g in GAINS_DB:
            p = default_predictor.predict_utterance(at_gain(x, g))
            same_top.append(p.top_label == ref.top_label)
            same_gender.append(p.gender == ref.gender)
    assert np.mean(same_top) >= 0.90, f"top class changed with level in {same_top.count(False)} of {len(same_top)}"
    assert np.mean(same_gender) >= 0.97, f"gender changed with level in {same_gender.count(False)} of {len(same_gender)}"


def test_level_normalised_features_do_not_depend_on_gain(speech_paths):
    logmel = LogMel(FeatureConfig(level_norm_dbfs=-20.0))
    x = torch.from_numpy(load_mono_16k(speech_paths[0])[:32000])
    ref = logmel(x)
    for g in (-30.0, -6.0, 12.0):
        np.testing.assert_allclose(logmel(x * 10 ** (g / 20)).numpy(), ref.numpy(), atol=1e-3)


def test_level_normalisation_leaves_silence_silent():
    logmel = LogMel(FeatureConfig(level_norm_dbfs=-20.0))
    out = logmel(torch.zeros(1, 16000))
    assert torch.isfinite(out).all()
    assert float(out.max()) == pytest.approx(np.log(FeatureConfig().log_floor), abs=1e-3)


@pytest.mark.parametrize("runtime", ["onnx", "torch"])
def test_a_dc_offset_changes_nothing(speech_paths, runtime):
    """Some sound cards and microphones add a DC offset. It once counted as sound in the level
    normalisation and in the voice encoder's lowest band: +0.05 turned a male voice (P(male) 0.96)
    into 0.69 and neutral speech into sad."""
    from model.runtime import load_predictor

    predictor = load_predictor("default", runtime=runtime)
    for path in speech_paths[:3]:
        x = load_mono_16k(path)
        ref = predictor.predict(x)
        for dc in (0.05, -0.1):
            p = predictor.predict(x + np.float32(dc))
            np.testing.assert_allclose(p.probabilities, ref.probabilities, atol=2e-3)
            np.testing.assert_allclose(p.gender_probabilities, ref.gender_probabilities, atol=2e-3)
            np.testing.assert_allclose(p.dimensions, ref.dimensions, atol=2e-3)
