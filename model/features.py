"""Log-mel front end shared by training and streaming.

One frozen :class:`FeatureConfig` describes the features; the model file stores it and
:class:`LogMel` computes it. Frames are taken without centre padding, so frame ``i`` covers
samples ``[i * hop, i * hop + n_fft)`` and a window's features depend only on the window's own
samples: the streaming engine therefore gets exactly the values of an offline pass.

This module is torch-free (the ONNX runtime reads the settings too); :class:`LogMel`, the torch
front end, lives in ``model/logmel.py``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


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
    # Chunked features (0: off). The window is cut into chunks of this length from its start, and
    # each chunk gets its log-mel on its own: its own level normalisation, and the frames whose
    # ``win_ms`` window lies inside it (frame i of a chunk windows its samples [i * hop,
    # i * hop + win_length): 48 frames in 0.5 s); a shorter rest at the end is a chunk of its own
    # (left out when shorter than one window). The window's log-mel is the chunks' side by side,
    # and the network's conv stack runs on each chunk alone (model/network.py), so windows whose
    # starts differ by whole chunks share every chunk they have in common: with 0.5-s chunks and
    # the default 0.5-s hop, a 2-s window costs one new chunk instead of four.
    chunk_ms: float = 0.0

    @property
    def chunk_samples(self) -> int:
        """Samples per chunk (0: the window is one piece)."""
        return int(round(self.sample_rate_hz * self.chunk_ms / 1000.0))

    def chunk_bounds(self, n_samples: int) -> list[tuple[int, int]]:
        """(start, end) of the chunks of an ``n_samples`` window, relative to its start (one piece
        when not chunked): whole chunks, then the rest if it holds at least one frame."""
        c = self.chunk_samples
        if c <= 0 or n_samples <= c:
            return [(0, n_samples)]
        bounds = [(s, s + c) for s in range(0, n_samples - c + 1, c)]
        if n_samples - bounds[-1][1] >= self.win_length:
            bounds.append((bounds[-1][1], n_samples))
        return bounds

    def chunk_frames(self, n_samples: int) -> int:
        """Frames of a chunk of ``n_samples`` samples: those whose window lies inside it."""
        return 0 if n_samples < self.win_length else 1 + (n_samples - self.win_length) // self.hop_length

    def feature_frames(self, n_samples: int) -> int:
        """Log-mel frames of an ``n_samples`` window, chunked or not."""
        if self.chunk_samples <= 0:
            return self.n_frames(n_samples)
        return sum(self.chunk_frames(e - s) for s, e in self.chunk_bounds(n_samples))

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


def _hz_to_mel(freq: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above."""
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    mels = freq / f_sp
    log_part = freq >= min_log_hz
    mels[log_part] = min_log_mel + np.log(freq[log_part] / min_log_hz) / logstep
    return mels


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    freqs = f_sp * mels
    log_part = mels >= min_log_mel
    freqs[log_part] = min_log_hz * np.exp(logstep * (mels[log_part] - min_log_mel))
    return freqs


def mel_filterbank(config: FeatureConfig) -> np.ndarray:
    """(n_fft // 2 + 1, n_mels) float32: the triangular Slaney-normalised mel filters of the front
    end (torchaudio's ``melscale_fbanks`` with norm and scale "slaney"), in numpy for code that
    does not import torch (the app's spectrogram)."""
    all_freqs = np.linspace(0, config.sample_rate_hz // 2, config.n_fft // 2 + 1)
    m_pts = np.linspace(_hz_to_mel(np.array([config.f_min_hz]))[0], _hz_to_mel(np.array([config.f_max_hz]))[0],
                        config.n_mels + 2)
    f_pts = _mel_to_hz(m_pts)
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts[None, :] - all_freqs[:, None]
    down = -slopes[:, :-2] / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    fb = np.maximum(0.0, np.minimum(down, up))
    fb *= 2.0 / (f_pts[2:config.n_mels + 2] - f_pts[:config.n_mels])
    return fb.astype(np.float32)


# -- framing and level gains that the runtime and the export's int8 calibration share -----------

def level_gains(windows: np.ndarray, target_dbfs: float, frame: int, centred: bool = False) -> np.ndarray:
    """The gains (float32, one per row of ``windows``, windows of equal length) that put the 90th
    percentile of each window's non-overlapping ``frame``-sample RMS levels at ``target_dbfs``
    (model/logmel.normalise_level, for each window). The levels are those of the window less its
    mean: a DC offset (some sound cards and microphones have one) does not count as sound
    (``centred``: the rows are already less their mean)."""
    n_windows, n = windows.shape
    windows = windows.astype(np.float32, copy=False)
    if not centred:
        windows = windows - np.add.reduce(windows, axis=1, keepdims=True, dtype=np.float32) / np.float32(n)
    n_frames = max(1, n // frame)
    frames = (windows[:, : n_frames * frame].reshape(n_windows, n_frames, -1) if n >= frame
              else windows[:, None, :])
    # Few numpy calls: this runs for every window, and on one window the calls' overhead is its cost.
    mean_square = np.add.reduce(frames * frames, axis=2) / np.float32(frames.shape[2])
    k = int(LEVEL_PERCENTILE * (n_frames - 1))
    level = np.sqrt(np.partition(mean_square, k, axis=1)[:, k])
    return np.float32(10 ** (target_dbfs / 20)) / np.maximum(level, np.float32(10 ** (LEVEL_FLOOR_DBFS / 20)))


def level_gain(window: np.ndarray, target_dbfs: float, frame: int) -> float:
    """:func:`level_gains` of one window."""
    return float(level_gains(np.asarray(window)[None, :], target_dbfs, frame)[0])


def chunk_feed(chunks: Sequence[np.ndarray], f: FeatureConfig) -> dict[str, np.ndarray]:
    """The trunk graph's feed for chunks of equal length (16-kHz samples): their STFT frames and
    level-normalisation gains squared (the export's int8 calibration feeds the graph the same way)."""
    hop, win = f.hop_length, f.win_length
    n = f.chunk_frames(len(chunks[0]))  # frames windowing the chunk's samples [i * hop, i * hop + win)
    if n < 1:  # chunk_bounds gives no such chunk: a window's leftover piece holds a frame at least
        raise ValueError(f"a chunk of {len(chunks[0])} samples holds no {win}-sample frame")
    samples = (chunks[0][None] if len(chunks) == 1 else np.stack(chunks)).astype(np.float32, copy=False)
    # Each chunk's DC offset out (a new array: the frames below are views of it).
    samples = samples - np.add.reduce(samples, axis=1, keepdims=True) / np.float32(samples.shape[1])
    step, item = samples.strides
    # The frames as a strided view of the samples, copied once: with the level gains below, the
    # feed of one chunk takes 19 us, with the same numbers (sliding_window_view and
    # ascontiguousarray took 51 us, as_strided 23 us). numpy's array constructor checks the
    # view against the samples' buffer; as_strided's way through __array_interface__ cost more.
    frames = np.ndarray((len(samples), n, win), np.float32, samples, 0, (step, item * hop, item)).copy()
    if f.level_norm_dbfs is None:
        gain2 = np.ones(len(chunks), np.float32)
    else:
        gain2 = level_gains(samples, f.level_norm_dbfs, hop, centred=True) ** 2
    return {"chunk_frames": frames, "chunk_gain2": gain2}
