"""Small random-weight models for tests and benchmarks of the code around the model (their outputs
are valid but meaningless)."""

from __future__ import annotations

import os
from pathlib import Path

from model.labels import RAVDESS_LABELS

# Small enough to run in a fraction of a millisecond per window.
TINY_CHANNELS = (8, 16, 16, 32, 32)
TINY_HEAD_DIM = 32
TINY_ATTENTION_DIM = 16
# Plausible log-mel statistics, so the random network sees inputs of the usual scale.
TYPICAL_LOGMEL_MEAN = -6.0
TYPICAL_LOGMEL_STD = 3.0


def make_tiny_model(path: str | os.PathLike, labels=None, dimensions_source: str = "derived-from-category",
                    purpose: str = "tests", speaker_norm: bool = False, voice_gender: bool = False,
                    level_norm_dbfs: float | None = None, calibration: dict | None = None,
                    voice_emotion: bool = False, voice_emotion_every_s: float = 0.0, extra_heads=(),
                    onnx: bool = True, chunk_ms: float = 0.0, voice_hidden: tuple[int, ...] = (256, 256, 256)) -> Path:
    """Write a small random-weight model file (seeded, so every call writes the same weights).

    ``voice_gender`` adds a real pretrained voice encoder (model/weights; GE2E, or with ``voice_hidden``
    the pruned one of those sizes) with a random gender
    regression (and with ``voice_emotion`` random voice-emotion heads, embedding every
    ``voice_emotion_every_s`` of a segment); ``extra_heads`` are further heads (ArchConfig.extra_heads,
    with random weights); ``chunk_ms`` chunks the features (FeatureConfig.chunk_ms); ``calibration`` is recorded as the model file's calibration. With ``onnx``
    (the default) its ONNX export is written beside it, as ``ser train`` does, so the product runs
    it on ONNX Runtime."""
    import torch

    from model.checkpoint import ModelMeta, save_model
    from model.features import FeatureConfig
    from model.network import ArchConfig, SERNet

    labels = list(labels or RAVDESS_LABELS)
    torch.manual_seed(0)
    arch = ArchConfig(channels=TINY_CHANNELS, head_dim=TINY_HEAD_DIM, attention_dim=TINY_ATTENTION_DIM,
                      speaker_norm=speaker_norm, voice_gender=voice_gender or voice_emotion,
                      voice_emotion=voice_emotion, voice_emotion_every_s=voice_emotion_every_s,
                      voice_hidden=tuple(voice_hidden), extra_heads=tuple((n, k, tuple(v)) for n, k, v in extra_heads))
    features = FeatureConfig(level_norm_dbfs=level_norm_dbfs, chunk_ms=chunk_ms)
    net = SERNet(len(labels), features, arch)
    if voice_gender or voice_emotion:
        from safetensors.torch import load_file

        from model.voice import encoder_path, load_encoder_weights

        if not load_encoder_weights(net.voice, load_file(str(encoder_path(arch.voice_hidden)))):
            raise ValueError(f"{encoder_path(arch.voice_hidden)}: not a voice encoder of {arch.voice_hidden}")
    with torch.no_grad():
        net.feat_mean.fill_(TYPICAL_LOGMEL_MEAN)
        net.feat_std.fill_(TYPICAL_LOGMEL_STD)
    meta = ModelMeta(labels=labels, features=features, arch=arch, dimensions_source=dimensions_source,
                     corpora=[{"name": f"none (random weights for {purpose})", "licence": "n/a"}],
                     calibration=dict(calibration or {}))
    return save_model(net.eval(), meta, path, overwrite=True, onnx=onnx)
