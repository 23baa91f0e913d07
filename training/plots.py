"""Training, evaluation and corpus plots written as PNG files.

Figures are built with matplotlib's object API on an Agg canvas created inside each function, so
importing this module sets no backend and the plots never touch pyplot's global state (which
is not thread-safe and would keep every figure alive until closed).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

DPI = 120
# "loss_vad" is the dimensions' loss in histories written before the outputs were named "dimensions".
LOSS_KEYS = ("loss_total", "loss_emotion", "loss_gender", "loss_dimensions", "loss_vad")
# Validation curves in percent; only val_ua is required, the others appear when present.
VAL_KEYS = {"val_ua": "unweighted accuracy", "val_wa": "weighted accuracy", "val_gender": "gender accuracy"}
GENDER_COLOURS = {"female": "tab:red", "male": "tab:blue"}
MAX_SPEAKER_TICKS = 40


def _figure(width_in: float, height_in: float):
    """A figure on its own Agg canvas (no pyplot, no global backend switch)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


def _number(x) -> float:
    """A metric as a float, NaN when it is missing or None (absent classes, no validation set)."""
    try:
        return float(x) if x is not None else math.nan
    except (TypeError, ValueError):
        return math.nan


def plot_training_curves(history: list[dict], path: str | os.PathLike) -> Path:
    """Loss per task and validation accuracy against epoch, one PNG.

    Args:
        history: One dict per epoch with ``epoch`` and any of ``loss_total``, ``loss_emotion``,
            ``loss_gender``, ``loss_vad``, ``val_ua`` (fraction), ``val_wa``, ``val_gender``;
            missing or None values are left out of the curves.
        path: PNG file to write.

    Returns:
        The path written.
    """
    fig = _figure(10, 4)
    ax_loss, ax_val = fig.subplots(1, 2)
    epochs = [_number(row.get("epoch", i + 1)) for i, row in enumerate(history)]

    def series(key: str, scale: float = 1.0) -> tuple[list[float], list[float]]:
        pts = [(x, _number(row.get(key)) * scale) for x, row in zip(epochs, history, strict=True)]
        pts = [(x, y) for x, y in pts if math.isfinite(y)]
        return [p[0] for p in pts], [p[1] for p in pts]

    for key in LOSS_KEYS:
        xs, ys = series(key)
        if xs:
            ax_loss.plot(xs, ys, marker=".", label=key.removeprefix("loss_").replace("vad", "dimensions"),
                         linewidth=2.0 if key == "loss_total" else 1.2)
    ax_loss.set(title="training loss per task", xlabel="epoch", ylabel="loss")

    for key, name in VAL_KEYS.items():
        xs, ys = series(key, 100.0)
        if xs:
            ax_val.plot(xs, ys, marker=".", label=name)
            if key == "val_ua":
                best = int(np.argmax(ys))
                ax_val.annotate(f"best {ys[best]:.1f} % (epoch {xs[best]:g})", (xs[best], ys[best]),
                                textcoords="offset points", xytext=(0, 8), ha="center", fontsize=8)
    ax_val.set(title="validation", xlabel="epoch", ylabel="%", ylim=(0, 105))

    for ax in (ax_loss, ax_val):
        if ax.lines:
            ax.legend(fontsize=8)
            ax.grid(alpha=0.3)
        else:
            ax.text(0.5, 0.5, "no values recorded", ha="center", va="center", transform=ax.transAxes)
    return _save(fig, path)


def _recall(result: dict, labels: list[str], cm: np.ndarray) -> np.ndarray:
    """Per-class recall from the result, or from the confusion matrix when the result lacks it."""
    given = result.get("per_class_recall")
    if isinstance(given, dict):
        return np.array([_number(given.get(lab)) for lab in labels])
    if given is not None:
        return np.array([_number(v) for v in given])
    support = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, np.diag(cm) / np.maximum(support, 1), np.nan)


def _top1(result: dict, cm: np.ndarray | None) -> float:
    # Top-1 accuracy is plain (weighted) accuracy; compute it from the matrix if not given.
    wa = _number(result.get("weighted_accuracy"))
    if math.isnan(wa) and cm is not None and cm.sum() > 0:
        wa = float(np.trace(cm) / cm.sum())
    return wa


