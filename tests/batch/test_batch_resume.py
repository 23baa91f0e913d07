"""Resume after a crash: a batch killed mid-write, rerun, processes only what is missing."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from batch_helpers import assert_close, load

from ser.cli import main
from streamer.batch.store import TMP_PREFIX

HERE = Path(__file__).resolve().parent
CRASH_TIMEOUT_S = 120
COPIES = 3  # of the generated calls, so that the kill lands while calls are still running
POLL_S = 0.02


def test_rerun_after_a_kill_processes_only_the_missing_calls(calls, local_run, tiny_model_path, tmp_path):
    out = tmp_path / "out"
    ids = list(calls["calls"])  # analysed in this order with one worker
    victim = ids[1]
    proc = subprocess.run([sys.executable, str(HERE / "batch_crash.py"), str(calls["dir"]), str(out),
                           str(tiny_model_path), victim], capture_output=True, text=True, timeout=CRASH_TIMEOUT_S)
    assert proc.returncode == -signal.SIGKILL, proc.stderr

    first = out / "calls" / ids[0]
    assert (first / "done.json").is_file()
    half = out / "calls" / victim
    assert (half / "results.json").is_file() and (half / "summary.json").is_file()  # complete but not marked
    assert not (half / "done.json").exists() and list(half.glob(TMP_PREFIX + "*"))
    assert not (out / "calls" / ids[2]).exists()
    # A torn marker (as a disk without rename atomicity might leave one) must not count as done either.
    (out / "calls" / ids[2]).mkdir()
    (out / "calls" / ids[2] / "done.json").write_text('{"key": "')
    marker = (first / "done.json").read_bytes()

    assert main(["batch", str(calls["dir"]), "--out", str(out), "--model", str(tiny_model_path),
                 "--workers", "1", "--quiet"]) == 0
    info = load(out / "batch.json")
    assert (info["analysed"], info["skipped"], info["failed"]) == (2, 1, 0)
    assert (first / "done.json").read_bytes() == marker  # the finished call was not redone
    assert not [p for p in out.rglob(TMP_PREFIX + "*")], "temporary files left behind"
    for call_id in ids:
        done = json.loads((out / "calls" / call_id / "done.json").read_text())
        assert done["key"] == load(local_run["out"] / "calls" / call_id / "done.json")["key"]
        for name in ("results.json", "summary.json"):
            assert_close(load(out / "calls" / call_id / name), load(local_run["out"] / "calls" / call_id / name),
                         f"{call_id}/{name}")


def test_killing_a_pooled_batch_from_outside_loses_nothing_done(calls, tiny_model_path, tmp_path):
    import os
    import shutil
    import time

    src = tmp_path / "calls"
    src.mkdir()
    for i in range(COPIES):
        for call_id, info in calls["calls"].items():
            shutil.copy(info["path"], src / f"{i}_{call_id}")
    total = COPIES * len(calls["calls"])
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "ser", "batch", str(src), "--out", str(out), "--model", str(tiny_model_path),
           "--workers", "2", "--quiet"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + CRASH_TIMEOUT_S
        while not list(out.glob("calls/*/done.json")) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(POLL_S)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the batch and its worker processes, mid-batch
        _, err = proc.communicate()
    done_before = {p.parent.name: p.read_bytes() for p in out.glob("calls/*/done.json")}
    assert done_before, err.decode()
    assert len(done_before) < total, "the batch finished before it could be killed"
    for call_id in done_before:  # whatever is marked done is complete
        for name in ("results.json", "summary.json"):
            load(out / "calls" / call_id / name)

    assert main(["batch", str(src), "--out", str(out), "--model", str(tiny_model_path), "--workers", "1", "--quiet"]) == 0
    info = load(out / "batch.json")
    assert (info["analysed"], info["skipped"], info["failed"]) == (total - len(done_before), len(done_before), 0)
    assert {c: (out / "calls" / c / "done.json").read_bytes() for c in done_before} == done_before
    assert len(list(out.glob("calls/*/done.json"))) == total
    assert not [p for p in out.rglob(TMP_PREFIX + "*")]


def test_a_rerun_redoes_calls_whose_outputs_were_damaged(calls, local_run, tiny_model_path, tmp_path):
    """Each done-marker records its outputs' SHA-256: a truncated results.json, a corrupt summary.json
    or a broken timeline.png is analysed again (and reported analysed), not trusted as done."""
    import shutil

    out = tmp_path / "out"
    shutil.copytree(local_run["out"], out)
    ids = list(calls["calls"])
    res = out / "calls" / ids[0] / "results.json"
    res.write_bytes(res.read_bytes()[:100])
    (out / "calls" / ids[1] / "summary.json").write_text("{not json")
    png = out / "calls" / ids[2] / "timeline.png"
    png.write_bytes(png.read_bytes()[:-20])
    assert main(["batch", str(calls["dir"]), "--out", str(out), "--model", str(tiny_model_path),
                 "--workers", "1", "--quiet"]) == 0
    info = load(out / "batch.json")
    assert (info["analysed"], info["skipped"], info["failed"]) == (3, 0, 0)
    for call_id in ids:
        for name in ("results.json", "summary.json"):
            assert_close(load(out / "calls" / call_id / name), load(local_run["out"] / "calls" / call_id / name),
                         f"{call_id}/{name}")
        ref = (local_run["out"] / "calls" / call_id / "timeline.png").read_bytes()
        assert (out / "calls" / call_id / "timeline.png").read_bytes()[-12:] == ref[-12:]  # a complete PNG again
    # Undamaged outputs are trusted: a second rerun skips everything.
    assert main(["batch", str(calls["dir"]), "--out", str(out), "--model", str(tiny_model_path),
                 "--workers", "1", "--quiet"]) == 0
    assert load(out / "batch.json")["skipped"] == 3
