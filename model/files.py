"""Writing files so that a reader never sees half of one: the one atomic writer of the product,
and the checks that an output path can be written before the work that fills it starts.

Content goes to a temporary file beside the target (``.tmp-PID-NAME``), is flushed to disk, and
replaces the target in one rename. A kill, a crash or a full disk leaves the old file (or none),
never a torn one. Session journals, which must keep every line written before a kill, are
append-only files instead (streamer/session.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from model.errors import OutputPathError

TMP_PREFIX = ".tmp-"  # temporary files of unfinished writes start with this
NAME_MAX_BYTES = 255  # a file or folder name's length in bytes, at most, on Linux's and macOS's file systems


def fitted_name(name: str, tail: str = "", tag: str | None = None) -> str:
    """``name`` then ``tail``, or, when that would be longer than a file name can be, as much of the
    start of ``name`` as fits with a suffix: ``tag``, or one made from the whole name (the same every
    time)."""
    whole = f"{name}{tail}"
    if len(whole.encode("utf-8", "surrogateescape")) <= NAME_MAX_BYTES:
        return whole
    tag = tag or hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    room = NAME_MAX_BYTES - len(f"-{tag}{tail}".encode("utf-8", "surrogateescape"))
    start = name.encode("utf-8", "surrogateescape")[:room].decode("utf-8", "ignore")
    return f"{start}-{tag}{tail}"


def temporary_path(path: Path) -> Path:
    return path.with_name(fitted_name(f"{TMP_PREFIX}{os.getpid()}-{path.name}"))


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike, binary: bool = False, newline: str | None = None) -> Iterator[IO]:
    """A file handle whose content appears at ``path`` only when the ``with`` block completes.

    Raises :class:`OutputPathError` naming the file when it cannot be written."""
    path = Path(path)
    tmp = temporary_path(path)
    try:
        with (open(tmp, "wb") if binary else open(tmp, "w", encoding="utf-8", newline=newline)) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputPathError(f"{path}: cannot write ({exc.strerror or exc}); is the disk full, or the folder "
                              "not writable?") from exc
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def atomic_write(path: str | os.PathLike, data: bytes | str) -> Path:
    """``data`` (bytes, or text as UTF-8) at ``path``, all or nothing."""
    with atomic_writer(path, binary=True) as f:
        f.write(data.encode("utf-8") if isinstance(data, str) else data)
    return Path(path)


def json_bytes(doc, indent: int = 1, allow_nan: bool = False) -> bytes:
    return json.dumps(doc, indent=indent, allow_nan=allow_nan).encode("utf-8")


def atomic_json(path: str | os.PathLike, doc, indent: int = 1, allow_nan: bool = False) -> Path:
    """``doc`` as indented JSON at ``path``, all or nothing. Strict JSON unless ``allow_nan``
    (training reports may hold NaN for a metric a fold cannot measure)."""
    return atomic_write(path, json_bytes(doc, indent, allow_nan))


def fsync_dir(path: str | os.PathLike) -> None:
    """Make the renames in folder ``path`` durable (a power cut must not undo them)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Ctrl+C or SIGTERM during the block takes effect at its end, as it would have at once: files
    that belong together (a model file and the graphs of its export) are all written, or none of
    them is touched. Outside the main thread (where signals are not handled) it does nothing."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        handler = signal.getsignal(sig)
        if handler not in (signal.SIG_IGN, None):
            previous[sig] = handler
            signal.signal(sig, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if received:  # once, to the handler it would have met
            signal.raise_signal(received[0])


def check_output_file(path, what: str = "output file"):
    """``path`` as a :class:`pathlib.Path` once it is clear that a file can be written there: not a
    folder, in a folder that exists or can be made, and writable. Checked before the work that
    produces the file starts, so a long run does not end in a failure to save its result."""
    p = Path(path).expanduser()
    if p.is_dir():
        raise OutputPathError(f"{p}: is a folder; give a file name for the {what}.")
    parent = p.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputPathError(f"{parent}: is a file, not a folder; choose another place for the {what}.") from None
    except OSError as exc:
        raise OutputPathError(f"{p}: cannot create its folder ({exc.strerror}); choose another place for the "
                              f"{what}.") from None
    if (p.exists() and not os.access(p, os.W_OK)) or not _can_create_in(parent):
        raise OutputPathError(f"{p}: not writable here; choose another place for the {what}.")
    return p


def _can_create_in(folder) -> bool:
    """Whether a file can be created in ``folder`` (tried, not guessed from permission bits: root,
    read-only mounts and special file systems answer differently)."""
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".ser-write-check-"):
            return True
    except OSError:
        return False


def check_output_dir(path, what: str = "output folder"):
    """``path`` as a :class:`pathlib.Path`, made if needed, once it is clear files can be written in it."""
    p = Path(path).expanduser()
    if p.exists() and not p.is_dir():
        raise OutputPathError(f"{p}: is a file; give a folder for the {what}.")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputPathError(f"{p}: cannot create it ({exc.strerror}); choose another place for the {what}.") from None
    if not _can_create_in(p):
        raise OutputPathError(f"{p}: not writable; choose another place for the {what}.")
    return p


HASH_CHUNK_BYTES = 1 << 20


def file_sha256(path: str | os.PathLike) -> str:
    """Content hash of a file, read in chunks (bounded memory for any size)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(HASH_CHUNK_BYTES):
            h.update(chunk)
    return h.hexdigest()
