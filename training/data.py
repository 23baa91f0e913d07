"""Training data in memory: waveforms of a manifest, their targets, and on-the-fly augmentation.

Waveforms are short (a few seconds) and corpora small enough to hold at 16 kHz in memory; log-mel
features are computed per batch by the network's own front end, so waveform augmentations
(gain, noise, speed) and feature augmentations (SpecAugment) both apply every epoch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from model.audio import SAMPLE_RATE_HZ, load_mono_16k, resample, speech_bounds
from model.errors import AudioError
from model.network import GENDER_LABELS
from training.manifest import ManifestEntry, Skipped


@dataclass(frozen=True)
class AugmentConfig:
    """On-the-fly augmentation settings (units in the names)."""

    crop_s: float = 2.0
    gain_db_range: tuple[float, float] = (-10.0, 6.0)
    noise_prob: float = 0.5
    noise_snr_db_range: tuple[float, float] = (10.0, 40.0)
    speeds: tuple[float, ...] = (0.9, 1.0, 1.1)
    time_masks: int = 2
    time_mask_max_frames: int = 20
    freq_masks: int = 2
    freq_mask_max_bands: int = 8
    mixup_alpha: float = 0.0  # 0 disables mixup
    # Crop training clips to their audible part first (model.audio.speech_bounds, as the Predictor
    # does for whole utterances and as the VAD does in streaming), so crops are not mostly silence.
    trim: bool = False
    # Channel augmentation (training/channel.py): chance per crop of a simulated room, a random EQ,
    # a telephone line (300-3400 Hz, 8 kHz, mu-law or GSM) and a wide-band codec (MP3).
    reverb_prob: float = 0.0
    eq_prob: float = 0.0
    telephone_prob: float = 0.0
    codec_prob: float = 0.0
    # Speaker-normalised networks (arch.speaker_norm): chance that a crop is centred on its
    # speaker's average spectrum (as after adaptation) rather than as before adaptation
    # (arch.speaker_norm_fallback: the training set's mean, or the crop's own mean).
    speaker_ref_prob: float = 0.5

    @property
    def channel(self):
        from training.channel import ChannelConfig

        return ChannelConfig(reverb_prob=self.reverb_prob, eq_prob=self.eq_prob,
                             telephone_prob=self.telephone_prob, codec_prob=self.codec_prob)


MIN_TRIMMED_SAMPLES = SAMPLE_RATE_HZ // 4  # a trimmed clip shorter than this keeps its silence


class ClipBank:
    """All clips of a manifest as float32 waveforms at 16 kHz, plus speed-perturbed copies.

    Files that cannot be read are reported in :attr:`skipped` instead of stopping the run. With
    ``trim`` each clip is cut to its audible part (:func:`model.audio.speech_bounds`).
    """

    def __init__(self, entries: list[ManifestEntry], labels: list[str], speeds: tuple[float, ...] = (1.0,),
                 trim: bool = False):
        self.labels = list(labels)
        self.speeds = tuple(sorted(set(speeds) | {1.0}))
        self.entries: list[ManifestEntry] = []
        self.skipped: list[Skipped] = []
        waves = []
        for e in entries:
            try:
                w = load_mono_16k(e.path)
            except AudioError as exc:
                self.skipped.append(Skipped(e.path, str(exc)))
                continue
            if np.abs(w).max() == 0:
                self.skipped.append(Skipped(e.path, "the file is digital silence"))
                continue
            if trim:
                start, end = speech_bounds(w)
                if end - start >= MIN_TRIMMED_SAMPLES:
                    w = w[start:end]
            self.entries.append(e)
            waves.append(w)
        # Speed perturbation by resampling: 1.1 plays 10 % faster (shorter, higher pitch).
        self.waves: dict[float, list[np.ndarray]] = {
            s: waves if s == 1.0 else [resample(w, int(round(SAMPLE_RATE_HZ * s)), SAMPLE_RATE_HZ) for w in waves]
            for s in self.speeds
        }
        index = {lab: i for i, lab in enumerate(self.labels)}
        self.emotion = np.array([index.get(e.label, -1) if e.label else -1 for e in self.entries], dtype=np.int64)
        genders = {g: i for i, g in enumerate(GENDER_LABELS)}
        self.gender = np.array([genders.get(e.gender, -1) if e.gender else -1 for e in self.entries], dtype=np.int64)
        self.dimensions = np.array(
            [e.dimensions if e.dimensions is not None else (np.nan, np.nan, np.nan) for e in self.entries], dtype=np.float32
        )

    def __len__(self) -> int:
        return len(self.entries)

    def class_weights(self) -> np.ndarray:
        """Inverse-frequency weights (mean 1 over present classes) for class-balanced loss."""
        counts = np.bincount(self.emotion[self.emotion >= 0], minlength=len(self.labels)).astype(np.float64)
        w = np.where(counts > 0, 1.0 / np.maximum(counts, 1), 0.0)
        present = counts > 0
        return (w / w[present].mean()).astype(np.float32) if present.any() else w.astype(np.float32)


def fit_length(w: np.ndarray, n: int) -> np.ndarray:
    """Repeat a clip that is shorter than ``n`` samples (as the network repeats short inputs)."""
    if len(w) >= n:
        return w
    return np.tile(w, -(-n // len(w)))[:n]


class Augmenter:
    """Random crops, gain, additive noise and speed choice on waveforms; SpecAugment on features."""

    def __init__(self, config: AugmentConfig, rng: np.random.Generator):
        self.config = config
        self.rng = rng
        self.crop = int(round(config.crop_s * SAMPLE_RATE_HZ))
        channel = config.channel
        if channel.active:
            from training.channel import ChannelAugmenter

            self.channel = ChannelAugmenter(channel, rng)
        else:
            self.channel = None

    def waveform(self, bank: ClipBank, i: int, train: bool = True) -> np.ndarray:
        return self.waveform_pair(bank, i, train)[0]

    def waveform_pair(self, bank: ClipBank, i: int, train: bool = True) -> tuple[np.ndarray, np.ndarray, float]:
        """(augmented crop, the same crop before gain, channel and noise, the speed it was taken at)."""
        c, rng = self.config, self.rng
        speed = float(rng.choice(bank.speeds)) if train else 1.0
        w = fit_length(bank.waves[speed][i], self.crop)
        start = rng.integers(0, len(w) - self.crop + 1) if train else (len(w) - self.crop) // 2
        clean = w[start:start + self.crop]
        x = clean.copy()
        if not train:
            return x, clean, speed
        if self.channel is not None:
            x = self.channel(x)
        x *= 10 ** (rng.uniform(*c.gain_db_range) / 20)
        if rng.random() < c.noise_prob:
            power = float(np.mean(x ** 2)) + 1e-10
            snr = rng.uniform(*c.noise_snr_db_range)
            noise = rng.standard_normal(len(x)).astype(np.float32)
            if rng.random() < 0.5:  # pink-ish noise: integrated white noise, high-passed by the mean removal
                noise = np.cumsum(noise)
                noise -= np.convolve(noise, np.ones(401) / 401, mode="same")
                noise /= noise.std() + 1e-8
            x += noise * np.sqrt(power / 10 ** (snr / 10))
        return np.clip(x, -1.0, 1.0), clean, speed

    def spec_augment(self, feats: torch.Tensor) -> torch.Tensor:
        """Zero (the normalised mean) random time and frequency bands of ``(B, mels, frames)``."""
        c = self.config
        b, n_mels, n_frames = feats.shape
        feats = feats.clone()
        for j in range(b):
            for _ in range(c.freq_masks):
                width = int(self.rng.integers(0, c.freq_mask_max_bands + 1))
                f0 = int(self.rng.integers(0, max(1, n_mels - width)))
                feats[j, f0:f0 + width, :] = 0.0
            for _ in range(c.time_masks):
                width = int(self.rng.integers(0, c.time_mask_max_frames + 1))
                t0 = int(self.rng.integers(0, max(1, n_frames - width)))
                feats[j, :, t0:t0 + width] = 0.0
        return feats
