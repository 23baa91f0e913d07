"""Inference in torch: :class:`Predictor` loads a model file into torch and turns waveforms into
:class:`Prediction` objects (model/inference.py has the logic it shares with the ONNX runtime,
model/runtime.py). Torch is the runtime for training, evaluation and CUDA. It never opens audio
files or devices."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch

from model.audio import SAMPLE_RATE_HZ
from model.checkpoint import ModelMeta, load_model, resolve_model_path
from model.errors import ComputeDeviceError
from model.inference import (  # noqa: F401 - re-exported: results and windows belong with inference
    InferenceBase,
    Prediction,
    SegmentState,
    aggregate,
    window_bounds,
)
from model.network import SEREnsemble, SERNet


def map_equal_lengths(arrays: Sequence[np.ndarray], fn, device: str | torch.device = "cpu") -> list[np.ndarray]:
    """``fn`` ((B, samples) tensor -> (B, ...) tensor) over 1-D ``arrays``, those of equal length
    stacked into one batch (a batch is much cheaper per row than rows one by one; no row's result
    depends on the others). Results as float32 numpy arrays, in the order of ``arrays``."""
    out: list[np.ndarray | None] = [None] * len(arrays)
    by_len: dict[int, list[int]] = {}
    for i, w in enumerate(arrays):
        by_len.setdefault(len(w), []).append(i)
    for idx in by_len.values():
        x = torch.from_numpy(np.stack([arrays[i] for i in idx])).to(device)
        for i, r in zip(idx, fn(x).float().cpu().numpy()):
            out[i] = r
    return out  # type: ignore[return-value]



def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` picks CUDA when it is available, else the CPU."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ComputeDeviceError(f"--device {device}: not a device name; use auto, cpu or cuda.") from exc
    if dev.type not in ("cpu", "cuda"):
        raise ComputeDeviceError(f"--device {device}: this program runs on cpu or cuda; use auto, cpu or cuda.")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ComputeDeviceError(f"--device {device}: no CUDA GPU is available here (or this torch build has no "
                                 "CUDA); use --device cpu, or auto to take a GPU when there is one.")
    return dev



class Predictor(InferenceBase):
    """Loads a model into torch and predicts emotion, gender and V/A/D from mono waveforms."""

    def __init__(self, net: SERNet | SEREnsemble, meta: ModelMeta, device: str | torch.device = "auto", source: str = ""):
        self.device = resolve_device(device)
        self.net = net.to(self.device).eval()
        self._init_meta(meta, source)

    @classmethod
    def load(cls, path: str | os.PathLike = "default", device: str | torch.device = "auto") -> Predictor:
        net, meta = load_model(path)
        return cls(net, meta, device, source=str(resolve_model_path(path)))

    runtime = "torch"

    @property
    def threads(self) -> int:
        """CPU threads of the computation (torch's setting, process-wide)."""
        return torch.get_num_threads()

    @threads.setter
    def threads(self, n: int) -> None:
        torch.set_num_threads(max(1, int(n)))

    @torch.inference_mode()
    def voice_gender_batch(self, waveforms: Sequence[np.ndarray],
                           sample_rate: int = SAMPLE_RATE_HZ) -> list[np.ndarray] | None:
        if not self.has_voice:
            return None
        prepared = [self._prepare(w, sample_rate) for w in waveforms]
        return map_equal_lengths(prepared, self.net.voice.forward_batch, self.device)

    @torch.inference_mode()
    def _embeddings(self, prepared: list[np.ndarray]) -> list[np.ndarray]:
        return map_equal_lengths(prepared, self.net.voice.embed_batch, self.device)

    @torch.inference_mode()
    def _mean_logmel(self, window: np.ndarray) -> np.ndarray:
        logmel = self.net.logmel(torch.from_numpy(window)[None].to(self.device))
        return logmel.mean(dim=2)[0].float().cpu().numpy()

    @torch.inference_mode()
    def _network(self, windows: list[np.ndarray], references: np.ndarray | None,
                 segments: Sequence[tuple[SegmentState, int]] | None, embeddings: np.ndarray | None = None,
                 centres: np.ndarray | None = None) -> dict[str, np.ndarray]:
        x = torch.from_numpy(np.stack(windows)).to(self.device)
        out = self.net(x) if references is None else self.net(x, torch.from_numpy(references).to(self.device))
        if embeddings is not None:
            voice = self.net.voice
            emb = torch.from_numpy(embeddings).to(self.device)
            if centres is None:
                out["voice_emotion"], out["voice_dimensions"] = voice.emotion_raw(emb), voice.dimensions_raw(emb)
            else:
                centred = emb - torch.from_numpy(centres).to(self.device)
                out["voice_emotion"], out["voice_dimensions"] = voice.emotion_centred(centred), voice.dimensions_centred(centred)
            out["voice_male"] = torch.sigmoid(voice.gender(emb))[:, 0]
        return {k: v.float().cpu().numpy() for k, v in out.items()}
