"""Helpers shared by the streaming-engine tests (fakes and file writers); fixtures live in conftest.py."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_RATE_HZ = 16000


class StubPredictor:
    """Fixed outputs, no network: for tests about buffers and threads, not about the model."""

    labels = ("neutral", "happy", "sad", "angry")
    min_samples = 512
    sample_rate = SAMPLE_RATE_HZ

    def __init__(self, fail_after: int | None = None):
        self.calls = 0
        self.windows = 0
        self.fail_after = fail_after  # raise on the call after this many calls (a broken model)

    def predict_batch(self, waveforms, segments=None):
        from model.inference import Prediction

        if self.fail_after is not None and self.calls >= self.fail_after:
            raise RuntimeError("stub model failure")
        self.calls += 1
        self.windows += len(waveforms)
        out = []
        for w in waveforms:
            level = float(np.sqrt(np.mean(np.square(w)))) if len(w) else 0.0
            probs = np.array([0.4, 0.3, 0.2, 0.1], dtype=np.float32)
            out.append(Prediction(self.labels, probs, np.array([0.5, 0.5], np.float32),
                                  np.array([min(level, 1.0), 0.5, 0.5], np.float32)))
        return out


def write_audio(path: Path, data: np.ndarray, rate: int = SAMPLE_RATE_HZ, **kwargs) -> Path:
    sf.write(str(path), data, rate, **kwargs)
    return path



def subprocess_env(extra: dict | None = None) -> dict:
    """Environment for helper scripts: the repository importable, few threads."""
    env = dict(os.environ, **(extra or {}))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH", "")]))
    env.setdefault("OMP_NUM_THREADS", "1")
    return env
