"""Sound output during a replay (the monitor): it reaches the sound server intact, does not change the
analysis, is silent at other speeds, and a missing output device is a non-fatal error event."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from streamer_helpers import REPO_ROOT, SAMPLE_RATE_HZ, StubPredictor, subprocess_env, write_audio

import streamer.monitor as monitor_module
import streamer.portaudio as portaudio
from streamer import DeviceError, Engine, EngineConfig, EngineError, FileSource, WindowResult, analyze_waveform
from streamer.monitor import AudioMonitor

CLIENT_TIMEOUT_S = 120
LEAD_SILENCE_S = 0.5
GAP_S = 0.5
PROBE_S = 0.2  # stretches of speech looked for in the recording
PROBE_EVERY_S = 0.5
MIN_PROBE_CORRELATION = 0.95  # the recorded waveform is the played one (resampled twice on the way)
LAG_TOLERANCE_S = 0.005  # every stretch at the same lag: nothing dropped or repeated in between
PROBABILITY_TOLERANCE = 1e-4
MISSING_DEVICE = "no such device"
FRAME_S = 0.02  # loudness is judged in frames of this length
SPEECH_RMS = 3e-3  # a frame this loud is speech
SILENCE_RMS = 1e-3
STOP_SPEECH_S = 0.1  # stop inside speech that has lasted this long, so sound after the stop would show
STOP_AFTER_S = 1.0  # stop no earlier, so there is speech before the stop to find in the recording
HEARD_BEFORE_STOP_S = 0.35  # speech this long before the stop has surely been played
STOP_MARGIN_S = 0.03  # the sound output must end at least this long before the analysis position
JOIN_TIMEOUT_S = 30.0


def _speech(speech_paths) -> np.ndarray:
    from model.audio import load_mono_16k

    def silence(s):
        return np.zeros(int(s * SAMPLE_RATE_HZ), np.float32)

    return np.concatenate([silence(LEAD_SILENCE_S), load_mono_16k(speech_paths[0]), silence(GAP_S),
                           load_mono_16k(speech_paths[3]), silence(GAP_S)])


def _run_client(pulse_server, model, wav, out, device, record, *extra) -> dict:
    proc = subprocess.run([sys.executable, str(Path(__file__).with_name("monitor_client.py")), str(model), str(wav),
                           str(out), device, str(record), *map(str, extra)], env=subprocess_env(pulse_server.env),
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=CLIENT_TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr
    return json.loads(Path(out).read_text())


def _assert_same_results(events: list[dict], audio: np.ndarray, predictor) -> None:
    """The results of the replay equal one offline call on the same audio (streaming equals offline)."""
    expected = [e for e in analyze_waveform(audio, predictor) if isinstance(e, WindowResult)]
    got = [WindowResult.from_dict(e) for e in events if e["type"] == "result"]
    assert len(expected) >= 2 and len(got) == len(expected), (got, expected)
    for g, e in zip(got, expected, strict=True):
        assert (g.kind, g.start_s, g.end_s) == (e.kind, e.start_s, e.end_s)
        for label, p in e.probabilities.items():
            assert abs(g.probabilities[label] - p) < PROBABILITY_TOLERANCE, (g, e)


def _lag_of(recorded: np.ndarray, probe: np.ndarray) -> tuple[int, float]:
    """Where ``probe`` sits in ``recorded`` (samples) and the normalised correlation there."""
    n = 1 << int(np.ceil(np.log2(len(recorded) + len(probe))))
    corr = np.fft.irfft(np.fft.rfft(recorded, n) * np.conj(np.fft.rfft(probe, n)), n)[:len(recorded) - len(probe) + 1]
    j = int(np.argmax(corr))
    norm = np.linalg.norm(probe) * np.linalg.norm(recorded[j:j + len(probe)])
    return j, float(corr[j] / norm) if norm > 0 else 0.0


def test_replay_sound_reaches_the_sink_and_leaves_the_results_unchanged(pulse_server, speech_paths, predictor,
                                                                        tiny_model_path, tmp_path):
    audio = _speech(speech_paths)
    wav = write_audio(tmp_path / "play.wav", audio, subtype="FLOAT")
    got = _run_client(pulse_server, tiny_model_path, wav, tmp_path / "out.json", "-", tmp_path / "rec.wav")

    assert not [e for e in got["events"] if e["type"] == "error"], got["events"]
    assert got["events"][-1]["type"] == "finished"
    _assert_same_results(got["events"], audio, predictor)
    assert "ALSA Playback" in got["sink_inputs"] or "python" in got["sink_inputs"], got["sink_inputs"]

    stats, rate = got["stats"], got["monitor_rate_hz"]
    duration_s = len(audio) / SAMPLE_RATE_HZ
    assert rate > 0 and abs(stats["monitor_frames_played"] / rate - duration_s) < PROBE_S, stats
    assert stats["monitor_dropped_blocks"] == 0 and stats["monitor_underflows"] >= 0

    recorded, rec_rate = sf.read(tmp_path / "rec.wav", dtype="float32")
    assert rec_rate == SAMPLE_RATE_HZ and got["recorder_status"] is not None
    lags = []
    for start_s in np.arange(LEAD_SILENCE_S, duration_s - PROBE_S, PROBE_EVERY_S):
        i = int(start_s * SAMPLE_RATE_HZ)
        probe = audio[i:i + int(PROBE_S * SAMPLE_RATE_HZ)]
        if np.sqrt(np.mean(np.square(probe))) < 1e-3:
            continue  # silence matches anywhere
        j, corr = _lag_of(recorded, probe)
        assert corr > MIN_PROBE_CORRELATION, (start_s, corr)
        lags.append((j - i) / SAMPLE_RATE_HZ)
    assert len(lags) >= 4 and max(lags) - min(lags) < LAG_TOLERANCE_S, lags


def _frame_rms(x: np.ndarray) -> np.ndarray:
    n = int(FRAME_S * SAMPLE_RATE_HZ)
    k = len(x) // n
    return np.sqrt(np.mean(np.square(x[:k * n].reshape(k, n)), axis=1))


def test_stopping_a_replay_stops_the_sound_at_once(pulse_server, speech_paths, tiny_model_path, tmp_path):
    """A pause or seek stops the engine: no sound reaches the sink after that (the output is closed, not
    left playing). That queued audio is dropped rather than played is checked with a fake device below."""
    audio = _speech(speech_paths)
    loud = _frame_rms(audio) > SPEECH_RMS
    run = int(STOP_SPEECH_S / FRAME_S)
    first = int(STOP_AFTER_S / FRAME_S)
    frame = next(i for i in range(first, len(loud)) if loud[i - run:i].all())
    stop_s = frame * FRAME_S
    probe_n = int(PROBE_S * SAMPLE_RATE_HZ)
    probe_at = int(np.argmax([np.sum(np.square(audio[k:k + probe_n]))
                              for k in range(0, int((stop_s - HEARD_BEFORE_STOP_S) * SAMPLE_RATE_HZ) - probe_n, 160)]))
    probe_at *= 160
    wav = write_audio(tmp_path / "play.wav", audio, subtype="FLOAT")
    got = _run_client(pulse_server, tiny_model_path, wav, tmp_path / "out.json", "-", tmp_path / "rec.wav", stop_s)

    stopped_at = got["stopped_at"]  # the analysis position when the engine stopped (samples)
    assert stopped_at is not None and stopped_at >= int(stop_s * SAMPLE_RATE_HZ)
    recorded, _ = sf.read(tmp_path / "rec.wav", dtype="float32")
    j, corr = _lag_of(recorded, audio[probe_at:probe_at + probe_n])
    assert corr > MIN_PROBE_CORRELATION  # the speech before the stop was heard
    after = recorded[j - probe_at + stopped_at - int(STOP_MARGIN_S * SAMPLE_RATE_HZ):]
    assert len(after) == 0 or _frame_rms(after).max(initial=0.0) < SILENCE_RMS


def test_missing_output_device_is_a_non_fatal_error_and_the_replay_finishes(pulse_server, speech_paths, predictor,
                                                                            tiny_model_path, tmp_path):
    audio = _speech(speech_paths)
    wav = write_audio(tmp_path / "play.wav", audio, subtype="FLOAT")
    got = _run_client(pulse_server, tiny_model_path, wav, tmp_path / "out.json", MISSING_DEVICE,
                      tmp_path / "rec.wav")

    errors = [e for e in got["events"] if e["type"] == "error"]
    assert len(errors) == 1 and not errors[0]["fatal"], errors
    message = errors[0]["message"]
    assert repr(MISSING_DEVICE) in message and "not found" in message and "without sound" in message
    assert got["events"][-1]["type"] == "finished"
    _assert_same_results(got["events"], audio, predictor)
    assert got["stats"]["monitor_frames_played"] == 0


# -- without a sound server ---------------------------------------------------------------------------
class FakeOutputStream:
    """Stands in for ``sounddevice.OutputStream``: the test calls the monitor's callback itself."""

    latency = 0.0

    def __init__(self, callback=None, **kwargs):
        self.callback, self.kwargs = callback, kwargs
        self.active = False
        self.aborted = False

    def start(self):
        self.active = True
        block = self.kwargs["blocksize"]
        for _ in range(2):  # a device asks for audio at once: the monitor is running (nothing queued yet)
            buf = np.full((block, 1), np.nan, np.float32)
            self.callback(buf, block, None, Status())
            assert not buf.any()

    def abort(self):
        self.active, self.aborted = False, True

    def close(self):
        pass


