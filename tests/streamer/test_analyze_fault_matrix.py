"""Fault matrix of `ser analyze`: every output format stopped by SIGKILL, SIGTERM and SIGINT at a
random point of a real-time replay. Nothing may be lost or left behind: the process and any child
of it are gone, every result written before the stop reads back, and a rerun finishes with the
same results as a clean run.

Where the results are after a stop: jsonl sessions are written as they happen (the file itself);
csv and json are documents written at the end, so a SIGTERM or Ctrl+C writes them from what was
analysed, and after a SIGKILL the journal beside them (``NAME.FMT.partial.jsonl``) holds every
result so far."""

from __future__ import annotations

import csv
import json
import re
import signal
import subprocess
import sys
import time

import numpy as np
import psutil
import pytest
from streamer_helpers import write_audio

from ser.cli import main
from streamer import SessionStore
from streamer.session import analysis_state

FORMATS = ("jsonl", "csv", "json")
SIGNALS = (signal.SIGKILL, signal.SIGTERM, signal.SIGINT)
START_TIMEOUT_S = 60.0
EXIT_TIMEOUT_S = 30.0
MAX_EXTRA_DELAY_S = 1.5  # the stop comes at a random time up to this long after the second result
TOL = 1e-5


def _as_in_a_terminal() -> None:
    """Ctrl+C reaches the command as in a terminal, even when the suite itself runs as a background
    job (whose children start with SIGINT ignored, and Python then keeps ignoring it)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture(scope="module")
def long_speech(tmp_path_factory, speech_16k):
    return write_audio(tmp_path_factory.mktemp("long") / "talk.wav", np.concatenate([speech_16k] * 4))


@pytest.fixture(scope="module")
def clean_runs(long_speech, tiny_model_path, tmp_path_factory):
    """The reference: each format analysed from start to end without interruption."""
    out = tmp_path_factory.mktemp("clean")
    for fmt in FORMATS:
        assert main(["analyze", str(long_speech), "--out", str(out), "--format", fmt,
                     "--model", str(tiny_model_path), "--quiet"]) == 0
    # Analysed to the end, and the files say so.
    duration = _duration_s(long_speech)
    for progress in (analysis_state(SessionStore.open(out / "talk.jsonl").ended, [], []),
                     json.loads((out / "talk.json").read_text())["analysis"]):
        assert progress["state"] == "complete" and progress["analysed_until_s"] == pytest.approx(duration, abs=0.01)
    return {fmt: _results(out / f"talk.{fmt}", fmt) for fmt in FORMATS}


def _results(path, fmt) -> list[tuple]:
    """(track, kind, start, end, probabilities) of every result in an output file, in order."""
    if fmt == "csv":
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        return [(int(r["track"]), r["kind"], float(r["start_s"]), float(r["end_s"]),
                 tuple(float(v) for k, v in r.items() if k.startswith("p_"))) for r in rows
                if r["kind"] != "stopped"]  # where a stopped analysis ends: no result (test below)
    records = (SessionStore.open(path).results if fmt == "jsonl"
               else [_Result(r) for r in json.loads(path.read_text())["results"]])
    return [(r.track, r.kind, r.start_s, r.end_s, tuple(r.probabilities.values())) for r in records]


def _duration_s(path) -> float:
    import soundfile as sf

    return sf.info(str(path)).duration


class _Result:
    def __init__(self, d: dict):
        self.track, self.kind, self.start_s, self.end_s = d["track"], d["kind"], d["start_s"], d["end_s"]
        self.probabilities = d["heads"]["emotion"]


def _same(a: list[tuple], b: list[tuple]) -> None:
    assert [x[:2] for x in a] == [x[:2] for x in b]
    if not a:
        return
    np.testing.assert_allclose([x[2:4] for x in a], [x[2:4] for x in b], atol=TOL)
    np.testing.assert_allclose([x[4] for x in a], [x[4] for x in b], atol=TOL)


def _stopped(cmd: list[str], written, signals: list[tuple[float, int]]):
    """Run ``cmd`` until ``written`` holds two results, then send each of ``signals`` (after its delay,
    in seconds) and wait for it to end. Returns the process, its standard error and its children
    as they were at the first signal."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_as_in_a_terminal)
    family = []
    try:
        _results_written(written, proc, 2)
        for i, (delay, sig) in enumerate(signals):
            time.sleep(delay)
            if not i:
                family = psutil.Process(proc.pid).children(recursive=True)
            proc.send_signal(sig)
        proc.wait(timeout=EXIT_TIMEOUT_S)
        err = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()
    return proc, err, family


