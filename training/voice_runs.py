"""Voice-emotion heads for training runs made without them (``ser voice-emotion``).

A run trained with the voice encoder (``arch.voice_gender``) but before voice emotion existed gets
the heads exactly as ``ser train`` of the extended config fits them: after the networks, on each
model's own training speakers (training/voice.fit_voice_emotion). A cross-validation run's folds
are then evaluated again, so its report describes the models it holds.
"""

from __future__ import annotations

import logging
from pathlib import Path

from model.errors import SERError
from training.voice import fit_voice_emotion, network_with_arch

log = logging.getLogger(__name__)


def add_voice_emotion(run: Path, root: Path, weight: float, weight_unadapted: float,
                      every_s: float = 0.0, device: str = "cpu") -> list[Path]:
    """Give the models of a training run that has the voice encoder (``voice_gender``) the
    voice-emotion heads, fitted on each model's own training speakers, and record
    ``arch.voice_emotion`` in the run's config. The networks are unchanged: the heads are fitted
    after them, exactly as ``ser train`` of a ``voice_emotion`` config fits them, so a run trained
    before voice emotion existed gets what a new run of the extended config would give. Works on
    final runs (``model.safetensors``) and cross-validation runs (``fold*/model.safetensors`` and
    ``cv_report.json``). A cross-validation run's folds are evaluated again on their test speakers,
    so its ``cv_report.json`` (metrics, calibration windows) describes the models it now holds;
    ``ser ensemble`` combines such runs as usual. ``every_s`` is the voice encoder's cadence within
    a speech segment (``ArchConfig.voice_emotion_every_s``)."""
    import dataclasses
    import json

    from model.checkpoint import load_model, save_model
    from model.files import atomic_json
    from model.network import SERNet
    from training.data import ClipBank
    from training.recipes import load_corpus

    paths = [run / "model.safetensors"] if (run / "model.safetensors").is_file() else sorted(
        run.glob("fold*/model.safetensors"))
    if not paths:
        raise SERError(f"{run}: no model.safetensors here or in fold folders; pass a folder written by 'ser train'.")
    report = run / "cv_report.json"
    if report.is_file():  # refuse what cannot be evaluated again before any model is changed
        from training.config import config_from_dict

        cfg = config_from_dict(json.loads(report.read_text())["config"], str(run))
        if cfg.song or cfg.extra_corpora:
            raise SERError(f"{run}: the config trains on more than {cfg.corpus}; its folds cannot be evaluated "
                           "again here. Train it with the voice_emotion config instead ('ser train --cv').")
    done = []
    for path in paths:
        net, meta = load_model(path)
        if not isinstance(net, SERNet) or not meta.arch.voice_gender:
            raise SERError(f"{path}: voice emotion needs a single network with the voice encoder (voice_gender).")
        arch = dataclasses.replace(meta.arch, voice_emotion=True, voice_emotion_weight=weight,
                                   voice_emotion_weight_unadapted=weight_unadapted, voice_emotion_every_s=every_s)
        new = network_with_arch(net, meta, arch, ("voice.emotion_", "voice.dimensions_"), path)
        corpus = meta.corpora[0]
        speakers = {int(s) for s in corpus["speakers"]}
        entries, _ = load_corpus(corpus["name"], root, speakers=speakers)
        if {e.speaker for e in entries} != set(corpus["speakers"]):
            raise SERError(f"{root}: does not hold the training speakers of {path} ({', '.join(corpus['speakers'])}).")
        fit = fit_voice_emotion(new.voice, ClipBank(entries, list(meta.labels)))
        training = dict(meta.training)
        if "config" in training:
            training["config"] = {**training["config"], "arch": arch.to_dict()}
        training["voice_emotion"] = fit
        save_model(new.eval(), dataclasses.replace(meta, arch=arch, training=training), path, overwrite=True)
        done.append(path)
    if report.is_file():
        data = json.loads(report.read_text())
        data["config"]["arch"] = {**data["config"]["arch"], "voice_emotion": True, "voice_emotion_weight": weight,
                                  "voice_emotion_weight_unadapted": weight_unadapted,
                                  "voice_emotion_every_s": every_s}
        _evaluate_folds_again(run, data, root, device)
        atomic_json(report, data, allow_nan=True)
    return done


def _evaluate_folds_again(run: Path, report: dict, root: Path, device: str) -> None:
    """Evaluate each fold model of a cross-validation run on its test speakers again, as
    ``ser train --cv`` does (training/run.evaluate_fold), and put the metrics and summary in
    ``report`` and each fold's ``metrics.json``."""
    import json

    from model.checkpoint import load_model
    from training.config import config_from_dict
    from training.data import ClipBank
    from training.run import _select, evaluate_fold, load_data, summarise

    cfg = config_from_dict(report["config"], str(run))
    data = load_data(cfg, str(root))
    for fold in report["folds"]:
        k = fold["fold"]
        fold_dir = run / f"fold{k}"
        net, meta = load_model(fold_dir / "model.safetensors")
        test_bank = ClipBank(_select(data.entries, fold["test_speakers"]), list(cfg.labels))
        held = set(fold["test_speakers"]) | set(fold["val_speakers"])
        fold["metrics"] = evaluate_fold(cfg, data, net, test_bank, held, fold_dir, device, dict(meta.training))
        (fold_dir / "metrics.json").write_text(json.dumps(fold, indent=1))
        log.info("fold %d evaluated again: test UA %.3f", k, fold["metrics"]["unweighted_accuracy"])
    report["summary"] = summarise(report["folds"], list(cfg.labels))
