"""Confidence calibration: temperature scaling of the emotion output, and its error.

A network's softmax is usually over-confident on speakers (and recordings) it has not seen. One
temperature ``T`` divides the log-probabilities before the softmax: ``p_T = softmax(log p / T)``.
It is fitted by minimising the negative log-likelihood of out-of-sample predictions: the test-fold
predictions of speaker-held-out cross-validation, pooled over the folds (Guo et al., 2017, "On
Calibration of Modern Neural Networks"). The argmax does not change, so accuracies do not either.

Expected calibration error (ECE): predictions are binned by their top probability (15 equal bins)
and the gaps between each bin's mean confidence and its accuracy are averaged, weighted by the
bin's share of predictions.
"""

from __future__ import annotations

import numpy as np

ECE_BINS = 15
LOG_T_RANGE = (-2.0, 2.0)  # temperatures from 0.14 to 7.4
# A result whose calibrated top probability is below this is marked "uncertain": the model itself
# gives it less than an even chance of being right.
DEFAULT_UNCERTAIN_BELOW = 0.5


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities (..., K) -> softmax(log p / T), rows summing to 1."""
    logp = np.log(np.clip(probs, 1e-12, 1.0)) / temperature
    logp -= logp.max(axis=-1, keepdims=True)
    e = np.exp(logp)
    return e / e.sum(axis=-1, keepdims=True)


def nll(probs: np.ndarray, y: np.ndarray) -> float:
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(y)), y], 1e-12, 1.0))))


def fit_temperature(probs: np.ndarray, y: np.ndarray) -> float:
    """The temperature that minimises the NLL of ``probs`` (N, K) for true classes ``y`` (golden
    section search over log T; the NLL is unimodal in T)."""
    if len(y) == 0:
        return 1.0
    lo, hi = LOG_T_RANGE
    g = (np.sqrt(5) - 1) / 2
    a, b = lo, hi
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = nll(apply_temperature(probs, np.exp(c)), y), nll(apply_temperature(probs, np.exp(d)), y)
    for _ in range(60):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = nll(apply_temperature(probs, np.exp(c)), y)
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = nll(apply_temperature(probs, np.exp(d)), y)
    return float(np.exp((a + b) / 2))


def expected_calibration_error(probs: np.ndarray, y: np.ndarray, n_bins: int = ECE_BINS) -> float:
    if len(y) == 0:
        return float("nan")
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        m = idx == b
        if m.any():
            ece += m.mean() * abs(conf[m].mean() - correct[m].mean())
    return float(ece)


def uncertain_report(probs: np.ndarray, y: np.ndarray, threshold: float) -> dict:
    """Share of results below the threshold, and the accuracy of those above and below it."""
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y
    low = conf < threshold
    return {
        "uncertain_share": float(low.mean()) if len(y) else float("nan"),
        "accuracy_certain": float(correct[~low].mean()) if (~low).any() else None,
        "accuracy_uncertain": float(correct[low].mean()) if low.any() else None,
    }


def calibrate(probs: np.ndarray, y: np.ndarray, uncertain_below: float = DEFAULT_UNCERTAIN_BELOW) -> dict:
    """Fit the temperature and report ECE before and after, and what the threshold marks (on the
    predictions given: the analysis windows of the cross-validation's test clips)."""
    probs = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    t = fit_temperature(probs, y)
    scaled = apply_temperature(probs, t)
    return {
        "temperature": round(t, 4),
        "uncertain_below": uncertain_below,
        "n": int(len(y)),
        "ece_before": expected_calibration_error(probs, y),
        "ece_after": expected_calibration_error(scaled, y),
        "nll_before": nll(probs, y) if len(y) else float("nan"),
        "nll_after": nll(scaled, y) if len(y) else float("nan"),
        **uncertain_report(scaled, y, uncertain_below),
    }
