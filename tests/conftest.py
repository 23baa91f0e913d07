"""Shared fixtures: real speech clips from tests/data and a tiny model with random weights."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

DATA_DIR = Path(__file__).resolve().parent / "data"
RAVDESS_DIR = DATA_DIR / "ravdess"

# Keep the suite predictable on a 2-core machine.
os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture(scope="session")
def ravdess_dir() -> Path:
    """A tiny RAVDESS tree (8 real clips of actors 01-04) in the original layout."""
    return RAVDESS_DIR


@pytest.fixture(scope="session")
def speech_paths() -> list[Path]:
    return sorted(RAVDESS_DIR.glob("Actor_*/*.flac"))


@pytest.fixture(scope="session")
def speech_16k(speech_paths) -> np.ndarray:
    """About 14 s of real speech: four clips at 16 kHz joined with 1 s of silence between them."""
    from model.audio import load_mono_16k

    gap = np.zeros(16000, dtype=np.float32)
    parts = []
    for p in speech_paths[:4]:
        parts += [load_mono_16k(p), gap]
    return np.concatenate(parts)


def make_tiny_model(path: Path, labels=None, vad_source: str = "derived-from-category") -> Path:
    """Write a small random-weight model file (fast to run; outputs are meaningless but valid)."""
    import torch

    from model import ArchConfig, FeatureConfig, ModelMeta, SERNet, save_model
    from model.labels import RAVDESS_LABELS

    labels = list(labels or RAVDESS_LABELS)
    torch.manual_seed(0)
    arch = ArchConfig(channels=(8, 16, 16, 32, 32), head_dim=32, attention_dim=16)
    net = SERNet(len(labels), FeatureConfig(), arch)
    with torch.no_grad():
        net.feat_mean.fill_(-6.0)
        net.feat_std.fill_(3.0)
    meta = ModelMeta(labels=labels, features=FeatureConfig(), arch=arch, vad_source=vad_source,
                     corpora=[{"name": "none (random weights for tests)", "licence": "n/a"}])
    return save_model(net.eval(), meta, path, overwrite=True)


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("model") / "tiny.safetensors")
