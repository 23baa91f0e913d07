"""Combine separately trained runs into an ensemble (``ser ensemble``).

A config with ``arch.members: N`` trains N networks with seeds ``seed``, ``seed + 1000``, ... and
averages them (:class:`model.network.SEREnsemble`). ``ser train`` does that in one process; to use
several cores, train each member as its own run (``ser train --member M``, in parallel) and combine
the runs here. The result is the same as one ``ser train`` of the ensemble config:

- cross-validation runs (folders with ``cv_report.json``): each fold's member models are combined
  and evaluated on that fold's test speakers, giving the ensemble's own ``cv_report.json``;
- final runs (folders with ``model.safetensors``): the models become one model file.

The runs must have been trained with the same config apart from the seed, which must step by 1000
from the first run's, so that the combination is exactly what the ensemble config describes.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path

from model.checkpoint import ModelMeta, load_model, save_model
from model.errors import SERError
from model.network import SEREnsemble
from training.config import TrainingConfig, config_from_dict
from training.run import (
    MEMBER_SEED_STEP,
    CorpusData,
    _select,
    analysis_of,
    calibration_of,
    cv_metrics,
    evaluate_fold,
    make_folds,
    member_config,
    member_seed,
    merge_cv_reports,
    summarise,
    write_report,
)

log = logging.getLogger(__name__)


def ensemble_config(configs: list[TrainingConfig], where: list[str]) -> TrainingConfig:
    """The ensemble config that the member runs' configs are the members of, or a clear error."""
    first = configs[0]
    if first.arch.members != 1:
        raise SERError(f"{where[0]}: a member run must train a single network (arch.members: 1).")
    ens = dataclasses.replace(first, arch=dataclasses.replace(first.arch, members=len(configs)))
    for m, (cfg, name) in enumerate(zip(configs, where)):
        expected = member_config(ens, m)
        if cfg.seed != expected.seed:
            raise SERError(f"{name}: seed {cfg.seed}, but member {m + 1} of an ensemble whose first run has seed "
                           f"{first.seed} needs seed {expected.seed} (steps of {MEMBER_SEED_STEP}); "
                           "train it with 'ser train --member'.")
        if cfg.to_dict() != expected.to_dict():
            diff = sorted(k for k, v in cfg.to_dict().items() if expected.to_dict()[k] != v)
            raise SERError(f"{name}: trained with a different config than {where[0]} (differs in {diff}).")
    return ens


def combine_models(runs: list[Path], out: Path, cv_report: dict | None = None) -> Path:
    """Final runs (each with ``model.safetensors``) -> one ensemble model file in ``out``."""
    loaded = [load_model(r / "model.safetensors") for r in runs]
    configs = [config_from_dict(meta.training["config"], str(r)) for r, (_, meta) in zip(runs, loaded)]
    cfg = ensemble_config(configs, [str(r) for r in runs])
    net = SEREnsemble.from_members([n for n, _ in loaded])
    first = loaded[0][1]
    metrics = {"cross_validation": cv_metrics(cv_report)} if cv_report else {}
    training = {**first.training, "config": cfg.to_dict(),
                "member_seeds": [c.seed for c in configs],
                "seconds": round(sum(m.training.get("seconds", 0.0) for _, m in loaded), 1)}
    meta = ModelMeta(labels=first.labels, features=first.features, arch=cfg.arch, dimensions_source=first.dimensions_source,
                     analysis=analysis_of(cfg),
                     corpora=first.corpora, metrics=metrics, training=training,
                     calibration=calibration_of(cv_report),
                     # The ensemble's conv stack graph holds its members' convolutions one member after
                     # another: their int8 ranges in the same order (float when one has none).
                     int8=({"trunk_ranges": [r for _, m in loaded for r in m.int8["trunk_ranges"]],
                            "calibration_chunks": min(m.int8["calibration_chunks"] for _, m in loaded)}
                           if all(m.int8 for _, m in loaded) else {}))
    if not meta.int8:
        log.warning("the ensemble's conv stack stays in float in its export: %s",
                    ", ".join(str(r) for r, (_, m) in zip(runs, loaded) if not m.int8) + " has no int8 ranges")
    out.mkdir(parents=True, exist_ok=True)
    return save_model(net, meta, out / "model.safetensors", overwrite=True)


