"""Streaming equals offline; VAD segments land on the speech; sources resample as a stream."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from model.audio import SAMPLE_RATE_HZ, load_mono_16k, speech_bounds
from model.predictor import aggregate, window_bounds
from streamer import EngineConfig, FileSource, SpeechSegment, TrackPipeline, WindowResult, analyze_waveform
from streamer.vad import Segmenter

BLOCK_SIZES = (160, 512, 4000)
PROB_ATOL = 1e-5
CLIPS_IN_SPEECH_16K = 4
GAP_S = 1.0  # silence after each clip in the speech_16k fixture
START_TOLERANCE_S = 0.35  # VAD frame, leading padding
END_TOLERANCE_S = 0.5  # the 0.3 s offset hangover kept as trailing padding, plus webrtcvad's own hangover
MIN_COVERAGE = 0.9


def _probs(r: WindowResult) -> np.ndarray:
    return np.array(list(r.probabilities.values()))


def _assert_same_events(a: list, b: list) -> None:
    assert [type(e) for e in a] == [type(e) for e in b]
    for x, y in zip(a, b, strict=True):
        assert (x.track, x.start_s, x.end_s) == (y.track, y.start_s, y.end_s)
        if isinstance(x, WindowResult):
            assert x.kind == y.kind
            assert x.speech_ratio == y.speech_ratio
            np.testing.assert_allclose(_probs(x), _probs(y), atol=PROB_ATOL)
            np.testing.assert_allclose([x.valence, x.arousal, x.dominance], [y.valence, y.arousal, y.dominance],
                                       atol=PROB_ATOL)


@pytest.fixture(scope="module")
def offline(speech_16k, predictor):
    return analyze_waveform(speech_16k, predictor, EngineConfig(emit_audio=False))


@pytest.mark.parametrize("block", BLOCK_SIZES)
def test_streaming_equals_offline(speech_16k, predictor, offline, block):
    streamed = analyze_waveform(speech_16k, predictor, EngineConfig(emit_audio=False), block_samples=block)
    _assert_same_events(offline, streamed)


def test_plan_then_complete_equals_push(speech_16k, predictor, offline):
    """The engine's split (planning in one thread, the model in another) changes nothing."""
    pipe = TrackPipeline(predictor, EngineConfig(emit_audio=False))
    planned = [pipe.plan(speech_16k[i:i + 4000]) for i in range(0, len(speech_16k), 4000)] + [pipe.plan_flush()]
    events = [e for items in planned for e in pipe.complete(items)]
    _assert_same_events(offline, events)


def test_offline_pass_finds_windows_and_utterances(offline):
    kinds = [e.kind for e in offline if isinstance(e, WindowResult)]
    assert kinds.count("utterance") == CLIPS_IN_SPEECH_16K
    assert kinds.count("window") >= CLIPS_IN_SPEECH_16K


def test_windows_hold_their_own_samples_and_utterances_aggregate_like_eval(speech_16k, predictor):
    """Each window's result is the model on exactly [start_s, end_s); each utterance is
    ``aggregate`` over ``window_bounds`` of its segment, as in ``ser eval``."""
    config = EngineConfig(emit_audio=False, min_speech_ratio=0.0)  # analyse every window of a segment
    events = analyze_waveform(speech_16k, predictor, config, block_samples=512)
    segments = [e for e in events if isinstance(e, SpeechSegment)]
    assert len(segments) == CLIPS_IN_SPEECH_16K

    def samples(start_s, end_s):
        return speech_16k[int(round(start_s * SAMPLE_RATE_HZ)):int(round(end_s * SAMPLE_RATE_HZ))]

    for r in events:
        if isinstance(r, WindowResult) and r.kind == "window":
            np.testing.assert_allclose(_probs(r), predictor.predict(samples(r.start_s, r.end_s)).probabilities,
                                       atol=PROB_ATOL)
    utterances = [r for r in events if isinstance(r, WindowResult) and r.kind == "utterance"]
    for seg, utt in zip(segments, utterances, strict=True):
        assert (utt.start_s, utt.end_s) == (seg.start_s, seg.end_s)
        x = samples(seg.start_s, seg.end_s)
        windows = [x[a:b] for a, b in window_bounds(len(x), config.window_samples, config.hop_samples)]
        expected = aggregate(predictor.predict_batch(windows))
        np.testing.assert_allclose(_probs(utt), expected.probabilities, atol=PROB_ATOL)
        np.testing.assert_allclose([utt.valence, utt.arousal, utt.dominance], expected.dimensions, atol=PROB_ATOL)


