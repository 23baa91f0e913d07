"""``ser train``, ``ser eval`` and ``ser data stats``: argument parsing only; the work is imported
when a command runs."""

from __future__ import annotations

import json
import sys

from model.clihelp import DefaultsFormatter

Formatter = DefaultsFormatter


def register(sub) -> None:
    p = sub.add_parser("train", formatter_class=Formatter,
                       help="train a model, or cross-validate a recipe with speakers held out",
                       description="Train a model from a YAML config. Splits always hold speakers out.")
    p.add_argument("--config", required=True, help="training config (YAML), e.g. training/configs/ravdess8.yaml")
    p.add_argument("--root", required=True, help="corpus folder (RAVDESS: the folder holding Actor_NN)")
    p.add_argument("--song-root", help="RAVDESS song folder, for configs that train on song too")
    p.add_argument("--extra-root", action="append", default=[], metavar="NAME=DIR",
                   help="folder of a training-only corpus the config lists in extra_corpora (repeatable)")
    p.add_argument("--out", required=True, help="output folder (refused if it exists and is not empty)")
    p.add_argument("--cv", action="store_true", help="run speaker-held-out cross-validation instead of "
                                                     "training the final model")
    p.add_argument("--folds", help="with --cv: only these folds, e.g. 1,3")
    p.add_argument("--cv-report", help="cv_report.json whose metrics the final model file records")
    p.add_argument("--teacher", metavar="MODEL",
                   help="model file of the distillation teacher (configs with optim.distill_weight); with --cv "
                        "'{fold}' in it stands for the fold number, e.g. runs/cv/fold{fold}/model.safetensors")
    p.add_argument("--epochs", type=int, help="override the config's number of epochs (quick trials)")
    p.add_argument("--member", type=int, metavar="M",
                   help="with a config of arch.members N > 1: train only member M (1..N) as a run of its own, "
                        "so members can train in parallel processes; combine the runs with 'ser ensemble'")
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda")
    p.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0: torch's default)")
    p.add_argument("--overwrite", action="store_true", help="allow writing into a non-empty output folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("voice-emotion", formatter_class=Formatter,
                       help="give training runs made with the voice encoder the voice-emotion heads",
                       description="Fit the voice-emotion heads (model/voice.py) of each model in runs trained "
                                   "with arch.voice_gender, on that model's own training speakers, as 'ser train' "
                                   "of a voice_emotion config does; cross-validation runs are evaluated again.")
    p.add_argument("runs", nargs="+", help="run folders written by 'ser train' (final or --cv)")
    p.add_argument("--root", required=True, help="the corpus folder the runs were trained on")
    p.add_argument("--weight", type=float, default=0.6, help="the heads' share once the speaker is known")
    p.add_argument("--weight-unadapted", type=float, default=0.5, help="their share before")
    p.add_argument("--every", type=float, default=0.0, metavar="SECONDS",
                   help="run the voice encoder once per this many seconds of a speech segment (0: every window)")
    p.add_argument("--device", default="cpu", help="cpu or cuda, for evaluating cross-validation folds")
    p.set_defaults(func=cmd_voice_emotion)

    p = sub.add_parser("ensemble", formatter_class=Formatter,
                       help="combine member runs of an ensemble config into one model or cross-validation",
                       description="Combine runs trained with 'ser train --member 1', '--member 2' ... "
                                   "(same config, seeds 1000 apart) into what one 'ser train' of the "
                                   "ensemble config gives: cross-validation runs into the ensemble's "
                                   "cv_report.json (its folds evaluated again on their test speakers), final "
                                   "runs into one model file.")
    p.add_argument("runs", nargs="+",
                   help="run folders in member order (written by 'ser train --member M'); a member whose "
                        "cross-validation folds ran in several processes is given as DIR1,DIR2")
    p.add_argument("--out", required=True, help="output folder (refused if it exists and is not empty)")
    p.add_argument("--root", help="corpus folder, needed to evaluate cross-validation folds")
    p.add_argument("--song-root", help="RAVDESS song folder, for configs that train on song too")
    p.add_argument("--extra-root", action="append", default=[], metavar="NAME=DIR",
                   help="folder of a training-only corpus the config lists in extra_corpora (repeatable)")
    p.add_argument("--cv-report", help="with final runs: cv_report.json whose metrics the model file records")
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda")
    p.add_argument("--overwrite", action="store_true", help="allow writing into a non-empty output folder")
    p.set_defaults(func=cmd_ensemble)

    p = sub.add_parser("eval", formatter_class=Formatter, help="evaluate a model on a corpus",
                       description="Utterance-level evaluation, as users get predictions. Needs the training "
                                   "flavour (torch): 'make install' in a checkout.")
    p.add_argument("--model", default="default", help="model file, or 'default' for the bundled model")
    p.add_argument("--corpus", default="ravdess",
                   help="corpus recipe: ravdess, ravdess-song, iemocap, or a cross-corpus development set: emodb, baved")
    p.add_argument("--root", help="corpus folder")
    p.add_argument("--suite", action="store_true",
                   help="one table: the model's stored RAVDESS cross-validation plus EmoDB and BAVED "
                        "(their folders given by --emodb and --baved, or found under --data)")
    p.add_argument("--data", help="with --suite: a folder holding emodb/ and baved/")
    p.add_argument("--emodb", help="with --suite: the EmoDB folder")
    p.add_argument("--baved", help="with --suite: the BAVED folder")
    p.add_argument("--out", help="also write the result as JSON here")
    p.add_argument("--degrade", choices=("telephone", "gsm", "mp3"),
                   help="development sets and --suite: pass every clip through this channel first "
                        "(telephone: 300-3400 Hz, 8 kHz, mu-law; gsm: the same with GSM 06.10; mp3)")
    p.add_argument("--speakers", help="only these speakers, e.g. 21,22 or 21-24")
    p.add_argument("--label-set", help="IEMOCAP label configuration: 4class or 8class (default: 4class; other corpora have one)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--report", help="write confusion matrix, per-class recall and top-3 plots (PNG) here")
    p.add_argument("--no-tta", action="store_true", help="skip the test-time-augmentation pass")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--runtime", default="auto", choices=("auto", "onnx", "torch"),
                   help="auto: what 'ser analyze' and the app run (ONNX Runtime on the CPU when the model has "
                        "its export, torch on CUDA); onnx or torch to measure one of them")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("export", formatter_class=Formatter,
                       help="write a model file's ONNX export (what the product runs on the CPU)",
                       description="Write the ONNX export of a model file beside it (same name, .onnx; a model "
                                   "with a voice encoder also .voice.onnx, one with chunked features .trunk.onnx), or to --out. 'ser train', 'ser ensemble' and 'ser voice-emotion' write it "
                                   "themselves; this is for model files made without it.")
    p.add_argument("model", help="model file (.safetensors), or 'default' for the bundled model")
    p.add_argument("--out", help="where to write it (default: beside the model file; with --calibrate the model file "
                                 "is rewritten, and its export beside it too)")
    p.add_argument("--exact", action="store_true",
                   help="everything in float, so that the export gives torch's outputs to about 1e-6; by "
                        "default the voice encoder's upper LSTM layers run in int8 (about 1.6 times faster), "
                        "and the conv stack too when the model file holds its int8 ranges (see --calibrate "
                        "and model/export.py)")
    p.add_argument("--calibrate", metavar="FOLDER",
                   help="measure the conv stack's int8 ranges on the speech files in FOLDER (and its "
                        "subfolders: up to 400 files, the first 10 s of each; use the model's training data, "
                        "for the bundled model RAVDESS actors 01-20), keep them in the model file (rewritten, "
                        "its weights unchanged), then export. 'ser train' does this on its training clips")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("data", formatter_class=Formatter, help="corpus tools")
    data_sub = p.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    s = data_sub.add_parser("stats", formatter_class=Formatter,
                            help="class, speaker, gender and duration distribution of a corpus")
    s.add_argument("--corpus", required=True, help="ravdess, ravdess-song or iemocap")
    s.add_argument("--root", required=True, help="corpus folder")
    s.add_argument("--label-set", help="IEMOCAP label configuration: 4class or 8class (default: 4class; other corpora have one)")
    s.add_argument("--png", default="corpus_stats.png", help="where to save the distribution plot")
    s.set_defaults(func=cmd_data_stats)
    m = data_sub.add_parser("manifest", formatter_class=Formatter,
                            help="write a corpus manifest (JSON lines) and report skipped files")
    m.add_argument("--corpus", required=True, help="ravdess, ravdess-song or iemocap")
    m.add_argument("--root", required=True, help="corpus folder")
    m.add_argument("--label-set", help="IEMOCAP label configuration: 4class or 8class (default: 4class; other corpora have one)")
    m.add_argument("--out", required=True, help="manifest file to write (.jsonl)")
    m.set_defaults(func=cmd_data_manifest)


