"""RAVDESS recipe on a fixture tree, a one-epoch training run, ``ser eval --json``, bad files."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
import yaml

from model import Predictor
from model.labels import derived_dimensions
from model.meta import onnx_path_for
from ser.cli import main as ser_main
from training.recipes.ravdess import build_manifest, parse_name

TINY_CONFIG = {
    "seed": 7,
    "corpus": "ravdess",
    "labels": ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"],
    "speakers": "1-4",
    "split": {"folds": 2, "val_speakers": 1},
    "final": {"epochs": 1},
    "arch": {"channels": [4, 8, 8, 16, 16], "head_dim": 16, "attention_dim": 8},
    "augment": {"speeds": [1.0, 1.1]},
    "optim": {"epochs": 1, "batch_size": 2, "min_epochs": 1, "ema_decay": 0.9},
}


def test_parse_name():
    f = parse_name("03-01-05-02-01-01-01")
    assert f == {"vocal_channel": "speech", "label": "angry", "intensity": "strong", "statement": "01",
                 "repetition": "01", "actor": 1, "gender": "male"}
    assert parse_name("03-02-04-01-02-02-12")["vocal_channel"] == "song"
    for bad in ("01-01-05-02-01-01-01", "03-01-09-01-01-01-01", "03-01-05", "notes"):
        with pytest.raises(ValueError):
            parse_name(bad)


def test_recipe_on_fixture_tree(ravdess_dir):
    entries, skipped = build_manifest(ravdess_dir)
    assert len(entries) == 8 and skipped == []
    by_id = {e.utterance_id: e for e in entries}
    e = by_id["03-01-05-02-01-01-01"]
    assert (e.label, e.intensity, e.speaker, e.gender, e.corpus) == ("angry", "strong", "01", "male", "ravdess")
    assert (e.valence, e.arousal, e.dominance) == derived_dimensions("angry", "strong")
    assert e.arousal > derived_dimensions("angry", "normal")[1]  # intensity scales arousal
    assert by_id["03-01-03-02-01-01-02"].gender == "female"
    assert 2.0 < e.duration_s < 3.0
    assert {x.speaker for x in build_manifest(ravdess_dir, speakers={2, 3})[0]} == {"02", "03"}


def test_recipe_accepts_original_48k_wav_and_reports_bad_files(tmp_path, ravdess_dir):
    for src in ravdess_dir.glob("Actor_0[12]/*.flac"):
        x, rate = sf.read(src, dtype="float32")
        dst = tmp_path / src.parent.name / (src.stem + ".wav")
        dst.parent.mkdir(exist_ok=True)
        sf.write(dst, soxr.resample(x, rate, 48000), 48000, subtype="PCM_16")
    (tmp_path / "Actor_01" / "03-01-02-01-01-01-01.wav").write_bytes(b"RIFF....garbage")
    (tmp_path / "Actor_01" / "README.wav").write_bytes(b"")
    entries, skipped = build_manifest(tmp_path)
    assert len(entries) == 4
    reasons = {Path(s.item).name: s.reason for s in skipped}
    assert "unreadable" in reasons["03-01-02-01-01-01-01.wav"]
    assert "not a RAVDESS" in reasons["README.wav"]


def test_actor_folds_balance_gender():
    from training.manifest import ManifestEntry
    from training.run import make_folds

    entries = [ManifestEntry(path=f"{a}.wav", corpus="ravdess", speaker=f"{a:02d}", gender="male" if a % 2 else "female",
                             label="neutral", duration_s=3.0) for a in range(20, 0, -1)]
    folds = make_folds(entries, 5)
    assert folds[0] == ["01", "02", "03", "04"] and len(folds) == 5
    for f in folds:
        assert sum(int(a) % 2 for a in f) == 2


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, ravdess_dir):
    """A tree with the 8 real clips plus one corrupt file, a tiny config, and a trained model."""
    root = tmp_path_factory.mktemp("ravdess")
    tree = root / "corpus"
    shutil.copytree(ravdess_dir, tree)
    # Header of a FLAC file with its audio cut off: readable metadata, unreadable samples.
    good = next(tree.glob("Actor_01/*.flac"))
    (tree / "Actor_02" / "03-01-01-01-02-02-02.flac").write_bytes(good.read_bytes()[:600])
    config = root / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY_CONFIG))
    out = root / "final"
    code = ser_main(["train", "--config", str(config), "--root", str(tree), "--out", str(out), "--quiet",
                     "--threads", "2"])
    assert code == 0
    return tree, config, out


def test_one_epoch_training_writes_a_loadable_model(tiny_run):
    tree, config, out = tiny_run
    predictor = Predictor.load(out / "model.safetensors")
    assert list(predictor.labels) == TINY_CONFIG["labels"]
    assert predictor.meta.dimensions_source == "derived-from-category"
    assert predictor.meta.corpora[0]["licence"] == "CC BY-NC-SA 4.0"
    assert predictor.meta.training["epochs_run"] == 1
    assert np.isfinite(predictor.meta.features.n_mels)
    history = json.loads((out / "history.json").read_text())
    assert len(history) == 1 and history[0]["loss_emotion"] > 0
    assert "03-01-01-01-02-02-02.flac" in (out / "skipped.txt").read_text()


def test_training_refuses_to_overwrite(tiny_run, capsys):
    tree, config, out = tiny_run
    code = ser_main(["train", "--config", str(config), "--root", str(tree), "--out", str(out), "--quiet"])
    assert code == 2
    assert "--overwrite" in capsys.readouterr().err


def test_cross_validation_report(tiny_run, tmp_path):
    tree, config, _ = tiny_run
    out = tmp_path / "cv"
    assert ser_main(["train", "--config", str(config), "--root", str(tree), "--out", str(out), "--cv",
                     "--quiet", "--threads", "2"]) == 0
    report = json.loads((out / "cv_report.json").read_text())
    assert len(report["folds"]) == 2
    for fold in report["folds"]:
        test, val = set(fold["test_speakers"]), set(fold["val_speakers"])
        assert not test & val
        assert fold["metrics"]["n_utterances"] > 0
    assert report["folds"][0]["test_speakers"] == ["01", "02"]
    # Each fold keeps its model (trained without the test speakers) and per-clip test predictions.
    fold1 = Predictor.load(out / "fold1" / "model.safetensors")
    assert not {"01", "02"} & set(fold1.meta.corpora[0]["speakers"])
    rows = [json.loads(line) for line in (out / "fold1" / "test_predictions.jsonl").read_text().splitlines()]
    assert len(rows) == report["folds"][0]["metrics"]["n_utterances"]
    assert {r["speaker"] for r in rows} == {"01", "02"}
    recall = np.mean([np.argmax(r["probabilities"]) == report["labels"].index(r["label"]) for r in rows])
    assert recall == pytest.approx(report["folds"][0]["metrics"]["weighted_accuracy"])
    assert "mean" in report["summary"]["plain"]["unweighted_accuracy"]
    # Runs over different folds (--folds) merge into the report of the whole cross-validation.
    from training.run import merge_cv_reports

    halves = [{**report, "folds": [f]} for f in report["folds"]]
    assert merge_cv_reports(halves[::-1])["summary"] == report["summary"]
    with pytest.raises(ValueError):
        merge_cv_reports([report, {**report, "config": {**report["config"], "seed": 1}}])
    # The report goes into a model file's metadata and into the model card.
    from training.model_card import main as card_main

    model = tmp_path / "model.safetensors"
    shutil.copy(tiny_run[2] / "model.safetensors", model)
    assert card_main(["--model", str(model), "--cv-report", str(out / "cv_report.json"),
                      "--out", str(tmp_path / "card.md"), "--attach"]) == 0
    cv = Predictor.load(model).meta.metrics["cross_validation"]
    ua = report["summary"]["plain"]["unweighted_accuracy"]["mean"]
    assert cv["unweighted_accuracy"]["mean"] == ua and "speaker-held-out" in cv["split"]
    card = (tmp_path / "card.md").read_text()
    assert f"{100 * ua:.1f} %" in card and "| true \\ predicted |" in card


def test_eval_json_keys(tiny_run, capsys):
    tree, _, out = tiny_run
    capsys.readouterr()
    assert ser_main(["eval", "--model", str(out / "model.safetensors"), "--corpus", "ravdess", "--root", str(tree),
                     "--speakers", "1,2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    for key in ("labels", "n_utterances", "unweighted_accuracy", "weighted_accuracy", "macro_f1", "top3_accuracy",
                "confusion_matrix", "gender_accuracy", "tta"):
        assert key in result
    assert result["speakers"] == ["01", "02"]
    assert result["n_utterances"] == 4
    cm = np.array(result["confusion_matrix"])
    assert cm.shape == (8, 8) and cm.sum() == 4
    assert set(result["tta"]) >= {"unweighted_accuracy", "weighted_accuracy", "top3_accuracy", "gender_accuracy"}
    assert any("03-01-01-01-02-02-02" in s["item"] for s in result["skipped"])


def test_eval_table_and_errors(tiny_run, capsys, tmp_path):
    tree, _, out = tiny_run
    assert ser_main(["eval", "--model", str(out / "model.safetensors"), "--root", str(tree), "--no-tta"]) == 0
    assert "confusion matrix" in capsys.readouterr().out
    assert ser_main(["eval", "--model", str(tmp_path / "missing.safetensors"), "--root", str(tree)]) == 2
    assert "not found" in capsys.readouterr().err
    assert ser_main(["eval", "--model", str(out / "model.safetensors"), "--root", str(tmp_path / "nope")]) == 2
    assert "RAVDESS folder not found" in capsys.readouterr().err


def test_masked_multitask_loss_skips_absent_tasks():
    import torch

    from training.train import multitask_loss

    out = {"emotion": torch.randn(3, 8, requires_grad=True), "gender": torch.randn(3, 2),
           "dimensions": torch.rand(3, 3)}
    no_labels = torch.full((3,), -1)
    nan_vad = torch.full((3, 3), float("nan"))
    total, parts = multitask_loss(out, no_labels, torch.tensor([0, 1, -1]), nan_vad, torch.zeros(3), None, 0.0)
    assert parts["emotion"] is None and parts["dimensions"] is None and parts["gender"] > 0
    assert torch.isfinite(total)
    # Only the gender loss counts: 0.5 * exp(0) * L_gender + 0.5 * 0.
    assert float(total) == pytest.approx(0.5 * parts["gender"], rel=1e-5)
    # Log-variances below the floor count as the floor: no task weight exceeds 0.5 with floor 0.
    low = torch.full((3,), -3.0)
    floored, _ = multitask_loss(out, no_labels, torch.tensor([0, 1, -1]), nan_vad, low, None, 0.0, min_log_var=0.0)
    assert float(floored) == pytest.approx(0.5 * parts["gender"], rel=1e-5)
    free, _ = multitask_loss(out, no_labels, torch.tensor([0, 1, -1]), nan_vad, low, None, 0.0)
    assert float(free) == pytest.approx(0.5 * np.exp(3.0) * parts["gender"] - 1.5, rel=1e-5)


def test_training_combines_corpora_with_masked_labels(tmp_path, ravdess_dir):
    """RAVDESS plus a synthetic IEMOCAP tree: IEMOCAP's own labels (e.g. frustrated) are not among
    the 8 outputs, so those turns train only the gender and V/A/D heads."""
    from iemocap_fixture import make_iemocap_tree

    iemocap = make_iemocap_tree(tmp_path)
    config = tmp_path / "combined.yaml"
    config.write_text(yaml.safe_dump({**TINY_CONFIG, "extra_corpora": ["iemocap"], "label_set": "8class"}))
    out = tmp_path / "out"
    assert ser_main(["train", "--config", str(config), "--root", str(ravdess_dir), "--extra-root",
                     f"iemocap={iemocap}", "--out", str(out), "--quiet", "--threads", "2"]) == 0
    meta = Predictor.load(out / "model.safetensors").meta
    names = [c["name"] for c in meta.corpora]
    assert names == ["ravdess", "iemocap"] and meta.corpora[1]["training_only"]
    assert meta.dimensions_source == "derived-from-category"  # mixed sources: not all human ratings
    manifest = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert {m["corpus"] for m in manifest} == {"ravdess", "iemocap"}
    assert ser_main(["train", "--config", str(config), "--root", str(ravdess_dir), "--out", str(tmp_path / "o2"),
                     "--quiet"]) == 2  # extra corpus folder missing: clear error


def test_clip_bank_trims_training_clips_to_their_audible_part(tmp_path):
    """Training crops come from the audible part, as the Predictor's utterance windows do."""
    from training.data import ClipBank
    from training.manifest import ManifestEntry

    rate = 16000
    t = np.arange(rate) / rate
    tone = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    silence = np.zeros(rate, dtype=np.float32)
    path = tmp_path / "clip.wav"
    sf.write(path, np.concatenate([silence, tone, silence]), rate)
    entry = ManifestEntry(path=str(path), corpus="test", speaker="1", gender="female", label="happy",
                          duration_s=3.0)
    full = ClipBank([entry], ["happy"], trim=False)
    trimmed = ClipBank([entry], ["happy"], (0.9, 1.0), trim=True)
    assert len(full.waves[1.0][0]) == 3 * rate
    # The tone plus speech_bounds' 0.15 s of padding on each side, to within one 20 ms frame.
    assert abs(len(trimmed.waves[1.0][0]) - 1.3 * rate) <= 0.02 * rate
    # Speed-perturbed copies are made from the trimmed clip.
    assert abs(len(trimmed.waves[0.9][0]) - 1.3 * rate / 0.9) <= 0.03 * rate


