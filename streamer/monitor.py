"""Sound output for replays: plays a file's audio through an output device while the engine
analyses it (``FileSource(monitor=True)``). Sound is optional: a failing device never stops the
analysis (the source reports it as a notice)."""

from __future__ import annotations

import threading
import time
from collections import deque

import numpy as np

from streamer import portaudio
from streamer.buffers import StreamResampler
from streamer.errors import DeviceError

# What to do when the sound output is not found, on the command line (the app gives its own words).
OUTPUT_ADVICE = "Choose another output device (`python -m sounddevice` lists them) or turn the sound off."

MONITOR_SPEED = 1.0  # the only replay speed at which the monitor plays (see AudioMonitor)
MONITOR_BLOCK_S = 0.02  # audio per output callback
MONITOR_QUEUE_S = 0.5  # bound of the audio waiting for the output callback
MONITOR_PRIME_S = 0.1  # audio queued before playing starts (and again after an underflow): absorbs jitter
MONITOR_START_TIMEOUT_S = 3.0  # longest wait for an opened output to play (ALSA via PulseAudio: 1-2 s)
# The output callback is Python: it waits while another thread of the process holds the GIL, and the
# analysis does so for 0.1-0.15 s at times (a full garbage collection, a first import). Two reserves
# ride that out. The device holds MONITOR_LATENCY_S: one that runs dry underruns, and through ALSA's
# PulseAudio plugin an underrun reconnects the stream, which then pauses 1-2 s as on opening (over a
# second of the file lost); PortAudio's default (35 ms for ALSA's default device) outlasts no such
# stall. The queue holds MONITOR_LEAD_S, which the source hands over ahead of the analysis, so that the
# callback finds audio after a stall of the source thread too; being ahead, it adds no lag.
MONITOR_LATENCY_S = 0.25
MONITOR_LEAD_S = 0.3
MONITOR_MAX_CHANNELS = 2  # mono and stereo files play as they are; more channels are mixed to mono


