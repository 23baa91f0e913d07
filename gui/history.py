"""Bounded per-track histories the plots are drawn from.

Everything is kept in fixed-capacity ring buffers (oldest data dropped), at display resolution:
a level envelope of 20 ms bins, a log-mel spectrogram of 20 ms columns, and one row per model
result. Nothing here touches Qt, so it runs in tests and benchmarks without a window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gui.events import Audio, Result, Segment, VadFlags
from model.features import FeatureConfig
from streamer.summary import EmotionTime, ms

SAMPLE_RATE_HZ = 16000
LEVEL_BIN_S = 0.02  # one level value per 20 ms: fine enough to see syllables
SPEC_COLUMN_S = 0.02  # spectrogram columns: two 10 ms log-mel frames averaged
DEFAULT_HISTORY_S = 3600.0  # an hour of display history per track (live; a recording's: its length, see below)
# A recording's level and spectrogram are kept whole up to this length (a stopped session of a 2-h
# recording showed nothing at its start once the recording had been read: only its last hour was
# kept); beyond it, the last MAX_HISTORY_S. Four hours cost about 65 MB per track once filled
# (the spectrogram 46 MB), memory taken only as the recording is read.
MAX_HISTORY_S = 4 * 3600.0
SHORTEST_HOP_S = 0.1  # the result rings of a recording's length hold a window every 0.1 s
RESULT_CAPACITY = 40000  # one row per hop; 0.1 s hops over an hour fit
SEGMENT_CAPACITY = 20000
SILENCE_DB = -80.0
SPEC_LOG_MIN = -14.0  # log(1e-6), the log-mel floor
SPEC_LOG_STEP = 0.1  # natural-log units per uint8 step: 0.43 dB, finer than a colour map shows


def head_layout(heads) -> list[tuple[str, str, list[str]]]:
    """(name, kind, outputs) of each head, in the model's order, from a model's declared heads
    (``ModelMeta.heads``: dicts with ``labels`` or ``names``) or, for sources that only know them, a
    list of emotion labels (the built-in heads of a model with those labels)."""
    heads = list(heads or [])
    if not heads or isinstance(heads[0], str):
        from model.meta import ModelMeta

        heads = ModelMeta(labels=[str(h) for h in heads]).heads
    return [(str(h["name"]), str(h["kind"]), [str(n) for n in h.get("labels") or h.get("names") or []])
            for h in heads]


def quantise_logmel(cols: np.ndarray) -> np.ndarray:
    """Log-mel values -> uint8 steps of SPEC_LOG_STEP from SPEC_LOG_MIN (display only: an hour of
    64-band columns then takes 23 MB per track instead of 92 MB)."""
    q = np.round((cols - SPEC_LOG_MIN) / SPEC_LOG_STEP)
    return np.clip(q, 0, 255).astype(np.uint8)


class Ring:
    """A 2-D ring buffer that returns its contents as one contiguous view without copying.

    The storage is twice the capacity; when the end is reached the newest ``capacity`` rows are
    moved to the front once, so appends are amortised O(1) and :meth:`view` is a slice.
    """

    def __init__(self, capacity: int, width: int, dtype=np.float32):
        self.capacity = int(capacity)
        # np.zeros, not np.full: the OS hands out zero pages lazily, so an hour of capacity costs
        # memory only as it fills.
        self._buf = np.zeros((2 * self.capacity, width), dtype=dtype)
        self._start = 0
        self._end = 0

    def __len__(self) -> int:
        return self._end - self._start

    def append(self, rows: np.ndarray) -> None:
        rows = np.asarray(rows, dtype=self._buf.dtype)
        if rows.ndim == 1:
            rows = rows[None, :]
        if len(rows) >= self.capacity:
            rows = rows[-self.capacity:]
        if self._end + len(rows) > len(self._buf):
            keep = min(len(self), self.capacity - len(rows))
            self._buf[:keep] = self._buf[self._end - keep:self._end]
            self._start, self._end = 0, keep
        self._buf[self._end:self._end + len(rows)] = rows
        self._end += len(rows)
        if len(self) > self.capacity:
            self._start = self._end - self.capacity

    def view(self) -> np.ndarray:
        return self._buf[self._start:self._end]

    def clear(self) -> None:
        self._start = self._end = 0

    def grow(self, capacity: int) -> None:
        """Hold up to ``capacity`` rows from now on (never fewer than now), keeping what it holds."""
        if capacity <= self.capacity:
            return
        rows = self.view().copy()
        self.capacity = int(capacity)
        self._buf = np.zeros((2 * self.capacity, self._buf.shape[1]), dtype=self._buf.dtype)
        self._start, self._end = 0, len(rows)
        self._buf[:len(rows)] = rows


def ema(values: np.ndarray, alpha: float, restart: np.ndarray | None = None) -> np.ndarray:
    """Exponential smoothing along axis 0; ``alpha`` in [0, 1), 0 leaves the values unchanged.
    Non-finite entries restart the smoothing of their column, and rows where ``restart`` (bool, one
    per row) is set start it again (a speech segment's first window: results of separate segments
    are not mixed)."""
    if alpha <= 0 or len(values) == 0:
        return values
    out = np.empty_like(values)
    acc = values[0].copy()
    for i, row in enumerate(values):
        if restart is not None and restart[i]:
            acc = row.copy()
        mixed = alpha * acc + (1 - alpha) * row
        acc = np.where(np.isfinite(acc), mixed, row)
        out[i] = acc
    return out


class SpectrogramMaker:
    """Streaming log-mel for display: blocks in, 20 ms columns out, remainders carried over.

    Same settings and filterbank as :class:`model.features.LogMel`, computed with numpy: per-call
    overhead of torch on small blocks cost more than the GUI's frame budget on a busy 2-core machine.
    """

    def __init__(self, features=None):
        """``features``: the model's :class:`model.features.FeatureConfig` (the product's defaults if
        None), so the display shows the bands the model analyses."""
        from model.features import FeatureConfig, mel_filterbank

        cfg = features or FeatureConfig()
        self.config = cfg
        self._fbank = mel_filterbank(cfg)  # (freqs, mels)
        # torch.stft pads a shorter window to n_fft in the middle; do the same.
        # float64: numpy's FFT of float32 frames is several times slower once a call has more than a
        # few dozen frames (numpy 2.4: 960 against 180 us for 197 frames of 512).
        window = np.zeros(cfg.n_fft, dtype=np.float64)
        left = (cfg.n_fft - cfg.win_length) // 2
        n = np.arange(cfg.win_length)
        window[left:left + cfg.win_length] = 0.5 - 0.5 * np.cos(2 * np.pi * n / cfg.win_length)
        self._window = window
        self._frames_per_col = int(round(SPEC_COLUMN_S / (cfg.hop_ms / 1000)))
        self._step = cfg.hop_length * self._frames_per_col
        self._pending = np.zeros(0, dtype=np.float32)
        self._pending_start_s = 0.0

    @property
    def n_mels(self) -> int:
        return self.config.n_mels

    def reset(self, start_s: float = 0.0) -> None:
        self._pending = np.zeros(0, dtype=np.float32)
        self._pending_start_s = start_s

    def push(self, start_s: float, samples: np.ndarray) -> tuple[float, np.ndarray]:
        """Add samples; returns (start time of the first new column, columns ``(n, n_mels)``)."""
        cfg = self.config
        expected = self._pending_start_s + len(self._pending) / SAMPLE_RATE_HZ
        if len(self._pending) == 0 or abs(start_s - expected) > 0.05:
            # A gap or a jump (seek): start afresh rather than splice unrelated audio.
            self._pending = np.zeros(0, dtype=np.float32)
            self._pending_start_s = start_s
        self._pending = np.concatenate([self._pending, samples.astype(np.float32, copy=False)])
        # The last column's last frame starts (frames_per_col - 1) hops after the column does.
        tail = cfg.n_fft + cfg.hop_length * (self._frames_per_col - 1)
        n_cols = (len(self._pending) - tail) // self._step + 1 if len(self._pending) >= tail else 0
        if n_cols == 0:
            return self._pending_start_s, np.zeros((0, self.n_mels), np.float32)
        n_frames = n_cols * self._frames_per_col
        frames = np.lib.stride_tricks.sliding_window_view(self._pending, cfg.n_fft)[::cfg.hop_length][:n_frames]
        power = np.abs(np.fft.rfft(frames * self._window, axis=1)) ** 2
        logmel = np.log(power.astype(np.float32) @ self._fbank + cfg.log_floor)  # (frames, mels)
        cols = logmel.reshape(n_cols, self._frames_per_col, self.n_mels).mean(axis=1)
        first_s = self._pending_start_s
        consumed = n_cols * self._step
        self._pending = self._pending[consumed:]
        self._pending_start_s += consumed / SAMPLE_RATE_HZ
        return first_s, np.ascontiguousarray(cols, dtype=np.float32)

    def full_scale(self) -> float:
        """The loudest column value a full-scale (0 dBFS) 1 kHz sine gives: the top of the display's
        fixed dB scale, so colours mean the same level in every lane and at every time."""
        t = np.arange(SAMPLE_RATE_HZ) / SAMPLE_RATE_HZ
        maker = SpectrogramMaker(self.config)
        _, cols = maker.push(0.0, np.sin(2 * np.pi * 1000.0 * t).astype(np.float32))
        return float(cols.max())


@dataclass
class Summary:
    """What the side panel shows under "session": speech time, analysed windows and utterances, and
    each emotion's share of the confident utterance time (streamer.summary.EmotionTime, as
    ``ser analyze`` and ``ser batch`` count it), uncertain time apart."""

    speech_s: float
    analysed_windows: int
    shares: dict[str, float]
    utterances: int = 0
    uncertain_s: float = 0.0
    not_speech_s: float = 0.0  # sound the speech gate left out as not speech
    not_speech: str = ""  # what most of it was


class TrackHistory:
    """Display history of one track: level, speech flags, spectrogram, results, segments.

    ``heads``: the model's declared heads (or its emotion labels; see :func:`head_layout`). Each
    window result is one row: its middle and end time, then every head's outputs in that order."""

    def __init__(self, heads, history_s: float = DEFAULT_HISTORY_S, with_spectrogram: bool = True,
                 features=None):
        self.heads = head_layout(heads)
        self.columns: dict[str, slice] = {}
        col = 2
        for name, _, outputs in self.heads:
            self.columns[name] = slice(col, col + len(outputs))
            col += len(outputs)
        self.labels = next((outputs for name, _, outputs in self.heads if name == "emotion"), [])
        self.history_s = history_s
        n_bins = int(math.ceil(history_s / LEVEL_BIN_S))
        self.level = Ring(n_bins, 2)  # time, level in dBFS
        self.speech = Ring(n_bins, 3)  # start, end, flag
        self.results = Ring(RESULT_CAPACITY, col)  # mid, end, then each head's outputs
        # The same rows exponentially smoothed for display, kept up to date on every append so that a
        # long history is never re-smoothed per frame.
        self.smoothing = 0.0
        self.smoothed = Ring(RESULT_CAPACITY, col)
        self.uncertain = Ring(RESULT_CAPACITY, 1)  # each window result's flag, row for row with results
        # 1 for the first window result after an utterance result (a new speech segment): display
        # smoothing starts again there. Row for row with results.
        self.segment_start = Ring(RESULT_CAPACITY, 1)
        self._new_segment = True
        self.segments = Ring(SEGMENT_CAPACITY, 2)
        self.not_speech = Ring(SEGMENT_CAPACITY, 2)  # segments the speech gate rejected: not shaded as speech
        self.not_speech_reasons: dict[str, float] = {}  # what they were -> seconds
        self.speech_total_s = 0.0  # the speech segments' time, in float64 and in their order, as `ser analyze` sums it
        self.spec_times = Ring(int(math.ceil(history_s / SPEC_COLUMN_S)), 1)
        self._spec_maker = SpectrogramMaker(features) if with_spectrogram else None
        n_mels = (features or FeatureConfig()).n_mels
        self.spec = Ring(self.spec_times.capacity, n_mels, dtype=np.uint8)  # quantised: see SPEC_LOG_STEP
        self._level_rest = np.zeros(0, dtype=np.float32)
        self._level_rest_start = 0.0
        self.dimensions_source = "derived-from-category"
        self.utterances: list[Result] = []  # the latest ones (bounded); their time is in emotion_time
        self.emotion_time = EmotionTime()
        self.n_utterances = 0
        self.end_s = 0.0  # the newest audio or result time seen
        self.analysed_s = 0.0  # how far the model's results are final: the latest result or speech segment end
        self.version = 0  # bumped on every change, so views redraw only when needed
        self.result_version = 0  # bumped when results change (most frames only add audio)
        self.spec_version = 0  # bumped when images must be redrawn whatever the time (seek, clear)

    # -- feeding -------------------------------------------------------------------------------
    def add_result(self, r: Result) -> None:
        if r.kind == "utterance":
            self.utterances = self.utterances[-999:] + [r]
            self.emotion_time.add(r)
            self.n_utterances += 1
            self._new_segment = True
            self.version += 1
            self.result_version += 1
            return
        row = [r.mid_s, r.end_s]
        for name, kind, outputs in self.heads:
            values = r.heads.get(name)
            if values:  # a class the result does not list has probability 0; a missing value is unknown
                missing = 0.0 if kind == "categorical" else np.nan
                row += [values.get(o, missing) for o in outputs]
            else:
                row += [np.nan] * len(outputs)
        row = np.array(row)
        smooth = row.copy()
        first, self._new_segment = self._new_segment, False
        if self.smoothing > 0 and len(self.smoothed) and not first:
            prev = self.smoothed.view()[-1, 2:]
            mixed = self.smoothing * prev + (1 - self.smoothing) * row[2:]
            smooth[2:] = np.where(np.isfinite(prev), mixed, row[2:])
        self.results.append(row)
        self.smoothed.append(smooth)
        self.uncertain.append(np.array([float(r.uncertain)]))
        self.segment_start.append(np.array([float(first)]))
        self.dimensions_source = r.dimensions_source
        self.end_s = max(self.end_s, r.end_s)
        self.analysed_s = max(self.analysed_s, r.end_s)
        self.version += 1
        self.result_version += 1

    def add_segment(self, s: Segment) -> None:
        if s.not_speech:
            self.not_speech.append(np.array([s.start_s, s.end_s]))
            self.not_speech_reasons[s.not_speech] = self.not_speech_reasons.get(s.not_speech, 0.0) + s.end_s - s.start_s
        else:
            self.segments.append(np.array([s.start_s, s.end_s]))
            self.speech_total_s += s.end_s - s.start_s
        self.analysed_s = max(self.analysed_s, s.end_s)
        self.version += 1

    def add_vad(self, v: VadFlags) -> None:
        n = len(v.flags)
        starts = v.start_s + np.arange(n) * v.frame_s
        self.speech.append(np.stack([starts, starts + v.frame_s, np.asarray(v.flags, np.float32)], axis=1))
        self.version += 1

    def add_audio(self, a: Audio) -> None:
        x = np.asarray(a.samples, dtype=np.float32)
        bin_len = int(round(LEVEL_BIN_S * SAMPLE_RATE_HZ))
        expected = self._level_rest_start + len(self._level_rest) / SAMPLE_RATE_HZ
        if len(self._level_rest) and abs(a.start_s - expected) < 0.05:
            x = np.concatenate([self._level_rest, x])
            start = self._level_rest_start
        else:
            start = a.start_s
        n_bins = len(x) // bin_len
        if n_bins:
            blocks = x[: n_bins * bin_len].reshape(n_bins, bin_len)
            rms = np.sqrt(np.mean(blocks.astype(np.float64) ** 2, axis=1))
            db = np.maximum(20 * np.log10(np.maximum(rms, 1e-12)), SILENCE_DB)
            times = start + (np.arange(n_bins) + 0.5) * LEVEL_BIN_S
            self.level.append(np.stack([times, db], axis=1))
        self._level_rest = x[n_bins * bin_len:].copy()
        self._level_rest_start = start + n_bins * bin_len / SAMPLE_RATE_HZ
        if self._spec_maker is not None:
            first, cols = self._spec_maker.push(a.start_s, a.samples)
            if len(cols):
                times = first + np.arange(len(cols)) * SPEC_COLUMN_S
                q = quantise_logmel(cols)
                self.spec_times.append(times[:, None])
                self.spec.append(q)
        self.end_s = max(self.end_s, a.start_s + len(a.samples) / SAMPLE_RATE_HZ)
        self.version += 1

    def result_times(self) -> np.ndarray:
        return self.results.view()[:, 0]

    def index_at(self, t_s: float) -> int | None:
        """The window result shown for time ``t_s``: the last one whose middle is at or before it
        (the first one within its first half), None when there is none yet: no result, or ``t_s``
        before the first window starts."""
        times = self.result_times()
        if not len(times) or t_s < self.result_span(0)[0]:
            return None
        return max(0, int(np.searchsorted(times, t_s, side="right")) - 1)

    def result_span(self, i: int) -> tuple[float, float]:
        """Start and end (s) of window result ``i``."""
        mid, end = (float(v) for v in self.results.view()[i, :2])
        return 2 * mid - end, end

    def covering(self, t: np.ndarray, tolerance_s: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """For each time in ``t``: the window result whose window covers it, preferring the one whose
        middle is the last at or before it (else the next one: the first half of a run's first
        window), and whether any covers it at all (False in pauses and stretches not analysed). A gap
        of at most ``tolerance_s`` between one window's end and the next one's start counts as
        covered (by the earlier); a run's first and last windows are not stretched by it (a 0.3-s
        file's band ran on to 0.35 s)."""
        rows = self.results.view()
        t = np.asarray(t, dtype=np.float64)
        if not len(rows):
            return np.zeros(len(t), int), np.zeros(len(t), bool)
        mid, end = rows[:, 0], rows[:, 1]
        start = 2 * mid - end
        last = len(mid) - 1
        idx = np.clip(np.searchsorted(mid, t, side="right") - 1, 0, last)
        nxt = np.clip(idx + 1, 0, last)

        def covers(i):
            return (t >= start[i]) & (t <= end[i])

        here, there = covers(idx), covers(nxt)
        bridged = (t > end[idx]) & (t < start[nxt]) & (start[nxt] - end[idx] <= tolerance_s)
        return np.where(here | bridged, idx, nxt), here | there | bridged

    def set_smoothing(self, alpha: float) -> None:
        """Display smoothing in [0, 1): 0 shows raw values; the whole history is re-smoothed once."""
        if alpha == self.smoothing:
            return
        self.smoothing = alpha
        rows = self.results.view().copy()
        rows[:, 2:] = ema(rows[:, 2:], alpha, self.segment_start.view()[:, 0] > 0.5)
        self.smoothed.clear()
        if len(rows):
            self.smoothed.append(rows)
        self.version += 1
        self.result_version += 1

    def _rows(self, smoothed: bool) -> np.ndarray:
        return self.smoothed.view() if smoothed else self.results.view()

    def head(self, name: str, smoothed: bool = False) -> np.ndarray:
        """``(n, outputs)``: one head's values of every window result (empty if the model has no such head)."""
        rows = self._rows(smoothed)
        return rows[:, self.columns[name]] if name in self.columns else rows[:, :0]

    def probabilities(self, smoothed: bool = False) -> np.ndarray:
        return self.head("emotion", smoothed)

    def female(self, smoothed: bool = False) -> np.ndarray:
        genders = dict((n, o) for n, _, o in self.heads).get("gender", [])
        values = self.head("gender", smoothed)
        return values[:, genders.index("female")] if "female" in genders else np.full(len(values), np.nan)

    def dimensions(self, smoothed: bool = False) -> np.ndarray:
        """``(n, 3)`` valence, arousal, dominance."""
        return self.head("dimensions", smoothed)

    def speech_mask(self, x0: float, x1: float, n: int) -> np.ndarray:
        """Speech (1) or not (0) at ``n`` evenly spaced times over [x0, x1), for shading: the voice-
        activity flags (or, without them, the speech segments), less the segments the speech gate
        left out as not speech."""
        centres = x0 + (np.arange(n) + 0.5) * (x1 - x0) / max(n, 1)
        rows = self.speech.view() if len(self.speech) else None
        if rows is not None:
            i = np.searchsorted(rows[:, 0], centres, side="right") - 1
            ok = (i >= 0) & (centres < rows[np.clip(i, 0, None), 1])
            mask = np.where(ok, rows[np.clip(i, 0, None), 2], 0.0).astype(np.float32)
        else:
            mask = _inside(self.segments.view(), centres).astype(np.float32)
        if len(self.not_speech):
            mask[_inside(self.not_speech.view(), centres)] = 0.0
        return mask

    def summary(self) -> Summary:
        if len(self.segments) or len(self.not_speech):  # closed segments: what was speech is known
            speech_s = ms(self.speech_total_s)
        elif len(self.speech):
            rows = self.speech.view()
            speech_s = float(np.sum((rows[:, 1] - rows[:, 0]) * rows[:, 2]))
        else:
            speech_s = 0.0
        reasons = self.not_speech_reasons
        return Summary(speech_s, len(self.results), self.emotion_time.shares(), self.n_utterances,
                       ms(self.emotion_time.uncertain_s), ms(sum(ms(v) for v in reasons.values())),
                       max(reasons, key=reasons.get) if reasons else "")

    def keep_audio_for(self, seconds: float) -> None:
        """Keep the level, voice activity and spectrogram of ``seconds`` of audio from now on (a
        recording's length; at most MAX_HISTORY_S), what is held kept."""
        seconds = min(float(seconds), MAX_HISTORY_S)
        if seconds <= self.history_s:
            return
        self.history_s = seconds
        for ring in (self.level, self.speech):
            ring.grow(int(math.ceil(seconds / LEVEL_BIN_S)))
        for ring in (self.spec_times, self.spec):
            ring.grow(int(math.ceil(seconds / SPEC_COLUMN_S)))
        for ring in (self.results, self.smoothed, self.uncertain, self.segment_start):  # row for row
            ring.grow(int(math.ceil(seconds / SHORTEST_HOP_S)))

    def take_audio(self, other: TrackHistory) -> None:
        """The level, voice activity and spectrogram ``other`` holds of the same audio (a live session
        shown again from its file, which keeps results, not audio)."""
        self.level, self.speech, self.spec_times, self.spec = other.level, other.speech, other.spec_times, other.spec
        self.history_s = other.history_s
        self._level_rest, self._level_rest_start = other._level_rest, other._level_rest_start
        self.end_s = max(self.end_s, other.end_s)
        self.spec_version += 1
        self.version += 1

    def clear(self) -> None:
        for ring in (self.level, self.speech, self.results, self.smoothed, self.uncertain, self.segment_start, self.segments,
                     self.not_speech, self.spec_times, self.spec):
            ring.clear()
        self.not_speech_reasons = {}
        self.speech_total_s = 0.0
        self.utterances = []
        self.emotion_time = EmotionTime()
        self.n_utterances = 0
        self._new_segment = True
        self.end_s = 0.0
        self.analysed_s = 0.0
        self._level_rest = np.zeros(0, dtype=np.float32)
        if self._spec_maker is not None:
            self._spec_maker.reset()
        self.spec_version += 1
        self.version += 1
        self.result_version += 1


def _inside(spans: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Which ``times`` fall inside one of the (start, end) rows of ``spans`` (not overlapping)."""
    if not len(spans):
        return np.zeros(len(times), bool)
    spans = spans[np.argsort(spans[:, 0])]
    i = np.searchsorted(spans[:, 0], times, side="right") - 1
    return (i >= 0) & (times < spans[np.clip(i, 0, None), 1])