def plot_confusion_matrix(labels: list[str], cm: np.ndarray, path: str | os.PathLike, title: str = "") -> Path:
    """Row-normalised confusion matrix (rows true, columns predicted) with percentages and counts."""
    n = len(labels)
    support = cm.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        norm = np.where(support > 0, cm / np.maximum(support, 1), np.nan)
    size = max(4.5, 0.75 * n + 2.5)
    fig = _figure(size + 1.0, size)
    ax = fig.subplots()
    image = ax.imshow(np.ma.masked_invalid(norm), cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, label="share of the true class", shrink=0.8)
    for i in range(n):
        for j in range(n):
            text = "-" if np.isnan(norm[i, j]) else f"{100 * norm[i, j]:.0f}%\n({cm[i, j]})"
            colour = "white" if not np.isnan(norm[i, j]) and norm[i, j] > 0.5 else "black"
            ax.text(j, i, text, ha="center", va="center", fontsize=7 if n > 6 else 9, color=colour)
    ax.set_xticks(range(n), labels, rotation=45, ha="right")
    ax.set_yticks(range(n), [f"{lab} ({int(s)})" for lab, s in zip(labels, support[:, 0], strict=True)])
    ax.set(xlabel="predicted", ylabel="true (utterances)", title=title or "confusion matrix")
    return _save(fig, path)


