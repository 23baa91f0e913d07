"""``run_batch``: find the calls, skip those already done, analyse the rest on a local process pool or a
Dask cluster, write each outcome as it arrives, then the table of all calls and the HTML report."""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from model.errors import ModelFileError, OutputPathError, SERError
from model.files import TMP_PREFIX, atomic_json, fsync_dir
from model.meta import read_meta, resolve_model_path
from streamer.batch.inputs import CallInput, discover, unsupported_files
from streamer.batch.report import (
    CHECK_NAMES,
    NOT_ANALYSED,
    NOT_ANALYSED_TEXT,
    SECONDS_PER_HOUR,
    call_name,
    write_report,
    write_table,
)
from streamer.batch.settings import BatchSettings, call_key, file_sha256
from streamer.batch.store import RESULTS, BatchStore
from streamer.batch.worker import DONE, FAILED, CallOutcome, CallTask, analyze_call, limit_threads
from streamer.errors import ConfigError
from streamer.session import crosstalk_text, settings_text
from streamer.summary import count_text, time_text

EXIT_SOME_FAILED = 1
IN_FLIGHT_PER_WORKER = 2  # calls queued per local worker: keeps it busy while the last outcome is written
DASK_KEY_PREFIX = "ser-batch"
SCHEDULER_CONNECT_S = 10.0  # a Dask scheduler that does not answer within this is not used


