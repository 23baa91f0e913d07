"""The second speech check: noise, hum, tones and music that the voice-activity detector lets
through get no emotion results; real speech (clean, noisy, through a phone line) keeps all of them."""

import re

import numpy as np
import pytest

from model.audio import load_mono_16k, speech_bounds
from streamer import EngineConfig, SpeechSegment, WindowResult, analyze_waveform
from streamer.speechgate import FRAME, N_FFT, _band_power, measure, speech_like, spread_percentiles
from streamer.summary import summarize
from streamer.testsignals import NON_SPEECH, RATE, T, level


@pytest.mark.parametrize("name", sorted(NON_SPEECH))
def test_non_speech_gets_no_emotion(name, predictor):
    x = level(NON_SPEECH[name](np.random.default_rng(0)) + 1e-3 * np.random.default_rng(1).standard_normal(len(T)))
    events = analyze_waveform(np.concatenate([np.zeros(RATE, np.float32), x, np.zeros(RATE, np.float32)]),
                              predictor, EngineConfig(emit_audio=False))
    assert not [e for e in events if isinstance(e, WindowResult)], f"{name} got emotion results"
    ungated = analyze_waveform(np.concatenate([np.zeros(RATE, np.float32), x, np.zeros(RATE, np.float32)]),
                               predictor, EngineConfig(emit_audio=False, speech_gate=False))
    if any(isinstance(e, SpeechSegment) for e in ungated):  # the VAD passed it: the gate is what stopped it
        assert any(isinstance(e, WindowResult) for e in ungated)
    # Each segment the VAD took for speech says what the sound was, and the summary says so too.
    # Segments too short for a window with speech enough (a click where the sound starts or stops,
    # which the VAD flags for a few frames) are judged too: none is counted as speech.
    segments = [e for e in events if isinstance(e, SpeechSegment)]
    for seg in segments:
        assert seg.not_speech in {"steady sound (noise, hum, a tone or sustained music)", "a tone", "noise",
                                  "held notes (music)", "steady tones (a ringing or busy tone, or music)"}, seg
        assert SpeechSegment.from_dict(seg.to_dict()) == seg
    if any(s.not_speech for s in segments):
        line = summarize(["mix"], segments, [])[0].line()
        assert "s of sound left out as not speech: " in line, line
        for why in {s.not_speech for s in segments if s.not_speech}:  # each reason with its own time
            assert re.search(r"\d+\.\d s " + re.escape(why), line), line
        if all(s.not_speech for s in segments):
            assert line.startswith("mix: no speech; "), line


def test_speech_keeps_every_result(speech_16k, speech_paths, predictor):
    from model.audio import load_mono_16k
    from training.channel import degrade

    gated = analyze_waveform(speech_16k, predictor, EngineConfig(emit_audio=False))
    plain = analyze_waveform(speech_16k, predictor, EngineConfig(emit_audio=False, speech_gate=False))
    assert all(e.not_speech is None and "not_speech" not in e.to_dict() for e in gated if isinstance(e, SpeechSegment))
    assert [(e.kind, e.start_s) for e in gated if isinstance(e, WindowResult)] == \
        [(e.kind, e.start_s) for e in plain if isinstance(e, WindowResult)]
    rng = np.random.default_rng(2)
    for path in speech_paths:
        x = load_mono_16k(path)
        noisy = x + rng.standard_normal(len(x)).astype(np.float32) * np.sqrt(np.mean(x ** 2) / 10)  # 10 dB SNR
        for version in (x, noisy, degrade(x, "telephone")):
            a, b = np.flatnonzero(np.abs(version) > 0.01 * np.abs(version).max())[[0, -1]]
            assert speech_like(version[a:b]), measure(version[a:b])


