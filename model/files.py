"""Writing files so that a reader never sees half of one: the one atomic writer of the product.

Content goes to a temporary file beside the target (``.tmp-PID-NAME``), is flushed to disk, and
replaces the target in one rename. A kill, a crash or a full disk leaves the old file (or none),
never a torn one. Session journals, which must keep every line written before a kill, are
append-only files instead (streamer/session.py).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from model.errors import OutputPathError

TMP_PREFIX = ".tmp-"  # temporary files of unfinished writes start with this


def temporary_path(path: Path) -> Path:
    return path.with_name(f"{TMP_PREFIX}{os.getpid()}-{path.name}")


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