def _setup_logging(path=None, quiet: bool = False) -> None:
    import logging

    handlers: list[logging.Handler] = []
    if path:
        handlers.append(logging.FileHandler(path, encoding="utf-8"))
    if not quiet:
        handlers.append(logging.StreamHandler(sys.stderr))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", handlers=handlers,
                        force=True)


TRAIN_FLAVOUR = "pip install 'speech-emotion-analyzer[train]'"


def require_torch(command: str) -> None:
    """The training commands need torch, which only the training flavour installs: say which."""
    import importlib.util

    from model.errors import SERError

    missing = [m for m in ("torch", "torchaudio", "onnx") if importlib.util.find_spec(m) is None]
    if missing:
        raise SERError(f"'ser {command}' needs {', '.join(missing)}, which this installation does not have: "
                       f"install the training flavour ({TRAIN_FLAVOUR}, or 'make install' in a checkout: about 5.6 GB). "
                       "Analysis and the app do not need it.")


CALIBRATION_FILES = 400  # at most this many files of a --calibrate folder are read (evenly spread) ...
CALIBRATION_FILE_S = 10.0  # ... and of each its first 10 s: at most 64 MB of audio, whatever the files


def _calibration_speech(folder: str, model_path) -> list:
    """``ser export --calibrate``: the speech of up to CALIBRATION_FILES audio files under ``folder``
    (16 kHz), or a ConfigError naming what is wrong."""
    from pathlib import Path

    import numpy as np

    from model.audio import AUDIO_SUFFIXES, load_mono_16k
    from model.errors import AudioError
    from model.files import check_output_file
    from model.meta import read_meta
    from streamer.errors import ConfigError

    if read_meta(model_path).features.chunk_samples <= 0:  # (before any audio is read)
        raise ConfigError(f"--calibrate: {model_path} computes its features over whole windows, not chunks; only "
                          "the conv stack of a chunked model (features.chunk_ms) runs in int8. Export it without "
                          "--calibrate.")
    # The model file is rewritten with its ranges: known to be possible before any audio is read.
    check_output_file(model_path, "model file with its int8 ranges (copy it somewhere writable, and calibrate the copy)")
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise ConfigError(f"--calibrate {folder}: " + ("is a file, not a folder" if root.exists() else "no such folder")
                          + ". Give a folder of speech recordings like the model's training data.")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
    if len(files) > CALIBRATION_FILES:
        files = [files[i] for i in np.linspace(0, len(files) - 1, CALIBRATION_FILES).round().astype(int)]
    speech, skipped = [], []
    for p in files:
        try:
            speech.append(load_mono_16k(p, max_s=CALIBRATION_FILE_S))
        except AudioError:
            skipped.append(p)  # said with the result; none readable is said here
    if not speech:
        raise ConfigError(f"--calibrate {folder}: no readable audio file in it (looked for "
                          f"{', '.join(sorted(AUDIO_SUFFIXES))}).")
    return speech, skipped  # (that they hold some speech, calibrate_trunk finds: NoCalibrationSound)


