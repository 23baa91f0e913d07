"""Log-mel front end shared by training and streaming.

One frozen :class:`FeatureConfig` describes the features; the model file stores it and
:class:`LogMel` computes it. Frames are taken without centre padding, so frame ``i`` covers
samples ``[i * hop, i * hop + n_fft)`` and a window's features depend only on the window's own
samples: the streaming engine therefore gets exactly the values of an offline pass.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torchaudio


@dataclass(frozen=True)
class FeatureConfig:
    """Log-mel settings. Units are in the field names."""

    sample_rate_hz: int = 16000
    win_ms: float = 25.0
    hop_ms: float = 10.0
    n_fft: int = 512
    n_mels: int = 64
    f_min_hz: float = 50.0
    f_max_hz: float = 8000.0
    log_floor: float = 1e-6
    # Level normalisation of each input window before the STFT (None: off). The window is scaled so
    # that its loud frames (the 90th percentile of 10-ms frame RMS) sit at this level in dBFS, so
    # the features do not depend on recording level or microphone gain.
    level_norm_dbfs: float | None = None

    @property
    def win_length(self) -> int:
        return int(round(self.sample_rate_hz * self.win_ms / 1000.0))

    @property
    def hop_length(self) -> int:
        return int(round(self.sample_rate_hz * self.hop_ms / 1000.0))

    def n_frames(self, n_samples: int) -> int:
        """Number of frames :class:`LogMel` produces for ``n_samples`` samples (0 if too short)."""
        if n_samples < self.n_fft:
            return 0
        return 1 + (n_samples - self.n_fft) // self.hop_length

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> FeatureConfig:
        from model.errors import check_keys

        check_keys(cls, data, "feature settings")
        return cls(**data)


LEVEL_PERCENTILE = 0.9  # which frame level counts as "the level" of a window: its loud frames
LEVEL_FLOOR_DBFS = -90.0  # windows quieter than this are not amplified further (digital silence stays silent)


def normalise_level(waveform: torch.Tensor, target_dbfs: float, frame: int) -> torch.Tensor:
    """Scale each row of ``(batch, samples)`` so that the 90th percentile of its non-overlapping
    ``frame``-sample RMS levels is ``target_dbfs``. Gain in, the same output out (exactly, above
    the floor), and each window depends only on its own samples, as streaming needs."""
    b, n = waveform.shape
    n_frames = max(1, n // frame)
    frames = waveform[:, : n_frames * frame].reshape(b, n_frames, -1) if n >= frame else waveform[:, None, :]
    rms = frames.square().mean(dim=2).sqrt()
    k = int(LEVEL_PERCENTILE * (rms.shape[1] - 1))
    level = torch.sort(rms, dim=1).values[:, k]
    floor = 10 ** (LEVEL_FLOOR_DBFS / 20)
    gain = (10 ** (target_dbfs / 20)) / torch.clamp(level, min=floor)
    return waveform * gain[:, None]


class LogMel(torch.nn.Module):
    """Waveform ``(batch, samples)`` float32 at ``sample_rate_hz`` -> log-mel ``(batch, n_mels, frames)``."""

    def __init__(self, config: FeatureConfig):
        super().__init__()
        self.config = config
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=config.sample_rate_hz,
            n_fft=config.n_fft,
            win_length=config.win_length,
            hop_length=config.hop_length,
            f_min=config.f_min_hz,
            f_max=config.f_max_hz,
            n_mels=config.n_mels,
            power=None,  # complex STFT: the power is taken below, faster than abs()**2
            center=False,
            norm="slaney",
            mel_scale="slaney",
        )

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        if waveform.dim() == 1:
            waveform = waveform.unsqueeze(0)
        waveform = waveform.float()
        if self.config.level_norm_dbfs is not None:
            waveform = normalise_level(waveform, self.config.level_norm_dbfs, self.config.hop_length)
        spec = self.mel.spectrogram(waveform)
        power = spec.real.square() + spec.imag.square()
        return torch.log(self.mel.mel_scale(power) + self.config.log_floor)
