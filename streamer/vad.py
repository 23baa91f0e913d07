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
PRIME_FRAMES = 10
# After this much digital silence (a recording edited with silence between takes, a microphone unmuted),
# sound stays non-speech until a frame reaches QUIET_AFTER_SILENCE_DB: see FrameVad._quiet_after_silence.
SILENCE_RESET_S = 2.0
QUIET_AFTER_SILENCE_DB = -75.0
DC_TIME_S = 2.0  # time constant of the DC offset taken out of webrtcvad's input
# webrtcvad's own hangover: the longest it keeps calling frames speech after speech is 0.14-0.15 s (14
# frames of 10 ms, 7 of 20, 5 of 30 in its quality and low-bitrate modes; less in its aggressive ones).
# Digital silence further from sound than this (rounded up to whole frames) is never speech.
HANGOVER_S = 0.15


def means_and_levels(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each frame's mean and level in dB (float64): its power less its mean's (a DC offset is no
    sound), digital silence at VadGain.FLOOR_DB; ``frames`` is (..., frame_samples), and a frame
    that is not finite counts as silence."""
    n = frames.shape[-1]
    means = frames.sum(axis=-1, dtype=np.float64) / n
    power = np.einsum("...j,...j->...", frames, frames).astype(np.float64) - n * np.square(means)
    power[~np.isfinite(power)] = 0.0
    return means, np.maximum(10 * np.log10(np.maximum(power, 0.0) / n + 1e-30), VadGain.FLOOR_DB)


def noise_floor(level: np.ndarray, audible: np.ndarray, t: np.ndarray, rise: float,
                state: float | np.ndarray) -> tuple[np.ndarray, float | np.ndarray]:
    """A running noise floor over frames ``t`` (frame numbers, along the first axis) of ``level`` (dB):
    it follows a quieter ``audible`` frame at once and rises by ``rise`` dB per frame. ``state`` is
    the running minimum of ``level - rise * t`` so far (``np.inf`` at the start, or a starting floor);
    returns the floor of each frame and the new state. A running extreme of a shifted sequence, so a
    whole block at once gives what frame by frame would."""
    shifted = np.minimum.accumulate(np.minimum(np.where(audible, level, np.inf) - rise * t, state), axis=0)
    return shifted + rise * t, shifted[-1].copy() if shifted.ndim > 1 else float(shifted[-1])


class VadGain:
    """The gain webrtcvad's input gets, frame by frame: quiet recordings are raised toward the level
    webrtcvad was made for, without raising their background noise to where it takes it for speech
    (steady noise from about -30 dBFS RMS).

    webrtcvad's decision is not independent of level: its models are of absolute band energies.
    Twenty-four RAVDESS clips over pink noise at -60 dBFS RMS were found in 3.5 of their 39 s of
    speech with their peaks at -40 dBFS, and in 31.3 s with clips and noise 10 dB louder; steady
    noise alone is taken for speech from about -30 dBFS RMS (pink) or -20 (white). So each frame gets
    ``min(TARGET_DB - S, NOISE_CEILING_DB - N, 2 * (S - N - MIN_CONTRAST_DB))`` dB, between 0 and
    ``MAX_GAIN_DB``, from two levels tracked over the frames' RMS levels in dB:

    - the speech level S follows a louder frame at once and falls by ``SPEECH_FALL_DB_S`` per second;
    - the noise floor N follows a quieter audible frame at once and rises by ``NOISE_RISE_DB_S`` per
      second (frames of digital silence leave it alone).

    The third term leaves sound that does not stand out of its own floor (silence, steady noise) as
    it is. N is the floor of the quietest frames: steady noise's frames lie a few dB above it (pink
    noise at -62 dBFS RMS under speech at -40 came out at a mean of -48 dBFS, 5 % of frames above
    -44). Digital silence and dither get no gain. Only the detector's input is scaled; the analysis
    windows are not. Each frame's gain depends on that frame and the ones before it only, so any
    block sizes give the same flags. Both recursions are running extremes of a shifted sequence
    (``S_t = max_k (r_k + d k) - d t``), computed for a whole block at once."""

    TARGET_DB = -26.0  # the speech level (frame RMS, dBFS) the gain aims at
    NOISE_CEILING_DB = -50.0  # the noise floor (its quietest frames) is not raised above this
    MAX_GAIN_DB = 30.0
    SPEECH_FALL_DB_S = 2.0
    NOISE_RISE_DB_S = 6.0
    FLOOR_DB = -100.0  # the level of digital silence
    MIN_CONTRAST_DB = 6.0  # no gain until the speech level stands this far above the noise floor
    SILENT_DB = -90.0  # frames below this (digital silence, dither) tell nothing of the noise floor

    def __init__(self, frame_samples: int):
        per_frame = frame_samples / SAMPLE_RATE_HZ
        self._fall = self.SPEECH_FALL_DB_S * per_frame
        self._rise = self.NOISE_RISE_DB_S * per_frame
        self.reset()

    def reset(self) -> None:
        self._t = 0  # frames seen
        self._speech_max = -np.inf  # max over frames k of level_k + fall * k
        self._noise_min = np.inf  # min over frames k of level_k - rise * k

    def gains(self, frames: np.ndarray) -> np.ndarray:
        """Linear gains of ``frames`` (k, frame_samples), the stream's next k frames."""
        k = len(frames)
        if k == 0:
            return np.ones(0, np.float32)
        # Each frame's power less its mean's (a DC offset is no sound: with one, the noise floor read
        # high and the gain fell to 0 dB); a frame that is not finite counts as silence.
        self.means, level = means_and_levels(frames)  # the means are read by FrameVad for the DC offset
        self.audible = level > self.SILENT_DB  # read by FrameVad for its priming
        self.level = level  # read by FrameVad for the crosstalk gate
        t = np.arange(self._t, self._t + k, dtype=np.float64)
        self._t += k
        speech = np.maximum.accumulate(np.maximum(level + self._fall * t, self._speech_max))
        noise, self._noise_min = noise_floor(level, self.audible, t, self._rise, self._noise_min)
        self._speech_max = float(speech[-1])
        speech -= self._fall * t
        self.noise = noise  # read by FrameVad for the crosstalk gate
        gain_db = np.minimum(self.TARGET_DB - speech, self.NOISE_CEILING_DB - noise)
        gain_db[~self.audible] = 0.0  # digital silence and dither stay as they are (raised, webrtcvad took them for speech)
        np.minimum(gain_db, 2.0 * (speech - noise - self.MIN_CONTRAST_DB), out=gain_db)
        np.minimum(np.maximum(gain_db, 0.0, out=gain_db), self.MAX_GAIN_DB, out=gain_db)
        return np.power(np.float32(10.0), (gain_db / 20).astype(np.float32))


