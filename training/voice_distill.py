"""A lighter voice encoder made from GE2E: the experiments behind the model card's "A lighter voice
encoder", and the bundled model's pruned encoder.

The GE2E voice encoder (model/voice.py) costs about 4.4 ms per 1.6-s partial on one CPU core, more than
the emotion network per window; its float first LSTM layer is about half of that. This module trains
a replacement to reproduce GE2E's embeddings and measures what it costs in accuracy:

1. ``crops``: random 0.9-2 s crops of the training corpora's clips, each played at a random speed
   (a shifted voice), through rooms, EQ, phone lines and codecs (training/channel.py) and noise, at
   random levels; per crop the voice graph's mel power (160 x 40, as the runtime frames it) and
   GE2E's embedding (the teacher);
2. ``train``: the student fitted to the teachers' embeddings by cosine loss; printed per epoch, its
   cosine with GE2E on the analysis windows of any corpora given with ``--check`` (development sets:
   they are measured, never trained on). The student is a small CNN (:class:`StudentEncoder`), or
   with ``--prune`` GE2E itself with fewer hidden units per layer (:class:`PrunedEncoder`), started
   from GE2E's weights for the units kept;
3. ``evaluate``: the shipped network with its voice encoder replaced (a student, GE2E whole, or GE2E
   on shorter partials), its gender regression and voice-emotion heads fitted again on the model's
   training speakers as ``ser train`` fits them, then EmoDB and BAVED as ``ser eval --suite``
   measures them; with ``--ravdess-cv`` the voice branch alone in RAVDESS's actor-held-out folds;
4. ``install``: a model file with a pruned encoder in place of its own, heads fitted again.

Measured with RAVDESS speech and song of actors 01-20 (model card): the CNN matched GE2E on its
training crops (cosine 0.90) but not on voices it had not heard (0.76-0.79), and lost 5-8 points of
EmoDB UA and 6 points of gender; twenty speakers are too few to learn GE2E anew. GE2E with its first
layer pruned to 128 units keeps its upper layers' knowledge of voices and lost 1.1-2.6 points of EmoDB
UA (none restricted to EmoDB's classes once adapted); it is the bundled model's encoder. Its file's
name says only its sizes: writing another encoder of those sizes there changes what the recipe trains
with (the model's metadata records the file's SHA-256 when ``install`` puts it in). The commands that made it::

    # DATA: a folder holding ravdess/ (and ravdess-song/) to train on, and emodb/ and baved/ to measure
    python -m training.voice_distill crops --data DATA --per-clip 8 --seed 1 --out crops.npz
    python -m training.voice_distill train --crops crops.npz --prune 128,256,256 --epochs 10 --check DATA \\
        --out model/weights/ge2e_voice_encoder_pruned_128-256-256.safetensors
    python -m training.voice_distill evaluate --encoder model/weights/ge2e_voice_encoder_pruned_128-256-256.safetensors --data DATA
    python -m training.voice_distill evaluate --encoder ge2e --data DATA        # the control: GE2E whole
    python -m training.voice_distill evaluate --encoder ge2e --data DATA --ravdess-cv
    python -m training.voice_distill install --encoder model/weights/ge2e_voice_encoder_pruned_128-256-256.safetensors \\
        --data DATA --out model.safetensors                                  # from the model trained with GE2E

``ser train`` with ``arch.voice_hidden`` set (training/configs/ravdess8.yaml) reads the pruned
encoder's file and fits the heads on it itself. The CNN, and GE2E on shorter partials::

    python -m training.voice_distill crops --data DATA --per-clip 32 --out crops32.npz
    python -m training.voice_distill train --crops crops32.npz --out student.pt --check DATA
    python -m training.voice_distill evaluate --encoder student.pt --data DATA
    python -m training.voice_distill evaluate --encoder ge2e:120 --data DATA  # 1.2-s partials
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from model.errors import SERError

log = logging.getLogger(__name__)
TRAIN_CORPORA = (("ravdess", "ravdess"), ("ravdess-song", "ravdess-song"))  # (corpus, folder under --data)
SPEED_RANGE = (0.8, 1.25)  # played this much faster or slower: pitch and formants move together
LENGTH_S = (0.9, 2.0)  # crop lengths; 60 % are 1.6 s, one whole partial
NOISE_PROB, NOISE_SNR_DB = 0.4, (0.0, 30.0)
MEL_FLOOR = 1e-6  # the student's log-mel floor (zero-padded frames sit on it)


class StudentEncoder(nn.Module):
    """Mel power (B, 160, 40), as the voice graph computes it, -> (B, 256) unit embeddings: 1-D
    convolutions over time with the mel bands as channels, attentive mean and deviation pooling,
    a linear layer."""

    def __init__(self, width: int = 128, embedding: int = 256, n_mels: int = 40):
        super().__init__()
        layers, c = [], n_mels
        for out, k, stride in ((width, 5, 1), (width, 3, 2), (width * 3 // 2, 3, 2), (2 * width, 3, 1)):
            layers += [nn.Conv1d(c, out, k, stride=stride, padding=k // 2), nn.BatchNorm1d(out), nn.ReLU()]
            c = out
        self.input_norm = nn.BatchNorm1d(n_mels)
        self.convs = nn.Sequential(*layers)
        self.attention = nn.Sequential(nn.Conv1d(c, 64, 1), nn.Tanh(), nn.Conv1d(64, c, 1))
        self.linear = nn.Linear(2 * c, embedding)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.convs(self.input_norm(torch.log(mel + MEL_FLOOR).transpose(1, 2)))
        w = torch.softmax(self.attention(x), dim=2)
        mean = (x * w).sum(2)
        std = torch.sqrt(((x * x * w).sum(2) - mean * mean).clamp(min=1e-6))
        e = self.linear(torch.cat([mean, std], dim=1))
        return e / e.norm(dim=1, keepdim=True).clamp(min=1e-8)


class PrunedEncoder(nn.Module):
    """GE2E with fewer hidden units in some of its LSTM layers: mel power (B, 160, 40), as GE2E takes
    it, -> (B, 256) unit embeddings. :func:`prune_teacher` starts it from GE2E's own weights (the
    units kept, and their connections), and :func:`train_student` fine-tunes it to GE2E's embeddings;
    a layer that keeps all its units and inputs keeps GE2E's weights as they are to start with. Its
    weights are named as :class:`model.voice.VoiceGender` names its encoder's (``lstm.``, ``linear.``),
    so :func:`save_student` writes them as a model's voice encoder (``arch.voice_hidden``)."""

    def __init__(self, sizes: tuple[int, ...], n_mels: int = 40, embedding: int = 256):
        super().__init__()
        from model.voice import StackedLSTM

        self.sizes = tuple(int(h) for h in sizes)
        self.lstm = StackedLSTM(n_mels, self.sizes)
        self.linear = nn.Linear(self.sizes[-1], embedding)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        from model.voice import unit_embeddings

        return unit_embeddings(self.lstm, self.linear, mel)