CALIBRATION_FEW_CHUNKS = 200  # fewer than this (100 s of sound) is said to be little to measure on


def _calibration_report(model_path, meta, folder: str, n_files: int, skipped: list) -> list[str]:
    """What ``ser export --calibrate`` says of what it measured on (standard error); ``meta``: the
    rewritten model file's metadata."""
    chunks = meta.int8["calibration_chunks"]
    plural = lambda n, word: f"{n} {word}{'s' * (n != 1)}"  # noqa: E731
    lines = [f"{model_path}: int8 ranges of the conv stack measured on {plural(chunks, 'chunk')} of sound "
             f"from {plural(n_files, 'file')} in {folder}, kept in the model file (rewritten with its export beside it)"]
    if skipped:
        lines.append(f"{folder}: {plural(len(skipped), 'file')} could not be read, left out (the first: {skipped[0]})")
    if chunks < CALIBRATION_FEW_CHUNKS:
        lines.append(f"{folder}: only {chunks} chunks of sound to measure on; the ranges fit the model's inputs best "
                     "when measured on plenty of its training speech (for the bundled model: RAVDESS actors 01-20), "
                     "not on noise or a few clips. 'ser export MODEL --calibrate FOLDER' again with more speech "
                     "replaces them.")
    return lines


def cmd_export(args) -> int:
    require_torch("export")
    from pathlib import Path

    from model.checkpoint import export_model_file
    from model.meta import onnx_parts, onnx_path_for, read_meta, resolve_model_path

    model_path = resolve_model_path(args.model)
    out = args.out
    if out is not None:
        from streamer.errors import ConfigError

        target = Path(out).expanduser()
        if target.is_dir():  # a folder: the export takes the model file's name there
            out = str(target / (model_path.stem + ".onnx"))
        elif target.suffix.lower() != ".onnx":
            raise ConfigError(f"--out {out}: name the main graph's file .onnx (the graphs beside it take its name: "
                              f"{target.stem}.voice.onnx ...), or give an existing folder.")
    if out is not None and args.calibrate:  # before the audio is read
        from model.files import check_output_file

        check_output_file(out, "ONNX export")
    calibration, skipped = _calibration_speech(args.calibrate, model_path) if args.calibrate else (None, [])
    from model.export import NoCalibrationSound

    try:
        main = export_model_file(args.model, out, int8=not args.exact, calibration=calibration)
    except NoCalibrationSound:  # raised before the model file is touched
        from streamer.errors import ConfigError

        chunk_s = read_meta(model_path).features.chunk_ms / 1000
        raise ConfigError(f"--calibrate {args.calibrate}: its {len(calibration)} audio files hold no {chunk_s:g}-s "
                          "stretch of speech to measure the ranges on.") from None
    meta = read_meta(model_path)
    if args.calibrate:
        for line in _calibration_report(model_path, meta, args.calibrate, len(calibration), skipped):
            print(line, file=sys.stderr)
    written = [main]
    if args.calibrate and Path(main) != onnx_path_for(model_path):
        written.append(onnx_path_for(model_path))  # the rewritten model file's own export, beside it
    for first in written:
        for part in onnx_parts(meta.arch, meta.features.chunk_samples > 0):  # the main graph and those beside it
            print(onnx_path_for(first, part))
    return 0