@dataclass
class BatchRun:
    """What one run did. ``calls`` holds one record per input call, in input order."""

    out_dir: Path
    total: int = 0
    analysed: int = 0
    skipped: int = 0
    failed: int = 0
    audio_s: float = 0.0  # audio analysed in this run (skipped calls not counted)
    wall_s: float = 0.0
    calls: list[dict] = field(default_factory=list)
    unsupported: int = 0  # audio files of the input folder in a format this program does not read

    @property
    def hours_per_hour(self) -> float:
        return self.audio_s / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def exit_status(self) -> int:
        return EXIT_SOME_FAILED if self.failed else 0

    def line(self) -> str:
        audio = (f"; {time_text(self.audio_s)} of audio in {self.wall_s:.1f} s "
                 f"({self.hours_per_hour:.0f} h of audio per hour)" if self.analysed or self.failed
                 else f"; nothing to analyse ({self.wall_s:.1f} s)")
        return (f"{count_text(self.total, 'call')}: {self.analysed} analysed, {self.skipped} skipped "
                f"(already done), {self.failed} failed" + (f", {self.unsupported} not analysed (unsupported format)"
                                                           if self.unsupported else "") + audio)


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def _content_hash(call: CallInput, store: BatchStore) -> tuple[str, dict]:
    """The file's sha256, reused from its done-marker when path, size and mtime are unchanged (no re-read)."""
    st = call.path.stat()
    stamp = {"path": str(call.path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    rec = store.done_record(call.call_id)
    if rec and all(rec.get(k) == v for k, v in stamp.items()) and rec.get("content_sha256"):
        return rec["content_sha256"], stamp
    return file_sha256(call.path), stamp


# ---------------------------------------------------------------------- executors
PARENT_POLL_S = 0.5  # how often a worker checks that the batch that started it is still there


def _exit_with_parent(parent_pid: int) -> None:
    """A worker whose batch process is gone (killed with SIGKILL, say) exits at once: nothing else
    would stop it, and it would go on holding a model in memory and a core."""
    while True:
        time.sleep(PARENT_POLL_S)
        if os.getppid() != parent_pid:
            os._exit(1)


def _init_pool_worker(parent_pid: int) -> None:
    # The model is loaded by the worker's first call (then kept): a model error there is reported with
    # its message for that call, where an error here would only break the pool. The batch's pid comes
    # from the batch itself: by the time this runs (after slow imports) it may already be gone.
    import signal
    import threading

    threading.Thread(target=_exit_with_parent, args=(parent_pid,), name="parent-watch", daemon=True).start()
    # Ctrl+C in a terminal reaches every process of the command: the batch process says what was
    # interrupted and stops the pool; a worker leaves at once, quietly (it writes no output: the batch
    # process writes every call's files), instead of printing its own traceback.
    signal.signal(signal.SIGINT, lambda signum, frame: os._exit(130))
    limit_threads()


def _run_in_process(tasks: list[CallTask]) -> Iterator[CallOutcome]:
    # The worker's predictor has one thread, as in the pool workers, so results match theirs.
    for t in tasks:
        yield analyze_call(t)


# Python's resource tracker (a process of its own) warns of "leaked semaphore objects" when this
# process is killed with SIGKILL while a pool runs; it cleans them up all the same, so the warning only
# alarms. It takes its warning options from this process's when it starts.
QUIET_TRACKER = "ignore::UserWarning:multiprocessing.resource_tracker"


def _new_pool(workers: int):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    if QUIET_TRACKER not in sys.warnoptions:
        sys.warnoptions.append(QUIET_TRACKER)

    # spawn: a forked child would inherit the parent's torch/OpenMP thread state, which can deadlock.
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_pool_worker, initargs=(os.getpid(),))


def _abandon(pool) -> None:
    """Stop a pool's workers now and let the pool go without waiting: a stop (Ctrl+C, SIGTERM) while
    calls are in flight. Their calls are abandoned (the batch process writes every call's files, so
    nothing half-written is left; a later run analyses them). Waiting for them instead kept a stopped
    batch running until its longest call ended, and a second signal during that wait left it hanging
    with its workers alive. A further Ctrl+C or SIGTERM while this runs is held until it is done
    (then raised as usual), so that no worker is left running."""
    import signal
    import threading

    held: list[int] = []
    saved = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            saved[sig] = signal.signal(sig, lambda signum, frame: held.append(signum))
    try:
        for proc in list((getattr(pool, "_processes", None) or {}).values()):
            with contextlib.suppress(Exception):
                proc.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
        for signum in held[:1]:  # the stop asked for meanwhile, now
            signal.raise_signal(signum)


def _failed(task: CallTask, exc: BaseException) -> CallOutcome:
    return CallOutcome(task.call_id, task.key, FAILED, error=f"worker failed: {type(exc).__name__}: {exc}")


def _run_pool(tasks: list[CallTask], workers: int, analyze=analyze_call,
              breaks: list[list[str]] | None = None) -> Iterator[CallOutcome]:
    """Run ``analyze`` over ``tasks`` on ``workers`` spawned processes, outcomes in completion order.

    A worker that dies (a decoder crash on a malformed file, the out-of-memory killer) breaks the whole
    pool, and every call in flight with it. Those calls are then run again one at a time, so that the
    call that kills its worker is recorded as failed and the others are analysed; the rest of the batch
    continues on a new pool. Only ``workers * IN_FLIGHT_PER_WORKER`` calls are in flight at a time,
    which bounds both the calls a crash can take down and the memory held by pending results.
    ``breaks`` gets, per break, the calls it took down (run again).
    """
    pending = deque(tasks)
    while pending:
        suspects = yield from _pool_round(pending, workers, analyze)
        if suspects:
            if breaks is not None:
                breaks.append([t.call_id for t in suspects])
            yield from _run_isolated(suspects, analyze, breaks)


def _pool_round(pending: deque, workers: int, analyze) -> Iterator[CallOutcome]:
    """Run tasks from ``pending`` until it is empty or the pool breaks; returns the calls lost in a break."""
    from concurrent.futures import FIRST_COMPLETED, wait
    from concurrent.futures.process import BrokenProcessPool

    pool = _new_pool(workers)
    in_flight: dict = {}
    try:
        while pending or in_flight:
            while pending and len(in_flight) < workers * IN_FLIGHT_PER_WORKER:
                task = pending.popleft()
                in_flight[pool.submit(analyze, task)] = task
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            lost = []
            for fut in done:
                task = in_flight.pop(fut)
                exc = fut.exception()
                if isinstance(exc, BrokenProcessPool):
                    lost.append(task)
                elif exc is not None:
                    yield _failed(task, exc)
                else:
                    yield fut.result()
            if lost:
                wait(in_flight)  # a broken pool fails every call still in flight, at once
                for fut, task in in_flight.items():
                    exc = fut.exception()
                    if exc is None:
                        yield fut.result()
                    elif isinstance(exc, BrokenProcessPool):
                        lost.append(task)
                    else:
                        yield _failed(task, exc)
                return lost
        return []
    except BaseException:  # stopped (or the generator closed by its consumer, who was stopped)
        stopping, pool = pool, None  # never waited for below, whatever interrupts the abandoning
        _abandon(stopping)
        raise
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _run_isolated(tasks: list[CallTask], analyze, breaks: list[list[str]] | None = None) -> Iterator[CallOutcome]:
    """Each task alone in a one-worker pool: a crash now names its call (added to ``breaks``)."""
    from concurrent.futures.process import BrokenProcessPool

    pool = None
    try:
        for task in tasks:
            pool = pool or _new_pool(1)
            fut = pool.submit(analyze, task)
            exc = fut.exception()
            if isinstance(exc, BrokenProcessPool):
                pool.shutdown(wait=True)
                pool = None
                if breaks is not None:
                    breaks.append([task.call_id])
                yield CallOutcome(task.call_id, task.key, FAILED,
                                  error=f"{task.path}: the worker process died while analysing this call (a crash "
                                        "while decoding a malformed file, or memory ran out).")
            elif exc is not None:
                yield _failed(task, exc)
            else:
                yield fut.result()
    except BaseException:  # stopped: as in _pool_round
        stopping, pool = pool, None
        if stopping is not None:
            _abandon(stopping)
        raise
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


class SchedulerUnreachableError(ConfigError):
    """The Dask scheduler's host does not answer on its port."""


def _check_scheduler(address: str) -> None:
    """Refuse a Dask scheduler address that is malformed, or whose host does not answer on its port
    within SCHEDULER_CONNECT_S, before anything is done. (dask's client, given one, failed after its
    own 30 s and then held the program at its end for 60 s more, printing a traceback.)"""
    import socket

    from distributed.comm.addressing import parse_address, parse_host_port

    try:
        scheme, location = parse_address(address)
        host, port = parse_host_port(location) if scheme in ("tcp", "tls") else (None, None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"--scheduler {address}: not a Dask scheduler address ({exc}); give one as "
                          "tcp://HOST:PORT, e.g. tcp://10.0.0.5:8786.") from exc
    if host is None:
        return  # other transports (inproc, ucx) are left to dask
    try:
        socket.create_connection((host, port), timeout=SCHEDULER_CONNECT_S).close()
    except OSError as exc:
        raise SchedulerUnreachableError(f"cannot reach the Dask scheduler at {address} ({exc.strerror or exc}); is it "
                                        "running, and is the address right?") from exc


def _run_dask(tasks: list[CallTask], address: str) -> Iterator[CallOutcome]:
    from dask.distributed import Client, as_completed

    try:
        client = Client(address, set_as_default=False, timeout=SCHEDULER_CONNECT_S)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ConfigError(f"cannot reach the Dask scheduler at {address} ({exc}).") from exc
    try:
        keys = [f"{DASK_KEY_PREFIX}-{t.call_id}-{t.key[:16]}" for t in tasks]
        futures = client.map(analyze_call, tasks, key=keys, pure=False)
        by_key = {f.key: t for f, t in zip(futures, tasks, strict=True)}
        for fut in as_completed(futures, loop=client.loop):  # this client's loop: it is not the default one
            task = by_key[fut.key]
            try:
                yield fut.result()
            except Exception as exc:  # a worker died or the task was lost
                yield CallOutcome(task.call_id, task.key, FAILED, error=f"Dask task failed: {type(exc).__name__}: {exc}")
            fut.release()
    finally:
        client.close()


# ---------------------------------------------------------------------- the batch
def run_batch(input_path: str | os.PathLike, out_dir: str | os.PathLike, settings: BatchSettings,
              workers: int | None = None, scheduler: str | None = None, progress: bool = True,
              log: Callable[[str], None] | None = None) -> BatchRun:
    """Analyse every call of ``input_path`` (folder or list file) into ``out_dir``.

    Args:
        input_path: Folder of recordings (searched recursively) or a text file with one path per line.
        out_dir: Output folder (see :mod:`streamer.batch.store` for its layout).
        settings: Model, engine and channel settings.
        workers: Local worker processes (default: all cores); 1 runs in this process.
        scheduler: Address of a Dask scheduler; the calls then run on its workers.
        progress: Show a progress bar (on a terminal).
        log: Where to report failed calls (default: standard error).

    Raises:
        ConfigError: Bad input, output folder, or scheduler. ModelFileError: bad model file.
    """
    t_start = time.perf_counter()
    notes: list[str] = []
    calls = discover(input_path, notes)
    unreadable = unsupported_files(input_path)
    model_path = resolve_model_path(settings.model)
    if not model_path.is_file():
        raise ModelFileError(f"{model_path}: model file not found. Pass an existing .safetensors file or 'default'.")
    model_labels = list(read_meta(model_path).labels)  # a bad model file fails the batch here, not once per call
    model_sha = file_sha256(model_path)
    workers = (os.cpu_count() or 1) if workers is None else workers
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}.")
    unreachable: SchedulerUnreachableError | None = None
    if scheduler:
        try:
            _check_scheduler(scheduler)
        except SchedulerUnreachableError as exc:
            # A run again into a batch's folder may find every call done: then it needs no scheduler.
            if not Path(out_dir).expanduser().is_dir():
                raise
            unreachable = exc
    store = BatchStore(out_dir)  # made once everything else is known to be right: a refused run leaves no folder
    out_dir = store.root  # "~" expanded, as the store checked and made it
    store.hold()  # another run writing there now is refused
    try:
        run = BatchRun(Path(out_dir), total=len(calls), unsupported=len(unreadable))
        bar = _progress_bar(len(calls), progress)
        log = log or (lambda msg: bar.write(msg, file=sys.stderr))  # through the bar: messages keep its line whole
        for note in notes:
            log(f"ser batch: note: {note}")
        if unreadable:
            log(f"ser batch: {count_text(len(unreadable), 'file')} not analysed, in a format this program does not read: "
                + ", ".join(str(p) for p in unreadable[:5]) + (" ..." if len(unreadable) > 5 else "")
                + ". Convert them to WAV or FLAC first (e.g. ffmpeg -i IN.m4a OUT.wav).")
        records: dict[str, dict] = {}
        stamps: dict[str, dict] = {}
        tasks: list[CallTask] = []
        same_as: dict[str, list[dict]] = {}  # content -> the calls that hold it
        for call in calls:
            rec = {"call_id": call.call_id, "path": str(call.path), "status": FAILED}
            records[call.call_id] = rec
            try:
                sha, stamps[call.call_id] = _content_hash(call, store)
            except FileNotFoundError:  # said as `ser analyze` says it
                rec["error"] = f"{call.path}: file not found."
            except OSError as exc:
                rec["error"] = f"{call.path}: cannot read the file ({exc.strerror or exc})."
            if "error" in rec:
                store.write_failed(call.call_id, {**rec, "finished": _now()})
                run.failed += 1
                log(_failure_line(call.call_id, rec["error"]))
                bar.update(1)
                continue
            key = call_key(sha, model_sha, settings)
            rec.update(key=key, content_sha256=sha)
            same_as.setdefault(sha, []).append(rec)
            if store.is_done(call.call_id, key):
                rec["status"] = DONE
                run.skipped += 1
                bar.set_postfix_str(_postfix(run, 0.0), refresh=False)
                bar.update(1)
            else:
                tasks.append(CallTask(call.call_id, str(call.path), key, str(model_path), model_sha, settings))

        if copies := [paths for paths in same_as.values() if len(paths) > 1]:
            log(f"ser batch: note: {_copies_text(copies, input_path)}")
        if unreachable is not None:
            if tasks:
                bar.close()
                raise unreachable
            log(f"ser batch: note: the Dask scheduler at {scheduler} does not answer, but every call was analysed "
                "before: nothing is left to run.")
        info = {"model": str(model_path), "model_sha256": model_sha, "channel_statement": settings.channel_statement(),
                "settings_text": _settings_text(settings), "input": str(input_path),
                "no_speech_hint": CHECK_NAMES if settings.channels == "split" else ""}
        extra = {"input": str(input_path), "model": str(model_path), "model_sha256": model_sha,
                 "settings": settings.to_dict(), "channel_statement": settings.channel_statement(),
                 "workers": None if scheduler else workers, "scheduler": scheduler,
                 "unsupported_format": [str(p) for p in unreadable]}
        t_work = time.perf_counter()
        in_progress = {t.call_id: t for t in tasks}  # calls of this run whose outcome is not back yet
        breaks: list[list[str]] = []  # the calls each worker death took down, analysed again
        if tasks:
            if scheduler:
                outcomes = _run_dask(tasks, scheduler)
            elif workers == 1 or len(tasks) == 1:
                outcomes = _run_in_process(tasks)
            else:
                outcomes = _run_pool(tasks, min(workers, len(tasks)), breaks=breaks)
            try:
                for out in outcomes:
                    rec = records[out.call_id]
                    try:
                        _record(store, out, rec, stamps[out.call_id], model_sha, settings)
                    except OutputPathError as exc:  # a full disk: nothing more can be kept, so the run stops
                        _close(outcomes)
                        raise OutputPathError(f"{exc} {_kept_text(run.analysed + run.skipped, store.root)}") from exc
                    for note in (out.summary or {}).get("notes") or []:  # clipped, very quiet ...: kept in its summary
                        log(f"ser batch: note: {note}")
                    if out.status == DONE:
                        run.analysed += 1
                        run.audio_s += out.duration_s or 0.0
                    else:
                        run.failed += 1
                        run.audio_s += out.analysed_until_s or 0.0  # what was analysed before a break
                        log(_failure_line(out.call_id, out.error or ""))
                    # Finished once recorded and counted: a stop while its files are written leaves it unfinished.
                    in_progress.pop(out.call_id, None)
                    bar.set_postfix_str(_postfix(run, time.perf_counter() - t_work), refresh=False)
                    bar.update(1)
            except KeyboardInterrupt as exc:  # Ctrl+C or SIGTERM: say what is kept and how to go on
                with contextlib.suppress(KeyboardInterrupt):  # a second stop, held while the workers stopped
                    _close(outcomes)
                bar.close()
                for call_id in in_progress:
                    records[call_id].update(status=NOT_ANALYSED, error=NOT_ANALYSED_TEXT)
                run.wall_s = time.perf_counter() - t_work
                written = _overview_when_stopped(store, run, calls, records, info, model_labels, extra)
                _report_interrupt(exc, run, list(in_progress), out_dir, log, written)
                raise
            finally:
                bar.close()
        else:
            bar.close()
        run.wall_s = time.perf_counter() - t_work
        if breaks:
            again = list(dict.fromkeys(c for calls_lost in breaks for c in calls_lost))
            log(f"ser batch: note: a worker process died {_times(len(breaks))} (a crash while decoding a malformed "
                "file, memory running out, or a kill). The calls it was analysing were run again, each in a worker "
                "of its own: " + ", ".join(again[:5]) + (f" and {len(again) - 5} more" if len(again) > 5 else "")
                + " (one whose worker died again is listed as failed).")

        run.calls = _final_records(store, calls, records)
        try:
            write_table(store.root, run.calls, model_labels)
            write_report(store.root, run.calls, info, store.timeline)
        except KeyboardInterrupt as exc:  # every call is back: only the table and report are missing
            _report_interrupt(exc, run, [], out_dir, log, written=None)  # (some of them may be new)
            raise
        except SERError as exc:  # a full disk: the calls' own results are kept, the overview is not
            raise OutputPathError(f"{exc} {_kept_text(run.analysed + run.skipped, store.root)}") from exc
        atomic_json(store.root / "batch.json", {
            "finished": _now(), **_batch_counts(run), "setup_s": round(t_work - t_start, 3), **extra,
            "worker_deaths": breaks})  # per death, the calls it took down (analysed again, one at a time)
        return run
    finally:
        store.release()  # (the operating system drops it too, however the process ends)