class CrosstalkGate:
    """Which frames of a track are another track's voice leaking across: in a call recorded on two
    channels, each side's voice is also heard faintly on the other's (the phone's sidetone, an echo,
    a headset's microphone picking up its earpiece), typically 20-40 dB down, and webrtcvad takes it
    for speech.

    Over the last ``STRETCH_S`` (this frame and the ones before it), where another track was active
    (its loudest frame at least ``ACTIVE_DB`` above its noise floor), a frame is leakage when this
    track's loudest frame stayed
    - at least ``crosstalk_db`` below that track's, and this track's samples follow that track's
      (the size of their correlation over the stretch at least ``MIN_CORRELATION``: a copy, scaled
      down, of either polarity), or
    - at least ``crosstalk_db + UNCORRELATED_EXTRA_DB`` below it whatever the correlation.

    The correlation is taken without delay: a leak delayed by a millisecond or more (an acoustic
    path, an echo) or strongly filtered does not follow in this sense and is caught only at the
    second distance (a review measured a 25-dB leak delayed by 1 or 20 ms: none of it caught).
    Comparing instead how the two tracks' frame levels rise and fall over 1 s, at delays up to
    0.3 s, caught most of such a leak but took two people talking at once for leakage too (their
    levels rise and fall together too often): tried and dropped. Two
    people talking at once whose levels differ by 25-30 dB or more lose the quieter one's softer
    syllables (15 of 94 speech frames at 25 dB).

    Someone talking at the same time as the other side is not leakage: their own voice does not
    follow the other's, and in a stretch of talking it comes within 30 dB of it. Over a stretch
    rather than frame by frame, because speech's own frames span 30-40 dB: frame by frame, the
    quieter sounds of a customer talking over a loud agent were taken for leakage. Each other
    track's noise floor follows its quieter audible frames at once and rises by
    ``VadGain.NOISE_RISE_DB_S`` per second, from ``INITIAL_FLOOR_DB``: a call beginning with the
    other side's speech is told apart from the start (a test; the first syllable's quieter frames
    set the floor at once, so the starting value matters little). From the frames
    on the tracks' common sample clock up to each one: any block sizes give the same decisions."""

    ACTIVE_DB = 10.0
    INITIAL_FLOOR_DB = -60.0
    STRETCH_S = 0.3
    MIN_CORRELATION = 0.5
    UNCORRELATED_EXTRA_DB = 10.0

    def __init__(self, frame_samples: int, crosstalk_db: float):
        self.crosstalk_db = float(crosstalk_db)
        self._rise = VadGain.NOISE_RISE_DB_S * frame_samples / SAMPLE_RATE_HZ
        self._stretch = max(1, int(round(self.STRETCH_S * SAMPLE_RATE_HZ / frame_samples)))
        self.reset()

    def reset(self) -> None:
        self._t = 0
        self._floor_min: np.ndarray | None = None  # per other track: min over frames k of level_k - rise * k
        self._before: np.ndarray | None = None  # the last stretch - 1 frames' statistics (see leaked)

    def leaked(self, own: np.ndarray, own_level: np.ndarray, others: np.ndarray) -> np.ndarray:
        """``own`` (k, frame_samples) this track's frames and ``own_level`` (k,) their levels (dB);
        ``others`` (k, frame_samples, m) the other tracks' samples of the same frames. True where
        the frame is another track's leakage."""
        k, m = len(own_level), others.shape[2]
        if k == 0 or m == 0:
            return np.zeros(k, dtype=bool)
        others = np.moveaxis(others, 2, 1)  # (k, m, frame_samples)
        level = means_and_levels(others)[1]  # (k, m)
        t = np.arange(self._t, self._t + k, dtype=np.float64)[:, None]
        self._t += k
        if self._floor_min is None or len(self._floor_min) != m:
            self._floor_min = np.full(m, self.INITIAL_FLOOR_DB)
            self._before = np.zeros((self._stretch - 1, 2 + 3 * m))
            self._before[:, :1 + m] = -np.inf
        floor, self._floor_min = noise_floor(level, level > VadGain.SILENT_DB, t, self._rise, self._floor_min)
        # Per frame: the levels, and the products that the stretch's correlation sums.
        a = own - own.mean(axis=1, keepdims=True, dtype=np.float32)
        b = others - others.mean(axis=2, keepdims=True, dtype=np.float32)
        dot = np.einsum("kf,kmf->km", a, b, dtype=np.float64)
        own_power = np.einsum("kf,kf->k", a, a, dtype=np.float64)
        other_power = np.einsum("kmf,kmf->km", b, b, dtype=np.float64)
        stats = np.concatenate([self._before, np.column_stack([own_level, level, own_power, other_power, dot])])
        self._before = stats[len(stats) - (self._stretch - 1):]
        window = np.lib.stride_tricks.sliding_window_view(stats, self._stretch, axis=0)  # (k, columns, stretch)
        loudest = window[:, :1 + m].max(axis=-1)
        sums = window[:, 1 + m:].sum(axis=-1)
        own_loudest, other_loudest = loudest[:, :1], loudest[:, 1:]
        correlation = np.abs(sums[:, 1 + m:]) / np.sqrt(np.maximum(sums[:, :1] * sums[:, 1:1 + m], 1e-30))
        below = other_loudest - own_loudest
        active = other_loudest >= floor + self.ACTIVE_DB
        leak = ((below >= self.crosstalk_db) & (correlation >= self.MIN_CORRELATION)) | \
            (below >= self.crosstalk_db + self.UNCORRELATED_EXTRA_DB)
        return (active & leak).any(axis=1)


