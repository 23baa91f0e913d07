"""Bounded histories and the display spectrogram (no window needed)."""

from __future__ import annotations

import numpy as np
import torch

from gui.events import Audio, Result, Segment, VadFlags
from gui.history import LEVEL_BIN_S, SPEC_COLUMN_S, Ring, SpectrogramMaker, TrackHistory

LABELS = ["neutral", "happy", "sad"]


def _result(t: float, top: str = "happy") -> Result:
    probs = {lab: (0.8 if lab == top else 0.1) for lab in LABELS}
    return Result.built_in(0, t, t + 2.0, probs, {"female": 0.7, "male": 0.3}, 0.6, 0.5, 0.4)


def test_ring_keeps_only_the_newest_rows_and_returns_them_in_order():
    ring = Ring(capacity=5, width=1)
    for i in range(23):
        ring.append(np.array([i]))
        assert len(ring) <= 5
    assert ring.view()[:, 0].tolist() == [18, 19, 20, 21, 22]
    ring.append(np.arange(100, 112)[:, None])  # more than the capacity at once
    assert ring.view()[:, 0].tolist() == [107, 108, 109, 110, 111]


def test_display_spectrogram_equals_the_model_front_end_whatever_the_block_size():
    from model.features import FeatureConfig
    from model.logmel import LogMel

    x = np.random.default_rng(1).standard_normal(16000).astype(np.float32) * 0.1
    ref = LogMel(FeatureConfig())(torch.from_numpy(x))[0].numpy().T  # (frames, mels)
    for block in (160, 1000, 16000):
        maker = SpectrogramMaker()
        cols = [maker.push(s / 16000, x[s:s + block])[1] for s in range(0, len(x), block)]
        cols = np.concatenate(cols)
        n = len(cols)
        assert n >= int(1.0 / SPEC_COLUMN_S) - 2
        expected = ref[: 2 * n].reshape(n, 2, -1).mean(axis=1)
        np.testing.assert_allclose(cols, expected, atol=1e-4)


