"""Cross-corpus evaluation: how a model trained on one corpus holds up on corpora it never saw.

Two kinds of development set:

- **categorical** (EmoDB): clips with an emotion label. Unweighted accuracy (UA, mean recall over
  the classes the corpus has) is reported twice: with the **full argmax** over all the model's
  labels, which is what users see, and **restricted** to the corpus's classes (the argmax among
  those only), which separates "wrong emotion" from "a class the corpus does not have".
- **level** (BAVED): clips with an ordinal emotion level (low, neutral, high) and no category; the
  rank correlation (Spearman) of the model's arousal with the level says whether arousal orders them.

Both report gender accuracy. Every clip is predicted exactly as users get it
(``Predictor.predict_utterance``).
"""

from __future__ import annotations

import numpy as np

from model.network import GENDER_LABELS
from model.predictor import Prediction, Predictor
from training.manifest import ManifestEntry
from training.metrics import classification_report, confusion_matrix, per_class_recall, spearman

DEV_CORPORA = ("emodb", "baved")


SESSION_SEED = 20261202  # order of the clips in each speaker's simulated session


def predict_sessions(predictor: Predictor, entries: list[ManifestEntry], waves: list[np.ndarray],
                     window_s: float | None = None, hop_s: float | None = None, seed: int = SESSION_SEED) -> list[Prediction]:
    """Each speaker's clips as one session in random order, with speaker adaptation: the
    predictions, in the order of ``entries``. A model without speaker normalisation gives what
    :meth:`Predictor.predict_utterance` gives alone."""
    from model.adaptation import SpeakerStats

    rng = np.random.default_rng(seed)
    preds: list[Prediction | None] = [None] * len(entries)
    by_speaker: dict[str, list[int]] = {}
    for i, e in enumerate(entries):
        by_speaker.setdefault(e.speaker, []).append(i)
    for speaker in sorted(by_speaker):
        stats = SpeakerStats()
        for i in rng.permutation(by_speaker[speaker]):
            preds[i] = predictor.predict_utterance(waves[i], 16000, window_s, hop_s, speaker=stats)
    return preds  # type: ignore[return-value]


def gender_accuracy(entries: list[ManifestEntry], preds: list[Prediction]) -> float | None:
    pairs = [(e.gender, p.gender) for e, p in zip(entries, preds) if e.gender in GENDER_LABELS]
    return float(np.mean([a == b for a, b in pairs])) if pairs else None


def categorical_metrics(entries: list[ManifestEntry], preds: list[Prediction], labels: list[str]) -> dict:
    """UA with the full argmax and restricted to the corpus's classes, per-class recall, confusion
    matrix (rows: the corpus's classes, columns: all the model's labels) and gender accuracy."""
    index = {lab: i for i, lab in enumerate(labels)}
    keep = [i for i, e in enumerate(entries) if e.label in index]
    y = np.array([index[entries[i].label] for i in keep], dtype=np.int64)
    probs = np.stack([preds[i].probabilities for i in keep]) if keep else np.zeros((0, len(labels)))
    full = classification_report(probs, y, labels)
    present = sorted(set(y.tolist()))
    # Restricted: argmax among the corpus's classes only.
    sub = probs[:, present] if keep else probs
    y_restricted = np.array([present.index(v) for v in y], dtype=np.int64)
    cm_r = confusion_matrix(y_restricted, sub.argmax(axis=1) if keep else y_restricted, len(present))
    recall_r = per_class_recall(cm_r)
    cm_full = np.array(full["confusion_matrix"])
    return {
        "kind": "categorical",
        "n_utterances": len(keep),
        "n_without_shared_label": len(entries) - len(keep),
        "classes": [labels[i] for i in present],
        "labels": list(labels),
        "ua_full": full["unweighted_accuracy"],
        "wa_full": full["weighted_accuracy"],
        "ua_restricted": float(np.nanmean(recall_r)) if present else float("nan"),
        "per_class_recall": {labels[i]: full["per_class_recall"][labels[i]] for i in present},
        "per_class_recall_restricted": {labels[c]: float(r) for c, r in zip(present, recall_r)},
        "confusion_matrix": cm_full[present].tolist(),
        "predicted_share": {lab: float(np.mean(probs.argmax(axis=1) == i)) if keep else 0.0
                            for i, lab in enumerate(labels)},
        "gender_accuracy": gender_accuracy(entries, preds),
        "n_gender": sum(e.gender in GENDER_LABELS for e in entries),
    }


