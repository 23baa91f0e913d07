"""Crash-safe session store: one JSON-lines file, appended record by record.

Line 1 is the metadata record (source, model, settings, start time); then ``segment``, ``result``
and ``error`` records as they happen, and an ``end`` record when the session is closed. A replay
that seeks back and analyses a stretch again writes a ``restart`` record first: what the session
held from that time on is superseded by what follows, so the session and its exports hold each
stretch of audio once. Each record is
flushed to the operating system as it is written, so a crash or a kill of the program loses at most
the record being written. The file is also fsync-ed (put on the disk, against a power cut) at
errors, restarts and close, at each utterance result (the end of a segment; at most every
``SEGMENT_SYNC_GAP_S``: a file analysed faster than real time ends hundreds of segments a second,
and the engine would wait for the disk at each), at least every ``SYNC_INTERVAL_S`` while records
come, and whenever the engine waits for audio (:meth:`SessionStore.sync`), so that nothing
written stays off the disk while the speaker is silent. A truncated last line is ignored when reading back.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import errno
import json
import math
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from model.errors import OutputPathError
from model.files import atomic_json, atomic_writer
from model.times import time_text
from streamer.config import CROSSTALK_DB
from streamer.errors import CorruptSessionError, SessionError
from streamer.events import EngineError, SpeechSegment, WindowResult

FORMAT_NAME = "ser-session"
# 3: a result record holds every model output under "heads" (head -> {label or name: value});
# format 2 wrote the built-in heads as flat fields (probabilities, gender, valence ...) and format 1
# also said "vad_source" for "dimensions_source". All three are read.
FORMAT_VERSION = 3
SYNC_INTERVAL_S = 1.0
# The end record's "analysis": the recording was analysed to its end, or the analysis stopped early
# (its user stopped it, an error, Ctrl+C or a kill signal); "analysed_until_s" says how far it got.
# A session without an end record was killed before it could write one.
ANALYSIS_COMPLETE = "complete"
ANALYSIS_STOPPED = "stopped"
ANALYSIS_UNFINISHED = "unfinished"  # no end record (yet): a session still being written, or a killed run's
ANALYSIS_RUNNING = "running"  # a JSON export's state when its session was still being written
SEGMENT_SYNC_GAP_S = 0.1
# A writer whose file fails (a full disk) keeps the records it could not write in memory, up to this
# many bytes of them (20 minutes of speech with short pauses write 1.2 MB: about 17 hours of one
# voice), and writes them when it is closed if the disk has room by then; until then the session's
# exports include them (SessionStore.contents).
UNSAVED_MAX_BYTES = 64 * 1024 * 1024
CSV_FIXED_COLUMNS = ("track", "track_name", "kind", "start_s", "end_s", "top_label")
CSV_TAIL_COLUMNS = ("dimensions_source", "speech_ratio", "latency_ms", "uncertain", "paused_s", "settings")
PAUSE_KIND = "pause"  # the CSV's row for a live pause: where on the time axis (start_s = end_s), paused_s long
# The CSV's row for a change of analysis settings within a session (the app's settings changed while
# listening): where on the time axis the new settings apply from, and the new settings in words.
SETTINGS_KIND = "settings"
# The CSV's last row when a recording's analysis ended before the recording did (Ctrl+C, a kill, a
# file that breaks off): where on the time axis the results end (start_s = end_s), said in words in
# the last column, as a JSON export says it in its "analysis".
STOPPED_KIND = "stopped"
CSV_DECIMALS = 6  # microseconds for times, far finer than any output's meaning for the others


def now_iso() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds")


# The session files this process holds the writer's lock on, by (device, inode): this process's own
# answer does not depend on the file system's locks (on NFS, Linux emulates flock with POSIX locks,
# which any close of the file in the writing process drops).
_WRITING: set[tuple[int, int]] = set()
LOCK_TRIES = 50  # a reader's check holds a shared lock for a moment: the writer tries again
LOCK_RETRY_S = 0.002


def _lock_exclusive(f) -> bool | None:
    """Take an exclusive advisory lock on the open file ``f``, waiting out a reader's brief shared
    lock (:func:`being_written` takes one to ask): True once held, False when another holder keeps it,
    None where there are no such locks (Windows) or the file system refuses them."""
    try:
        import fcntl
    except ImportError:
        return None
    for _ in range(LOCK_TRIES):
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:  # a reader checking at this moment, or a writer
            time.sleep(LOCK_RETRY_S)
        except OSError:
            return None
    return False


def _lock_for_writing(f) -> None:
    """Hold an exclusive advisory lock on a session file while it is written, so that another
    program can tell a session being written from one whose writer was killed (the operating system
    drops the lock with the process, however it ends). Where there are no such locks (Windows), or
    the file system refuses them, nothing is held and :func:`being_written` answers None."""
    with contextlib.suppress(OSError):
        st = os.fstat(f.fileno())
        _WRITING.add((st.st_dev, st.st_ino))
    _lock_exclusive(f)


def _record_start(record: dict | str) -> float | None:
    """Where a record (or its JSON line) starts on the session's time axis, if it says."""
    if isinstance(record, str):
        try:
            record = json.loads(record)
        except ValueError:
            return None
    for key in ("start_s", "from_s", "at_s"):
        if isinstance(record.get(key), (int, float)):
            return float(record[key])
    return None


def _write_all(f, data: bytes) -> None:
    """Write ``data`` to the unbuffered file ``f`` whole (a write may take part of it)."""
    view = memoryview(data)
    while view:
        view = view[f.write(view):]


def _done_writing(f) -> None:
    """Before a session file written here is closed (which drops its lock): no longer this
    process's to answer for in :func:`being_written`."""
    with contextlib.suppress(OSError, ValueError):
        st = os.fstat(f.fileno())
        _WRITING.discard((st.st_dev, st.st_ino))


def being_written(path: str | os.PathLike) -> bool | None:
    """Whether a program (this one included) is writing this session file now: True or False where
    the writer's lock can be asked about, None where it cannot (no locks here, or the file cannot
    be opened)."""
    try:
        import fcntl
    except ImportError:
        return None
    try:
        st = os.stat(path)
        if (st.st_dev, st.st_ino) in _WRITING:
            return True
        with open(path, "rb") as f:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            except OSError:
                return None
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
            return False
    except OSError:
        return None


