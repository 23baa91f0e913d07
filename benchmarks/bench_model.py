"""Model benchmark: parameters and inference time per 2-second window on one CPU core, batch 1."""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch

WINDOW_S = 2.0
WARMUP = 20
REPEATS = 300
BATCH = 16  # windows per call, as offline analysis batches them


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
        net_times, voice_times, batch_times = [], [], []
        xt = torch.from_numpy(x)[None]
        with torch.inference_mode():
            for _ in range(REPEATS):
                t = time.perf_counter()
                predictor.net(xt)
                net_times.append((time.perf_counter() - t) * 1000)
            if predictor.voice_emotion:
                for _ in range(REPEATS):
                    t = time.perf_counter()
                    predictor.net.voice.embed_batch(xt)
                    voice_times.append((time.perf_counter() - t) * 1000)
        batch = [x] * BATCH
        for _ in range(max(1, REPEATS // BATCH)):
            t = time.perf_counter()
            predictor.predict_batch(batch)
            batch_times.append((time.perf_counter() - t) * 1000 / BATCH)
    finally:
        torch.set_num_threads(threads)
    q = lambda v, p: float(np.percentile(v, p))  # noqa: E731
    return (
        "## Model: inference per 2-second window (1 CPU thread)\n\n"
        f"Model: `{predictor.source}`, {count_parameters(predictor.net):,} parameters"
        + (f" (an ensemble of {predictor.meta.arch.members} networks, all of them run for every window)"
           if predictor.meta.arch.members > 1 else "") + ".\n\n"
        "| what | median ms | p95 ms |\n|---|---|---|\n"
        f"| `Predictor.predict`, batch 1 (checks, features, network, voice heads, softmax) | {statistics.median(times):.2f} | {q(times, 95):.2f} |\n"
        f"| network forward only (log-mel included) | {statistics.median(net_times):.2f} | {q(net_times, 95):.2f} |\n"
        + (f"| voice encoder embedding only (voice emotion, every window) | {statistics.median(voice_times):.2f} | "
           f"{q(voice_times, 95):.2f} |\n" if voice_times else "")
        + f"| `Predictor.predict_batch` of {BATCH} windows, per window | {statistics.median(batch_times):.2f} | "
        f"{q(batch_times, 95):.2f} |\n"
        f"\nTarget: at most 5 ms per window. {REPEATS} repeats after {WARMUP} warm-up runs.\n"
    )


if __name__ == "__main__":
    print(run())
