"""The calls of a batch: every audio file under a folder, or the files named in a list file."""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from model.audio import AUDIO_SUFFIXES, UNSUPPORTED_AUDIO_SUFFIXES
from model.files import fitted_name
from streamer.errors import ConfigError
from streamer.summary import count_text

# A folder's files with an audio ending are its calls (model.audio.AUDIO_SUFFIXES); a list file may name
# any file (it is then tried and, if bad, recorded).

# Kept in call ids: letters, digits and combining marks of any script (Devanagari vowel signs ...),
# "_", "." and "-"; each run of anything else becomes "_".
_UNSAFE_RUN = re.compile("\0+")


@dataclass(frozen=True)
class CallInput:
    """One recording: ``call_id`` names its output folder, the same in every run (see _call_ids)."""

    call_id: str
    path: Path


def _safe_part(name: str) -> str:
    kept = "".join(ch if ch.isalnum() or ch in "._-" or unicodedata.category(ch).startswith("M") else "\0"
                   for ch in unicodedata.normalize("NFC", name))
    return _UNSAFE_RUN.sub("_", kept).strip("._") or "_"


def _safe_id(rel: str) -> str:
    return "__".join(_safe_part(p) for p in Path(rel).parts)


def _call_ids(rels: list[str]) -> list[str]:
    """Call ids of the calls at these relative paths. A path whose id is itself (folders joined by
    ``__``) keeps it; a path whose id replaces characters (spaces, punctuation, a name in decomposed
    Unicode) always gets a suffix made from its own path, so two names that give one id never share
    a folder and adding files does not move a call. Two rare clashes get the suffix on both sides,
    and so move a call that was there first: ids that differ only in case (one folder on a Windows
    or macOS disk), and a file named like a subfolder's file joined with ``__``."""
    joined = ["__".join(Path(rel).parts) for rel in rels]
    ids = [_safe_id(rel) for rel in rels]
    kept = [j == cid for j, cid in zip(joined, ids)]
    count = Counter(cid.casefold() for cid, k in zip(ids, kept) if k)

    def suffix(rel: str) -> str:  # from the path as it is: composed and decomposed names differ
        return hashlib.sha256(Path(rel).as_posix().encode("utf-8", "surrogateescape")).hexdigest()[:8]

    # A folder's name has at most 255 bytes: a longer id (deep folders, long names, and scripts of two
    # or three bytes a character) keeps its start and the suffix from its own path (fitted_name).
    return [fitted_name(cid if k and count[cid.casefold()] == 1 else f"{cid}-{suffix(rel)}", tag=suffix(rel))
            for rel, cid, k in zip(rels, ids, kept)]


def _hidden(path: Path, root: Path) -> bool:
    """A file or folder under ``root`` whose name starts with a dot: hidden, as file managers hide it
    (macOS writes "._NAME" companions of each file on foreign disks, which are not recordings)."""
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _files(root: Path, suffixes) -> list[Path]:
    """Files under the folder ``root`` with one of ``suffixes`` (any case), hidden ones left out."""
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in suffixes and not _hidden(p, root) and p.is_file())


def unsupported_files(input_path: str | os.PathLike) -> list[Path]:
    """Audio files in a folder that are in a format this program cannot read (``.m4a`` ...)."""
    root = Path(input_path)
    if not root.is_dir():
        return []
    return _files(root, UNSUPPORTED_AUDIO_SUFFIXES)


def _unsupported_note(root: Path) -> str:
    found = unsupported_files(root)
    if not found:
        return ""
    return (f" It holds {count_text(len(found), 'file')} in formats this program does not read (e.g. {found[0].name}): "
            "convert them to WAV or FLAC first, e.g. with ffmpeg -i IN.m4a OUT.wav.")


