"""The output folder of a batch, written so that nothing half-written is ever taken for done.

Layout under ``OUT``::

    calls/<call_id>/results.json   segments and results (the ``ser analyze --format json`` document)
    calls/<call_id>/summary.json   per-speaker summary
    calls/<call_id>/timeline.png   the call's timeline plot
    calls/<call_id>/done.json      written last: the key the call was analysed with
    calls/<call_id>/failed.json    instead of done.json when the call failed (retried on the next run);
                                   a call that failed part-way (a truncated or damaged file) keeps
                                   its results up to there in results.json, marked as stopped, and
                                   their summary in summary.json
    calls.csv, calls.parquet, report.html, batch.json

Every file is written to a temporary name in the same folder, flushed to disk and renamed into
place; the done-marker is renamed last. A crash leaves at worst temporary files and outputs without a
marker, which a rerun ignores and replaces.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from pathlib import Path

from model import files
from model.errors import OutputPathError
from model.files import TMP_PREFIX, check_output_dir, fsync_dir, json_bytes
from streamer.errors import SessionError
from streamer.session import ANALYSIS_COMPLETE, ANALYSIS_STOPPED

CALLS_DIR = "calls"
LOCK_FILE = ".ser-batch.lock"  # held by the run writing the folder (BatchStore.hold)
RESULTS, SUMMARY, TIMELINE, DONE_MARKER, FAILED_MARKER = (
    "results.json", "summary.json", "timeline.png", "done.json", "failed.json")
def _documents(outcome, state: str, until: float | None, errors: list[str]) -> dict[str, bytes]:
    """A call's results.json (the ``ser analyze --format json`` document, its analysis ended in
    ``state`` at ``until``) and summary.json."""
    ended = {"analysis": state, "analysed_until_s": until}
    return {RESULTS: json_bytes({"metadata": outcome.metadata, "analysis": {"state": state, "analysed_until_s": until,
                                                                            "ended": ended},
                                 "segments": outcome.segments, "results": outcome.results, "errors": errors}),
            SUMMARY: json_bytes({"call_id": outcome.call_id, **outcome.summary})}


def read_json(path: Path):
    """A JSON file, or None when it is missing or unreadable (e.g. damaged by hand)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


