"""The log-mel front end in torch (training and the torch runtime): :class:`FeatureConfig`
(model/features.py) says what it computes."""

from __future__ import annotations

import torch
import torchaudio

from model.features import LEVEL_FLOOR_DBFS, LEVEL_PERCENTILE, FeatureConfig


def normalise_level(waveform: torch.Tensor, target_dbfs: float, frame: int) -> torch.Tensor:
    """Scale each row of ``(batch, samples)`` so that the 90th percentile of its non-overlapping
    ``frame``-sample RMS levels is ``target_dbfs``. Gain in, the same output out (exactly, above
    the floor), and each window depends only on its own samples, as streaming needs. The levels are
    those of each row less its mean: a DC offset does not count as sound."""
    b, n = waveform.shape
    centred = waveform - waveform.mean(dim=1, keepdim=True)
    n_frames = max(1, n // frame)
    frames = centred[:, : n_frames * frame].reshape(b, n_frames, -1) if n >= frame else centred[:, None, :]
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
        """Chunked features (``FeatureConfig.chunk_ms``): each chunk's log-mel, side by side in time."""
        if waveform.dim() == 1:
            waveform = waveform.unsqueeze(0)
        waveform = waveform.float()
        if self.config.chunk_samples <= 0:
            return self._logmel(waveform)
        bounds = self.config.chunk_bounds(waveform.shape[1])
        b, c = waveform.shape[0], self.config.chunk_samples
        whole = [(s, e) for s, e in bounds if e - s == c]
        parts = []
        if whole:
            x = self._chunk_logmel(waveform[:, : len(whole) * c].reshape(b * len(whole), c))  # (B * K, n_mels, F)
            parts.append(x.reshape(b, len(whole), x.shape[1], x.shape[2]).permute(0, 2, 1, 3).reshape(b, x.shape[1], -1))
        if len(bounds) > len(whole):
            parts.append(self._chunk_logmel(waveform[:, bounds[-1][0]:bounds[-1][1]]))
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=2)

    def _chunk_logmel(self, chunks: torch.Tensor) -> torch.Tensor:
        """A chunk's own log-mel: its level normalised alone, and the frames whose window lies inside
        it (the chunk padded with the zero-weighted ends of the ``n_fft`` frame), after its mean (a
        DC offset, which leaks into the lowest bands and into the level) is taken out."""
        chunks = chunks - chunks.mean(dim=1, keepdim=True)
        if self.config.level_norm_dbfs is not None:
            chunks = normalise_level(chunks, self.config.level_norm_dbfs, self.config.hop_length)
        left = (self.config.n_fft - self.config.win_length) // 2
        right = self.config.n_fft - self.config.win_length - left
        return self._logmel(torch.nn.functional.pad(chunks, (left, right)), level=False)

    def _logmel(self, waveform: torch.Tensor, level: bool = True) -> torch.Tensor:
        if level and self.config.level_norm_dbfs is not None:
            waveform = normalise_level(waveform, self.config.level_norm_dbfs, self.config.hop_length)
        spec = self.mel.spectrogram(waveform)
        power = spec.real.square() + spec.imag.square()
        return torch.log(self.mel.mel_scale(power) + self.config.log_floor)
