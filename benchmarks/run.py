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
REFERENCE_CHANNELS = (16, 32, 64, 128, 256)  # the reference CNN: the bundled network's conv widths
REFERENCE_INPUT = (1, 1, 64, 200)  # one 2-s window of 64 mel bands


def reference_ms(repeats: int = 100) -> float:
    """The machine's speed now, on a fixed workload independent of the code under test: a CNN of the
    bundled network's shape (3x3 convolutions, ReLU and 2x2 max pooling, REFERENCE_CHANNELS wide)
    with fixed random weights, on one window, one thread, ONNX Runtime; median ms of ``repeats``
    runs. This shared machine's speed drifts (by nearly two times between hosts and hours): a
    section's times are comparable across runs and commits only with this figure beside them."""
    import statistics
    import time

    import numpy as np
    import onnxruntime
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    nodes, weights, x, c_in = [], [], "x", REFERENCE_INPUT[1]
    for i, c_out in enumerate(REFERENCE_CHANNELS):
        w = numpy_helper.from_array((rng.standard_normal((c_out, c_in, 3, 3)) * 0.1).astype(np.float32), f"w{i}")
        weights.append(w)
        nodes += [helper.make_node("Conv", [x, f"w{i}"], [f"c{i}"], pads=[1, 1, 1, 1]),
                  helper.make_node("Relu", [f"c{i}"], [f"r{i}"]),
                  helper.make_node("MaxPool", [f"r{i}"], [f"p{i}"], kernel_shape=[2, 2], strides=[2, 2])]
        x, c_in = f"p{i}", c_out
    graph = helper.make_graph(nodes, "reference", [helper.make_tensor_value_info("x", TensorProto.FLOAT, REFERENCE_INPUT)],
                              [helper.make_tensor_value_info(x, TensorProto.FLOAT, None)], weights)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString(),
        options, providers=["CPUExecutionProvider"])
    feed = {"x": rng.standard_normal(REFERENCE_INPUT).astype(np.float32)}
    for _ in range(20):
        session.run(None, feed)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        session.run(None, feed)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


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
            "- the machine's speed during the run (a fixed CNN of the bundled network's shape with random weights, "
            "one window, one thread, ONNX Runtime: median ms, lower is faster; compare runs by it): "
            + ", ".join(f"{v:.2f} {when}" for when, v in speeds) + "\n")


def main(names: list[str] | None = None) -> int:
    sections, failed, speeds = [], 0, []
    load = os.getloadavg()  # other work on the machine, before the benchmarks add their own
    for name in names or BENCHMARKS:
        speeds.append((f"before {name.rsplit('.', 1)[-1]}", reference_ms()))
        print(f"running {name} ...", file=sys.stderr, flush=True)
        try:
            sections.append(importlib.import_module(name).run())
        except Exception:  # a failing benchmark is reported in the results, the others still run
            failed += 1
            sections.append(f"## {name}\n\nFAILED:\n\n```\n{traceback.format_exc()}```\n")
    speeds.append(("at the end", reference_ms()))
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
