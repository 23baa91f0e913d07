"""Help > About and Help > Keyboard shortcuts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from PySide6 import QtWidgets

from gui import about

REPO = Path(__file__).resolve().parents[2]
DEFAULT_MODEL = REPO / "model" / "weights" / "default.safetensors"


def _suite(cv: dict) -> dict:
    return {"model": "m.safetensors", "runtime": "onnx", "ravdess_cv": cv,
            "emodb": {"speakers": list("abcdefghij"), "labels": list("12345678"), "classes": list("123456"),
                      "ua_full": 0.3734, "ua_restricted": 0.6123, "gender_accuracy": 0.9645},
            "baved": {"speakers": ["s"] * 60, "arousal_level_spearman": 0.6512, "gender_accuracy": 0.9551}}


def test_the_accuracy_shown_is_the_report_beside_the_model_and_only_if_it_is_this_models(tmp_path):
    cv = {"split": "5-fold speaker-held-out cross-validation on ravdess; test speakers per fold: ...",
          "unweighted_accuracy": {"mean": 0.6274}, "gender_accuracy": {"mean": 0.9916}}
    model = tmp_path / "m.safetensors"
    assert about.suite_path(model) == tmp_path / "m_suite.json"
    assert about.accuracy_lines(model, cv)[0].startswith("No accuracy report beside the model file (m_suite.json)")
    about.suite_path(model).write_text(json.dumps(_suite(cv)))
    lines = about.accuracy_lines(model, cv)
    # The corpus it learnt from, speakers held out, beside the corpora it never learnt from.
    assert "(RAVDESS speech, 5-fold speaker-held-out cross-validation): 8 emotions 62.7 % unweighted" in lines[0]
    assert "chance 12.5 %" in lines[0] and "gender 99.2 %" in lines[0]
    assert "EmoDB (German, 10 speakers) 37.3 %" in lines[1] and "61.2 % among the 6" in lines[1]
    assert "Spearman correlation of 0.65" in lines[1] and "gender 95.5 %" in lines[1]
    assert "Measured with ONNX Runtime" in lines[2]
    # A model trained again beside the old report: no figures of another model.
    other = about.accuracy_lines(model, {**cv, "unweighted_accuracy": {"mean": 0.70}})
    assert len(other) == 1 and "is of another model" in other[0]
    assert "stores no speaker-held-out result" in about.accuracy_lines(model, None)[0]
    about.suite_path(model).write_text("{broken")
    assert "cannot be read" in about.accuracy_lines(model, cv)[0]
    about.suite_path(model).write_text(json.dumps({**_suite(cv), "emodb": {}}))
    assert "lacks figures" in about.accuracy_lines(model, cv)[0]
    # With speaker adaptation (the app's default), when the report holds those figures too.
    adapted_cv = {**cv, "speaker_adapted": {"unweighted_accuracy": {"mean": 0.6494}}}
    suite = _suite(adapted_cv)
    suite["emodb"]["adapted"] = {"ua_full": 0.4331, "ua_restricted": 0.6396}
    suite["baved"]["adapted"] = {"arousal_level_spearman": 0.6469}
    about.suite_path(model).write_text(json.dumps(suite))
    lines = about.accuracy_lines(model, adapted_cv)
    assert len(lines) == 4 and lines[2].startswith("With speaker adaptation, the app's default")
    assert "64.9 % on the speakers it never heard, EmoDB 43.3 % and 64.0 %, BAVED 0.65." in lines[2]


def test_the_bundled_models_report_is_its_own():
    """The shipped model's About shows figures: its report beside it was measured on it."""
    from model.meta import read_meta

    meta = read_meta(DEFAULT_MODEL)
    lines = about.accuracy_lines(DEFAULT_MODEL, meta.metrics.get("cross_validation"))
    suite = json.loads(about.suite_path(DEFAULT_MODEL).read_text())
    assert f"{100 * suite['emodb']['ua_full']:.1f} %" in lines[1], lines


def test_about_says_when_the_cross_validation_is_of_the_voice_encoder_the_model_had_before(tiny_model_path):
    """A model whose voice encoder was pruned after its cross-validation (its metadata says so, as
    ``training.voice_distill install`` writes it): About says which figure is of which encoder. A
    model trained as it is, or the bundled one (its cross-validation is of its own encoder), gets no
    such note."""
    import dataclasses

    from model.meta import read_meta

    meta = read_meta(DEFAULT_MODEL)
    voice = {**meta.training["voice_encoder"], "cross_validation_and_calibration_measured_with": {"voice_hidden": [256, 256, 256]}}
    before = dataclasses.replace(meta, training={**meta.training, "voice_encoder": voice})
    assert "voice encoder the model had before" in about.cv_encoder_note(before)
    assert about.cv_encoder_note(read_meta(tiny_model_path)) is None
    same = dataclasses.replace(before, arch=dataclasses.replace(meta.arch, voice_hidden=(256, 256, 256)))
    assert about.cv_encoder_note(same) is None  # measured with the encoder it has
    assert about.cv_encoder_note(meta) is None


