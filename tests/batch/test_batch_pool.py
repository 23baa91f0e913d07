"""The local pool survives a worker that dies: only the call that killed it fails."""

from __future__ import annotations

from batch_helpers import crash_on_poison

from streamer.batch.runner import _run_pool
from streamer.batch.settings import BatchSettings, file_sha256
from streamer.batch.worker import DONE, FAILED, CallTask


def test_a_call_that_kills_its_worker_fails_alone(calls, tiny_model_path):
    settings = BatchSettings(model=str(tiny_model_path))
    sha = file_sha256(tiny_model_path)
    paths = {"poison.wav": calls["calls"]["call_a.wav"]["path"]}
    paths.update({c: info["path"] for c, info in calls["calls"].items()})
    tasks = [CallTask(c, str(p), f"key-{c}", str(tiny_model_path), sha, settings) for c, p in paths.items()]

    breaks = []
    outcomes = {o.call_id: o for o in _run_pool(tasks, 2, crash_on_poison, breaks=breaks)}
    assert set(outcomes) == set(paths)
    # The death is recorded with the calls it took down (ser batch says so and keeps it in batch.json).
    # the pool's break, then the poison call's own worker when it ran alone
    assert len(breaks) == 2 and "poison.wav" in breaks[0] and breaks[1] == ["poison.wav"]
    assert outcomes["poison.wav"].status == FAILED and "worker process died" in outcomes["poison.wav"].error
    assert all(outcomes[c].status == DONE for c in calls["calls"]), {c: o.error for c, o in outcomes.items()}