def _results_written(path, proc, n: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline and proc.poll() is None:
        if path.is_file() and path.read_text(errors="replace").count('"type": "result"') >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"no result was written to {path}")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_stopped_analysis_loses_nothing_and_a_rerun_matches_a_clean_run(long_speech, tiny_model_path, clean_runs,
                                                                          tmp_path, fmt, sig):
    rng = np.random.default_rng(hash((fmt, int(sig))) % 2**32)
    out = tmp_path / "out"
    target = out / f"talk.{fmt}"
    written = target if fmt == "jsonl" else out / f"talk.{fmt}.partial.jsonl"
    cmd = [sys.executable, "-m", "ser", "analyze", str(long_speech), "--out", str(out), "--format", fmt,
           "--realtime", "--speed", "4", "--model", str(tiny_model_path), "--quiet"]
    proc, err, family = _stopped(cmd, written, [(float(rng.uniform(0.0, MAX_EXTRA_DELAY_S)), sig)])
    _, alive = psutil.wait_procs(family, timeout=EXIT_TIMEOUT_S)
    assert not alive, f"processes left behind after {sig.name}: {[p.pid for p in alive]}"

    # Every result written before the stop reads back, and agrees with the clean run's start.
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
        kept = _results(written, "jsonl")
        assert fmt == "jsonl" or not target.exists()
        # What was kept exports in each format (a user trial found no way but the app), and the
        # journal given to ser analyze in place of audio is said to be what it is.
        for ending in ("csv", "json", "html"):
            assert main(["session", str(written), str(tmp_path / f"export.{ending}")]) == 0
        _same(_results(tmp_path / "export.csv", "csv"), kept)
        with open(tmp_path / "export.csv", newline="") as f:
            last = list(csv.DictReader(f))[-1]
        assert last["kind"] == "stopped" and "the analysis did not finish (the run was killed" in last["settings"], last
        _same(_results(tmp_path / "export.json", "json"), kept)
        assert json.loads((tmp_path / "export.json").read_text())["analysis"]["state"] == "unfinished"
        assert (tmp_path / "export.html").read_text().startswith("<!DOCTYPE html>")
    else:
        word, code = ("terminated", 143) if sig == signal.SIGTERM else ("interrupted", 130)
        assert proc.returncode == code and err.count(word) == 1 and "Traceback" not in err, err
        assert re.search(rf"{word}: .*talk\.wav after [0-9.]+ s of [0-9.]+ s; the results so far are in .*talk\.{fmt}",
                         err), err
        kept = _results(target, fmt)
        # The document was written, and says itself how far the analysis got: its journal is removed.
        assert fmt == "jsonl" or not written.exists()
        if fmt == "csv":
            with open(target, newline="") as f:
                last = list(csv.DictReader(f))[-1]
            assert last["kind"] == "stopped" and "the analysis stopped at" in last["settings"], last
            assert 'its last row, of kind "stopped", says where the analysis stopped' in err, err
            progress = {"state": "stopped", "analysed_until_s": float(last["start_s"])}
        else:
            progress = (json.loads(target.read_text())["analysis"] if fmt == "json"
                        else analysis_state(SessionStore.open(target).ended, [], []))
        assert progress["state"] == "stopped" and 0 < progress["analysed_until_s"] < _duration_s(long_speech), progress
    clean = clean_runs[fmt]
    assert kept and len(kept) < len(clean), "the stop came after the end of the analysis"
    # A SIGTERM or Ctrl+C analyses the audio received so far and ends the open speech segment, so
    # the last window and the last utterance may cover less than the clean run's; every earlier
    # result is the same. After a SIGKILL every result kept is one of the clean run's.
    for kind in ("window", "utterance"):
        mine = [r for r in kept if r[1] == kind]
        if sig != signal.SIGKILL:
            mine = mine[:-1]
        _same(mine, [r for r in clean if r[1] == kind][: len(mine)])

    # A rerun into the same folder keeps the earlier output (a killed run's journal too) and finishes
    # like a clean run, under the next free name.
    assert main(["analyze", str(long_speech), "--out", str(out), "--format", fmt,
                 "--model", str(tiny_model_path), "--quiet"]) == 0
    assert written.exists() or target.exists()
    _same(_results(out / f"talk-2.{fmt}", fmt), clean_runs[fmt])
    if sig == signal.SIGKILL and fmt != "jsonl":
        assert _results(written, "jsonl") == kept and not target.exists()  # the killed run's journal is untouched
