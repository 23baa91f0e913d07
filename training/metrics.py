"""Classification metrics for speaker-held-out evaluation."""

from __future__ import annotations

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Rows are true classes, columns predicted classes."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return cm


def per_class_recall(cm: np.ndarray) -> np.ndarray:
    support = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, np.diag(cm) / np.maximum(support, 1), np.nan)


def unweighted_accuracy(cm: np.ndarray) -> float:
    """Mean recall over the classes present in the data (UA, balanced accuracy)."""
    r = per_class_recall(cm)
    return float(np.nanmean(r)) if np.isfinite(r).any() else float("nan")


def weighted_accuracy(cm: np.ndarray) -> float:
    """Plain accuracy: correct / all (WA)."""
    total = cm.sum()
    return float(np.trace(cm) / total) if total else float("nan")


def macro_f1(cm: np.ndarray) -> float:
    tp = np.diag(cm).astype(np.float64)
    precision = np.divide(tp, cm.sum(axis=0), out=np.zeros_like(tp), where=cm.sum(axis=0) > 0)
    recall = np.divide(tp, cm.sum(axis=1), out=np.zeros_like(tp), where=cm.sum(axis=1) > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(tp), where=(precision + recall) > 0)
    present = cm.sum(axis=1) > 0
    return float(f1[present].mean()) if present.any() else float("nan")


def top_k_accuracy(probs: np.ndarray, y_true: np.ndarray, k: int) -> float:
    if len(y_true) == 0:
        return float("nan")
    top = np.argsort(-probs, axis=1)[:, :k]
    return float(np.mean([y in row for y, row in zip(y_true, top)]))


def classification_report(probs: np.ndarray, y_true: np.ndarray, labels: list[str]) -> dict:
    """UA, WA, macro F1, top-3, confusion matrix and per-class recall for one set of predictions."""
    y_true = np.asarray(y_true)
    y_pred = probs.argmax(axis=1)
    cm = confusion_matrix(y_true, y_pred, len(labels))
    recall = per_class_recall(cm)
    return {
        "unweighted_accuracy": unweighted_accuracy(cm),
        "weighted_accuracy": weighted_accuracy(cm),
        "macro_f1": macro_f1(cm),
        "top3_accuracy": top_k_accuracy(probs, y_true, min(3, len(labels))),
        "confusion_matrix": cm.tolist(),
        "per_class_recall": {lab: (None if np.isnan(r) else float(r)) for lab, r in zip(labels, recall)},
    }


def concordance_cc(x: np.ndarray, y: np.ndarray) -> float:
    """Lin's concordance correlation coefficient, the usual score for dimensional emotion."""
    if len(x) < 2:
        return float("nan")
    mx, my = x.mean(), y.mean()
    vx, vy = x.var(), y.var()
    cov = ((x - mx) * (y - my)).mean()
    denom = vx + vy + (mx - my) ** 2
    return float(2 * cov / denom) if denom > 0 else float("nan")


def rank(x: np.ndarray) -> np.ndarray:
    """Ranks from 1, ties sharing their mean rank (as for Spearman's correlation)."""
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.arange(1, len(x) + 1)
    values, inverse = np.unique(x, return_inverse=True)
    sums = np.bincount(inverse, weights=ranks)
    counts = np.bincount(inverse)
    return (sums / counts)[inverse]


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation (Pearson's correlation of the tie-averaged ranks)."""
    if len(x) < 2:
        return float("nan")
    rx, ry = rank(x), rank(y)
    rx -= rx.mean()
    ry -= ry.mean()
    denom = np.sqrt((rx ** 2).sum() * (ry ** 2).sum())
    return float((rx * ry).sum() / denom) if denom > 0 else float("nan")
