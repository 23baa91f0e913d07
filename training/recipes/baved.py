"""BAVED recipe (Basic Arabic Vocal Emotions Dataset): a folder of its files -> manifest entries.

A cross-corpus development set: evaluation only, never training data for a shipped model (no
licence is stated by its authors). Speakers say single Arabic words at three levels of expressed
emotion; the level is not a category, so entries carry no emotion label but ``emotion_level``
(0 low, 1 neutral, 2 high), compared with the model's arousal by rank correlation. File names:
``speaker-gender-age-word-level-id``, e.g. ``12-m-21-3-2-480``.
"""

from __future__ import annotations

import os
from pathlib import Path

from model.errors import SERError
from training.manifest import ManifestEntry, Skipped
from training.recipes.common import scan_corpus

CORPUS = "baved"
GENDERS = {"m": "male", "f": "female"}
LEVELS = {"0": 0, "1": 1, "2": 2}  # low (tired, down), neutral, high emotion


def parse_name(stem: str) -> dict:
    """Speaker, gender, word and emotion level of a BAVED file name; ValueError if it is not one."""
    parts = stem.split("-")
    if len(parts) != 6 or not parts[0].isdigit() or parts[1] not in GENDERS or parts[4] not in LEVELS:
        raise ValueError("file name is not of the form speaker-gender-age-word-level-id")
    return {"speaker": parts[0], "gender": GENDERS[parts[1]], "word": parts[3], "level": LEVELS[parts[4]]}


def build_manifest(root: str | os.PathLike) -> tuple[list[ManifestEntry], list[Skipped]]:
    root = Path(root).expanduser()
    if not root.is_dir():
        raise SERError(f"{root}: BAVED folder not found. Pass the folder that holds its audio files (12-m-21-3-2-480.wav ...).")
    def entry(path: Path, fields: dict, duration: float) -> ManifestEntry:
        return ManifestEntry(path=str(path.resolve()), corpus=CORPUS, speaker=fields["speaker"], gender=fields["gender"],
                             label=None, duration_s=duration, utterance_id=path.stem, emotion_level=fields["level"])

    return scan_corpus(root, parse_name, "a BAVED", entry)