def cmd_train(args) -> int:
    require_torch("train")
    import dataclasses
    from pathlib import Path

    import torch

    from training.config import load_config
    from training.run import cross_validate, load_data, prepare_out, train_final

    cfg = load_config(args.config)
    if args.epochs:
        cfg = dataclasses.replace(cfg, optim=dataclasses.replace(cfg.optim, epochs=args.epochs),
                                  final=dataclasses.replace(cfg.final, epochs=min(cfg.final.epochs, args.epochs)))
    if args.member is not None:
        from model.errors import SERError
        from training.run import member_config

        n = cfg.arch.members
        if not 1 <= args.member <= n:
            raise SERError(f"--member {args.member}: the config's ensemble has members 1 to {n}.")
        cfg = member_config(cfg, args.member - 1)
    if args.threads:
        torch.set_num_threads(args.threads)
    folds = _fold_list(args.folds, cfg.split.folds) if args.cv else None
    teacher = args.teacher
    if teacher is None and cfg.optim.distill_weight > 0:
        from model.errors import SERError

        raise SERError("the config distils a teacher (optim.distill_weight): pass its model file with --teacher.")
    if teacher is not None and cfg.optim.distill_weight == 0:
        from model.errors import SERError

        raise SERError("--teacher needs a config with optim.distill_weight above 0 (the teacher's share of the target).")
    out = Path(args.out)
    prepare_out(out, args.overwrite)
    _setup_logging(out / "train.log", quiet=True)
    data = load_data(cfg, args.root, args.song_root, _extra_roots(args.extra_root))
    if data.skipped:
        from training.manifest import report_skipped

        print(report_skipped(data.skipped), file=sys.stderr)
    if args.cv:
        report = cross_validate(cfg, data, out, args.device, folds, progress=not args.quiet, teacher=teacher)
        s = report["summary"]["plain"]
        print(f"cross-validation ({report['summary']['n_folds']} folds, speakers held out): "
              f"UA {s['unweighted_accuracy']['mean']:.3f} ± {s['unweighted_accuracy']['std']:.3f}, "
              f"gender {s['gender_accuracy']['mean']:.3f}; report: {out / 'cv_report.json'}")
        return 0
    cv_report = json.loads(Path(args.cv_report).read_text()) if args.cv_report else None
    path = train_final(cfg, data, out, args.device, cv_report, progress=not args.quiet, teacher=teacher)
    print(f"model written to {path}")
    return 0