class FakeSoundDevice:
    """Just enough of ``sounddevice`` for :class:`AudioMonitor`: one mono output device at 16 kHz."""

    PortAudioError = RuntimeError

    def __init__(self):
        self.streams: list[FakeOutputStream] = []

    def query_devices(self, device, kind):
        if device not in (None, "fake"):
            raise ValueError(f"No {kind} device matching {device!r}")
        return {"name": "fake out", "max_output_channels": 1, "default_samplerate": float(SAMPLE_RATE_HZ)}

    def OutputStream(self, **kwargs):  # noqa: N802 - mirrors sounddevice's class
        stream = FakeOutputStream(**kwargs)
        self.streams.append(stream)
        return stream


class Status:
    output_underflow = False


@pytest.fixture
def fake_sd(monkeypatch):
    sd = FakeSoundDevice()
    monkeypatch.setattr(portaudio, "import_sounddevice", lambda: sd)
    return sd


def _play(monitor: AudioMonitor, n_callbacks: int) -> np.ndarray:
    stream = monitor._stream
    block = stream.kwargs["blocksize"]
    out = []
    for _ in range(n_callbacks):
        buf = np.full((block, 1), np.nan, np.float32)
        stream.callback(buf, block, None, Status())
        out.append(buf[:, 0])
    return np.concatenate(out)