class AudioMonitor:
    """Plays replayed audio through an output device while it is analysed.

    The source thread :meth:`push`-es native-rate blocks as they fall due; they are mixed (or kept
    stereo), resampled to the device's rate and cut into callback-sized blocks in a bounded queue.
    The output callback only copies one block out, or silence when none is queued (an underflow,
    counted; playing then waits for a little audio again). :meth:`silence` mutes at once from any
    thread; :meth:`close` discards what is still queued.

    Args:
        device: None for the default output, a device index, or (part of) a device name.
    """

    def __init__(self, device: int | str | None = None):
        self.device = device
        self.device_name: str | None = None
        self.rate = 0
        self.channels = 0
        self.frames_played = 0  # device frames of audio (not silence) handed to the device
        self.underflows = 0  # callbacks that found no audio queued, or the device's underflows while playing it
        self.dropped_blocks = 0  # blocks the bounded queue had no room for (device slower than the clock)
        self._queue: deque[np.ndarray] = deque()  # append/popleft are atomic: the callback takes no lock
        self._stream = None
        self._muted = False
        self._playing = False
        self._finished = False
        self._running = threading.Event()  # set by the callback once the device asks for audio steadily
        self._requested = 0  # frames the device asked for so far
        self._buffer_frames = 0  # at most what the device holds: it asks for that much at once on starting
        self._silence_since_audio = 0  # frames of silence the device asked for since the last audio
        self._carry = np.zeros((0, 1), np.float32)

    @property
    def device_label(self) -> str:
        return repr(self.device_name) if self.device_name else \
            ("(default)" if self.device is None else repr(self.device))

    def open(self, rate_in: int, n_channels: int, stop: threading.Event | None = None) -> None:
        """Open and start the output stream for ``n_channels`` audio at ``rate_in`` Hz; returns when
        the device plays (or after ``MONITOR_START_TIMEOUT_S``, or when ``stop`` is set).

        Raises:
            DeviceError: the device is missing or cannot be opened, or PortAudio is absent.
        """
        sd = portaudio.import_sounddevice()
        with portaudio.opening():  # no rescan of the devices between reading them and the stream's opening
            self._open_stream(sd, rate_in, n_channels)
        # Outputs fill their buffer on starting and may then pause for a second or two (ALSA through
        # PulseAudio does); audio queued meanwhile would lag the analysis for the whole replay, so the
        # replay starts when the sound can.
        deadline = time.monotonic() + MONITOR_START_TIMEOUT_S
        while not self._running.wait(MONITOR_BLOCK_S) and time.monotonic() < deadline:
            if stop is not None and stop.is_set():
                break

    def _open_stream(self, sd, rate_in: int, n_channels: int) -> None:
        try:
            info = sd.query_devices(self.device, "output")
        except (ValueError, sd.PortAudioError) as exc:
            raise DeviceError(f"sound output device {self.device_label} not found ({exc}). {OUTPUT_ADVICE}") from exc
        self.device_name = info["name"]
        stereo = n_channels == MONITOR_MAX_CHANNELS and int(info["max_output_channels"]) >= MONITOR_MAX_CHANNELS
        self.channels = MONITOR_MAX_CHANNELS if stereo else 1
        self.rate = int(info["default_samplerate"])  # the device's own rate: some devices accept no other
        self._block = max(1, int(round(MONITOR_BLOCK_S * self.rate)))
        self._max_blocks = max(1, int(round(MONITOR_QUEUE_S / MONITOR_BLOCK_S)))
        self._prime_blocks = max(1, int(round(MONITOR_PRIME_S / MONITOR_BLOCK_S)))
        self._resampler = StreamResampler(rate_in, n_channels, "split" if stereo else "mix", rate_out=self.rate)
        self._carry = np.zeros((0, self.channels), np.float32)
        try:
            self._stream = sd.OutputStream(device=self.device, channels=self.channels, samplerate=self.rate,
                                           dtype="float32", blocksize=self._block, latency=MONITOR_LATENCY_S,
                                           callback=self._callback)
            portaudio.opened(self._stream)
            # The device's buffer is the latency PortAudio reports plus one host period (ALSA's buffers
            # have two to four periods): twice the latency and a block hold it, whatever latency was granted.
            self._buffer_frames = int(2 * self._stream.latency * self.rate) + self._block
            self._stream.start()
        except Exception as exc:  # sounddevice raises PortAudioError, but drivers vary
            self.close()
            raise DeviceError(f"cannot open sound output device {self.device_label} ({exc}); is it in use or "
                              f"unplugged? {OUTPUT_ADVICE}") from exc

    def _callback(self, outdata, frames, time_info, status) -> None:
        # Runs in PortAudio's thread: copy one block or silence, count, return. Nothing that can block or raise.
        if not self._running.is_set():
            self._requested += frames
            if self._requested > self._buffer_frames:
                self._running.set()
        if status.output_underflow and self.frames_played and self._silence_since_audio < self._buffer_frames:
            self.underflows += 1  # the device ran dry while it held the file's audio: a gap (not on starting)
        queued = self._queue
        if self._muted or not (self._playing or len(queued) >= self._prime_blocks or (self._finished and queued)):
            outdata.fill(0)
            self._silence_since_audio += frames
            return
        self._playing = True
        if not queued:
            outdata.fill(0)
            self._silence_since_audio += frames
            if not self._finished:
                self.underflows += 1
                self._playing = False  # gather a little audio again before playing on
            return
        block = queued.popleft()
        n = min(frames, len(block))
        outdata[:n] = block[:n]
        outdata[n:] = 0
        self.frames_played += n
        self._silence_since_audio = frames - n

    def push(self, data: np.ndarray, last: bool = False) -> None:
        """Queue native-rate ``(frames, channels)`` audio for playing (source thread).

        Raises:
            DeviceError: the output stream stopped (device unplugged or taken away).
        """
        if self._stream is None:
            return
        if not self._stream.active:
            raise DeviceError(f"sound output device {self.device_label} stopped playing (unplugged or taken by "
                              "another program?).")
        out = self._resampler(data, last=last)
        buf = np.concatenate([self._carry, out]) if len(self._carry) else out
        n_full = len(buf) // self._block
        for i in range(n_full):
            self._enqueue(buf[i * self._block:(i + 1) * self._block])
        self._carry = np.array(buf[n_full * self._block:])  # less than one block
        if last:
            if len(self._carry):
                self._enqueue(np.concatenate([self._carry, np.zeros((self._block - len(self._carry), self.channels),
                                                                    np.float32)]))
                self._carry = self._carry[:0]
            self._finished = True

    def _enqueue(self, block: np.ndarray) -> None:
        if len(self._queue) >= self._max_blocks:
            self.dropped_blocks += 1
        else:
            self._queue.append(np.ascontiguousarray(block, dtype=np.float32))

    def drain(self, stop: threading.Event) -> None:
        """Wait until the queued audio has been played: handed to the device, and then out of the device's
        buffer, which :meth:`close` discards (bounded; returns early on ``stop``)."""
        if self._stream is None:
            return
        deadline = time.monotonic() + MONITOR_QUEUE_S + MONITOR_PRIME_S + self._buffer_frames / self.rate
        while (self._queue or self._silence_since_audio < self._buffer_frames) and not self._muted \
                and not stop.is_set() and time.monotonic() < deadline:
            stop.wait(MONITOR_BLOCK_S)

    def silence(self) -> None:
        """Mute at once (from any thread): the next callback plays silence."""
        self._muted = True

    def close(self) -> None:
        """Stop playing, discarding what is queued (a pause or a seek must not keep sounding)."""
        stream, self._stream = self._stream, None
        self._queue.clear()
        if stream is not None:
            try:
                stream.abort()
                stream.close()
            except Exception:  # closing an unplugged device may fail; nothing left to play
                pass

    def stats(self) -> dict[str, int]:
        return {"monitor_frames_played": self.frames_played, "monitor_underflows": self.underflows,
                "monitor_dropped_blocks": self.dropped_blocks, "monitor_rate_hz": self.rate}