def test_ensemble_trained_in_one_run_equals_member_runs_combined(tiny_run, tmp_path, capsys):
    """``arch.members: 2`` in one ``ser train`` and ``--member 1`` / ``--member 2`` runs combined
    by ``ser ensemble`` give the same cross-validation and the same model."""
    tree, _, _ = tiny_run
    config = tmp_path / "ens.yaml"
    cfg = {**TINY_CONFIG, "split": {"folds": 2, "val_speakers": 0},
           "arch": {**TINY_CONFIG["arch"], "members": 2}}
    config.write_text(yaml.safe_dump(cfg))
    common = ["--config", str(config), "--root", str(tree), "--quiet", "--threads", "1"]
    assert ser_main(["train", *common, "--cv", "--out", str(tmp_path / "cv")]) == 0
    assert ser_main(["train", *common, "--cv", "--member", "1", "--out", str(tmp_path / "cv_m1")]) == 0
    # Member 2's folds ran in two processes (--folds): its two run folders count as one member.
    for k in (1, 2):
        assert ser_main(["train", *common, "--cv", "--member", "2", "--folds", str(k),
                         "--out", str(tmp_path / f"cv_m2_{k}")]) == 0
    assert ser_main(["ensemble", str(tmp_path / "cv_m1"), f"{tmp_path / 'cv_m2_2'},{tmp_path / 'cv_m2_1'}",
                     "--root", str(tree), "--out", str(tmp_path / "cv_ens")]) == 0
    native = json.loads((tmp_path / "cv" / "cv_report.json").read_text())
    combined = json.loads((tmp_path / "cv_ens" / "cv_report.json").read_text())
    assert native["config"] == combined["config"] and native["config"]["arch"]["members"] == 2
    for a, b in zip(native["folds"], combined["folds"]):
        assert a["metrics"]["confusion_matrix"] == b["metrics"]["confusion_matrix"]
        assert a["metrics"]["unweighted_accuracy"] == pytest.approx(b["metrics"]["unweighted_accuracy"])
    # The ensemble's fold model holds both members and averages their probabilities.
    ens = Predictor.load(tmp_path / "cv_ens" / "fold1" / "model.safetensors")
    members = [Predictor.load(tmp_path / m / "fold1" / "model.safetensors") for m in ("cv_m1", "cv_m2_1")]
    x = np.random.default_rng(0).standard_normal(32000).astype(np.float32) * 0.1
    mean = (members[0].predict(x).probabilities + members[1].predict(x).probabilities) / 2
    np.testing.assert_allclose(ens.predict(x).probabilities, mean, atol=1e-5)
    assert (tmp_path / "cv" / "fold1" / "member2" / "history.json").is_file()

    # Final models: one run of the ensemble config equals the two member runs combined.
    assert ser_main(["train", *common, "--cv-report", str(tmp_path / "cv_ens" / "cv_report.json"),
                     "--out", str(tmp_path / "final")]) == 0
    for m in (1, 2):
        assert ser_main(["train", *common, "--member", str(m), "--out", str(tmp_path / f"final_m{m}")]) == 0
    assert ser_main(["ensemble", str(tmp_path / "final_m1"), str(tmp_path / "final_m2"),
                     "--cv-report", str(tmp_path / "cv_ens" / "cv_report.json"),
                     "--out", str(tmp_path / "final_ens")]) == 0
    one = Predictor.load(tmp_path / "final" / "model.safetensors")
    two = Predictor.load(tmp_path / "final_ens" / "model.safetensors")
    np.testing.assert_allclose(one.predict(x).probabilities, two.predict(x).probabilities, atol=1e-5)
    assert one.meta.training["config"] == two.meta.training["config"]
    assert one.meta.calibration == two.meta.calibration and two.meta.temperature > 0
    assert two.meta.metrics["cross_validation"]["unweighted_accuracy"]["mean"] == pytest.approx(
        combined["summary"]["plain"]["unweighted_accuracy"]["mean"])

    # Runs that are not members of one ensemble are refused with the reason.
    capsys.readouterr()
    assert ser_main(["ensemble", str(tmp_path / "final_m2"), str(tmp_path / "final_m1"),
                     "--out", str(tmp_path / "bad")]) == 2
    assert "seed" in capsys.readouterr().err
    assert ser_main(["train", *common, "--member", "3", "--out", str(tmp_path / "m3")]) == 2
    assert "members 1 to 2" in capsys.readouterr().err