def test_monitor_callback_plays_queued_audio_in_order_and_counts_underflows(fake_sd):
    monitor = AudioMonitor("fake")
    monitor.open(SAMPLE_RATE_HZ, 1)
    block = fake_sd.streams[0].kwargs["blocksize"]
    audio = np.random.default_rng(0).uniform(-0.5, 0.5, (10 * block + 7, 1)).astype(np.float32)
    assert not _play(monitor, 2).any()  # nothing queued yet: silence, not an underflow
    assert monitor.underflows == 0
    for i in range(0, len(audio), 100):  # pushed in odd pieces, as file blocks come
        monitor.push(audio[i:i + 100])
    played = _play(monitor, 10)
    np.testing.assert_array_equal(played, audio[:10 * block, 0])
    assert monitor.frames_played == 10 * block
    assert not _play(monitor, 1).any() and monitor.underflows == 1  # ran dry mid-replay: silence, counted
    monitor.push(np.zeros((0, 1), np.float32), last=True)  # the last 7 frames, padded with silence
    tail = _play(monitor, 2)
    np.testing.assert_array_equal(tail[:7], audio[10 * block:, 0])
    assert not tail[7:].any() and monitor.underflows == 1  # the end of the file is no underflow


def test_monitor_queue_is_bounded_and_silence_and_close_stop_the_sound_at_once(fake_sd):
    monitor = AudioMonitor()
    monitor.open(SAMPLE_RATE_HZ, 1)
    block = fake_sd.streams[0].kwargs["blocksize"]
    max_blocks = int(round(monitor_module.MONITOR_QUEUE_S / monitor_module.MONITOR_BLOCK_S))
    monitor.push(np.ones((block * (max_blocks + 3), 1), np.float32))
    assert len(monitor._queue) == max_blocks and monitor.dropped_blocks == 3
    assert _play(monitor, 1).all()
    monitor.silence()
    assert not _play(monitor, 1).any()
    monitor.close()
    assert fake_sd.streams[0].aborted and not monitor._queue


class Underflow:
    output_underflow = True


def test_monitor_counts_the_devices_underflows_only_while_it_holds_audio(fake_sd):
    """A device that runs dry on starting (before any audio) is no gap in the sound; once it holds the
    file's audio it is."""
    monitor = AudioMonitor()
    monitor.open(SAMPLE_RATE_HZ, 1)
    block = fake_sd.streams[0].kwargs["blocksize"]
    buf = np.zeros((block, 1), np.float32)
    monitor._callback(buf, block, None, Underflow())
    assert monitor.underflows == 0
    monitor.push(np.ones((block * 10, 1), np.float32))
    assert _play(monitor, 1).all()
    monitor._callback(buf, block, None, Underflow())
    assert buf.all() and monitor.underflows == 1