def _close(outcomes) -> None:
    """Stop the workers now, not when the outcomes' generator is collected."""
    close = getattr(outcomes, "close", None)
    if close is not None:
        close()


def _copies_text(copies: list[list[dict]], input_path) -> str:
    """The note on calls whose files are identical (a recording copied under another name): each is
    analysed and reported as a call of its own; calls named as the report names them."""
    shown = "; ".join(" = ".join(call_name(c, str(input_path)) for c in calls) for calls in copies[:3])
    more = f" and {len(copies) - 3} more" if len(copies) > 3 else ""
    return (f"{count_text(len(copies), 'recording')} {'is' if len(copies) == 1 else 'are'} in the input more than once, "
            f"as identical files: {shown}{more}. Each copy is analysed and reported as a call of its own; remove "
            "the copies that were made by mistake, or they count twice in the report.")


def _kept_text(kept: int, root: Path) -> str:
    """What a run that could not write its outputs (a full disk) keeps, and how to go on."""
    what = (f"The {count_text(kept, 'call')} finished so far {'is' if kept == 1 else 'are'} kept under {root / 'calls'}"
            if kept else "No call was finished")
    return (f"{what}; run the same command again once there is room: it skips finished calls and writes the "
            "table and the report.")


def _times(n: int) -> str:
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


