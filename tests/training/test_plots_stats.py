"""Corpus statistics on a hand-made entry list, and the PNG plots."""

from __future__ import annotations

import math

import pytest

from training.commands import run_data_stats
from training.manifest import ManifestEntry, Skipped
from training.plots import plot_data_stats, plot_eval_report, plot_training_curves
from training.stats import corpus_stats, format_stats


def entry(speaker: str, gender: str | None, label: str | None, duration_s: float) -> ManifestEntry:
    return ManifestEntry(path=f"/nowhere/{speaker}_{duration_s}.wav", corpus="toy", speaker=speaker,
                         gender=gender, label=label, duration_s=duration_s)


@pytest.fixture
def entries() -> list[ManifestEntry]:
    return [
        entry("A", "female", "happy", 1.0),
        entry("A", "female", "happy", 2.0),
        entry("A", "female", "sad", 3.0),
        entry("B", "male", "sad", 4.0),
        entry("B", "male", "angry", 5.0),
        entry("C", None, None, 6.0),
    ]


def read_png(path):
    from matplotlib.image import imread

    assert path.is_file() and path.stat().st_size > 1000
    image = imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    return image


def test_corpus_stats_counts(entries):
    s = corpus_stats(entries)
    assert s["n_utterances"] == 6
    assert s["corpora"] == {"toy": 6}
    # Most frequent first, ties by name; the unlabelled entry is counted, not lost.
    assert list(s["classes"].items()) == [("happy", 2), ("sad", 2), ("(none)", 1), ("angry", 1)]
    assert s["speakers"] == {"A": 3, "B": 2, "C": 1}
    assert s["genders"] == {"female": 3, "male": 2, "unknown": 1}
    assert s["speaker_gender"] == {"A": "female", "B": "male", "C": "unknown"}
    assert s["per_speaker_classes"]["A"] == {"happy": 2, "sad": 1, "(none)": 0, "angry": 0}
    assert s["per_speaker_classes"]["B"] == {"happy": 0, "sad": 1, "(none)": 0, "angry": 1}
    assert sum(s["duration_hist"]["counts"]) == 6


def test_corpus_stats_durations(entries):
    d = corpus_stats(entries)["duration_s"]
    assert d["total"] == pytest.approx(21.0)
    assert d["mean"] == pytest.approx(3.5)
    assert (d["min"], d["max"]) == (1.0, 6.0)
    # Linear interpolation over 1..6: p50 halfway between 3 and 4, p5 a quarter of the way from 1 to 2.
    assert d["p50"] == pytest.approx(3.5)
    assert d["p5"] == pytest.approx(1.25)
    assert d["p95"] == pytest.approx(5.75)


def test_corpus_stats_accepts_json_dicts_and_empty_lists(entries):
    import dataclasses

    assert corpus_stats([dataclasses.asdict(e) for e in entries]) == corpus_stats(entries)
    empty = corpus_stats([])
    assert empty["n_utterances"] == 0 and empty["classes"] == {} and empty["duration_s"]["total"] == 0.0
    assert "utterances: 0" in format_stats(empty)


def test_format_stats_is_a_readable_table(entries):
    text = format_stats(corpus_stats(entries))
    assert "utterances: 6   speakers: 3" in text
    assert "duration: total 21.0 s, mean 3.50 s" in text
    assert "happy                  2   33.3 %" in text
    assert "female                 3   50.0 %" in text
    lines = text.splitlines()
    row_a = next(line for line in lines if line.startswith("A "))
    assert row_a.split() == ["A", "female", "2", "1", "0", "0", "3"]


def test_run_data_stats_prints_and_saves(entries, tmp_path):
    png = tmp_path / "sub" / "stats.png"
    text = run_data_stats(entries, [Skipped("/x/missing.wav", "no wav for this labelled turn")], png)
    read_png(png)
    assert "utterances: 6" in text and "missing.wav" in text and str(png) in text


def test_plot_data_stats_with_empty_corpus(tmp_path):
    read_png(plot_data_stats(corpus_stats([]), tmp_path / "empty.png"))


def test_training_curves(tmp_path):
    history = [
        {"epoch": 1, "loss_total": 3.0, "loss_emotion": 2.0, "loss_gender": 0.7, "loss_dimensions": 0.3, "val_ua": 0.2},
        {"epoch": 2, "loss_total": 2.0, "loss_emotion": 1.5, "loss_gender": None, "loss_dimensions": 0.2, "val_ua": 0.4,
         "val_wa": 0.45, "val_gender": 0.9},
        {"epoch": 3, "loss_total": 1.5, "loss_emotion": 1.2, "val_ua": float("nan")},
    ]
    read_png(plot_training_curves(history, tmp_path / "curves.png"))
    old = [{("loss_vad" if k == "loss_dimensions" else k): v for k, v in row.items()} for row in history]
    read_png(plot_training_curves(old, tmp_path / "old.png"))  # histories from before the rename


@pytest.mark.parametrize("history", [[], [{"epoch": 1, "loss_total": 1.0}]], ids=["empty", "one-epoch-no-val"])
def test_training_curves_degenerate(history, tmp_path):
    read_png(plot_training_curves(history, tmp_path / "curves.png"))


def eval_result() -> dict:
    return {
        "labels": ["neutral", "happy", "angry", "sad"],
        "n_utterances": 20,
        "confusion_matrix": [[5, 1, 0, 0], [2, 4, 1, 0], [0, 0, 7, 0], [0, 0, 0, 0]],
        "unweighted_accuracy": 0.71,
        "weighted_accuracy": 0.8,
        "macro_f1": 0.6,
        "top3_accuracy": 0.95,
        "gender_accuracy": 0.9,
        "tta": {"unweighted_accuracy": 0.73, "weighted_accuracy": 0.82, "top3_accuracy": 0.96},
    }


def test_eval_report_writes_three_pngs(tmp_path):
    paths = plot_eval_report(eval_result(), tmp_path / "report")
    assert [p.name for p in paths] == ["confusion_matrix.png", "per_class_recall.png", "top_k_accuracy.png"]
    for p in paths:
        read_png(p)


def test_eval_report_uses_given_recall_with_missing_classes(tmp_path):
    result = eval_result()
    del result["tta"], result["weighted_accuracy"]
    result["per_class_recall"] = {"neutral": 5 / 6, "happy": 4 / 7, "angry": 1.0, "sad": None}
    for p in plot_eval_report(result, tmp_path):
        read_png(p)


def test_recall_computed_from_matrix_matches_given():
    import numpy as np

    from training.plots import _recall

    result = eval_result()
    cm = np.array(result["confusion_matrix"])
    computed = _recall(result, result["labels"], cm)
    assert computed[:3] == pytest.approx([5 / 6, 4 / 7, 1.0])
    assert math.isnan(computed[3])


def test_format_duration_picks_a_readable_unit():
    from training.stats import format_duration

    assert [format_duration(x) for x in (9.64, 750.0, 7 * 3600.0)] == ["9.6 s", "12.5 min", "7.00 h"]