def _extra_roots(items: list[str]) -> dict[str, str]:
    extra_roots = {}
    for item in items:
        name, sep, folder = item.partition("=")
        if not sep:
            from model.errors import SERError

            raise SERError(f"--extra-root {item!r}: expected NAME=DIR, e.g. iemocap=/data/IEMOCAP_full_release")
        extra_roots[name] = folder
    return extra_roots


def cmd_voice_emotion(args) -> int:
    require_torch("voice-emotion")
    import logging
    from pathlib import Path

    from training.voice_runs import add_voice_emotion

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for run in args.runs:
        for path in add_voice_emotion(Path(run), Path(args.root), args.weight, args.weight_unadapted, args.every,
                                      args.device):
            print(path)
    return 0


def cmd_ensemble(args) -> int:
    require_torch("ensemble")
    from pathlib import Path

    from model.errors import SERError
    from training.config import config_from_dict
    from training.ensemble import combine_cv, combine_models
    from training.run import load_data, prepare_out

    members = [[Path(r) for r in item.split(",") if r] for item in args.runs]
    if len(members) < 2:
        raise SERError("an ensemble needs at least two runs.")
    for r in (r for m in members for r in m):
        if not r.is_dir():
            raise SERError(f"{r}: run folder not found.")
    out = Path(args.out)
    if all((r / "cv_report.json").is_file() for m in members for r in m):
        if not args.root:
            raise SERError("combining cross-validation runs evaluates each fold again: pass the corpus with --root.")
        first = json.loads((members[0][0] / "cv_report.json").read_text())
        cfg = config_from_dict(first["config"], str(members[0][0]))
        data = load_data(cfg, args.root, args.song_root, _extra_roots(args.extra_root))
        prepare_out(out, args.overwrite)
        _setup_logging(out / "ensemble.log", quiet=True)
        report = combine_cv(members, out, data, args.device)
        s = report["summary"]["plain"]
        print(f"ensemble of {len(members)}, cross-validation ({report['summary']['n_folds']} folds, speakers held "
              f"out): UA {s['unweighted_accuracy']['mean']:.3f} ± {s['unweighted_accuracy']['std']:.3f}, "
              f"gender {s['gender_accuracy']['mean']:.3f}; report: {out / 'cv_report.json'}")
        return 0
    runs = [m[0] for m in members]
    if all(len(m) == 1 for m in members) and all((r / "model.safetensors").is_file() for r in runs):
        cv_report = json.loads(Path(args.cv_report).read_text()) if args.cv_report else None
        prepare_out(out, args.overwrite)
        path = combine_models(runs, out, cv_report)
        print(f"ensemble of {len(runs)} written to {path}")
        return 0
    raise SERError("pass either cross-validation runs (each with cv_report.json) or final runs "
                   "(each with model.safetensors) written by 'ser train'.")


def _fold_list(text: str | None, n_folds: int) -> list[int] | None:
    """``--folds 1,3`` as [1, 3], or a clear error naming what is allowed."""
    from model.errors import SERError

    if not text:
        return None
    try:
        folds = [int(f) for f in text.split(",")]
    except ValueError:
        raise SERError(f"--folds {text!r}: give fold numbers separated by commas, e.g. 1,3 "
                       f"(the config has folds 1 to {n_folds}).") from None
    bad = [f for f in folds if not 1 <= f <= n_folds]
    if bad:
        raise SERError(f"--folds {text!r}: fold {bad[0]} does not exist; the config has folds 1 to {n_folds}.")
    return folds