def test_voice_emotion_heads_from_training_equal_those_added_to_an_old_run(tiny_run, tmp_path):
    """``ser train`` of a ``voice_emotion`` config fits the voice-emotion heads after the networks;
    ``ser voice-emotion`` gives a run trained without them the same heads, so
    a model upgraded that way is the model the config trains."""
    tree, _, _ = tiny_run
    arch = {**TINY_CONFIG["arch"], "voice_gender": True}
    common = ["--root", str(tree), "--quiet", "--threads", "1"]
    for name, extra in (("new", {"voice_emotion": True}), ("old", {})):
        config = tmp_path / f"{name}.yaml"
        config.write_text(yaml.safe_dump({**TINY_CONFIG, "arch": {**arch, **extra}}))
        assert ser_main(["train", "--config", str(config), *common, "--out", str(tmp_path / name)]) == 0
    assert ser_main(["voice-emotion", str(tmp_path / "old"), "--root", str(tree),
                       "--weight", "0.6", "--weight-unadapted", "0.5"]) == 0
    new = Predictor.load(tmp_path / "new" / "model.safetensors", device="cpu")
    old = Predictor.load(tmp_path / "old" / "model.safetensors", device="cpu")
    assert new.voice_emotion and old.voice_emotion and new.adapts_to_speaker
    assert old.meta.training["config"]["arch"] == new.meta.training["config"]["arch"]
    heads = [k for k in new.net.state_dict() if k.startswith(("voice.emotion_", "voice.dimensions_"))]
    assert len(heads) == 8
    for k in heads:
        np.testing.assert_allclose(new.net.state_dict()[k].numpy(), old.net.state_dict()[k].numpy(), atol=1e-4)
        assert new.net.state_dict()[k].abs().sum() > 0
    x = np.random.default_rng(0).standard_normal(32000).astype(np.float32) * 0.1
    np.testing.assert_allclose(new.predict(x).probabilities, old.predict(x).probabilities, atol=1e-4)
    assert new.predict(x).probabilities.sum() == pytest.approx(1.0, abs=1e-5)