@pytest.mark.parametrize("name", ["white noise", "mains hum"])
def test_short_windows_are_judged_on_two_seconds_of_their_segment(name, speech_16k, predictor, monkeypatch):
    """The gate's thresholds hold for 2 s of sound: a 1-s window is judged on the 2 s of its segment
    that end with it (less at the segment's start), so speech keeps its short windows, and noise
    still gets none."""
    import streamer.pipeline as pipeline

    judged = []
    real = pipeline.measure
    monkeypatch.setattr(pipeline, "measure", lambda x, *a: judged.append(len(x)) or real(x, *a))
    config = EngineConfig(emit_audio=False, window_s=1.0, hop_s=0.5)
    gated = analyze_waveform(speech_16k, predictor, config)
    plain = analyze_waveform(speech_16k, predictor, EngineConfig(emit_audio=False, window_s=1.0, hop_s=0.5,
                                                                 speech_gate=False))
    assert [(e.kind, e.start_s) for e in gated if isinstance(e, WindowResult)] == \
        [(e.kind, e.start_s) for e in plain if isinstance(e, WindowResult)]
    assert max(judged) == 2 * RATE and min(judged) < 2 * RATE  # two seconds once the segment has them
    x = level(NON_SPEECH[name](np.random.default_rng(0)) + 1e-3 * np.random.default_rng(1).standard_normal(len(T)))
    events = analyze_waveform(np.concatenate([np.zeros(RATE, np.float32), x, np.zeros(RATE, np.float32)]),
                              predictor, config)
    assert not [e for e in events if isinstance(e, WindowResult)], f"{name} got emotion results"


def test_spread_percentiles_are_numpys_percentiles():
    rng = np.random.default_rng(7)
    for _ in range(3000):
        n = int(rng.integers(1, 400))
        values = rng.standard_normal(n) * rng.uniform(0.1, 50) + rng.uniform(-90, 0)
        if rng.random() < 0.3:  # ties, as frame levels of digital silence or clipping give
            values = np.round(values)
        np.testing.assert_array_equal(spread_percentiles(values), np.percentile(values, [10, 90]))


def test_band_power_in_steps_equals_one_transform_of_all_frames():
    """The gate transforms a window's frames a few dozen at a time; the numbers are those of one
    transform of every frame, bit for bit, however many frames there are and wherever they start."""
    x = np.random.default_rng(3).standard_normal(2 * RATE + N_FFT).astype(np.float32) * 0.1
    window = np.hanning(N_FFT)
    lo, hi = np.fft.rfftfreq(N_FFT, 1 / RATE)[[10, 108]]  # the speech band's (300-3400 Hz) first and last bins
    assert (lo, hi) == (312.5, 3375.0)
    for first, n in [(0, 1), (0, 31), (0, 32), (0, 33), (0, 197), (150, 197), (5, 64), (196, 197)]:
        frames = np.stack([x[FRAME * j:FRAME * j + N_FFT] for j in range(first, n)])
        spectrum = np.fft.rfft(frames * window, axis=1)[:, 10:109]
        np.testing.assert_array_equal(_band_power(x, first, n), spectrum.real ** 2 + spectrum.imag ** 2)


def test_noise_the_vad_passes_is_recorded_as_not_speech_and_summarised_apart(predictor):
    """Loud white noise: webrtcvad takes it for speech, the gate rejects every window; the segment
    says what it was and the summary counts no speech."""
    rng = np.random.default_rng(5)
    noise = level(rng.standard_normal(RATE * 5))
    x = np.concatenate([np.zeros(RATE, np.float32), noise, np.zeros(RATE, np.float32)])
    events = analyze_waveform(x, predictor, EngineConfig(emit_audio=False))
    segments = [e for e in events if isinstance(e, SpeechSegment)]
    assert segments and all(s.not_speech for s in segments), segments
    assert not [e for e in events if isinstance(e, WindowResult)]
    summary = summarize(["mix"], segments, [])[0]
    assert summary.speech_s == 0.0 and summary.n_segments == 0
    assert sum(summary.not_speech.values()) == pytest.approx(sum(s.duration_s for s in segments))
    assert summary.line().startswith("mix: no speech; ")