def cmd_eval(args) -> int:
    require_torch("eval")
    from model.errors import SERError
    from model.files import check_output_dir, check_output_file
    from model.runtime import load_predictor
    from training.data import ClipBank
    from training.evaluate import evaluate_bank
    from training.manifest import report_skipped
    from training.recipes import load_corpus

    if args.report:
        check_output_dir(args.report, "evaluation plots")
    if args.out:
        check_output_file(args.out, "JSON result")
    predictor = load_predictor(args.model, device=args.device, runtime=args.runtime)
    if args.suite:
        return _eval_suite(args, predictor)
    if not args.root:
        raise SERError("give the corpus folder with --root (or --suite for the cross-corpus table).")
    if args.corpus in ("emodb", "baved"):
        return _eval_dev(args, predictor)
    if args.corpus.startswith("ravdess"):
        speakers = _speaker_set(args.speakers)
        entries, skipped = load_corpus(args.corpus, args.root, speakers, args.label_set)
    else:  # speaker ids are names, e.g. IEMOCAP's Ses05_F
        entries, skipped = load_corpus(args.corpus, args.root, None, args.label_set)
        if args.speakers:
            wanted = {s.strip() for s in args.speakers.split(",")}
            entries = [e for e in entries if e.speaker in wanted]
    entries = [e for e in entries if e.label in predictor.labels]
    if not entries:
        there = ""
        if args.speakers:  # say which speakers the folder has
            everyone, _ = load_corpus(args.corpus, args.root, None, args.label_set)
            found = sorted({e.speaker for e in everyone if e.label in predictor.labels})
            there = f"; the folder has speakers {_speaker_ranges(found)}" if found else ""
        raise SERError(f"{args.root}: no utterances of {args.corpus} with the model's labels "
                       f"{list(predictor.labels)}" + (f" for speakers {args.speakers}" if args.speakers else "")
                       + there + ".")
    heard = _warn_heard(predictor, args.corpus, {e.speaker for e in entries})
    bank = ClipBank(entries, list(predictor.labels))
    skipped += bank.skipped
    result = evaluate_bank(predictor, bank)
    if not args.no_tta:
        tta = evaluate_bank(predictor, bank, tta=True)
        result["tta"] = {k: tta[k] for k in ("unweighted_accuracy", "weighted_accuracy", "macro_f1",
                                             "top3_accuracy", "gender_accuracy", "confusion_matrix")}
    result["model"] = predictor.source
    result["runtime"] = predictor.runtime
    result["corpus"] = args.corpus
    result["speakers"] = sorted({e.speaker for e in bank.entries})
    result["speakers_heard_in_training"] = heard
    result["skipped"] = [{"item": s.item, "reason": s.reason} for s in skipped]
    if args.report:
        from training.plots import plot_eval_report

        plot_eval_report(result, args.report)
    _write_json(args.out, result)
    if args.json:
        print(json.dumps(result))
    else:
        print(format_eval(result))
        if skipped:
            print(report_skipped(skipped))
    return 0


def _heard_in_training(predictor, corpus: str, speakers: set[str]) -> list[str]:
    """The ``speakers`` of ``corpus`` that the model file lists among its training speakers."""
    from training.run import trained_speakers

    return sorted(trained_speakers(predictor.meta, corpus) & {str(sp) for sp in speakers})


def _warn_heard(predictor, corpus: str, speakers: set[str]) -> list[str]:
    """Warn when the speakers evaluated include some the model was trained on; returns those."""
    heard = _heard_in_training(predictor, corpus, speakers)
    if heard:
        print(f"ser eval: warning: {corpus} speakers {_speaker_ranges(heard)} of these were in the model's training "
              "set; these numbers are not accuracy on unheard speakers. For that, evaluate speakers it did not "
              "hear, or see its cross-validation in the model card.", file=sys.stderr)
    return heard