def test_voice_emotion_added_to_a_cross_validation_run_is_evaluated_again(tiny_run, tmp_path):
    """``ser voice-emotion`` on a cross-validation run refits each fold's heads (with the cadence asked
    for) and evaluates the folds again, so cv_report.json describes the models the run now holds."""
    tree, _, _ = tiny_run
    config = tmp_path / "old.yaml"
    config.write_text(yaml.safe_dump({**TINY_CONFIG, "arch": {**TINY_CONFIG["arch"], "voice_gender": True}}))
    run = tmp_path / "cv"
    assert ser_main(["train", "--config", str(config), "--root", str(tree), "--quiet", "--threads", "1",
                     "--cv", "--folds", "1", "--out", str(run)]) == 0
    before = json.loads((run / "cv_report.json").read_text())
    assert "adapted" not in before["folds"][0]["metrics"]  # voice gender alone does not adapt
    assert ser_main(["voice-emotion", str(run), "--root", str(tree), "--every", "2"]) == 0
    after = json.loads((run / "cv_report.json").read_text())
    assert after["config"]["arch"]["voice_emotion"] and after["config"]["arch"]["voice_emotion_every_s"] == 2.0
    fold = after["folds"][0]
    assert "adapted" in fold["metrics"] and "adapted" in after["summary"]
    assert json.loads((run / "fold1" / "metrics.json").read_text())["metrics"] == fold["metrics"]
    model = Predictor.load(run / "fold1" / "model.safetensors", device="cpu")
    assert model.voice_emotion and model.meta.arch.voice_emotion_every_s == 2.0
    assert len(fold["metrics"]["test_predictions"]["y"]) == len(before["folds"][0]["metrics"]["test_predictions"]["y"])


