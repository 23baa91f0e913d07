"""Stream buffers: a bounded history of a stream addressed by absolute index, and a streaming
resampler of native-rate blocks to the engine's rate."""

from __future__ import annotations

import numpy as np
import soxr

from streamer.config import SAMPLE_RATE_HZ

GROWTH_FACTOR = 2
RESAMPLE_QUALITY = "HQ"


class History:
    """Keeps ``[base, base + n)`` of an endless stream in one preallocated array.

    Callers say what they no longer need with :meth:`discard_before`; memory then stays at the
    largest span ever needed at once. The array only grows when a single span really needs more
    room (never by appending), and old data is dropped by compaction in place.
    """

    def __init__(self, capacity: int, dtype=np.float32):
        self._buf = np.zeros(max(1, capacity), dtype=dtype)
        self.base = 0  # absolute index of _buf[0]
        self.n = 0
        self._keep_from = 0

    @property
    def end(self) -> int:
        """Absolute index just after the newest item."""
        return self.base + self.n

    @property
    def capacity(self) -> int:
        return len(self._buf)

    def reset(self, start: int = 0) -> None:
        self.base = start
        self.n = 0
        self._keep_from = start

    def discard_before(self, index: int) -> None:
        """Items before ``index`` may be dropped (they are dropped lazily, at the next append)."""
        self._keep_from = max(self._keep_from, min(index, self.end))

    def append(self, x: np.ndarray) -> None:
        if self.n + len(x) > len(self._buf):
            drop = self._keep_from - self.base
            if drop > 0:
                self._buf[:self.n - drop] = self._buf[drop:self.n]
                self.base += drop
                self.n -= drop
            if self.n + len(x) > len(self._buf):
                size = len(self._buf)
                while size < self.n + len(x):
                    size *= GROWTH_FACTOR
                grown = np.zeros(size, dtype=self._buf.dtype)
                grown[:self.n] = self._buf[:self.n]
                self._buf = grown
        self._buf[self.n:self.n + len(x)] = x
        self.n += len(x)

    def get(self, start: int, stop: int) -> np.ndarray:
        """A copy of items ``[start, stop)``; raises if they were dropped or have not arrived."""
        if start < self.base or stop > self.end or start > stop:
            raise IndexError(f"range [{start}, {stop}) is outside the kept history [{self.base}, {self.end})")
        return self._buf[start - self.base:stop - self.base].copy()


class StreamResampler:
    """Native-rate ``(frames, channels)`` -> ``rate_out`` (16 kHz) tracks, mixing or splitting channels."""

    def __init__(self, rate_in: int, n_channels: int, channels: str, rate_out: int = SAMPLE_RATE_HZ):
        self.mix = channels == "mix"
        self.n_tracks = 1 if self.mix else n_channels
        self._stream = None
        if rate_in != rate_out:
            self._stream = soxr.ResampleStream(rate_in, rate_out, self.n_tracks, dtype="float32",
                                               quality=RESAMPLE_QUALITY)

    def __call__(self, data: np.ndarray, last: bool = False) -> np.ndarray:
        x = data.mean(axis=1, dtype=np.float32, keepdims=True) if self.mix and data.shape[1] > 1 else data
        x = np.ascontiguousarray(x, dtype=np.float32)
        if self._stream is None:
            return x
        y = self._stream.resample_chunk(x, last=last)
        return y.reshape(-1, self.n_tracks)
