"""What a model file says about its model: the JSON metadata in a safetensors file's header
(key ``ser``), read without loading the weights or importing torch (model/checkpoint.py writes
and loads whole model files; the ONNX runtime, model/runtime.py, needs only this)."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from safetensors import SafetensorError

from model.arch import DIMENSION_NAMES, GENDER_LABELS, ArchConfig
from model.errors import ModelFileError
from model.features import FeatureConfig

FORMAT_NAME = "ser-model"
FORMAT_VERSION = 1
DIMENSION_SOURCES = ("human-ratings", "derived-from-category", "none")
DEFAULT_MODEL_PATH = Path(__file__).resolve().parent / "weights" / "default.safetensors"
# The analysis windows a model is used on, unless its file says otherwise (files written before
# they were recorded were all trained and measured on these).
DEFAULT_ANALYSIS = {"window_s": 2.0, "hop_s": 0.5}
PACKAGE = "speech-emotion-analyzer"  # the installed distribution's name


def package_version() -> str:
    """The installed product's version ("(not installed)" for a checkout run without installing)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(PACKAGE)
    except PackageNotFoundError:
        return "(not installed)"


@dataclass
class ModelMeta:
    """Everything besides the weights that is needed to use and judge a model."""

    labels: list[str]
    features: FeatureConfig = field(default_factory=FeatureConfig)
    arch: ArchConfig = field(default_factory=ArchConfig)
    dimensions_source: str = "derived-from-category"
    corpora: list[dict] = field(default_factory=list)  # [{"name", "licence", "speakers"}]
    metrics: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)
    created: str = ""
    # Output calibration fitted on out-of-sample predictions (training/calibration.py):
    # {"temperature": T, "uncertain_below": p, ...}; empty for uncalibrated models (T = 1, no flag).
    calibration: dict = field(default_factory=dict)
    # The analysis window and hop the model is meant to be used on, and the training crop:
    # {"window_s", "hop_s", "crop_s"} (crop_s None when unknown).
    analysis: dict = field(default_factory=lambda: dict(DEFAULT_ANALYSIS))
    # The int8 ranges of a chunked network's conv stack, measured on speech (model/export.py,
    # calibrate_trunk): {"trunk_ranges": [[in low, in high, out low, out high], ...],
    # "calibration_chunks": n}; empty: the export runs the conv stack in float.
    int8: dict = field(default_factory=dict)

    @property
    def window_s(self) -> float:
        return float(self.analysis.get("window_s", DEFAULT_ANALYSIS["window_s"]))

    @property
    def hop_s(self) -> float:
        return float(self.analysis.get("hop_s", DEFAULT_ANALYSIS["hop_s"]))

    @property
    def heads(self) -> list[dict]:
        """The model's outputs, as the file declares them: each a name, a kind (``categorical``
        with ``labels``, or ``regression`` with ``names`` and a ``range``) and where it comes from."""
        voice = self.arch.voice_gender
        emotion_source = "network and voice encoder" if voice and self.arch.voice_emotion else "network"
        return [
            {"name": "emotion", "kind": "categorical", "labels": list(self.labels), "source": emotion_source},
            {"name": "gender", "kind": "categorical", "labels": list(GENDER_LABELS),
             "source": "voice encoder" if voice else "network"},
            {"name": "dimensions", "kind": "regression", "names": list(DIMENSION_NAMES), "range": [0.0, 1.0],
             "source": self.dimensions_source},
            *({"name": name, "kind": kind, **({"labels": list(names)} if kind == "categorical"
                                              else {"names": list(names), "range": [0.0, 1.0]}),
               "source": "network"} for name, kind, names in self.arch.extra_heads),
        ]

    @property
    def temperature(self) -> float:
        return float(self.calibration.get("temperature", 1.0))

    @property
    def uncertain_below(self) -> float | None:
        value = self.calibration.get("uncertain_below")
        return None if value is None else float(value)

    def to_json(self) -> str:
        return json.dumps({
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "labels": list(self.labels),
            "features": self.features.to_dict(),
            "arch": self.arch.to_dict(),
            "dimensions_source": self.dimensions_source,
            "corpora": self.corpora,
            "metrics": self.metrics,
            "training": self.training,
            "created": self.created,
            "calibration": self.calibration,
            "analysis": self.analysis,
            **({"int8": self.int8} if self.int8 else {}),
            "heads": self.heads,
        })

    @classmethod
    def from_json(cls, text: str, path: Path) -> ModelMeta:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelFileError(f"{path}: the model metadata is not valid JSON ({exc}).") from exc
        if data.get("format") != FORMAT_NAME:
            raise ModelFileError(f"{path}: this safetensors file is not a speech-emotion model of this product.")
        if int(data.get("format_version", 0)) > FORMAT_VERSION:
            raise ModelFileError(
                f"{path}: the model file format is version {data.get('format_version')}, newer than this "
                f"program understands ({FORMAT_VERSION}); update the program."
            )
        try:
            meta = cls(
                labels=[str(x) for x in data["labels"]],
                features=FeatureConfig.from_dict(data["features"]),
                arch=ArchConfig.from_dict(data["arch"]),
                dimensions_source=data.get("dimensions_source", data.get("vad_source", "none")),
                corpora=data.get("corpora", []),
                metrics=data.get("metrics", {}),
                training=data.get("training", {}),
                created=data.get("created", ""),
                calibration=dict(data.get("calibration") or {}),
                analysis=_analysis(data),
                int8=_int8(data.get("int8")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{path}: the model metadata is incomplete or malformed ({exc}).") from exc
        if not meta.labels:
            raise ModelFileError(f"{path}: the model file lists no emotion labels.")
        if len(set(meta.labels)) != len(meta.labels):
            dup = sorted({lab for lab in meta.labels if meta.labels.count(lab) > 1})
            raise ModelFileError(f"{path}: the model file lists the emotion label(s) {dup} more than once; it is corrupt.")
        if meta.features.sample_rate_hz != 16000:
            raise ModelFileError(f"{path}: the model's features are for {meta.features.sample_rate_hz} Hz audio; this "
                                 "program analyses 16 kHz audio (other rates are resampled to it), so it cannot use "
                                 "this model. Train one with the default features.")
        try:
            temperature, threshold = meta.temperature, meta.uncertain_below
        except (TypeError, ValueError) as exc:
            raise ModelFileError(f"{path}: the calibration in the model metadata is malformed ({exc}).") from exc
        if not 0.05 <= temperature <= 20.0:
            raise ModelFileError(f"{path}: the calibration temperature {temperature} is out of range.")
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise ModelFileError(f"{path}: the uncertainty threshold {threshold} is not a probability.")
        if meta.dimensions_source not in DIMENSION_SOURCES:
            raise ModelFileError(f"{path}: unknown V/A/D source {meta.dimensions_source!r}.")
        if not 0.0 < meta.hop_s <= meta.window_s <= 60.0:
            raise ModelFileError(f"{path}: the analysis window {meta.window_s} s / hop {meta.hop_s} s in the model "
                                 "metadata is not usable (need 0 < hop <= window <= 60 s).")
        declared = data.get("heads")
        if declared is not None and declared != meta.heads:
            n_declared = next((len(h.get("labels", [])) for h in declared if h.get("name") == "emotion"), None)
            if n_declared is not None and n_declared != len(meta.labels):
                raise ModelFileError(f"{path}: the model file declares {n_declared} emotion outputs but lists "
                                     f"{len(meta.labels)} labels; it was edited or is corrupt.")
            raise ModelFileError(f"{path}: the outputs the model file declares do not match its labels and "
                                 "architecture; it was edited or is corrupt.")
        return meta


def check_int8_range(r) -> None:
    """ValueError unless ``r`` is one convolution's int8 range: [input low, input high, output low,
    output high], four finite numbers, each low <= its high."""
    if (not isinstance(r, list) or len(r) != 4 or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in r)
            or r[0] > r[1] or r[2] > r[3]):
        raise ValueError(f"int8 range {r!r} is not [low, high, low, high]")


def _int8(value) -> dict:
    """A model file's int8 ranges (ModelMeta.int8), checked: lists of four finite numbers, low <= high."""
    if value is None or value == {}:
        return {}
    ranges = value["trunk_ranges"]
    if not isinstance(ranges, list) or not ranges:
        raise ValueError("int8 ranges must be a non-empty list")
    for r in ranges:
        check_int8_range(r)
    return {"trunk_ranges": [[float(v) for v in r] for r in ranges],
            "calibration_chunks": int(value.get("calibration_chunks", 0))}


def _analysis(data: dict) -> dict:
    """The analysis window of a model file; files from before it was recorded get the defaults and
    the training crop their config states."""
    stored = data.get("analysis")
    if stored is not None:
        return {"window_s": float(stored["window_s"]), "hop_s": float(stored["hop_s"]),
                "crop_s": None if stored.get("crop_s") is None else float(stored["crop_s"])}
    crop = ((data.get("training") or {}).get("config") or {}).get("augment", {}).get("crop_s")
    return {**DEFAULT_ANALYSIS, "crop_s": None if crop is None else float(crop)}


def resolve_model_path(path_or_default: str | os.PathLike) -> Path:
    if str(path_or_default) == "default":
        return DEFAULT_MODEL_PATH
    return Path(path_or_default).expanduser()


def read_meta(path: Path) -> ModelMeta:
    """Read only the metadata of a model file (fast: the weights are not loaded)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as f:
            header = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFileError(
            f"{path}: not a readable model file ({exc}); it may be truncated or of another kind. "
            "Choose a .safetensors file written by 'ser train', or 'default'."
        ) from exc
    if "ser" not in header:
        raise ModelFileError(f"{path}: this safetensors file has no speech-emotion metadata; it is not a model of this product.")
    return ModelMeta.from_json(header["ser"], path)


# The ONNX export of a model file (model/export.py writes it, model/runtime.py runs it).
ONNX_FORMAT = "ser-onnx"
# Version 2 puts the voice encoder in a graph of its own (ONNX Runtime computes every node of a graph
# on every call); version 1 held everything in one graph, and is made again with 'ser export'.
ONNX_FORMAT_VERSION = 2
# The graphs an export can have: the networks and heads; the voice encoder; for chunked features,
# the conv stack of one chunk (model/export.py).
ONNX_PARTS = ("main", "voice", "trunk")


def onnx_path_for(model_path: str | os.PathLike, part: str = "main") -> Path:
    """Where a model file's ONNX export lives: beside it, same stem; its other graphs (the voice
    encoder's, a chunked network's conv stack) in ``STEM.PART.onnx``."""
    return Path(model_path).with_suffix(".onnx" if part == "main" else f".{part}.onnx")


def onnx_parts(arch: ArchConfig, chunked: bool = False) -> tuple[str, ...]:
    """The graphs a model's export has (``chunked``: its features are, FeatureConfig.chunk_ms)."""
    return ("main",) + (("voice",) if arch.voice_gender else ()) + (("trunk",) if chunked else ())