def test_distillation_learns_from_a_teacher_that_never_heard_the_test_speakers(tiny_run, tmp_path, capsys):
    """``optim.distill_weight`` with ``--teacher``: each fold's teacher must not have trained on
    that fold's test speakers; the teacher's probabilities change what the student learns."""
    tree, _, final = tiny_run
    common = ["--root", str(tree), "--quiet", "--threads", "1"]
    plain_cfg, distil_cfg = tmp_path / "plain.yaml", tmp_path / "distil.yaml"
    plain_cfg.write_text(yaml.safe_dump(TINY_CONFIG))
    distil_cfg.write_text(yaml.safe_dump({**TINY_CONFIG, "optim": {**TINY_CONFIG["optim"], "distill_weight": 0.5}}))
    assert ser_main(["train", "--config", str(plain_cfg), *common, "--cv", "--out", str(tmp_path / "teacher")]) == 0
    capsys.readouterr()
    # The final model heard every speaker: as a fold's teacher it would leak the test speakers.
    assert ser_main(["train", "--config", str(distil_cfg), *common, "--cv", "--folds", "1",
                     "--teacher", str(final / "model.safetensors"), "--out", str(tmp_path / "leak")]) == 2
    assert "held-out speakers" in capsys.readouterr().err
    # The two settings go together.
    assert ser_main(["train", "--config", str(distil_cfg), *common, "--out", str(tmp_path / "x")]) == 2
    assert "--teacher" in capsys.readouterr().err
    assert ser_main(["train", "--config", str(plain_cfg), *common, "--teacher", str(final / "model.safetensors"),
                     "--out", str(tmp_path / "y")]) == 2
    assert "distill_weight" in capsys.readouterr().err
    # Each fold taught by the teacher of the same fold: the student's emotion loss differs from the
    # same run without a teacher (same seed, same data), and it is evaluated as usual.
    teacher = str(tmp_path / "teacher" / "fold{fold}" / "model.safetensors")
    assert ser_main(["train", "--config", str(distil_cfg), *common, "--cv", "--teacher", teacher,
                     "--out", str(tmp_path / "student")]) == 0
    taught = json.loads((tmp_path / "student" / "fold1" / "history.json").read_text())
    alone = json.loads((tmp_path / "teacher" / "fold1" / "history.json").read_text())
    assert taught[0]["loss_emotion"] != pytest.approx(alone[0]["loss_emotion"], rel=1e-6)
    assert taught[0]["loss_gender"] == pytest.approx(alone[0]["loss_gender"], rel=1e-4)
    report = json.loads((tmp_path / "student" / "cv_report.json").read_text())
    assert report["config"]["optim"]["distill_weight"] == 0.5 and len(report["folds"]) == 2