class SessionStore:
    """Append-only session file. Use :meth:`create` to write one and :meth:`open` to read one back."""

    def __init__(self, path: Path, metadata: dict, segments: list[SpeechSegment], results: list[WindowResult],
                 errors: list[str], ended: dict | None, keep_records: bool = True, file=None):
        self.path = path
        self.keep_records = keep_records  # writers of long sessions keep only the file, for flat memory
        self.metadata = metadata
        self.segments = segments
        self.results = results
        self.errors = errors
        self.salvaged: dict | None = None  # set by open(salvage=True) when a damaged line was left out
        self.ended = ended
        # Read from a JSON export made while its session was still being written (its analysis state
        # "running"): it has no end record because the session had none yet, not because it was killed.
        self.exported_running = False
        self._file = file  # a writer's open file (create), records appended as they happen; None read back
        self.writer = file is not None
        # A writer's file failed (a full disk): the records from that one on, as lines, wait here.
        self.failed = False
        self.failure: str | None = None  # what the last failure said
        self.failure_said = False  # said to the user (by the engine that met it, or the next one started)
        self._closing = False
        self.unsaved: list[str] = []
        self.unsaved_dropped = 0  # records beyond UNSAVED_MAX_BYTES, lost (all of them from the first on)
        self.dropped_from_s: float | None = None  # where the first record lost starts on the time axis
        self._unsaved_bytes = 0
        # The file's bytes up to the end of its last whole record (records are ASCII JSON lines): a
        # failed write may have left part of a line after them. Of them, those the last fsync put on
        # the disk, and the lines written since (an fsync that fails may have lost them: written again).
        self._good_bytes = 0
        self._synced_bytes = 0
        self._unsynced_lines: list[str] = []
        self._lock = threading.Lock()  # the engine's worker writes while a GUI may export
        self._last_sync = time.monotonic()
        self._renamed: list[str] | None = None  # the tracks' names given while it was written (rename_tracks)
        self._history: list[dict] = []  # a writer's analysis settings as they changed (_note_settings)

    # ------------------------------------------------------------------ create / open
    @classmethod
    def create(cls, path: str | os.PathLike, metadata: dict | None = None, overwrite: bool = False,
               keep_records: bool = False) -> SessionStore:
        """Start a new session file holding ``metadata`` (a JSON-serialisable dict).

        Records are written to the file only (memory stays flat over a day-long session) unless
        ``keep_records``; :meth:`export_csv` and :meth:`export_json` read the file back either way.
        """
        path = Path(path)
        existed = path.exists()
        if existed and not overwrite:
            raise SessionError(f"{path}: a session file already exists; choose another name or remove it.")
        meta = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "created": now_iso(), **(metadata or {})}
        f = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Unbuffered: a record is in the file or, after a failed write, cut off again (_write); a
            # buffer could put a failed record's rest in the file later, after others.
            f = open(path, "wb", buffering=0)  # locked before its first line: never seen unlocked
            _lock_for_writing(f)
            first = json.dumps({"type": "metadata", **meta}) + "\n"
            _write_all(f, first.encode("ascii"))
            os.fsync(f.fileno())
        except (OSError, TypeError, ValueError) as exc:
            if f is not None:
                _done_writing(f)
                with contextlib.suppress(OSError):
                    f.close()
            if not existed:  # not even its first record fitted (a full disk): no empty file left
                with contextlib.suppress(OSError):
                    path.unlink(missing_ok=True)
            full = isinstance(exc, OSError) and exc.errno == errno.ENOSPC
            raise SessionError(f"{path}: cannot create the session file ("
                               + ("the disk is full; free some space or" if full else f"{exc};") + " choose another "
                               "place).") from exc
        store = cls(path, meta, [], [], [], None, keep_records=keep_records, file=f)
        store._good_bytes = store._synced_bytes = len(first)
        _note_settings(store._history, meta, [], [])
        return store

    @classmethod
    def open(cls, path: str | os.PathLike, salvage: bool = False,
             unsaved: tuple[int, list[str]] | None = None) -> SessionStore:
        """Read a session back (read-only): exactly the records it holds; a torn last line is ignored.

        A damaged line anywhere else raises :class:`CorruptSessionError`, which says what precedes
        it; with ``salvage`` the session opens with the records before the damage, and
        :attr:`salvaged` describes what was left out. ``unsaved``: (bytes, lines) of a writer whose
        file failed: its first bytes, then the lines it kept in memory (:meth:`contents`)."""
        path = Path(path)
        try:
            if unsaved is None:
                text = path.read_text(encoding="utf-8", errors="replace")
            else:
                with open(path, "rb") as f:
                    text = f.read(unsaved[0]).decode("utf-8", errors="replace") + "".join(unsaved[1])
        except FileNotFoundError as exc:
            raise SessionError(f"{path}: session file not found.") from exc
        except OSError as exc:
            raise SessionError(f"{path}: cannot read the session file ({exc}).") from exc
        if text.lstrip().startswith("{") and (doc := _json_document(text)) is not None:
            return cls._from_document(path, doc)
        lines = text.split("\n")
        # Only a last line without its newline can be torn by a crash; every earlier line must parse.
        complete, tail = lines[:-1], lines[-1]
        records = []
        damage = None
        for i, line in enumerate(complete, 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                damage = (i, exc)
                break
        if damage is None and tail.strip():
            try:
                records.append(json.loads(tail))
            except json.JSONDecodeError:
                pass  # the record being written when the process died
        if not records or records[0].get("type") != "metadata":
            raise _not_a_session(path)
        meta = _checked_metadata(path, {k: v for k, v in records[0].items() if k != "type"})
        segments, results, errors, ended = [], [], [], None
        history: list[dict] = []
        _note_settings(history, meta, segments, results)
        for rec in records[1:]:
            kind = rec.get("type")
            if kind == "segment":
                segments.append(SpeechSegment.from_dict(rec))
            elif kind == "result":
                results.append(WindowResult.from_dict(rec))
            elif kind == "error":
                errors.append(rec.get("message", ""))
            elif kind == "restart":
                _supersede(segments, results, float(rec["from_s"]))
            elif kind == "pause":
                meta.setdefault("pauses", []).append({"at_s": float(rec["at_s"]), "paused_s": float(rec["paused_s"])})
            elif kind == "metadata-update":
                meta.update(_update_fields(meta, rec))
                _note_settings(history, rec, segments, results)
            elif kind == "end":
                ended = {k: v for k, v in rec.items() if k != "type"}
        if len(history) > 1:  # the analysis settings changed within the session (the app, live)
            meta["settings_history"] = history
        names = renamed_tracks(meta)
        if names is not None:  # its tracks renamed: the names hold for all of it
            segments, results = _with_names(segments, names), _with_names(results, names)
            if ended is not None and "track_names" in ended:  # renamed again since it ended
                ended["track_names"] = names
        store = cls(path, meta, segments, results, errors, ended)
        if damage is not None:
            # What opens is what precedes the damage after its restarts (a replay's seek-back drops
            # the results it supersedes), so the numbers below are those of the results kept.
            i, exc = damage
            lost = sum(1 for ln in lines[i - 1:] if ln.strip())
            until = max((r.end_s for r in results), default=0.0)
            if not salvage:
                raise CorruptSessionError(
                    f"{path}: line {i} is damaged ({exc.msg}); the session file was edited or damaged. The "
                    f"{len(results)} results before it (up to {until:.1f} s) can still be opened; the {lost} lines "
                    "from there on cannot.", i, len(results), until, lost)
            store.salvaged = {"damaged_line": i, "lines_left_out": lost, "results_kept": len(results),
                              "kept_until_s": until}
        return store

    @classmethod
    def _from_document(cls, path: Path, doc: dict) -> SessionStore:
        """A session exported as one JSON document (:func:`write_json`: ``ser analyze --format json``,
        the app's JSON export, ``ser batch``'s results.json), read back like the session it came from."""
        meta = _checked_metadata(path, doc.get("metadata"))
        try:
            segments = [SpeechSegment.from_dict(x) for x in doc.get("segments") or []]
            results = [WindowResult.from_dict(x) for x in doc.get("results") or []]
        except (KeyError, TypeError, ValueError) as exc:
            raise SessionError(f"{path}: a result or segment of this JSON export is damaged ({exc!r}).") from exc
        analysis = doc.get("analysis") if isinstance(doc.get("analysis"), dict) else {}
        ended = analysis.get("ended")
        if not isinstance(ended, dict) and analysis.get("state") in (ANALYSIS_COMPLETE, ANALYSIS_STOPPED):
            # ser batch's results.json before it wrote an end record: its state says how it ended
            ended = {"analysis": analysis["state"], "analysed_until_s": analysis.get("analysed_until_s")}
        store = cls(path, meta, segments, results, [str(e) for e in doc.get("errors") or []],
                    ended if isinstance(ended, dict) else None)
        store.exported_running = store.ended is None and analysis.get("state") == ANALYSIS_RUNNING
        return store

    # ------------------------------------------------------------------ writing
    def append(self, event) -> None:
        """Append a :class:`SpeechSegment`, :class:`WindowResult` or :class:`EngineError`; others are ignored."""
        if isinstance(event, SpeechSegment):
            self._write(event.record(), sync=False)  # its utterance result, or the engine when idle, syncs it
            self._keep(self.segments, event)
        elif isinstance(event, WindowResult):
            self._write(event.record(), sync=event.kind == "utterance", gap_s=SEGMENT_SYNC_GAP_S)
            self._keep(self.results, event)
        elif isinstance(event, EngineError):
            self._write(event.to_dict(), sync=True)
            self._keep(self.errors, event.message)

    def _keep(self, records: list, item) -> None:
        if self.keep_records:
            records.append(item)

    def restart(self, from_s: float) -> None:
        """Mark that the audio is analysed again from ``from_s`` seconds on (a replay seeking back):
        earlier records from that time on no longer count, here and when the file is read back."""
        self._write({"type": "restart", "from_s": float(from_s)}, sync=True)
        _supersede(self.segments, self.results, float(from_s))

    def note_pause(self, at_s: float, paused_s: float) -> None:
        """Live audio was not listened to for ``paused_s`` seconds at ``at_s`` on the session's time
        axis, which leaves pauses out (the results after it go on from ``at_s``). Read back as the
        metadata's ``pauses``, so the JSON export and the report carry them."""
        pause = {"at_s": round(float(at_s), 3), "paused_s": round(float(paused_s), 1)}
        self._write({"type": "pause", **pause}, sync=True)
        self.metadata.setdefault("pauses", []).append(pause)

    def update_metadata(self, **fields) -> None:
        """Add or replace metadata fields (e.g. the engine's settings once it starts); kept in the file."""
        self.metadata.update(_update_fields(self.metadata, fields))
        _note_settings(self._history, fields, self.segments, self.results)
        self._write({"type": "metadata-update", **fields}, sync=True)

    def rename_tracks(self, names: Iterable[str]) -> None:
        """Name the tracks ``names`` (track i is ``names[i]``; a track past them keeps its name): the
        app's lanes renamed while it listens or replays. The new names hold for the whole session, the
        records before the rename too: here, when the file is read back (:meth:`open`) and in every
        export. The end record repeats them, for lists that read only a session's last lines."""
        names = [str(n) for n in names]
        self._renamed = names
        self.segments[:] = _with_names(self.segments, names)
        self.results[:] = _with_names(self.results, names)
        self.update_metadata(**_rename_fields(names))

    def extend(self, events: Iterable) -> None:
        for e in events:
            self.append(e)

    def sync(self) -> None:
        """Put on the disk what was written since the last fsync, if anything (each record reaches the
        operating system as it is written): the engine calls this whenever it waits for audio, so
        that the last records never wait for the next."""
        with self._lock:
            if self._file is None or not self._unsynced_lines or self.failed:
                return
            try:
                os.fsync(self._file.fileno())
            except OSError as exc:
                raise self._fail(exc) from exc
            self._synced()

    @property
    def closed(self) -> bool:
        """A writer that was closed (no more records are taken)."""
        return self.writer and self._file is None

    def _synced(self) -> None:
        self._last_sync = time.monotonic()
        self._synced_bytes, self._unsynced_lines = self._good_bytes, []

    def _fail(self, exc: OSError, line: str | None = None) -> SessionError:
        """The file failed (a full disk): from now on records are kept in memory. The records written
        since the last fsync may not be on the disk (a failed write or fsync may drop them), so the
        file is cut back to what that fsync put there, and they are kept first, then ``line`` (the
        one that failed). Returns the error to raise."""
        self.failed = True
        lines, self._unsynced_lines = self._unsynced_lines, []
        self._good_bytes = self._synced_bytes
        for kept in [*lines, *([line] if line is not None else [])]:
            self._keep_unsaved(kept, start_s=_record_start(kept))
        with contextlib.suppress(OSError):  # no part of a record left after the last whole one
            os.truncate(self.path, self._good_bytes)
        self.failure = f"{self.path}: cannot write to the session file ({exc.strerror or exc}); is the disk full?"
        return SessionError(self.failure)

    def close(self, **info) -> None:
        """Write the ``end`` record (with ``info``, e.g. stats) and close the file. Safe to call twice,
        and from two threads at once (one of them writes the end)."""
        with self._lock:
            if self._file is None or self._closing:
                return
            self._closing = True
        self.ended = {"ended": now_iso(), **info}
        if self._renamed is not None:
            self.ended["track_names"] = self._renamed
        if len(self._history) > 1:  # settings changed within it: the tracks left out all along, for lists
            self.ended["tracks_left_out"] = sorted(skipped_tracks({"settings_history": self._history}))
        if self.unsaved_dropped:  # records were lost past the memory bound: the session is not whole
            until = min(float(info.get("analysed_until_s", math.inf)),
                        math.inf if self.dropped_from_s is None else self.dropped_from_s)
            self.ended.update(analysis=ANALYSIS_STOPPED, records_lost=self.unsaved_dropped)
            if math.isfinite(until):
                self.ended["analysed_until_s"] = round(until, 3)
        try:
            self._write({"type": "end", **self.ended}, sync=True, always=True)
            if self.failed:  # the records kept in memory, with the end record: written if there is room now
                self.write_unsaved()
        finally:  # closed even when the end record cannot be written (a full disk)
            with self._lock:
                if self._file is not None:
                    _done_writing(self._file)
                    with contextlib.suppress(OSError, ValueError):
                        self._file.close()
                    self._file = None

    def write_unsaved(self) -> None:
        """Write the records kept since the file failed after its last whole record, on a fresh
        handle (the failed one may hold part of a line); on failure again the file is cut back to its
        last whole record and the records stay in memory. Raises SessionError then."""
        with self._lock:
            if self._file is not None and not self._closing:  # its handle would write over what this writes
                raise RuntimeError("write_unsaved on a session still being written")
            try:
                with open(self.path, "r+b", buffering=0) as f:
                    f.truncate(self._good_bytes)
                    f.seek(self._good_bytes)
                    _write_all(f, "".join(self.unsaved).encode("ascii"))
                    os.fsync(f.fileno())
            except OSError as exc:
                with contextlib.suppress(OSError):
                    os.truncate(self.path, self._good_bytes)
                self.failure = (f"{self.path}: cannot write to the session file ({exc.strerror or exc}); is the disk "
                                f"full? It holds the results up to where writing failed; {len(self.unsaved)} records "
                                "after them could not be written.")
                raise SessionError(self.failure) from exc
            self._good_bytes += self._unsaved_bytes
            self.unsaved, self._unsaved_bytes, self.failed = [], 0, False
            self._synced()

    def _write(self, record: dict, sync: bool, gap_s: float = 0.0, always: bool = False) -> None:
        """Append one record; fsync when ``sync`` and the last fsync is at least ``gap_s`` old, or
        when it is older than ``SYNC_INTERVAL_S``. ``always``: kept in memory whatever the bound (the
        end record)."""
        with self._lock:
            if self._file is None:
                raise SessionError(f"{self.path}: the session is closed (or was opened read-only).")
            line = json.dumps(record) + "\n"
            if self.failed:  # said once, when it failed: kept in memory
                self._keep_unsaved(line, always, _record_start(record))
                return
            try:
                _write_all(self._file, line.encode("ascii"))  # json.dumps writes ASCII
            except OSError as exc:
                raise self._fail(exc, line) from exc
            self._good_bytes += len(line)
            self._unsynced_lines.append(line)
            since = time.monotonic() - self._last_sync
            if (sync and since >= gap_s) or since > SYNC_INTERVAL_S:
                try:
                    os.fsync(self._file.fileno())
                except OSError as exc:  # what was written since the last fsync may not be on the disk
                    raise self._fail(exc) from exc
                self._synced()

    def __enter__(self) -> SessionStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ export
    def export_csv(self, path: str | os.PathLike) -> Path:
        """The results as CSV (read back from the file, so a running session exports what it holds),
        with a column for every output of the model the session records, results or not."""
        store = self.contents()
        history = store.metadata.get("settings_history")
        changes = history[1:] if isinstance(history, list) else []
        return write_csv(path, store.results, model_heads(store.metadata), store.metadata.get("pauses") or [],
                         [c for c in changes if isinstance(c, dict)], store.stopped_row())

    def stopped_row(self) -> tuple[float, str] | None:
        """For a recording (a file source, whose length is known) whose analysis ended before it did,
        or has no end record (killed, or still running: its writer's lock says which): where its
        results end and what the CSV's row of kind ``stopped`` says of it. None when the analysis
        reached the end. A live session has no end to reach: its user's stop is its end, and the row
        is there only when something else ended it (:meth:`_live_ended_row`). A recording's session
        without its length (cut off before the engine's metadata, by a kill or a damaged disk) gets
        the row when it has no end record, without the length."""
        if is_live(self.metadata):
            return self._live_ended_row()
        source = (self.metadata.get("engine") or {}).get("source") or {}
        total = source.get("duration_s")
        known = isinstance(total, (int, float))
        if not known and self.ended is not None:  # an early format's end record, without the length
            return None
        state = analysis_state(self.ended, self.segments, self.results)
        if state["state"] == ANALYSIS_COMPLETE:
            return None
        until = self._until(state)
        at = f"{time_text(until)} of {time_text(total)}" if known else time_text(until)
        if state["state"] == ANALYSIS_STOPPED:
            return until, f"the analysis stopped at {at}: the recording after it is not analysed"
        if self.exported_running:
            return until, f"the analysis was still running when the JSON export this comes from was made: results up to {at}"
        writing = None if self.path is None else being_written(self.path)
        if writing:  # exported from a session still being written (a running analysis, the app's replay)
            return until, f"the analysis was still running when this was written: results up to {at} so far"
        if writing is None:
            return until, (f"the analysis had not finished when this was written (still running, or killed): results "
                           f"up to {at}")
        return until, (f"the analysis did not finish (the run was killed or crashed) at {at}: the recording after it "
                       "is not analysed")

    def _until(self, state: dict) -> float:
        """How far the analysis got (:func:`analysis_state`'s), or, from an end record of an early
        format without it, where the results end."""
        until = state["analysed_until_s"]
        return float(until) if isinstance(until, (int, float)) else results_end(self.segments, self.results)

    def _live_ended_row(self) -> tuple[float, str] | None:
        """The CSV's row of kind ``stopped`` for a live session that its user did not stop: ended by an
        error (the microphone lost: the end record's ``ended_by``), or without an end record (still
        listening, or the program killed while it listened, or a full disk that kept the end record
        off it), said as ``ser session`` and the app say them."""
        until = self._until(analysis_state(self.ended, self.segments, self.results))
        if self.ended is not None:
            how = live_ending(self.ended.get("ended_by"))
            return None if how is None else (until, f"listening ended {how} at {time_text(until)}")
        if self.exported_running:
            return until, (f"the session was still being written (listening) when the JSON export this comes from was "
                           f"made: its results up to {time_text(until)}")
        writing = None if self.path is None else being_written(self.path)
        if writing:
            return until, (f"the session was still being written (listening) when this was exported: its results so "
                           f"far, up to {time_text(until)}")
        return until, (f"the session has no end record ({'still being written, or ' if writing is None else ''}the "
                       f"program was killed or crashed while it listened, or the disk filled up): its results go up to "
                       f"{time_text(until)}")

    def export_json(self, path: str | os.PathLike) -> Path:
        """Metadata, segments, results and errors as one JSON document (read back from the file; a
        session still being written says "running")."""
        store = self.contents()
        analysis = analysis_state(store.ended, store.segments, store.results)
        # Its writer's export, a reader's of a file a program is writing now (the app's File > Export
        # reads its own session back), or an export of such an export.
        if self._file is not None or store.exported_running or (
                store.ended is None and store.path is not None and being_written(store.path) is True):
            analysis["state"] = ANALYSIS_RUNNING
        return write_json(path, store.metadata, store.segments, store.results, store.errors, analysis)

    def _keep_unsaved(self, line: str, always: bool = False, start_s=None) -> None:
        """Keep a record the file could not take. Past UNSAVED_MAX_BYTES every later record is lost (a
        hole in the middle would misstate the session), but for ``always`` ones (the end record)."""
        if not always and (self.unsaved_dropped or self._unsaved_bytes + len(line) > UNSAVED_MAX_BYTES):
            # Records do not come in time order (a segment and its utterance after its windows, tracks
            # in turn): the session holds what precedes the earliest one lost.
            if start_s is not None:
                self.dropped_from_s = start_s if self.dropped_from_s is None else min(self.dropped_from_s, start_s)
            self.unsaved_dropped += 1
            return
        self.unsaved.append(line)
        self._unsaved_bytes += len(line)

    def contents(self) -> SessionStore:
        """What the session holds, read-only: a writer's file read back (with the records it keeps
        in memory since the file failed), else this store."""
        if not self.writer:
            return self
        if not self.failed:
            if self._file is not None:
                self.sync()
            return SessionStore.open(self.path)
        with self._lock:
            kept = (self._good_bytes, list(self.unsaved))
        return SessionStore.open(self.path, unsaved=kept)


def skipped_tracks(metadata: dict) -> set[int]:
    """The tracks a session showed but did not analyse (the agent's channel): those its writer
    recorded (the app; ``ser batch`` calls once opened, see the app's engine bridge) and those the
    engine left out (``ser analyze --names``; the app's view of a device with more channels). When
    the settings changed within the session (the app's "analyse the agent's channel too" turned on
    or off while listening), only the tracks left out under every one of them: a track analysed for
    part of the session has results, and its report and lane show them."""
    settings = (metadata.get("engine") or {}).get("settings") or {}
    history = metadata.get("settings_history")
    if isinstance(history, list) and len(history) > 1:
        sets = [{int(t) for t in ((h.get("settings") or {}).get("skip_tracks") or [])}
                for h in history if isinstance(h, dict)]
        skipped = set.intersection(*sets) if sets else set()
    elif isinstance(metadata.get("tracks_left_out"), list):  # what its end record says (lists read no more)
        skipped = {int(t) for t in metadata["tracks_left_out"]}
    else:
        skipped = {int(t) for t in [*(metadata.get("skip_tracks") or []), *(settings.get("skip_tracks") or [])]}
    return {t for t in skipped if t >= 0}


def renamed_tracks(metadata: dict) -> list[str] | None:
    """The names a session's tracks were given after it started (:meth:`SessionStore.rename_tracks`,
    :func:`rename_session_tracks`), or None."""
    names = metadata.get("track_names")
    if not metadata.get("tracks_renamed") or not isinstance(names, list):
        return None
    return [str(n) for n in names]


def _with_names(items: list, names: list[str]) -> list:
    """Segments or results with each track's name from ``names`` (a track past them keeps its own)."""
    return [replace(x, track_name=names[x.track]) if 0 <= x.track < len(names) and x.track_name != names[x.track]
            else x for x in items]


def _rename_fields(names: list[str]) -> dict:
    """The metadata fields of a rename (read back by :func:`renamed_tracks`)."""
    return {"track_names": names, "tracks_renamed": True}


def _is_rename(record) -> bool:
    """A record of a rename alone (rename_session_tracks, SessionStore.rename_tracks)."""
    return (isinstance(record, dict) and record.get("type") == "metadata-update" and bool(record.get("tracks_renamed"))
            and set(record) <= {"type", *_rename_fields([])})


def _tail(f, end: int) -> tuple[int, bytes]:
    """The file's last bytes from a line's start: (offset, bytes), at least one whole line before a
    last line without its newline where the file has one (read back in growing pieces)."""
    size = 65536
    while True:
        at = max(0, end - size)
        f.seek(at)
        data = f.read(end - at)
        body = data[:-1] if data.endswith(b"\n") else data
        cut = body.find(b"\n")  # the first newline after a partial line read into the piece
        if at == 0:
            return 0, data
        if cut >= 0 and body.count(b"\n") >= 2:
            return at + cut + 1, data[cut + 1:]
        size *= 4


def rename_session_tracks(path: str | os.PathLike, names: Iterable[str]) -> None:
    """Name the tracks of a saved session file ``names``, as :meth:`SessionStore.rename_tracks` does
    while one is written: a record after its last one (in place of the last one when that is a
    rename too, so that renames do not push the end record out of what lists read). A killed
    writer's torn last line, which readers leave out, is cut first; a last record that lacks only
    its newline is kept. Raises :class:`SessionError` when the file cannot take it: another program
    is writing it (or, where that cannot be asked, the file has no end record), it is a JSON export
    (one document, not records) or it cannot be written."""
    path = Path(path)
    names = [str(n) for n in names]
    busy = SessionError(f"{path}: another program is writing this session; rename its tracks once it is done.")
    writing = being_written(path)
    if writing:
        raise busy
    try:
        with open(path, "r+b", buffering=0) as f:
            try:
                head = json.loads(f.readline())
            except ValueError:
                head = None
            if not isinstance(head, dict) or head.get("type") != "metadata":
                raise SessionError(f"{path}: not a session file the analyzer writes record by record (a JSON "
                                   "export, perhaps): its track names cannot be changed in it.")
            locked = _lock_exclusive(f) if writing is not None else None
            if locked is False:
                raise busy
            end = f.seek(0, os.SEEK_END)
            at, data = _tail(f, end)
            lines = data.split(b"\n")
            torn = lines.pop()  # after the last newline: nothing, a torn record or a record without its newline
            records: list[tuple[int, object]] = []  # (offset, record) of the whole lines, in order
            offset = at
            for raw in lines:
                try:
                    records.append((offset, json.loads(raw)))
                except ValueError:
                    records.append((offset, None))
                offset += len(raw) + 1
            write_at, prefix = end, b""
            if torn.strip():
                try:
                    records.append((offset, json.loads(torn)))
                    prefix = b"\n"  # whole but for its newline: kept
                except ValueError:
                    write_at = offset  # torn: cut
            if not locked:  # nobody to ask whether it is written now: only a session that ended
                last = next((r for _, r in reversed(records) if not _is_rename(r)), None)
                if not (isinstance(last, dict) and last.get("type") == "end"):
                    raise SessionError(f"{path}: cannot tell whether another program is writing this session (no "
                                       "file locks here) and it has no end record; rename its tracks once it is done.")
            if records and _is_rename(records[-1][1]) and not prefix:
                write_at = records[-1][0]  # the last rename's record gives way to this one
            f.truncate(write_at)
            f.seek(write_at)
            line = json.dumps({"type": "metadata-update", **_rename_fields(names)}) + "\n"
            _write_all(f, prefix + line.encode("ascii"))
            os.fsync(f.fileno())
    except FileNotFoundError as exc:
        raise SessionError(f"{path}: session file not found; the new track names are not saved.") from exc
    except OSError as exc:
        raise SessionError(f"{path}: cannot write to the session file ({exc.strerror or exc}); the new track "
                           "names are not saved.") from exc


def _not_a_session(path: Path) -> SessionError:
    """The error for a file that is not a session, saying what to do with what it is."""
    from model.audio import AUDIO_SUFFIXES, UNSUPPORTED_AUDIO_SUFFIXES

    ending = Path(path).suffix.lower()
    if ending in AUDIO_SUFFIXES | UNSUPPORTED_AUDIO_SUFFIXES:
        return SessionError(f"{path}: a recording, not a session file. Open it as a recording to analyse it "
                            "(Open file in the app, `ser gui --replay FILE`, or `ser analyze FILE`).")
    if ending == ".csv":
        return SessionError(f"{path}: a CSV export, which cannot be opened again. Open the session it came from "
                            "(.jsonl) or a JSON export (.json) instead; `ser analyze --format json` (or the default "
                            ".jsonl) writes one.")
    return SessionError(f"{path}: not a session file of this program. Open a session (.jsonl), a JSON export "
                        "(.json) or a call's results.json from `ser batch`.")


def _checked_metadata(path: Path, meta) -> dict:
    """A session's metadata record (or a JSON export's), refused unless this program wrote it in a
    format it reads."""
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise _not_a_session(path)
    if int(meta.get("format_version", 1)) > FORMAT_VERSION:
        raise SessionError(f"{path}: written by a newer version of this program (session format "
                           f"{meta.get('format_version')}); update the program to read it.")
    return dict(meta)


def _json_document(text: str) -> dict | None:
    """``text`` as one JSON object with results and metadata (an export), or None (a session's lines)."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        return None
    return doc if isinstance(doc, dict) and "metadata" in doc and "results" in doc else None


HEAD_LINES = 3  # a session's metadata record and the engine's metadata update come first
TAIL_BYTES = 8192
SNIFF_BYTES = 65536  # read of a file to tell whether it is a session (its metadata record fits)


def is_session_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a session file (its first line the metadata record): ``ser analyze`` tells
    one given to it in place of audio (a journal a killed run left) from a file it cannot decode."""
    try:
        with open(path, "rb") as f:
            first = f.read(SNIFF_BYTES).split(b"\n", 1)[0]
        record = json.loads(first)
    except (OSError, ValueError):
        return False
    return isinstance(record, dict) and record.get("type") == "metadata"


def session_head_tail(path: Path) -> tuple[list[dict], list[dict]]:
    """The first records of a session file and those of its last few KB (the end record, the last
    results): what lists and matches sessions without reading them whole."""
    head, tail = [], []
    with open(path, "rb") as f:
        for _ in range(HEAD_LINES):
            line = f.readline()
            if not line:
                break
            try:
                head.append(json.loads(line))
            except ValueError:
                break
        f.seek(0, 2)
        f.seek(max(0, f.tell() - TAIL_BYTES))
        for line in f.read().decode("utf-8", "replace").splitlines()[1:]:
            try:
                tail.append(json.loads(line))
            except ValueError:
                continue
    return head, tail


def end_record(tail: list[dict]) -> dict | None:
    """A session's end record among the last records :func:`session_head_tail` read, or None (the
    run writing it was killed, or is still writing)."""
    return next((r for r in reversed(tail) if r.get("type") == "end"), None)


def session_complete(tail: list[dict]) -> bool:
    end = end_record(tail)
    return end is not None and end.get("analysis") == ANALYSIS_COMPLETE


def _update_fields(metadata: dict, update: dict) -> dict:
    """The fields a metadata update changes: all but its type, and ``started`` only the first time
    (the engine writes it at each start; a session started when it was first started)."""
    return {k: v for k, v in update.items() if k != "type" and not (k == "started" and "started" in metadata)}


def _supersede(segments: list[SpeechSegment], results: list[WindowResult], from_s: float) -> None:
    """Drop, in place, the segments and results that start at or after ``from_s``."""
    segments[:] = [x for x in segments if x.start_s < from_s]
    results[:] = [x for x in results if x.start_s < from_s]


# How a head's outputs are named in CSV columns: the built-in heads keep the names they always had
# (p_happy, gender_female, valence); any other head's columns are HEAD_NAME.
CSV_HEAD_PREFIX = {"emotion": "p_", "gender": "gender_", "dimensions": ""}


def csv_column(head: str, name: str) -> str:
    return CSV_HEAD_PREFIX.get(head, f"{head}_") + name


def csv_values(row: list) -> list:
    """A CSV row's values with floats to CSV_DECIMALS places: 7.3245, not 7.3245000000000005."""
    return [round(v, CSV_DECIMALS) if isinstance(v, float) else v for v in row]


def model_heads(metadata: dict) -> dict[str, list[str]]:
    """The outputs of the model a session's metadata records, by head (classes, or regression
    values), in the model's order; empty if it records none."""
    heads: dict[str, list[str]] = {}
    model = (metadata.get("engine") or {}).get("model") or {}
    for head in model.get("heads") or []:
        if isinstance(head, dict) and isinstance(head.get("name"), str):
            outputs = head.get("labels") or head.get("names") or []
            heads[head["name"]] = [str(n) for n in outputs]
    return heads


def write_csv(path: str | os.PathLike, results: list[WindowResult],
              heads: dict[str, list[str]] | None = None, pauses: list[dict] = (),
              settings_changes: list[dict] = (), stopped: tuple[float, str] | None = None) -> Path:
    """One row per result: times, top label, then every head's outputs (each class's probability,
    each regression value), then where V/A/D come from, speech ratio, latency and the uncertain flag.
    ``heads`` (the model's outputs, :func:`model_heads`) gives the columns even when there are no
    results, so every file made with one model has the same header; outputs the results hold
    beyond them follow, in the order first seen. A live session's ``pauses`` (its metadata's
    ``{at_s, paused_s}``) are rows of kind "pause" among the results, at their place on the time
    axis (which leaves them out), with their length in the column ``paused_s``; ``settings_changes``
    (its ``settings_history`` after the first: ``{from_s, settings}``) rows of kind "settings" where
    the new settings apply from, with them in words in the last column; ``stopped`` (where the
    analysis of a recording stopped before its end, and that in words: :meth:`SessionStore.stopped_row`)
    the last row, of kind "stopped", with the words in the last column."""
    path = Path(path)
    heads = {h: list(names) for h, names in (heads or {}).items()}  # head -> its outputs
    for r in results:
        for head, values in r.heads.items():
            names = heads.setdefault(head, [])
            names += [n for n in values if n not in names]
    columns = [(head, name) for head, names in heads.items() for name in names]
    header = [*CSV_FIXED_COLUMNS, *(csv_column(h, n) for h, n in columns), *CSV_TAIL_COLUMNS]
    marks = sorted([(float(p["at_s"]), 0, _mark_row(PAUSE_KIND, float(p["at_s"]), len(columns), paused_s=float(p["paused_s"])))
                    for p in pauses] +
                   [(float(c.get("from_s") or 0.0), 1,
                     _mark_row(SETTINGS_KIND, float(c.get("from_s") or 0.0), len(columns),
                               settings=_change_text(c.get("settings") or {})))
                    for c in settings_changes], key=lambda m: m[:2])
    try:
        with atomic_writer(path, newline="") as f:  # all or nothing: a kill while writing leaves no half file
            w = csv.writer(f)
            w.writerow(header)
            for r in results:
                while marks and marks[0][0] <= r.start_s:
                    w.writerow(marks.pop(0)[2])
                w.writerow(csv_values([r.track, r.track_name, r.kind, r.start_s, r.end_s, r.top_label,
                                       *(r.heads.get(h, {}).get(n, "") for h, n in columns),
                                       r.dimensions_source, r.speech_ratio, r.latency_ms, int(r.uncertain), "", ""]))
            for mark in marks:
                w.writerow(mark[2])
            if stopped is not None:
                w.writerow(_mark_row(STOPPED_KIND, round(stopped[0], CSV_DECIMALS), len(columns), settings=stopped[1]))
    except OutputPathError as exc:
        raise export_failure(path, "CSV export", exc) from exc
    return path


def _change_text(settings: dict) -> str:
    """A change of settings in a CSV row: the analysis settings, speaker adaptation and the tracks
    left out (any of them may be what changed)."""
    text = settings_text(settings)
    if isinstance(settings.get("speaker_adaptation"), bool):
        text += f", speaker adaptation {'on' if settings['speaker_adaptation'] else 'off'}"
    if not isinstance(settings.get("skip_tracks"), list):  # not recorded (sessions from before it was)
        return text
    skip = [str(t) for t in settings["skip_tracks"]]
    left_out = f"track {skip[0]}" if len(skip) == 1 else f"tracks {', '.join(skip)}"
    return text + (f", {left_out} not analysed" if skip else ", every track analysed")


def _mark_row(kind: str, at_s: float, n_outputs: int, paused_s: float | str = "", settings: str = "") -> list:
    """A row that is not a result (a live pause, a change of settings, where an analysis stopped): no
    track, no outputs, the time on the axis twice, then a pause's length, or the words in the last column."""
    return csv_values(["", "", kind, at_s, at_s, "", *[""] * n_outputs, "", "", "", "", paused_s, settings])


# The engine settings that change what the results are (model/inference, streamer/pipeline), and
# which channels are analysed.
ANALYSIS_SETTINGS = ("window_s", "hop_s", "vad_aggressiveness", "speaker_adaptation", "skip_tracks")


def _note_settings(history: list[dict], fields: dict, segments: list, results: list) -> None:
    """Add to ``history`` the engine's analysis settings in ``fields`` (a metadata record) when they
    differ from the last ones, with the time they apply from: where the engine started again (its
    source's ``start_s``: the app's live analysis restarts at the playhead with new settings, in the
    same session), else where the results so far end."""
    engine = fields.get("engine") if isinstance(fields.get("engine"), dict) else {}
    settings = engine.get("settings")
    if not isinstance(settings, dict):
        return
    now = {k: settings.get(k) for k in ANALYSIS_SETTINGS}
    if history and history[-1]["settings"] == now:
        return
    restart = (engine.get("source") or {}).get("start_s")
    if not history:
        start = 0.0
    elif isinstance(restart, (int, float)) and not isinstance(restart, bool):
        start = float(restart)
    else:
        start = results_end(segments, results)
    history.append({"from_s": round(float(start), 3), "settings": now})


def is_live(metadata: dict) -> bool:
    """Whether a session is of live audio (a microphone), which leaves no recording to play."""
    source = (metadata.get("engine") or {}).get("source") if isinstance(metadata.get("engine"), dict) else None
    return metadata.get("source") == "microphone" or (isinstance(source, dict) and source.get("kind") == "MicrophoneSource")


def settings_text(settings: dict) -> str:
    """A session's analysis settings in words: "window 2.0 s, hop 0.5 s, VAD 2", and the crosstalk
    gate's setting when it is not the default (sessions written before the gate record none)."""
    text = (f"window {settings.get('window_s', '?')} s, hop {settings.get('hop_s', '?')} s, "
            f"VAD {settings.get('vad_aggressiveness', '?')}")
    if "crosstalk_db" in settings and settings["crosstalk_db"] != CROSSTALK_DB:
        text += f", {crosstalk_text(settings['crosstalk_db'])}"
    return text


def crosstalk_text(db: float | None) -> str:
    """The crosstalk gate's setting in words (``EngineConfig.crosstalk_db``)."""
    return "crosstalk gate off" if db is None else f"crosstalk gate at {db:g} dB"


def export_failure(path, what: str, exc: OutputPathError) -> SessionError:
    """The error for an export (``what``: "CSV export", "HTML report" ...) that could not be written:
    the system's reason, without the temporary file's name, and what to do about it."""
    cause = exc.__cause__
    reason = cause.strerror if isinstance(cause, OSError) and cause.strerror else str(cause or exc)
    code = cause.errno if isinstance(cause, OSError) else None
    advice = {errno.ENOSPC: "free some space, or choose another folder",
              errno.ENOENT: "the folder does not exist; choose an existing one"}.get(code, "choose another folder for it")
    return SessionError(f"{path}: cannot write the {what} ({reason}); {advice}.")


def results_end(segments: list[SpeechSegment], results: list[WindowResult]) -> float:
    """Where a session's last speech segment or result ends (0 without any)."""
    return max([x.end_s for x in segments] + [x.end_s for x in results], default=0.0)


# What the app records as a live session's end (``ended_by``) when its engine stopped without saying why
# (and what it recorded before these words, which sessions of that time keep).
LIVE_ENDED_UNREPORTED = "The live audio ended with no error reported."
_UNREPORTED = (LIVE_ENDED_UNREPORTED, "The live analysis stopped by itself.")


def ended_unreported(ended_by: object) -> bool:
    """A live session's ``ended_by`` says its engine stopped with no error reported."""
    return isinstance(ended_by, str) and ended_by.strip() in _UNREPORTED


def live_ending(ended_by: object) -> str | None:
    """How a live session that its user did not stop ended, from its end record's ``ended_by``, as the
    CSV, ``ser session`` and the batch report say it after "listening ended": "on an error (WHAT)",
    or "by itself, with no error reported" when the engine said nothing. None when there is no
    such record (its user stopped it)."""
    if not isinstance(ended_by, str) or not ended_by.strip():
        return None
    if ended_unreported(ended_by):
        return "by itself, with no error reported"
    return f"on an error ({ended_by.strip().rstrip('.')})"


def analysis_state(ended: dict | None, segments: list[SpeechSegment], results: list[WindowResult]) -> dict:
    """How far a session's analysis got: ``state`` "complete", "stopped", or "unfinished" (no end
    record: still running, or killed), ``analysed_until_s`` (from the end record; without one,
    where its last segment or result ends), and ``ended`` (the end record, or None)."""
    if ended is None:
        until = results_end(segments, results)
        return {"state": ANALYSIS_UNFINISHED, "analysed_until_s": until, "ended": None}
    state = ended.get("analysis", ANALYSIS_STOPPED)  # files from before this field: not known complete
    return {"state": state, "analysed_until_s": ended.get("analysed_until_s"), "ended": ended}


def write_json(path: str | os.PathLike, metadata: dict, segments: list[SpeechSegment], results: list[WindowResult],
               errors: list[str] | None = None, analysis: dict | None = None) -> Path:
    """The whole session as one JSON document; ``analysis``: how far it got (:func:`analysis_state`)."""
    path = Path(path)
    doc = {"metadata": metadata, **({"analysis": analysis} if analysis is not None else {}),
           "segments": [s.to_dict() for s in segments],
           "results": [r.to_dict() for r in results], "errors": list(errors or [])}
    try:
        atomic_json(path, doc, allow_nan=True)
    except OutputPathError as exc:
        raise export_failure(path, "JSON export", exc) from exc
    return path


def export_csv(session_path: str | os.PathLike, out_path: str | os.PathLike) -> Path:
    """Export a session file's results to CSV."""
    return SessionStore.open(session_path).export_csv(out_path)


def export_json(session_path: str | os.PathLike, out_path: str | os.PathLike) -> Path:
    """Export a whole session file (metadata, segments, results, errors) to one JSON document."""
    return SessionStore.open(session_path).export_json(out_path)
