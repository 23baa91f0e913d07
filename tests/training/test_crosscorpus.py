"""Cross-corpus development sets (EmoDB, BAVED): recipes on synthetic trees, `ser eval --corpus`,
`ser eval --suite`, and the metrics behind them (restricted UA, Spearman, calibration)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from model.errors import SERError
from ser.cli import main as ser_main
from training.calibration import apply_temperature, calibrate, expected_calibration_error, fit_temperature
from training.crosscorpus import categorical_metrics
from training.metrics import rank, spearman
from training.recipes import emodb, load_corpus

# Real speech (tests/data) under the dev corpora's file names: speaker, sentence, emotion letter, version.
EMODB_NAMES = ["03a01Wa", "03a02Ta", "08a01Fa", "08b01Na", "10a04La", "16a05Ea", "11b03Ab", "13a02Wc"]
BAVED_NAMES = ["0-m-21-0-1-105", "0-m-21-2-1-661", "10-f-20-1-1-0", "10-f-20-2-1-3", "12-m-21-3-0-480",
               "7-f-23-1-0-9", "7-f-23-4-2-10", "12-m-21-5-1-11"]


def _tree(tmp_path, speech_paths, names, folder):
    root = tmp_path / folder
    root.mkdir()
    for src, name in zip(speech_paths, names):
        shutil.copy(src, root / f"{name}.flac")
    (root / "README.txt").write_text("not audio")
    (root / "not-a-name.flac").write_bytes(speech_paths[0].read_bytes())
    return root


@pytest.fixture()
def trees(tmp_path, speech_paths):
    return _tree(tmp_path, speech_paths, EMODB_NAMES, "emodb"), _tree(tmp_path, speech_paths, BAVED_NAMES, "baved")


def test_recipes_parse_names_and_report_strangers(trees):
    em, bv = trees
    entries, skipped = load_corpus("emodb", em)
    assert len(entries) == 8 and [s.item for s in skipped] == [str(em / "not-a-name.flac")]
    by_id = {e.utterance_id: e for e in entries}
    assert by_id["03a01Wa"].label == "angry" and by_id["03a01Wa"].gender == "male"
    assert by_id["08a01Fa"].label == "happy" and by_id["08a01Fa"].gender == "female"
    assert by_id["10a04La"].label is None  # boredom: no canonical label, still counts for gender
    entries, skipped = load_corpus("baved", bv)
    assert len(entries) == 8 and len(skipped) == 1
    e = next(x for x in entries if x.utterance_id == "7-f-23-4-2-10")  # word 4, level 2
    assert (e.speaker, e.gender, e.emotion_level, e.label) == ("7", "female", 2, None)
    with pytest.raises(ValueError):
        emodb.parse_name("99a01Wa")  # not one of the ten speakers


def test_dev_corpora_never_train(tmp_path):
    from training.config import load_config

    for corpus, extra in (("emodb", None), ("ravdess", "baved")):
        cfg = tmp_path / f"{corpus}.yaml"
        cfg.write_text(f"seed: 1\ncorpus: {corpus}\nlabels: [neutral, happy]\n"
                       + (f"extra_corpora: [{extra}]\n" if extra else ""))
        with pytest.raises(SERError, match="evaluation only"):
            load_config(cfg)


def test_ser_eval_dev_corpus_and_suite(trees, tiny_model_path, capsys, tmp_path):
    em, bv = trees
    assert ser_main(["eval", "--model", str(tiny_model_path), "--corpus", "emodb", "--root", str(em)]) == 0
    text = capsys.readouterr().out
    assert "full 8-way argmax" in text and "restricted to its 6 classes" in text and "confusion matrix" in text
    assert ser_main(["eval", "--model", str(tiny_model_path), "--corpus", "baved", "--root", str(bv), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["kind"] == "level" and r["n_utterances"] == 8 and -1 <= r["arousal_level_spearman"] <= 1
    assert 0 <= r["gender_accuracy"] <= 1
    out = tmp_path / "suite.json"
    assert ser_main(["eval", "--model", str(tiny_model_path), "--suite", "--emodb", str(em), "--baved", str(bv),
                     "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "EmoDB" in table and "BAVED" in table and "RAVDESS" in table
    suite = json.loads(out.read_text())
    assert suite["emodb"]["n_utterances"] == 7 and suite["baved"]["n_utterances"] == 8
    from training.model_card import render_suite

    card = render_suite(suite)
    assert "| EmoDB (German, acted; 10 speakers), clips alone | all speakers |" in card and "BAVED" in card
    # Missing folders are named, not a traceback.
    assert ser_main(["eval", "--model", str(tiny_model_path), "--suite", "--emodb", str(em)]) == 2
    assert "--baved" in capsys.readouterr().err


def test_ser_eval_measures_the_products_runtime_unless_told(trees, tiny_model_path, capsys):
    """By default ``ser eval`` measures what the product runs on the CPU (the ONNX export); --runtime
    torch measures torch, which gives the same numbers for this model (it has no voice encoder, the
    one part the export runs in int8)."""
    em, _ = trees
    results = {}
    for runtime in ("auto", "onnx", "torch"):
        assert ser_main(["eval", "--model", str(tiny_model_path), "--corpus", "emodb", "--root", str(em),
                         "--runtime", runtime, "--json"]) == 0
        results[runtime] = json.loads(capsys.readouterr().out)
    assert [results[k]["runtime"] for k in ("auto", "onnx", "torch")] == ["onnx", "onnx", "torch"]
    for key in ("ua_full", "ua_restricted", "gender_accuracy"):
        assert results["onnx"][key] == pytest.approx(results["torch"][key])
    assert ser_main(["eval", "--model", str(tiny_model_path), "--corpus", "emodb", "--root", str(em)]) == 0
    assert "(onnx)" in capsys.readouterr().out.splitlines()[0]


def test_full_and_restricted_unweighted_accuracy():
    from model.predictor import Prediction
    from training.manifest import ManifestEntry

    labels = ["neutral", "calm", "happy", "surprised"]

    def pred(p):
        return Prediction(tuple(labels), np.array(p, dtype=np.float32), np.array([0.5, 0.5]), np.zeros(3))

    entries = [ManifestEntry("a", "x", "1", "male", lab, 1.0) for lab in ("neutral", "neutral", "happy", "happy")]
    preds = [pred([0.6, 0.1, 0.2, 0.1]), pred([0.1, 0.2, 0.3, 0.4]), pred([0.1, 0.1, 0.2, 0.6]),
             pred([0.1, 0.1, 0.7, 0.1])]
    m = categorical_metrics(entries, preds, labels)
    assert m["classes"] == ["neutral", "happy"]
    assert m["ua_full"] == pytest.approx(0.5)  # neutral 1/2, happy 1/2
    assert m["ua_restricted"] == pytest.approx(0.75)  # among neutral/happy: neutral 1/2, happy 2/2
    assert m["confusion_matrix"] == [[1, 0, 0, 1], [0, 0, 1, 1]]


def test_spearman_with_ties():
    assert rank(np.array([3, 1, 1, 2])).tolist() == [4.0, 1.5, 1.5, 3.0]
    assert spearman(np.array([1, 2, 3, 4]), np.array([10, 20, 30, 40])) == pytest.approx(1.0)
    assert spearman(np.array([1, 2, 3, 4]), np.array([4, 3, 2, 1])) == pytest.approx(-1.0)
    x = np.array([0.1, 0.4, 0.35, 0.8, 0.7])
    y = np.array([0, 1, 1, 2, 2])
    rx, ry = rank(x), rank(y)
    assert spearman(x, y) == pytest.approx(np.corrcoef(rx, ry)[0, 1])


def test_temperature_scaling_recovers_an_overconfident_model():
    rng = np.random.default_rng(0)
    n, k = 4000, 8
    logits = rng.normal(0, 1.5, (n, k))
    true_p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = np.array([rng.choice(k, p=p) for p in true_p])  # outcomes drawn from the calibrated probabilities
    overconfident = apply_temperature(true_p, 1 / 3)  # three times too sharp
    assert fit_temperature(overconfident, y) == pytest.approx(3.0, rel=0.15)
    report = calibrate(overconfident, y)
    assert report["ece_after"] < report["ece_before"] / 2
    assert expected_calibration_error(np.eye(k)[y], y) == pytest.approx(0.0)
    assert 0 <= report["uncertain_share"] <= 1


def test_eval_on_speakers_the_model_heard_says_so(ravdess_dir, tmp_path, capsys):
    """The bundled model lists its training speakers (RAVDESS 01-20): evaluating any of them is not
    accuracy on unheard speakers, and ser eval says so; speakers the folder lacks are named."""
    out = tmp_path / "eval.json"
    assert ser_main(["eval", "--corpus", "ravdess", "--root", str(ravdess_dir), "--speakers", "1-2", "--no-tta",
                     "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "warning: ravdess speakers 01-02 of these were in the model's training set" in err, err
    assert json.loads(out.read_text())["speakers_heard_in_training"] == ["01", "02"]
    assert ser_main(["eval", "--corpus", "ravdess", "--root", str(ravdess_dir), "--speakers", "21-24"]) == 2
    assert "for speakers 21-24; the folder has speakers 01-04." in capsys.readouterr().err
