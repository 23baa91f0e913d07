"""Fixtures of the streaming-engine tests: a loaded tiny model, a stub model and audio files.
The virtual microphone fixture (``pulse_server``) is shared by all tests in tests/conftest.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamer_helpers import StubPredictor, write_audio


@pytest.fixture(scope="session")
def predictor(tiny_model_path):
    """The tiny random-weight model, on the CPU (CI has no GPU), on the runtime the product uses there
    (ONNX Runtime; tests/model/test_onnx_runtime.py holds it to torch's outputs)."""
    from model.runtime import load_predictor

    predictor = load_predictor(tiny_model_path, device="cpu")
    assert predictor.runtime == "onnx"
    return predictor


@pytest.fixture
def stub_predictor():
    return StubPredictor()


@pytest.fixture(scope="session")
def speech_wav(speech_16k, tmp_path_factory) -> Path:
    """``speech_16k`` (about 14 s of real speech with silences) as a 16 kHz WAV file."""
    return write_audio(tmp_path_factory.mktemp("audio") / "speech.wav", speech_16k, subtype="FLOAT")
