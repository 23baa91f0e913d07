"""Model benchmark: parameters and inference time per 2-second window on one CPU core, batch 1."""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch

WINDOW_S = 2.0
WARMUP = 20
REPEATS = 300


def run(model: str = "default") -> str:
    from model import Predictor
    from model.checkpoint import DEFAULT_MODEL_PATH
    from model.network import count_parameters

    if model == "default" and not DEFAULT_MODEL_PATH.exists():
        return "## Model\n\nNo default model file yet: nothing measured.\n"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        predictor = Predictor.load(model, device="cpu")
        x = (np.random.default_rng(0).standard_normal(int(WINDOW_S * 16000)) * 0.1).astype(np.float32)
        for _ in range(WARMUP):
            predictor.predict(x)
        times = []
        for _ in range(REPEATS):
            t = time.perf_counter()
            predictor.predict(x)
            times.append((time.perf_counter() - t) * 1000)
        net_times = []
        xt = torch.from_numpy(x)[None]
        with torch.inference_mode():
            for _ in range(REPEATS):
                t = time.perf_counter()
                predictor.net(xt)
                net_times.append((time.perf_counter() - t) * 1000)
    finally:
        torch.set_num_threads(threads)
    q = lambda v, p: float(np.percentile(v, p))  # noqa: E731
    return (
        "## Model: inference per 2-second window (1 CPU thread, batch 1)\n\n"
        f"Model: `{predictor.source}`, {count_parameters(predictor.net):,} parameters"
        + (f" (an ensemble of {predictor.meta.arch.members} networks, all of them run for every window)"
           if predictor.meta.arch.members > 1 else "") + ".\n\n"
        "| what | median ms | p95 ms |\n|---|---|---|\n"
        f"| `Predictor.predict` (checks, features, network, softmax) | {statistics.median(times):.2f} | {q(times, 95):.2f} |\n"
        f"| network forward only (log-mel included) | {statistics.median(net_times):.2f} | {q(net_times, 95):.2f} |\n"
        f"\nTarget: at most 5 ms per window. {REPEATS} repeats after {WARMUP} warm-up runs.\n"
    )


if __name__ == "__main__":
    print(run())
