"""Fixtures of the batch tests: a folder of generated stereo calls and one reference batch run."""

from __future__ import annotations

import pytest
from batch_helpers import make_call

# (file name, turns per party, first clip, sample rate): an 8 kHz call as call centres record them.
CALLS = (("call_a.wav", 2, 0, 16000), ("call_b.wav", 2, 1, 16000), ("sub/call_c.wav", 1, 2, 8000))


@pytest.fixture(scope="session")
def calls(tmp_path_factory) -> dict:
    """Generated calls: ``{"dir": folder, "calls": {call_id: make_call info}}``."""
    root = tmp_path_factory.mktemp("calls")
    info = {}
    for name, turns, offset, rate in CALLS:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        info[name.replace("/", "__")] = make_call(path, turns, offset, rate)
    return {"dir": root, "calls": info}


@pytest.fixture(scope="session")
def local_run(calls, tiny_model_path, tmp_path_factory):
    """The reference: the customer channel of every call, analysed in this process (``--workers 1``)."""
    from streamer.batch.runner import run_batch
    from streamer.batch.settings import BatchSettings

    out = tmp_path_factory.mktemp("out_local")
    run = run_batch(calls["dir"], out, BatchSettings(model=str(tiny_model_path)), workers=1, progress=False)
    return {"out": out, "run": run, "model_path": tiny_model_path}