def test_monitor_drain_waits_until_the_device_played_the_end(fake_sd):
    """``close`` discards what the device still holds, so the end of a file is heard only if ``drain``
    waits until the device has asked for its buffer's worth of silence after the last audio."""
    monitor = AudioMonitor()
    monitor.open(SAMPLE_RATE_HZ, 1)
    block = fake_sd.streams[0].kwargs["blocksize"]
    monitor.push(np.ones((block * 6 + 7, 1), np.float32), last=True)
    drained = threading.Event()
    thread = threading.Thread(target=lambda: (monitor.drain(threading.Event()), drained.set()))
    thread.start()
    _play(monitor, 7)  # all the audio, the last 7 frames padded with silence
    assert not monitor._queue and not drained.wait(3 * monitor_module.MONITOR_BLOCK_S)
    n_silent = -(-monitor._buffer_frames // block)
    assert not _play(monitor, n_silent).any()
    assert drained.wait(JOIN_TIMEOUT_S)
    thread.join(JOIN_TIMEOUT_S)


def test_file_source_hands_the_monitor_its_audio_ahead_of_the_analysis(speech_wav, fake_sd, monkeypatch):
    """The sound output gets each block MONITOR_LEAD_S before the analysis does (so that its queue
    outlasts a stall of the source thread), and the analysis still gets all of the file, in order."""
    pushed = []
    monkeypatch.setattr(AudioMonitor, "push", lambda self, data, last=False: pushed.append(len(data)))
    src = FileSource(speech_wav, pace="realtime", monitor=True)
    src.open()
    lead = int(round(monitor_module.MONITOR_LEAD_S * SAMPLE_RATE_HZ))
    ahead, got, stop = [], [], threading.Event()
    for b in src.blocks(stop):
        got.append(b.data)
        ahead.append(sum(pushed) - (b.start + len(b.data)))  # the file is 16 kHz: frames are samples
        if len(got) * len(b.data) >= 2 * lead:
            stop.set()
    src.close()
    assert all(abs(a - lead) <= len(got[0]) for a in ahead), ahead  # to a block
    audio, _ = sf.read(speech_wav, dtype="float32")
    np.testing.assert_array_equal(np.concatenate(got)[:, 0], audio[:sum(len(g) for g in got)])


def test_monitor_plays_only_real_time_replays_at_1x(speech_wav, fake_sd):
    for kwargs, audible in (({"pace": "realtime"}, True), ({"pace": "realtime", "speed": 2.0}, False),
                            ({"pace": "realtime", "speed": 0.5}, False), ({"pace": "fast"}, False)):
        src = FileSource(speech_wav, monitor=True, **kwargs)
        assert src.monitor_audible == audible
    src = FileSource(speech_wav, pace="fast", monitor=True)
    src.open()
    assert sum(len(b.data) for b in src.blocks(threading.Event())) > 0
    src.close()
    assert src.monitor_output is None and not fake_sd.streams  # no device opened for a silent speed


def test_engine_reports_a_failed_output_as_it_happens_and_keeps_analysing(speech_wav, monkeypatch):
    """An output device that cannot be opened: one non-fatal error event, long before the end, and the
    same results as without sound."""

    def fail(self, rate_in, n_channels, stop=None):
        raise DeviceError(f"sound output device {self.device_label} not found (test).")

    monkeypatch.setattr(AudioMonitor, "open", fail)
    src = FileSource(speech_wav, pace="realtime", speed=1.0, monitor=True, monitor_device="gone")
    monkeypatch.setattr(src, "speed", 8.0)  # pace quickly, but keep the monitor meant to play
    monkeypatch.setattr(FileSource, "monitor_audible", property(lambda self: True))
    engine = Engine(StubPredictor(), EngineConfig(emit_audio=False))
    engine.start(src)
    assert engine.wait(JOIN_TIMEOUT_S)
    engine.stop()
    events = engine.poll()
    errors = [i for i, e in enumerate(events) if isinstance(e, EngineError)]
    assert len(errors) == 1 and not events[errors[0]].fatal and "'gone'" in events[errors[0]].message
    assert errors[0] < len(events) - 2  # reported when it happened, not with the end
    assert any(isinstance(e, WindowResult) for e in events[errors[0]:])
    assert engine.stats.errors == 1


def test_microphone_start_s_moves_the_sample_clock():
    from streamer import ConfigError, MicrophoneSource

    assert MicrophoneSource(device="x", start_s=12.5).start_sample == int(12.5 * SAMPLE_RATE_HZ)
    with pytest.raises(ConfigError):
        MicrophoneSource(device="x", start_s=-1.0)
