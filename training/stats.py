"""Corpus statistics: class, speaker, gender and duration distributions of a manifest.

Backs ``ser data stats`` (training/commands.py), which prints :func:`format_stats` and saves the plot.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from training.manifest import ManifestEntry

NO_LABEL = "(none)"
UNKNOWN_GENDER = "unknown"
DURATION_PERCENTILES = (5, 25, 50, 75, 95)
DURATION_HIST_BINS = 20


def _get(entry, name: str):
    # Entries may be ManifestEntry objects or their JSON dicts (a manifest read without the class).
    return entry.get(name) if isinstance(entry, dict) else getattr(entry, name)


def corpus_stats(entries: list[ManifestEntry]) -> dict:
    """Counts and duration summary of ``entries`` (JSON-serialisable).

    Returns:
        A dict with ``n_utterances``, ``corpora``, ``classes`` (label -> count, most frequent
        first; unlabelled entries under ``"(none)"``), ``speakers`` (speaker -> count, sorted by
        name), ``speaker_gender``, ``genders``, ``duration_s`` (total, mean, min, max and
        ``p5``..``p95`` in seconds), ``duration_hist`` (``edges``, ``counts``) and
        ``per_speaker_classes`` (speaker -> label -> count, every label present, zeros included).
    """
    labels = [_get(e, "label") or NO_LABEL for e in entries]
    speakers = [str(_get(e, "speaker")) for e in entries]
    genders = [_get(e, "gender") or UNKNOWN_GENDER for e in entries]
    durations = np.array([float(_get(e, "duration_s")) for e in entries], dtype=np.float64)

    class_counts = Counter(labels)
    # Most frequent first, ties by name, so tables and bars read the same way every run.
    class_order = sorted(class_counts, key=lambda k: (-class_counts[k], k))
    speaker_order = sorted(set(speakers))
    per_speaker = {s: dict.fromkeys(class_order, 0) for s in speaker_order}
    speaker_gender: dict[str, str] = {}
    for s, lab, g in zip(speakers, labels, genders, strict=True):
        per_speaker[s][lab] += 1
        speaker_gender.setdefault(s, g)

    if durations.size:
        pct = np.percentile(durations, DURATION_PERCENTILES)
        duration = {"total": float(durations.sum()), "mean": float(durations.mean()),
                    "min": float(durations.min()), "max": float(durations.max()),
                    **{f"p{p}": float(v) for p, v in zip(DURATION_PERCENTILES, pct, strict=True)}}
        counts, edges = np.histogram(durations, bins=DURATION_HIST_BINS)
        hist = {"edges": edges.tolist(), "counts": counts.tolist()}
    else:
        duration = {k: 0.0 for k in ("total", "mean", "min", "max")} | {f"p{p}": 0.0 for p in DURATION_PERCENTILES}
        hist = {"edges": [], "counts": []}

    gender_counts = Counter(genders)
    return {
        "n_utterances": len(entries),
        "corpora": dict(sorted(Counter(str(_get(e, "corpus")) for e in entries).items())),
        "classes": {k: class_counts[k] for k in class_order},
        "speakers": {s: sum(per_speaker[s].values()) for s in speaker_order},
        "speaker_gender": speaker_gender,
        "genders": {g: gender_counts[g] for g in sorted(gender_counts)},
        "duration_s": duration,
        "duration_hist": hist,
        "per_speaker_classes": per_speaker,
    }


def format_duration(seconds: float) -> str:
    """Seconds in the unit that reads best: s below a minute, min below an hour, else h."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


def _percent(n: int, total: int) -> str:
    return f"{100.0 * n / total:5.1f} %" if total else "    - "


def format_stats(stats: dict) -> str:
    """A readable plain-text report of :func:`corpus_stats` output."""
    n = stats["n_utterances"]
    d = stats["duration_s"]
    corpora = ", ".join(f"{k} ({v})" for k, v in stats["corpora"].items()) or "-"
    lines = [
        f"utterances: {n}   speakers: {len(stats['speakers'])}   corpora: {corpora}",
        f"duration: total {format_duration(d['total'])}, mean {d['mean']:.2f} s, min {d['min']:.2f} s, "
        f"max {d['max']:.2f} s",
        "duration percentiles (s): " + "  ".join(f"p{p} {d[f'p{p}']:.2f}" for p in DURATION_PERCENTILES),
        "",
        "class              count  share",
    ]
    lines += [f"{lab:<16} {c:7d}  {_percent(c, n)}" for lab, c in stats["classes"].items()]
    lines += ["", "gender             count  share"]
    lines += [f"{g:<16} {c:7d}  {_percent(c, n)}" for g, c in stats["genders"].items()]

    labels = list(stats["classes"])
    width = max([len(lab) for lab in labels] + [5])
    speaker_width = max([len(s) for s in stats["speakers"]] + [7])
    lines += ["", "per speaker (utterances per class)",
              f"{'speaker':<{speaker_width}} {'gender':<7} " + " ".join(f"{lab:>{width}}" for lab in labels)
              + f" {'total':>{width}}"]
    for s, row in stats["per_speaker_classes"].items():
        gender = stats["speaker_gender"].get(s, UNKNOWN_GENDER)
        lines.append(f"{s:<{speaker_width}} {gender:<7} " + " ".join(f"{row[lab]:>{width}d}" for lab in labels)
                     + f" {stats['speakers'][s]:>{width}d}")
    return "\n".join(lines)