def test_track_history_summary():
    h = TrackHistory(LABELS, history_s=60.0)
    sr = 16000
    for i in range(20):  # 10 s of audio in 0.5 s blocks
        h.add_audio(Audio(0, i * 0.5, np.full(sr // 2, 0.1, np.float32)))
    h.add_vad(VadFlags(0, 0.0, 0.03, np.ones(100, np.float32)))
    h.add_segment(Segment(0, 1.0, 4.0))
    for i, t in enumerate(np.arange(1.0, 8.0, 0.5)):
        h.add_result(_result(t, "happy" if i % 3 else "sad"))
    assert len(h.level) == round(10.0 / LEVEL_BIN_S)
    assert np.allclose(h.level.view()[:, 1], 20 * np.log10(0.1), atol=0.01)
    s = h.summary()
    assert s.speech_s == 3.0
    assert s.analysed_windows == 14
    assert s.shares == {} and s.utterances == 0  # shares are of utterance time, as ser analyze counts them
    # Utterances weigh by their duration; uncertain ones are counted apart (as in streamer.summary).
    for start, end, top, unsure in ((1.0, 4.0, "happy", False), (4.5, 5.5, "sad", False), (6.0, 7.0, "sad", True)):
        u = _result(start, top)
        h.add_result(Result.built_in(0, start, end, u.probabilities, u.gender, 0.6, 0.5, 0.4, kind="utterance",
                            uncertain=unsure))
    s = h.summary()
    assert abs(sum(s.shares.values()) - 1) < 1e-9 and s.shares["happy"] > s.shares["sad"] > 0
    assert s.shares == {"happy": 0.75, "sad": 0.25} and s.utterances == 3 and s.uncertain_s == 1.0
    mask = h.speech_mask(0.0, 6.0, 600)
    assert mask[:290].all() and not mask[320:].any()  # 100 VAD frames of 30 ms = 3 s
    assert h.analysed_s == 9.5  # the latest window result's end: how far the analysis is final


def test_history_is_bounded():
    h = TrackHistory(LABELS, history_s=20.0)
    for i in range(120):  # 60 s into a 20 s history
        h.add_audio(Audio(0, i * 0.5, np.zeros(8000, np.float32)))
    times = h.level.view()[:, 0]
    assert len(times) == round(20.0 / LEVEL_BIN_S)
    assert times[0] > 39.0 and times[-1] < 60.0
    assert len(h.spec) <= h.spec.capacity


def test_smoothing_is_incremental_and_matches_a_full_pass():
    from gui.history import ema

    rng = np.random.default_rng(3)
    h = TrackHistory(LABELS, history_s=60.0)
    h.set_smoothing(0.6)
    for t in np.arange(0.0, 20.0, 0.5):
        p = rng.dirichlet(np.ones(3))
        h.add_result(Result.built_in(0, t, t + 2.0, dict(zip(LABELS, p, strict=True)), {"female": float(rng.random())},
                            float(rng.random()), float(rng.random()), float(rng.random())))
    raw = h.results.view()[:, 2:]
    np.testing.assert_allclose(h.smoothed.view()[:, 2:], ema(raw, 0.6), atol=1e-5)
    assert h.probabilities(smoothed=True).std(axis=0).max() < h.probabilities().std(axis=0).max()
    h.set_smoothing(0.0)
    np.testing.assert_array_equal(h.probabilities(smoothed=True), h.probabilities())


def test_smoothing_starts_again_in_each_speech_segment():
    # Angry-like then sad-like speech in two segments: the second segment's first window is drawn
    # at its own values, not pulled toward the first segment's (also after re-smoothing the history).
    def utterance(t0, t1, top):
        probs = {lab: (0.8 if lab == top else 0.1) for lab in LABELS}
        return Result.built_in(0, t0, t1, probs, {"female": 0.7, "male": 0.3}, 0.6, 0.5, 0.4, kind="utterance")

    h = TrackHistory(LABELS, history_s=60.0)
    h.set_smoothing(0.5)
    for t, top in ((0.0, "happy"), (0.5, "sad"), (1.0, "happy")):
        h.add_result(_result(t, top))
    h.add_result(utterance(0.0, 3.0, "happy"))
    h.add_result(_result(25.0, "sad"))
    h.add_result(_result(25.5, "sad"))
    h.add_result(utterance(25.0, 27.5, "sad"))
    smoothed, raw = h.probabilities(smoothed=True), h.probabilities()
    assert smoothed[1, 2] < raw[1, 2]  # within a segment, smoothed as before
    np.testing.assert_allclose(smoothed[3], raw[3])  # the second segment's first window
    np.testing.assert_allclose(smoothed[4], raw[4])  # the same values twice in a row
    h.set_smoothing(0.3)
    h.set_smoothing(0.5)
    np.testing.assert_allclose(h.probabilities(smoothed=True), smoothed, atol=1e-6)


def test_an_hour_of_history_costs_memory_only_as_it_fills():
    import time

    from gui.history import SPEC_LOG_MIN, SPEC_LOG_STEP, quantise_logmel

    t0 = time.perf_counter()
    h = TrackHistory(LABELS, history_s=3600.0)
    assert time.perf_counter() - t0 < 0.5  # no eager initialisation of the buffers
    assert h.spec.view().dtype == np.uint8
    q = quantise_logmel(np.array([SPEC_LOG_MIN - 5, SPEC_LOG_MIN, 0.0, 100.0]))
    assert q.tolist() == [0, 0, round(-SPEC_LOG_MIN / SPEC_LOG_STEP), 255]


def test_the_result_covering_a_time_includes_the_first_half_of_a_runs_first_window():
    from gui.history import TrackHistory

    h = TrackHistory(["neutral", "happy"], with_spectrogram=False)

    # Two runs: one window [1, 2.5] (mid 1.75), then windows [5, 7] and [5.5, 7.5].
    for mid, end in ((1.75, 2.5), (6.0, 7.0), (6.5, 7.5)):
        h.results.append(np.array([mid, end, 0.5, 0.5, *([np.nan] * (h.results.view().shape[1] - 4))]))
    idx, covered = h.covering(np.array([1.1, 3.0, 5.2, 6.2, 7.4, 9.0]))
    assert covered.tolist() == [True, False, True, True, True, False]
    assert idx[0] == 0 and idx[2] == 1 and idx[3] == 1 and idx[4] == 2
    # The tolerance bridges a small gap between windows, not the ends of a run.
    h.results.append(np.array([8.54, 9.58, 0.5, 0.5, *([np.nan] * (h.results.view().shape[1] - 4))]))  # [7.5, 9.58]
    h.results.append(np.array([10.6, 11.6, 0.5, 0.5, *([np.nan] * (h.results.view().shape[1] - 4))]))  # [9.6, 11.6]
    idx, covered = h.covering(np.array([0.97, 2.53, 9.59, 11.63]), tolerance_s=0.05)
    assert covered.tolist() == [False, False, True, False] and idx[2] == 3


def test_sound_the_gate_left_out_is_neither_counted_nor_shaded_as_speech():
    h = TrackHistory(LABELS, history_s=60.0)
    h.add_vad(VadFlags(0, 0.0, 0.03, np.ones(200, np.float32)))  # the VAD flags all 6 s
    h.add_segment(Segment(0, 0.0, 2.0))
    h.add_segment(Segment(0, 2.5, 6.0, "steady sound (noise, hum, a tone or sustained music)"))
    s = h.summary()
    assert s.speech_s == 2.0 and s.not_speech_s == 3.5 and s.not_speech.startswith("steady sound")
    mask = h.speech_mask(0.0, 6.0, 600)
    assert mask[:190].all() and not mask[260:].any()
    h.clear()
    assert h.summary().not_speech_s == 0.0 and not h.not_speech_reasons
    h.add_segment(Segment(0, 0.0, 3.0, "noise"))  # nothing but noise: no speech at all, not the VAD's flags
    assert h.summary().speech_s == 0.0


def test_label_text_on_the_light_panel_is_readable():
    """The palette is made for the plots' dark background; as text on the side panel every label
    (and any other name) keeps a contrast ratio of at least 4.5 to the panel."""
    from gui.colors import LABEL_COLORS, text_color

    def luminance(rgb):
        c = [v / 255 for v in rgb]
        c = [v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in c]
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]

    panel = (239, 239, 239)
    for label in [*LABEL_COLORS, "some other class"]:
        assert (luminance(panel) + 0.05) / (luminance(text_color(label, panel)) + 0.05) >= 4.5, label
    assert text_color("sad", panel) == LABEL_COLORS["sad"]  # dark enough already: unchanged


def test_the_panel_says_what_sound_was_left_out_when_no_window_was_analysed(qtbot):
    """Speech too short for a window beside sound the gate left out: the panel gives both (and no
    "yet", which would be wrong once the analysis has ended)."""
    from gui.side_panel import LanePanel

    panel = LanePanel(0, "Speech")
    qtbot.addWidget(panel)
    h = TrackHistory(LABELS, history_s=60.0)
    h.add_vad(VadFlags(0, 0.0, 0.03, np.ones(200, np.float32)))  # the VAD flags all 6 s
    h.add_segment(Segment(0, 0.0, 4.4, "steady sound (noise, hum, a tone or sustained music)"))
    panel.update_from(h, None)
    assert panel.summary_label.text() == ("<b>Session</b>: no speech; 4.4 s of sound left out as not speech "
                                          "(steady sound (noise, hum, a tone or sustained music)).")
    h.add_segment(Segment(0, 5.0, 5.4))
    panel.update_from(h, None)
    text = panel.summary_label.text()
    assert text.startswith("<b>Session</b>: speech 0.4 s, no window analysed; 4.4 s of sound left out") and "yet" not in text
    h.clear()
    panel.update_from(h, None)
    assert panel.summary_label.text() == "<b>Session</b>: speech 0.0 s, no window analysed."


def test_the_panel_says_so_when_every_utterance_is_uncertain(qtbot):
    from gui.side_panel import LanePanel

    panel = LanePanel(0, "Speech")
    qtbot.addWidget(panel)
    h = TrackHistory(LABELS, history_s=60.0)
    probs = {"neutral": 0.3, "happy": 0.4, "sad": 0.3}
    h.add_result(Result.built_in(0, 0.0, 2.0, probs, uncertain=True))
    h.add_result(Result.built_in(0, 0.0, 2.5, probs, kind="utterance", uncertain=True))
    h.add_segment(Segment(0, 0.0, 2.5))
    panel.update_from(h, 3.0)
    text = panel.summary_label.text()
    assert "shares of the utterance time:" not in text and "no emotion shares (every utterance uncertain)." in text
    assert "<br>Last utterance (0.0-2.5 s)" in text and "happy" in text and "(uncertain)" in text


def test_the_panel_writes_times_as_the_axis_does():
    """Past a minute the axis and the crosshair say m:ss; the panel said "83.5-85.5 s" beside them."""
    from streamer.summary import clock_text, span_text, time_text

    assert span_text(3.5, 5.5) == "3.5-5.5 s"
    assert span_text(83.5, 85.5) == "1:23.5-1:25.5" == f"{clock_text(83.5)}-{clock_text(85.5)}"
    assert span_text(58.5, 60.5) == "0:58.5-1:00.5"
    # One time, kept in float32 (the history) or float64 (an event), is written the same way; a
    # time rounding up to a minute is 1:00.0, not 0:60.0.
    assert span_text(float(np.float32(164.3)), float(np.float32(166.35))) == span_text(164.3, 166.35) == \
        f"2:{164.3 - 120:04.1f}-2:{166.35 - 120:04.1f}"  # 46.35 as :.1f writes it, as ser analyze does
    assert span_text(2.25, 12.45) == f"{2.25:.1f}-{12.45:.1f} s"
    assert clock_text(59.96) == "1:00.0" and clock_text(-1.0) == "0:00.0" and clock_text(float("inf")) == "0:00.0"
    assert clock_text(3725.3) == "1:02:05.3"  # as the axis, h:mm:ss from an hour on
    # The crosshair and the reports: seconds under a minute, as the axis writes them there (the
    # crosshair said "0:19.9" over an axis in seconds).
    assert [time_text(t) for t in (19.94, 59.96, 91.35, 3725.3, -2.0)] == \
        ["19.9 s", "1:00.0", f"1:{91.35 - 60:04.1f}", "1:02:05.3", "0.0 s"]


def test_the_panel_greys_the_last_result_through_silence_and_says_how_long(qtbot):
    """Live, the panel kept the last speech's emotion as it was through minutes of silence. Past its
    window by STALE_AFTER_S it is greyed and the time says how long there was no speech; in a
    recording whose analysis has not got that far, nothing is said of the time after it."""
    from gui.side_panel import STALE_AFTER_S, UNCERTAIN_GREY, LanePanel

    panel = LanePanel(0, "Microphone")
    qtbot.addWidget(panel)
    h = TrackHistory(LABELS, history_s=60.0)
    h.add_result(Result.built_in(0, 1.0, 3.0, {"neutral": 0.1, "happy": 0.8, "sad": 0.1}))
    h.add_audio(Audio(0, 0.0, np.zeros(int(16000 * 4.0), np.float32)))
    panel.update_from(h, None)
    assert panel.current_time.text() == "window 1.0-3.0 s" and panel.current_label.text() == "happy"
    assert "rgb(140,140,140)" not in panel.current_label.styleSheet()
    h.add_audio(Audio(0, 4.0, np.zeros(int(16000 * 3.2), np.float32)))  # silence on to 7.2 s
    panel.update_from(h, None)
    assert h.end_s - 3.0 >= STALE_AFTER_S
    assert panel.current_time.text() == "window 1.0-3.0 s; no speech for 4 s" and panel.current_label.text() == "happy"
    assert f"rgb({','.join(map(str, UNCERTAIN_GREY))})" in panel.current_label.styleSheet()
    panel.update_from(h, 6.0, analysed_s=4.0)  # a replay's playhead past where its analysis has got
    assert panel.current_time.text() == "window 1.0-3.0 s"


def test_the_panel_does_not_call_speech_without_a_result_yet_no_speech(qtbot):
    """A replay's playhead inside speech whose first result is not shown yet (it is from the middle of
    its first window) showed the last result with "no speech for 3 s"; live, the first seconds of
    speech after a pause did too. The speech under the playhead is said, with when its first result
    comes, and the silence after a speech that got no result is counted from its end."""
    from gui.side_panel import UNCERTAIN_GREY, LanePanel

    panel = LanePanel(0, "Customer")
    qtbot.addWidget(panel)
    h = TrackHistory(LABELS, history_s=60.0)
    h.add_segment(Segment(0, 1.0, 3.0))
    h.add_result(Result.built_in(0, 1.0, 3.0, {"neutral": 0.1, "happy": 0.8, "sad": 0.1}))
    h.add_segment(Segment(0, 8.2, 12.5))  # analysed ahead of the playhead; its first window 8.2-10.2 s
    h.add_result(Result.built_in(0, 8.2, 10.2, {"neutral": 0.7, "happy": 0.2, "sad": 0.1}))
    h.add_audio(Audio(0, 0.0, np.zeros(int(16000 * 13.0), np.float32)))
    grey = f"rgb({','.join(map(str, UNCERTAIN_GREY))})"
    width = panel.minimumSizeHint().width()
    panel.update_from(h, 8.7, analysed_s=13.0)
    assert panel.current_time.text() == "window 1.0-3.0 s; speech from 8.2 s, its first result at 9.2 s"
    assert panel.minimumSizeHint().width() == width  # wrapped, not widening the panel past the window
    assert panel.current_label.text() == "happy" and grey in panel.current_label.styleSheet()
    assert "none of its own so far" in panel.current_label.toolTip()
    panel.update_from(h, 7.9, analysed_s=13.0)  # before it: silence since the first result's window
    assert panel.current_time.text() == "window 1.0-3.0 s; no speech for 4 s"
    panel.update_from(h, 9.3, analysed_s=13.0)  # its first result, from its window's middle
    assert panel.current_time.text() == "window 8.2-10.2 s" and panel.current_label.text() == "neutral"
    assert grey not in panel.current_label.styleSheet()
    # Speech that got no result (its windows held too little speech): said while the playhead is in
    # it, and the silence after it counted from its end, not from the last result's window.
    h.add_segment(Segment(0, 13.0, 13.6))
    h.add_audio(Audio(0, 13.0, np.zeros(int(16000 * 5.0), np.float32)))
    panel.update_from(h, 13.2, analysed_s=18.0)
    assert panel.current_time.text() == "window 8.2-10.2 s; speech from 13.0 s, without a result so far"
    panel.update_from(h, 16.0, analysed_s=18.0)
    assert panel.current_time.text() == "window 8.2-10.2 s; no speech for 2 s"


def test_live_speech_after_a_pause_is_not_called_no_speech_before_its_segment_closes(qtbot):
    """Live, a segment reaches the history when it closes; before that the voice-activity flags say
    that someone speaks, and the panel says so instead of "no speech for N s"."""
    from gui.events import VadFlags
    from gui.side_panel import LanePanel

    panel = LanePanel(0, "Microphone")
    qtbot.addWidget(panel)
    h = TrackHistory(LABELS, history_s=60.0)
    h.add_segment(Segment(0, 1.0, 3.0))
    h.add_result(Result.built_in(0, 1.0, 3.0, {"neutral": 0.1, "happy": 0.8, "sad": 0.1}))
    h.add_audio(Audio(0, 0.0, np.zeros(int(16000 * 8.1), np.float32)))
    frames = np.arange(270) * 0.03  # 0-8.1 s: speech to 3.0 s, silence, speech again from 6.6 s
    h.add_vad(VadFlags(0, 0.0, 0.03, (frames < 3.0) | (frames >= 6.6)))
    panel.update_from(h, None)
    assert panel.current_time.text() == "window 1.0-3.0 s; speech from 6.6 s, without a result so far"
    # It stops at 8.1 s and its segment has not closed yet: silence is counted from its end.
    h.add_vad(VadFlags(0, 8.1, 0.03, np.zeros(107, bool)))
    h.add_audio(Audio(0, 8.1, np.zeros(int(16000 * 3.2), np.float32)))
    panel.update_from(h, None)
    assert panel.current_time.text() == "window 1.0-3.0 s; no speech for 3 s"
    # Speech going on less than 2 s after the result's window: nothing said of it (results follow).
    h2 = TrackHistory(LABELS, history_s=60.0)
    h2.add_result(Result.built_in(0, 1.0, 3.0, {"neutral": 0.1, "happy": 0.8, "sad": 0.1}))
    h2.add_audio(Audio(0, 0.0, np.zeros(int(16000 * 4.0), np.float32)))
    h2.add_vad(VadFlags(0, 0.0, 0.03, np.ones(133, bool)))
    panel.update_from(h2, None)
    assert panel.current_time.text() == "window 1.0-3.0 s"
