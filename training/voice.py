"""The voice encoder (model/voice.py): importing its pretrained weights once, and fitting its gender
regression and voice-emotion heads on the training speakers.

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
from model.voice import ENCODER_KEYS, encoder_path, load_encoder_weights

log = logging.getLogger(__name__)
ENCODER_PATH = encoder_path()  # GE2E's own weights
L2 = 1e-3  # ridge penalty of the gender regression
STEPS = 500
LR = 1.0
# Voice-emotion heads: the multinomial logistic regression's inverse penalty (as scikit-learn's C:
# the objective is 0.5 |W|^2 + C * sum of class-balanced cross-entropies) and the ridge penalty of
# the V/A/D regression. Chosen by actor-held-out cross-validation on RAVDESS.
EMOTION_C = 1.0
DIMENSIONS_ALPHA = 1.0


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


def load_encoder(voice: torch.nn.Module, path: Path | None = None) -> None:
    """Put the pretrained encoder weights into a :class:`model.voice.VoiceGender` (by default those
    of its size, :func:`encoder_path`)."""
    path = path or encoder_path(voice.hidden)
    if not path.is_file():
        how = ("see training/voice.py to import them" if path == ENCODER_PATH else
               "see training/voice_distill.py to make them")
        raise SERError(f"{path}: the voice encoder's weights are missing; {how}.")
    try:
        weights = load_file(str(path))
    except Exception as e:  # noqa: BLE001 - safetensors' own error types vary: a damaged file
        raise SERError(f"{path}: the voice encoder's weights cannot be read ({e}).") from None
    if not load_encoder_weights(voice, weights):
        raise SERError(f"{path}: not the weights of a voice encoder of {voice.hidden} hidden units per layer.")


def fit_voice_heads(voice: torch.nn.Module, bank, emotion: bool = True) -> dict:
    """The gender regression and, with ``emotion``, the voice-emotion heads fitted on the bank's
    clips as ``ser train`` fits them; the encoder and heads then frozen (they are not trained with
    the emotion network). Returns the fits."""
    fits = {"gender_fit": fit_gender(voice, bank)}
    if emotion:
        fits["voice_emotion_fit"] = fit_voice_emotion(voice, bank)
    voice.requires_grad_(False)
    return fits


def network_with_arch(net: torch.nn.Module, meta, arch, fresh: tuple[str, ...], where) -> torch.nn.Module:
    """A network of ``arch`` (a model's architecture with some voice settings changed) holding
    ``net``'s weights but those named with a ``fresh`` prefix, which are left to be put in or fitted;
    refused when any other weight does not carry over."""
    from model.network import build_network

    new = build_network(len(meta.labels), meta.features, arch)
    missing, unexpected = new.load_state_dict({k: v for k, v in net.state_dict().items() if not k.startswith(fresh)},
                                              strict=False)
    if unexpected or any(not k.startswith(fresh) for k in missing):
        raise SERError(f"{where}: unexpected weights {sorted(unexpected or missing)[:4]}")
    return new


# (encoder, clip path) -> embedding, shared by the runs of one process (the folds of a cross-validation).
_EMBEDDINGS: dict[tuple, np.ndarray] = {}


def _encoder_key(voice: torch.nn.Module) -> tuple:
    """What tells the encoders of one process apart in the embedding caches: an encoder put in
    place of a voice's own (training/voice_distill.py), or its sizes and a checksum of its weights."""
    swapped = voice.__dict__.get("encode_partials")
    if swapped is not None:  # the object itself: the key keeps it alive, so its id is never reused
        return ("swapped", swapped)
    weights = [p for name, p in voice.named_parameters() if name.startswith(ENCODER_KEYS)]
    return (tuple(getattr(voice, "hidden", ())), float(sum(p.detach().double().abs().sum() for p in weights)))


@torch.no_grad()
def embeddings(voice: torch.nn.Module, paths: list[str], waves: list[np.ndarray]) -> np.ndarray:
    """Embeddings of clips (their audible part), cached by path."""
    from model.audio import speech_bounds

    out, encoder = [], _encoder_key(voice)
    for p, w in zip(paths, waves):
        if (encoder, p) not in _EMBEDDINGS:
            a, b = speech_bounds(w)
            x = w[a:b] if b - a >= 3200 else w
            _EMBEDDINGS[encoder, p] = voice.embed(torch.from_numpy(x)).numpy()
        out.append(_EMBEDDINGS[encoder, p])
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


_WINDOW_EMBEDDINGS: dict[tuple, np.ndarray] = {}  # (encoder, clip path) -> its windows' embeddings (per process)


def analysis_windows(w: np.ndarray) -> list[np.ndarray]:
    """A clip's analysis windows, cut as :meth:`model.predictor.Predictor.predict_windows` cuts
    them: its audible part, the default analysis windows (2 s every 0.5 s)."""
    from model.audio import speech_bounds
    from model.checkpoint import DEFAULT_ANALYSIS
    from model.predictor import window_bounds

    window, hop = int(DEFAULT_ANALYSIS["window_s"] * 16000), int(DEFAULT_ANALYSIS["hop_s"] * 16000)
    a, b = speech_bounds(w)
    x = w[a:b] if b - a >= 3200 else w
    return [x[s:t] for s, t in window_bounds(len(x), window, hop)]


@torch.no_grad()
def window_embeddings(voice: torch.nn.Module, paths: list[str], waves: list[np.ndarray]) -> list[np.ndarray]:
    """Embeddings (n_windows, 256) of each clip's :func:`analysis_windows`, cached by path."""
    from model.predictor import map_equal_lengths

    out, encoder = [], _encoder_key(voice)
    for p, w in zip(paths, waves):
        if (encoder, p) not in _WINDOW_EMBEDDINGS:
            _WINDOW_EMBEDDINGS[encoder, p] = np.stack(map_equal_lengths(analysis_windows(w), voice.embed_batch))
        out.append(_WINDOW_EMBEDDINGS[encoder, p])
    return out


def _logistic(x: np.ndarray, y: np.ndarray, n_classes: int, c: float) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression with class-balanced sample weights and an L2 penalty on the
    weights (not the bias), by L-BFGS: returns (W (n_classes, d), b (n_classes,))."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    sample_w = torch.from_numpy(len(y) / (np.count_nonzero(counts) * np.maximum(counts, 1))[y])
    xt, yt = torch.from_numpy(x.astype(np.float64)), torch.from_numpy(y)
    w = torch.zeros(n_classes, x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(n_classes, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=500, tolerance_grad=1e-9, tolerance_change=1e-12,
                            history_size=20, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        ce = torch.nn.functional.cross_entropy(xt @ w.T + b, yt, reduction="none")
        loss = (sample_w * ce).sum() * c + 0.5 * (w ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach().numpy(), b.detach().numpy()


def _ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Ridge regression with an unpenalised intercept: returns (W (k, d), b (k,))."""
    mx, my = x.mean(axis=0), y.mean(axis=0)
    xc = (x - mx).astype(np.float64)
    w = np.linalg.solve(xc.T @ xc + alpha * np.eye(x.shape[1]), xc.T @ (y - my))
    return w.T, my - mx @ w


def _set_linear(layer: torch.nn.Linear, w: np.ndarray, b: np.ndarray) -> None:
    layer.weight.data = torch.from_numpy(w.astype(np.float32))
    layer.bias.data = torch.from_numpy(b.astype(np.float32))


def fit_voice_emotion(voice: torch.nn.Module, bank) -> dict:
    """Fit the voice-emotion heads (model/voice.py) on the analysis windows of the bank's clips:
    the emotion classifier and the V/A/D regression, once on the embeddings as they are (used
    before a speaker's average is known) and once on each speaker's embeddings minus that
    speaker's average (used after). Each window carries its clip's labels. Returns the training
    accuracies and the numbers of windows and speakers."""
    embs = window_embeddings(voice, [e.path for e in bank.entries], bank.waves[1.0])
    x = np.concatenate(embs)
    clip = np.concatenate([np.full(len(e), i) for i, e in enumerate(embs)])
    speakers = np.array([bank.entries[i].speaker for i in clip])
    centred = x.copy()
    for s in np.unique(speakers):
        centred[speakers == s] -= x[speakers == s].mean(axis=0)
    y = bank.emotion[clip]
    dims = bank.dimensions[clip]
    has_y, has_dimensions = y >= 0, np.isfinite(dims).all(axis=1)
    if not has_y.any():
        raise SERError("no training clip has an emotion label: the voice-emotion heads cannot be fitted.")
    result = {"windows": int(len(x)), "speakers": int(len(np.unique(speakers)))}
    for name, feats in (("raw", x), ("centred", centred)):
        w, b = _logistic(feats[has_y], y[has_y], voice.n_labels, EMOTION_C)
        _set_linear(getattr(voice, f"emotion_{name}"), w, b)
        result[f"{name}_train_accuracy"] = float(np.mean((feats[has_y] @ w.T + b).argmax(axis=1) == y[has_y]))
        if has_dimensions.any():
            w, b = _ridge(feats[has_dimensions], dims[has_dimensions], DIMENSIONS_ALPHA)
        else:  # no V/A/D labels in the corpus: the heads output the middle of the scale (0.5)
            w, b = np.zeros((3, feats.shape[1])), np.full(3, 0.5)
        _set_linear(getattr(voice, f"dimensions_{name}"), w, b)
    log.info("voice emotion: fitted on %d windows of %d speakers, training accuracy %.3f raw, %.3f centred",
             result["windows"], result["speakers"], result["raw_train_accuracy"], result["centred_train_accuracy"])
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description="Import Resemblyzer's GE2E voice encoder as safetensors. (Voice-emotion heads for "
                    "existing training runs: 'ser voice-emotion'.)")
    p.add_argument("--wheel", required=True, help="Resemblyzer wheel (.whl) or its pretrained.pt")
    p.add_argument("--out", default=str(ENCODER_PATH))
    args = p.parse_args(argv)
    print(import_resemblyzer(args.wheel, Path(args.out)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
