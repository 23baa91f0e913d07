"""Audio sources: files (fast or real-time pace) and microphones. All deliver 16 kHz blocks with their
position on the sample clock; the native rate is resampled as a stream with soxr.

``sounddevice`` (and so PortAudio) is imported only inside :class:`MicrophoneSource`,
:class:`AudioMonitor` and :func:`list_input_devices`, so file analysis works on machines without PortAudio.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from model.audio import (
    ALAW_ZERO,
    CLIPPED_LEVEL,
    CLIPPED_SHARE,
    EIGHT_BIT_SUBTYPES,
    FULL_SCALE,
    MIN_SAMPLE_RATE_HZ,
    VERY_QUIET_PEAK,
    NativeStderr,
    check_audio_path,
    clipped_message,
    decoder_reason,
    eight_bit_message,
    is_mp3,
    is_ogg,
    live_clipping_message,
    live_quiet_message,
    live_sound_back_message,
    mp3_is_cut,
    narrowband_message,
    no_samples_message,
    ogg_cut_message,
    ogg_is_cut,
    truncation_message,
    turn_taking_message,
    twin_channels_message,
    very_quiet_message,
    wav_length_unwritten,
    wav_missing_fraction,
    wav_unfinished_message,
)
from streamer import portaudio
from streamer.buffers import StreamResampler
from streamer.config import SAMPLE_RATE_HZ
from streamer.errors import AudioError, ConfigError, DeviceError, TrackNamesError
from streamer.monitor import MONITOR_LEAD_S, MONITOR_SPEED, AudioMonitor
from streamer.summary import count_text, span_text, time_text

CHANNEL_MODES = ("mix", "split")
PACES = ("fast", "realtime")
# File blocks read per step in fast mode: large, for throughput. Decoding costs about the same (20
# minutes of FLAC: 0.21 s of CPU in 0.5-s blocks, 0.19 s in 2-s ones, see read_frames), but each
# block is a step of every engine thread, and its windows reach the model together, and the voice
# encoder then runs on several of them at once (ONNX Runtime: 1.7 ms per 1.6-s partial in twos or
# more, 2.6 ms alone): ser analyze on 20 minutes of speech took 0.92 times the wall time and 0.95
# times the CPU with 2-s blocks as with 0.5-s ones (7 alternating runs each), and with 8-s blocks
# 2.31-2.53 s against 2.60-2.85 s with 2-s ones (three runs each; benchmarks/RESULTS.md, "The conv
# stack in int8, and longer file blocks"). The engine bounds its queues in seconds of audio
# (streamer/engine.queue_size), so that memory stays flat.
FAST_BLOCK_S = 8.0
# The length of audio the file's checks (levels, channels that hold the same sound, channels that
# take turns) judge at a time, whatever the lengths read (CheckPieces): each judges a piece less its
# mean, or on a gain fitted to it (TwinChannels), so that a file gets the same notes however it is read.
CHECK_BLOCK_S = 2.0
REALTIME_BLOCK_S = 0.02  # file blocks in real-time mode: small, like a microphone
MIC_BLOCK_S = 0.02
# More channels than this in a file's header is taken for a damaged header (a WAV whose channel count
# was overwritten with 300 read as 0.1 s of 300-channel noise: "no speech found", exit 0).
MAX_FILE_CHANNELS = 64
MIC_QUEUE_BLOCKS = 500  # ~10 s of 20 ms blocks between the audio callback and the source thread
MIC_STALL_TIMEOUT_S = 5.0  # no audio for this long from a running stream means the device is gone
POLL_INTERVAL_S = 0.1
# Two channels of which one is, block by block, the other times a gain, to this (about -80 dBFS) plus
# TWIN_RELATIVE of the block's peak, and the other way round, hold the same sound; they are compared
# only while they do, and said to be twins only if they held TWIN_MIN_SOUND_S of sound (steps of
# TWIN_SOUND_STEP_S with a peak of TWIN_SOUND).
TWIN_TOLERANCE = 1e-4
TWIN_RELATIVE = 0.01  # of the block's peak (-40 dB): what a gain leaves of a copy, lossy coding included
TWIN_SOUND = 0.01
TWIN_SOUND_STEP_S = 0.02
TWIN_MIN_SOUND_S = 1.0
# Channels mixed into one track take turns (a call recorded one side per channel) when at least two of
# them each sounded alone for TURNS_MIN_S: in steps of TWIN_SOUND_STEP_S, the one whose power reached
# TURNS_SOUND_POWER with every other at least TURNS_ALONE_DB below it. On generated calls (RAVDESS
# clips taking turns, G.711, noise at -55 dBFS) it was found in all 12 with each side leaking into the
# other at -25, -20 or -15 dB (after 12-52 s; 20 dB below took 108-146 s, in 5 of 12 at -20 dB).
TURNS_ALONE_DB = 12.0
TURNS_MIN_S = 2.0
TURNS_SOUND_POWER = 10.0 ** (-50.0 / 10.0)  # a step sounds from -50 dBFS RMS
TURNS_SPREAD_DB = 6  # speech's steps vary this much in power at least (a hum's or hiss's: under 1 dB)
TURNS_LEVEL_BINS = 121  # 1-dB bins from -120 to 0 dBFS
MIC_CLIP_WINDOW_S = 10.0  # a microphone's clipping is judged over its last this much sound ...
MIC_CLIP_MIN_SOUND_S = 2.0  # ... once it has this much
MIC_QUIET_S = 30.0  # a microphone silent or very quiet for its first this much is said to be
MIC_TWIN_CHECK_S = 2.0  # a microphone's channels are compared over this much of its sound, then said ...
MIC_TWIN_MOST_S = 60.0  # ... or over this much audio at most (channels that stay silent say nothing)
# A file that reads this much shorter than its header declares (both must hold) is reported as damaged.
SHORTFALL_S = 0.5
SALVAGE_S = 0.05  # after a decoding error, the failed block is read again in steps this long, up to the damage
# After damage in a file other than an MP3, reading goes on from the first of these distances past it
# where the decoder reads again; the stretch in between is read as silence. A FLAC file that libsndfile
# cannot seek past its damage still stops there.
SKIP_DAMAGE_S = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
SKIP_PROBE_S = 0.05  # audio read at a candidate position to see that the decoder reads there
# An MP3's decoder resyncs after damage by itself: its reads are tried again this many times in a row.
MP3_READ_RETRIES = 50
MP3_RESUMED_S = 0.5  # read after its last damage, less than this: the decoder stopped there
SHORTFALL_SHARE = 0.02
NOTICES_KEPT = 16


def read_frames(f: sf.SoundFile, frames: int) -> np.ndarray:
    """The next ``frames`` frames of ``f`` as float32 (frames, channels); fewer at the end of the file.

    soundfile's ``read`` asks libsndfile for the position before each read and seeks to it again
    after (two seeks per call); for FLAC a seek restarts the decoder, which cost as much as the
    decoding itself on 0.5-s blocks, and for MP3 it made libmpg123 report damaged frames in intact
    files and decode slightly different samples. This calls libsndfile's read alone, which advances the position
    by itself, and checks its error state as soundfile does. Falls back to ``read`` if soundfile's
    internals change, and for files not opened read-only (whose write position soundfile keeps in
    step with the read one)."""
    out = np.empty((frames, f.channels), np.float32)
    snd, ffi, check = getattr(sf, "_snd", None), getattr(sf, "_ffi", None), getattr(sf, "_error_check", None)
    handle = getattr(f, "_file", None)
    if snd is None or ffi is None or check is None or handle is None or getattr(f, "mode", "r") != "r":
        return f.read(out=out, fill_value=None)  # also closed files (their error) and read-write ones
    n = snd.sf_readf_float(handle, ffi.cast("float *", ffi.from_buffer(out)), frames)
    check(f._errorcode)
    return out[:n]


@dataclass(frozen=True)
class SourceBlock:
    """Audio of every track, ``(n_samples, n_tracks)`` float32 at 16 kHz, starting at ``start`` samples."""

    start: int
    data: np.ndarray
    arrival: float  # time.monotonic() when the block's last sample became available


@dataclass(frozen=True)
class InputDevice:
    """An audio input device as PortAudio reports it."""

    index: int
    name: str
    hostapi: str
    max_input_channels: int
    default_samplerate: float
    is_default: bool


def _track_names(n_tracks: int, channels: str, names: Sequence[str] | None, what: str = "") -> list[str]:
    """The tracks' names: ``names`` if given (one per track), else mix / ch1, ch2, ... ``what``
    names the file or device in the error message."""
    if names is not None:
        names = [str(n) for n in names]
        if len(names) != n_tracks:
            prefix = f"{what}: " if what else ""
            raise TrackNamesError(f"{prefix}{count_text(len(names), 'track name')} given ({', '.join(names)}) but it has "
                              f"{count_text(n_tracks, 'channel')}; give one name per channel with --names.")
        return names
    return ["mix"] if channels == "mix" else [f"ch{i + 1}" for i in range(n_tracks)]


def check_track_names(names: Sequence[str]) -> None:
    """Refuse ``--names`` that are empty or repeated (in any letter case, as agent names are
    matched): every result names its track."""
    if not names or not all(names) or len({n.casefold() for n in names}) != len(names):
        raise ConfigError("--names needs one non-empty name per channel, all different (not only in letter case), e.g. Agent,Customer; "
                          f"got {','.join(names)!r}.")


def _check_channels(channels: str) -> None:
    if channels not in CHANNEL_MODES:
        raise ConfigError(f"channels must be one of {CHANNEL_MODES}, got {channels!r}.")


class TwinChannels:
    """Finds analysed channels that hold the same sound as another channel, one maybe louder than the
    other, as a mono recording saved as stereo, or a mono microphone that its sound server gives as
    two channels, do: with channels split, such a "customer" channel holds every voice, the agent's
    too. Block by block, each channel less its mean (a DC offset is no sound) must be the other times
    a gain, to TWIN_TOLERANCE plus TWIN_RELATIVE of its peak, both ways round (a silent channel is any
    channel times 0, but not the other way). Two speakers, or one voice leaking into the other's
    channel, delayed and filtered on its way, differ at once, and their pair is not compared again;
    pairs of channels silent in a block cost a comparison of their peaks."""

    def __init__(self, n_channels: int, analysed: Sequence[int] | None, rate: int):
        self.analysed = analysed = list(range(n_channels) if analysed is None else analysed)
        self.pairs = [(a, b) for a in analysed for b in range(n_channels)
                      if b != a and not (b in analysed and b < a)]
        self.sounding = dict.fromkeys(self.pairs, 0)  # per pair, the frames compared in which it held sound
        self.frames = 0  # frames compared
        self.rate = int(rate)
        self._step = max(1, int(round(TWIN_SOUND_STEP_S * rate)))  # sound is counted in steps of this
        self._scratch = np.empty(0, np.float32)  # kept between blocks (a new array each time cost more)

    def feed(self, data: np.ndarray) -> None:
        if not self.pairs or not len(data):
            return
        n = len(data)
        self.frames += n
        used = sorted({c for pair in self.pairs for c in pair})
        row = {c: i for i, c in enumerate(used)}
        columns = np.ascontiguousarray(data.T[used], dtype=np.float32)  # a copy: one row per channel compared
        columns -= columns.mean(axis=1, dtype=np.float64).astype(np.float32)[:, None]  # a DC offset is no sound
        peaks = np.maximum(columns.max(axis=1), -columns.min(axis=1))
        energies: dict[int, float] = {}
        if len(self._scratch) < n:
            self._scratch = np.empty(n, np.float32)
        scratch = self._scratch[:n]
        loud: dict[int, int] = {}  # per channel, the frames in steps that held sound
        kept = []
        for a, b in self.pairs:
            i, j = row[a], row[b]
            if peaks[i] <= TWIN_TOLERANCE and peaks[j] <= TWIN_TOLERANCE:
                kept.append((a, b))  # silent in both: nothing to tell them apart by
                continue
            x, y = columns[i], columns[j]
            for c, k in ((a, i), (b, j)):
                if c not in energies:
                    energies[c] = float(np.dot(columns[k], columns[k]))
            xy = float(np.dot(x, y))
            if not (self._fits(x, y, xy / energies[b] if energies[b] > 0 else 0.0, peaks[i], scratch)
                    and self._fits(y, x, xy / energies[a] if energies[a] > 0 else 0.0, peaks[j], scratch)):
                continue  # they differ: this pair is done
            kept.append((a, b))
            k, c = (i, a) if peaks[i] >= peaks[j] else (j, b)
            if c not in loud:
                loud[c] = self._loud_frames(columns[k])
            self.sounding[a, b] += loud[c]
        self.pairs = kept

    @staticmethod
    def _fits(x: np.ndarray, y: np.ndarray, gain: float, peak: float, scratch: np.ndarray) -> bool:
        """Whether ``x`` is ``y`` times ``gain``, to the tolerance: TWIN_TOLERANCE for each channel's
        samples (the quieter one's rounding grows with the gain), and TWIN_RELATIVE of ``x``'s peak."""
        np.multiply(y, np.float32(-gain), out=scratch)
        scratch += x
        most = TWIN_TOLERANCE * (1.0 + abs(gain)) + TWIN_RELATIVE * peak
        return max(float(scratch.max()), -float(scratch.min())) <= most

    def _loud_frames(self, column: np.ndarray) -> int:
        """The frames of ``column`` in steps of TWIN_SOUND_STEP_S whose peak reaches TWIN_SOUND."""
        n = len(column) // self._step * self._step
        steps = column[:n].reshape(-1, self._step)
        loud = np.maximum(steps.max(axis=1), -steps.min(axis=1)) >= TWIN_SOUND
        tail = n < len(column) and max(float(column[n:].max()), -float(column[n:].min())) >= TWIN_SOUND
        return int(np.count_nonzero(loud)) * self._step + (len(column) - n) * tail

    def conclusive(self, sound_s: float) -> bool:
        """Whether the comparison said all it can: no pair left, or each left held ``sound_s`` of sound
        (not so when it ended on the most audio to compare, through silence)."""
        return all(self.sounding[pair] >= sound_s * self.rate for pair in self.pairs)

    def settled(self, sound_s: float, most_s: float) -> bool:
        """Whether it is known which channels are twins: none left that could be, each left held
        ``sound_s`` of sound, or ``most_s`` of audio were compared (channels that stay silent say nothing)."""
        return self.frames >= most_s * self.rate or self.conclusive(sound_s)

    def twins(self) -> list[tuple[int, int]]:
        """The pairs (analysed channel, the other) that held the same sound throughout, with at least
        TWIN_MIN_SOUND_S of sound (a shared beep in two silent channels says nothing of a recording)."""
        return [pair for pair in self.pairs if self.sounding[pair] >= TWIN_MIN_SOUND_S * self.rate]


class TurnTaking:
    """Finds channels that take turns: at least two that each sounded alone (every other channel
    TURNS_ALONE_DB below it in power, in steps of TWIN_SOUND_STEP_S) for TURNS_MIN_S, as the two sides
    of a call recorded one per channel do. A mono recording saved as stereo never does (its channels
    sound together, or one is always the quieter), nor one voice recorded by two microphones; a call
    whose channels leak into each other by more than TURNS_ALONE_DB is not found. A channel's steps
    alone must vary in power as speech does (TURNS_SPREAD_DB between their 10th and 90th percentiles):
    a hum or hiss on a channel without a microphone sounds alone in every pause of the voice on the
    other, steadily. Each block less its mean (a DC offset is no sound)."""

    def __init__(self, n_channels: int, rate: int):  # (two channels or more)
        self.alone = np.zeros(n_channels, np.int64)  # per channel, the frames in which it sounded alone
        self.levels = np.zeros((n_channels, TURNS_LEVEL_BINS), np.int64)  # ... and their powers, in dB steps
        self.rate = int(rate)
        self._step = max(1, int(round(TWIN_SOUND_STEP_S * rate)))
        self._below = np.float32(10.0 ** (-TURNS_ALONE_DB / 10.0))  # of the power
        self.taking_turns = False

    def feed(self, data: np.ndarray) -> None:
        if self.taking_turns:
            return
        n = len(data) // self._step * self._step
        if not n:
            return
        steps = (data[:n] - data.mean(axis=0, dtype=np.float64).astype(np.float32)).reshape(
            n // self._step, self._step, data.shape[1])
        power = np.einsum("sfc,sfc->sc", steps, steps) / self._step  # (steps, channels): mean square
        order = np.argsort(power, axis=1)
        top = np.take_along_axis(power, order[:, -1:], axis=1)[:, 0]
        second = np.take_along_axis(power, order[:, -2:-1], axis=1)[:, 0]
        alone = (top >= TURNS_SOUND_POWER) & (second <= top * self._below)
        channel = order[alone, -1]
        self.alone += np.bincount(channel, minlength=len(self.alone)) * self._step
        level = np.clip(10.0 * np.log10(top[alone]), -TURNS_LEVEL_BINS + 1, 0).astype(np.int64) + TURNS_LEVEL_BINS - 1
        np.add.at(self.levels, (channel, level), 1)
        self.taking_turns = sum(self._speaks(c) for c in range(len(self.alone))) >= 2

    def _speaks(self, channel: int) -> bool:
        """Whether ``channel`` sounded alone long enough, with the spread in power speech has."""
        if self.alone[channel] < TURNS_MIN_S * self.rate:
            return False
        cumulative = np.cumsum(self.levels[channel])
        low, high = np.searchsorted(cumulative, [0.1 * cumulative[-1], 0.9 * cumulative[-1]])
        return int(high - low) >= TURNS_SPREAD_DB


class Source:
    """Base class: ``open()`` checks and opens, ``blocks(stop)`` yields :class:`SourceBlock`, ``close()``."""

    description = "source"
    track_names: list[str] = []
    total_s: float | None = None  # known duration (files), for progress bars
    start_sample = 0
    block_s: float | None = None  # audio per block, when known (the engine bounds its input queue by it)
    # The tracks the engine analyses (it sets them; None: all): notes on the audio are about them.
    analysed_tracks: list[int] | None = None
    # (analysed channel, another) pairs that held the same sound throughout, once a file's end is read
    twin_pairs: list[tuple[int, int]] = []

    def _level_groups(self) -> list[tuple[str | None, list[int]]]:
        """The channels whose level notes speak of them together: the mixed recording's all (no name),
        or, with channels split, each analysed channel by its name."""
        if self.channels == "mix" or self.n_channels == 1:
            return [(None, list(range(self.n_channels)))]
        analysed = range(self.n_channels) if self.analysed_tracks is None else self.analysed_tracks
        return [(self.track_names[c], [c]) for c in analysed if c < self.n_channels]

    _twins_reading: TwinChannels | None = None

    def twins_so_far(self) -> list[tuple[int, int]]:
        """The pairs of channels that held the same sound in all of the file read so far
        (``twin_pairs`` once reading has ended): what ``ser analyze`` refuses on when it is stopped."""
        if self.twin_pairs or self._twins_reading is None:
            return list(self.twin_pairs)
        return self._twins_reading.twins()

    def _twin_notes(self, twins: TwinChannels, where: str, n_channels: int, live: bool = False) -> None:
        """A note for each analysed channel that held the same sound as another one (``twin_pairs``
        keeps the pairs: ser batch fails a call whose customer's channel is its agent's)."""
        self.twin_pairs = twins.twins()
        for a, b in self.twin_pairs:
            first, second = sorted((a, b))
            analysed = [self.track_names[c] for c in (first, second) if c in twins.analysed]
            self.notices.append(twin_channels_message(where, self.track_names[first], self.track_names[second],
                                                      analysed, n_channels, live))

    def __init__(self):
        self.overflows = 0  # device reported lost input
        self.dropped_blocks = 0  # blocks the callback could not queue
        # Non-fatal problems (e.g. no sound output) the engine reports as events while analysis goes on.
        self.notices: deque[str] = deque(maxlen=NOTICES_KEPT)

    @property
    def n_tracks(self) -> int:
        return len(self.track_names)

    def open(self) -> None:
        raise NotImplementedError

    def blocks(self, stop: threading.Event) -> Iterator[SourceBlock]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def silence(self) -> None:
        """Stop any sound output at once; safe from any thread (the engine calls it when stopping)."""

    def monitor_stats(self) -> dict[str, int]:
        """Counters of the sound output (empty when the source plays none)."""
        return {}

    def metadata(self) -> dict:
        return {"kind": type(self).__name__, "description": self.description, "tracks": list(self.track_names)}


class BadSamples:
    """Samples of a file that are not numbers (NaN or infinite), counted where they are read as
    silence: their number and the stretch from the first to the last."""

    def __init__(self):
        self.samples = 0
        self.first_s = self.last_s = 0.0

    def count(self, data: np.ndarray, start_s: float, rate: int) -> None:
        rows = np.flatnonzero(~np.isfinite(data).all(axis=1))
        if not self.samples:
            self.first_s = start_s + rows[0] / rate
        self.last_s = start_s + (rows[-1] + 1) / rate
        self.samples += int(np.count_nonzero(~np.isfinite(data)))

    def message(self, path) -> str:
        where = (f"at {time_text(self.first_s)}" if self.last_s - self.first_s < 0.05 else
                 f"between {time_text(self.first_s)} and {time_text(self.last_s)}")
        verb = "is not a number" if self.samples == 1 else "are not numbers"
        return (f"{path}: {count_text(self.samples, 'sample')} {where} {verb} (NaN or infinite): the file "
                "is damaged there. They were read as silence; the rest of the file is analysed.")


def damage_message(path, gaps: Sequence[tuple[float, float]]) -> str:
    """The note on stretches of a file the decoder could not read (start s, end s each), which were
    read as silence (not an MP3's: see :func:`mp3_damage_message`)."""
    shown = [span_text(a, b) for a, b in gaps[:3]]
    if len(gaps) > 3:
        shown.append(f"{len(gaps) - 3} more stretches")
    where = shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} and {shown[-1]}"
    total = f" ({sum(b - a for a, b in gaps):.1f} s in all)" if len(gaps) > 1 else ""
    return (f"{path}: damaged audio could not be decoded at {where}{total}. It was read as silence, so what "
            "follows keeps its times; the rest of the file is analysed.")


def mp3_damage_message(path, at_s: Sequence[float], lost_s: float | None, finished: bool = True) -> str:
    """The note on an MP3 whose decoder skipped damage by itself (at ``at_s``, seconds): ``lost_s``
    of its audio are missing there in all (the length its header declares less what was read), so
    what follows comes that much early; None when that cannot be told (the file is cut short too, or
    declares no length). ``finished``: the decoder read on after the damage (else it stopped there,
    or the analysis was stopped first)."""
    places = len(at_s) > 1
    where = ", ".join(time_text(t) for t in at_s[:3]) + (f" and {len(at_s) - 3} more places" if len(at_s) > 3 else "")
    head = f"{path}: damaged audio could not be decoded at {where}"
    if not finished:
        return f"{head}. The times of what was read after it are early by the audio missing there."
    if lost_s is None:
        return (f"{head}; the decoder went on after it. How much audio is missing there is not known, and the "
                "times of what follows are early by as much; re-encoding the file (e.g. with ffmpeg) or the "
                "original recording gives the right times.")
    if lost_s < 0.05:
        return f"{head}; the decoder went on after it, and little or none of the audio is missing."
    return (f"{head}; the decoder went on after it, and about {lost_s:.1f} s of audio are missing "
            f"{'at these places in all' if places else 'there'}, so the times of what follows are about "
            f"{lost_s:.1f} s early. The rest of the file is analysed; re-encoding it (e.g. with ffmpeg) or the "
            "original recording gives the right times.")


def ogg_damage_message(path, lost_s: float) -> str:
    """The note on an Ogg file read to its proper end with ``lost_s`` less audio than it declares."""
    return (f"{path}: about {lost_s:.1f} s of the audio the file declares could not be decoded: it is damaged "
            "somewhere (the decoder skipped the damage without saying where; the file ends properly), so the "
            f"times after the damage are about {lost_s:.1f} s early. The rest of the file is analysed; re-encoding "
            "it (e.g. with ffmpeg) or the original recording gives the right times.")


def _size(path: str) -> int:
    """A file's size, or -1 when it is gone (moved away once read: not a file that grew)."""
    try:
        return os.path.getsize(path)
    except OSError:
        return -1


class FileLevels:
    """What a file's level notes need, tallied block by block, per channel: the loudest sample less
    the mean of what was read so far (a DC offset is no sound: it hid a quiet recording), both
    leaving digital zeros out (a few ms of them before a DC offset read as a loud step); the loudest
    sample as it is; and the count of samples at ``clip_level`` (the format's full scale) or above."""

    def __init__(self, n_channels: int, clip_level: float):
        self.clip_level = clip_level
        self.peaks = np.zeros(n_channels, dtype=np.float32)
        self.raw_peaks = np.zeros(n_channels, dtype=np.float32)
        self.clipped = np.zeros(n_channels, dtype=np.int64)
        self._sums = np.zeros(n_channels)
        self._counts = np.zeros(n_channels, dtype=np.int64)

    def feed(self, data: np.ndarray) -> None:
        """Count the next block (frames, channels)."""
        self._sums += data.sum(axis=0, dtype=np.float64)
        zeros = np.count_nonzero(data) != data.size
        if not zeros:
            self._counts += len(data)
            sounding = None
        else:  # digital zeros (a recorder's padding) are no sound, nor part of the DC
            sounding = data != 0
            self._counts += np.count_nonzero(sounding, axis=0)
        dc = (self._sums / np.maximum(self._counts, 1)).astype(np.float32)
        # From each column's extremes alone (no array the size of the block is made: this runs on
        # every block of every file): x - dc rounds monotonically in x, so the largest |x - dc| is
        # at the largest or the smallest x; column by column, as numpy's reductions along the first
        # axis of a few columns are many times slower than over each column.
        for c in range(data.shape[1]):
            column = data[:, c]
            if sounding is None:
                high, low = column.max(), column.min()
            elif sounding[:, c].any():
                high = column.max(where=sounding[:, c], initial=-np.inf)
                low = column.min(where=sounding[:, c], initial=np.inf)
            else:
                continue  # only zeros: no sound, no peak, nothing clipped
            self.peaks[c] = max(self.peaks[c], high - dc[c], dc[c] - low)
            size = max(high, -low)
            self.raw_peaks[c] = max(self.raw_peaks[c], size)
            if size >= self.clip_level:
                self.clipped[c] += np.count_nonzero(np.abs(column) >= self.clip_level)


class CheckPieces:
    """Cuts the audio read into pieces of exactly ``size`` frames for a file's checks, whatever the
    lengths of the reads (CHECK_BLOCK_S): the rest of a read waits for the next; ``flush`` gives the
    file's last, shorter piece."""

    def __init__(self, size: int):
        self.size = size
        self._rest: np.ndarray | None = None  # the end of the reads that makes no whole piece yet

    def take(self, data: np.ndarray) -> list[np.ndarray]:
        whole = data if self._rest is None else np.concatenate([self._rest, data])
        n = len(whole) // self.size * self.size
        self._rest = whole[n:].copy() if n < len(whole) else None
        return [whole[i:i + self.size] for i in range(0, n, self.size)]

    def flush(self) -> list[np.ndarray]:
        rest, self._rest = self._rest, None
        return [] if rest is None else [rest]


class FileSource(Source):
    """An audio file read in blocks (bounded memory for any length).

    Args:
        path: Any file soundfile reads (WAV, FLAC, OGG, MP3 ...), any rate from 8 kHz and channel count.
        pace: ``fast`` (as fast as the engine takes it) or ``realtime`` (like a microphone).
        speed: Speed factor for ``realtime`` pace (2.0 replays twice as fast).
        start_s: Where in the file to start; times on the sample clock stay file times.
        channels: ``mix`` to one track, or ``split`` one track per channel.
        block_frames: Frames read per block at the file's rate (default depends on pace).
        track_names: Names of the tracks (default ``mix`` or ``ch1``, ``ch2`` ...).
        monitor: Play the audio through an output device while it is analysed (:class:`AudioMonitor`).
            Only real-time replays at 1x make sound; other speeds and ``fast`` pace are silent,
            because resampling would shift the pitch and a shifted voice misleads about its emotion.
            A missing or failing output device becomes a notice (the engine reports it as a non-fatal
            error) and the analysis goes on without sound.
        monitor_device: Output device: None for the default, an index, or (part of) a device name.
        check_turns: With ``mix``, look for channels that take turns (:class:`TurnTaking`: a call mixed
            into one track) and say so; ser batch, which mixes a call only when told to, passes False.
    """

    def __init__(self, path: str | os.PathLike, pace: str = "fast", speed: float = 1.0, start_s: float = 0.0,
                 channels: str = "mix", block_frames: int | None = None, track_names: Sequence[str] | None = None,
                 monitor: bool = False, monitor_device: int | str | None = None, check_turns: bool = True):
        super().__init__()
        if pace not in PACES:
            raise ConfigError(f"pace must be one of {PACES}, got {pace!r}.")
        if not speed > 0:
            raise ConfigError(f"speed must be positive, got {speed}.")
        if start_s < 0:
            raise ConfigError(f"start_s must not be negative, got {start_s}.")
        if block_frames is not None and block_frames < 1:
            raise ConfigError(f"block_frames must be at least 1, got {block_frames}.")
        _check_channels(channels)
        self.path = str(path)
        self.pace, self.speed, self.start_s, self.channels = pace, float(speed), float(start_s), channels
        self._block_frames = block_frames
        self.block_s = FAST_BLOCK_S if pace == "fast" else REALTIME_BLOCK_S  # block_frames' length once open
        self._names = track_names
        self._file: sf.SoundFile | None = None
        self._declared_frames: int | None = None  # frames from the start on, as the header declares
        self._decoder_log = NativeStderr(active=False)  # made active by open() for MP3 files
        self.description = self.path
        self.monitor, self.monitor_device = bool(monitor), monitor_device
        self.check_turns = check_turns
        self.monitor_output: AudioMonitor | None = None  # kept after close, for its counters

    @property
    def monitor_audible(self) -> bool:
        """Whether the monitor makes sound at this pace and speed (1x real time only)."""
        return self.monitor and self.pace == "realtime" and self.speed == MONITOR_SPEED

    def open(self) -> None:
        if self._file is not None:
            return  # already open: analyze_file opens a file early to refuse a bad one, then the engine starts
        check_audio_path(self.path)
        self._decoder_log = NativeStderr(is_mp3(self.path))
        try:
            with self._decoder_log:
                f = sf.SoundFile(self.path)
        except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as exc:
            raise AudioError(f"{self.path}: cannot read this audio file ({decoder_reason(exc, self.path)}). Is it an "
                             "audio file, and complete?") from exc
        if f.samplerate < MIN_SAMPLE_RATE_HZ:
            f.close()
            raise AudioError(f"{self.path}: sample rate {f.samplerate} Hz is too low for speech analysis; "
                             f"use {MIN_SAMPLE_RATE_HZ} Hz or more.")
        if f.frames == 0:
            f.close()
            raise AudioError(no_samples_message(self.path))
        if f.channels > MAX_FILE_CHANNELS:
            f.close()
            raise AudioError(f"{self.path}: its header says {f.channels} channels; no recording of speech has that "
                             "many, so the header is probably damaged. Convert the file again from its source "
                             "(e.g. ffmpeg -i IN -ac 1 OUT.wav).")
        self.rate = f.samplerate
        self.n_channels = f.channels
        if self.rate < SAMPLE_RATE_HZ:  # said once, as the analysis starts (the level notes come at its end)
            self.notices.append(narrowband_message(self.path, self.rate))
        if getattr(f, "subtype", "") in EIGHT_BIT_SUBTYPES:
            self.notices.append(eight_bit_message(self.path))
        if self._block_frames:
            self.block_s = self._block_frames / self.rate
        start_frame = int(round(self.start_s * self.rate))
        if f.frames > 0 and start_frame >= f.frames:
            f.close()
            raise AudioError(f"{self.path}: start {time_text(self.start_s)} is beyond the end of the file "
                             f"({time_text(f.frames / self.rate)}).")
        if start_frame and f.seekable():
            f.seek(start_frame)
        n_tracks = 1 if self.channels == "mix" else self.n_channels
        try:
            self.track_names = _track_names(n_tracks, self.channels, self._names, self.path)
        except ConfigError:
            f.close()  # do not hold a file that will never be read
            raise
        self._file = f
        self._declared_frames = f.frames - start_frame if f.frames > 0 else None
        self._start_frame = start_frame
        self._size_at_open = os.path.getsize(self.path)  # a recording still being written grows past it
        self.total_s = (f.frames - start_frame) / self.rate if f.frames > 0 else None
        missing = wav_missing_fraction(self.path)  # a WAV cut short: libsndfile counts only what is there
        if self.total_s is not None and missing is not None:
            self.total_s = (f.frames / (1.0 - missing) - start_frame) / self.rate  # the length its header declares
        self.start_sample = int(round(start_frame * SAMPLE_RATE_HZ / self.rate))

    def _level_notes(self, peaks: np.ndarray, raw_peaks: np.ndarray, clipped: np.ndarray, frames: int) -> None:
        """Notes on the level of what is analysed: the mixed recording, or, with channels split, each
        analysed channel by its name (a quiet or clipped customer beside a clean agent was missed, or
        said at half its share). Clipping counts on channels that hold sound: a constant at full scale
        (a dead channel stuck at the rail) is no sound, not clipped speech."""
        for name, chans in self._level_groups():
            peak = float(peaks[chans].max())
            if peak < VERY_QUIET_PEAK and self.start_s == 0:  # (part of a file: its other part may be louder)
                self.notices.append(very_quiet_message(self.path, peak, float(raw_peaks[chans].max()), name))
            heard = [c for c in chans if peaks[c] >= VERY_QUIET_PEAK]
            if heard and (share := float(clipped[heard].sum()) / (frames * len(heard))) > CLIPPED_SHARE:
                self.notices.append(clipped_message(self.path, share, name))

    def _check(self, piece: np.ndarray, levels: FileLevels, twins: TwinChannels | None,
               turns: TurnTaking | None) -> TurnTaking | None:
        """One piece of the file through its checks; the turn-taking check, or None once it has said
        its note (said as soon as it is known)."""
        levels.feed(piece)
        if twins is not None:
            twins.feed(piece)
        if turns is not None:
            turns.feed(piece)
            if turns.taking_turns:
                self.notices.append(turn_taking_message(self.path, self.n_channels))
                return None
        return turns

    def blocks(self, stop: threading.Event) -> Iterator[SourceBlock]:
        if self._file is None:
            self.open()
        f = self._file
        block = self._block_frames or max(1, int(round(self.block_s * self.rate)))
        resampler = StreamResampler(self.rate, self.n_channels, self.channels)
        position = self.start_sample
        monitor = self._open_monitor(stop) if self.monitor_audible else None
        t0 = time.monotonic()  # after opening the monitor, which may take a while
        done = False
        error: AudioError | None = None
        subtype = getattr(f, "subtype", "")
        levels = FileLevels(self.n_channels, CLIPPED_LEVEL * FULL_SCALE.get(subtype, 1.0))
        pieces = CheckPieces(max(1, int(round(CHECK_BLOCK_S * self.rate))))
        alaw = subtype == "ALAW"  # its silence is read as zeros (ALAW_ZERO)
        twins = TwinChannels(self.n_channels, self.analysed_tracks, self.rate) if self.channels != "mix" else None
        self._twins_reading = twins  # what twins_so_far reads while the file is read
        turns = (TurnTaking(self.n_channels, self.rate)
                 if self.channels == "mix" and self.n_channels > 1 and self.check_turns else None)
        frames_read = 0  # at the file's own rate
        gaps: list[tuple[float, float]] = []  # stretches the decoder could not read, in file seconds
        silence = 0  # frames of such a stretch still to hand on as silence (a block at a time)
        gap_frames = 0  # frames of silence handed on in all (no audio of the file's: not in its level notes)
        mp3 = is_mp3(self.path)
        mp3_damage: list[float] = []  # where an MP3's reads failed (its decoder went on by itself), seconds
        mp3_last = 0  # frames read up to the last of them
        failures = 0  # failed reads of an MP3 in a row
        bad = BadSamples()  # samples that are not numbers, read as silence
        # The sound output is handed each block MONITOR_LEAD_S before the analysis: the audio it queues
        # then outlasts a stall of this thread without adding to how far the sound lags the analysis.
        ahead: deque[np.ndarray] = deque()  # blocks read (and handed to the sound output), not yet due
        read_to = position  # end of the audio read, on the sample clock
        lead = int(round(MONITOR_LEAD_S * SAMPLE_RATE_HZ))
        while not stop.is_set():
            if not done and (not ahead or (monitor is not None and read_to - position < lead)):
                if silence:  # a stretch the decoder could not read, at the pace of the reads
                    data = np.zeros((min(block, silence), self.n_channels), np.float32)
                    silence -= len(data)
                    gap_frames += len(data)
                else:
                    try:
                        with self._decoder_log:
                            data = read_frames(f, block)
                        done = len(data) < block
                        failures = 0
                    except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as exc:
                        # The block's audio before the damage is read again in small steps (up to a
                        # block of it was lost otherwise); then reading goes on past the damage.
                        data = self._salvage(self._start_frame + frames_read, block)
                        damage = self._start_frame + frames_read + len(data)
                        failures += 1
                        if mp3 and failures <= MP3_READ_RETRIES:
                            # libmpg123 resyncs by itself, and the same handle reads on after the
                            # damage. (Its seeking counts only the frames it decodes: a seek past
                            # damage landed late by the damage's length.) What was lost is known at
                            # the end, from the length the header declares.
                            if not mp3_damage or damage / self.rate - mp3_damage[-1] > SALVAGE_S:
                                mp3_damage.append(damage / self.rate)
                            mp3_last = frames_read + len(data)
                        elif not mp3 and (resumed := self._past_damage(damage)) is not None:
                            f.close()
                            f, at = resumed
                            self._file = f
                            gaps.append((damage / self.rate, at / self.rate))
                            silence = at - damage  # handed on as silence: later samples keep their times
                        else:  # (a FLAC frame libsndfile cannot seek past, a file cut short)
                            error = AudioError(f"{self.path}: reading failed after {time_text(damage / self.rate)} "
                                               f"({decoder_reason(exc, self.path)}); the file may be truncated or "
                                               "corrupt.")
                            done = True
                        if not len(data):
                            continue
                if alaw and len(data):
                    data[np.abs(data) < ALAW_ZERO] = 0.0
                if len(data) and not np.isfinite(data).all():
                    bad.count(data, self.start_s + frames_read / self.rate, self.rate)
                    data = np.nan_to_num(data, nan=0.0, posinf=0.0, neginf=0.0)
                frames_read += len(data)
                # The level, twin-channel and turn-taking checks see the file in pieces of exactly
                # CHECK_BLOCK_S, whatever the lengths read: what they find does not depend on them.
                for piece in pieces.take(data) if len(data) else ():
                    turns = self._check(piece, levels, twins, turns)
                out = resampler(data, last=done)
                if monitor is not None:
                    monitor = self._feed_monitor(monitor, data, done)
                if len(out):
                    ahead.append(out)
                    read_to += len(out)
                continue
            if not ahead:
                break
            out = ahead.popleft()
            if self.pace == "realtime":
                due = t0 + (position + len(out) - self.start_sample) / SAMPLE_RATE_HZ / self.speed
                while not stop.is_set() and (wait := due - time.monotonic()) > 0:
                    stop.wait(min(wait, POLL_INTERVAL_S))
            yield SourceBlock(position, out, time.monotonic())
            position += len(out)
        done = done and not ahead  # all of it read and handed on (not stopped with blocks still ahead)
        # What was met on the way is said whether or not reading ends on an error.
        # mp3_cut: an MP3 met damage and is also cut short, or its decoder stopped at the damage
        mp3_cut = self._mp3_damage_notes(mp3_damage, mp3_last, frames_read, done, error) if mp3_damage else False
        if not mp3_damage and (msg := self._decoder_log.summary(self.path)) is not None:  # (the damage note above says it)
            self.notices.append(msg)
        if gaps:
            self.notices.append(damage_message(self.path, gaps))
        if bad.samples:
            self.notices.append(bad.message(self.path))
        for piece in pieces.flush():  # the file's last piece, shorter
            turns = self._check(piece, levels, twins, turns)
        if error is not None:
            if twins is not None and frames_read - gap_frames > 0:
                # Channels that held the same sound up to the break: said, and a call's agent in its
                # customer's channel refused (ser analyze, ser batch) as for a whole file.
                self._twin_notes(twins, str(self.path), self.n_channels)
            raise error  # after the audio read before the problem (a stop in between does not hide it)
        if monitor is not None and done:
            monitor.drain(stop)  # let the end of the file be heard; the analysis already has it
        if done and frames_read - gap_frames > 0:
            self._level_notes(levels.peaks, levels.raw_peaks, levels.clipped, frames_read - gap_frames)
            if twins is not None:
                self._twin_notes(twins, str(self.path), self.n_channels)
        if done:
            # A recording still being written: libsndfile reads the length it had when opened, and the
            # rest would go unanalysed under a "complete" analysis.
            if _size(self.path) > self._size_at_open:
                raise AudioError(f"{self.path}: the file grew while it was read (a recording still being written?); "
                                 f"{time_text(position / SAMPLE_RATE_HZ)} of it were analysed. Analyse it again once "
                                 "the recording has ended.")
            # A WAV cut short reads without error up to its cut: the results so far are kept (like a
            # truncated FLAC's), and the run says the file is incomplete.
            missing = wav_missing_fraction(self.path)
            if missing is not None:
                raise AudioError(truncation_message(self.path, position / SAMPLE_RATE_HZ, missing))
            if wav_length_unwritten(self.path):  # a recorder that has not written the length yet
                self.notices.append(wav_unfinished_message(self.path, position / SAMPLE_RATE_HZ))
            if ogg_is_cut(self.path):  # the same for an Ogg file cut short: it reads as a shorter one
                raise AudioError(ogg_cut_message(self.path, position / SAMPLE_RATE_HZ))
            # Other formats: libsndfile's decoder may stop early without an error (an MP3 damaged
            # beyond what libmpg123 resyncs on). Frame counts of compressed files can be estimates,
            # so only a clear shortfall counts.
            declared = self._declared_frames
            short = declared is not None and declared - frames_read > max(SHORTFALL_S * self.rate,
                                                                          SHORTFALL_SHARE * declared)
            if short and is_ogg(self.path):
                # An Ogg file that ends properly (its end-of-stream mark, checked above) was read to its
                # end: its decoder skipped damage somewhere by itself, and said nothing of where.
                self.notices.append(ogg_damage_message(self.path, (declared - frames_read) / self.rate))
                short = False
            if short and (mp3_cut or not mp3_damage):  # (an MP3's damage note says what it lost)
                raise AudioError(f"{self.path}: decoding stopped after {time_text(frames_read / self.rate)} of the "
                                 f"{time_text(declared / self.rate)} the file declares; the rest is damaged or missing "
                                 "(a copy or download cut short?).")

    def _mp3_damage_notes(self, mp3_damage: list[float], mp3_last: int, frames_read: int, done: bool,
                          error: AudioError | None) -> bool:
        """The note on an MP3's damaged stretches (``mp3_damage``: where its reads failed, seconds;
        ``mp3_last``: frames read up to the last of them), said when reading ends; returns whether
        the MP3 is also cut short or its decoder stopped at the damage, which the shortfall check
        then reports (no amount is known for the damage)."""
        mp3_cut = False
        declared = self._declared_frames
        stopped_at_last = frames_read - mp3_last < MP3_RESUMED_S * self.rate  # nothing read after it
        went_on = len(mp3_damage) > 1 or not stopped_at_last  # something was read after a damage
        if not done or error is not None:  # stopped, or ended on an error: what is missing is not known
            places = mp3_damage[:-1] if error is not None and stopped_at_last else mp3_damage  # (the error's place)
            if went_on and places:
                self.notices.append(mp3_damage_message(self.path, places, None, finished=False))
        elif stopped_at_last:  # the decoder stopped at the damage: the shortfall below says so
            mp3_cut = True
            if went_on:
                self.notices.append(mp3_damage_message(self.path, mp3_damage[:-1], None, finished=False))
        elif declared is None or mp3_is_cut(self.path):
            # Cut short too (or no length declared): what is missing at the damage cannot be told
            # from the length, and the shortfall below says how much was read.
            mp3_cut = True
            self.notices.append(mp3_damage_message(self.path, mp3_damage, None))
        else:
            self.notices.append(mp3_damage_message(self.path, mp3_damage, max(0, declared - frames_read) / self.rate))
        return mp3_cut

    def _past_damage(self, from_frame: int) -> tuple[sf.SoundFile, int] | None:
        """A fresh handle positioned where the decoder reads again after damage at ``from_frame``
        (the file's own frames), and that frame: the first of SKIP_DAMAGE_S past it where it reads
        (then the last place before the file's end), brought back by halving towards the damage to
        within SKIP_PROBE_S. None when it reads at none of them, or the file cannot seek."""
        probe = max(1, int(SKIP_PROBE_S * self.rate))
        total = self._start_frame + self._declared_frames if self._declared_frames else 0
        places = [from_frame + max(1, int(round(skip * self.rate))) for skip in SKIP_DAMAGE_S]
        if total:
            places = [at for at in places if at + probe <= total]
            if total - probe > max(places, default=from_frame):
                places.append(total - probe)  # damage longer than the last step: what is left after it
        bad = from_frame
        for at in places:
            reads = self._reads_at(at, probe)
            if reads is None:
                return None
            if reads:
                while at - bad > probe:
                    mid = (bad + at) // 2
                    if self._reads_at(mid, probe):
                        at = mid
                    else:
                        bad = mid
                g = None
                try:
                    with NativeStderr(self._decoder_log.active):
                        g = sf.SoundFile(self.path)
                        g.seek(at)
                    if g.tell() == at:
                        return g, at
                except (sf.LibsndfileError, RuntimeError, OSError, ValueError):
                    pass
                if g is not None:
                    g.close()
                return None
            bad = at
        return None

    def _reads_at(self, at: int, frames: int) -> bool | None:
        """Whether the decoder reads ``frames`` frames from frame ``at`` (a fresh handle, which must
        land there); None when the file cannot seek or ends before them."""
        try:
            # The decoder's own lines on the damage kept from the terminal (and from the MP3 note).
            with NativeStderr(self._decoder_log.active), sf.SoundFile(self.path) as g:
                if not g.seekable():
                    return None
                if g.seek(at) != at:
                    return False
                return True if len(read_frames(g, frames)) == frames else None
        except (sf.LibsndfileError, RuntimeError, OSError, ValueError):
            return False

    def _salvage(self, from_frame: int, frames: int) -> np.ndarray:
        """Up to ``frames`` frames from ``from_frame`` (the file's own frames), read from a fresh handle
        in steps of SALVAGE_S until the decoder fails again: the audio of a failed block before its
        damage. Empty when the file cannot seek there."""
        pieces: list[np.ndarray] = []
        step = max(1, int(SALVAGE_S * self.rate))
        try:
            # The MP3 decoder's lines kept from the terminal; not noted again (the failed read noted them).
            with NativeStderr(self._decoder_log.active), sf.SoundFile(self.path) as g:
                if not g.seekable():
                    return np.zeros((0, self.n_channels), np.float32)
                g.seek(from_frame)
                got = 0
                while got < frames:
                    piece = read_frames(g, min(step, frames - got))
                    pieces.append(piece)
                    got += len(piece)
                    if len(piece) < step:
                        break
        except (sf.LibsndfileError, RuntimeError, OSError, ValueError):
            pass
        return np.concatenate(pieces) if pieces else np.zeros((0, self.n_channels), np.float32)

    def _open_monitor(self, stop: threading.Event) -> AudioMonitor | None:
        monitor = AudioMonitor(self.monitor_device)
        self.monitor_output = monitor
        try:
            monitor.open(self.rate, self.n_channels, stop)
        except Exception as exc:  # noqa: BLE001 - sound is optional: no device failure may stop the analysis
            return self._monitor_failed(monitor, exc, f"cannot open sound output {monitor.device_label}")
        return monitor

    def _feed_monitor(self, monitor: AudioMonitor, data: np.ndarray, last: bool) -> AudioMonitor | None:
        """Queue audio for playing; on a device failure say so once and play no more (analysis goes on)."""
        try:
            monitor.push(data, last=last)
            return monitor
        except Exception as exc:  # noqa: BLE001 - sound is optional: no device failure may stop the analysis
            return self._monitor_failed(monitor, exc, f"sound output {monitor.device_label} failed")

    def _monitor_failed(self, monitor: AudioMonitor, exc: Exception, what: str) -> None:
        """Close a failed sound output and leave a notice for the engine; the analysis goes on."""
        monitor.close()
        detail = str(exc) if isinstance(exc, DeviceError) else f"{what} ({type(exc).__name__}: {exc})."
        self.notices.append(f"{detail} The replay goes on without sound.")

    def silence(self) -> None:
        if self.monitor_output is not None:
            self.monitor_output.silence()

    def monitor_stats(self) -> dict[str, int]:
        return self.monitor_output.stats() if self.monitor_output is not None else {}

    def close(self) -> None:
        if self.monitor_output is not None:
            self.monitor_output.close()
        if self._file is not None:
            self._file.close()
            self._file = None

    def metadata(self) -> dict:
        meta = super().metadata()
        # The absolute path: a session opened later from another folder still finds its recording.
        meta.update(path=os.path.abspath(self.path), pace=self.pace, speed=self.speed, start_s=self.start_s, channels=self.channels,
                    monitor=self.monitor, monitor_device=self.monitor_device)
        if self._file is not None:
            meta.update(sample_rate_hz=self.rate, n_channels=self.n_channels, duration_s=self.total_s)
        return meta


def list_input_devices(rescan: bool = False) -> list[InputDevice]:
    """Input devices PortAudio knows about; with ``rescan``, as the system has them now (a device
    plugged in since the program started: :func:`streamer.portaudio.rescan_devices`, done only while
    no stream is open). Raises :class:`DeviceError` when PortAudio is missing."""
    sd = portaudio.import_sounddevice()
    if rescan:
        portaudio.rescan_devices(sd)
    try:
        devices = sd.query_devices()
        hostapis = sd.query_hostapis()
        default_in = sd.default.device[0]
    except sd.PortAudioError as exc:
        raise DeviceError(f"cannot list audio devices ({exc}).") from exc
    out = []
    for d in devices:
        if d["max_input_channels"] > 0:
            out.append(InputDevice(int(d["index"]), d["name"], hostapis[d["hostapi"]]["name"],
                                   int(d["max_input_channels"]), float(d["default_samplerate"]),
                                   int(d["index"]) == default_in))
    return out


def block_peaks(data: np.ndarray) -> np.ndarray:
    """Each channel's loudest sample of a block (frames, channels), less the block's mean (a DC
    offset is no sound): what the live level checks compare with VERY_QUIET_PEAK_DBFS."""
    if not len(data):
        return np.zeros(data.shape[1])
    # column by column: numpy's reductions along the first axis of a few columns are many times slower
    return np.array([float(np.abs(data[:, c] - data[:, c].mean(dtype=np.float64)).max()) for c in range(data.shape[1])])


class LiveClipping:
    """Whether a live input clips: per channel compared, the share of its samples at full scale
    (CLIPPED_LEVEL and above) over its last MIC_CLIP_WINDOW_S of sound (blocks whose peak, less
    their mean, reaches VERY_QUIET_PEAK_DBFS), once that holds MIC_CLIP_MIN_SOUND_S of it. A file's
    level notes come at its end, from the whole file; a microphone has no end, and its user can
    turn the input down at once."""

    def __init__(self, groups: Sequence[tuple[str | None, list[int]]], rate: int):
        self.groups = [(name, list(chans)) for name, chans in groups]
        self.rate = int(rate)
        self._blocks: list[deque] = [deque() for _ in self.groups]  # per group: (sound samples, clipped) per block
        self._totals = [[0, 0] for _ in self.groups]

    def feed(self, data: np.ndarray, peaks: np.ndarray) -> list[tuple[str | None, float]]:
        """Count a block (frames, channels) of float samples, ``peaks`` its :func:`block_peaks`;
        returns the groups whose clipped share over the window is above CLIPPED_SHARE, with that share."""
        window = MIC_CLIP_WINDOW_S * self.rate
        out = []
        for g, (name, chans) in enumerate(self.groups):
            sound = clipped = 0
            for c in chans:
                if len(data) and peaks[c] >= VERY_QUIET_PEAK:
                    sound += len(data)
                    clipped += int(np.count_nonzero(np.abs(data[:, c]) >= CLIPPED_LEVEL))
            blocks, totals = self._blocks[g], self._totals[g]
            if sound:
                blocks.append((sound, clipped))
                totals[0] += sound
                totals[1] += clipped
            while blocks and totals[0] - blocks[0][0] >= window * len(chans):
                gone = blocks.popleft()
                totals[0] -= gone[0]
                totals[1] -= gone[1]
            if totals[0] >= MIC_CLIP_MIN_SOUND_S * self.rate * len(chans) and totals[1] > CLIPPED_SHARE * totals[0]:
                out.append((name, totals[1] / totals[0]))
        return out


class LiveQuiet:
    """Whether a live input has stayed digitally silent or very quiet (its loudest sample, less each
    block's mean, under VERY_QUIET_PEAK_DBFS) for its first MIC_QUIET_S, per channel group compared:
    a muted microphone, or one turned far down, showed nothing happening and said nothing. (A file's
    level notes come at its end; a microphone's user can fix it at once.)"""

    def __init__(self, groups: Sequence[tuple[str | None, list[int]]], rate: int):
        self.groups = [(name, list(chans)) for name, chans in groups]
        self.rate = int(rate)
        self.peaks = [0.0 for _ in self.groups]
        self.frames = 0

    def feed(self, peaks: np.ndarray, frames: int) -> tuple[bool, list[tuple[str | None, float]]]:
        """Count a block of ``frames`` frames, ``peaks`` its :func:`block_peaks`; returns (settled,
        the groups still quiet with their peak): settled once MIC_QUIET_S has been heard, or every
        group has been loud enough."""
        for g, (_, chans) in enumerate(self.groups):
            self.peaks[g] = max([self.peaks[g], *(float(peaks[c]) for c in chans)])
        self.frames += frames
        if all(p >= VERY_QUIET_PEAK for p in self.peaks):
            return True, []
        if self.frames < MIC_QUIET_S * self.rate:
            return False, []
        return True, [(name, p) for (name, _), p in zip(self.groups, self.peaks, strict=True) if p < VERY_QUIET_PEAK]


class MicrophoneSource(Source):
    """A live input device through PortAudio.

    The audio callback only copies each block into a bounded queue and counts overflows; the
    source thread resamples. Blocks the callback could not queue are replaced by silence so that the
    sample clock keeps matching real time.

    Args:
        device: None for the default input, a device index, or (part of) a device name.
        channels: ``mix`` to one track, or ``split`` one track per channel.
        block_s: Audio per callback.
        input_channels: Channels to open (default: 1 to mix, all of the device's to split).
        samplerate: Rate to open the device at (default: the device's default rate).
        track_names: Names of the tracks.
        stall_timeout_s: No audio for this long from a running stream means the device is gone.
        start_s: Sample-clock time of the first sample, so that a resumed recording continues the
            time axis of the session instead of restarting at 0.
        check_twins: Compare the channels, with ``split``, for the same sound (:class:`TwinChannels`);
            a resume of a session whose channels were compared already passes False, so that its note
            is not said again. ``twins_checked`` says whether the comparison came to its end (or had
            nothing to compare: one channel, mixed).
        first_in_session: Say that the device runs below 16 kHz (a resume of a session passes False).
        check_quiet: Say when the input stays silent or very quiet for its first MIC_QUIET_S; a resume of
            a session that said so already (``quiet_noted``) passes False, so that it is not said at each
            resume while the microphone stays muted.
    """

    def __init__(self, device: int | str | None = None, channels: str = "mix", block_s: float = MIC_BLOCK_S,
                 input_channels: int | None = None, samplerate: float | None = None,
                 track_names: Sequence[str] | None = None, stall_timeout_s: float = MIC_STALL_TIMEOUT_S,
                 start_s: float = 0.0, check_twins: bool = True, first_in_session: bool = True,
                 check_quiet: bool = True):
        super().__init__()
        _check_channels(channels)
        if not block_s > 0:
            raise ConfigError(f"block_s must be positive, got {block_s}.")
        if start_s < 0:
            raise ConfigError(f"start_s must not be negative, got {start_s}.")
        self.start_s = float(start_s)
        self.start_sample = int(round(self.start_s * SAMPLE_RATE_HZ))
        self.device, self.channels, self.block_s = device, channels, float(block_s)
        self._input_channels, self._samplerate, self._names = input_channels, samplerate, track_names
        self.stall_timeout_s = stall_timeout_s
        self._stream = None
        self._queue: queue.Queue = queue.Queue(maxsize=MIC_QUEUE_BLOCKS)
        self._frames_seen = 0
        self.twins_checked = not check_twins
        self._check_quiet = check_quiet
        self.quiet_noted = False  # the note on a silent or very quiet input was said
        self._first_start = first_in_session  # its notes on the device (below 16 kHz) are said once a session
        self.description = f"microphone {device if device is not None else '(default)'}"

    def open(self) -> None:
        sd = portaudio.import_sounddevice()
        with portaudio.opening():  # no rescan of the devices between reading them and the stream's opening
            self._open(sd)

    def _open(self, sd) -> None:
        try:
            info = sd.query_devices(self.device, "input")
        except (ValueError, sd.PortAudioError) as exc:
            raise DeviceError(f"input device {self.device!r} not found ({exc}); run `ser devices` to list them.") from exc
        self.device_name = info["name"]
        self.description = f"microphone {info['name']}"
        max_ch = int(info["max_input_channels"])
        n_ch = self._input_channels or (1 if self.channels == "mix" else max_ch)
        if not 1 <= n_ch <= max_ch:
            has = count_text(max_ch, "input channel")
            raise DeviceError(f"input device {info['name']!r} has {has}; {n_ch} are needed to analyse each channel "
                              "on its own (e.g. a call with the agent on one channel and the customer on the "
                              "other). Choose a device with that many channels, or mix them to one track.")
        self.rate = int(self._samplerate or info["default_samplerate"])
        if self.rate < MIN_SAMPLE_RATE_HZ:
            raise DeviceError(f"input device {info['name']!r} runs at {self.rate} Hz; speech analysis needs "
                              f"{MIN_SAMPLE_RATE_HZ} Hz or more.")
        self.n_channels = n_ch
        if self.rate < SAMPLE_RATE_HZ and self._first_start:  # once a session, as the channels' note
            self.notices.append(narrowband_message(f"Microphone {self.device_name}", self.rate, live=True))
        if self.channels == "mix" or n_ch == 1:
            self.twins_checked = True  # nothing to compare
        self.track_names = _track_names(1 if self.channels == "mix" else n_ch, self.channels, self._names,
                                        f"input device {info['name']!r}")
        self._queue = queue.Queue(maxsize=MIC_QUEUE_BLOCKS)  # nothing stale from an earlier run
        self._frames_seen = 0
        try:
            self._stream = sd.InputStream(device=self.device, channels=n_ch, samplerate=self.rate, dtype="float32",
                                          blocksize=max(1, int(round(self.block_s * self.rate))),
                                          callback=self._callback)
            portaudio.opened(self._stream)
        except (sd.PortAudioError, ValueError) as exc:
            raise DeviceError(f"cannot open input device {info['name']!r}: it may be unplugged, in use by another "
                              "program, or its sound server may have stopped. Refresh the device list and try "
                              f"again, or choose another device. (PortAudio: {exc})") from exc

    def _callback(self, indata, frames, time_info, status) -> None:
        # Runs in PortAudio's thread: copy, count, return. Nothing that can block or raise.
        if status.input_overflow:
            self.overflows += 1
        item = (self._frames_seen, indata.copy(), time.monotonic())
        self._frames_seen += frames
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self.dropped_blocks += 1

    def blocks(self, stop: threading.Event) -> Iterator[SourceBlock]:
        if self._stream is None:
            self.open()
        resampler = StreamResampler(self.rate, self.n_channels, self.channels)
        expected = 0  # next native frame on the clock
        position = self.start_sample
        twins = (TwinChannels(self.n_channels, self.analysed_tracks, self.rate)
                 if self.channels != "mix" and not self.twins_checked else None)
        clipping = LiveClipping(self._level_groups(), self.rate)
        quiet = LiveQuiet(self._level_groups(), self.rate) if self._check_quiet and not self.quiet_noted else None
        silent: dict[str | None, list[int]] = {}  # groups said to be silent, by name: their channels
        try:
            self._stream.start()
        except Exception as exc:  # sounddevice raises PortAudioError, but drivers vary
            raise DeviceError(f"cannot start input device {self.device_name!r} ({exc}).") from exc
        # The stall clock starts once the stream runs: starting it can take a while on a busy machine
        # or a sound server that has just started, and that is no stall.
        last_audio = time.monotonic()
        while not stop.is_set():
            try:
                first, data, arrival = self._queue.get(timeout=POLL_INTERVAL_S)
            except queue.Empty:
                now = time.monotonic()
                if not self._stream.active:
                    raise DeviceError(f"input device {self.device_name!r} stopped delivering audio "
                                      "(unplugged or taken by another program?).") from None
                if now - last_audio > self.stall_timeout_s:
                    raise DeviceError(f"input device {self.device_name!r} delivered no audio for "
                                      f"{self.stall_timeout_s:.0f} s (unplugged?).") from None
                continue
            last_audio = arrival
            peaks = block_peaks(data) if clipping is not None or quiet is not None or silent else None
            if clipping is not None and (found := clipping.feed(data, peaks)):
                for name, share in found:  # said once a run of the device, as soon as it is known
                    self.notices.append(live_clipping_message(self.device_name, share, MIC_CLIP_WINDOW_S, name))
                clipping = None
            for name in [n for n, chans in silent.items() if max(float(peaks[c]) for c in chans) >= VERY_QUIET_PEAK]:
                # sound at last on an input said to be silent: that note no longer holds
                self.notices.append(live_sound_back_message(self.device_name, position / SAMPLE_RATE_HZ, name))
                del silent[name]
            if quiet is not None:
                settled, still = quiet.feed(peaks, len(data))
                for name, peak in still:  # said once, when the first MIC_QUIET_S have been heard
                    self.notices.append(live_quiet_message(self.device_name, peak, MIC_QUIET_S, name))
                    self.quiet_noted = True
                    silent[name] = dict(quiet.groups)[name]
                if settled:
                    quiet = None
            if twins is not None:  # the first seconds of sound tell whether the channels are one
                twins.feed(data)
                if twins.settled(MIC_TWIN_CHECK_S, MIC_TWIN_MOST_S):
                    self._twin_notes(twins, f"Microphone {self.device_name}", self.n_channels, live=True)
                    # A check that ended on silence is made again at a resume in the session.
                    self.twins_checked = twins.conclusive(MIC_TWIN_CHECK_S)
                    twins = None
            n_frames = len(data)
            if first > expected:  # the callback dropped blocks: keep the clock honest with silence
                data = np.concatenate([np.zeros((first - expected, data.shape[1]), np.float32), data])
            expected = first + n_frames
            out = resampler(data)
            if len(out):
                yield SourceBlock(position, out, arrival)
                position += len(out)

    def close(self) -> None:
        if self._stream is not None:
            try:
                self._stream.stop()
                self._stream.close()
            except Exception:  # closing an unplugged device may fail; nothing left to save
                pass
            self._stream = None

    def metadata(self) -> dict:
        meta = super().metadata()
        meta.update(device=self.device, channels=self.channels, start_s=self.start_s)
        if self._stream is not None:
            meta.update(device_name=self.device_name, sample_rate_hz=self.rate, n_channels=self.n_channels)
        return meta
