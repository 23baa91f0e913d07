"""`ser analyze --format csv|json` loses nothing when stopped: SIGTERM and Ctrl+C write the document
from what was analysed; after SIGKILL the journal beside it holds every result so far."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from streamer_helpers import write_audio

from streamer import SessionStore

START_TIMEOUT_S = 60.0
EXIT_TIMEOUT_S = 30.0


@pytest.fixture(scope="module")
def long_speech(tmp_path_factory, speech_16k):
    return write_audio(tmp_path_factory.mktemp("long") / "talk.wav", np.concatenate([speech_16k] * 4))


def _start(path, out, fmt, model):
    cmd = [sys.executable, "-m", "ser", "analyze", str(path), "--out", str(out), "--format", fmt, "--realtime",
           "--speed", "2", "--model", str(model), "--quiet"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _wait_for_results(journal, proc):
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline and proc.poll() is None:
        if journal.is_file() and '"type": "result"' in journal.read_text():
            return
        time.sleep(0.1)
    raise AssertionError("no result was written")


@pytest.mark.parametrize("fmt", ["csv", "json"])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_stopped_analysis_keeps_its_results(long_speech, tiny_model_path, tmp_path, fmt, sig):
    out = tmp_path / "out"
    target = out / f"talk.{fmt}"
    journal = out / f"talk.{fmt}.partial.jsonl"
    proc = _start(long_speech, out, fmt, tiny_model_path)
    try:
        _wait_for_results(journal, proc)
        proc.send_signal(sig)
        proc.wait(timeout=EXIT_TIMEOUT_S)
        err = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()
    if sig == signal.SIGKILL:
        assert not target.exists()
        assert SessionStore.open(journal).results  # every line written before the kill reads back
        return
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err
    assert not journal.exists()
    if fmt == "csv":
        with open(target, newline="") as f:
            rows = list(csv.DictReader(f))
        assert rows and {r["kind"] for r in rows} <= {"window", "utterance"}
    else:
        assert json.loads(target.read_text())["results"]