class FrameVad:
    """Splits audio into fixed frames and returns one speech flag per completed frame.

    Each frame reaches webrtcvad after :class:`VadGain`'s gain. It calls webrtcvad's C core
    (``_webrtcvad``) directly, as the package's ``webrtcvad.Vad`` does: importing the package's
    Python module reads the installed packages' metadata for its version string, about 35 ms of
    every start of ``ser analyze``. With ``crosstalk_db``, frames that :class:`CrosstalkGate` finds
    to be another track's voice leaking across (the other tracks' samples come with each push) are
    not speech."""

    def __init__(self, aggressiveness: int, frame_samples: int, crosstalk_db: float | None = None):
        self.frame_samples = frame_samples
        self._crosstalk = CrosstalkGate(frame_samples, crosstalk_db) if crosstalk_db is not None else None
        self._aggressiveness = aggressiveness
        self._vad = _webrtcvad.create()
        _webrtcvad.init(self._vad)
        _webrtcvad.set_mode(self._vad, aggressiveness)
        self._gain = VadGain(frame_samples)
        self._dc_keep = math.exp(-frame_samples / SAMPLE_RATE_HZ / DC_TIME_S)
        self._dc: float | None = None
        self._rest: np.ndarray | None = None  # samples of the incomplete frame: (frame_samples, 1 + other tracks)
        self._n_rest = 0
        self._primed = False
        self._reset_frames = max(1, int(round(SILENCE_RESET_S * SAMPLE_RATE_HZ / frame_samples)))
        self._silent_frames = 0  # digital silence since the last audible frame (none at the start)
        self._hangover_frames = max(1, int(math.ceil(HANGOVER_S * SAMPLE_RATE_HZ / frame_samples)))
        self._after_silence = False  # frames stay non-speech until a loud one (_quiet_after_silence)

    def reset(self) -> None:
        self._n_rest = 0
        self._rest = None
        _webrtcvad.init(self._vad)  # its models and hangover too, as a new detector's
        _webrtcvad.set_mode(self._vad, self._aggressiveness)
        self._gain.reset()
        if self._crosstalk is not None:
            self._crosstalk.reset()
        self._primed = False
        self._silent_frames = 0
        self._after_silence = False
        self._dc = None

    def _dc_offsets(self, means: np.ndarray) -> np.ndarray:
        """The DC offset taken out of each frame before webrtcvad: the frames' ``means``, smoothed with a
        time constant of DC_TIME_S and started from the stream's first frame. webrtcvad's filters start
        at rest: an offset present from the first sample opened a 0.4-s segment there. (Each frame's
        own mean would not do: the steps between frames read as clicks, and took pink noise for
        speech.)"""
        out = np.empty(len(means), np.float32)
        dc = self._dc
        for i, m in enumerate(means.tolist()):
            if not math.isfinite(m):
                m = 0.0 if dc is None else dc
            dc = m if dc is None else self._dc_keep * dc + (1.0 - self._dc_keep) * m
            out[i] = dc
        self._dc = dc
        return out

    def push(self, samples: np.ndarray, others: np.ndarray | None = None) -> np.ndarray:
        """Audio (float32, 16 kHz) in, flags (bool) of the frames it completes out. ``others``: the
        other tracks' samples at the same positions, (len(samples), m), for the crosstalk gate."""
        f = self.frame_samples
        samples = np.asarray(samples, dtype=np.float32)
        both = samples[:, None] if others is None or self._crosstalk is None else \
            np.column_stack([samples, np.asarray(others, dtype=np.float32)])
        if self._rest is None or self._rest.shape[1] != both.shape[1]:
            # The other tracks came or went: this track's samples of the incomplete frame stay.
            rest = np.zeros((f, both.shape[1]), np.float32)
            if self._rest is not None:
                rest[:, 0] = self._rest[:, 0]
            self._rest = rest
        completed = None  # the frame the rest from the last call completes
        if self._n_rest:
            take = min(f - self._n_rest, len(both))
            self._rest[self._n_rest:self._n_rest + take] = both[:take]
            self._n_rest += take
            both = both[take:]
            if self._n_rest == f:
                completed, self._n_rest = self._rest.copy(), 0
        n_full = len(both) // f
        framed = both[:n_full * f].reshape(n_full, f, both.shape[1])
        if completed is not None:
            framed = np.concatenate([completed[None], framed])
        tail = len(both) - n_full * f
        if tail:
            self._rest[:tail] = both[n_full * f:]
            self._n_rest = tail
        if not len(framed):
            return np.zeros(0, dtype=bool)
        frames = framed[:, :, 0] if framed.shape[2] > 1 else framed.reshape(len(framed), f)
        gains = self._gain.gains(frames) * np.float32(INT16_SCALE)
        # The gains applied in place (the same numbers as (frames - dc) * gains): one array the size
        # of a file's 8-s block less (5 minutes in such blocks: 38 ms instead of 62 for the whole push).
        scaled = np.subtract(frames, self._dc_offsets(self._gain.means)[:, None])
        scaled *= gains[:, None]
        if not np.isfinite(scaled).all():  # samples that are not numbers reach it as silence
            scaled = np.nan_to_num(scaled, nan=0.0, posinf=INT16_SCALE, neginf=-INT16_SCALE)
        pcm = np.clip(scaled, -INT16_SCALE, INT16_SCALE, out=scaled).astype(np.int16)
        leaked = None
        if framed.shape[2] > 1:
            # webrtcvad hears leakage brought down to the track's noise floor: heard as it is, it would
            # also keep the frames after it as speech (its own hangover), where the other track has gone quiet.
            leaked = self._crosstalk.leaked(frames, self._gain.level, framed[:, :, 1:])
            if leaked.any():  # brought down to the track's noise floor (zeros amid noise read as clicks)
                drop = np.minimum(self._gain.noise[leaked] - self._gain.level[leaked], 0.0)
                pcm[leaked] = (pcm[leaked] * np.power(10.0, drop / 20)[:, None]).astype(np.int16)
        vad, process = self._vad, _webrtcvad.process
        flags = np.empty(len(pcm), dtype=bool)
        done = 0
        if not self._primed and self._gain.audible.any():
            # webrtcvad's models start from fixed values: its first frames of sound are taken for
            # speech whatever they are (steady noise from about -70 dBFS opened a 0.4-s segment at
            # the start of a stream, or where sound began after digital silence). So, before the
            # first audible frame, it hears that frame PRIME_FRAMES times and adapts to it.
            done = int(np.argmax(self._gain.audible))
            flags[:done] = [process(vad, SAMPLE_RATE_HZ, row, f) for row in pcm[:done]]
            for _ in range(PRIME_FRAMES):
                process(vad, SAMPLE_RATE_HZ, pcm[done], f)
            self._primed = True
        # The C core reads any contiguous int16 buffer: no copy per frame.
        flags[done:] = [process(vad, SAMPLE_RATE_HZ, row, f) for row in pcm[done:]]
        if leaked is not None:
            flags &= ~leaked
        # Digital silence is no speech past webrtcvad's own hangover: with all-zero frames as its
        # input, deep into a run after speech, its state can keep it calling them speech for over a
        # second (a call's side, repeated, had its later segments run on 1.3-2.2 s into the other
        # side's turns; the DC offset taken out is not the cause).
        heard = np.flatnonzero(self._gain.audible)  # the block's audible frames, for both rules below
        flags &= ~self._deep_in_silence(len(flags), heard)
        flags &= ~self._quiet_after_silence(self._gain.level, heard)
        # Digital silence since the last audible frame, carried to the next block (both rules count it).
        self._silent_frames = len(flags) - 1 - int(heard[-1]) if len(heard) else self._silent_frames + len(flags)
        return flags

    def _deep_in_silence(self, n: int, heard: np.ndarray) -> np.ndarray:
        """Of a block's ``n`` frames (``heard``: its audible ones), those of digital silence (or dither)
        more than HANGOVER_S after the last audible frame, counted across blocks."""
        index = np.arange(n)
        last = np.full(n, -1 - self._silent_frames)  # the last audible frame, at or before each
        if len(heard):
            at = np.searchsorted(heard, index, side="right") - 1
            last = np.where(at >= 0, heard[np.maximum(at, 0)], last)
        return index - last > self._hangover_frames

    def _quiet_after_silence(self, level: np.ndarray, heard: np.ndarray) -> np.ndarray:
        """Frames that are not speech however webrtcvad hears them: after at least SILENCE_RESET_S of
        digital silence (a recording edited with silence between takes, a microphone unmuted), those up
        to the first at QUIET_AFTER_SILENCE_DB or louder. Room noise returning at -88 dBFS after 8 s of
        zeros, raised by VadGain toward the level of the speech before, was taken for speech for 0.9 s
        before the speech in it. Speech that quiet is rare and hardly analysable (16-bit samples of a
        few steps); quiet speech after such silence loses a little of its start: 24 RAVDESS takes, each
        3 s after a take at its own level, had 58.6 % of their frames found as speech with their loudest
        frame at -72 dBFS (65.1 % before), 88.6 % at -60 (91.9 %), 99.4 % at -30 (99.5 %). Restarting the
        detector's gain after the silence instead kept steady noise up to -70 dBFS out too, but lost
        the start of speech at any level (the worst take at -30 dBFS: 67 % of its frames, against 98 %).
        (Louder noise after digital silence may still open a segment, as at a stream's start without
        priming; the speech gate marks it as not speech.) Counted across blocks: any block sizes give
        the same; :meth:`reset` (a replay's seek) starts the count afresh."""
        n = len(level)
        out = np.zeros(n, bool)
        gaps = np.diff(heard, prepend=-1 - self._silent_frames) - 1  # silent frames before each audible one
        starts = [int(k) for k in heard[gaps >= self._reset_frames]]
        if self._after_silence:
            starts.insert(0, 0)
        loud = np.flatnonzero(level >= QUIET_AFTER_SILENCE_DB)
        self._after_silence = False
        for start in starts:
            k = int(np.searchsorted(loud, start))
            end = int(loud[k]) if k < len(loud) else n
            out[start:end] = True
            self._after_silence = end == n  # still waiting for a loud frame at the block's end
        return out


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