def _speaker_ranges(speakers: list[str]) -> str:
    """Speaker ids, runs of consecutive numbers shortened: 01-20, or 03, 08-16."""
    if not all(sp.isdigit() for sp in speakers):
        return ", ".join(speakers)
    nums = sorted(int(sp) for sp in speakers)
    width = max(len(sp) for sp in speakers)
    runs, start = [], nums[0]
    for a, b in zip(nums, nums[1:] + [None]):
        if b != a + 1:
            runs.append(f"{start:0{width}d}" + (f"-{a:0{width}d}" if a != start else ""))
            start = b
    return ", ".join(runs)


def _eval_dev(args, predictor) -> int:
    from model.errors import SERError
    from training.crosscorpus import evaluate_dev_corpus, format_dev_result
    from training.recipes import load_corpus

    speakers = _speaker_set(args.speakers)
    entries, skipped = load_corpus(args.corpus, args.root, speakers)
    if not entries:
        raise SERError(f"{args.root}: no {args.corpus} files found" + (f" for speakers {args.speakers}" if speakers else "") + ".")
    heard = _warn_heard(predictor, args.corpus, {e.speaker for e in entries})  # a development set: normally none
    result = evaluate_dev_corpus(predictor, entries, degrade=args.degrade)
    result["skipped"] += [{"item": s.item, "reason": s.reason} for s in skipped]
    result["speakers_heard_in_training"] = heard
    result.update(model=predictor.source, runtime=predictor.runtime, corpus=args.corpus)
    _write_json(args.out, result)
    print(json.dumps(result) if args.json else f"model: {predictor.source} ({result['runtime']})\n" + format_dev_result(args.corpus, result))
    return 0


def _speaker_set(spec: str | None) -> set[int] | None:
    from model.errors import SERError
    from training.config import parse_speakers

    if not spec:
        return None
    try:
        return set(parse_speakers(spec))
    except ValueError as exc:
        raise SERError(f"--speakers {spec!r}: give speaker numbers such as 21,22 or 21-24.") from exc


def _write_json(path: str | None, data: dict) -> None:
    if path:
        from model.files import atomic_json

        atomic_json(path, data, allow_nan=True)


def _eval_suite(args, predictor) -> int:
    from pathlib import Path

    from model.errors import SERError
    from training.crosscorpus import DEV_CORPORA, evaluate_dev_corpus
    from training.recipes import load_corpus

    folders = {}
    for name in DEV_CORPORA:
        folder = getattr(args, name) or (str(Path(args.data) / name) if args.data else None)
        if not folder:
            raise SERError(f"--suite needs the {name} folder: give --{name} DIR or --data DIR holding {name}/.")
        folders[name] = folder
    suite = {"model": predictor.source, "runtime": predictor.runtime,
             "ravdess_cv": predictor.meta.metrics.get("cross_validation")}
    for name, folder in folders.items():
        entries, skipped = load_corpus(name, folder)
        if not entries:
            raise SERError(f"{folder}: no {name} files found.")
        print(f"evaluating {name} ({len(entries)} clips) ...", file=sys.stderr, flush=True)
        suite[name] = evaluate_dev_corpus(predictor, entries, degrade=args.degrade)
    suite["degraded"] = args.degrade
    _write_json(args.out, suite)
    print(json.dumps(suite) if args.json else format_suite(suite))
    return 0