def onnx_inputs(arch: ArchConfig, part: str = "main", chunked: bool = False) -> list[str]:
    """The inputs of one of a model's ONNX graphs (model/export.py builds them, model/runtime.py feeds them)."""
    if part == "voice":
        return ["voice_frames"] if arch.voice_gender else []
    if part == "trunk":
        return ["chunk_frames", "chunk_gain2"] if chunked else []
    names = ["trunk_seq"] if chunked else ["frames", "cache", "index", "gain2"]
    if arch.speaker_norm:
        names += ["reference", "has_reference"]
    if arch.voice_gender:
        names += ["embedding"]
        if arch.voice_emotion:
            names += ["centre"]
    return names


def onnx_outputs(arch: ArchConfig, part: str = "main", chunked: bool = False) -> list[str]:
    """The outputs of one of a model's ONNX graphs, in the order the graph returns them."""
    if part == "voice":
        return ["voice_partials"] if arch.voice_gender else []
    if part == "trunk":
        return ["trunk"] if chunked else []
    names = [] if chunked else ["mel_power"]
    names += ["emotion", "gender", "dimensions", *(h[0] for h in arch.extra_heads)]
    if arch.voice_gender:
        names += ["voice_male"]
        if arch.voice_emotion:
            names += ["voice_emotion_raw", "voice_dimensions_raw", "voice_emotion_centred", "voice_dimensions_centred"]
    return names
