"""A head the product has never heard of, declared by a model file, reaches every output: results,
session files, the CSV/JSON/JSONL exports, summaries, the batch table and report, and the app's
histories and plots. No code names it: each layer reads the heads from the record or the model."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import soundfile as sf

from model import Predictor
from model.testing import make_tiny_model
from ser.cli import main
from streamer import SessionStore
from streamer.summary import summarize

EXTRA_HEADS = (("loudness", "regression", ("level", "strain")), ("sentiment", "categorical", ("negative", "neutral",
                                                                                                "positive")))


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("extra") / "extra.safetensors", extra_heads=EXTRA_HEADS)


@pytest.fixture(scope="module")
def analysed(model_path, speech_16k, tmp_path_factory):
    """``ser analyze`` of real speech into each output format."""
    out = tmp_path_factory.mktemp("analysed")
    wav = out / "talk.wav"
    sf.write(wav, speech_16k, 16000)
    for fmt in ("jsonl", "csv", "json"):
        assert main(["analyze", str(wav), "--out", str(out), "--format", fmt, "--model", str(model_path),
                     "--quiet"]) == 0
    return out


def _check_heads(heads: dict) -> None:
    assert set(heads) == {"emotion", "gender", "dimensions", "loudness", "sentiment"}
    assert set(heads["loudness"]) == {"level", "strain"} and all(0 <= v <= 1 for v in heads["loudness"].values())
    assert list(heads["sentiment"]) == ["negative", "neutral", "positive"]
    assert sum(heads["sentiment"].values()) == pytest.approx(1.0, abs=1e-5)


def test_the_model_declares_the_head_and_predictions_carry_it(model_path, speech_16k):
    predictor = Predictor.load(model_path, device="cpu")
    declared = {h["name"]: h for h in predictor.meta.heads}
    assert declared["loudness"] == {"name": "loudness", "kind": "regression", "names": ["level", "strain"],
                                    "range": [0.0, 1.0], "source": "network"}
    assert declared["sentiment"]["labels"] == ["negative", "neutral", "positive"]
    _check_heads(predictor.predict(speech_16k[:32000]).heads)
    windows = predictor.predict_windows(speech_16k[:64000])
    utterance = predictor.predict_utterance(speech_16k[:64000])
    np.testing.assert_allclose(utterance.extra["loudness"]["level"],
                               np.mean([w.extra["loudness"]["level"] for w in windows]), atol=1e-6)


def test_session_and_exports_hold_the_head(analysed):
    results = SessionStore.open(analysed / "talk.jsonl").results
    assert results
    for r in results:
        _check_heads(r.heads)
    doc = json.loads((analysed / "talk.json").read_text())
    assert [r["heads"] for r in doc["results"]] == [r.heads for r in results]
    assert {h["name"] for h in doc["metadata"]["engine"]["model"]["heads"]} >= {"loudness", "sentiment"}
    with open(analysed / "talk.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(results)
    for row, r in zip(rows, results, strict=True):
        assert float(row["loudness_strain"]) == pytest.approx(r.heads["loudness"]["strain"], abs=1e-6)
        assert float(row["sentiment_positive"]) == pytest.approx(r.heads["sentiment"]["positive"], abs=1e-6)
        assert float(row["p_" + r.top_label]) == pytest.approx(r.probabilities[r.top_label], abs=1e-6)


def test_summaries_hold_the_head(analysed):
    session = SessionStore.open(analysed / "talk.jsonl")
    summary = summarize(["mix"], session.segments, session.results)[0]
    utts = [r for r in session.results if r.kind == "utterance"]
    total = sum(r.end_s - r.start_s for r in utts)
    assert summary.means["loudness"]["level"] == pytest.approx(
        sum((r.end_s - r.start_s) * r.heads["loudness"]["level"] for r in utts) / total)
    windows = [r for r in session.results if r.kind == "window"]
    peak = max(windows, key=lambda r: r.heads["loudness"]["strain"])
    assert summary.peaks["loudness"]["strain"] == {"value": peak.heads["loudness"]["strain"], "start_s": peak.start_s}
    assert "loudness: level" in summary.line() and "sentiment: " in summary.line()
    # With the declared heads, their kinds decide how the line shows them.
    heads = session.metadata["engine"]["model"]["heads"]
    declared = summarize(["mix"], session.segments, session.results, heads)[0]
    assert declared.kinds["loudness"] == "regression" and declared.kinds["sentiment"] == "categorical"
    assert declared.line() == summary.line()


def test_batch_table_and_report_hold_the_head(model_path, speech_16k, tmp_path):
    from streamer.batch.runner import run_batch
    from streamer.batch.settings import BatchSettings

    calls = tmp_path / "calls"
    calls.mkdir()
    sf.write(calls / "call.wav", np.stack([speech_16k * 0, speech_16k], axis=1), 16000)  # customer on the right
    out = tmp_path / "out"
    run = run_batch(calls, out, BatchSettings(model=str(model_path)), workers=1, progress=False)
    assert run.analysed == 1
    with open(out / "calls.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    summary = json.loads((out / "calls" / "call.wav" / "summary.json").read_text())["speakers"][0]
    assert float(rows[0]["mean_loudness_level"]) == pytest.approx(summary["means"]["loudness"]["level"], abs=1e-6)
    assert float(rows[0]["peak_sentiment_negative_s"]) == summary["peaks"]["sentiment"]["negative"]["start_s"]
    assert "mean loudness_level" in (out / "report.html").read_text()


def test_the_app_plots_the_head(qtbot, model_path, analysed):
    from gui.history import TrackHistory
    from gui.plots import PlotStack

    heads = Predictor.load(model_path, device="cpu").meta.heads
    results = SessionStore.open(analysed / "talk.jsonl").results
    history = TrackHistory(heads, history_s=60.0, with_spectrogram=False)
    for r in results:
        history.add_result(r)
    windows = [r for r in results if r.kind == "window"]
    np.testing.assert_allclose(history.head("sentiment")[:, 2], [r.heads["sentiment"]["positive"] for r in windows],
                               atol=1e-6)
    stack = PlotStack()
    qtbot.addWidget(stack)
    stack.set_heads(heads)
    lane = stack.ensure_lane(0, "mix")
    assert list(lane.head_plots) == ["emotion", "gender", "dimensions", "loudness", "sentiment"]
    stack.refresh({0: history})
    for head, names in (("loudness", ["level", "strain"]), ("sentiment", ["negative", "neutral", "positive"])):
        assert list(lane.head_curves[head]) == names
        y = lane.head_curves[head][names[-1]].getData()[1]
        assert y is not None and np.isfinite(y).sum() >= len(windows)
    assert "sentiment probabilities" in lane.caption(lane.head_plots["sentiment"])
    assert "level / strain" in lane.caption(lane.head_plots["loudness"])
