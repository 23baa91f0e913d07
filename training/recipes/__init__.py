"""Corpus recipes: one module per corpus that turns a corpus folder into manifest entries."""

from __future__ import annotations

import os

from model.errors import SERError
from training.manifest import ManifestEntry, Skipped

CORPORA = ("ravdess", "ravdess-song", "iemocap", "emodb", "baved")
# Cross-corpus development sets: for evaluation only, never training data of a shipped model.
EVALUATION_ONLY = ("emodb", "baved")
LICENCES = {
    "ravdess": "CC BY-NC-SA 4.0",
    "ravdess-song": "CC BY-NC-SA 4.0",
    "iemocap": "IEMOCAP licence (USC SAIL; research use, no redistribution)",
    "emodb": "not verified (evaluation only)",
    "baved": "none stated by its authors (evaluation only)",
}


def load_corpus(name: str, root: str | os.PathLike, speakers: set[int] | None = None,
                label_set: str | None = None) -> tuple[list[ManifestEntry], list[Skipped]]:
    """Entries and skipped items of corpus ``name`` under ``root``."""
    if name in ("ravdess", "ravdess-song"):
        from training.recipes import ravdess

        channels = ("song",) if name == "ravdess-song" else ("speech",)
        return ravdess.build_manifest(root, vocal_channels=channels, speakers=speakers, corpus=name)
    if name == "iemocap":
        from training.recipes import iemocap

        entries, skipped = iemocap.build_manifest(root, label_set=label_set or "4class")
        return entries, skipped
    if name in EVALUATION_ONLY:
        import importlib

        entries, skipped = importlib.import_module(f"training.recipes.{name}").build_manifest(root)
        if speakers is not None:
            entries = [e for e in entries if int(e.speaker) in speakers]
        return entries, skipped
    raise SERError(f"unknown corpus {name!r}; choose one of {', '.join(CORPORA)}.")
