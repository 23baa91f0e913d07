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


def _segment_mean_ms(predictor, repeats: int = REPEATS) -> tuple[float, float]:
    """As the engine runs a speech segment: one window per call, a window every hop, the voice
    encoder at the model's cadence (voice_emotion_every_s), overlapping frames shared. The mean is
    the cost per window (mean, p95)."""
    from model.inference import SegmentState

    long = (np.random.default_rng(1).standard_normal(int((WINDOW_S + repeats * predictor.hop_s) * 16000))
            * 0.1).astype(np.float32)
    hop, win = int(predictor.hop_s * 16000), int(WINDOW_S * 16000)
    times: list[float] = []
    for _ in range(2):  # the first pass warms up
        seg, times = SegmentState(), []
        for k in range(repeats):
            t = time.perf_counter()
            predictor.predict_batch([long[k * hop:k * hop + win]], segments=[(seg, k * hop)])
            times.append((time.perf_counter() - t) * 1000)
    return statistics.fmean(times), float(np.percentile(times, 95))


def timed(fn, repeats: int = REPEATS) -> list[float]:
    """Milliseconds of each of ``repeats`` calls of ``fn``, after ``WARMUP`` calls."""
    for _ in range(WARMUP):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return times


def run(model: str = "default") -> str:
    from model.checkpoint import DEFAULT_MODEL_PATH, load_model
    from model.network import count_parameters
    from model.runtime import load_predictor

    if model == "default" and not DEFAULT_MODEL_PATH.exists():
        return "## Model\n\nNo default model file yet: nothing measured.\n"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        predictor = load_predictor(model, device="cpu", runtime="onnx", threads=1)
        torch_predictor = load_predictor(model, device="cpu", runtime="torch")
        x = (np.random.default_rng(0).standard_normal(int(WINDOW_S * 16000)) * 0.1).astype(np.float32)
        times = timed(lambda: predictor.predict(x))
        net_times = timed(lambda: predictor._network([x], None, None))
        voice_times = timed(lambda: predictor._embeddings([x])) if predictor.voice_emotion else []
        stream_mean, stream_p95 = _segment_mean_ms(predictor)
        torch_mean, torch_p95 = _segment_mean_ms(torch_predictor)
        batch = [x] * BATCH
        batch_times = [t / BATCH for t in timed(lambda: predictor.predict_batch(batch), max(1, REPEATS // BATCH))]
    finally:
        torch.set_num_threads(threads)
    net, _ = load_model(model)
    q = lambda v, p: float(np.percentile(v, p))  # noqa: E731
    return (
        "## Model: inference per 2-second window (1 CPU thread)\n\n"
        f"Model: `{predictor.source}`, {count_parameters(net):,} parameters"
        + (f" (an ensemble of {predictor.meta.arch.members} networks, all of them run for every window)"
           if predictor.meta.arch.members > 1 else "") + ". Runtime: ONNX Runtime (the product's on the CPU), "
        "with torch beside it for comparison.\n\n"
        "| what | median ms | p95 ms |\n|---|---|---|\n"
        f"| **in a speech segment as the engine runs it** (one window per call every {predictor.hop_s:g} s; voice "
        f"encoder {_cadence(predictor)}; shared frames): mean per window | **{stream_mean:.2f}** (mean) | "
        f"{stream_p95:.2f} |\n"
        f"| the same in torch (`--runtime torch`) | {torch_mean:.2f} (mean) | {torch_p95:.2f} |\n"
        f"| `predict`, batch 1, a window on its own (front end, networks, voice encoder, heads) | "
        f"{statistics.median(times):.2f} | {q(times, 95):.2f} |\n"
        f"| networks only, front end included (no frames shared) | {statistics.median(net_times):.2f} | "
        f"{q(net_times, 95):.2f} |\n"
        + (f"| voice encoder embedding only (voice emotion; one run) | {statistics.median(voice_times):.2f} | "
           f"{q(voice_times, 95):.2f} |\n" if voice_times else "")
        + f"| `predict_batch` of {BATCH} windows, per window | {statistics.median(batch_times):.2f} | "
        f"{q(batch_times, 95):.2f} |\n"
        f"\nTargets, on the segment figure (what analysis costs per window): at most 5 ms (issue 10) and "
        f"1.5 ms (issue 14). {REPEATS} repeats after {WARMUP} warm-up runs.\n"
    )


def _cadence(predictor) -> str:
    if not predictor.voice_emotion:
        return "not used for emotion"
    every = predictor.meta.arch.voice_emotion_every_s
    return f"once per {every:g} s of the segment" if every > 0 else "on every window"


if __name__ == "__main__":
    print(run())