def _layer_outputs(layers: list[tuple[torch.Tensor, ...]], mels: torch.Tensor) -> list[torch.Tensor]:
    """Each layer's hidden states (B, T, H) of an LSTM given as its layers' weights
    (:func:`model.voice.lstm_layers`)."""
    outs, x = [], mels
    for params in layers:
        layer = nn.LSTM(params[0].shape[1], params[1].shape[1], 1, batch_first=True)
        layer.load_state_dict(dict(zip(("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"), params)))
        x, _ = layer(x)
        outs.append(x)
    return outs


@torch.no_grad()
def prune_teacher(voice, sizes: tuple[int, ...], mels: np.ndarray) -> PrunedEncoder:
    """A :class:`PrunedEncoder` of ``sizes`` hidden units per layer, from GE2E's weights: in each layer
    the units that matter most to the next one are kept (the norm of the next layer's, or the
    output layer's, weights on the unit times the unit's spread over ``mels``, a sample of training
    partials), with their gates' weights on the units kept below them."""
    from model.voice import lstm_layers

    lstm, linear = voice.lstm, voice.linear
    if len(sizes) != lstm.num_layers or not all(0 < h <= lstm.hidden_size for h in sizes):
        raise SERError(f"sizes {sizes}: one size per GE2E layer ({lstm.num_layers}), each 1-{lstm.hidden_size}")
    h_full = lstm.hidden_size
    teacher = lstm_layers(lstm)
    spread = [o.reshape(-1, h_full).std(0) for o in _layer_outputs(teacher, torch.from_numpy(mels))]
    keep = []
    for k, h in enumerate(sizes):
        after = teacher[k + 1][0] if k + 1 < len(teacher) else linear.weight
        keep.append(torch.sort(torch.topk(after.norm(dim=0) * spread[k], h).indices).values)
    student = PrunedEncoder(sizes, lstm.input_size, linear.out_features)
    for k, (layer, (w_ih, w_hh, b_ih, b_hh)) in enumerate(zip(student.lstm.layers, teacher)):
        rows = torch.cat([keep[k] + gate * h_full for gate in range(4)])
        below = keep[k - 1] if k else torch.arange(lstm.input_size)
        layer.weight_ih_l0.copy_(w_ih[rows][:, below])
        layer.weight_hh_l0.copy_(w_hh[rows][:, keep[k]])
        layer.bias_ih_l0.copy_(b_ih[rows])
        layer.bias_hh_l0.copy_(b_hh[rows])
    student.linear.weight.copy_(linear.weight[:, keep[-1]])
    student.linear.bias.copy_(linear.bias)
    return student


