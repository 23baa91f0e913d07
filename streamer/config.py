"""Engine settings: one frozen dataclass, units in the field names."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from streamer.errors import ConfigError

SAMPLE_RATE_HZ = 16000
VAD_FRAME_MS_CHOICES = (10, 20, 30)  # the only frame lengths webrtcvad accepts
VAD_AGGRESSIVENESS_RANGE = (0, 3)
CROSSTALK_DB = 20.0  # EngineConfig.crosstalk_db's default (streamer/vad.py CrosstalkGate)
# A window or utterance with less speech than this (its speech ratio times its length;
# streamer/pipeline.py) is marked uncertain whatever the model's confidence. Measured on EmoDB
# (never trained on; 454 clips, a crop of each clip's speech, restricted to its six classes):
# results the model was confident about were right 34 % of the time on 0.25 s of speech, 40 % on
# 0.4 s, 49 % on 0.6 s, 56 % on 0.8 s, 64 % on 1 s and 71 % on 2 s, where those it was unsure about
# on 2 s were right 53 % of the time (model card; python -m training.short_speech). A 0.3-s file had
# come out "sad 100 %".
MIN_CONFIDENT_SPEECH_S = 0.8


@dataclass(frozen=True)
class EngineConfig:
    """Settings of the streaming engine.

    Attributes:
        window_s: Length of an analysis window.
        hop_s: Step between window starts inside a speech segment.
        vad_aggressiveness: webrtcvad mode, 0 (keeps most audio) to 3 (keeps least).
        vad_frame_ms: VAD frame length, 10, 20 or 30 ms.
        vad_onset_ms: Speech must last this long before a segment opens (rejects clicks).
        vad_offset_ms: Silence must last this long before a segment closes (bridges short pauses);
            the segment keeps this silence as its trailing padding, so it ends where the decision is made
            and its last results are not delayed.
        padding_ms: Audio kept before the first speech frame of a segment.
        min_speech_s: Segments shorter than this (after padding) are dropped.
        min_speech_ratio: Windows whose share of speech frames is below this are not analysed.
        max_batch_windows: Largest number of windows run through the model at once (on one CPU thread,
            batches of about 4 were fastest per window; larger ones fall out of cache).
        input_queue_blocks: Capacity of the queue between source and worker.
        result_queue_events: Soft capacity of the result queue; the worker waits when it is full.
        display_queue_events: Capacity of the audio/VAD display queue; the oldest are dropped.
        emit_audio: Whether to emit ``AudioBlock`` and ``VadFrames`` events (off for headless use).
        device: Torch device to load the model on (used by ``ser analyze``), ``auto`` picks CUDA when present.
        inference_threads: CPU threads torch may use while the engine runs (0 keeps torch's setting).
            One thread is the default: on a 2-core machine shared with audio and GUI threads (or other
            work), more threads contend and make each window many times slower.
        latency_history: Number of recent latencies kept for the percentiles in ``stats``.
        speech_gate: Analyse only windows that sound like speech at all (streamer/speechgate.py): the
            voice-activity detector also passes steady noise, hum, tones and music, which would
            otherwise get confident emotions.
        skip_tracks: Tracks whose audio is shown (``AudioBlock`` events) but never analysed: no VAD,
            no model, no results (the app's call-centre view leaves the agent's channel out so by
            default). Ignored for a source with one track.
        only_tracks: When given, the only tracks analysed: every other track of a source with
            several is shown but not analysed, as if in ``skip_tracks``, however many channels the
            file or device turns out to have (the app's call-centre view analyses the customer's).
        speaker_adaptation: Judge each track against its speaker's own average once about 10 s of
            their speech has been analysed (model/adaptation.py), for models trained for it
            (``speaker_norm`` or ``voice_emotion``); other models ignore it.
        background_nice: Run the engine's threads this much lower in the scheduler's priority (their
            nice value raised; Linux, where each thread has its own; 0 to 19, 0: as the caller). The app
            analyses a file at full speed in the background with 10: on 2 cores its window drew about
            3 frames a second while 20 minutes of speech were analysed, and about 25 with it, the
            analysis taking about 1.5 times as long (benchmarks/RESULTS.md). Live audio keeps 0 (the
            analysis must keep up with the microphone).
        crosstalk_db: With several tracks (a call on two channels), a stretch of one track that stays at
            least this many dB below another while that one is active, and follows it (or stays 10 dB
            further below it whatever it follows), is that track's voice leaking across and not speech
            (streamer/vad.py ``CrosstalkGate``). None: off.
    """

    window_s: float = 2.0
    hop_s: float = 0.5
    vad_aggressiveness: int = 2
    vad_frame_ms: int = 30
    vad_onset_ms: int = 90
    vad_offset_ms: int = 300
    padding_ms: int = 150
    min_speech_s: float = 0.3
    min_speech_ratio: float = 0.3
    max_batch_windows: int = 4
    input_queue_blocks: int = 64
    result_queue_events: int = 4096
    display_queue_events: int = 512
    emit_audio: bool = True
    device: str = "auto"
    inference_threads: int = 1
    latency_history: int = 2048
    speaker_adaptation: bool = True
    speech_gate: bool = True
    skip_tracks: tuple[int, ...] = ()
    only_tracks: tuple[int, ...] = ()
    crosstalk_db: float | None = CROSSTALK_DB
    background_nice: int = 0

    def __post_init__(self) -> None:
        for name in ("skip_tracks", "only_tracks"):
            object.__setattr__(self, name, tuple(int(t) for t in getattr(self, name)))
            if any(t < 0 for t in getattr(self, name)):
                raise ConfigError(f"{name} must name tracks by their index (0 or more).")
        if isinstance(self.background_nice, bool) or not isinstance(self.background_nice, int) \
                or not 0 <= self.background_nice <= 19:
            raise ConfigError(f"background_nice must be a whole number from 0 to 19, got {self.background_nice!r}.")
        if not self.window_s > 0 or not self.hop_s > 0:
            raise ConfigError(f"window_s ({self.window_s}) and hop_s ({self.hop_s}) must be positive.")
        if self.hop_s > self.window_s:
            raise ConfigError(f"hop_s ({self.hop_s}) must not exceed window_s ({self.window_s}); windows would leave gaps.")
        lo, hi = VAD_AGGRESSIVENESS_RANGE
        if not lo <= self.vad_aggressiveness <= hi:
            raise ConfigError(f"vad_aggressiveness must be between {lo} and {hi}, got {self.vad_aggressiveness}.")
        if self.vad_frame_ms not in VAD_FRAME_MS_CHOICES:
            raise ConfigError(f"vad_frame_ms must be one of {VAD_FRAME_MS_CHOICES}, got {self.vad_frame_ms}.")
        for name in ("vad_onset_ms", "vad_offset_ms", "padding_ms"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must not be negative.")
        if not 0.0 <= self.min_speech_ratio <= 1.0:
            raise ConfigError(f"min_speech_ratio must be between 0 and 1, got {self.min_speech_ratio}.")
        if self.inference_threads < 0:
            raise ConfigError("inference_threads must not be negative (0 keeps torch's setting).")
        if self.min_speech_s < 0:
            raise ConfigError("min_speech_s must not be negative.")
        if self.crosstalk_db is not None and not (math.isfinite(self.crosstalk_db) and self.crosstalk_db > 0):
            raise ConfigError(f"crosstalk_db must be a positive number of dB (or None: off), got {self.crosstalk_db}.")
        for name in ("max_batch_windows", "input_queue_blocks", "result_queue_events", "display_queue_events",
                     "latency_history"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1.")

    # Lengths in samples at the engine rate; the pipeline works in samples only.
    @property
    def window_samples(self) -> int:
        return int(round(self.window_s * SAMPLE_RATE_HZ))

    @property
    def hop_samples(self) -> int:
        return max(1, int(round(self.hop_s * SAMPLE_RATE_HZ)))

    @property
    def vad_frame_samples(self) -> int:
        return SAMPLE_RATE_HZ * self.vad_frame_ms // 1000

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["skip_tracks"] = list(self.skip_tracks)  # as JSON gives it back
        data["only_tracks"] = list(self.only_tracks)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> EngineConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


CROSSTALK_HELP = (f"with --channels split: a channel that stays at least this many dB below another while that "
                  f"one is active, and follows it (a copy of its sound, scaled down), or stays 10 dB further below "
                  f"it whatever it follows, is taken for that side's voice leaking across (sidetone, crosstalk), "
                  f"not speech (default: {CROSSTALK_DB:g}); 0 turns this off (e.g. two microphones on one speaker)")
WINDOW_HELP = ("analysis window in seconds (default: the model's, 2 s for the bundled one); a window holding "
               f"less than {MIN_CONFIDENT_SPEECH_S:g} s of speech is always marked uncertain")


def crosstalk_setting(db: float) -> float | None:
    """``--crosstalk DB`` as ``EngineConfig.crosstalk_db``: 0 turns the gate off; a negative number,
    infinity or NaN is refused."""
    if not (math.isfinite(db) and db >= 0):
        raise ConfigError(f"--crosstalk must be a number of dB (0 turns it off), got {db:g}.")
    return None if db == 0 else float(db)


def analysis_window(window_s: float | None, hop_s: float | None, model_window_s: float,
                    model_hop_s: float, min_window_s: float = 0.0) -> tuple[float, float]:
    """The window and hop a command analyses with: ``--window``/``--hop`` as given (None: the
    model's). Raises :class:`ConfigError` in the options' own terms for 0 or less (which must not
    quietly mean "the model's"), for a window shorter than ``min_window_s`` (the model's shortest)
    and for a hop longer than the window."""
    for flag, value in (("--window", window_s), ("--hop", hop_s)):
        if value is not None and not value > 0:
            raise ConfigError(f"{flag} must be a positive number of seconds, got {value:g}.")
    window = window_s if window_s is not None else model_window_s
    hop = hop_s if hop_s is not None else model_hop_s
    if window < min_window_s:
        raise ConfigError(f"--window ({window:g} s) is shorter than the model can analyse; give at least "
                          f"{min_window_s:g} s.")
    if hop > window:
        hop_from = "--hop" if hop_s is not None else "the model's hop"
        window_from = "--window" if window_s is not None else "the model's window"
        raise ConfigError(f"{hop_from} ({hop:g} s) must not exceed {window_from} ({window:g} s): windows would "
                          "leave gaps; give a smaller --hop or a larger --window.")
    return window, hop
