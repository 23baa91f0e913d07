"""A lighter voice encoder distilled from GE2E: the experiment behind the model card's "A lighter
voice encoder, tried and not taken".

The GE2E voice encoder (model/voice.py) costs about 5 ms per 1.6-s partial on one CPU core, more than
the emotion network per window. This module trains a small CNN to reproduce its embeddings and
measures what the replacement costs in accuracy:

1. ``crops``: random 0.9-2 s crops of the training corpora's clips, each played at a random speed
   (a shifted voice), through rooms, EQ, phone lines and codecs (training/channel.py) and noise, at
   random levels; per crop the voice graph's mel power (160 x 40, as the runtime frames it) and
   GE2E's embedding (the teacher);
2. ``train``: the CNN (:class:`StudentEncoder`) fitted to the teachers' embeddings by cosine loss;
   printed per epoch, its cosine with GE2E on the analysis windows of any corpora given with
   ``--check`` (development sets: they are measured, never trained on);
3. ``evaluate``: the shipped network with its voice encoder replaced (the CNN, or GE2E on shorter
   partials), its gender regression and voice-emotion heads fitted again on the model's training
   speakers as ``ser train`` fits them, then EmoDB and BAVED as ``ser eval --suite`` measures them.

Measured with RAVDESS speech and song of actors 01-20 (model card): the CNN matched GE2E on its
training crops (cosine 0.90) but not on voices it had not heard (0.76-0.79), and lost 5-8 points of
EmoDB UA and 6 points of gender; twenty speakers are too few. Run it again when training speech of
many more speakers is available::

    # DATA: a folder holding ravdess/ (and ravdess-song/) to train on, and emodb/ and baved/ to measure
    python -m training.voice_distill crops --data DATA --per-clip 32 --out crops.npz
    python -m training.voice_distill train --crops crops.npz --out student.pt --check DATA
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
                  lr: float = 2e-3, seed: int = 0, checks: dict | None = None) -> tuple[StudentEncoder, list[dict]]:
    """The student fitted to the targets by cosine loss (AdamW, cosine-decayed learning rate).
    ``checks``: name -> (mels, GE2E embeddings) measured after each epoch. Returns the student (in
    eval mode) and one record per epoch."""
    torch.manual_seed(seed)
    student = StudentEncoder(width)
    opt = torch.optim.AdamW(student.parameters(), lr=lr, weight_decay=1e-4)
    x, y = torch.from_numpy(mels), torch.from_numpy(targets)
    per_epoch = max(1, len(x) // batch)
    total, step, history = epochs * per_epoch, 0, []
    for epoch in range(epochs):
        student.train()
        order, losses = torch.randperm(len(x)), []
        for b in range(per_epoch):
            idx = order[b * batch:(b + 1) * batch]
            for group in opt.param_groups:
                group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / total))
            step += 1
            loss = (1 - (student(x[idx]) * y[idx]).sum(1)).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        student.eval()
        record = {"epoch": epoch + 1, "train_cosine": 1 - float(np.mean(losses))}
        for name, (m, e) in (checks or {}).items():
            record[f"{name}_cosine"] = float(np.mean(np.sum(_embed_all(student, m) * e, axis=1)))
        log.info("epoch %s", json.dumps(record))
        history.append(record)
    return student.eval(), history


def swap_encoder(voice, encoder: str) -> None:
    """Make ``voice`` (a :class:`model.voice.VoiceGender`) encode its partials with ``encoder``:
    "ge2e" (as shipped), "ge2e:FRAMES" (GE2E on the first FRAMES frames of each partial) or a student
    file written by ``train``; the rest of ``embed_batch`` (level, mel, partials, their mean) stays."""
    shipped = type(voice).encode_partials
    if encoder.startswith("ge2e"):
        frames = int(encoder.split(":", 1)[1]) if ":" in encoder else None
        voice.encode_partials = lambda partials: shipped(voice, partials[:, :frames])
    else:
        state = torch.load(encoder, map_location="cpu", weights_only=True)
        student = StudentEncoder(int(state.pop("width")))
        student.load_state_dict(state)
        # In the instance's dict: as a submodule, nn.Module would file it where the class's method wins.
        voice.__dict__["encode_partials"] = student.eval()


def evaluate_encoder(model: str, encoder: str, data: Path, corpora=("emodb", "baved")) -> dict:
    """The model's network with ``encoder`` as its voice encoder (:func:`swap_encoder`), its voice
    heads fitted again on the model's training speakers, evaluated on ``corpora`` under ``data``
    (training/crosscorpus.evaluate_dev_corpus, in torch)."""
    from model.checkpoint import load_model
    from model.predictor import Predictor
    from training.crosscorpus import evaluate_dev_corpus
    from training.data import ClipBank
    from training.recipes import load_corpus
    from training.voice import fit_gender, fit_voice_emotion

    net, meta = load_model(model)
    if getattr(net, "voice", None) is None or not meta.arch.voice_emotion:
        raise SERError(f"{model}: the model has no voice encoder with voice-emotion heads to replace.")
    swap_encoder(net.voice, encoder)
    bank_entries = []
    for corpus in meta.corpora:
        entries, _ = load_corpus(corpus["name"], data / corpus["name"], speakers={int(s) for s in corpus["speakers"]})
        bank_entries += entries
    with torch.no_grad():
        bank = ClipBank(bank_entries, list(meta.labels))
        result = {"encoder": encoder, "gender_fit": fit_gender(net.voice, bank),
                  "voice_emotion_fit": fit_voice_emotion(net.voice, bank)}
        predictor = Predictor(net, meta, "cpu")
        for corpus in corpora:
            entries, _ = load_corpus(corpus, data / corpus)
            result[corpus] = evaluate_dev_corpus(predictor, entries)
    return result


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
    c.add_argument("--model", default="default", help="the model whose voice encoder is the teacher")
    c.add_argument("--out", required=True, type=Path)
    t = sub.add_parser("train", help="fit the student to the crops' embeddings")
    t.add_argument("--crops", required=True, type=Path)
    t.add_argument("--out", required=True, type=Path)
    t.add_argument("--epochs", type=int, default=8)
    t.add_argument("--width", type=int, default=128)
    t.add_argument("--check", type=Path, help="a folder holding emodb/ and baved/: report the cosine with GE2E on them")
    t.add_argument("--model", default="default")
    e = sub.add_parser("evaluate", help="the model with another voice encoder, heads refitted, on EmoDB and BAVED")
    e.add_argument("--encoder", required=True, help="a student file, or ge2e[:FRAMES]")
    e.add_argument("--data", required=True, type=Path, help="folder holding the training corpora, emodb/ and baved/")
    e.add_argument("--model", default="default")
    e.add_argument("--out", type=Path, help="also write the result as JSON here")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from model.checkpoint import load_model

    t0 = time.time()
    if args.cmd == "crops":
        from training.config import parse_speakers

        voice = load_model(args.model)[0].voice.eval()
        mels, emb = make_crops(_load_waves(args.data, set(parse_speakers(args.speakers))), args.per_clip, args.seed, voice)
        np.savez(args.out, mels=mels, emb=emb)
        log.info("%d crops in %.0f s -> %s", len(mels), time.time() - t0, args.out)
    elif args.cmd == "train":
        crops = np.load(args.crops)
        checks = {}
        if args.check:
            from training.recipes import load_corpus

            voice = load_model(args.model)[0].voice.eval()
            for corpus in ("emodb", "baved"):
                entries, _ = load_corpus(corpus, args.check / corpus)
                mels = _window_mels(voice, _read(entries))
                checks[corpus] = (mels, _embed_all(voice.encode_partials, mels))
        student, history = train_student(crops["mels"], crops["emb"], args.epochs, args.width, checks=checks)
        torch.save({**student.state_dict(), "width": torch.tensor(args.width)}, args.out)
        log.info("student -> %s (%.0f s)", args.out, time.time() - t0)
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
