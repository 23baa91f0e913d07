"""Batch benchmark: hours of audio analysed per hour of wall time by ``ser batch`` on generated stereo
calls, with 1 and 2 local workers and on a Dask local cluster of 2 single-threaded worker processes.

The calls are built from the RAVDESS clips in tests/data (a male actor on the agent's channel, a female
actor on the customer's, turns separated by silences), stereo 8 kHz 16-bit as call centres record them.
As ``ser batch`` does by default, only the customer channel is analysed; the hours counted are hours of
recording (both channels). Runs use the default model when it exists, else a random-weight model with
the tests' tiny architecture (the table says which).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

N_CALLS = 24  # about an hour of recordings: enough that starting the workers does not dominate
CALL_S_RANGE = (120.0, 180.0)
CALL_RATE_HZ = 8000
ENGINE_RATE_HZ = 16000
GAP_S_RANGE = (0.3, 2.0)  # silence between turns
LEAD_S = 0.5
SEED = 0
SECONDS_PER_HOUR = 3600.0
RAVDESS_DIR = Path(__file__).resolve().parents[1] / "tests" / "data" / "ravdess"


def make_calls(folder: Path, n_calls: int | None = None, seed: int = SEED) -> float:
    """Write ``n_calls`` stereo calls into ``folder``; returns their total duration in seconds."""
    import soundfile as sf

    from model.audio import load_mono_16k, resample

    male = [load_mono_16k(p) for a in ("Actor_01", "Actor_03") for p in sorted((RAVDESS_DIR / a).glob("*.flac"))]
    female = [load_mono_16k(p) for a in ("Actor_02", "Actor_04") for p in sorted((RAVDESS_DIR / a).glob("*.flac"))]
    rng = np.random.default_rng(seed)
    total = 0.0
    for i in range(N_CALLS if n_calls is None else n_calls):
        n = int(rng.uniform(*CALL_S_RANGE) * ENGINE_RATE_HZ)
        audio = np.zeros((n, 2), dtype=np.float32)
        t, ch = int(LEAD_S * ENGINE_RATE_HZ), 0
        while True:
            clips = male if ch == 0 else female
            x = clips[rng.integers(len(clips))]
            if t + len(x) > n:
                break
            audio[t:t + len(x), ch] = x
            t += len(x) + int(rng.uniform(*GAP_S_RANGE) * ENGINE_RATE_HZ)
            ch = 1 - ch
        audio = np.stack([resample(audio[:, c], ENGINE_RATE_HZ, CALL_RATE_HZ) for c in range(2)], axis=1)
        sf.write(str(folder / f"call_{i:03d}.wav"), audio, CALL_RATE_HZ, subtype="PCM_16")
        total += len(audio) / CALL_RATE_HZ
    return total


def _tiny_model(path: Path) -> Path:
    """A random-weight model with the tests' tiny architecture."""
    from model.testing import make_tiny_model

    return make_tiny_model(path, purpose="benchmarks")


def _timed(calls: Path, out: Path, settings, **kwargs) -> tuple[float, object]:
    from streamer.batch.runner import run_batch

    t = time.perf_counter()
    run = run_batch(calls, out, settings, progress=False, log=lambda msg: None, **kwargs)
    wall = time.perf_counter() - t
    if run.failed or run.analysed + run.skipped != run.total:
        raise RuntimeError(f"benchmark batch incomplete: {run.line()}")
    # Time the workers spent inside calls (analysis and plot), as each done-marker records it.
    busy = sum(json.loads(p.read_text())["elapsed_s"] for p in out.glob("calls/*/done.json"))
    return wall, run, busy


def run() -> str:
    from model.checkpoint import DEFAULT_MODEL_PATH
    from streamer.batch.settings import BatchSettings

    tmp = Path(tempfile.mkdtemp(prefix="ser-bench-batch-"))
    try:
        calls = tmp / "calls"
        calls.mkdir()
        audio_s = make_calls(calls)
        hours = audio_s / SECONDS_PER_HOUR
        if DEFAULT_MODEL_PATH.exists():
            model, which = str(DEFAULT_MODEL_PATH), f"the default model (`{DEFAULT_MODEL_PATH.name}`)"
        else:
            model = str(_tiny_model(tmp / "tiny.safetensors"))
            which = ("a random-weight model with the tests' tiny architecture (no default model file yet; "
                     "the default model's network is larger, so expect lower speeds with it)")
        settings = BatchSettings(model=model)
        rows = []
        for label, kwargs in (("1 worker (in the calling process)", {"workers": 1}),
                              ("2 local worker processes", {"workers": 2})):
            rows.append((label, *_timed(calls, tmp / f"out{kwargs['workers']}", settings, **kwargs)))
        from dask.distributed import LocalCluster

        t = time.perf_counter()
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
            cluster_s = time.perf_counter() - t
            rows.append(("Dask LocalCluster, 2 workers x 1 thread",
                         *_timed(calls, tmp / "out_dask", settings, scheduler=cluster.scheduler_address)))
        rerun_s, rerun, _ = _timed(calls, tmp / "out2", settings, workers=2)  # everything already done
        skipped = rerun.skipped
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    load = os.getloadavg()
    lines = [
        "## Batch analysis (`ser batch`)\n",
        f"{N_CALLS} generated stereo calls, {hours * 60:.1f} min of recordings in all ({CALL_S_RANGE[0]:.0f}-"
        f"{CALL_S_RANGE[1]:.0f} s each, 8 kHz, RAVDESS speech: male agent left, female customer right, silences "
        "between turns); customer channel analysed (the default). Model: " + which + ".\n",
        "Wall time is the whole `run_batch` call: hashing the files, starting the workers (spawned processes "
        "load the model), analysis, and writing results, table and HTML report. The analysis "
        "phase counts from the first task submitted to the last outcome written (worker start-up included). "
        "Per busy worker: audio divided by the time workers spent inside calls (analysis and timeline plot), "
        "which shows what each worker gets from the shared cores.\n",
        "| run | wall s | hours of audio per hour (end to end) | hours per hour (analysis phase) | hours per hour per busy worker |",
        "|---|---|---|---|---|",
    ]
    for label, wall, r, busy in rows:
        lines.append(f"| {label} | {wall:.1f} | {hours / (wall / SECONDS_PER_HOUR):.0f} | {r.hours_per_hour:.0f} "
                     f"| {hours / (busy / SECONDS_PER_HOUR):.0f} |")
    lines += [
        "",
        f"Dask cluster start-up (not counted above): {cluster_s:.1f} s. A rerun with every call already done "
        f"({skipped} skipped) took {rerun_s:.2f} s.",
        f"Load average at the end: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} on {os.cpu_count()} cores "
        "(the machine is shared: other jobs were running).\n",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