def plot_eval_report(result: dict, out_dir: str | os.PathLike) -> list[Path]:
    """The ``ser eval --report`` figures: confusion matrix, per-class recall, top-1 vs top-3.

    Args:
        result: The ``ser eval --json`` object: ``labels``, ``confusion_matrix`` (rows true,
            columns predicted), accuracies as fractions (``unweighted_accuracy``,
            ``weighted_accuracy``, ``top3_accuracy``), optionally ``per_class_recall`` (computed
            from the matrix when absent) and ``tta`` with the same accuracies.
        out_dir: Folder for ``confusion_matrix.png``, ``per_class_recall.png``, ``top_k_accuracy.png``.

    Returns:
        The paths written, in that order.
    """
    out_dir = Path(out_dir)
    labels = [str(lab) for lab in result["labels"]]
    cm = np.asarray(result["confusion_matrix"], dtype=np.int64).reshape(len(labels), len(labels))
    ua = _number(result.get("unweighted_accuracy"))
    n_utt = result.get("n_utterances", int(cm.sum()))
    title = f"confusion matrix, {n_utt} utterances"
    if math.isfinite(ua):
        title += f", UA {100 * ua:.1f} %"
    paths = [plot_confusion_matrix(labels, cm, out_dir / "confusion_matrix.png", title)]

    recall = _recall(result, labels, cm)
    fig = _figure(max(5.0, 0.7 * len(labels) + 2.0), 4)
    ax = fig.subplots()
    heights = np.nan_to_num(recall * 100, nan=0.0)
    bars = ax.bar(labels, heights, color="tab:blue")
    for bar, r in zip(bars, recall, strict=True):
        ax.annotate("n/a" if np.isnan(r) else f"{100 * r:.0f}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    textcoords="offset points", xytext=(0, 2), ha="center", fontsize=8)
    if math.isfinite(ua):
        ax.axhline(100 * ua, color="tab:red", linestyle="--", label=f"UA {100 * ua:.1f} %")
        ax.legend(fontsize=8, loc="upper right")  # the bar values sit at the bottom when recall is low
    ax.axhline(100 / max(1, len(labels)), color="grey", linestyle=":", linewidth=1)  # chance level
    ax.set(title="per-class recall", ylabel="recall (%)", ylim=(0, 110))
    ax.tick_params(axis="x", labelrotation=45)
    paths.append(_save(fig, out_dir / "per_class_recall.png"))

    groups = {"plain": result}
    if isinstance(result.get("tta"), dict):
        groups["with TTA"] = result["tta"]
    metrics = ("top-1", "top-3", "UA")
    fig = _figure(5.5, 4)
    ax = fig.subplots()
    width = 0.8 / len(groups)
    for g, (name, res) in enumerate(groups.items()):
        values = [_top1(res, cm if res is result else None), _number(res.get("top3_accuracy")),
                  _number(res.get("unweighted_accuracy"))]
        xs = np.arange(len(metrics)) + (g - (len(groups) - 1) / 2) * width
        bars = ax.bar(xs, np.nan_to_num(np.array(values) * 100, nan=0.0), width, label=name)
        for bar, v in zip(bars, values, strict=True):
            ax.annotate("n/a" if math.isnan(v) else f"{100 * v:.1f}", (bar.get_x() + bar.get_width() / 2,
                        bar.get_height()), textcoords="offset points", xytext=(0, 2), ha="center", fontsize=8)
    ax.set_xticks(range(len(metrics)), metrics)
    ax.set(title="top-1 vs top-3 accuracy", ylabel="%", ylim=(0, 110))
    ax.legend(fontsize=8, loc="lower right")
    paths.append(_save(fig, out_dir / "top_k_accuracy.png"))
    return paths


def plot_data_stats(stats: dict, path: str | os.PathLike) -> Path:
    """Class, per-speaker, gender and duration distributions of :func:`training.stats.corpus_stats`."""
    from matplotlib import colormaps
    from matplotlib.ticker import MaxNLocator

    from training.stats import format_duration

    fig = _figure(13, 8)
    (ax_cls, ax_spk), (ax_gen, ax_dur) = fig.subplots(2, 2)
    classes = list(stats["classes"])
    cmap = colormaps["tab20" if len(classes) > 10 else "tab10"]
    colours = {lab: cmap(i % cmap.N) for i, lab in enumerate(classes)}
    total = format_duration(stats["duration_s"]["total"])
    fig.suptitle(f"{stats['n_utterances']} utterances, {len(stats['speakers'])} speakers, {total}")
    for ax in (ax_cls, ax_spk, ax_gen, ax_dur):
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts

    if classes:
        bars = ax_cls.bar(classes, list(stats["classes"].values()), color=[colours[c] for c in classes])
        ax_cls.bar_label(bars, fontsize=8)
        ax_cls.tick_params(axis="x", labelrotation=45)
    ax_cls.set(title="utterances per class", ylabel="utterances")

    speakers = list(stats["per_speaker_classes"])
    bottom = np.zeros(len(speakers))
    for lab in classes:
        counts = np.array([stats["per_speaker_classes"][s].get(lab, 0) for s in speakers], dtype=float)
        ax_spk.bar(range(len(speakers)), counts, bottom=bottom, color=colours[lab], label=lab)
        bottom += counts
    if len(speakers) <= MAX_SPEAKER_TICKS:
        ax_spk.set_xticks(range(len(speakers)), speakers, rotation=90, fontsize=7)
        # Tick labels take the speaker's gender colour, so the balance is visible at a glance.
        for tick, s in zip(ax_spk.get_xticklabels(), speakers, strict=True):
            tick.set_color(GENDER_COLOURS.get(stats["speaker_gender"].get(s), "black"))
    if classes:
        ax_spk.legend(fontsize=7, ncols=2)
    ax_spk.set(title="utterances per speaker and class (labels coloured by gender)", ylabel="utterances")

    genders = list(stats["genders"])
    if genders:
        bars = ax_gen.bar(genders, list(stats["genders"].values()),
                          color=[GENDER_COLOURS.get(g, "tab:grey") for g in genders])
        ax_gen.bar_label(bars, fontsize=8)
    ax_gen.set(title="utterances per gender", ylabel="utterances")

    hist = stats["duration_hist"]
    if hist["counts"]:
        ax_dur.stairs(hist["counts"], hist["edges"], fill=True, alpha=0.7)
        d = stats["duration_s"]
        for key, style in (("p50", "--"), ("p95", ":")):
            ax_dur.axvline(d[key], color="black", linestyle=style, label=f"{key} {d[key]:.2f} s")
        ax_dur.legend(fontsize=8)
    ax_dur.set(title="utterance duration", xlabel="seconds", ylabel="utterances")
    return _save(fig, path)