def combine_cv(runs: list[list[Path]], out: Path, data: CorpusData, device: str = "auto") -> dict:
    """Cross-validation runs of the members -> the ensemble's cross-validation report in ``out``.

    ``runs[m]`` lists member m's run folders: one, or several when its folds ran in separate
    processes (``ser train --cv --folds``)."""
    from training.data import ClipBank

    reports, fold_dirs = [], []
    for member in runs:
        parts, dirs = [], {}
        for r in member:
            path = r / "cv_report.json"
            if not path.is_file():
                raise SERError(f"{r}: no cv_report.json; pass folders written by 'ser train --cv'.")
            rep = json.loads(path.read_text())
            parts.append(rep)
            dirs.update({f["fold"]: r / f"fold{f['fold']}" for f in rep["folds"]})
        try:
            reports.append(merge_cv_reports(parts))
        except ValueError as exc:
            raise SERError(f"{', '.join(str(r) for r in member)}: {exc}") from exc
        fold_dirs.append(dirs)
    names = [",".join(str(r) for r in member) for member in runs]
    configs = [config_from_dict(rep["config"], name) for name, rep in zip(names, reports)]
    cfg = ensemble_config(configs, names)
    common = sorted(set.intersection(*({f["fold"] for f in rep["folds"]} for rep in reports)))
    if not common:
        raise SERError("the runs have no fold in common.")
    folds = make_folds(data.entries, cfg.split.folds)
    report: dict = {"labels": list(cfg.labels), "corpus": cfg.corpus, "folds": [], "config": cfg.to_dict(),
                    "split": reports[0]["split"], "members": names}
    t0 = time.perf_counter()
    for k in common:
        member_folds = [next(f for f in rep["folds"] if f["fold"] == k) for rep in reports]
        test_speakers = member_folds[0]["test_speakers"]
        if test_speakers != folds[k - 1] or any(f["test_speakers"] != test_speakers for f in member_folds):
            raise SERError(f"fold {k}: the runs' test speakers differ from each other or from this corpus.")
        nets = [load_model(dirs[k] / "model.safetensors")[0] for dirs in fold_dirs]
        test_bank = ClipBank(_select(data.entries, test_speakers), list(cfg.labels))
        fold_dir = out / f"fold{k}"
        fold_dir.mkdir(parents=True, exist_ok=True)
        held = set(test_speakers) | {s for f in member_folds for s in f["val_speakers"]}
        metrics = evaluate_fold(cfg, data, SEREnsemble.from_members(nets), test_bank, held, fold_dir, device,
                                {"seed": cfg.seed + k, "fold": k, "test_speakers": test_speakers,
                                 "member_seeds": [member_seed(cfg.seed + k, m) for m in range(len(runs))]})
        fold = {"fold": k, "test_speakers": test_speakers, "val_speakers": member_folds[0]["val_speakers"],
                "best_epoch": member_folds[0]["best_epoch"], "epochs_run": member_folds[0]["epochs_run"],
                "val_unweighted_accuracy": None,
                "train_seconds": round(sum(f["train_seconds"] for f in member_folds), 1),
                "members_unweighted_accuracy": [f["metrics"]["unweighted_accuracy"] for f in member_folds],
                "metrics": metrics, "skipped": [s.__dict__ for s in test_bank.skipped]}
        (fold_dir / "metrics.json").write_text(json.dumps(fold, indent=1))
        report["folds"].append(fold)
        log.info("fold %d: ensemble test UA %.3f (members %s)", k, metrics["unweighted_accuracy"],
                 ", ".join(f"{f['metrics']['unweighted_accuracy']:.3f}" for f in member_folds))
    report["summary"] = summarise(report["folds"], list(cfg.labels))
    report["seconds"] = round(sum(rep.get("seconds", 0.0) for rep in reports) + time.perf_counter() - t0, 1)
    write_report(report, out)
    return report
