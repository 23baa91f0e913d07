"""``make bench``: runs every benchmark and writes benchmarks/RESULTS.md with the machine it ran on."""

from __future__ import annotations

import datetime as dt
import importlib
import os
import platform
import sys
import traceback
from pathlib import Path

# Benchmark modules, each with run() -> markdown section.
BENCHMARKS = ("benchmarks.bench_model", "benchmarks.bench_runtime", "benchmarks.bench_streamer", "benchmarks.bench_gui",
              "benchmarks.bench_batch")
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
# RESULTS.md from this line on is written by hand (comparisons across runs and commits, with their
# own machine notes); a new run keeps it below its own sections.
KEEP_MARKER = "<!-- From here on: written by hand, kept by make bench. -->"
REFERENCE_SHAPE = (256, 512, 512)  # rows x inner x columns of the reference matrix product


def reference_gflops(repeats: int = 200) -> float:
    """The machine's speed now: a single-thread float matrix product of REFERENCE_SHAPE in ONNX
    Runtime (the kernels the model's convolutions use), median GFLOP/s over ``repeats`` runs.
    A shared virtual machine's speed drifts by a third or more from one hour to the next; every
    time in a section scales with this figure, measured just before it."""
    import statistics
    import time

    import numpy as np
    import onnxruntime
    from onnx import TensorProto, helper, numpy_helper

    m, k, n = REFERENCE_SHAPE
    rng = np.random.default_rng(0)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], "reference",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [m, k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [m, n])],
        [numpy_helper.from_array(rng.standard_normal((k, n)).astype(np.float32), "w")])
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString(),
        options, providers=["CPUExecutionProvider"])
    x = {"x": rng.standard_normal((m, k)).astype(np.float32)}
    for _ in range(20):
        session.run(None, x)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        session.run(None, x)
        times.append(time.perf_counter() - t)
    return 2 * m * k * n / statistics.median(times) / 1e9


def machine(load: tuple[float, float, float], speeds: list[tuple[str, float]]) -> str:
    import onnxruntime
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return (f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC\n- CPU: {cpu}, {os.cpu_count()} cores\n"
            f"- memory: {mem_gb:.0f} GiB\n- GPU: {gpu}\n- Python {platform.python_version()}, torch {torch.__version__}, "
            f"ONNX Runtime {onnxruntime.__version__}, {platform.system()} {platform.release()}\n"
            f"- load average when the benchmarks started: {' / '.join(f'{v:.2f}' for v in load)} (1 / 5 / 15 min)\n"
            f"- the machine's speed during the run (single-thread {'x'.join(map(str, REFERENCE_SHAPE))} matrix "
            f"product in ONNX Runtime, GFLOP/s; times in a section scale with it): "
            + ", ".join(f"{v:.0f} {when}" for when, v in speeds) + "\n")


def main(names: list[str] | None = None) -> int:
    sections, failed, speeds = [], 0, []
    load = os.getloadavg()  # other work on the machine, before the benchmarks add their own
    for name in names or BENCHMARKS:
        speeds.append((f"before {name.rsplit('.', 1)[-1]}", reference_gflops()))
        print(f"running {name} ...", file=sys.stderr, flush=True)
        try:
            sections.append(importlib.import_module(name).run())
        except Exception:  # a failing benchmark is reported in the results, the others still run
            failed += 1
            sections.append(f"## {name}\n\nFAILED:\n\n```\n{traceback.format_exc()}```\n")
    speeds.append(("at the end", reference_gflops()))
    text = "# Benchmark results\n\nWritten by `make bench` (`python -m benchmarks.run`).\n\n## Machine\n\n" + machine(load, speeds)
    text += "\n" + "\n".join(sections)
    kept = kept_by_hand(RESULTS.read_text() if RESULTS.exists() else "")
    RESULTS.write_text(text.rstrip("\n") + "\n\n" + kept if kept else text)
    print(text)
    return 1 if failed else 0


def kept_by_hand(results: str) -> str:
    """The hand-written part of a RESULTS.md text (from KEEP_MARKER on), or "" if it has none."""
    at = results.find(KEEP_MARKER)
    return results[at:] if at >= 0 else ""


def cli(argv: list[str]) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m benchmarks.run",
                                description="Run the benchmarks and write benchmarks/RESULTS.md.")
    p.add_argument("names", nargs="*", metavar="NAME",
                   help=f"only these benchmarks (default: all of {', '.join(BENCHMARKS)})")
    names = p.parse_args(argv).names
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        p.error(f"unknown benchmark {unknown[0]!r}; choose from {', '.join(BENCHMARKS)}")
    return main(names or None)


if __name__ == "__main__":
    sys.exit(cli(sys.argv[1:]))
