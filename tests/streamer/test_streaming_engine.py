"""The threaded engine: file drivers, real-time pace, stop/flush, errors in the device and the worker, tracks."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from streamer_helpers import SAMPLE_RATE_HZ, StubPredictor, write_audio

from model.audio import load_mono_16k
from streamer import (
    AudioBlock,
    ConfigError,
    DeviceError,
    Engine,
    EngineConfig,
    EngineError,
    FileSource,
    SessionStore,
    Source,
    SourceBlock,
    SourceFinished,
    SpeechSegment,
    VadFrames,
    WindowResult,
    analyze_waveform,
)

RUN_TIMEOUT_S = 60.0
STOP_AT_S = 1.8
PROB_ATOL = 1e-5


def run_to_end(engine: Engine, source, timeout: float = RUN_TIMEOUT_S) -> list:
    engine.start(source)
    events = []
    deadline = time.monotonic() + timeout
    while not engine.wait(0.02):
        events += engine.poll()
        assert time.monotonic() < deadline, "engine did not finish"
    engine.stop()
    return events + engine.poll()


def results(events, kind=None):
    return [e for e in events if isinstance(e, WindowResult) and (kind is None or e.kind == kind)]


def test_file_source_through_threads_equals_offline(speech_16k, speech_wav, predictor):
    config = EngineConfig(emit_audio=False)
    offline = [e for e in analyze_waveform(speech_16k, predictor, config)]
    events = run_to_end(Engine(predictor, config), FileSource(speech_wav, block_frames=777))
    assert isinstance(events[-1], SourceFinished)
    got = [e for e in events if isinstance(e, (WindowResult, SpeechSegment))]
    assert [(type(e), e.start_s, e.end_s) for e in got] == [(type(e), e.start_s, e.end_s) for e in offline]
    for a, b in zip(results(got), results(offline), strict=True):
        np.testing.assert_allclose(list(a.probabilities.values()), list(b.probabilities.values()), atol=PROB_ATOL)
        assert set(a.gender) == {"female", "male"} and a.top_label in a.probabilities
        assert 0.0 <= a.speech_ratio <= 1.0 and a.latency_ms >= 0.0
    assert not any(isinstance(e, EngineError) for e in events)


def test_realtime_replay_keeps_pace_and_reports_latency(speech_16k, tmp_path, predictor):
    clip = speech_16k[: int(3.4 * SAMPLE_RATE_HZ)]  # the first clip and its trailing silence
    path = write_audio(tmp_path / "clip.wav", clip)
    speed = 2.0
    engine = Engine(predictor, EngineConfig())
    t0 = time.monotonic()
    events = run_to_end(engine, FileSource(path, pace="realtime", speed=speed))
    elapsed = time.monotonic() - t0
    assert elapsed >= 0.9 * len(clip) / SAMPLE_RATE_HZ / speed
    blocks = [e for e in events if isinstance(e, AudioBlock)]
    starts = [b.start_s for b in blocks]
    assert starts == sorted(starts) and sum(len(b.samples) for b in blocks) == len(clip)
    assert any(isinstance(e, VadFrames) for e in events)
    res = results(events)
    assert res and all(0.0 <= r.latency_ms < 2000.0 for r in res)
    stats = engine.stats
    assert stats.samples_processed == {0: len(clip)} and "p95" in stats.latency_ms
    assert stats.windows + stats.utterances == len(res)


def test_stop_flushes_the_open_segment(speech_wav, predictor):
    engine = Engine(predictor, EngineConfig(emit_audio=False))
    engine.start(FileSource(speech_wav, pace="realtime", speed=1.0))
    # Stop inside the first clip's speech (about 0.8 s to 2.4 s), going by the sample clock.
    deadline = time.monotonic() + RUN_TIMEOUT_S
    events = []
    while engine.stats.samples_processed.get(0, 0) < STOP_AT_S * SAMPLE_RATE_HZ:
        events += engine.poll()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    engine.stop()
    assert not engine.running
    events += engine.poll()
    segments = [e for e in events if isinstance(e, SpeechSegment)]
    assert len(segments) == 1 and segments[0].end_s < 3.0
    assert results(events, "utterance")
    assert isinstance(events[-1], SourceFinished)


class FailingSource(Source):
    """Speech for a while, then the device disappears (as an unplugged USB microphone)."""

    def __init__(self, audio: np.ndarray, fail_at_s: float, block: int = 1600):
        super().__init__()
        self.audio, self.fail_at, self.block = audio, int(fail_at_s * SAMPLE_RATE_HZ), block
        self.track_names = ["mic"]
        self.description = "fake microphone"
        self.closed = False

    def open(self) -> None:
        pass

    def blocks(self, stop: threading.Event):
        for start in range(0, self.fail_at, self.block):
            yield SourceBlock(start, self.audio[start:start + self.block, None], time.monotonic())
        raise DeviceError("input device 'fake microphone' stopped delivering audio (unplugged?).")

    def close(self) -> None:
        self.closed = True


def test_device_error_mid_stream_keeps_what_was_found(speech_16k, predictor, tmp_path):
    session = SessionStore.create(tmp_path / "s.jsonl", {"test": "device error"})
    source = FailingSource(speech_16k, fail_at_s=5.0)
    engine = Engine(predictor, EngineConfig(emit_audio=False), session=session)
    events = run_to_end(engine, source)
    errors = [e for e in events if isinstance(e, EngineError)]
    assert len(errors) == 1 and errors[0].fatal and "unplugged" in errors[0].message
    assert source.closed and isinstance(events[-1], SourceFinished)
    segments = [e for e in events if isinstance(e, SpeechSegment)]
    assert len(segments) == 2 and segments[-1].end_s <= 5.0  # the second clip was cut by the failure
    reopened = SessionStore.open(tmp_path / "s.jsonl")
    assert reopened.results == results(events) and reopened.segments == segments
    assert reopened.errors == [errors[0].message] and reopened.ended is not None


def test_worker_error_becomes_an_error_event(speech_wav):
    engine = Engine(StubPredictor(fail_after=0), EngineConfig(emit_audio=False))
    events = run_to_end(engine, FileSource(speech_wav, block_frames=1600))
    errors = [e for e in events if isinstance(e, EngineError)]
    assert errors and errors[0].fatal and "stub model failure" in errors[0].message
    assert not engine.running


def test_split_channels_make_one_track_each(speech_paths, tmp_path, stub_predictor):
    n = int(3.4 * SAMPLE_RATE_HZ)
    # Each channel one clip and the rest of 3.4 s silent (not a cut through speech_16k, whose next
    # clip's room tone begins 11 ms before 3.4 s: a sound of its own on the left channel).
    gap = np.zeros(n, np.float32)
    left, right = (np.concatenate([load_mono_16k(p), gap])[:n] for p in speech_paths[:2])
    silence = np.zeros(n, np.float32)
    stereo = np.stack([np.concatenate([left, silence]), np.concatenate([silence, right])], axis=1)
    path = write_audio(tmp_path / "call.wav", stereo)
    events = run_to_end(Engine(stub_predictor, EngineConfig(emit_audio=False)),
                        FileSource(path, channels="split", track_names=["Agent", "Customer"]))
    segments = [e for e in events if isinstance(e, SpeechSegment)]
    assert [(s.track, s.track_name) for s in segments] == [(0, "Agent"), (1, "Customer")]
    # Each segment within its clip, give or take the padding before the first speech frame.
    pad_s = EngineConfig().padding_ms / 1000
    assert segments[0].end_s < n / SAMPLE_RATE_HZ - pad_s < segments[1].start_s
    mixed = run_to_end(Engine(stub_predictor, EngineConfig(emit_audio=False)), FileSource(path))
    assert {e.track_name for e in mixed if isinstance(e, SpeechSegment)} == {"mix"}


@pytest.mark.parametrize("crosstalk_db", [20.0, None])
def test_the_agents_voice_leaking_into_the_customers_channel_is_left_out(speech_paths, tmp_path, stub_predictor,
                                                                        crosstalk_db):
    """The same call with each side heard 30 dB down on the other's channel: with the gate (the
    default), the customer's segments are where the customer talks, as in the call without leakage;
    without it, the agent's turns gave the customer segments of their own."""
    n = int(3.4 * SAMPLE_RATE_HZ)
    gap = np.zeros(n, np.float32)
    agent, customer = (np.concatenate([load_mono_16k(p), gap])[:n] for p in speech_paths[:2])
    silence = np.zeros(n, np.float32)
    left = np.concatenate([agent, silence, agent, silence])
    right = np.concatenate([silence, customer, silence, customer])
    leak = np.float32(10 ** (-30 / 20))
    noise = (np.random.default_rng(7).standard_normal((2, len(left))) * 10 ** (-85 / 20)).astype(np.float32)
    path = write_audio(tmp_path / "leaky.wav", np.stack([left + leak * right + noise[0],
                                                        right + leak * left + noise[1]], axis=1))
    config = EngineConfig(emit_audio=False, crosstalk_db=crosstalk_db, skip_tracks=(0,))
    events = run_to_end(Engine(stub_predictor, config), FileSource(path, channels="split",
                                                                  track_names=["Agent", "Customer"]))
    customer_segments = [(s.start_s, s.end_s) for s in events if isinstance(s, SpeechSegment) and s.track == 1]
    in_agent_turns = [(a, b) for a, b in customer_segments if int(a * SAMPLE_RATE_HZ) // n % 2 == 0
                      and int(b * SAMPLE_RATE_HZ) // n % 2 == 0]
    if crosstalk_db is None:
        assert in_agent_turns
    else:
        assert not in_agent_turns and len(customer_segments) == 2


def test_display_events_drop_oldest_when_the_consumer_is_slow(speech_wav, stub_predictor):
    capacity = 4
    engine = Engine(stub_predictor, EngineConfig(display_queue_events=capacity))
    engine.start(FileSource(speech_wav, block_frames=1600))
    assert engine.wait(RUN_TIMEOUT_S)  # a consumer that did not poll at all
    engine.stop()
    events = engine.poll()
    shown = [e for e in events if isinstance(e, (AudioBlock, VadFrames))]
    assert len(shown) <= capacity
    assert engine.stats.dropped_display_events > 0
    assert results(events, "utterance"), "results are never dropped"


def test_poll_respects_max_events(speech_wav, stub_predictor):
    engine = Engine(stub_predictor, EngineConfig())
    engine.start(FileSource(speech_wav))
    assert engine.wait(RUN_TIMEOUT_S)
    assert len(engine.poll(max_events=3)) == 3
    engine.stop()


def test_background_nice_lowers_the_engines_threads_only(speech_wav, stub_predictor):
    """The app analyses a file at full speed with its threads at a lower priority, so that its window
    keeps drawing (EngineConfig.background_nice); the caller's thread keeps its own. The same results."""
    import os
    import sys

    if not sys.platform.startswith("linux"):
        pytest.skip("per-thread priorities are Linux's")  # the product's CI and targets run Linux
    seen: dict[str, int] = {}
    caller = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    class Watching(StubPredictor):
        def predict_batch(self, waveforms, segments=None):
            seen[threading.current_thread().name] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
            return super().predict_batch(waveforms, segments)

    niced = run_to_end(Engine(Watching(), EngineConfig(background_nice=3, emit_audio=False)), FileSource(speech_wav))
    assert seen == {"ser-engine-model": min(19, caller + 3)}
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == caller
    plain = run_to_end(Engine(StubPredictor(), EngineConfig(emit_audio=False)), FileSource(speech_wav))
    assert [(r.start_s, r.end_s, r.top_label) for r in results(niced)] == \
        [(r.start_s, r.end_s, r.top_label) for r in results(plain)] != []
    for bad in (20, -1, 2.5):
        with pytest.raises(ConfigError, match="background_nice"):
            EngineConfig(background_nice=bad)


def test_a_stop_that_discards_ends_at_once_with_the_last_result(speech_16k, tmp_path):
    """The app's Stop on a recording analysed ahead of the playhead: what is queued is dropped, not
    analysed (a plain stop works through it: seconds at a low priority under load); the session
    ends as stopped where the last result emitted ends, and says so."""
    long = write_audio(tmp_path / "long.wav", np.tile(speech_16k, 6))

    class Slow(StubPredictor):
        def predict_batch(self, waveforms, segments=None):
            time.sleep(0.05)
            return super().predict_batch(waveforms, segments)

    def run(discard: bool) -> tuple[float, Engine, list, SessionStore]:
        session = SessionStore.create(tmp_path / f"s{discard}.jsonl", {"source": "file"})
        engine = Engine(Slow(), EngineConfig(emit_audio=False), session=session)
        engine.start(FileSource(long))
        events = []
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while not results(events, "window"):
            events += engine.poll()
            assert time.monotonic() < deadline
            time.sleep(0.01)
        t0 = time.monotonic()
        engine.stop(discard=discard)
        took = time.monotonic() - t0
        return took, engine, events + engine.poll(), SessionStore.open(session.path)

    took, engine, events, store = run(True)
    emitted = max(e.end_s for e in events if isinstance(e, (WindowResult, SpeechSegment)))
    assert engine.analysed_until_s == pytest.approx(emitted, abs=1e-3)
    assert store.ended["analysis"] == "stopped" and store.ended["analysed_until_s"] == pytest.approx(emitted, abs=1e-3)
    assert len(store.results) == len(results(events))
    # The segment open when the stop came is closed where its last window ends: every window lies
    # in a speech segment, as the speech time, the shares and the exports expect.
    for segments, windows in ((seg_events := [e for e in events if isinstance(e, SpeechSegment)], results(events)),
                              (store.segments, [r for r in store.results if r.kind == "window"])):
        assert windows and all(any(s.track == w.track and s.start_s - 1e-6 <= w.start_s and w.end_s <= s.end_s + 1e-6
                                   for s in segments) for w in windows)
    assert max(s.end_s for s in seg_events) == pytest.approx(emitted, abs=1e-3)
    full_took, full, full_events, _ = run(False)
    assert len(results(full_events)) > len(results(events)) and full.analysed_until_s > engine.analysed_until_s
    assert took < full_took


@pytest.mark.parametrize("k", [1, 2, 3])
def test_a_stop_that_discards_closes_the_segment_it_cut(speech_16k, tmp_path, k):
    """Stopped (discarding) while the model works on the k-th batch: that batch's windows are kept,
    and the segment they belong to, still open then, ends where they end (they lay outside every
    segment)."""
    long = write_audio(tmp_path / "long.wav", np.tile(speech_16k, 4))
    entered, release = threading.Event(), threading.Event()
    calls = [0]

    class Held(StubPredictor):
        def predict_batch(self, waveforms, segments=None):
            calls[0] += 1
            if calls[0] == k:
                entered.set()
                release.wait(RUN_TIMEOUT_S)
            return super().predict_batch(waveforms, segments)

    session = SessionStore.create(tmp_path / "s.jsonl", {"source": "file"})
    engine = Engine(Held(), EngineConfig(emit_audio=False), session=session)
    engine.start(FileSource(long))
    assert entered.wait(RUN_TIMEOUT_S)
    stopper = threading.Thread(target=engine.stop, kwargs={"discard": True})
    stopper.start()
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while not engine._discard.is_set():
        assert time.monotonic() < deadline
        time.sleep(0.005)
    release.set()
    stopper.join(RUN_TIMEOUT_S)
    events = engine.poll()
    store = SessionStore.open(session.path)
    windows = [w for w in store.results if w.kind == "window"]
    assert windows and store.ended["analysis"] == "stopped"
    assert all(any(g.track == w.track and g.start_s - 1e-6 <= w.start_s and w.end_s <= g.end_s + 1e-6
                   for g in store.segments) for w in windows)
    assert max(g.end_s for g in store.segments) == pytest.approx(max(w.end_s for w in windows), abs=1e-3)
    assert len([e for e in events if isinstance(e, SpeechSegment)]) == len(store.segments)


def test_bad_settings_and_double_start(speech_wav, stub_predictor):
    with pytest.raises(ConfigError, match="hop_s"):
        EngineConfig(window_s=1.0, hop_s=2.0)
    with pytest.raises(ConfigError, match="vad_frame_ms"):
        EngineConfig(vad_frame_ms=25)
    with pytest.raises(ConfigError, match="pace"):
        FileSource(speech_wav, pace="slow")
    engine = Engine(stub_predictor, EngineConfig())
    engine.start(FileSource(speech_wav, pace="realtime"))
    try:
        with pytest.raises(ConfigError, match="already running"):
            engine.start(FileSource(speech_wav))
    finally:
        engine.stop()


def test_skipped_tracks_are_shown_not_analysed_and_a_single_track_is_always_analysed(speech_16k, tmp_path):
    """EngineConfig.skip_tracks: the track's audio reaches the display, no result is made for it; a
    source with one track ignores it (there is no separate channel to leave out)."""
    stereo = np.stack([speech_16k, speech_16k], axis=1)
    path = write_audio(tmp_path / "two.wav", stereo)
    events = run_to_end(Engine(StubPredictor(), EngineConfig(skip_tracks=(0,))),
                        FileSource(path, channels="split", block_frames=1600))
    results = [e for e in events if isinstance(e, WindowResult)]
    assert results and {r.track for r in results} == {1}
    assert {e.track for e in events if isinstance(e, AudioBlock)} == {0, 1}
    mono = write_audio(tmp_path / "one.wav", speech_16k)
    events = run_to_end(Engine(StubPredictor(), EngineConfig(skip_tracks=(0,))), FileSource(mono, block_frames=1600))
    assert [e for e in events if isinstance(e, WindowResult)]


@pytest.fixture(scope="module")
def voice_predictor(tmp_path_factory):
    """A tiny model with voice-emotion heads (the engine then runs a voice thread)."""
    from model.runtime import load_predictor
    from model.testing import make_tiny_model

    path = make_tiny_model(tmp_path_factory.mktemp("voice") / "voice.safetensors", voice_emotion=True,
                           voice_emotion_every_s=2.0)
    return load_predictor(path, device="cpu")


def test_voice_thread_embeds_ahead_and_equals_offline(speech_16k, speech_wav, voice_predictor, monkeypatch):
    """With a voice encoder, a thread of its own computes the embeddings ahead of the model thread;
    results equal one offline pass, and the model thread then never runs the voice encoder."""
    config = EngineConfig(emit_audio=False)
    offline = results(analyze_waveform(speech_16k, voice_predictor, config))
    engine = Engine(voice_predictor, config)
    where: list[str] = []
    embed = voice_predictor._embeddings
    monkeypatch.setattr(voice_predictor, "_embeddings",
                        lambda prepared: where.append(threading.current_thread().name) or embed(prepared))
    events = run_to_end(engine, FileSource(speech_wav, block_frames=777))
    assert engine._voice_thread is not None and where and set(where) == {"ser-engine-voice"}
    got = results(events)
    assert [(e.kind, e.start_s, e.end_s) for e in got] == [(e.kind, e.start_s, e.end_s) for e in offline]
    for a, b in zip(got, offline, strict=True):
        np.testing.assert_allclose(list(a.probabilities.values()), list(b.probabilities.values()), atol=PROB_ATOL)
        np.testing.assert_allclose(list(a.heads["dimensions"].values()), list(b.heads["dimensions"].values()),
                                   atol=PROB_ATOL)
    assert not any(isinstance(e, EngineError) for e in events)


def test_a_failing_voice_thread_leaves_the_work_to_the_model_thread(speech_16k, speech_wav, voice_predictor,
                                                                    monkeypatch):
    """The voice thread only saves work: when its voice encoder fails, the model thread computes the
    embeddings itself and the results are complete and the same."""
    config = EngineConfig(emit_audio=False)
    offline = results(analyze_waveform(speech_16k, voice_predictor, config))
    embed = voice_predictor._embeddings

    def flaky(prepared):
        if threading.current_thread().name == "ser-engine-voice":
            raise RuntimeError("voice encoder out of memory")
        return embed(prepared)

    monkeypatch.setattr(voice_predictor, "_embeddings", flaky)
    events = run_to_end(Engine(voice_predictor, config), FileSource(speech_wav, block_frames=4000))
    got = results(events)
    assert [(e.kind, e.start_s, e.end_s) for e in got] == [(e.kind, e.start_s, e.end_s) for e in offline]
    for a, b in zip(got, offline, strict=True):
        np.testing.assert_allclose(list(a.probabilities.values()), list(b.probabilities.values()), atol=PROB_ATOL)
    assert not any(isinstance(e, EngineError) for e in events)


def test_a_model_without_voice_emotion_has_no_voice_thread(speech_wav, predictor):
    engine = Engine(predictor, EngineConfig(emit_audio=False))
    run_to_end(engine, FileSource(speech_wav))
    assert engine._voice_thread is None


def test_the_queues_hold_a_bounded_stretch_of_audio_whatever_the_block_length():
    """Long file blocks (8 s, as fast as possible) would make 64 queued blocks minutes of audio; short
    ones (a microphone's 20 ms) keep the configured count. The same for the queues of planned
    windows and of those with their voice embeddings."""
    from streamer.engine import (
        EMBEDDED_QUEUE_ENTRIES,
        EMBEDDED_QUEUE_MAX_S,
        INPUT_QUEUE_MAX_S,
        PLANNED_QUEUE_ENTRIES,
        PLANNED_QUEUE_MAX_S,
        input_queue_size,
        queue_size,
    )

    assert input_queue_size(64, 8.0) * 8.0 <= INPUT_QUEUE_MAX_S and input_queue_size(64, 8.0) >= 2
    assert input_queue_size(64, 0.02) == 64 and input_queue_size(64, None) == 64
    assert input_queue_size(64, 600.0) == 2  # never fewer than two blocks
    assert FileSource("x.wav").block_s == 8.0 and FileSource("x.wav", pace="realtime").block_s == 0.02
    assert queue_size(PLANNED_QUEUE_ENTRIES, PLANNED_QUEUE_MAX_S, 8.0) * 8.0 <= PLANNED_QUEUE_MAX_S
    assert queue_size(EMBEDDED_QUEUE_ENTRIES, EMBEDDED_QUEUE_MAX_S, 8.0) * 8.0 <= EMBEDDED_QUEUE_MAX_S
    assert queue_size(PLANNED_QUEUE_ENTRIES, PLANNED_QUEUE_MAX_S, 0.02) == PLANNED_QUEUE_ENTRIES


def test_an_engine_on_a_file_bounds_its_queues_in_seconds(speech_wav, voice_predictor):
    """The engine sizes its queues by its source's blocks: a file read as fast as possible (8-s
    blocks) gets fewer entries than a microphone's 20-ms blocks would, the display queue (two events
    a block) included."""
    from streamer.engine import DISPLAY_QUEUE_MAX_S, EMBEDDED_QUEUE_MAX_S, INPUT_QUEUE_MAX_S, PLANNED_QUEUE_MAX_S

    engine = Engine(voice_predictor, EngineConfig())
    source = FileSource(speech_wav)
    run_to_end(engine, source)
    block_s = source.block_s
    assert block_s == 8.0
    assert engine._input.maxsize * block_s <= INPUT_QUEUE_MAX_S
    assert engine._planned.maxsize * block_s <= PLANNED_QUEUE_MAX_S
    assert engine._embedded is not engine._planned and engine._embedded.maxsize * block_s <= EMBEDDED_QUEUE_MAX_S
    assert engine._display.maxlen * block_s <= DISPLAY_QUEUE_MAX_S and engine._display.maxlen >= 2


def test_a_notice_a_stop_turns_away_is_reported_at_the_end():
    """A source's note (channels alike) settled just before Pause: the queue turned it away as the
    engine stopped, and it was lost, though the source would not say it again in the session. It
    stays with the source until the end's forced report queues it."""
    import queue
    import types
    from collections import deque

    from streamer.engine import Engine

    note = "Microphone X: the Agent and Customer channels hold the same sound."
    engine = types.SimpleNamespace(_stop=threading.Event(), _input=queue.Queue(maxsize=4))
    engine._put_input = types.MethodType(Engine._put_input, engine)
    source = types.SimpleNamespace(notices=deque([note]))
    engine._stop.set()  # Pause pressed
    Engine._report_notices(engine, source)  # in the reading loop: turned away
    assert list(source.notices) == [note] and engine._input.empty()
    Engine._report_notices(engine, source, force=True)  # in its finally
    assert [e.message for e in engine._input.queue] == [note] and not source.notices
