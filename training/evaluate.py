"""Utterance-level evaluation through :class:`model.Predictor`, exactly as users get predictions.

Each clip is predicted by ``Predictor.predict_utterance`` (sliding windows over its audible part,
aggregated). Test-time augmentation (TTA) adds windows at a finer hop and slightly slower and
faster copies of the clip, and averages everything.
"""

from __future__ import annotations

import numpy as np

from model.audio import SAMPLE_RATE_HZ, resample
from model.network import GENDER_LABELS
from model.predictor import Prediction, Predictor, aggregate
from training.metrics import classification_report, concordance_cc

TTA_SPEEDS = (0.95, 1.05)
TTA_HOP_S = 0.25


def predict_clip(predictor: Predictor, wave: np.ndarray, window_s: float | None = None, hop_s: float | None = None,
                 tta: bool = False) -> Prediction:
    if not tta:
        return predictor.predict_utterance(wave, SAMPLE_RATE_HZ, window_s, hop_s)
    preds = [predictor.predict_utterance(wave, SAMPLE_RATE_HZ, window_s, TTA_HOP_S)]
    for s in TTA_SPEEDS:
        preds.append(predictor.predict_utterance(resample(wave, int(round(SAMPLE_RATE_HZ * s)), SAMPLE_RATE_HZ),
                                                 SAMPLE_RATE_HZ, window_s, TTA_HOP_S))
    return aggregate(preds)


def evaluate_bank(predictor: Predictor, bank, tta: bool = False, window_s: float | None = None,
                  hop_s: float | None = None) -> dict:
    """Metrics of ``predictor`` on the clips of a :class:`training.data.ClipBank`.

    The bank's labels must be the model's labels (or a subset in the same names)."""
    preds = [predict_clip(predictor, w, window_s, hop_s, tta) for w in bank.waves[1.0]]
    return metrics_from_predictions(preds, bank, list(predictor.labels))


def metrics_from_predictions(preds: list[Prediction], bank, labels: list[str]) -> dict:
    index = {lab: i for i, lab in enumerate(labels)}
    y = np.array([index.get(bank.labels[e], -1) if e >= 0 else -1 for e in bank.emotion])
    keep = y >= 0
    probs = np.stack([p.probabilities for p in preds]) if preds else np.zeros((0, len(labels)))
    report = classification_report(probs[keep], y[keep], labels)
    report["labels"] = labels
    report["n_utterances"] = int(keep.sum())
    g = bank.gender
    gp = np.array([int(np.argmax(p.gender_probabilities)) for p in preds])
    gm = g >= 0
    report["gender_accuracy"] = float(np.mean(gp[gm] == g[gm])) if gm.any() else None
    dims_true = bank.dimensions
    vm = np.isfinite(dims_true).all(axis=1)
    if vm.any() and preds:
        dims_pred = np.stack([p.dimensions for p in preds])[vm]
        report["dimensions_ccc"] = {name: concordance_cc(dims_pred[:, i], dims_true[vm, i])
                             for i, name in enumerate(("valence", "arousal", "dominance"))}
        report["vad_mae"] = {name: float(np.abs(dims_pred[:, i] - dims_true[vm, i]).mean())
                             for i, name in enumerate(("valence", "arousal", "dominance"))}
    report["gender_labels"] = list(GENDER_LABELS)
    return report