def test_noise_within_a_speech_segment_is_cut_out_of_it(speech_paths, predictor):
    """Speech, then loud steady noise with no pause between (webrtcvad keeps one segment, as it does
    for a loud recording's background noise): the stretch the gate rejected becomes a not-speech
    segment with its reason, the speech keeps its own segment and utterance, and the summary counts
    the speech only; streaming gives the same events as one piece."""
    clips = [load_mono_16k(p) for p in speech_paths[:2]]
    speech = np.concatenate([x[slice(*speech_bounds(x))] for x in clips])
    noise = level(np.random.default_rng(9).standard_normal(RATE * 8), db=-40.0)
    x = np.concatenate([np.zeros(RATE, np.float32), speech, noise, np.zeros(RATE, np.float32)])
    events = analyze_waveform(x, predictor, EngineConfig(emit_audio=False))
    segments = [e for e in events if isinstance(e, SpeechSegment)]
    assert [s.not_speech is None for s in segments] == [True, False], segments
    speech_seg, noise_seg = segments
    assert speech_seg.end_s == noise_seg.start_s  # one VAD segment, cut in two
    assert noise_seg.not_speech.startswith("steady sound") or noise_seg.not_speech == "noise"
    speech_end = 1.0 + len(speech) / RATE  # a window that holds speech passes: the cut comes within one of it
    assert speech_seg.start_s < 1.2 and speech_end <= speech_seg.end_s <= speech_end + 2.0, speech_seg
    assert noise_seg.duration_s > 2.0, noise_seg
    utterances = [e for e in events if isinstance(e, WindowResult) and e.kind == "utterance"]
    assert [(u.start_s, u.end_s) for u in utterances] == [(speech_seg.start_s, speech_seg.end_s)]
    windows = [e for e in events if isinstance(e, WindowResult) and e.kind == "window"]
    assert all(w.end_s <= speech_seg.end_s + 1e-6 for w in windows)
    summary = summarize(["mix"], segments, [e for e in events if isinstance(e, WindowResult)])[0]
    assert summary.speech_s == pytest.approx(speech_seg.duration_s)
    assert sum(summary.not_speech.values()) == pytest.approx(noise_seg.duration_s)
    for block in (512, 4000):
        streamed = analyze_waveform(x, predictor, EngineConfig(emit_audio=False), block_samples=block)
        assert [(type(e), getattr(e, "start_s", None), getattr(e, "end_s", None)) for e in streamed] == [
            (type(e), getattr(e, "start_s", None), getattr(e, "end_s", None)) for e in events]


def test_the_summary_says_how_much_speech_was_too_short_to_analyse():
    """Speech time counts every speech segment; those without an utterance result (shorter than a
    window) are named, so that speech time and the analysed time add up."""
    segments = [SpeechSegment(0, "mix", 0.0, 3.0), SpeechSegment(0, "mix", 4.0, 4.2),
                SpeechSegment(0, "mix", 5.0, 8.0), SpeechSegment(0, "mix", 9.0, 9.25)]
    utterances = [WindowResult.built_in(0, a, b, {"happy": 1.0}, kind="utterance") for a, b in ((0.0, 3.0), (5.0, 8.0))]
    summary = summarize(["mix"], segments, utterances)[0]
    # The last one, after the last utterance, may be where the analysis was stopped: not claimed.
    assert (summary.n_segments, summary.n_unanalysed) == (4, 1)
    assert summary.unanalysed_s == pytest.approx(0.2)
    assert summary.line().startswith("mix: speech 6.5 s in 4 segments (1 of them, 0.2 s, too short to analyse); ")
    assert "too short" not in summarize(["mix"], segments[:1] + segments[2:3], utterances)[0].line()


def test_the_flux_of_a_segments_windows_is_the_same_computed_alone_or_shared(speech_paths):
    """Each frame's change of spectral shape is kept for the segment's next window: the same readings
    as each window measured on its own."""
    from streamer.speechgate import GateFrames

    x = np.concatenate([load_mono_16k(p) for p in speech_paths[:2]])
    frames = GateFrames()
    for start in range(0, len(x) - 32000, 8000):
        shared = measure(x[start:start + 32000], start, frames)
        alone = measure(x[start:start + 32000])
        assert shared.flux_db == pytest.approx(alone.flux_db, rel=1e-12) and shared.speech_like