def test_about_names_the_model_its_licence_and_the_sessions_folder(make_window, tiny_model_path, tmp_path):
    model = tmp_path / "tiny.safetensors"
    shutil.copy(tiny_model_path, model)
    w = make_window(model_path=str(model))
    dialog = w.show_about()
    text = dialog.findChild(QtWidgets.QLabel).text()
    assert "tiny.safetensors" in text and str(w.session_dir) in text and "AI Act" in text
    assert "No accuracy report beside the model file (tiny_suite.json)" in text
    assert "RAVDESS," not in text  # no in-corpus figure without the cross-corpus ones
    dialog.close()
    w.bridge.compute = lambda: ("cpu", "ONNX Runtime")  # (the status bar: "cpu (ONNX Runtime)")
    assert "run by ONNX Runtime on the CPU." in w.show_about().findChild(QtWidgets.QLabel).text()
    # Asked for again while open: the same dialog, its text as it is now (not a second one).
    assert len([d for d in w.findChildren(QtWidgets.QDialog, "aboutDialog") if d.isVisible()]) == 1
    w.bridge.compute = lambda: ("cuda:0", "torch")
    assert "run by torch on the GPU (cuda:0)." in w.show_about().findChild(QtWidgets.QLabel).text()


def test_about_without_a_model_says_so(make_window, tmp_path):
    w = make_window(model_path=str(tmp_path / "gone.safetensors"))
    text = w.show_about().findChild(QtWidgets.QLabel).text()
    assert "none could be read" in text


def test_the_shortcuts_list_every_key_once(make_window):
    w = make_window()
    rows = w.keyboard_shortcuts()
    keys = [k for _, k in rows]
    assert len(keys) == len(set(keys))
    named = dict(rows)
    assert named["Play, pause or resume"] == "Space" and named["Open file"] == "Ctrl+O"
    assert named["Keyboard shortcuts"] == "F1" and named["Seek back 5 s"] == "Left" and named["Quit"] == "Ctrl+Q"
    assert [a.text() for a in w.menuBar().actions()][-1] == "&Help"  # the last menu
    w.act_shortcuts.trigger()  # F1
    dialog = w.findChild(QtWidgets.QDialog, "shortcutsDialog")
    assert dialog is not None and "Ctrl+Shift+C" in dialog.findChild(QtWidgets.QLabel).text()


def test_odd_reports_and_metadata_give_a_sentence_not_a_traceback(make_window, tiny_model_path, tmp_path):
    """A report written by hand or another version: odd types, missing or NaN figures (gender is None
    where it was not measured), a degraded run; metadata of odd types."""
    from types import SimpleNamespace

    cv = {"split": "5-fold speaker-held-out cross-validation on iemocap; ...", "unweighted_accuracy": {"mean": 0.5},
          "gender_accuracy": {"mean": None}}
    model = tmp_path / "m.safetensors"
    odd = [{"emodb": {**_suite(cv)["emodb"], "ua_full": "37 %"}}, {"ravdess_cv": {**cv, "split": 3}},
           {"runtime": ["onnx"]}, {"emodb": {**_suite(cv)["emodb"], "ua_full": float("nan")}}, {"baved": None}]
    for change in odd:
        suite = {**_suite(cv), **change}
        about.suite_path(model).write_text(json.dumps(suite))
        lines = about.accuracy_lines(model, suite["ravdess_cv"], 4)
        assert lines and all(isinstance(line, str) for line in lines), change
    about.suite_path(model).write_text(json.dumps({**_suite(cv), "degraded": "phone"}))
    lines = about.accuracy_lines(model, cv, 4)
    assert "(IEMOCAP, 5-fold" in lines[0] and "4 emotions 50.0 %" in lines[0] and "chance 25.0 %" in lines[0]
    assert "gender" not in lines[0]  # not measured: not shown
    assert "its clips through phone" in lines[1]
    assert "stores no speaker-held-out result" in about.accuracy_lines(model, None)[0]
    for meta in (SimpleNamespace(labels=None, corpora=5, metrics=[1]),
                 SimpleNamespace(labels=["a"], corpora=[{"name": "x", "speakers": 3, "licence": "see LICENCE"}],
                                 metrics={"cross_validation": "?"})):
        text = about.about_html("1", str(model), meta, "cpu", tmp_path)
        assert "Accuracy" in text and "commercial" not in text  # "see LICENCE" is no non-commercial licence
    nc = SimpleNamespace(labels=["a"], corpora=[{"name": "ravdess", "licence": "CC BY-NC-SA 4.0"}], metrics={})
    assert "not for commercial use" in about.about_html("1", str(model), nc, "cpu", tmp_path)