def _batch_counts(run: BatchRun) -> dict:
    return {"total": run.total, "analysed": run.analysed, "skipped": run.skipped, "failed": run.failed,
            "audio_s": round(run.audio_s, 3), "wall_s": round(run.wall_s, 3),
            "hours_per_hour": round(run.hours_per_hour, 2)}


OVERVIEW_FILES = ("calls.csv", "calls.parquet", "report.html", "batch.json")


def _overview_when_stopped(store: BatchStore, run: BatchRun, calls: list[CallInput], records: dict[str, dict],
                           info: dict, model_labels: list[str], extra: dict) -> bool:
    """The table, the report and ``batch.json`` of a batch stopped part-way (Ctrl+C, SIGTERM): the
    calls analysed so far, in this run or before, and the others marked not analysed, so that what
    was done can be read at once. The next run writes them whole. They are made aside and put in
    place together, so that a second stop, or a full disk, leaves the four as they were (an earlier
    run's, which agree with each other) rather than a new table beside an old report. Whether they
    were put in place."""
    import shutil
    import signal
    import threading

    staging = store.root / f"{TMP_PREFIX}{os.getpid()}-overview"
    written = False
    try:
        run.calls = _final_records(store, calls, records)
        staging.mkdir(exist_ok=True)
        write_table(staging, run.calls, model_labels)
        stopped = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        write_report(staging, run.calls, {**info, "stopped": stopped}, store.timeline, path=staging / "report.html")
        atomic_json(staging / "batch.json", {"finished": None, "stopped": _now(), **_batch_counts(run),
                                             "not_analysed": sum(c["status"] == NOT_ANALYSED for c in run.calls),
                                             **extra})
        main = threading.current_thread() is threading.main_thread()
        held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM}) if main else None
        try:  # the four renames with no stop between them
            for name in OVERVIEW_FILES:
                os.replace(staging / name, store.root / name)
            written = True
        finally:
            if held is not None:
                signal.pthread_sigmask(signal.SIG_SETMASK, held)  # a stop asked for meanwhile comes now
        fsync_dir(store.root)
    except (KeyboardInterrupt, SERError, OSError):
        pass
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return written