def test_vad_segments_land_on_the_speech(speech_16k, speech_paths, stub_predictor):
    events = analyze_waveform(speech_16k, stub_predictor, EngineConfig(emit_audio=False), block_samples=480)
    segments = [e for e in events if isinstance(e, SpeechSegment)]
    assert len(segments) == CLIPS_IN_SPEECH_16K
    offset = 0.0
    for seg, path in zip(segments, speech_paths[:CLIPS_IN_SPEECH_16K], strict=True):
        clip = load_mono_16k(path)
        a, b = speech_bounds(clip, SAMPLE_RATE_HZ, pad_s=0.0)
        core_start, core_end = offset + a / SAMPLE_RATE_HZ, offset + b / SAMPLE_RATE_HZ
        clip_end = offset + len(clip) / SAMPLE_RATE_HZ
        assert seg.start_s >= offset - START_TOLERANCE_S
        assert seg.end_s <= clip_end + END_TOLERANCE_S
        covered = min(seg.end_s, core_end) - max(seg.start_s, core_start)
        assert covered >= MIN_COVERAGE * (core_end - core_start), (seg, core_start, core_end)
        offset = clip_end + GAP_S


def test_results_on_little_speech_are_uncertain_however_confident_the_model(speech_paths, stub_predictor):
    """Under MIN_CONFIDENT_SPEECH_S of speech a result is uncertain whatever the model says (a 0.3-s
    file had come out "sad 100 %"); with more, the model's own confidence decides (the stub's is never
    uncertain)."""
    from streamer.config import MIN_CONFIDENT_SPEECH_S

    clip = load_mono_16k(speech_paths[0])
    a, b = speech_bounds(clip, SAMPLE_RATE_HZ, pad_s=0.0)
    silence = np.zeros(SAMPLE_RATE_HZ // 2, np.float32)
    mid = (a + b) // 2
    short = np.concatenate([silence, clip[mid - 2400:mid + 2400], silence])  # 0.3 s of speech
    results = [e for e in analyze_waveform(short, stub_predictor) if isinstance(e, WindowResult)]
    assert results and all(r.uncertain for r in results)
    results = [e for e in analyze_waveform(clip, stub_predictor) if isinstance(e, WindowResult)]
    assert any(not r.uncertain for r in results)
    for r in results:
        assert r.uncertain == (r.speech_ratio * (r.end_s - r.start_s) < MIN_CONFIDENT_SPEECH_S), r


def test_silence_and_noise_give_no_segments(stub_predictor):
    rng = np.random.default_rng(0)
    quiet = np.concatenate([np.zeros(SAMPLE_RATE_HZ * 3, np.float32),
                            (rng.standard_normal(SAMPLE_RATE_HZ * 3) * 1e-4).astype(np.float32)])
    assert analyze_waveform(quiet, stub_predictor) == []
    assert stub_predictor.windows == 0


def _pink(n: int, rms: float, seed: int) -> np.ndarray:
    w = np.fft.rfft(np.random.default_rng(seed).standard_normal(n))
    w /= np.sqrt(np.maximum(np.arange(len(w)), 1))
    x = np.fft.irfft(w, n)
    return (x / np.sqrt(np.mean(x ** 2)) * rms).astype(np.float32)


def _covered(segments, start: int, end: int) -> float:
    """Share of samples [start, end) inside speech segments (not the gate's not-speech pieces)."""
    inside = np.zeros(end - start, bool)
    for s in segments:
        if isinstance(s, SpeechSegment) and not s.not_speech:
            a, b = int(s.start_s * SAMPLE_RATE_HZ) - start, int(s.end_s * SAMPLE_RATE_HZ) - start
            inside[max(a, 0):max(b, 0)] = True
    return float(inside.mean())


@pytest.mark.parametrize("attenuation_db", [0, -20])
def test_quiet_speech_in_a_noise_floor_is_found(speech_paths, stub_predictor, attenuation_db):
    # webrtcvad's models are of absolute band energies. The test clips (loud frames near -36 dBFS)
    # 20 dB quieter over a pink noise floor at -65 dBFS: before the detector's input got VadGain's
    # gain, the first clip was missed entirely (shares of each clip's speech covered 0, 1.0, 0.94);
    # with it 0.88, 1.0, 0.94, and at their own level 0.99, 1.0, 1.0 (0.97, 1.0, 1.0 before).
    gap = np.zeros(SAMPLE_RATE_HZ, np.float32)
    clips = [load_mono_16k(p) * np.float32(10 ** (attenuation_db / 20)) for p in speech_paths[:3]]
    x = np.concatenate([gap, clips[0], gap, clips[1], gap, clips[2], gap])
    x = x + _pink(len(x), 10 ** (-65 / 20), seed=1)
    events = analyze_waveform(x, stub_predictor)
    pos, covered = len(gap), []
    for clip in clips:
        a, b = speech_bounds(clip, SAMPLE_RATE_HZ, pad_s=0.0)
        covered.append(_covered(events, pos + a, pos + b))
        pos += len(clip) + len(gap)
    assert min(covered) >= 0.8 and np.mean(covered) >= 0.9, covered


@pytest.mark.parametrize("rms_db", [-70, -55, -40])
def test_steady_noise_is_not_raised_into_speech(stub_predictor, rms_db):
    # From the stream's start: the gain raises no noise floor above -50 dBFS, and webrtcvad, primed
    # on the first audible frame, takes no steady noise for speech (unprimed, it opened a 0.4-s
    # segment at the start of steady noise from about -70 dBFS). After digital silence, the noise's
    # onset may open a segment, as without the gain; the speech gate marks it as not speech.
    noise = _pink(SAMPLE_RATE_HZ * 8, 10 ** (rms_db / 20), seed=2)
    assert analyze_waveform(noise, stub_predictor) == []
    after_silence = analyze_waveform(np.concatenate([np.zeros(SAMPLE_RATE_HZ * 2, np.float32), noise]), stub_predictor)
    assert all(isinstance(e, SpeechSegment) and e.not_speech for e in after_silence)
    assert stub_predictor.windows == 0


def test_room_noise_after_long_digital_silence_is_not_taken_for_speech(speech_paths, stub_predictor):
    """A recording edited with digital silence between takes (or a microphone unmuted): after 8 s of
    zeros, a take's room noise at -88 dBFS, raised by the detector's gain toward the level of the
    speech before, opened its segment 0.9 s before its speech (pink noise here: 20 of its 33 frames
    were taken for speech). Now the segment starts at the speech, what came before is as it was, and
    the flags do not depend on the block sizes."""
    from streamer.vad import FrameVad

    clips = [load_mono_16k(p) for p in speech_paths[:2]]
    a, _ = speech_bounds(clips[1], SAMPLE_RATE_HZ, pad_s=0.0)
    room = _pink(int(0.9 * SAMPLE_RATE_HZ), 10 ** (-88 / 20), seed=4)
    x = np.concatenate([clips[0], np.zeros(SAMPLE_RATE_HZ * 8, np.float32), room, clips[1][a:]])
    onset_s = (len(clips[0]) + SAMPLE_RATE_HZ * 8 + len(room)) / SAMPLE_RATE_HZ
    segments = [e for e in analyze_waveform(x, stub_predictor) if isinstance(e, SpeechSegment)]
    later = [e for e in segments if e.end_s > onset_s]
    assert len(later) == 1 and onset_s - 0.2 < later[0].start_s < onset_s + 0.2, (later, onset_s)
    alone = np.concatenate([clips[0], np.zeros(SAMPLE_RATE_HZ * 8, np.float32)])
    before = [e for e in analyze_waveform(alone, stub_predictor) if isinstance(e, SpeechSegment)]
    assert [(e.start_s, e.end_s) for e in segments if e.end_s < onset_s - 8] == [(e.start_s, e.end_s) for e in before]

    def flags(block: int) -> np.ndarray:
        vad = FrameVad(2, 480)
        return np.concatenate([vad.push(x[i:i + block]) for i in range(0, len(x), block)])

    whole = flags(32000)
    assert np.array_equal(whole, flags(4000)) and np.array_equal(whole, flags(160))
    start = (len(clips[0]) + SAMPLE_RATE_HZ * 8) // 480
    assert not whole[start:start + len(room) // 480].any()


def test_digital_silence_after_speech_is_no_speech_past_webrtcvads_hangover(speech_paths):
    """A call's side (its takes 2.4 s apart, digital silence between them: the other side's turns),
    repeated: deep into the later runs of zeros webrtcvad kept calling them speech, for over a second
    each (334 frames of 30 ms here), so the same audio gave longer segments the later it came. Now no
    frame of digital silence past HANGOVER_S is speech, whatever the block sizes."""
    from streamer.vad import HANGOVER_S, FrameVad

    gap = np.zeros(int(2.4 * SAMPLE_RATE_HZ), np.float32)
    x = np.tile(np.concatenate([part for p in speech_paths for part in (load_mono_16k(p), gap)]), 6)
    silent = np.array([not x[k * 480:(k + 1) * 480].any() for k in range(len(x) // 480)])
    since_sound = np.zeros(len(silent), int)  # frames of silence up to each, since the last frame of sound
    for k in range(1, len(silent)):
        since_sound[k] = since_sound[k - 1] + 1 if silent[k] else 0

    def flags(block: int) -> np.ndarray:
        vad = FrameVad(2, 480)
        return np.concatenate([vad.push(x[i:i + block]) for i in range(0, len(x), block)])

    whole = flags(32000)
    deep = silent & (since_sound > HANGOVER_S * SAMPLE_RATE_HZ / 480)
    assert whole.any() and not whole[deep].any()
    assert whole[silent & ~deep].any()  # webrtcvad's own hangover stays, as before
    assert np.array_equal(whole, flags(4000)) and np.array_equal(whole, flags(1234))


def test_vad_gain_depends_on_past_frames_only():
    from streamer.vad import VadGain

    rng = np.random.default_rng(3)
    frames = (rng.standard_normal((400, 480)) * np.repeat(10 ** (rng.uniform(-90, -20, 40) / 20), 10)[:, None])
    frames = frames.astype(np.float32)
    whole = VadGain(480).gains(frames)
    split, parts = VadGain(480), []
    for a, b in ((0, 1), (1, 37), (37, 38), (38, 400)):
        parts.append(split.gains(frames[a:b]))
    assert np.array_equal(whole, np.concatenate(parts))
    assert whole.min() >= 1.0 and whole.max() <= 10 ** (VadGain.MAX_GAIN_DB / 20) * (1 + 1e-6)


def _segments(flags, **overrides):
    config = EngineConfig(**{"vad_frame_ms": 10, "vad_onset_ms": 30, "vad_offset_ms": 50, "padding_ms": 20,
                             **overrides})
    seg = Segmenter.from_config(config)
    out = [c for c in (seg.step(bool(f)) for f in flags) if c is not None and c[0] == "close"]
    tail = seg.close_at(len(flags) * seg.frame)
    return [(a, b) for _, a, b in out + ([tail] if tail else [])], seg.frame


def test_segmenter_onset_offset_and_padding():
    # 2 speech frames (below the 3-frame onset), silence, 6 speech frames, a 2-frame pause (below the
    # 5-frame offset), 4 speech frames, then silence.
    flags = [0] * 5 + [1, 1] + [0] * 5 + [1] * 6 + [0, 0] + [1] * 4 + [0] * 10
    segments, frame = _segments(flags)
    pad = SAMPLE_RATE_HZ * 20 // 1000
    assert segments == [(12 * frame - pad, (24 + 5) * frame)]  # ends at the frame that closes it


def test_segmenter_closes_open_speech_at_the_end():
    segments, frame = _segments([0] * 3 + [1] * 8)
    assert segments == [(3 * frame - SAMPLE_RATE_HZ * 20 // 1000, 11 * frame)]


def test_audio_that_ends_in_speech_keeps_its_last_segment(speech_paths, stub_predictor):
    """A recording stopped mid-sentence: the open segment closes at the audio's end, within the
    VAD's trailing padding of the last speech frame, and its last window (ending there) must still
    find its samples (the history once kept only what a segment ending a padding later needed)."""
    speech = []
    for p in speech_paths[:3]:  # clips cut to their audible part and joined: one long segment
        x = load_mono_16k(p)
        a, b = speech_bounds(x)
        speech.append(x[a:b])
    speech = np.concatenate(speech)
    for cut in range(len(speech) - 2 * SAMPLE_RATE_HZ, len(speech), 100):  # failures came in runs of about 1000 samples
        for block in (None, 4000):
            events = analyze_waveform(speech[:cut], stub_predictor, EngineConfig(emit_audio=False),
                                      block_samples=block)
            segments = [e for e in events if isinstance(e, SpeechSegment)]
            windows = [e for e in events if isinstance(e, WindowResult) and e.kind == "window"]
            assert segments and segments[-1].end_s == pytest.approx(cut / SAMPLE_RATE_HZ), (cut, block)
            assert windows[-1].end_s == pytest.approx(cut / SAMPLE_RATE_HZ), (cut, block)
            assert [e for e in events if isinstance(e, WindowResult) and e.kind == "utterance"], (cut, block)


@pytest.mark.parametrize("block", BLOCK_SIZES)
def test_file_source_resamples_as_a_stream(speech_paths, block):
    """48 kHz FLAC read in any block size gives the same 16 kHz samples as the offline loader."""
    path = speech_paths[0]
    src = FileSource(path, block_frames=block)
    src.open()
    blocks = list(src.blocks(threading.Event()))
    src.close()
    assert [b.start for b in blocks] == list(np.cumsum([0] + [len(b.data) for b in blocks[:-1]]))
    streamed = np.concatenate([b.data[:, 0] for b in blocks])
    offline = load_mono_16k(path)
    assert len(streamed) == len(offline)
    np.testing.assert_allclose(streamed, offline, atol=1e-6)


def test_vad_gain_ignores_a_dc_offset_and_survives_nan():
    """A DC offset is no sound: with one, the noise floor read high and the gain fell to 0 dB. A
    frame that is not finite counts as silence and does not stop the gain for the rest."""
    from streamer.vad import VadGain

    rng = np.random.default_rng(4)
    quiet = (rng.standard_normal((300, 480)) * 10 ** (-60 / 20)).astype(np.float32)
    quiet[100:200] *= np.float32(10 ** (20 / 20))  # "speech" 20 dB above the floor
    clean = VadGain(480).gains(quiet)
    np.testing.assert_allclose(VadGain(480).gains(quiet + np.float32(0.003)), clean, rtol=1e-3)
    broken = quiet.copy()
    broken[150, 7] = np.nan
    gains = VadGain(480).gains(broken)
    assert np.isfinite(gains).all() and gains[200:].max() > 1.5


def _call(speech_paths, leak_db: float, double_talk: bool = False):
    """A call on two channels built from the test clips: the agent (channel 0) and the customer
    (channel 1) take turns (or, ``double_talk``, talk at once), each heard ``leak_db`` on the other's
    channel, over a -70 dBFS noise floor. Returns the channels and the customer's speech (start, end)
    samples."""
    agent = [load_mono_16k(p) for p in speech_paths[:2]]
    customer = [load_mono_16k(p) for p in speech_paths[2:4]]
    gap = np.zeros(6400, np.float32)
    a_parts, c_parts, speech, t = [], [], [], 0
    for xa, xc in zip(agent, customer, strict=True):
        if double_talk:
            n = max(len(xa), len(xc))
            a_parts.append(np.pad(xa, (0, n - len(xa))))
            c_parts.append(np.pad(xc, (0, n - len(xc))))
            s, e = speech_bounds(xc, SAMPLE_RATE_HZ, pad_s=0.0)
            speech.append((t + s, t + e))
            t += n
        else:
            a_parts += [xa, gap, np.zeros(len(xc), np.float32), gap]
            c_parts += [np.zeros(len(xa), np.float32), gap, xc, gap]
            s, e = speech_bounds(xc, SAMPLE_RATE_HZ, pad_s=0.0)
            speech.append((t + len(xa) + len(gap) + s, t + len(xa) + len(gap) + e))
            t += len(xa) + len(xc) + 2 * len(gap)
    a, c = np.concatenate(a_parts), np.concatenate(c_parts)
    g = np.float32(10 ** (leak_db / 20))
    rng = np.random.default_rng(3)
    noise = (rng.standard_normal((2, len(a))) * 10 ** (-70 / 20)).astype(np.float32)
    return a + g * c + noise[0], c + g * a + noise[1], speech


def _customer_flags(agent, customer, crosstalk_db, block):
    from streamer.vad import FrameVad

    vad = FrameVad(2, 480, crosstalk_db)
    flags = [vad.push(customer[i:i + block], agent[i:i + block, None]) for i in range(0, len(customer), block)]
    return np.concatenate(flags)


def _in_speech(flags, speech, margin_frames=10):
    """Which 30-ms frames lie in (or within ``margin_frames`` of) the customer's speech."""
    near = np.zeros(len(flags), bool)
    for s, e in speech:
        near[max(0, s // 480 - margin_frames):e // 480 + margin_frames] = True
    return near


def test_the_other_sides_voice_leaking_across_is_not_speech(speech_paths):
    """A call's agent heard 30 dB down on the customer's channel (sidetone, echo) was analysed as the
    customer: half of a trial call's customer "utterances" were the agent's turns."""
    agent, customer, speech = _call(speech_paths, leak_db=-30)
    near = _in_speech(np.zeros(len(customer) // 480), speech)
    without = _customer_flags(agent, customer, None, 4000)
    gated = _customer_flags(agent, customer, 20.0, 4000)
    assert without[~near].sum() >= 20  # the leak reads as speech in the agent's turns
    assert gated[~near].sum() <= 2
    assert gated[near].sum() >= 0.97 * without[near].sum()  # the customer's own speech is kept
    for block in (160, 512):  # frame by frame on the common clock: any block sizes, the same flags
        np.testing.assert_array_equal(_customer_flags(agent, customer, 20.0, block), gated)


def test_both_sides_talking_at_once_stay_speech(speech_paths):
    """Talking over each other (the agent's clips at their own level, up to 30 dB louder than the
    customer's in places): the customer's speech is not taken for leakage. Frame by frame, 36 % of
    it was, so the gate compares stretches of 0.3 s and asks leakage to follow the other side."""
    agent, customer, speech = _call(speech_paths, leak_db=-30, double_talk=True)
    near = _in_speech(np.zeros(len(customer) // 480), speech, margin_frames=0)
    without = _customer_flags(agent, customer, None, 4000)
    gated = _customer_flags(agent, customer, 20.0, 4000)
    assert gated[near].sum() >= 0.98 * without[near].sum() > 80


def test_loud_noise_on_the_other_channel_does_not_silence_quiet_speech(speech_paths):
    """Steady noise 30 dB above the customer's quiet speech on the agent's channel is not active
    speech there: the customer's speech stays."""
    _, customer, speech = _call(speech_paths, leak_db=-90)
    customer = customer * np.float32(10 ** (-25 / 20))
    noise = _pink(len(customer), 10 ** (-35 / 20), seed=5)
    near = _in_speech(np.zeros(len(customer) // 480), speech, margin_frames=0)
    without = _customer_flags(noise, customer, None, 4000)
    gated = _customer_flags(noise, customer, 20.0, 4000)
    assert gated[near].sum() >= 0.98 * without[near].sum() > 50


def test_the_other_tracks_coming_or_going_keep_the_frame_in_progress(speech_paths):
    """Samples of an incomplete frame pushed with the other tracks, then without them: the frame is
    completed, not lost (every later flag would lie one frame early)."""
    from streamer.vad import FrameVad

    x = load_mono_16k(speech_paths[0])[:4800]
    vad = FrameVad(2, 480, 20.0)
    n = len(vad.push(x[:400], np.zeros((400, 1), np.float32))) + len(vad.push(x[400:]))
    assert n == len(x) // 480


def test_a_leak_of_inverted_polarity_is_caught_too(speech_paths):
    """A channel wired the other way round puts the leak in with its sign flipped: it follows all
    the same."""
    agent, customer, speech = _call(speech_paths, leak_db=-90)
    customer = customer - np.float32(10 ** (-25 / 20)) * agent
    near = _in_speech(np.zeros(len(customer) // 480), speech)
    assert _customer_flags(agent, customer, None, 4000)[~near].sum() >= 20
    assert _customer_flags(agent, customer, 20.0, 4000)[~near].sum() <= 2


def test_a_call_that_opens_with_the_other_sides_speech_is_told_apart_from_the_start(speech_paths):
    """The agent greets first, from the very first sample: its leak is left out from the start,
    although the gate has heard no quiet stretch of the agent's channel to know its noise floor by."""
    clip = load_mono_16k(speech_paths[1])
    s, e = speech_bounds(clip, SAMPLE_RATE_HZ, pad_s=0.0)
    agent = np.concatenate([clip[s:e], np.zeros(16000, np.float32)])
    rng = np.random.default_rng(9)
    customer = np.float32(10 ** (-25 / 20)) * agent + (rng.standard_normal(len(agent)) * 1e-4).astype(np.float32)
    first = slice(0, 20)  # the first 0.6 s
    assert _customer_flags(agent, customer, None, 4000)[first].sum() >= 5
    assert _customer_flags(agent, customer, 20.0, 4000)[first].sum() == 0
