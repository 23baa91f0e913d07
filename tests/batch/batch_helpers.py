"""Helpers of the batch tests: generated stereo calls and comparisons of batch outputs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import soundfile as sf

RAVDESS_DIR = Path(__file__).resolve().parents[1] / "data" / "ravdess"
# Odd RAVDESS actors are male, even ones female: a male agent on the left, a female customer on the right.
AGENT_CLIPS = sorted(RAVDESS_DIR.glob("Actor_01/*.flac")) + sorted(RAVDESS_DIR.glob("Actor_03/*.flac"))
CUSTOMER_CLIPS = sorted(RAVDESS_DIR.glob("Actor_02/*.flac")) + sorted(RAVDESS_DIR.glob("Actor_04/*.flac"))
LEAD_S, GAP_S, TAIL_S = 0.5, 1.0, 1.0
FLOAT_TOL = 1e-5
# Engine outputs measured in wall-clock time, which differ from run to run by nature.
WALL_CLOCK_FIELDS = ("latency_ms",)


def make_call(path: Path, turns: int, offset: int = 0, rate: int = 16000) -> dict:
    """A stereo call: agent and customer take turns (agent first), each clip on its own channel, with
    silences before, between and after. Returns the clip intervals (seconds) of each party."""
    from model.audio import load_mono_16k, resample

    placed = {"Agent": [], "Customer": []}
    pieces = []  # (channel, start sample at 16 kHz, audio)
    t = int(LEAD_S * 16000)
    for i in range(turns):
        for ch, name, clips in ((0, "Agent", AGENT_CLIPS), (1, "Customer", CUSTOMER_CLIPS)):
            x = load_mono_16k(clips[(offset + i) % len(clips)])
            pieces.append((ch, t, x))
            placed[name].append((t / 16000, (t + len(x)) / 16000))
            t += len(x) + int(GAP_S * 16000)
    n = t + int(TAIL_S * 16000)
    audio = np.zeros((n, 2), dtype=np.float32)
    for ch, start, x in pieces:
        audio[start:start + len(x), ch] = x
    if rate != 16000:
        audio = np.stack([resample(audio[:, c], 16000, rate) for c in range(2)], axis=1)
    sf.write(str(path), audio, rate, subtype="PCM_16")
    return {"path": path, "intervals": placed, "duration_s": len(audio) / rate}


def load(path: Path):
    return json.loads(Path(path).read_text())


def assert_close(a, b, where: str = "") -> None:
    """Equal JSON-like documents, floats to FLOAT_TOL, wall-clock fields ignored."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), f"{where}: keys {sorted(a)} != {sorted(b)}"
        for k in a:
            if k not in WALL_CLOCK_FIELDS:
                assert_close(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), f"{where}: lengths differ"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_close(x, y, f"{where}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert a is not None and b is not None and math.isclose(a, b, rel_tol=0, abs_tol=FLOAT_TOL), f"{where}: {a} != {b}"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def crash_on_poison(task):
    """``analyze_call``, except that a call named *poison* kills its worker process (like a decoder crash)."""
    import os
    import signal

    from streamer.batch.worker import analyze_call

    if "poison" in task.call_id:
        os.kill(os.getpid(), signal.SIGKILL)
    return analyze_call(task)