def _report_interrupt(exc: KeyboardInterrupt, run: BatchRun, unfinished: list[str], out_dir, log,
                      written: bool | None) -> None:
    """One message for an interrupted batch: the calls finished so far are kept, which were not
    finished, whether the table and report of what was done were written (``written``; None: some
    of them may have been, nothing is said of them), and that running the same command again goes
    on from there."""
    from model.errors import Terminated

    word = "terminated" if isinstance(exc, Terminated) else "interrupted"
    names = ", ".join(unfinished[:3]) + (f" and {len(unfinished) - 3} more" if len(unfinished) > 3 else "")
    kept = (f"the {count_text(run.analysed, 'call')} finished in this run {'is' if run.analysed == 1 else 'are'} "
            f"kept in {out_dir}" if run.analysed else "no call finished in this run")
    earlier = written is False and any((Path(out_dir) / name).exists() for name in OVERVIEW_FILES)
    overview = ("The table (calls.csv, calls.parquet) and report.html there show what was analysed so far. "
                if written else "The table and report there are an earlier run's: they do not show this one. "
                if earlier else "")
    log(f"ser batch: {word}: {kept}" + (f"; not finished: {names}" if unfinished else "") + ". " + overview
        + "Run the same command again to go on: finished calls are skipped, the others analysed, and the table "
        "and report written " + ("again, whole." if written else "then."))
    exc.reported = True