def format_suite(suite: dict) -> str:
    """The cross-corpus table: RAVDESS cross-validation beside the development corpora."""
    def pct(v):
        return f"{100 * v:5.1f} %" if isinstance(v, (int, float)) and v == v else "    -  "

    cv = suite.get("ravdess_cv") or {}
    em, bv = suite["emodb"], suite["baved"]
    ua_head = f"UA {len(em['labels'])}-way"
    head = f"{'test set':44s}{ua_head:>10s}{'UA shared':>11s}{'gender':>9s}{'arousal~level':>15s}"
    rows = [
        ("RAVDESS actor-held-out CV (stored, torch)", cv.get("unweighted_accuracy", {}).get("mean"), None,
         cv.get("gender_accuracy", {}).get("mean"), None),
        (f"EmoDB ({len(em['speakers'])} speakers, {len(em['classes'])} shared classes)", em["ua_full"],
         em["ua_restricted"], em["gender_accuracy"], None),
        (f"BAVED ({len(bv['speakers'])} speakers, 3 levels)", None, None, bv["gender_accuracy"],
         bv["arousal_level_spearman"]),
    ]
    title = f"model: {suite['model']}" + (f" ({suite['runtime']})" if suite.get("runtime") else "")
    if suite.get("degraded"):
        title += (f"; EmoDB and BAVED clips through: {suite['degraded']} (the RAVDESS row is the stored "
                  "cross-validation on clean audio)")
    lines = [title, "", head]
    for name, ua, uar, g, rho in rows:
        rho_s = f"{rho:15.2f}" if rho is not None else f"{'-':>15s}"
        lines.append(f"{name:44s}{pct(ua):>10s}{pct(uar):>11s}{pct(g):>9s}{rho_s}")
    if not cv:
        lines.append("(the model file stores no cross-validation result)")
    lines += ["", "EmoDB recall per class (full argmax): " + ", ".join(
        f"{k} {100 * v:.0f} %" for k, v in em["per_class_recall"].items())]
    return "\n".join(lines)


def format_eval(r: dict) -> str:
    labels = r["labels"]
    runtime = f" ({r['runtime']})" if r.get("runtime") else ""
    lines = [f"model: {r['model']}{runtime}", f"corpus: {r['corpus']}, speakers {','.join(r['speakers'])}, "
             f"{r['n_utterances']} utterances", ""]
    rows = [("unweighted accuracy", "unweighted_accuracy"), ("weighted accuracy", "weighted_accuracy"),
            ("macro F1", "macro_f1"), ("top-3 accuracy", "top3_accuracy"), ("gender accuracy", "gender_accuracy")]
    lines.append(f"{'':22s}{'plain':>8s}{'TTA':>8s}")
    for name, key in rows:
        lines.append(f"{name:22s}{_cell(r.get(key))}{_cell(r.get('tta', {}).get(key))}")
    lines += ["", "per-class recall:"]
    lines += [f"  {lab:12s} {(v if v is not None else float('nan')):.3f}" for lab, v in r["per_class_recall"].items()]
    width = max(len(lab) for lab in labels)
    lines += ["", "confusion matrix (rows true, columns predicted):",
              " " * (width + 2) + "".join(f"{lab[:5]:>6s}" for lab in labels)]
    for lab, row in zip(labels, r["confusion_matrix"]):
        lines.append(f"  {lab:{width}s}" + "".join(f"{v:6d}" for v in row))
    return "\n".join(lines)


def _cell(value) -> str:
    return f"{value:8.3f}" if isinstance(value, float) else f"{'-':>8s}"


def cmd_data_stats(args) -> int:
    from model.files import check_output_file
    from training.recipes import load_corpus

    check_output_file(args.png, "distribution plot")
    entries, skipped = load_corpus(args.corpus, args.root, None, args.label_set)
    print(run_data_stats(entries, skipped, args.png))
    return 0


def cmd_data_manifest(args) -> int:
    from model.files import check_output_file
    from training.manifest import report_skipped, write_manifest
    from training.recipes import load_corpus

    check_output_file(args.out, "manifest")
    entries, skipped = load_corpus(args.corpus, args.root, None, args.label_set)
    path = write_manifest(entries, args.out)
    print(f"{len(entries)} utterances written to {path}")
    print(report_skipped(skipped))
    return 0


def run_data_stats(entries: list, skipped: list, png_path) -> str:
    """Everything ``ser data stats`` shows: the table, the skipped items, and the saved PNG's path.

    Args:
        entries: Manifest entries from a recipe.
        skipped: What the recipe skipped, and why.
        png_path: Where to save the figure (parent folders are created).

    Returns:
        The text to print.
    """
    from pathlib import Path

    from training.manifest import report_skipped
    from training.plots import plot_data_stats
    from training.stats import corpus_stats, format_stats

    stats = corpus_stats(entries)
    path = plot_data_stats(stats, Path(png_path))
    return "\n".join([format_stats(stats), "", report_skipped(list(skipped)), "", f"figure: {path}"])
