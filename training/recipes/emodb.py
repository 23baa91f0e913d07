"""EmoDB recipe (Berlin Database of Emotional Speech): a folder of its files -> manifest entries.

A cross-corpus development set: evaluation only, never training data for a shipped model (its
licence terms are not verified). File names follow the corpus, e.g. ``03a01Fa``: characters 1-2 the
speaker, 3-5 the sentence, 6 the emotion letter (German), 7 the version. Boredom (``L``) has no
RAVDESS counterpart: its files are kept with no emotion label, so they still count for gender.
"""

from __future__ import annotations

import os
from pathlib import Path

from model.errors import SERError
from training.manifest import ManifestEntry, Skipped
from training.recipes.common import scan_corpus

CORPUS = "emodb"
EMOTION_LETTERS = {
    "W": "angry",  # Ärger
    "L": None,  # Langeweile (boredom): no canonical label
    "E": "disgust",  # Ekel
    "A": "fearful",  # Angst
    "F": "happy",  # Freude
    "T": "sad",  # Trauer
    "N": "neutral",
}
MALE_SPEAKERS = {"03", "10", "11", "12", "15"}
FEMALE_SPEAKERS = {"08", "09", "13", "14", "16"}


def parse_name(stem: str) -> dict:
    """Speaker, sentence, emotion and gender of an EmoDB file name; ValueError if it is not one."""
    if len(stem) != 7 or not stem[:2].isdigit() or stem[5] not in EMOTION_LETTERS:
        raise ValueError("file name is not of the form SSaNNEv (speaker, sentence, emotion letter, version)")
    speaker = stem[:2]
    if speaker not in MALE_SPEAKERS | FEMALE_SPEAKERS:
        raise ValueError(f"speaker {speaker} is not one of the corpus's ten speakers")
    return {"speaker": speaker, "sentence": stem[2:5], "label": EMOTION_LETTERS[stem[5]],
            "emotion_letter": stem[5], "gender": "male" if speaker in MALE_SPEAKERS else "female"}


def build_manifest(root: str | os.PathLike) -> tuple[list[ManifestEntry], list[Skipped]]:
    root = Path(root).expanduser()
    if not root.is_dir():
        raise SERError(f"{root}: EmoDB folder not found. Pass the folder that holds its audio files (03a01Fa.wav ...).")
    def entry(path: Path, fields: dict, duration: float) -> ManifestEntry:
        return ManifestEntry(path=str(path.resolve()), corpus=CORPUS, speaker=fields["speaker"], gender=fields["gender"],
                             label=fields["label"], duration_s=duration, utterance_id=path.stem)

    return scan_corpus(root, parse_name, "an EmoDB", entry)