def _record(store: BatchStore, out: CallOutcome, rec: dict, stamp: dict, model_sha: str,
            settings: BatchSettings) -> None:
    # Milliseconds, as the summaries give it (an MP3's length came out as 44.629002267573696).
    duration = round(out.duration_s, 3) if out.duration_s is not None else None
    rec.update(status=out.status, duration_s=duration)
    base = {**stamp, "call_id": out.call_id, "key": out.key, "content_sha256": rec.get("content_sha256"),
            "model_sha256": model_sha, "settings": settings.to_dict(), "worker": out.worker,
            "elapsed_s": out.elapsed_s, "finished": _now()}
    if out.status == DONE:
        store.write_done(out, {**base, "duration_s": duration})
    else:
        if out.analysed_until_s is not None:  # failed part-way: what was analysed is kept (write_failed)
            windows = sum(r.get("kind") == "window" for r in out.results)
            out.error += (f" The results of its first {out.analysed_until_s:.1f} s ({count_text(windows, 'window')}) are "
                          f"kept in {store.call_dir(out.call_id) / RESULTS}.")
        rec["error"] = out.error
        rec["partial"] = out.analysed_until_s is not None
        store.write_failed(out.call_id, {**base, "error": out.error, "detail": out.detail}, out)


def _final_records(store: BatchStore, calls: list[CallInput], records: dict[str, dict]) -> list[dict]:
    """Every call of this input, in input order, with its summary read back from disk (done ones, and
    failed ones that kept the results of the part analysed before the failure)."""
    out = []
    for call in calls:
        rec = dict(records[call.call_id])
        if rec["status"] == DONE:
            summ = store.summary(call.call_id)
            if summ is None:  # removed by hand since: report it rather than crash
                rec.update(status=FAILED, error="summary.json missing; run the batch again")
            else:
                rec.update(summary=summ, duration_s=summ.get("duration_s"))
        elif rec.pop("partial", False) and (summ := store.summary(call.call_id)) is not None:
            rec["summary"] = summ  # failed part-way: the table shows what was analysed (the error says how far)
        out.append(rec)
    return out


