"""The architecture's settings and the outputs every model has: torch-free, so that loading a
model's description (model/meta.py) and the ONNX runtime never import torch."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

GENDER_LABELS = ("female", "male")
DIMENSION_NAMES = ("valence", "arousal", "dominance")


@dataclass(frozen=True)
class ArchConfig:
    """Architecture hyperparameters, stored in the model file."""

    channels: tuple[int, ...] = (16, 32, 64, 128, 256)
    # Pooling after each block as (freq, time); time is halved by the first three blocks only.
    pools: tuple[tuple[int, int], ...] = ((2, 2), (2, 2), (2, 2), (2, 1), (2, 1))
    # Where SimAM attention sits: "last" (after the conv stack, cheap), "all" (every block), "none".
    simam: str = "last"
    simam_lambda: float = 1e-4
    # Blocks (0-based) that get a second, residual 3x3 conv before pooling.
    residual_blocks: tuple[int, ...] = ()
    # Subtract each window's own mean per mel band after the training-set normalisation (cepstral
    # mean normalisation on log-mel): removes the channel's and the speaker's long-term spectrum.
    window_mean_norm: bool = False
    # Speaker normalisation: subtract a reference log-mel spectrum per band instead of the training
    # set's mean: the speaker's own average over the speech heard so far (model/adaptation.py).
    # Until enough has been heard, ``speaker_norm_fallback`` says what is subtracted: "global" (the
    # training set's mean, as without speaker normalisation) or "window" (the window's own mean).
    # Trained with both (see training/train.py).
    speaker_norm: bool = False
    speaker_norm_fallback: str = "global"
    # Voice gender from a pretrained speaker encoder (model/voice.py) stored in the model file,
    # instead of the gender head learnt from the training speakers alone.
    voice_gender: bool = False
    # Voice emotion (needs voice_gender): heads on the voice encoder's embedding whose output is
    # fused with the network's (model/voice.py). ``voice_emotion_weight`` is the heads' share once
    # the speaker's average embedding is known, ``voice_emotion_weight_unadapted`` before.
    voice_emotion: bool = False
    voice_emotion_weight: float = 0.6
    voice_emotion_weight_unadapted: float = 0.5
    # How often the voice encoder runs for voice emotion, in seconds of a speech segment: a window
    # starting less than this after the segment's last embedded window reuses that window's
    # embedding (0: every window gets its own). The encoder costs more than the networks, and a
    # voice changes slowly within a segment.
    voice_emotion_every_s: float = 0.0
    # Hidden units of the voice encoder's LSTM layers: GE2E's 256 in each, or fewer in a layer of
    # an encoder pruned from it and fine-tuned to its embeddings (training/voice_distill.py), which
    # costs less per embedding.
    voice_hidden: tuple[int, ...] = (256, 256, 256)
    # Independently trained copies of this network (different seeds) kept in one model whose
    # output is their average: an ensemble (see SEREnsemble). 1 is a single network.
    members: int = 1
    # Further outputs beyond emotion, gender and V/A/D, each a linear head on the shared embedding:
    # (name, kind, names) with kind "categorical" (class logits; ``names`` are the labels) or
    # "regression" (values in [0, 1]; ``names`` name them). The model file declares them with the
    # others (ModelMeta.heads) and every result carries them, so a new output reaches sessions,
    # exports, summaries and the app without code that names it.
    extra_heads: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    pooling: str = "attention"  # "attention" (attentive statistics) or "mean"
    attention_dim: int = 64
    head_dim: int = 128
    dropout: float = 0.3

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["channels"] = list(self.channels)
        data["pools"] = [list(p) for p in self.pools]
        data["residual_blocks"] = list(self.residual_blocks)
        if self.voice_hidden == ArchConfig.voice_hidden:  # GE2E's: files stay readable by versions without the field
            del data["voice_hidden"]
        else:
            data["voice_hidden"] = list(self.voice_hidden)
        data["extra_heads"] = [{"name": n, "kind": k, "names": list(v)} for n, k, v in self.extra_heads]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> ArchConfig:
        from model.errors import check_keys

        data = dict(data)
        check_keys(cls, data, "architecture settings")
        if "channels" in data:
            data["channels"] = tuple(int(c) for c in data["channels"])
        if "pools" in data:
            data["pools"] = tuple(tuple(int(v) for v in p) for p in data["pools"])
        if "residual_blocks" in data:
            data["residual_blocks"] = tuple(int(b) for b in data["residual_blocks"])
        if "voice_hidden" in data:
            data["voice_hidden"] = tuple(int(h) for h in data["voice_hidden"])
        if "extra_heads" in data:
            heads = []
            for h in data["extra_heads"]:
                if isinstance(h, dict):
                    heads.append((str(h["name"]), str(h["kind"]), tuple(str(v) for v in h["names"])))
                else:  # (name, kind, names) as a YAML list
                    heads.append((str(h[0]), str(h[1]), tuple(str(v) for v in h[2])))
            data["extra_heads"] = tuple(heads)
        return cls(**data)


BUILT_IN_HEADS = ("emotion", "gender", "dimensions")
HEAD_KINDS = ("categorical", "regression")


def check_extra_heads(heads) -> None:
    """Extra heads need new lowercase names, a known kind and distinct output names."""
    import re

    # Names results already use for something else, and names whose HEAD_NAME export columns could
    # fall on a fixed column (p_happy, track_name, start_s, top_label, speech_ratio, latency_ms, and
    # the batch table's peak_anger_s ...).
    seen = {*BUILT_IN_HEADS, *DIMENSION_NAMES, "probabilities", "top_label", "uncertain", "dimensions_source",
            "p", "track", "kind", "start", "end", "top", "speech", "latency", "anger", "mean", "peak", "share"}
    for name, kind, names in heads:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or name in seen:
            raise ValueError(f"extra head {name!r}: a head needs a new lowercase name (letters, digits, _)")
        seen.add(name)
        if kind not in HEAD_KINDS:
            raise ValueError(f"extra head {name!r}: kind {kind!r} is not one of {list(HEAD_KINDS)}")
        if not names or len(set(names)) != len(names) or not all(isinstance(n, str) and n for n in names):
            raise ValueError(f"extra head {name!r}: needs distinct, non-empty output names")


# The voice encoder's input (model/voice.py; the ONNX runtime frames it the same way, model/runtime.py):
# 25-ms frames every 10 ms, centred, 40 mel bands, partials of 1.6 s half overlapping.
VOICE_SAMPLE_RATE_HZ = 16000
VOICE_N_MELS = 40
VOICE_N_FFT = 400
VOICE_HOP = 160
VOICE_PARTIAL_FRAMES = 160  # 1.6 s: the encoder's training length
VOICE_PARTIAL_STEP = 80  # partials of a longer input overlap by half
VOICE_MAX_PARTIALS = 3  # enough for a stable embedding; bounds the cost per segment
VOICE_LEVEL_DBFS = -30.0  # the encoder's input level (Resemblyzer normalises to -30 dBFS)
VOICE_SILENCE_RMS = 1e-5
VOICE_EMBEDDING = 256