class BatchStore:
    """Reads and writes the per-call outputs of one output folder."""

    def __init__(self, out_dir: str | os.PathLike):
        try:
            self.root = check_output_dir(out_dir, "batch's results (--out)")  # "~" expanded
            (self.root / CALLS_DIR).mkdir(parents=True, exist_ok=True)
        except OutputPathError as exc:
            raise SessionError(str(exc)) from None
        except OSError as exc:
            raise SessionError(f"{self.root / CALLS_DIR}: cannot create it ({exc.strerror or exc}); choose another "
                               "place for the batch's results (--out).") from exc

    def hold(self) -> None:
        """Hold the output folder for this run: another ``ser batch`` writing to it now is refused
        (two runs on one folder both analysed every call and both wrote the table and report). An
        advisory lock on ``LOCK_FILE`` in it, which the operating system drops with the process however
        it ends; :meth:`release` drops it sooner. Where there are no such locks (Windows, or a file
        system that refuses them), nothing is held, and two runs are not kept apart."""
        try:
            import fcntl
        except ImportError:
            return
        try:
            f = open(self.root / LOCK_FILE, "a+b")  # noqa: SIM115 - held open for the run
        except PermissionError:  # another user's lock file: reading it is enough to lock it
            try:
                f = open(self.root / LOCK_FILE, "rb")  # noqa: SIM115
            except OSError:
                return
        except OSError:
            return  # a folder that takes no new file fails at its first output, in its own words
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            raise SessionError(f"{self.root}: another ser batch is writing its results there now; wait for it to "
                               "end, or give this one another --out.") from None
        except OSError:  # a file system without locks
            f.close()
            return
        self._held = f
        # Held: no other run writes here now, so the temporary files a killed run left beside the table
        # and report (e.g. .tmp-PID-calls.csv, killed while it was written) are its leftovers.
        for p in self.root.glob(f"{TMP_PREFIX}*"):
            with contextlib.suppress(OSError):
                if p.is_dir():  # a stopped batch's overview, made aside (runner._overview_when_stopped)
                    shutil.rmtree(p)
                else:
                    p.unlink()

    def release(self) -> None:
        if (f := getattr(self, "_held", None)) is not None:
            f.close()
            self._held = None

    def call_dir(self, call_id: str) -> Path:
        return self.root / CALLS_DIR / call_id

    def done_record(self, call_id: str) -> dict | None:
        """The done-marker of a call if it is complete: marker readable and every output present
        and intact (the SHA-256 the marker recorded for it; markers of older versions, without
        them, need outputs that parse)."""
        d = self.call_dir(call_id)
        rec = read_json(d / DONE_MARKER)
        if not isinstance(rec, dict) or "key" not in rec:
            return None
        if not all((d / name).is_file() for name in (RESULTS, SUMMARY, TIMELINE)):
            return None
        digests = rec.get("outputs")
        if isinstance(digests, dict):
            for name in (RESULTS, SUMMARY, TIMELINE):
                try:
                    if hashlib.sha256((d / name).read_bytes()).hexdigest() != digests.get(name):
                        return None
                except OSError:
                    return None
        elif not all(isinstance(read_json(d / name), dict) for name in (RESULTS, SUMMARY)):
            return None
        return rec

    def is_done(self, call_id: str, key: str) -> bool:
        rec = self.done_record(call_id)
        return rec is not None and rec["key"] == key

    def clean_call(self, call_id: str) -> None:
        """Remove a call's old marker and leftover temporary files before it is analysed again."""
        d = self.call_dir(call_id)
        if not d.is_dir():
            return
        for p in d.iterdir():
            if p.name.startswith(TMP_PREFIX) or p.name in (DONE_MARKER, FAILED_MARKER):
                with contextlib.suppress(OSError):
                    p.unlink()

    def write_done(self, outcome, marker: dict) -> None:
        """Write a finished call's outputs, then its done-marker last."""
        d = self.call_dir(outcome.call_id)
        d.mkdir(parents=True, exist_ok=True)
        self.clean_call(outcome.call_id)
        # a call is done only when analysed to its end (else it failed)
        outputs = {**_documents(outcome, ANALYSIS_COMPLETE, outcome.duration_s, []),
                   TIMELINE: outcome.timeline_png or b""}
        for name, data in outputs.items():
            files.atomic_write(d / name, data)
        fsync_dir(d)
        # Last, the marker, with each output's SHA-256: a rerun redoes a call whose outputs were
        # damaged or replaced since.
        files.atomic_json(d / DONE_MARKER, {**marker, "outputs": {n: hashlib.sha256(b).hexdigest() for n, b in outputs.items()}})
        fsync_dir(d)

    def write_failed(self, call_id: str, record: dict, outcome=None) -> None:
        """Write a failed call's record. Outputs of an earlier run go (they would not match the file
        as it is now); an ``outcome`` that failed part-way (``analysed_until_s`` set) leaves its
        segments and results up to there in results.json, with the analysis marked as stopped there
        (the app opens it like a session that stopped), and the record says so."""
        d = self.call_dir(call_id)
        d.mkdir(parents=True, exist_ok=True)
        self.clean_call(call_id)
        for name in (RESULTS, SUMMARY, TIMELINE):
            with contextlib.suppress(FileNotFoundError):
                (d / name).unlink()
        until = getattr(outcome, "analysed_until_s", None)
        if until is not None:
            for name, data in _documents(outcome, ANALYSIS_STOPPED, until, [outcome.error]).items():
                files.atomic_write(d / name, data)
            if outcome.timeline_png:  # the timeline of the part analysed
                files.atomic_write(d / TIMELINE, outcome.timeline_png)
            record = {**record, "partial_results": RESULTS, "partial_summary": SUMMARY, "analysed_until_s": until}
        files.atomic_json(d / FAILED_MARKER, record)
        fsync_dir(d)

    def failed_record(self, call_id: str) -> dict | None:
        rec = read_json(self.call_dir(call_id) / FAILED_MARKER)
        return rec if isinstance(rec, dict) else None

    def summary(self, call_id: str) -> dict | None:
        return read_json(self.call_dir(call_id) / SUMMARY)

    def timeline(self, call_id: str) -> bytes:
        try:
            return (self.call_dir(call_id) / TIMELINE).read_bytes()
        except OSError:
            return b""
