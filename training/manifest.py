"""Manifests: one JSON object per line describing one utterance of a corpus.

Recipes write them, training and evaluation read them. Paths are absolute so a manifest can be
used from any working directory.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

from model.files import atomic_writer


@dataclass
class ManifestEntry:
    """One utterance. Dimensional values are in [0, 1] or None when the corpus has none."""

    path: str
    corpus: str
    speaker: str
    gender: str | None  # "female", "male" or None
    label: str | None  # canonical label (model.labels.CANONICAL_LABELS) or None
    duration_s: float
    utterance_id: str = ""
    intensity: str | None = None
    valence: float | None = None
    arousal: float | None = None
    dominance: float | None = None
    dimensions_source: str | None = None  # "human-ratings", "derived-from-category" or None
    session: str | None = None
    vocal_channel: str | None = None  # "speech" or "song" where the corpus has both
    emotion_level: int | None = None  # ordinal level of expressed emotion (BAVED: 0 low, 1 neutral, 2 high)

    @property
    def dimensions(self) -> tuple[float, float, float] | None:
        if self.valence is None or self.arousal is None or self.dominance is None:
            return None
        return (self.valence, self.arousal, self.dominance)


@dataclass
class Skipped:
    """A file or label a recipe could not use, and why."""

    item: str
    reason: str


def write_manifest(entries: list[ManifestEntry], path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_writer(path) as f:
        for e in entries:
            f.write(json.dumps(dataclasses.asdict(e)) + "\n")
    return path


def read_manifest(path: str | os.PathLike) -> list[ManifestEntry]:
    names = {f.name for f in dataclasses.fields(ManifestEntry)}
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                data = json.loads(line)
                if "vad_source" in data:  # manifests written before the outputs were named "dimensions"
                    data.setdefault("dimensions_source", data.pop("vad_source"))
                out.append(ManifestEntry(**{k: v for k, v in data.items() if k in names}))
    return out


def report_skipped(skipped: list[Skipped], limit: int = 20) -> str:
    """Readable summary of skipped items: counts by reason and the first few items."""
    if not skipped:
        return "skipped: none"
    by_reason: dict[str, int] = {}
    for s in skipped:
        by_reason[s.reason] = by_reason.get(s.reason, 0) + 1
    lines = [f"skipped {len(skipped)} item(s):"]
    lines += [f"  {n:5d}  {reason}" for reason, n in sorted(by_reason.items(), key=lambda kv: -kv[1])]
    lines += [f"  - {s.item}: {s.reason}" for s in skipped[:limit]]
    if len(skipped) > limit:
        lines.append(f"  ... and {len(skipped) - limit} more")
    return "\n".join(lines)
