"""Experiment driver behind ``ser train``: speaker-held-out cross-validation and the final model."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.checkpoint import ModelMeta, save_model
from model.files import atomic_json
from model.network import SEREnsemble
from model.predictor import Predictor
from training.config import TrainingConfig
from training.data import ClipBank
from training.evaluate import evaluate_bank, metrics_from_predictions, predict_clip
from training.manifest import ManifestEntry, Skipped, report_skipped, write_manifest
from training.recipes import LICENCES, load_corpus
from training.train import train_model

log = logging.getLogger(__name__)
SUMMARY_KEYS = ("unweighted_accuracy", "weighted_accuracy", "macro_f1", "top3_accuracy", "gender_accuracy")


@dataclass
class CorpusData:
    entries: list[ManifestEntry]  # evaluation corpus (speech)
    extra: list[ManifestEntry]  # training-only material (e.g. RAVDESS song)
    skipped: list[Skipped]


def speaker_key(speaker: str) -> tuple[int, int | str]:
    """Sort key: numbered speakers (RAVDESS actors) by number, named ones after them by name."""
    return (0, int(speaker)) if speaker.isdigit() else (1, speaker)


def load_data(cfg: TrainingConfig, root: str, song_root: str | None = None,
              extra_roots: dict[str, str] | None = None) -> CorpusData:
    """The evaluation corpus (filtered to the config's labels) and training-only extra material."""
    from model.errors import SERError

    speakers = set(cfg.speakers) if cfg.speakers else None
    entries, skipped = load_corpus(cfg.corpus, root, speakers, cfg.label_set)
    extra: list[ManifestEntry] = []
    if cfg.song:
        if not song_root:
            raise SERError("the config trains on RAVDESS song too: pass its folder with --song-root.")
        song, sk = load_corpus("ravdess-song", song_root, speakers)
        extra += [e for e in song if e.label in cfg.labels]
        skipped += sk
    for name in cfg.extra_corpora:
        if not extra_roots or name not in extra_roots:
            raise SERError(f"the config trains on {name} too: pass its folder with --extra-root {name}=DIR.")
        more, sk = load_corpus(name, extra_roots[name], None, cfg.label_set)
        extra += more
        skipped += sk
    entries = [e for e in entries if e.label in cfg.labels]
    if not entries:
        raise SERError(f"{root}: no usable {cfg.corpus} utterances with labels {list(cfg.labels)} were found.")
    return CorpusData(entries, extra, skipped)


def make_folds(entries: list[ManifestEntry], n_folds: int) -> list[list[str]]:
    """Test speakers per fold: by recording session where the corpus has sessions (IEMOCAP),
    else consecutive speakers (RAVDESS 01-04, 05-08, ...: two male and two female actors each)."""
    sessions = sorted({e.session for e in entries if e.session})
    if sessions:
        return [sorted({e.speaker for e in entries if e.session == s}) for s in sessions]
    speakers = sorted({e.speaker for e in entries}, key=speaker_key)
    size = len(speakers) // n_folds
    if size == 0:
        raise ValueError(f"{len(speakers)} speakers cannot make {n_folds} folds")
    return [speakers[i * size:(i + 1) * size] if i < n_folds - 1 else speakers[i * size:] for i in range(n_folds)]


def choose_val_speakers(entries: list[ManifestEntry], exclude: set[str], n: int, seed: int) -> list[str]:
    """``n`` validation speakers, alternating female and male, drawn reproducibly."""
    rng = np.random.default_rng(seed)
    by_gender: dict[str, list[str]] = {}
    for e in entries:
        if e.speaker not in exclude:
            by_gender.setdefault(e.gender or "unknown", [])
            if e.speaker not in by_gender[e.gender or "unknown"]:
                by_gender[e.gender or "unknown"].append(e.speaker)
    pools = [sorted(v, key=speaker_key) for _, v in sorted(by_gender.items())]
    for p in pools:
        rng.shuffle(p)
    chosen: list[str] = []
    while len(chosen) < n and any(pools):
        for p in pools:
            if p and len(chosen) < n:
                chosen.append(p.pop())
    return sorted(chosen, key=speaker_key)


def _select(entries: list[ManifestEntry], speakers) -> list[ManifestEntry]:
    s = set(speakers)
    return [e for e in entries if e.speaker in s]


def _meta(cfg: TrainingConfig, data: CorpusData, metrics: dict, training: dict) -> ModelMeta:
    speakers = sorted({e.speaker for e in data.entries + data.extra}, key=speaker_key)
    corpora = [{"name": cfg.corpus, "licence": LICENCES.get(cfg.corpus, "see corpus"),
                "speakers": speakers, "utterances": len(data.entries)}]
    for name in sorted({e.corpus for e in data.extra}):
        corpora.append({"name": name, "licence": LICENCES.get(name, "see corpus"), "training_only": True,
                        "utterances": sum(e.corpus == name for e in data.extra)})
    sources = {e.dimensions_source for e in data.entries + data.extra if e.dimensions_source}
    dimensions_source = "human-ratings" if sources == {"human-ratings"} else (
        "derived-from-category" if sources else "none")
    return ModelMeta(labels=list(cfg.labels), features=cfg.features, arch=cfg.arch, dimensions_source=dimensions_source,
                     corpora=corpora, metrics=metrics, training=training, analysis=analysis_of(cfg))


def analysis_of(cfg: TrainingConfig) -> dict:
    """What a model file records of the windows it is for: the product's analysis window and hop,
    and the crop length it was trained on."""
    from model.checkpoint import DEFAULT_ANALYSIS

    return {**DEFAULT_ANALYSIS, "crop_s": float(cfg.augment.crop_s)}


MEMBER_SEED_STEP = 1000  # member m of an ensemble trains with seed + 1000 * m


def member_seed(seed: int, member: int) -> int:
    return seed + MEMBER_SEED_STEP * member


def member_config(cfg: TrainingConfig, member: int) -> TrainingConfig:
    """The single-network config that trains member ``member`` (0-based) of ``cfg``'s ensemble."""
    return dataclasses.replace(cfg, seed=member_seed(cfg.seed, member),
                               arch=dataclasses.replace(cfg.arch, members=1))


def train_members(cfg: TrainingConfig, train_bank: ClipBank, val_bank: ClipBank | None, optim, seed: int,
                  device: str, progress: bool, desc: str, teacher=None):
    """Train the network the config describes: one :class:`SERNet`, or, with ``arch.members`` N > 1,
    N of them with seeds ``seed + 1000 * m`` combined into a :class:`SEREnsemble`.

    Returns the network and each member's :class:`TrainResult`. Training member m alone is a run of
    the single-network config (``arch.members: 1``) with seed ``seed + 1000 * m``, which is how
    ``ser ensemble`` lets members train in parallel processes and combines them afterwards."""
    single = dataclasses.replace(cfg.arch, members=1)
    n = cfg.arch.members
    results = [train_model(train_bank, val_bank, cfg.features, single, optim, cfg.augment,
                           seed=member_seed(seed, m), device=device, progress=progress,
                           desc=desc if n == 1 else f"{desc} member {m + 1}/{n}", teacher=teacher)
               for m in range(n)]
    if n == 1:
        return results[0].net, results
    return SEREnsemble.from_members([r.net for r in results]), results


def _save_members(out: Path, results: list) -> None:
    """Training histories and curves: in ``out``, and for an ensemble's further members in
    ``out/member2``, ``out/member3`` ..."""
    for m, r in enumerate(results):
        folder = out if m == 0 else out / f"member{m + 1}"
        folder.mkdir(parents=True, exist_ok=True)
        _save_run(folder, r.history)


def _save_run(out: Path, history: list[dict]) -> None:
    (out / "history.json").write_text(json.dumps(history, indent=1))
    try:
        from training.plots import plot_training_curves

        plot_training_curves(history, out / "training_curves.png")
    except ImportError:  # plotting module not installed in a minimal setup
        log.warning("training/plots.py is unavailable: no curves written")


def prepare_out(out: Path, overwrite: bool) -> None:
    if out.exists() and any(out.iterdir()) and not overwrite:
        from model.errors import SERError

        raise SERError(f"{out}: output folder exists and is not empty; choose another --out or pass --overwrite.")
    out.mkdir(parents=True, exist_ok=True)


def trained_speakers(meta, corpus: str | None = None) -> set[str]:
    """The speakers a model file lists as trained on: of every corpus, or of ``corpus`` only (its
    family: "ravdess" for "ravdess-song" too)."""
    family = corpus.split("-")[0] if corpus else None
    return {str(sp) for c in meta.corpora if family is None or str(c.get("name", "")).split("-")[0] == family
            for sp in c.get("speakers") or []}


def load_teacher(cfg: TrainingConfig, path: str, held_out: set[str]):
    """The teacher network for knowledge distillation (``optim.distill_weight``) from a model file,
    refused unless it has the config's labels and never trained on the speakers ``held_out``
    (a fold's test speakers: a teacher that heard them would leak them into the student)."""
    from model.checkpoint import load_model
    from model.errors import SERError

    net, meta = load_model(path)
    if list(meta.labels) != list(cfg.labels):
        raise SERError(f"{path}: the teacher's labels {meta.labels} are not the config's {list(cfg.labels)}.")
    trained_on = trained_speakers(meta)
    if not trained_on:
        raise SERError(f"{path}: the teacher's model file does not list its training speakers; it cannot be "
                       "checked against the test speakers.")
    leaked = sorted(trained_on & set(held_out))
    if leaked:
        raise SERError(f"{path}: the teacher was trained on held-out speakers {leaked}; use the teacher of "
                       "the same fold (e.g. --teacher 'runs/cv/fold{fold}/model.safetensors').")
    return net


def cross_validate(cfg: TrainingConfig, data: CorpusData, out: Path, device: str = "auto",
                   only_folds: list[int] | None = None, progress: bool = True, teacher: str | None = None) -> dict:
    """Speaker-held-out k-fold cross-validation. Writes per-fold histories and ``cv_report.json``.
    ``teacher``: the distillation teacher's model file, ``{fold}`` standing for the fold number."""
    folds = make_folds(data.entries, cfg.split.folds)
    report: dict = {"labels": list(cfg.labels), "corpus": cfg.corpus, "folds": [], "config": cfg.to_dict(),
                    "split": "speaker-held-out: test speakers never seen in training or validation"}
    t0 = time.perf_counter()
    for k, test_speakers in enumerate(folds, start=1):
        if only_folds and k not in only_folds:
            continue
        val_speakers = choose_val_speakers(data.entries, set(test_speakers), cfg.split.val_speakers, cfg.seed + k)
        held = set(test_speakers) | set(val_speakers)
        train_entries = [e for e in data.entries + data.extra if e.speaker not in held]
        train_bank = ClipBank(train_entries, list(cfg.labels), cfg.augment.speeds, trim=cfg.augment.trim)
        val_bank = ClipBank(_select(data.entries, val_speakers), list(cfg.labels))
        test_bank = ClipBank(_select(data.entries, test_speakers), list(cfg.labels))
        log.info("fold %d: test %s, validation %s, %d training clips", k, test_speakers, val_speakers, len(train_bank))
        fold_teacher = (load_teacher(cfg, teacher.replace("{fold}", str(k)), set(test_speakers))
                        if teacher else None)
        net, results = train_members(cfg, train_bank, val_bank, cfg.optim, cfg.seed + k, device, progress,
                                     f"fold {k}", fold_teacher)
        result = results[0]
        fold_dir = out / f"fold{k}"
        fold_dir.mkdir(parents=True, exist_ok=True)
        _save_members(fold_dir, results)
        metrics = evaluate_fold(cfg, data, net, test_bank, held, fold_dir, device,
                                {"seed": cfg.seed + k, "fold": k, "test_speakers": test_speakers,
                                 "train_clips": len(train_bank)})
        fold = {"fold": k, "test_speakers": test_speakers, "val_speakers": val_speakers,
                "best_epoch": result.best_epoch, "epochs_run": len(result.history),
                "val_unweighted_accuracy": result.best_val.get("unweighted_accuracy"),
                "train_seconds": round(sum(r.seconds for r in results), 1), "metrics": metrics,
                "skipped": [s.__dict__ for s in train_bank.skipped + val_bank.skipped + test_bank.skipped]}
        (fold_dir / "metrics.json").write_text(json.dumps(fold, indent=1))
        report["folds"].append(fold)
        log.info("fold %d: test UA %.3f (TTA %.3f), gender %.3f, best epoch %d, %.0f s", k,
                 metrics["unweighted_accuracy"], metrics["tta"]["unweighted_accuracy"],
                 metrics["gender_accuracy"] or float("nan"), result.best_epoch, result.seconds)
        report["summary"] = summarise(report["folds"], list(cfg.labels))
        report["seconds"] = round(time.perf_counter() - t0, 1)
        write_report(report, out)
    return report


def evaluate_fold(cfg: TrainingConfig, data: CorpusData, net, test_bank: ClipBank, held: set[str],
                  fold_dir: Path, device: str, training: dict) -> dict:
    """Evaluate a fold's network on its test speakers (plain and with TTA) and keep, in
    ``fold_dir``, the model (its metadata lists the speakers outside ``held`` as training speakers)
    and the per-clip test predictions, for error analysis. Returns the metrics."""
    predictor = Predictor(net, ModelMeta(labels=list(cfg.labels), features=cfg.features, arch=cfg.arch), device)
    preds = [predict_clip(predictor, w) for w in test_bank.waves[1.0]]
    metrics = metrics_from_predictions(preds, test_bank, list(cfg.labels))
    # Out-of-sample probabilities of every analysis window of the test clips with its clip's true
    # class, pooled over folds to fit the calibration: the temperature divides each window's
    # log-probabilities, as the Predictor applies it.
    index = {lab: i for i, lab in enumerate(cfg.labels)}
    ys, probs = [], []
    for w, e in zip(test_bank.waves[1.0], test_bank.emotion):
        y = index.get(test_bank.labels[e], -1) if e >= 0 else -1
        for p in predictor.predict_windows(w):
            ys.append(y)
            probs.append([round(float(v), 5) for v in p.probabilities])
    metrics["test_predictions"] = {"unit": "window", "y": ys, "probabilities": probs}
    metrics["tta"] = {k: v for k, v in evaluate_bank(predictor, test_bank, tta=True).items()
                      if k in SUMMARY_KEYS + ("confusion_matrix",)}
    if predictor.adapts_to_speaker:  # each test speaker's clips as one session in random order, adapted
        from training.crosscorpus import predict_sessions

        adapted = metrics_from_predictions(predict_sessions(predictor, test_bank.entries, test_bank.waves[1.0]),
                                           test_bank, list(cfg.labels))
        metrics["adapted"] = {k: v for k, v in adapted.items() if k in SUMMARY_KEYS + ("confusion_matrix",)}
    fold_data = CorpusData([e for e in data.entries if e.speaker not in held],
                           [e for e in data.extra if e.speaker not in held], [])
    save_model(net, _meta(cfg, fold_data, {}, training), fold_dir / "model.safetensors", overwrite=True)
    write_predictions(test_bank, preds, fold_dir / "test_predictions.jsonl")
    return metrics


def write_report(report: dict, out: Path) -> None:
    """``out/cv_report.json``, replaced atomically."""
    atomic_json(out / "cv_report.json", report, allow_nan=True)


def write_predictions(bank: ClipBank, preds: list, path: Path) -> None:
    """One JSON line per clip: file, speaker, true label, and the model's probabilities."""
    with open(path, "w") as f:
        for e, p in zip(bank.entries, preds):
            f.write(json.dumps({"path": e.path, "speaker": e.speaker, "label": e.label, "gender": e.gender,
                                "probabilities": [round(float(v), 5) for v in p.probabilities],
                                "gender_probabilities": [round(float(v), 5) for v in p.gender_probabilities],
                                "dimensions": [round(float(v), 5) for v in p.dimensions]}) + "\n")


def merge_cv_reports(reports: list[dict]) -> dict:
    """One report from runs of the same config over different folds (``ser train --cv --folds``)."""
    if not reports:
        raise ValueError("no cross-validation reports to merge")
    from training.config import config_from_dict

    base = reports[0]

    def normalised(config: dict) -> dict:  # reports of older versions may lack keys that have defaults
        return config_from_dict(config).to_dict()

    for r in reports[1:]:
        if normalised(r["config"]) != normalised(base["config"]) or r["labels"] != base["labels"]:
            raise ValueError("cross-validation reports of different configs cannot be merged")
    folds = {f["fold"]: f for r in reports for f in r["folds"]}
    merged = {**base, "folds": [folds[k] for k in sorted(folds)],
              "seconds": round(sum(r.get("seconds", 0.0) for r in reports), 1)}
    merged["summary"] = summarise(merged["folds"], base["labels"])
    return merged


def summarise(folds: list[dict], labels: list[str]) -> dict:
    """Mean and standard deviation over folds, and the pooled confusion matrix."""
    from training.metrics import per_class_recall

    summary: dict = {"n_folds": len(folds)}
    variants = ["plain", "tta"] + (["adapted"] if all("adapted" in f["metrics"] for f in folds) else [])
    for variant in variants:
        rows = [f["metrics"] if variant == "plain" else f["metrics"][variant] for f in folds]
        block = {}
        for key in SUMMARY_KEYS:
            vals = [r[key] for r in rows if r.get(key) is not None]
            if vals:
                block[key] = {"mean": float(np.mean(vals)), "std": float(np.std(vals)),
                              "per_fold": [round(v, 4) for v in vals]}
        cm = np.sum([np.array(r["confusion_matrix"]) for r in rows], axis=0)
        block["confusion_matrix"] = cm.tolist()
        block["per_class_recall"] = {lab: float(r) for lab, r in zip(labels, per_class_recall(cm))}
        summary[variant] = block
    summary["best_epochs"] = [f["best_epoch"] for f in folds]
    pooled = [f["metrics"].get("test_predictions") for f in folds]
    if pooled and all(pooled):
        from training.calibration import calibrate

        y = np.concatenate([np.asarray(p["y"], dtype=np.int64) for p in pooled])
        probs = np.concatenate([np.asarray(p["probabilities"], dtype=np.float64) for p in pooled])
        keep = y >= 0
        summary["calibration"] = calibrate(probs[keep], y[keep])
    return summary


def train_final(cfg: TrainingConfig, data: CorpusData, out: Path, device: str = "auto",
                cv_report: dict | None = None, progress: bool = True, teacher: str | None = None) -> Path:
    """Train the model to ship and write ``model.safetensors`` with its metadata (``teacher``: the
    distillation teacher's model file)."""
    if cfg.final.epochs > 0:
        val_speakers: list[str] = []
        optim = type(cfg.optim)(**{**cfg.optim.__dict__, "epochs": cfg.final.epochs})
    else:
        val_speakers = choose_val_speakers(data.entries, set(), cfg.split.val_speakers, cfg.seed)
        optim = cfg.optim
    train_entries = [e for e in data.entries + data.extra if e.speaker not in set(val_speakers)]
    train_bank = ClipBank(train_entries, list(cfg.labels), cfg.augment.speeds, trim=cfg.augment.trim)
    val_bank = ClipBank(_select(data.entries, val_speakers), list(cfg.labels)) if val_speakers else None
    log.info("final model: %d training clips, validation speakers %s", len(train_bank), val_speakers or "none")
    net, results = train_members(cfg, train_bank, val_bank, optim, cfg.seed, device, progress, "final",
                                 load_teacher(cfg, teacher, set()) if teacher else None)
    result = results[0]
    _save_members(out, results)
    metrics: dict = {}
    if cv_report and "summary" in cv_report:
        metrics["cross_validation"] = cv_metrics(cv_report)
    if result.best_val:
        metrics["validation"] = {"speakers": val_speakers,
                                 **{k: result.best_val.get(k) for k in SUMMARY_KEYS}}
    training = {"seed": cfg.seed, "epochs_run": len(result.history), "best_epoch": result.best_epoch,
                "validation_speakers": val_speakers, "train_clips": len(train_bank),
                "seconds": round(sum(r.seconds for r in results), 1), "config": cfg.to_dict()}
    if len(results) > 1:
        training["member_seeds"] = [member_seed(cfg.seed, m) for m in range(len(results))]
    meta = _meta(cfg, data, metrics, training)
    meta.calibration = calibration_of(cv_report)
    meta.int8 = int8_ranges(net, train_bank.waves[1.0])
    path = save_model(net, meta, out / "model.safetensors", overwrite=True)
    skipped = data.skipped + train_bank.skipped
    (out / "skipped.txt").write_text(report_skipped(skipped) + "\n")
    write_manifest(data.entries + data.extra, out / "manifest.jsonl")
    return path


def int8_ranges(net, waveforms) -> dict:
    """The conv stack's int8 ranges (ModelMeta.int8) measured on the training clips, for a chunked
    network; empty (the export keeps the conv stack in float) for another, or when the clips hold no
    whole chunk of speech."""
    from model.export import calibrate_trunk

    if net.features.chunk_samples <= 0:
        return {}
    try:
        return calibrate_trunk(net, waveforms)
    except Exception as exc:  # noqa: BLE001 - the trained model is saved whatever this meets
        log.warning("the conv stack stays in float in the export: %s", exc)
        return {}


def cv_metrics(cv_report: dict) -> dict:
    """The part of a cross-validation report that a model file records as its validation metrics."""
    s = cv_report["summary"]
    tests = ", ".join("+".join(f["test_speakers"]) for f in cv_report["folds"])
    return {
        "split": f"{s['n_folds']}-fold speaker-held-out cross-validation on {cv_report['corpus']}; "
                 f"test speakers per fold: {tests}",
        **{k: v for k, v in s["plain"].items() if k in SUMMARY_KEYS},
        "per_class_recall": s["plain"]["per_class_recall"],
        "confusion_matrix": s["plain"]["confusion_matrix"],
        "tta": {k: v for k, v in s["tta"].items() if k in SUMMARY_KEYS},
        **({"speaker_adapted": {k: v for k, v in s["adapted"].items() if k in SUMMARY_KEYS}} if "adapted" in s else {}),
        **({"calibration": s["calibration"]} if "calibration" in s else {}),
    }


def attach_cv_report(model_path: str | os.PathLike, cv_report: dict) -> Path:
    """Record a cross-validation report in an existing model file (rewritten atomically)."""
    from model.checkpoint import load_model
    from model.voice import GE2E_SIZES

    net, meta = load_model(model_path)
    meta.metrics["cross_validation"] = cv_metrics(cv_report)
    meta.calibration = calibration_of(cv_report)
    voice = (meta.training or {}).get("voice_encoder")
    config = cv_report.get("config")
    if isinstance(voice, dict) and isinstance(config, dict):
        # A file whose voice encoder was replaced after its cross-validation says which encoder that
        # was measured with (training/voice_distill.py install); this report's is its config's (a
        # config records voice_hidden only when it is not GE2E's own).
        arch = config.get("arch")
        hidden = (arch.get("voice_hidden") if isinstance(arch, dict) else None) or list(GE2E_SIZES)
        meta.training["voice_encoder"] = {**voice, "cross_validation_and_calibration_measured_with":
                                          {"voice_hidden": [int(h) for h in hidden]}}
    return save_model(net, meta, model_path, overwrite=True)


def calibration_of(cv_report: dict | None) -> dict:
    """What a model file records of a cross-validation's calibration: the temperature and threshold."""
    cal = ((cv_report or {}).get("summary") or {}).get("calibration")
    if not cal:
        return {}
    return {"temperature": cal["temperature"], "uncertain_below": cal["uncertain_below"],
            "fitted_on": "pooled test-fold predictions of " + cv_metrics(cv_report)["split"]}
