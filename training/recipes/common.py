"""Helpers shared by the corpus recipes."""

from __future__ import annotations

from pathlib import Path

import soundfile as sf


def audio_duration(path: Path) -> tuple[float, str | None]:
    """(duration in seconds, None), or (0.0, why the file cannot be used)."""
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        return 0.0, f"unreadable audio: {exc}"
    if info.frames == 0:
        return 0.0, "empty audio file"
    return round(info.frames / info.samplerate, 4), None
