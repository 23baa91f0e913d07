"""Fault matrix of `ser batch`: the batch process stopped by SIGKILL, SIGTERM or SIGINT at a random
point while its two worker processes analyse calls. No worker may be left running (after a SIGKILL
the workers notice that their batch is gone; SIGTERM stops them as Ctrl+C does), every call marked
done has complete, readable outputs, and a rerun finishes every call with the results a clean run
gives."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import psutil
import pytest
from batch_helpers import assert_close, load

from ser.cli import main
from streamer.batch.store import TMP_PREFIX

WORKERS = 2
COPIES = 6  # of the generated calls, so that the stop lands while calls are still running
SPAWN_TIMEOUT_S = 60.0
EXIT_TIMEOUT_S = 30.0  # a worker may still be starting (importing, loading the model) when its batch dies
MAX_DELAY_S = 1.5  # the stop comes at a random time up to this long after the workers started


def _workers_of(proc: psutil.Process) -> list[psutil.Process]:
    return [c for c in proc.children(recursive=True) if "python" in c.name().lower()]


def _as_in_a_terminal() -> None:
    """Ctrl+C reaches the command as in a terminal, even when the suite itself runs as a background
    job (whose children start with SIGINT ignored, and Python then keeps ignoring it)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture(scope="module")
def many_calls(calls, tmp_path_factory):
    """COPIES copies of each generated call, named ``i_CALLID``; CALLID's reference is the clean run's."""
    src = tmp_path_factory.mktemp("many_calls")
    for i in range(COPIES):
        for call_id, info in calls["calls"].items():
            shutil.copy(info["path"], src / f"{i}_{call_id}")
    return src


def _same_call(out, copy_id: str, reference) -> None:
    call_id = copy_id.split("_", 1)[1]
    mine, ref = load(out / "calls" / copy_id / "results.json"), load(reference / "calls" / call_id / "results.json")
    for key in ("segments", "results"):
        assert_close(mine[key], ref[key], f"{copy_id}/{key}")
    mine, ref = load(out / "calls" / copy_id / "summary.json"), load(reference / "calls" / call_id / "summary.json")
    mine.pop("call_id"), ref.pop("call_id")
    assert_close(mine, ref, f"{copy_id}/summary.json")


@pytest.mark.parametrize(("sig", "times"), [(signal.SIGKILL, 1), (signal.SIGTERM, 1), (signal.SIGINT, 1),
                                           (signal.SIGTERM, 2)],
                         ids=["SIGKILL", "SIGTERM", "SIGINT", "SIGTERM-twice"])
def test_stopped_batch_leaves_no_worker_loses_nothing_and_reruns_to_a_clean_result(many_calls, local_run,
                                                                                    tiny_model_path, tmp_path, sig,
                                                                                    times):
    # Twice: a second signal while the batch stops (an impatient user, a service manager) once left
    # it waiting forever on workers that were never told to stop.
    rng = np.random.default_rng(int(sig) + times)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "ser", "batch", str(many_calls), "--out", str(out),
           "--workers", str(WORKERS), "--model", str(tiny_model_path), "--quiet"]
    batch = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             preexec_fn=_as_in_a_terminal)
    parent = psutil.Process(batch.pid)
    try:
        deadline = time.monotonic() + SPAWN_TIMEOUT_S
        while len(_workers_of(parent)) < WORKERS and time.monotonic() < deadline and batch.poll() is None:
            time.sleep(0.1)
        workers = _workers_of(parent)
        assert workers, "the batch started no worker process"
        time.sleep(float(rng.uniform(0.0, MAX_DELAY_S)))
        batch.send_signal(sig)  # the batch process only, as `kill PID` or a service manager does
        for _ in range(times - 1):
            time.sleep(0.3)
            if batch.poll() is None:
                batch.send_signal(sig)
        batch.wait(timeout=EXIT_TIMEOUT_S)
        err = batch.stderr.read()
        _, alive = psutil.wait_procs(workers, timeout=EXIT_TIMEOUT_S)
        assert not alive, f"workers still running {EXIT_TIMEOUT_S} s after {sig.name}: {[p.pid for p in alive]}"
    finally:
        if batch.poll() is None:
            batch.kill()
        for p in _workers_of(parent) if parent.is_running() else []:
            p.kill()
        batch.stderr.close()
    if sig == signal.SIGKILL:
        assert batch.returncode == -signal.SIGKILL
        assert "leaked semaphore" not in err and "Warning" not in err, err  # Python's resource tracker stays quiet
    else:
        word, code = ("terminated", 143) if sig == signal.SIGTERM else ("interrupted", 130)
        assert batch.returncode == code and word in err and "Traceback" not in err, err

    done_before = {p.parent.name: p.read_bytes() for p in out.glob("calls/*/done.json")}
    for copy_id in done_before:  # whatever is marked done is complete and what a clean run gives
        _same_call(out, copy_id, local_run["out"])

    assert main(["batch", str(many_calls), "--out", str(out), "--model", str(tiny_model_path),
                 "--workers", str(WORKERS), "--quiet"]) == 0
    info = load(out / "batch.json")
    n_calls = len(list(many_calls.iterdir()))
    assert (info["analysed"] + info["skipped"], info["failed"]) == (n_calls, 0)
    assert info["skipped"] == len(done_before)
    assert {c: (out / "calls" / c / "done.json").read_bytes() for c in done_before} == done_before
    assert not [p for p in out.rglob(TMP_PREFIX + "*")], "temporary files left behind"
    for marker in out.glob("calls/*/done.json"):
        _same_call(out, marker.parent.name, local_run["out"])


def test_ctrl_c_in_a_terminal_stops_every_process_quietly_and_says_how_to_go_on(many_calls, tiny_model_path,
                                                                               tmp_path):
    """A terminal's Ctrl+C reaches the batch and its workers at once (the whole process group): no
    traceback from any of them, and one message that says what is kept and how to go on."""
    import os

    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "ser", "batch", str(many_calls), "--out", str(out),
           "--workers", str(WORKERS), "--model", str(tiny_model_path), "--quiet"]
    batch = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             preexec_fn=_as_in_a_terminal, start_new_session=True)
    parent = psutil.Process(batch.pid)
    try:
        deadline = time.monotonic() + SPAWN_TIMEOUT_S
        while not list(out.glob("calls/*/done.json")) and time.monotonic() < deadline and batch.poll() is None:
            time.sleep(0.05)  # the workers are busy with calls
        workers = _workers_of(parent)
        os.killpg(batch.pid, signal.SIGINT)
        batch.wait(timeout=EXIT_TIMEOUT_S)
        err = batch.stderr.read()
        _, alive = psutil.wait_procs(workers, timeout=EXIT_TIMEOUT_S)
        assert not alive
    finally:
        if batch.poll() is None:
            os.killpg(batch.pid, signal.SIGKILL)
        batch.stderr.close()
    assert batch.returncode == 130 and "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert "ser batch: interrupted: " in err and "Run the same command again to go on" in err, err
    assert err.count("interrupted") == 1, err
