"""RAVDESS recipe: a corpus folder -> manifest entries.

Accepts the original download (``Actor_NN/*.wav``, 48 kHz, 24 actors; speech and song in
separate or merged folders) and the 16 kHz FLAC copy. Labels, intensity, statement, repetition,
actor and gender come from the file name ``MM-VC-EE-II-SS-RR-AA``.
"""

from __future__ import annotations

import os
from pathlib import Path

from model.labels import RAVDESS_LABELS, derived_dimensions
from training.manifest import ManifestEntry, Skipped
from training.recipes.common import scan_corpus

CORPUS = "ravdess"
LICENCE = "CC BY-NC-SA 4.0"
EMOTION_CODES = {f"{i + 1:02d}": label for i, label in enumerate(RAVDESS_LABELS)}
INTENSITY_CODES = {"01": "normal", "02": "strong"}
VOCAL_CHANNEL_CODES = {"01": "speech", "02": "song"}
AUDIO_ONLY_MODALITY = "03"


def parse_name(stem: str) -> dict:
    """Fields of a RAVDESS file name; raises ValueError when the name does not follow the scheme."""
    parts = stem.split("-")
    if len(parts) != 7 or not all(len(p) == 2 and p.isdigit() for p in parts):
        raise ValueError("file name is not of the form MM-VC-EE-II-SS-RR-AA")
    modality, channel, emotion, intensity, statement, repetition, actor = parts
    if modality != AUDIO_ONLY_MODALITY:
        raise ValueError(f"modality {modality} is not audio-only (03)")
    if channel not in VOCAL_CHANNEL_CODES or emotion not in EMOTION_CODES or intensity not in INTENSITY_CODES:
        raise ValueError("unknown vocal channel, emotion or intensity code")
    actor_n = int(actor)
    if not 1 <= actor_n <= 24:
        raise ValueError(f"actor {actor} outside 01-24")
    return {
        "vocal_channel": VOCAL_CHANNEL_CODES[channel],
        "label": EMOTION_CODES[emotion],
        "intensity": INTENSITY_CODES[intensity],
        "statement": statement,
        "repetition": repetition,
        "actor": actor_n,
        "gender": "male" if actor_n % 2 == 1 else "female",
    }


def build_manifest(root: str | os.PathLike, vocal_channels: tuple[str, ...] = ("speech",),
                   speakers: set[int] | None = None, corpus: str = CORPUS) -> tuple[list[ManifestEntry], list[Skipped]]:
    """Scan ``root`` for RAVDESS audio. Returns the entries (sorted by path) and what was skipped."""
    root = Path(root).expanduser()
    if not root.is_dir():
        from model.errors import SERError

        raise SERError(f"{root}: RAVDESS folder not found. Pass the folder that holds the Actor_NN folders.")
    def wanted(fields: dict) -> bool:
        return fields["vocal_channel"] in vocal_channels and (speakers is None or fields["actor"] in speakers)

    def entry(path: Path, fields: dict, duration: float) -> ManifestEntry:
        v, a, d = derived_dimensions(fields["label"], fields["intensity"])
        return ManifestEntry(
            path=str(path.resolve()), corpus=corpus, speaker=f"{fields['actor']:02d}", gender=fields["gender"],
            label=fields["label"], duration_s=duration, utterance_id=path.stem,
            intensity=fields["intensity"], valence=v, arousal=a, dominance=d,
            dimensions_source="derived-from-category", vocal_channel=fields["vocal_channel"],
        )

    return scan_corpus(root, parse_name, "a RAVDESS audio", entry, keep=wanted)