def test_training_refuses_heads_it_has_no_targets_for(tiny_run, tmp_path, capsys):
    tree, _, _ = tiny_run
    config = tmp_path / "extra.yaml"
    config.write_text(yaml.safe_dump({**TINY_CONFIG, "arch": {**TINY_CONFIG["arch"],
                                                              "extra_heads": [["loud", "regression", ["level"]]]}}))
    assert ser_main(["train", "--config", str(config), "--root", str(tree), "--quiet", "--out",
                     str(tmp_path / "x")]) == 2
    assert "extra_heads" in capsys.readouterr().err



def test_a_pruned_voice_encoder_installed_in_a_run_is_what_its_config_trains(tiny_run, tmp_path):
    """``python -m training.voice_distill install`` puts a pruned voice encoder in a model trained
    with GE2E and fits its voice heads again: the voice part is then the one ``ser train`` gives a
    config with that ``voice_hidden``, and the network is the model's own. Both runs in one process
    also check that the embedding caches tell the two encoders apart."""
    from model.voice import encoder_path
    from training.voice_distill import install_encoder

    tree, _, _ = tiny_run
    arch = {**TINY_CONFIG["arch"], "voice_gender": True, "voice_emotion": True}
    common = ["--root", str(tree), "--quiet", "--threads", "1"]
    for name, extra in (("ge2e", {}), ("pruned", {"voice_hidden": [128, 256, 256]})):
        config = tmp_path / f"{name}.yaml"
        config.write_text(yaml.safe_dump({**TINY_CONFIG, "arch": {**arch, **extra}}))
        assert ser_main(["train", "--config", str(config), *common, "--out", str(tmp_path / name)]) == 0
    data = tmp_path / "data"
    data.mkdir()
    (data / "ravdess").symlink_to(tree)
    installed = tmp_path / "installed.safetensors"
    install_encoder(str(tmp_path / "ge2e" / "model.safetensors"), encoder_path((128, 256, 256)), data, installed)
    new = Predictor.load(installed, device="cpu")
    pruned = Predictor.load(tmp_path / "pruned" / "model.safetensors", device="cpu")
    ge2e = Predictor.load(tmp_path / "ge2e" / "model.safetensors", device="cpu")
    assert new.meta.arch == pruned.meta.arch and new.meta.arch.voice_hidden == (128, 256, 256)
    assert new.meta.training["config"]["arch"]["voice_hidden"] == [128, 256, 256]
    state, expected, before = new.net.state_dict(), pruned.net.state_dict(), ge2e.net.state_dict()
    for k in state:
        if k.startswith("voice."):
            np.testing.assert_allclose(state[k].numpy(), expected[k].numpy(), atol=1e-4, err_msg=k)
        else:
            assert np.array_equal(state[k].numpy(), before[k].numpy()), k
    assert not np.allclose(state["voice.gender.weight"].numpy(), before["voice.gender.weight"].numpy(), atol=1e-3)
    assert onnx_path_for(installed, "voice").is_file()
    # The file keeps the GE2E model's cross-validation and says so, until one of the pruned config is attached.
    from gui.about import cv_encoder_note
    from training.run import attach_cv_report

    measured = new.meta.training["voice_encoder"]["cross_validation_and_calibration_measured_with"]
    assert measured == {"voice_hidden": [256, 256, 256]} and cv_encoder_note(new.meta)
    report = {"corpus": "ravdess", "folds": [{"test_speakers": ["01"]}], "config": pruned.meta.training["config"],
              "summary": {"n_folds": 1, "plain": {"per_class_recall": {}, "confusion_matrix": []}, "tta": {}}}
    attach_cv_report(installed, report)
    meta = Predictor.load(installed, device="cpu").meta
    assert meta.training["voice_encoder"]["cross_validation_and_calibration_measured_with"] == {
        "voice_hidden": [128, 256, 256]}
    assert cv_encoder_note(meta) is None and meta.metrics["cross_validation"]["split"].startswith("1-fold")
    # A report that does not say its config leaves the record as it was; one whose config leaves
    # voice_hidden out is of GE2E whole (a config records it only when it is not GE2E's own).
    attach_cv_report(installed, {**report, "config": None})
    assert cv_encoder_note(Predictor.load(installed, device="cpu").meta) is None
    ge2e_config = {**report["config"], "arch": {k: v for k, v in report["config"]["arch"].items() if k != "voice_hidden"}}
    attach_cv_report(installed, {**report, "config": ge2e_config})
    assert cv_encoder_note(Predictor.load(installed, device="cpu").meta)
