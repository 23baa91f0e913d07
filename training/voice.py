"""The voice encoder for gender (model/voice.py): importing its pretrained weights once, and fitting
its gender regression on the training speakers.

Import (once; the result is committed as ``model/weights/ge2e_voice_encoder.safetensors`` with the
encoder's Apache-2.0 licence beside it)::

    pip download --no-deps resemblyzer==0.1.4 -d /tmp/rz
    python -m training.voice --wheel /tmp/rz/Resemblyzer-0.1.4-py3-none-any.whl

Resemblyzer's ``pretrained.pt`` is read with ``torch.load(weights_only=True)``, which refuses
anything but tensors and plain containers, so no pickled code runs even here; the product itself
only ever reads the safetensors copy.
"""

from __future__ import annotations

import argparse
import io
import logging
import zipfile
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from model.errors import SERError

log = logging.getLogger(__name__)
ENCODER_PATH = Path(__file__).resolve().parents[1] / "model" / "weights" / "ge2e_voice_encoder.safetensors"
ENCODER_KEYS = ("lstm.", "linear.")
L2 = 1e-3  # ridge penalty of the gender regression
STEPS = 500
LR = 1.0


def import_resemblyzer(wheel_or_pt: str | Path, out: Path = ENCODER_PATH) -> Path:
    """Resemblyzer's wheel (or its ``pretrained.pt``) -> the encoder's weights as safetensors."""
    src = Path(wheel_or_pt)
    if src.suffix == ".whl":
        with zipfile.ZipFile(src) as z:
            raw = z.read("resemblyzer/pretrained.pt")
        state = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    else:
        state = torch.load(src, map_location="cpu", weights_only=True)
    tensors = {k: v.contiguous() for k, v in state["model_state"].items() if k.startswith(ENCODER_KEYS)}
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out), metadata={"source": "Resemblyzer 0.1.4 pretrained.pt (GE2E), Apache-2.0"})
    return out


def load_encoder(voice: torch.nn.Module, path: Path = ENCODER_PATH) -> None:
    """Put the pretrained encoder weights into a :class:`model.voice.VoiceGender`."""
    if not path.is_file():
        raise SERError(f"{path}: the voice encoder's weights are missing; see training/voice.py to import them.")
    missing, unexpected = voice.load_state_dict(load_file(str(path)), strict=False)
    if unexpected or any(k.startswith(ENCODER_KEYS) for k in missing):
        raise SERError(f"{path}: not the GE2E voice encoder's weights.")


_EMBEDDINGS: dict[str, np.ndarray] = {}  # clip path -> embedding, shared by the runs of one process


@torch.no_grad()
def embeddings(voice: torch.nn.Module, paths: list[str], waves: list[np.ndarray]) -> np.ndarray:
    """Embeddings of clips (their audible part), cached by path."""
    from model.audio import speech_bounds

    out = []
    for p, w in zip(paths, waves):
        if p not in _EMBEDDINGS:
            a, b = speech_bounds(w)
            x = w[a:b] if b - a >= 3200 else w
            _EMBEDDINGS[p] = voice.embed(torch.from_numpy(x)).numpy()
        out.append(_EMBEDDINGS[p])
    return np.stack(out)


def fit_gender(voice: torch.nn.Module, bank) -> dict:
    """Fit the logistic regression of "male" on the embeddings of the bank's clips (those with a
    gender); returns its training accuracy and the number of clips and speakers."""
    keep = [i for i, g in enumerate(bank.gender) if g >= 0]
    if not keep:
        raise SERError("no training clip has a gender label: the voice gender cannot be fitted.")
    x = embeddings(voice, [bank.entries[i].path for i in keep], [bank.waves[1.0][i] for i in keep])
    y = (bank.gender[keep] == 1).astype(np.float64)  # GENDER_LABELS: female 0, male 1
    w, b = np.zeros(x.shape[1]), 0.0
    for _ in range(STEPS):  # full-batch gradient descent on the L2-penalised logistic loss
        p = 1.0 / (1.0 + np.exp(-(x @ w + b)))
        g = p - y
        w -= LR * (x.T @ g / len(y) + L2 * w)
        b -= LR * float(g.mean())
    voice.gender.weight.data = torch.from_numpy(w[None, :].astype(np.float32))
    voice.gender.bias.data = torch.tensor([b], dtype=torch.float32)
    acc = float(np.mean(((x @ w + b) > 0) == (y > 0.5)))
    speakers = len({bank.entries[i].speaker for i in keep})
    log.info("voice gender: fitted on %d clips of %d speakers, training accuracy %.3f", len(keep), speakers, acc)
    return {"train_accuracy": acc, "clips": len(keep), "speakers": speakers}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Import Resemblyzer's GE2E voice encoder as safetensors.")
    p.add_argument("--wheel", required=True, help="Resemblyzer wheel (.whl) or its pretrained.pt")
    p.add_argument("--out", default=str(ENCODER_PATH))
    args = p.parse_args(argv)
    print(import_resemblyzer(args.wheel, Path(args.out)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
