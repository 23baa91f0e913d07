"""The calls of a batch: every audio file under a folder, or the files named in a list file."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from streamer.errors import ConfigError

# Suffixes taken from a folder; a list file may name any file (it is then tried and, if bad, recorded).
AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif", ".au", ".w64",
                            ".caf", ".rf64"})
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class CallInput:
    """One recording: ``call_id`` names its output folder and is stable across reruns."""

    call_id: str
    path: Path


def _safe_id(rel: str) -> str:
    parts = [_UNSAFE.sub("_", p).strip("._") or "_" for p in Path(rel).parts]
    return "__".join(parts)


def discover(input_path: str | os.PathLike) -> list[CallInput]:
    """Calls from a folder (audio files found recursively) or a list file (one path per line).

    Call ids are the path relative to the folder (or to the list file's folder), made filename-safe, so
    moving the whole folder keeps them and reruns find their results.

    Raises:
        ConfigError: The input does not exist, holds no audio files, or a listed path is repeated.
    """
    root = Path(input_path)
    if root.is_dir():
        base = root
        paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
        if not paths:
            raise ConfigError(f"{root}: no audio files found (looked for {', '.join(sorted(AUDIO_SUFFIXES))}).")
    elif root.is_file():
        base = root.parent
        paths = []
        for line in root.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                p = Path(line).expanduser()
                paths.append(p if p.is_absolute() else base / p)
        if not paths:
            raise ConfigError(f"{root}: the list file names no audio files.")
    else:
        raise ConfigError(f"{root}: no such folder or list file.")
    calls, seen_paths, seen_ids = [], set(), set()
    for p in paths:
        resolved = p.resolve()
        if resolved in seen_paths:
            raise ConfigError(f"{p}: listed twice.")
        seen_paths.add(resolved)
        try:
            rel = str(p.relative_to(base))
        except ValueError:
            rel = str(resolved).lstrip(os.sep)
        call_id = cid = _safe_id(rel)
        n = 2
        while cid in seen_ids:  # two names that differ only in unsafe characters
            cid = f"{call_id}-{n}"
            n += 1
        seen_ids.add(cid)
        calls.append(CallInput(cid, p))
    return calls
