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