def discover(input_path: str | os.PathLike, notes: list[str] | None = None) -> list[CallInput]:
    """Calls from a folder (audio files found recursively) or a list file (one path per line).

    Call ids are the path relative to the folder (or to the list file's folder), made filename-safe, so
    moving the whole folder keeps them and reruns find their results. A file a folder holds under
    two names (a link) is one call, under its first name in sorted order; ``notes`` gets a line
    saying so.

    Raises:
        ConfigError: The input does not exist, holds no audio files, or a list file names a file twice.
    """
    root = Path(input_path)
    if root.is_dir():
        base = root
        audio = [p for p in root.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES]  # one walk of the tree
        paths = sorted(p for p in audio if not _hidden(p, root) and p.is_file())  # as _files gives them
        hidden = sorted(p for p in audio if _hidden(p, root))
        broken = sorted(p for p in audio if not _hidden(p, root) and p.is_symlink() and not p.exists())
        broken_note = (f"{count_text(len(broken), 'link')} to a file that is not there "
                       f"({', '.join(str(p.relative_to(root)) for p in broken[:3])}{' ...' if len(broken) > 3 else ''}) "
                       "not analysed." if broken else "")
        hidden_note = (f"{count_text(len(hidden), 'hidden file')} (names starting with a dot, e.g. "
                       f"{hidden[0].relative_to(root)}) not analysed: a file manager hides them, and macOS writes "
                       "\"._NAME\" companions that are not recordings. Move or rename a recording to analyse it." if hidden else "")
        if not paths:
            raise ConfigError(f"{root}: no audio files found (looked for {', '.join(sorted(AUDIO_SUFFIXES))})."
                              + _unsupported_note(root) + (f" {hidden_note}" if hidden else "")
                              + (f" {broken_note}" if broken else ""))
        if notes is not None:
            notes.extend(n for n in (hidden_note, broken_note) if n)
    elif root.is_file():
        base = root.parent
        if root.suffix.lower() in AUDIO_SUFFIXES | UNSUPPORTED_AUDIO_SUFFIXES:
            raise ConfigError(f"{root}: is an audio file. ser batch takes a folder of recordings or a text file "
                              "listing them, one path per line; for a single file use ser analyze.")
        try:
            text = root.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{root}: is not a text file. ser batch takes a folder of recordings or a text file "
                              "listing them, one path per line.") from exc
        paths = []
        for line in text.splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                p = Path(line).expanduser()
                paths.append(p if p.is_absolute() else base / p)
        if not paths:
            raise ConfigError(f"{root}: the list file names no audio files.")
        if not any(p.exists() for p in paths):  # most likely not a list of recordings at all
            said = (f"the one path it names does not exist ({paths[0]})" if len(paths) == 1 else
                    f"none of the {len(paths)} paths it names exists (the first: {paths[0]})")
            raise ConfigError(f"{root}: {said}. ser batch takes a folder of recordings or a text file listing "
                              "them, one path per line (relative to the list file's folder).")
    else:
        raise ConfigError(f"{root}: no such folder or list file.")
    first: dict[object, Path] = {}
    kept, rels = [], []
    for p in paths:
        resolved = p.resolve()
        try:  # the file itself: a symbolic or a hard link to one already listed is the same call
            st = p.stat()
            same = (st.st_dev, st.st_ino)
        except OSError:  # missing: reported when it is analysed
            same = resolved
        if same in first:  # a line given twice, or a link: the call is analysed once
            if notes is not None:
                if root.is_dir():
                    how = f"{p} is the same file as {first[same]} (a link)"
                else:
                    how = (f"{root}: names {p} twice" if p == first[same] else
                           f"{root}: names the same file twice ({first[same]} and {p})")
                notes.append(f"{how}: analysed once, as {first[same].name}.")
            continue
        first[same] = p
        kept.append(p)
        try:
            rels.append(str(p.relative_to(base)))
        except ValueError:
            rels.append(str(resolved).lstrip(os.sep))
    return [CallInput(cid, p) for cid, p in zip(_call_ids(rels), kept)]