def _power_mel(voice):
    from model.export import _PowerMel

    spec = voice.mel.spectrogram
    return _PowerMel(spec.n_fft, spec.win_length, spec.window, voice.mel.mel_scale.fb)


def _window_mels(voice, waves: list[np.ndarray]) -> np.ndarray:
    """Each clip's analysis windows (training/voice.analysis_windows) as the voice graph's input: the
    first partial's mel power (N, 160, 40)."""
    from model.runtime import voice_partials
    from training.voice import analysis_windows

    mel = _power_mel(voice)
    with torch.no_grad():
        return np.stack([mel(torch.from_numpy(voice_partials(x)[:1]))[0].numpy()
                         for w in waves for x in analysis_windows(w)])


def _embed_all(encode, mels: np.ndarray, batch: int = 256) -> np.ndarray:
    with torch.no_grad():
        return np.concatenate([encode(torch.from_numpy(mels[s:s + batch])).numpy() for s in range(0, len(mels), batch)])


def make_crops(waves: list[np.ndarray], per_clip: int, seed: int, voice) -> tuple[np.ndarray, np.ndarray]:
    """(mel power (N, 160, 40), GE2E embeddings (N, 256)) of ``per_clip`` augmented crops per wave."""
    from model.audio import resample
    from model.runtime import voice_partials
    from training.channel import ChannelAugmenter, ChannelConfig

    rng = np.random.default_rng(seed)
    channel = ChannelAugmenter(ChannelConfig(reverb_prob=0.3, eq_prob=0.5, telephone_prob=0.15, codec_prob=0.1), rng)
    mel = _power_mel(voice)
    mels = []
    for w in waves:
        for _ in range(per_clip):
            speed = float(np.exp(rng.uniform(*np.log(SPEED_RANGE))))
            x = resample(w, 16000, int(round(16000 / speed))) if abs(speed - 1) > 0.01 else w
            n = int(16000 * (1.6 if rng.random() < 0.6 else rng.uniform(*LENGTH_S)))
            if len(x) > n:
                s = int(rng.integers(0, len(x) - n + 1))
                x = x[s:s + n]
            x = np.asarray(x, np.float32).copy()
            if rng.random() < 0.7:
                x = channel(x)
            if rng.random() < NOISE_PROB:
                x = _add_noise(x, waves, rng)
            x = x * float(10 ** rng.uniform(-2.5, 0.0))
            with torch.no_grad():
                mels.append(mel(torch.from_numpy(voice_partials(x)[:1]))[0].numpy())
    mels_arr = np.stack(mels).astype(np.float32)
    return mels_arr, _embed_all(voice.encode_partials, mels_arr)


