"""The microphone source's callback and clock, with a fake stream (no PortAudio needed)."""

from __future__ import annotations

import queue
import threading

import numpy as np
import pytest

from streamer import DeviceError, MicrophoneSource

BLOCK = 320
SAMPLE_RATE_HZ = 16000


class FakeStream:
    """Stands in for ``sounddevice.InputStream``: the test calls the source's callback itself."""

    def __init__(self):
        self.active = False

    def start(self):
        self.active = True

    def stop(self):
        self.active = False

    def close(self):
        pass


class Status:
    def __init__(self, overflow: bool = False):
        self.input_overflow = overflow


def fake_microphone(queue_blocks: int) -> MicrophoneSource:
    src = MicrophoneSource(device="fake", stall_timeout_s=60.0)
    src._stream = FakeStream()
    src.rate, src.n_channels, src.device_name, src.track_names = SAMPLE_RATE_HZ, 1, "fake", ["mix"]
    src._queue = queue.Queue(maxsize=queue_blocks)
    return src


def block(value: float) -> np.ndarray:
    return np.full((BLOCK, 1), value, np.float32)


def test_callback_copies_counts_and_keeps_the_clock_through_drops():
    src = fake_microphone(queue_blocks=2)
    stop = threading.Event()
    blocks = src.blocks(stop)
    data = block(0.1)
    src._callback(data, BLOCK, None, Status())
    data[:] = 0.9  # PortAudio reuses its buffer: the queued block must be a copy
    src._callback(block(0.2), BLOCK, None, Status(overflow=True))
    src._callback(block(0.3), BLOCK, None, Status())  # the queue is full: dropped, counted
    assert (src.dropped_blocks, src.overflows) == (1, 1)
    first, second = next(blocks), next(blocks)
    assert first.start == 0 and np.allclose(first.data, 0.1)
    assert second.start == BLOCK and np.allclose(second.data, 0.2)
    src._callback(block(0.4), BLOCK, None, Status())
    third = next(blocks)
    # The dropped block's time is kept as silence, so later results stay on the device's clock.
    assert third.start == 2 * BLOCK and len(third.data) == 2 * BLOCK
    assert np.allclose(third.data[:BLOCK], 0.0) and np.allclose(third.data[BLOCK:], 0.4)
    stop.set()
    assert list(blocks) == []


def test_a_stream_that_stops_is_a_device_error():
    src = fake_microphone(queue_blocks=4)
    blocks = src.blocks(threading.Event())
    src._callback(block(0.1), BLOCK, None, Status())
    next(blocks)
    src._stream.active = False  # PortAudio ended the stream: the device is gone
    with pytest.raises(DeviceError, match="'fake' stopped delivering audio"):
        next(blocks)


def test_the_stall_clock_starts_when_the_stream_runs():
    """Starting a stream can take longer than the stall timeout (a busy machine, a sound server that
    has just started), and its first audio come a moment later: that is no stall. Silence after
    audio is."""
    import time

    src = fake_microphone(queue_blocks=4)

    class SlowStart(FakeStream):
        def start(self):
            time.sleep(1.2)
            super().start()
            # The first block 0.3 s after the start, after at least one empty poll of the queue.
            threading.Timer(0.3, src._callback, (block(0.1), BLOCK, None, Status())).start()

    src._stream, src.stall_timeout_s = SlowStart(), 1.0
    blocks = src.blocks(threading.Event())
    assert np.allclose(next(blocks).data, 0.1)
    t = time.monotonic()
    with pytest.raises(DeviceError, match="'fake' delivered no audio"):
        next(blocks)
    assert time.monotonic() - t >= 0.8


def test_unknown_device_is_a_clear_error(monkeypatch):
    import streamer.portaudio as portaudio

    class FakeSoundDevice:
        class PortAudioError(Exception):
            pass

        @staticmethod
        def query_devices(device, kind):
            raise ValueError(f"No input device matching {device!r}")

    monkeypatch.setattr(portaudio, "import_sounddevice", lambda: FakeSoundDevice)
    with pytest.raises(DeviceError, match="input device 'USB headset' not found.*ser devices"):
        MicrophoneSource(device="USB headset").open()


def _sound_device(max_input_channels: int, fail_open: bool = False):
    class FakeSoundDevice:
        class PortAudioError(Exception):
            pass

        opened: list[int] = []

        @staticmethod
        def query_devices(device, kind):
            return {"name": "pulse", "max_input_channels": max_input_channels, "default_samplerate": 44100.0}

        @classmethod
        def InputStream(cls, channels, **kwargs):  # noqa: N802 - sounddevice's name
            if fail_open:
                raise cls.PortAudioError("Error opening InputStream: Illegal combination of I/O devices [-9993]")
            cls.opened.append(channels)
            return FakeStream()

    return FakeSoundDevice


def test_split_channels_opens_the_channels_asked_for_and_says_when_there_are_too_few(monkeypatch):
    """ALSA's and PulseAudio's default devices offer 32 input channels: a call split in two opens two."""
    import streamer.portaudio as portaudio

    sd = _sound_device(32)
    monkeypatch.setattr(portaudio, "import_sounddevice", lambda: sd)
    src = MicrophoneSource(channels="split", input_channels=2, track_names=["Agent", "Customer"])
    src.open()
    assert sd.opened == [2] and src.n_channels == 2 and src.track_names == ["Agent", "Customer"]
    mono = _sound_device(1)
    monkeypatch.setattr(portaudio, "import_sounddevice", lambda: mono)
    with pytest.raises(DeviceError, match=r"'pulse' has 1 input channel; 2 are needed .* or mix them to one track"):
        MicrophoneSource(channels="split", input_channels=2).open()
    assert mono.opened == []


def test_a_device_that_does_not_open_says_what_to_do(monkeypatch):
    import streamer.portaudio as portaudio

    monkeypatch.setattr(portaudio, "import_sounddevice", lambda: _sound_device(2, fail_open=True))
    with pytest.raises(DeviceError) as err:
        MicrophoneSource().open()
    message = str(err.value)
    assert message.startswith("cannot open input device 'pulse': it may be unplugged, in use by another program")
    assert "Refresh the device list" in message and message.endswith("(PortAudio: Error opening InputStream: "
                                                                       "Illegal combination of I/O devices [-9993])")


def test_a_device_below_16_khz_is_said_once_a_session(monkeypatch):
    """A headset in its call mode runs at 8 kHz: its sound has nothing above 4 kHz, where the model
    listens. Said at the session's first start, not again at each resume; 16 kHz and more: nothing."""
    import streamer.portaudio as portaudio

    sd = _sound_device(1)
    monkeypatch.setattr(portaudio, "import_sounddevice", lambda: sd)

    def notes(rate: float, first_in_session: bool = True) -> list[str]:
        src = MicrophoneSource(samplerate=rate, first_in_session=first_in_session)
        src.open()
        assert src.twins_checked  # one channel: nothing to compare, so a resume says nothing again
        return [n for n in src.notices if "The model learnt from 16-kHz" in n]

    said = notes(8000)
    assert said == ["Microphone pulse: runs at 8000 Hz, so nothing above 4 kHz is in its sound (telephone band). The "
                    "model learnt from 16-kHz studio speech and was less accurate through a simulated telephone "
                    "line (the model card gives the figures): read its emotions with more caution."]
    assert not notes(8000, first_in_session=False)  # a resume of the session
    assert not notes(16000) and not notes(44100)