def level_metrics(entries: list[ManifestEntry], preds: list[Prediction]) -> dict:
    """Spearman correlation of predicted arousal with the emotion level, mean arousal per level,
    and gender accuracy."""
    pairs = [(e.emotion_level, p.arousal) for e, p in zip(entries, preds) if e.emotion_level is not None]
    levels = np.array([a for a, _ in pairs], dtype=np.float64)
    arousal = np.array([b for _, b in pairs], dtype=np.float64)
    return {
        "kind": "level",
        "n_utterances": len(pairs),
        "arousal_level_spearman": spearman(arousal, levels),
        "mean_arousal_by_level": {str(int(lv)): float(arousal[levels == lv].mean()) for lv in np.unique(levels)},
        "gender_accuracy": gender_accuracy(entries, preds),
        "n_gender": sum(e.gender in GENDER_LABELS for e in entries),
    }


def evaluate_dev_corpus(predictor: Predictor, entries: list[ManifestEntry], window_s: float | None = None,
                        hop_s: float | None = None, degrade: str | None = None) -> dict:
    """The metrics that fit the corpus: categorical when its entries carry labels, else level. Clips
    are predicted alone; for a model with speaker normalisation, ``adapted`` holds the same metrics
    with each speaker's clips as one adapted session (:func:`predict_sessions`)."""
    from training.calibration import expected_calibration_error
    from training.data import ClipBank

    bank = ClipBank(entries, list(predictor.labels))
    kept, waves, skipped = bank.entries, bank.waves[1.0], bank.skipped
    if degrade:  # the same clips through a phone line or a codec (training/channel.py)
        from training.channel import degrade as channel

        waves = [channel(w, degrade) for w in waves]
    preds = [predictor.predict_utterance(w, 16000, window_s, hop_s) for w in waves]
    categorical = any(e.label is not None for e in kept)

    def metrics(ps: list[Prediction]) -> dict:
        if not categorical:
            return level_metrics(kept, ps)
        m = categorical_metrics(kept, ps, list(predictor.labels))
        idx = {lab: i for i, lab in enumerate(predictor.labels)}
        sel = [i for i, e in enumerate(kept) if e.label in idx]
        if not sel:
            return m
        probs = np.stack([ps[i].probabilities for i in sel])
        y = np.array([idx[kept[i].label] for i in sel])
        m["ece"] = expected_calibration_error(probs, y)
        m["uncertain_share"] = float(np.mean([ps[i].uncertain for i in sel]))
        return m

    result = metrics(preds)
    if getattr(predictor, "adapts_to_speaker", False):
        result["adapted"] = metrics(predict_sessions(predictor, kept, waves, window_s, hop_s))
    result["speakers"] = sorted({e.speaker for e in kept})
    result["degraded"] = degrade
    result["skipped"] = [{"item": s.item, "reason": s.reason} for s in skipped]
    return result


def format_dev_result(corpus: str, r: dict) -> str:
    lines = [f"corpus: {corpus}, {len(r['speakers'])} speakers, {r['n_utterances']} utterances", ""]
    gender = r.get("gender_accuracy")
    if r["kind"] == "categorical":
        lines += [
            # Chance: a guess among the model's labels is right 1/labels of the time in each class; among
            # the corpus's classes only, 1/classes.
            f"unweighted accuracy, full {len(r['labels'])}-way argmax: {r['ua_full']:.3f}"
            f"   (chance {1 / max(len(r['labels']), 1):.3f})",
            f"unweighted accuracy, restricted to its {len(r['classes'])} classes: {r['ua_restricted']:.3f}"
            f"   (chance {1 / max(len(r['classes']), 1):.3f})",
            f"gender accuracy: {gender:.3f}" if gender is not None else "gender accuracy: -",
            "", "per-class recall (full / restricted):",
        ]
        lines += [f"  {lab:12s} {r['per_class_recall'][lab]:.3f} / {r['per_class_recall_restricted'][lab]:.3f}"
                  for lab in r["classes"]]
        labels = r["labels"]
        width = max(len(lab) for lab in r["classes"])
        lines += ["", "confusion matrix (rows true, columns predicted):",
                  " " * (width + 2) + "".join(f"{lab[:5]:>6s}" for lab in labels)]
        for lab, row in zip(r["classes"], r["confusion_matrix"]):
            lines.append(f"  {lab:{width}s}" + "".join(f"{v:6d}" for v in row))
    else:
        lines += [
            f"arousal vs emotion level, Spearman: {r['arousal_level_spearman']:.3f}",
            "mean arousal by level: " + ", ".join(f"{k}: {v:.3f}" for k, v in r["mean_arousal_by_level"].items()),
            f"gender accuracy: {gender:.3f}" if gender is not None else "gender accuracy: -",
        ]
    return "\n".join(lines)
