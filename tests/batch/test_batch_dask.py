"""The same batch on a local process pool and on a Dask cluster gives the results of the in-process run."""

from __future__ import annotations

import os

import pyarrow.parquet as pq
from batch_helpers import assert_close, load

from streamer.batch.runner import run_batch
from streamer.batch.settings import BatchSettings

OUTPUTS = ("results.json", "summary.json")


def _assert_same_outputs(out, reference, call_ids) -> None:
    for call_id in call_ids:
        for name in OUTPUTS:
            assert_close(load(out / "calls" / call_id / name), load(reference / "calls" / call_id / name),
                         f"{call_id}/{name}")
        assert load(out / "calls" / call_id / "done.json")["key"] == load(reference / "calls" / call_id / "done.json")["key"]
    assert_close(pq.read_table(out / "calls.parquet").to_pylist(), pq.read_table(reference / "calls.parquet").to_pylist())


def test_dask_local_cluster_equals_the_local_run(calls, local_run, tiny_model_path, tmp_path):
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        run = run_batch(calls["dir"], tmp_path, BatchSettings(model=str(tiny_model_path)),
                        scheduler=cluster.scheduler_address, progress=False)
    assert (run.analysed, run.failed) == (len(calls["calls"]), 0)
    workers = {load(tmp_path / "calls" / c / "done.json")["worker"] for c in calls["calls"]}
    assert all(w.rsplit(":", 1)[1] != str(os.getpid()) for w in workers)  # ran on the cluster
    _assert_same_outputs(tmp_path, local_run["out"], calls["calls"])


def test_local_process_pool_equals_the_local_run(calls, local_run, tiny_model_path, tmp_path):
    run = run_batch(calls["dir"], tmp_path, BatchSettings(model=str(tiny_model_path)), workers=2, progress=False)
    assert (run.analysed, run.failed) == (len(calls["calls"]), 0)
    _assert_same_outputs(tmp_path, local_run["out"], calls["calls"])
