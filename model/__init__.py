"""Speech-emotion model: features, network, model file format and inference on arrays.

This package depends on nothing else of the product. Importing it loads no model.
"""

from model.checkpoint import DEFAULT_MODEL_PATH, ModelMeta, load_model, read_meta, save_model
from model.errors import AudioError, ModelFileError, SERError
from model.features import FeatureConfig, LogMel
from model.network import DIMENSION_NAMES, GENDER_LABELS, ArchConfig, SEREnsemble, SERNet, build_network
from model.predictor import Prediction, Predictor, aggregate, window_bounds

__all__ = [
    "DEFAULT_MODEL_PATH", "GENDER_LABELS", "DIMENSION_NAMES", "ArchConfig", "AudioError", "FeatureConfig",
    "LogMel", "ModelFileError", "ModelMeta", "Prediction", "Predictor", "SEREnsemble", "SERError", "SERNet",
    "aggregate", "build_network", "load_model", "read_meta", "save_model", "window_bounds",
]
