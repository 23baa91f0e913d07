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
        # As the engine runs a speech segment: one window per call, a window every hop, the voice
        # encoder at the model's cadence (voice_emotion_every_s). The mean is the cost per window.
        from model.predictor import SegmentState

        long = (np.random.default_rng(1).standard_normal(int((WINDOW_S + REPEATS * predictor.hop_s) * 16000))
                * 0.1).astype(np.float32)
        hop, win = int(predictor.hop_s * 16000), int(WINDOW_S * 16000)
        stream_times = []
        for _ in range(2):  # the first pass warms up
            seg, stream_times = SegmentState(), []
            for k in range(REPEATS):
                t = time.perf_counter()
                predictor.predict_batch([long[k * hop:k * hop + win]], segments=[(seg, k * hop)])
                stream_times.append((time.perf_counter() - t) * 1000)
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
        f"| **in a speech segment as the engine runs it** (one window per call every {predictor.hop_s:g} s; voice "
        f"encoder {_cadence(predictor)}): mean per window | **{statistics.fmean(stream_times):.2f}** | "
        f"{q(stream_times, 95):.2f} |\n"
        f"| network forward only (log-mel included) | {statistics.median(net_times):.2f} | {q(net_times, 95):.2f} |\n"
        + (f"| voice encoder embedding only (voice emotion; one run) | {statistics.median(voice_times):.2f} | "
           f"{q(voice_times, 95):.2f} |\n" if voice_times else "")
        + f"| `Predictor.predict_batch` of {BATCH} windows, per window | {statistics.median(batch_times):.2f} | "
        f"{q(batch_times, 95):.2f} |\n"
        f"\nTarget: at most 5 ms per window, on the segment figure (what analysis costs per window). "
        f"{REPEATS} repeats after {WARMUP} warm-up runs.\n"
    )


def _cadence(predictor) -> str:
    if not predictor.voice_emotion:
        return "not used for emotion"
    every = predictor.meta.arch.voice_emotion_every_s
    return f"once per {every:g} s of the segment" if every > 0 else "on every window"


if __name__ == "__main__":
    print(run())
