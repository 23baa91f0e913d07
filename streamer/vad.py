"""Voice activity: per-frame webrtcvad flags, and speech segments with onset/offset hangover and padding.

Both stages are streaming stages with ``push``/``flush``/``reset`` and keep their between-chunk state
in the object, so feeding audio in any chunk sizes gives the same flags and segments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import _webrtcvad  # the C core of webrtcvad-wheels (see FrameVad)
import numpy as np

from streamer.config import SAMPLE_RATE_HZ, EngineConfig

INT16_SCALE = 32767.0


class FrameVad:
    """Splits audio into fixed frames and returns one speech flag per completed frame.

    It calls webrtcvad's C core (``_webrtcvad``) directly, as the package's ``webrtcvad.Vad`` does:
    importing the package's Python module reads the installed packages' metadata for its version
    string, about 35 ms of every start of ``ser analyze``."""

    def __init__(self, aggressiveness: int, frame_samples: int):
        self.frame_samples = frame_samples
        self._vad = _webrtcvad.create()
        _webrtcvad.init(self._vad)
        _webrtcvad.set_mode(self._vad, aggressiveness)
        self._rest = np.zeros(frame_samples, dtype=np.int16)  # samples of the incomplete frame
        self._n_rest = 0

    def reset(self) -> None:
        self._n_rest = 0

    def push(self, samples: np.ndarray) -> np.ndarray:
        """Audio (float32, 16 kHz) in, flags (bool) of the frames it completes out."""
        pcm = (np.clip(samples, -1.0, 1.0) * INT16_SCALE).astype(np.int16)
        f = self.frame_samples
        flags = []
        pos = 0
        if self._n_rest:
            take = min(f - self._n_rest, len(pcm))
            self._rest[self._n_rest:self._n_rest + take] = pcm[:take]
            self._n_rest += take
            pos = take
            if self._n_rest == f:
                flags.append(_webrtcvad.process(self._vad, SAMPLE_RATE_HZ, self._rest, f))
                self._n_rest = 0
        n_full = (len(pcm) - pos) // f
        vad, process = self._vad, _webrtcvad.process
        for i in range(n_full):  # the C core reads any contiguous int16 buffer: no copy per frame
            flags.append(process(vad, SAMPLE_RATE_HZ, pcm[pos + i * f:pos + (i + 1) * f], f))
        pos += n_full * f
        tail = len(pcm) - pos
        if tail:
            self._rest[:tail] = pcm[pos:]
            self._n_rest = tail
        return np.asarray(flags, dtype=bool)


@dataclass
class Segmenter:
    """Turns frame flags into speech segments (in samples, relative to the track origin).

    A segment opens after ``onset`` consecutive speech frames and closes after ``offset``
    consecutive silent frames; it starts ``pad`` samples before its first speech frame and ends
    ``pad_after`` samples after its last one (by default the offset hangover, i.e. at the frame that
    closes it). Call :meth:`step` once per frame, in order.
    """

    frame: int
    onset_frames: int
    offset_frames: int
    pad: int
    pad_after: int
    # Between-frame state.
    n_frames: int = 0
    in_speech: bool = False
    speech_run: int = 0
    run_start: int = 0  # frame index where the current run of speech frames began
    silence_run: int = 0
    start: int = 0  # sample where the open segment starts
    last_speech_end: int = 0  # sample just after the last speech frame of the open segment
    prev_end: int = 0  # end of the previous segment; segments never overlap

    @classmethod
    def from_config(cls, config: EngineConfig) -> Segmenter:
        frame = config.vad_frame_samples
        offset_frames = max(1, math.ceil(config.vad_offset_ms / config.vad_frame_ms))
        # A segment ends where its closing decision is made, so the results that need its end
        # (last window, utterance) are not held back: the offset hangover is the trailing padding.
        return cls(frame=frame, onset_frames=max(1, math.ceil(config.vad_onset_ms / config.vad_frame_ms)),
                   offset_frames=offset_frames, pad=SAMPLE_RATE_HZ * config.padding_ms // 1000,
                   pad_after=offset_frames * frame)

    def reset(self) -> None:
        self.n_frames = self.speech_run = self.run_start = self.silence_run = 0
        self.start = self.last_speech_end = self.prev_end = 0
        self.in_speech = False

    def step(self, flag: bool) -> tuple[str, int, int] | None:
        """Consume one frame flag; returns ``("open", start, 0)``, ``("close", start, end)`` or None."""
        f = self.n_frames
        self.n_frames += 1
        if not self.in_speech:
            if not flag:
                self.speech_run = 0
                return None
            if self.speech_run == 0:
                self.run_start = f
            self.speech_run += 1
            if self.speech_run < self.onset_frames:
                return None
            self.in_speech = True
            self.silence_run = 0
            self.start = max(self.run_start * self.frame - self.pad, self.prev_end, 0)
            self.last_speech_end = (f + 1) * self.frame
            return ("open", self.start, 0)
        if flag:
            self.silence_run = 0
            self.last_speech_end = (f + 1) * self.frame
            return None
        self.silence_run += 1
        if self.silence_run < self.offset_frames:
            return None
        return self._close(self.last_speech_end + self.pad_after)

    def close_at(self, position: int) -> tuple[str, int, int] | None:
        """End of audio: close an open segment, no later than ``position``."""
        if not self.in_speech:
            return None
        return self._close(min(self.last_speech_end + self.pad_after, position))

    def _close(self, end: int) -> tuple[str, int, int]:
        self.in_speech = False
        self.speech_run = 0
        self.prev_end = end
        return ("close", self.start, end)

    @property
    def safe_end(self) -> int:
        """While a segment is open, its final end is known to be at least this sample."""
        return self.last_speech_end + self.pad_after

    def earliest_future_start(self, covered: int) -> int:
        """Lowest sample a segment opened from now on could start at (history must reach back to it)."""
        run = self.run_start * self.frame if self.speech_run else covered
        return max(run - self.pad, self.prev_end, 0)
