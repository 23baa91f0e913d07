"""A killed `ser batch` leaves no worker process behind: with SIGKILL the workers notice that their
batch is gone, with SIGTERM the batch stops them as Ctrl+C does."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import psutil
import pytest
from batch_helpers import make_call

WORKERS = 2
SPAWN_TIMEOUT_S = 60.0
EXIT_TIMEOUT_S = 30.0  # a worker may still be importing torch when its batch dies


@pytest.fixture(scope="module")
def many_calls(tmp_path_factory):
    root = tmp_path_factory.mktemp("many_calls")
    for i in range(8):
        make_call(root / f"call_{i}.wav", turns=4, offset=i)
    return root


def _workers_of(proc: psutil.Process) -> list[psutil.Process]:
    return [c for c in proc.children(recursive=True) if "python" in c.name().lower()]


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_batch_leaves_no_worker(many_calls, tiny_model_path, tmp_path, sig):
    cmd = [sys.executable, "-m", "ser", "batch", str(many_calls), "--out", str(tmp_path / "out"),
           "--workers", str(WORKERS), "--model", str(tiny_model_path), "--quiet"]
    batch = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    parent = psutil.Process(batch.pid)
    try:
        deadline = time.monotonic() + SPAWN_TIMEOUT_S
        while len(_workers_of(parent)) < WORKERS and time.monotonic() < deadline and batch.poll() is None:
            time.sleep(0.1)
        workers = _workers_of(parent)
        assert workers, "the batch started no worker process"
        time.sleep(1.0)  # let them load the model and start on calls
        batch.send_signal(sig)
        batch.wait(timeout=EXIT_TIMEOUT_S)
        gone, alive = psutil.wait_procs(workers, timeout=EXIT_TIMEOUT_S)
        assert not alive, f"workers still running {EXIT_TIMEOUT_S} s after {sig.name}: {[p.pid for p in alive]}"
        if sig == signal.SIGTERM:
            assert batch.returncode == 130 and "interrupted" in batch.stderr.read()
    finally:
        if batch.poll() is None:
            batch.kill()
        for p in _workers_of(parent) if parent.is_running() else []:
            p.kill()
        batch.stderr.close()
