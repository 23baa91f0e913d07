"""Speech-emotion model: features, network, model file format and inference on arrays.

This package depends on nothing else of the product. Importing it loads no model and imports
neither torch nor ONNX Runtime: the names below are imported when first used, so the torch-free
runtime (model/runtime.py) never pulls in torch.
"""

from __future__ import annotations

import importlib

_WHERE = {
    "DEFAULT_MODEL_PATH": "model.meta", "ModelMeta": "model.meta", "read_meta": "model.meta",
    "load_model": "model.checkpoint", "save_model": "model.checkpoint",
    "AudioError": "model.errors", "ModelFileError": "model.errors", "SERError": "model.errors",
    "FeatureConfig": "model.features", "LogMel": "model.logmel",
    "DIMENSION_NAMES": "model.arch", "GENDER_LABELS": "model.arch", "ArchConfig": "model.arch",
    "SEREnsemble": "model.network", "SERNet": "model.network", "build_network": "model.network",
    "Prediction": "model.inference", "aggregate": "model.inference", "window_bounds": "model.inference",
    "Predictor": "model.predictor", "OnnxPredictor": "model.runtime", "load_predictor": "model.runtime",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
