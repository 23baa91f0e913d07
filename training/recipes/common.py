"""Helpers shared by the corpus recipes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import soundfile as sf

from training.manifest import ManifestEntry, Skipped

AUDIO_SUFFIXES = (".wav", ".flac")


def audio_duration(path: Path) -> tuple[float, str | None]:
    """(duration in seconds, None), or (0.0, why the file cannot be used)."""
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        return 0.0, f"unreadable audio: {exc}"
    if info.frames == 0:
        return 0.0, "empty audio file"
    return round(info.frames / info.samplerate, 4), None


def scan_corpus(root: Path, parse_name: Callable[[str], dict], what: str,
                make_entry: Callable[[Path, dict, float], ManifestEntry],
                keep: Callable[[dict], bool] | None = None) -> tuple[list[ManifestEntry], list[Skipped]]:
    """Every audio file under ``root`` (sorted by path) whose name ``parse_name`` accepts, that
    ``keep`` wants (from its name alone, before the audio is read) and whose audio is readable, made
    into an entry by ``make_entry``; files with strange names or unreadable audio are reported as
    skipped, naming ``what`` they are not."""
    entries: list[ManifestEntry] = []
    skipped: list[Skipped] = []
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() not in AUDIO_SUFFIXES or not path.is_file():
            continue
        try:
            fields = parse_name(path.stem)
        except ValueError as exc:
            skipped.append(Skipped(str(path), f"not {what} file name: {exc}"))
            continue
        if keep is not None and not keep(fields):
            continue
        duration, problem = audio_duration(path)
        if problem:
            skipped.append(Skipped(str(path), problem))
            continue
        entries.append(make_entry(path, fields, duration))
    return entries, skipped
