"""Training experiment configuration: a YAML file (seed first, one comment per key) read into
typed dataclasses. Machine paths (corpus folders, outputs) are given on the command line."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from model.errors import SERError, check_keys
from model.features import FeatureConfig
from model.labels import CANONICAL_LABELS
from model.network import ArchConfig
from training.data import AugmentConfig
from training.train import OptimConfig


@dataclass(frozen=True)
class SplitConfig:
    """Speaker-held-out splits: test folds, and validation speakers taken from the training side."""

    folds: int = 5
    # Validation speakers per training run (half female, half male), used for early stopping.
    val_speakers: int = 2


@dataclass(frozen=True)
class FinalConfig:
    """How the model to ship is trained once cross-validation has chosen the recipe."""

    # Train on every speaker with a fixed number of epochs (no validation hold-out); 0 means:
    # hold out validation speakers and stop early, as in cross-validation.
    epochs: int = 0


@dataclass(frozen=True)
class TrainingConfig:
    seed: int
    corpus: str
    labels: tuple[str, ...]
    speakers: tuple[int, ...] | None = None
    song: bool = False
    # Further corpora used for training only (never for evaluation), e.g. [iemocap]; their folders
    # are given as --extra-root NAME=DIR. Samples whose label is outside `labels` still train the
    # gender and V/A/D heads: their emotion loss is masked.
    extra_corpora: tuple[str, ...] = ()
    split: SplitConfig = field(default_factory=SplitConfig)
    final: FinalConfig = field(default_factory=FinalConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    arch: ArchConfig = field(default_factory=ArchConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    label_set: str | None = None  # recipe-specific label configuration (IEMOCAP: "4class", "8class")

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["arch"] = self.arch.to_dict()
        return data


def parse_speakers(spec) -> tuple[int, ...] | None:
    """``"1-20"``, ``"1,2,5-8"`` or a list of ints -> sorted tuple."""
    if spec is None:
        return None
    if isinstance(spec, int):
        return (spec,)
    if isinstance(spec, (list, tuple)):
        return tuple(sorted(int(s) for s in spec))
    out: set[int] = set()
    for part in str(spec).split(","):
        part = part.strip()
        if "-" in part:
            a, b = part.split("-")
            out.update(range(int(a), int(b) + 1))
        elif part:
            out.add(int(part))
    return tuple(sorted(out))


def _build(cls, data: dict | None, where: str):
    data = dict(data or {})
    try:
        check_keys(cls, data, where)
    except ValueError as exc:
        raise SERError(str(exc)) from None
    for f in dataclasses.fields(cls):
        if f.name in data and isinstance(data[f.name], list):
            data[f.name] = tuple(tuple(v) if isinstance(v, list) else v for v in data[f.name])
    try:
        return cls.from_dict(data) if hasattr(cls, "from_dict") else cls(**data)
    except (TypeError, ValueError) as exc:
        raise SERError(f"{where}: {exc}") from exc


def load_config(path: str | Path) -> TrainingConfig:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SERError(f"{path}: training config not found.") from exc
    except yaml.YAMLError as exc:
        raise SERError(f"{path}: not valid YAML ({exc}).") from exc
    if not isinstance(data, dict) or "seed" not in data or "corpus" not in data or "labels" not in data:
        raise SERError(f"{path}: a training config needs at least 'seed', 'corpus' and 'labels'.")
    return config_from_dict(data, str(path))


def config_from_dict(data: dict, where: str = "config") -> TrainingConfig:
    """A config from its YAML mapping, or from the ``to_dict()`` a report or model file recorded;
    ``where`` names its source in error messages."""
    path = where
    labels = tuple(str(x) for x in data["labels"])
    bad = [x for x in labels if x not in CANONICAL_LABELS]
    if bad:
        raise SERError(f"{path}: labels {bad} are not canonical labels {list(CANONICAL_LABELS)}.")
    from training.recipes import EVALUATION_ONLY

    for name in [str(data["corpus"]), *[str(x) for x in data.get("extra_corpora") or ()]]:
        if name in EVALUATION_ONLY:
            raise SERError(f"{path}: {name} is a cross-corpus development set, for evaluation only "
                           f"(ser eval --corpus {name}); it must not train a model.")
    try:
        check_keys(TrainingConfig, data, str(path))
    except ValueError as exc:
        raise SERError(str(exc)) from None
    return TrainingConfig(
        seed=int(data["seed"]),
        corpus=str(data["corpus"]),
        labels=labels,
        speakers=parse_speakers(data.get("speakers")),
        song=bool(data.get("song", False)),
        extra_corpora=tuple(str(x) for x in data.get("extra_corpora") or ()),
        split=_build(SplitConfig, data.get("split"), f"{path}: split"),
        final=_build(FinalConfig, data.get("final"), f"{path}: final"),
        features=_build(FeatureConfig, data.get("features"), f"{path}: features"),
        arch=_build(ArchConfig, data.get("arch"), f"{path}: arch"),
        augment=_build(AugmentConfig, data.get("augment"), f"{path}: augment"),
        optim=_build(OptimConfig, data.get("optim"), f"{path}: optim"),
        label_set=data.get("label_set"),
    )