def _failure_line(call_id: str, error: str) -> str:
    """A failed call's line: its message, led by the call's id unless the message already names the
    file by it (a call from a list file has an id other than its path's end)."""
    named = error.split(": ", 1)[0].endswith(call_id)
    return f"ser batch: {error}" if named else f"ser batch: {call_id}: {error}"


def _settings_text(s: BatchSettings) -> str:
    chans = f"split ({','.join(s.names)})" if s.channels == "split" else "mix"
    engine = {k: v for k, v in s.engine_config().to_dict().items() if k != "crosstalk_db"}  # said below, if it applies
    text = f"{settings_text(engine)}, channels {chans}"
    if s.channels == "split":
        text += f", {crosstalk_text(s.crosstalk_db)}"
    return text


def _postfix(run: BatchRun, work_s: float) -> str:
    """Audio hours analysed so far and the speed in hours of audio per hour of wall time."""
    speed = run.audio_s / work_s if work_s > 0 else 0.0
    text = f"{run.audio_s / SECONDS_PER_HOUR:.2f} h audio, {speed:.0f} h/h"
    if run.skipped:
        text += f", {run.skipped} skipped"
    if run.failed:
        text += f", {run.failed} failed"
    return text


class _NoBar:
    def write(self, msg: str, file=None) -> None:
        print(msg, file=file or sys.stderr)

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int, enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="call", desc="ser batch", disable=None, dynamic_ncols=True,
                bar_format="{desc}: {n}/{total} calls {bar} [{elapsed}<{remaining}{postfix}]")
