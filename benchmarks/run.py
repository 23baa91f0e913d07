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


def machine(load: tuple[float, float, float]) -> str:
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
            f"- load average when the benchmarks started: {' / '.join(f'{v:.2f}' for v in load)} (1 / 5 / 15 min)\n")


def main(names: list[str] | None = None) -> int:
    sections, failed = [], 0
    load = os.getloadavg()  # other work on the machine, before the benchmarks add their own
    for name in names or BENCHMARKS:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        try:
            sections.append(importlib.import_module(name).run())
        except Exception:  # a failing benchmark is reported in the results, the others still run
            failed += 1
            sections.append(f"## {name}\n\nFAILED:\n\n```\n{traceback.format_exc()}```\n")
    text = "# Benchmark results\n\nWritten by `make bench` (`python -m benchmarks.run`).\n\n## Machine\n\n" + machine(load)
    text += "\n" + "\n".join(sections)
    RESULTS.write_text(text)
    print(text)
    return 1 if failed else 0


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