def _add_noise(x: np.ndarray, waves: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """White, pink-ish, or babble (three other clips) noise at a random SNR."""
    kind = rng.random()
    if kind < 1 / 3:
        noise = rng.standard_normal(len(x)).astype(np.float32)
    elif kind < 2 / 3:
        noise = np.cumsum(rng.standard_normal(len(x))).astype(np.float32)
        noise -= noise.mean()
    else:
        noise = np.zeros(len(x), np.float32)
        for _ in range(3):
            other = waves[int(rng.integers(len(waves)))]
            if len(other) >= len(x):
                s = int(rng.integers(0, len(other) - len(x) + 1))
                noise += other[s:s + len(x)]
    snr = rng.uniform(*NOISE_SNR_DB)
    p_noise, p_signal = float(np.mean(noise ** 2)) + 1e-12, float(np.mean(x ** 2)) + 1e-12
    return (x + noise * np.sqrt(p_signal / p_noise / 10 ** (snr / 10))).astype(np.float32)


def train_student(mels: np.ndarray, targets: np.ndarray, epochs: int, width: int = 128, batch: int = 256,
                  lr: float = 2e-3, seed: int = 0, checks: dict | None = None,
                  student: nn.Module | None = None) -> tuple[nn.Module, list[dict]]:
    """The student fitted to the targets by cosine loss (AdamW, cosine-decayed learning rate): a new
    :class:`StudentEncoder` of ``width``, or ``student`` as given (a :class:`PrunedEncoder`: the layers
    it kept whole learn at a tenth of the rate, gradients clipped to norm 1 as LSTMs need).
    ``checks``: name -> (mels, GE2E embeddings) measured after each epoch. Returns the student (in
    eval mode) and one record per epoch."""
    torch.manual_seed(seed)
    if student is None:
        student = StudentEncoder(width)
        groups, clip, decay = [{"params": list(student.parameters()), "scale": 1.0}], None, 1e-4
    else:
        groups, clip, decay = _pruned_groups(student), 1.0, 0.0
    opt = torch.optim.AdamW(groups, lr=lr, weight_decay=decay)
    x, y = torch.from_numpy(mels), torch.from_numpy(targets)
    per_epoch = max(1, len(x) // batch)
    total, step, history = epochs * per_epoch, 0, []
    for epoch in range(epochs):
        student.train()
        order, losses, t0 = torch.randperm(len(x)), [], time.time()
        for b in range(per_epoch):
            idx = order[b * batch:(b + 1) * batch]
            for group in opt.param_groups:
                group["lr"] = group["scale"] * lr * 0.5 * (1 + math.cos(math.pi * step / total))
            step += 1
            loss = (1 - (student(x[idx]) * y[idx]).sum(1)).mean()
            opt.zero_grad()
            loss.backward()
            if clip:
                nn.utils.clip_grad_norm_(student.parameters(), clip)
            opt.step()
            losses.append(loss.item())
        student.eval()
        record = {"epoch": epoch + 1, "train_cosine": 1 - float(np.mean(losses)), "seconds": round(time.time() - t0)}
        for name, (m, e) in (checks or {}).items():
            c = np.sum(_embed_all(student, m) * e, axis=1)
            record[f"{name}_cosine"], record[f"{name}_cosine_p1"] = float(np.mean(c)), float(np.percentile(c, 1))
        log.info("epoch %s", json.dumps(record))
        history.append(record)
    return student.eval(), history


def _pruned_groups(student: PrunedEncoder) -> list[dict]:
    """Parameter groups of a pruned encoder: a layer (or the output layer) whose units and inputs
    are all GE2E's learns at a tenth of the rate, the pruned ones at the full rate."""
    from model.voice import HIDDEN as full

    sizes, groups = student.sizes, []
    for k, layer in enumerate(student.lstm.layers):
        whole = sizes[k] == full and (k == 0 or sizes[k - 1] == full)
        groups.append({"params": list(layer.parameters()), "scale": 0.1 if whole else 1.0})
    groups.append({"params": list(student.linear.parameters()), "scale": 0.1 if sizes[-1] == full else 1.0})
    return groups


def save_student(student: nn.Module, path: Path) -> None:
    """A student's weights with what rebuilds it (:func:`load_student` reads them). A pruned encoder
    to a ``.safetensors`` path is written as a model's voice encoder (training/voice.py,
    ``encoder_path``), its sizes in the file's metadata."""
    if isinstance(student, PrunedEncoder):
        if Path(path).suffix == ".safetensors":
            from safetensors.torch import save_file

            save_file({k: v.contiguous() for k, v in student.state_dict().items()}, str(path),
                      metadata={"source": "GE2E (Resemblyzer 0.1.4, Apache-2.0) pruned and fine-tuned to its "
                                          "embeddings by training/voice_distill.py",
                                "voice_hidden": ",".join(str(h) for h in student.sizes)})
        else:
            torch.save({**student.state_dict(), "sizes": torch.tensor(student.sizes)}, path)
    else:
        width = student.convs[0].out_channels
        torch.save({**student.state_dict(), "width": torch.tensor(width)}, path)


def load_student(path: str | Path) -> nn.Module:
    """The student :func:`save_student` wrote, in eval mode."""
    if Path(path).suffix == ".safetensors":
        from safetensors.torch import load_file

        student, state = PrunedEncoder(_pruned_sizes(path)), load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if "sizes" in state:
            student = PrunedEncoder(tuple(int(h) for h in state.pop("sizes")))
        else:
            student = StudentEncoder(int(state.pop("width")))
    student.load_state_dict(state)
    return student.eval()


def _pruned_sizes(path: str | Path) -> tuple[int, ...]:
    """The hidden units per layer that a pruned encoder's ``.safetensors`` file records."""
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        sizes = tuple(int(h) for h in (f.metadata() or {}).get("voice_hidden", "").split(",") if h)
    if not sizes:
        raise SERError(f"{path}: not a pruned voice encoder (no voice_hidden in its metadata)")
    return sizes


def ge2e_voice():
    """GE2E itself, the teacher: a :class:`model.voice.VoiceGender` with Resemblyzer's encoder weights,
    whatever encoder the model files have, in eval mode."""
    from model.voice import VoiceGender
    from training.voice import load_encoder

    voice = VoiceGender()
    load_encoder(voice)
    return voice.eval()


def swap_encoder(voice, encoder: str) -> None:
    """Make ``voice`` (a :class:`model.voice.VoiceGender`) encode its partials with ``encoder``:
    "model" (its own encoder, as the model file has it), "ge2e" (GE2E whole), "ge2e:FRAMES" (GE2E on
    the first FRAMES frames of each partial) or a student file written by ``train``; the rest of
    ``embed_batch`` (level, mel, partials, their mean) stays."""
    if encoder == "model":
        voice.__dict__.pop("encode_partials", None)
        return
    if encoder.startswith("ge2e"):
        frames = int(encoder.split(":", 1)[1]) if ":" in encoder else None
        ge2e = ge2e_voice()
        whole = type(ge2e).encode_partials
        voice.__dict__["encode_partials"] = lambda partials: whole(ge2e, partials[:, :frames])
    else:
        # In the instance's dict: as a submodule, nn.Module would file it where the class's method wins.
        voice.__dict__["encode_partials"] = load_student(encoder)


def _training_bank(meta, data: Path):
    """The clips of a model's training speakers (its metadata's corpora, found under ``data``), as
    ``ser train`` fits the voice heads on them."""
    from training.data import ClipBank
    from training.recipes import load_corpus

    entries = []
    for corpus in meta.corpora:
        found, _ = load_corpus(corpus["name"], data / corpus["name"], speakers={int(s) for s in corpus["speakers"]})
        entries += found
    return ClipBank(entries, list(meta.labels))


def evaluate_encoder(model: str, encoder: str, data: Path, corpora=("emodb", "baved")) -> dict:
    """The model's network with ``encoder`` as its voice encoder (:func:`swap_encoder`), its voice
    heads fitted again on the model's training speakers, evaluated on ``corpora`` under ``data``
    (training/crosscorpus.evaluate_dev_corpus, in torch)."""
    from model.checkpoint import load_model
    from model.predictor import Predictor
    from training.crosscorpus import evaluate_dev_corpus
    from training.recipes import load_corpus
    from training.voice import fit_voice_heads

    net, meta = load_model(model)
    if getattr(net, "voice", None) is None or not meta.arch.voice_emotion:
        raise SERError(f"{model}: the model has no voice encoder with voice-emotion heads to replace.")
    swap_encoder(net.voice, encoder)
    with torch.no_grad():
        bank = _training_bank(meta, data)
        result = {"encoder": encoder, **fit_voice_heads(net.voice, bank)}
        predictor = Predictor(net, meta, "cpu")
        for corpus in corpora:
            entries, _ = load_corpus(corpus, data / corpus)
            result[corpus] = evaluate_dev_corpus(predictor, entries)
    return result


def voice_branch_cv(encoder: str, data: Path, n_folds: int = 5, labels: list[str] | None = None) -> dict:
    """The voice branch alone on RAVDESS (actors 01-20 under ``data``/ravdess) in the recipe's
    actor-held-out folds, with ``encoder`` (as :func:`swap_encoder` takes it): per fold, the gender
    regression and the voice-emotion heads fitted on the other folds' actors as ``ser train`` fits
    them, then scored on the fold's clips (emotion: the raw head's log-probabilities averaged over
    a clip's analysis windows; gender: the clip's embedding). Returns UA and gender accuracy per fold
    and their means: what a voice encoder changes in-corpus, where the fused cross-validation would
    need its networks trained again."""
    from model.labels import RAVDESS_LABELS
    from model.voice import VoiceGender
    from training.data import ClipBank
    from training.recipes import load_corpus
    from training.run import make_folds
    from training.voice import embeddings, fit_voice_heads, window_embeddings

    if encoder == "model":
        raise SERError("the RAVDESS voice-branch cross-validation measures an encoder: give ge2e, ge2e:FRAMES "
                       "or an encoder's file, not model")
    labels = list(labels or RAVDESS_LABELS)
    entries, _ = load_corpus("ravdess", data / "ravdess", speakers=set(range(1, 21)))
    voice = VoiceGender(len(labels)).eval()
    swap_encoder(voice, encoder)  # its own weights are never used
    folds = []
    with torch.no_grad():
        for held in make_folds(entries, n_folds):
            train = ClipBank([e for e in entries if e.speaker not in held], labels)
            test = ClipBank([e for e in entries if e.speaker in held], labels)
            fit_voice_heads(voice, train)
            paths, waves = [e.path for e in test.entries], test.waves[1.0]
            scores = [torch.log_softmax(voice.emotion_raw(torch.from_numpy(w)), dim=1).mean(0).argmax().item()
                      for w in window_embeddings(voice, paths, waves)]
            y = test.emotion
            recalls = [float(np.mean(np.asarray(scores)[y == c] == c)) for c in range(len(labels)) if np.any(y == c)]
            male = voice.gender(torch.from_numpy(embeddings(voice, paths, waves)))[:, 0].numpy() > 0
            keep = test.gender >= 0
            folds.append({"held_out": list(held), "ua": float(np.mean(recalls)),
                          "gender_accuracy": float(np.mean(male[keep] == (test.gender[keep] == 1)))})
    return {"encoder": encoder, "folds": folds, "ua_mean": float(np.mean([f["ua"] for f in folds])),
            "gender_mean": float(np.mean([f["gender_accuracy"] for f in folds]))}


def install_encoder(model: str, encoder: Path, data: Path, out: Path, overwrite: bool = False) -> dict:
    """Write ``out``, the model file ``model`` with the pruned voice encoder ``encoder`` (a
    ``.safetensors`` written by ``train --prune``) in place of its own: ``arch.voice_hidden`` set to
    the encoder's sizes, the gender regression and the voice-emotion heads fitted again on the
    model's training speakers (under ``data``) as ``ser train`` fits them, the network and every
    other setting as they were; its ONNX export beside it. Returns the heads' fits."""
    import dataclasses

    from model.checkpoint import load_model, save_model
    from model.files import file_sha256
    from training.voice import fit_voice_heads, load_encoder, network_with_arch

    net, meta = load_model(model)
    if getattr(net, "voice", None) is None:
        raise SERError(f"{model}: the model has no voice encoder to replace.")
    if Path(encoder).suffix != ".safetensors":
        raise SERError(f"{encoder}: not a pruned GE2E encoder (train --prune ... --out NAME.safetensors).")
    sizes = _pruned_sizes(encoder)
    arch = dataclasses.replace(meta.arch, voice_hidden=sizes)
    new = network_with_arch(net, meta, arch, ("voice.",), model)
    load_encoder(new.voice, Path(encoder))
    with torch.no_grad():
        fits = fit_voice_heads(new.voice, _training_bank(meta, data), arch.voice_emotion)
    training = dict(meta.training)
    if "config" in training:  # as ser voice-emotion records a changed architecture (training/voice_runs.py)
        training["config"] = {**training["config"], "arch": arch.to_dict()}
    training["voice_encoder"] = {
        "hidden": list(sizes), "file": Path(encoder).name, "sha256": file_sha256(encoder),
        "heads_refitted_on": [c["name"] for c in meta.corpora], **fits,
        # What the file keeps from before: measured with the encoder it had then.
        "cross_validation_and_calibration_measured_with": {"voice_hidden": list(meta.arch.voice_hidden)}}
    new_meta = dataclasses.replace(meta, arch=arch, training=training, created="")
    save_model(new.eval(), new_meta, out, overwrite=overwrite)
    return fits


def _load_waves(data: Path, speakers: set[int]) -> list[np.ndarray]:
    from model.audio import speech_bounds
    from training.recipes import load_corpus

    waves = []
    for corpus, folder in TRAIN_CORPORA:
        if (data / folder).is_dir():
            entries, _ = load_corpus(corpus, data / folder, speakers=speakers)
            for w in _read(entries):
                a, b = speech_bounds(w)
                waves.append(w[a:b] if b - a >= 16000 else w)
    if not waves:
        raise SERError(f"{data}: no training speech found (expected {' and '.join(f for _, f in TRAIN_CORPORA)}/).")
    return waves


def _read(entries) -> list[np.ndarray]:
    from model.audio import load_mono_16k

    return [load_mono_16k(e.path) for e in entries]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.voice_distill", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("crops", help="augmented crops and GE2E's embeddings of them")
    c.add_argument("--data", required=True, type=Path, help="folder holding ravdess/ (and ravdess-song/)")
    c.add_argument("--speakers", default="1-20", help="training speakers, e.g. 1-20 (never the held-out 21-24)")
    c.add_argument("--per-clip", type=int, default=32)
    c.add_argument("--seed", type=int, default=1)
    c.add_argument("--out", required=True, type=Path)
    t = sub.add_parser("train", help="fit the student to the crops' embeddings")
    t.add_argument("--crops", required=True, type=Path)
    t.add_argument("--out", required=True, type=Path,
                   help="the student's file; a pruned encoder to NAME.safetensors is written as a model's voice encoder")
    t.add_argument("--epochs", type=int, default=8)
    t.add_argument("--width", type=int, default=128)
    t.add_argument("--prune", help="instead of the CNN, GE2E pruned to these hidden units per layer, e.g. 128,256,256")
    t.add_argument("--lr", type=float, help="learning rate (default 2e-3 for the CNN, 1e-3 pruned)")
    t.add_argument("--batch", type=int, help="crops per step (default 256 for the CNN, 128 pruned)")
    t.add_argument("--check", type=Path, help="a folder holding emodb/ and baved/: report the cosine with GE2E on them")
    e = sub.add_parser("evaluate", help="the model with another voice encoder, heads refitted, on EmoDB and BAVED")
    e.add_argument("--encoder", required=True, help="a student file, model (the model's own), or ge2e[:FRAMES]")
    e.add_argument("--data", required=True, type=Path, help="folder holding the training corpora, emodb/ and baved/")
    e.add_argument("--model", default="default")
    e.add_argument("--out", type=Path, help="also write the result as JSON here")
    e.add_argument("--ravdess-cv", action="store_true",
                   help="instead, the voice branch alone in RAVDESS's actor-held-out folds (training data only)")
    i = sub.add_parser("install", help="a model file with a pruned encoder in place of its own, heads refitted")
    i.add_argument("--encoder", required=True, type=Path, help="a pruned encoder (.safetensors) written by train --prune")
    i.add_argument("--data", required=True, type=Path, help="folder holding the model's training corpora")
    i.add_argument("--model", default="default")
    i.add_argument("--out", required=True, type=Path, help="the new model file (its ONNX export is written beside it)")
    i.add_argument("--overwrite", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    t0 = time.time()
    if args.cmd == "crops":
        from training.config import parse_speakers

        voice = ge2e_voice()
        mels, emb = make_crops(_load_waves(args.data, set(parse_speakers(args.speakers))), args.per_clip, args.seed, voice)
        np.savez(args.out, mels=mels, emb=emb)
        log.info("%d crops in %.0f s -> %s", len(mels), time.time() - t0, args.out)
    elif args.cmd == "train":
        crops = np.load(args.crops)
        checks = {}
        if args.check:
            from training.recipes import load_corpus

            voice = ge2e_voice()
            for corpus in ("emodb", "baved"):
                entries, _ = load_corpus(corpus, args.check / corpus)
                mels = _window_mels(voice, _read(entries))
                checks[corpus] = (mels, _embed_all(voice.encode_partials, mels))
        start, lr, batch = None, args.lr or 2e-3, args.batch or 256
        if args.prune:
            sizes = tuple(int(h) for h in args.prune.split(","))
            sample = np.random.default_rng(0).choice(len(crops["mels"]), min(512, len(crops["mels"])), replace=False)
            start = prune_teacher(ge2e_voice(), sizes, crops["mels"][np.sort(sample)])
            lr, batch = args.lr or 1e-3, args.batch or 128
        student, history = train_student(crops["mels"], crops["emb"], args.epochs, args.width, batch=batch, lr=lr,
                                         checks=checks, student=start)
        save_student(student, args.out)
        log.info("student -> %s (%.0f s)", args.out, time.time() - t0)
    elif args.cmd == "install":
        fits = install_encoder(args.model, args.encoder, args.data, args.out, args.overwrite)
        log.info("%s: %s (%.0f s)", args.out, json.dumps(fits), time.time() - t0)
    elif args.ravdess_cv:
        result = voice_branch_cv(args.encoder, args.data)
        if args.out:
            args.out.write_text(json.dumps(result, indent=1))
        per_fold = ", ".join(f"{f['ua']:.3f}" for f in result["folds"])
        print(f"RAVDESS voice branch: UA {result['ua_mean']:.3f}, gender {result['gender_mean']:.3f} (per fold UA {per_fold})")
    else:
        result = evaluate_encoder(args.model, args.encoder, args.data)
        if args.out:
            args.out.write_text(json.dumps(result, indent=1, default=float))
        for corpus in ("emodb", "baved"):
            r = result[corpus]
            key = "ua_full" if corpus == "emodb" else "arousal_level_spearman"
            print(f"{corpus}: {key} {r[key]:.3f} / adapted {r['adapted'][key]:.3f}, gender {r['gender_accuracy']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