def _speech_rms(speech: np.ndarray) -> float:
    """The RMS of a clip's speech (within its bounds): its samples above 2 % of its peak."""
    return float(np.sqrt(np.mean(speech[np.abs(speech) > 0.02 * np.abs(speech).max()] ** 2)))


def test_speech_far_into_noise_is_still_speech(speech_paths):
    """White noise a few dB below the speech fills the band and narrows its frame levels' spread under
    the modulation threshold: the gate took such speech for steady sound (here every window, at 2 dB),
    and a noisy call got no results. Speech's power gathers in the band's lower part, where it stands
    further above the noise: the modulation is the widest spread of the band or one of its parts."""
    rng = np.random.default_rng(4)
    kept = judged = 0
    for path in speech_paths:
        x = load_mono_16k(path)
        a, b = speech_bounds(x)
        noisy = x + rng.standard_normal(len(x)).astype(np.float32) * _speech_rms(x[a:b]) * 10 ** (-2 / 20)
        for start in range(a, max(a + 1, b - 2 * RATE), RATE // 2):
            reading = measure(noisy[start:start + 2 * RATE])
            kept += reading.speech_like
            judged += 1
    assert judged >= 8 and kept >= 0.75 * judged, (kept, judged)
    # the steady noise alone spreads by a few dB in every part, far under the threshold
    alone = measure(level(rng.standard_normal(2 * RATE), -30.0))
    assert alone.modulation_db < 6.0 and not alone.speech_like


def _held_vowel(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A vowel held at an almost flat pitch (121 to 119 Hz, a little jitter): 39 harmonics through
    three formant resonators (700, 1200, 2600 Hz), with 30-ms ramps."""
    from scipy import signal

    n = int(seconds * RATE)
    f0 = np.linspace(121.0, 119.0, n) * (1 + 0.002 * rng.standard_normal(n))
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    x = sum(np.sin(k * phase) / k for k in range(1, 40))
    for centre, width in ((700, 90), (1200, 110), (2600, 160)):
        r = np.exp(-np.pi * width / RATE)
        x = signal.lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * centre / RATE), r * r], x)
    return x * np.minimum(1, np.minimum(np.arange(n), n - np.arange(n)) / 480)


def test_a_drawn_out_vowel_and_speech_over_a_steady_tone_stay_speech(speech_paths):
    """The line drift follows the strongest line of the loud frames, which barely moves in a vowel held
    for 1.2 s ("sooo") or where a steady tone stands out between the words. Frames with more than a
    few prominent peaks (a voice's harmonics) count as moving, so both stay speech; the first version
    rejected every held vowel here (drift 0.55 Hz) and one of the windows with the tone."""
    rng = np.random.default_rng(5)
    for path in speech_paths:
        x = load_mono_16k(path)
        a, b = speech_bounds(x)
        speech = x[a:b]
        rms = _speech_rms(speech)
        vowel = _held_vowel(1.2, rng)
        vowel *= 1.4 * rms / np.sqrt(np.mean(vowel ** 2))
        drawn = np.concatenate([speech[:int(0.4 * RATE)], vowel, speech[-int(0.4 * RATE):]]).astype(np.float32)
        assert measure(drawn).speech_like, (path.name, measure(drawn))
        whine = np.sqrt(2) * rms * 10 ** (-6 / 20) * np.sin(2 * np.pi * 1000 * np.arange(len(x)) / RATE)
        y = (x + whine).astype(np.float32)  # a 1-kHz whine 6 dB below the speech
        for start in range(a, max(a + 1, b - 2 * RATE), RATE // 2):
            assert speech_like(y[start:start + 2 * RATE]), (path.name, measure(y[start:start + 2 * RATE]))


def test_a_beep_louder_than_the_words_leaves_the_speech_around_it_speech(speech_paths):
    """A call-waiting beep (440 Hz, 0.3 s) or a recording warning (1400 Hz, 0.5 s) inside speech,
    louder than the words: the beep's steady frames were most of the window's loud ones, and the line
    drift took the window for a tone (in up to a third of such windows). A window with a voice's
    harmonic-rich frames is not a tone on a line."""
    judged = 0
    for hz, seconds in ((440, 0.3), (1400, 0.5)):
        for path in speech_paths:
            x = load_mono_16k(path)
            a, b = speech_bounds(x)
            rms = _speech_rms(x[a:b])
            n = int(seconds * RATE)
            beep = np.sqrt(2) * rms * 10 ** (12 / 20) * np.sin(2 * np.pi * hz * np.arange(n) / RATE)
            at = a + (b - a - n) // 2
            y = x.copy()
            y[at:at + n] += (beep * np.minimum(1, np.minimum(np.arange(n), n - np.arange(n)) / 80)).astype(np.float32)
            for start in range(max(0, at + n - 2 * RATE), min(at, len(y) - 2 * RATE) + 1, RATE // 4):
                window = y[start:start + 2 * RATE]
                assert speech_like(window), (hz, path.name, start, measure(window))
                judged += 1
    assert judged >= 20, judged


def test_a_word_too_short_to_analyse_is_still_speech(speech_paths, predictor):
    """A segment with no window to analyse is judged by the gate on its own sound (so that the click
    where a tone starts is not counted as speech): a short word of real speech stays speech."""
    for path in speech_paths:
        x = load_mono_16k(path)
        a, b = speech_bounds(x)
        energy = np.convolve(x[a:b] ** 2, np.ones(RATE // 2), "valid")
        at = a + int(np.argmax(energy))
        word = x[at:at + int(0.45 * RATE)]
        silence = np.zeros(RATE, np.float32)
        events = analyze_waveform(np.concatenate([silence, word, silence]), predictor, EngineConfig(emit_audio=False))
        segments = [e for e in events if isinstance(e, SpeechSegment)]
        assert segments and all(s.not_speech is None for s in segments), (path, segments)


def test_speech_over_a_steady_tone_is_measured_without_it(speech_paths):
    """A whine that lasts the whole window fills the pauses between words: the frame levels of speech
    over a 440-Hz tone 5 dB below it, or a 1-kHz one 3 dB below, spread less than speech's, and the
    gate took most of their windows for steady sound (here 8 of 8 and 2 of 8). The modulation is
    measured again without the window's steady lines; a tone, and mains hum, alone stay steady."""
    t = np.arange(30 * RATE) / RATE
    hum = sum(np.sin(2 * np.pi * 50 * k * t + k) / k ** 0.5 for k in range(1, 60))  # harmonics to 3 kHz
    for frequency, below_db in ((440, 5.0), (1000, 3.0)):
        tone = np.sqrt(2) * np.sin(2 * np.pi * frequency * t)
        kept = judged = 0
        for path in speech_paths:
            x = load_mono_16k(path)
            a, b = speech_bounds(x)
            y = (x + tone[:len(x)] * _speech_rms(x[a:b]) * 10 ** (-below_db / 20)).astype(np.float32)
            for start in range(a, max(a + 1, b - 2 * RATE), RATE // 4):
                kept += speech_like(y[start:start + 2 * RATE])
                judged += 1
        assert judged >= 6 and kept == judged, (frequency, kept, judged)
        assert not speech_like(level(tone[:2 * RATE].astype(np.float32), -20.0))
    assert not speech_like(level(hum[:2 * RATE].astype(np.float32), -20.0))
    # Steady noise has no lines: nothing is measured again.
    from streamer.speechgate import _under_steady_lines

    rng = np.random.default_rng(3)
    frames = np.abs(np.fft.rfft(rng.standard_normal((200, 512)), axis=1)[:, 10:110]) ** 2
    assert _under_steady_lines(frames) == (0.0, None)
