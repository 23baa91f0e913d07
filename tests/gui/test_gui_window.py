"""The main window on the real engine and the tiny model: replay, transport, call-centre lanes,
exports, errors."""

from __future__ import annotations

import csv
import json
import re
import time

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from gui.events import Audio
from gui.main_window import FILE, SESSION, sentence
from gui.plots import PLOT_BACKGROUND
from model.errors import SERError

WAIT_MS = 30_000


def _finite(a) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    return a[np.isfinite(a)]


def test_window_opens_with_model_and_controls(make_window, tiny_model_path):
    w = make_window()
    assert w.isVisible()
    assert w.model_info is not None and w.model_info.labels
    assert tiny_model_path.name in w.status_model.text()
    assert not w.banner.isVisible() and w.errors == []
    assert [w.speed_combo.itemData(i) for i in range(w.speed_combo.count())][:5] == [0.5, 1.0, 2.0, 4.0, 8.0]
    shortcuts = {a.text(): a.shortcut().toString() for a in w.actions()}
    assert shortcuts["Play"] == "Space" and shortcuts["Open file…"] == "Ctrl+O" and shortcuts["Stop"] == "Esc"


def test_the_time_axis_reads_in_minutes_on_long_recordings(make_window, replay, speech_wav):
    """pyqtgraph would label a long time axis in kiloseconds ("ks"); ours says seconds, then m:ss."""
    w = replay(make_window(speed=0.0), speech_wav)
    axis = w.plot_stack.lanes[0].plots[-1].getAxis("bottom")
    assert axis.tickStrings([0.0, 5.0, 10.0], 1.0, 5.0) == ["0", "5", "10"]
    assert axis.tickStrings([600.0, 900.0, 1200.0], 1.0, 300.0) == ["10:00", "15:00", "20:00"]
    assert axis.tickStrings([3600.0, 3630.5], 1.0, 0.5) == ["1:00:00.0", "1:00:30.5"]
    # Across the first minute, each tick as the crosshair writes its time (it said 45.0 s over "0:40").
    assert axis.tickStrings([40.0, 50.0, 60.0, 70.0], 1.0, 10.0) == ["40", "50", "1:00", "1:10"]
    assert "ks" not in axis.labelString() and "m:ss" in axis.labelString()


def test_replay_of_real_speech_fills_every_plot(make_window, replay, speech_wav):
    w = replay(make_window(speed=0.0), speech_wav)
    assert w.errors == []
    assert w.mode == FILE and len(w.plot_stack.lanes) == 1
    lane = w.plot_stack.lanes[0]
    duration = 14.0
    assert abs(w.position_s - duration) < 0.6 and abs(w.duration_s - w.position_s) < 1e-6

    x, y = lane.level_curve.getData()
    assert len(x) > 600 and x.max() > duration - 0.5
    assert y.max() > -40 and y.min() <= -70  # speech and the silent gaps
    shade = lane.speech_image.image
    assert shade is not None and 0 < shade.mean() < 1  # some of the time is speech, not all
    spec = lane.spec_image.image
    assert spec is not None and spec.shape[1] == 64 and spec.shape[0] > 100 and np.isfinite(spec).all()
    assert spec.std() > 0.5  # a real spectrogram, not a constant

    labels = w.model_info.labels
    assert set(lane.emotion_curves) == set(labels)
    n_results = len(w.histories[0].results)
    assert n_results >= 4
    for lab in labels:
        ex, ey = lane.emotion_curves[lab].getData()
        assert len(_finite(ey)) >= n_results and ((_finite(ey) >= 0) & (_finite(ey) <= 1)).all()
    probs = w.histories[0].probabilities()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    for name, curve in lane.dimensions_curves.items():
        assert len(_finite(curve.getData()[1])) >= n_results, name
    assert len(_finite(lane.gender_curve.getData()[1])) >= n_results
    assert "estimated" in lane.caption(lane.dimensions_plot)

    panel = w.side_panel.panels[0]
    assert panel.current_label.text() in labels
    assert [b.value() for b in panel.top_bars] == sorted((b.value() for b in panel.top_bars), reverse=True)
    assert len(panel.va_trail.data) == min(n_results, 40)
    assert "estimated" in panel.va_plot.plotItem.titleLabel.text
    assert "speech" in panel.summary_label.text() and "%" in panel.summary_label.text()
    assert w.histories[0].utterances and "Last utterance" in panel.summary_label.text()
    # The whole recording is in view at the end.
    x0, x1 = w.plot_stack.x_range()
    assert x0 <= 0.5 and x1 >= duration - 0.5


def test_pause_resume_stop_and_speed(make_window, qtbot, speech_wav):
    """The playhead plays at the chosen speed while the analysis runs ahead at full speed."""
    w = make_window(speed=4.0)
    assert w.open_file(speech_wav)
    assert w.bridge.source.pace == "fast"  # the analysis does not wait for the playhead
    qtbot.waitUntil(lambda: w.position_s > 1.0, timeout=WAIT_MS)
    p0, t0 = w.position_s, time.monotonic()
    qtbot.waitUntil(lambda: w.position_s > p0 + 3.0, timeout=WAIT_MS)
    rate = (w.position_s - p0) / (time.monotonic() - t0)
    assert 1.5 < rate < 4.8  # real-time pacing at 4x (never faster; a busy machine may lag a little)

    w.toggle_pause()  # the Space action
    assert w.paused and w.status_state.text().startswith("paused")
    held = w.position_s
    qtbot.wait(300)
    w.tick()
    assert w.position_s == held

    w.set_speed(8.0)
    assert w.speed_combo.currentText() == "8x" and w.settings.speed == 8.0 and w.transport.speed == 8.0
    w.toggle_pause()
    assert not w.paused
    qtbot.waitUntil(lambda: w.position_s > held + 1.0, timeout=WAIT_MS)

    w.stop()
    assert not w.bridge.active and w.status_state.text() == "stopped"
    assert w.histories[0].results.view().size  # stopping keeps what was analysed


def test_the_analysis_fills_ahead_of_the_playhead_and_completes_its_session(make_window, qtbot, speech_wav):
    w = make_window(speed=1.0)
    with qtbot.waitSignal(w.sig_analysis_finished, timeout=WAIT_MS):
        assert w.open_file(speech_wav)
    assert w.position_s < 10.0  # at 1x the playhead is still early on
    ends = w.histories[0].results.view()[:, 1]
    assert ends.max() > 12.0  # ... while the whole recording is analysed
    assert '"analysis": "complete"' in w.session_path.read_text()
    w.stop()


def test_seeking_back_keeps_every_result_and_replaying_makes_no_second_session(make_window, replay, qtbot,
                                                                               speech_wav):
    w = replay(make_window(speed=0.0), speech_wav)
    before = w.histories[0].results.view().copy()
    session, sessions = w.session_path, sorted(w.session_dir.glob("*.jsonl"))
    w.seek(5.0)
    w.tick()
    assert w.position_s == pytest.approx(5.0) and np.array_equal(w.histories[0].results.view(), before)
    w.set_speed(8.0)
    w.toggle_pause()  # play from 5 s
    qtbot.waitUntil(lambda: w.position_s > 6.0, timeout=WAIT_MS)
    w.seek(1.0)
    w.tick()
    assert np.array_equal(w.histories[0].results.view(), before)  # nothing computed is discarded
    assert not w.bridge.active  # and nothing is analysed again
    with qtbot.waitSignal(w.sig_replay_finished, timeout=WAIT_MS):
        pass
    w.toggle_pause()  # Play at the end: from the start, the same analysis
    assert w.playing and w.position_s < 0.5
    assert w.session_path == session and sorted(w.session_dir.glob("*.jsonl")) == sessions


def test_a_recordings_notes_are_shown_together_and_again_when_it_reopens(make_window, replay, qtbot, speech_16k,
                                                                        tmp_path):
    """A clipped mono recording saved as stereo, in the call-centre view: the view's notice and both
    notes stay in view together (each hid the one before, in red); opened again, the analysis comes
    from its session and so do its notes (they were gone)."""
    import soundfile as sf

    loud = np.clip(8 * speech_16k, -1, 1)
    path = tmp_path / "twins.wav"
    sf.write(path, np.stack([loud, loud], axis=1), 16000)
    w = make_window(speed=0.0, channels="split")
    replay(w, path)
    qtbot.waitUntil(lambda: len(w.banner.messages()) == 3, timeout=WAIT_MS)
    said = w.banner.messages()
    assert "not analysed" in said[0] and "clipped" in said[1] and "hold the same sound" in said[2], said
    assert "#1d3a5a" in w.banner.styleSheet()  # notes: blue
    w.stop()
    w.clear_error()
    assert w.open_file(path) and not w.bridge.active and "analysed before" in w.statusBar().currentMessage()
    assert w.banner.messages() == said


def test_a_recording_analysed_before_reopens_from_its_session(make_window, replay, qtbot, speech_wav, tmp_path):
    w = replay(make_window(speed=0.0), speech_wav)
    results = w.histories[0].results.view().copy()
    session = w.session_path
    w.stop()
    assert not w.open_file(tmp_path / "missing.wav") and w.banner.isVisible()
    assert w.open_file(speech_wav)  # the same file, model and settings
    assert w.session_path == session and not w.bridge.active and "analysed before" in w.statusBar().currentMessage()
    assert not w.banner.isVisible()  # the error about the missing file no longer applies
    assert np.allclose(w.histories[0].results.view()[:, :2], results[:, :2])
    copy = tmp_path / "copy of speech.wav"  # the same content elsewhere: its own session, named after it
    copy.write_bytes(speech_wav.read_bytes())
    other = make_window(speed=0.0)
    assert other.open_file(copy) and other.bridge.active and other.session_path != session
    other.stop()
    qtbot.waitUntil(lambda: not w.bridge.reading, timeout=WAIT_MS)
    w.tick()
    assert w.histories[0].level.view()[:, 0].max() > 13.0  # level and spectrogram read back from the audio
    assert w.histories[0].spec_times.view().size
    w.apply_settings(w.settings.replace(hop_s=0.25))  # other settings: analysed again, in a new session
    assert w.bridge.active and w.session_path != session
    w.stop()


def test_seek_by_control_and_by_clicking_a_plot(make_window, replay, qtbot, speech_wav):
    w = replay(make_window(speed=0.0), speech_wav)
    w.pause()
    lane = w.plot_stack.lanes[0]
    w.plot_stack.show_all(14.0)
    w.redraw()
    scene_pt = lane.level_plot.vb.mapViewToScene(QtCore.QPointF(4.0, -40.0))
    view_pt = w.plot_stack.mapFromScene(scene_pt)
    qtbot.mouseClick(w.plot_stack.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=view_pt)
    assert w.position_s == pytest.approx(4.0, abs=0.2)
    w.act_forward.trigger()  # the Right-arrow action
    assert w.position_s == pytest.approx(9.0, abs=0.2)
    w.act_back.trigger()
    assert w.position_s == pytest.approx(4.0, abs=0.2)
    assert w.paused and w.histories[0].level.view()[:, 0].max() > 13.0  # the level stays drawn after the playhead
    doc = json.loads(w.export("json", w.session_dir / "seek.json").read_text())
    windows = [(r["track"], r["start_s"]) for r in doc["results"] if r["kind"] == "window"]
    assert windows and len(windows) == len(set(windows)) and windows == sorted(windows)


def test_the_live_menu_pauses_and_stops_listening(make_window):
    """Listen was the Live menu's only way in: Pause and Stop were under Playback alone."""
    w = make_window()
    live = next(a.menu() for a in w.menuBar().actions() if a.text() == "&Live")
    assert w.act_play in live.actions() and w.act_stop in live.actions()


def test_keyboard_shortcuts_pause_and_resume(make_window, qtbot, speech_wav):
    w = make_window(speed=1.0)
    w.activateWindow()
    assert w.open_file(speech_wav)
    qtbot.waitUntil(lambda: w.position_s > 0.3, timeout=WAIT_MS)
    qtbot.keyClick(w.plot_stack, QtCore.Qt.Key.Key_Space)
    assert w.paused
    qtbot.keyClick(w.plot_stack, QtCore.Qt.Key.Key_Space)
    assert not w.paused and w.playing
    qtbot.keyClick(w.plot_stack, QtCore.Qt.Key.Key_Escape)
    assert not w.bridge.active and w.status_state.text() == "stopped"


def test_mixing_a_call_says_that_the_agents_voice_is_analysed_too(qtbot, make_window, replay, stereo_wav):
    """Channels switched from the call-centre view to Mixed on a call: the agent's voice was analysed
    with no word about it (ser batch refuses --channels mix without --analyse-agent)."""
    w = make_window(speed=0.0, channels="split")
    replay(w, stereo_wav)
    assert not w.plot_stack.lanes[0].analysed
    w.seek(4.0)
    w.pause()
    w.set_channels("mix")
    assert "agent's voice included" in w.banner.text() and w.banner.isVisible()
    # Where it was, paused as it was (a trial found the replay back at 0:00).
    assert w.position_s == pytest.approx(4.0) and w.paused
    qtbot.waitUntil(lambda: w.transport.analysis_done, timeout=60000)
    assert "take turns" not in w.banner.text()  # what Mixed means was said: not again
    # To the call-centre view and back: the mixed analysis reopens from its session, its note with it.
    w.set_channels("split")
    w.set_channels("mix")
    qtbot.waitUntil(lambda: w.transport.analysis_done, timeout=60000)
    assert "agent's voice included" in w.banner.text() and "take turns" not in w.banner.text()


def test_a_channel_change_after_the_end_still_says_the_replay_finished(make_window, replay, stereo_wav, qtbot):
    w = make_window(speed=0.0)
    replay(w, stereo_wav)
    assert w.status_state.text() == "replay finished"
    w.set_channels("split")
    qtbot.waitUntil(lambda: w.transport.analysis_done, timeout=60000)
    assert w.status_state.text() == "replay finished" and w.position_s == pytest.approx(w.duration_s, abs=0.1)


def test_the_sessions_list_tells_a_mixed_analysis_from_a_call_centre_one(make_window, replay, stereo_wav):
    """The same call analysed mixed and in the call-centre view gave two rows alike in File > Sessions."""
    from gui.sessions import list_sessions

    w = make_window(speed=0.0)
    replay(w, stereo_wav)
    w.set_channels("split")
    w.stop()
    lanes = sorted(info.lanes for info in list_sessions(w.session_dir))
    assert lanes == ["Agent, Customer (Customer analysed)", "mixed (2 channels)"]


def test_a_call_opened_mixed_says_how_to_analyse_each_side(make_window, replay, stereo_wav):
    """A stereo call opened with Channels at Mixed: both voices made one lane of results, and nothing
    said so. A note, in the app's words, while it is analysed; gone once the call-centre view is on."""
    from model.audio import SPLIT_ADVICE_IN_APP, SPLIT_ADVICE_IN_SESSION

    w = make_window(speed=0.0)
    replay(w, stereo_wav)
    notes = [m for m in w.banner.messages() if "take turns" in m]
    assert len(notes) == 1 and notes[0].endswith(SPLIT_ADVICE_IN_APP) and "ser analyze" not in notes[0]
    assert "#1d3a5a" in w.banner.styleSheet()  # a note, blue
    session = w.session_path
    w.set_channels("split")
    assert not any("take turns" in m for m in w.banner.messages())
    # Reopened from its session (the recording open: Channels works), and as a session (it does not).
    other = make_window(speed=0.0)
    replay(other, stereo_wav)
    assert "analysed before" in other.statusBar().currentMessage() and not other.bridge.active
    assert [m for m in other.banner.messages() if "take turns" in m] == notes
    assert other.open_session(session)
    said = [m for m in other.banner.messages() if "take turns" in m]
    assert len(said) == 1 and said[0].endswith(SPLIT_ADVICE_IN_SESSION) and "ser analyze" not in said[0]


def test_a_channel_change_that_cannot_reopen_the_recording_leaves_the_setting(make_window, replay, stereo_wav,
                                                                              tmp_path):
    """The recording gone, Channels changed: the control said call centre over the mixed analysis."""
    import shutil

    gone = tmp_path / "gone.wav"
    shutil.copy(stereo_wav, gone)
    w = make_window(speed=0.0)
    replay(w, gone)
    gone.unlink()
    w.set_channels("split")
    assert "file not found" in w.banner.messages()[-1]
    assert w.settings.channels == "mix" and w.channels_combo.currentIndex() == 0


def test_call_centre_view_shows_two_named_lanes(make_window, replay, stereo_wav):
    w = make_window(speed=0.0, channels="split", analyse_agent=True)
    replay(w, stereo_wav)
    assert w.errors == []
    assert sorted(w.plot_stack.lanes) == [0, 1] and sorted(w.side_panel.panels) == [0, 1]
    assert [w.side_panel.panels[t].name for t in (0, 1)] == ["Agent", "Customer"]
    assert "Agent" in w.plot_stack.lanes[0].caption(w.plot_stack.lanes[0].emotion_plot)
    assert "Customer" in w.plot_stack.lanes[1].caption(w.plot_stack.lanes[1].emotion_plot)
    first_speech = []
    for t in (0, 1):
        h = w.histories[t]
        assert len(h.results) >= 4 and len(h.segments) >= 3
        first_speech.append(h.segments.view()[0, 0])
        assert len(_finite(w.plot_stack.lanes[t].emotion_curves[w.model_info.labels[0]].getData()[1])) > 0
    assert first_speech[1] - first_speech[0] == pytest.approx(3.0, abs=0.3)  # the right channel is 3 s later
    # One shared time axis.
    assert w.plot_stack.lanes[1].gender_plot.vb.viewRange()[0] == w.plot_stack.lanes[0].level_plot.vb.viewRange()[0]

    panel = w.side_panel.panels[1]
    panel.name_edit.setText("Caller")
    panel.name_edit.editingFinished.emit()
    assert "Caller" in w.plot_stack.lanes[1].caption(w.plot_stack.lanes[1].emotion_plot) and w.track_names[1] == "Caller"
    # The session takes the new name, for its results before the rename too, in every export.
    rows = json.loads(w.export("json", w.session_dir / "call.json").read_text())["results"]
    assert {r["track_name"] for r in rows} == {"Agent", "Caller"}
    with open(w.export("csv", w.session_dir / "call.csv"), newline="") as f:
        assert {r["track_name"] for r in csv.DictReader(f)} == {"Agent", "Caller"}
    assert "Caller" in w.export("html", w.session_dir / "call.html").read_text()
    # Reopened in a window set to one lane, the two-lane session sets the Channels control to match.
    other = make_window(channels="mix")
    assert other.channels_combo.currentData() == "mix"
    assert other.open_session(w.session_path) and sorted(other.plot_stack.lanes) == [0, 1]
    assert other.channels_combo.currentData() == "split" and other.settings.channels == "mix"  # shown, not set
    assert other.open_file(stereo_wav) and other.channels_combo.currentData() == "mix"  # the user's setting again
    other.stop()


def test_exports_and_saved_session_read_back(make_window, replay, speech_wav, tmp_path, qtbot):
    w = replay(make_window(speed=0.0), speech_wav)
    assert w.session_path is not None and w.session_path.exists()

    csv_path = w.export("csv", tmp_path / "out.csv")
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) >= len(w.histories[0].results)
    assert {f"p_{lab}" for lab in w.model_info.labels} <= set(rows[0])

    doc = json.loads(w.export("json", tmp_path / "out.json").read_text())
    windows = [r for r in doc["results"] if r["kind"] == "window"]
    assert len(windows) == len(w.histories[0].results) and doc["segments"]

    png = w.export("png", tmp_path / "plots.png")
    image = QtGui.QImage(str(png))
    assert not image.isNull() and image.width() > 400 and image.height() > 300
    # Over the plots, a title line (what and when): the image is taller than the plots by it.
    assert image.width() == w.plot_stack.width() and image.height() > w.plot_stack.height()
    title = w._titled(QtGui.QPixmap(10, 10))
    assert title.height() > 10 and title.toImage().pixelColor(0, 0).getRgb()[:3] == PLOT_BACKGROUND
    hidpi = QtGui.QPixmap(200, 100)  # a grab on a screen of 2 device pixels per logical one
    hidpi.fill(QtGui.QColor(255, 0, 0))
    hidpi.setDevicePixelRatio(2.0)
    image = w._titled(hidpi).toImage()
    assert image.width() == 200 and image.devicePixelRatio() == 2.0
    assert image.pixelColor(190, image.height() - 5).getRgb()[:3] == (255, 0, 0)  # the plots fill the width

    shown = w.histories[0].results.view().copy()
    other = make_window()
    assert other.open_session(w.session_path)
    assert other.mode == SESSION and other.errors == []
    np.testing.assert_allclose(other.histories[0].results.view(), shown, atol=1e-6)
    assert len(_finite(other.plot_stack.lanes[0].gender_curve.getData()[1])) >= len(shown)


def test_a_damaged_session_opens_up_to_its_damage_if_the_user_agrees(make_window, replay, speech_wav, tmp_path,
                                                                      monkeypatch):
    w = replay(make_window(speed=0.0), speech_wav)
    lines = w.session_path.read_text().splitlines(keepends=True)
    cut = next(i for i, ln in enumerate(lines) if '"type": "result"' in ln) + 2
    bad = tmp_path / "damaged.jsonl"
    bad.write_text("".join(lines[:cut] + ["{torn\n"] + lines[cut:]))

    asked = []
    other = make_window()
    monkeypatch.setattr(other, "ask_salvage", lambda message: asked.append(message) or False)
    assert not other.open_session(bad)  # declined: the damage is reported, nothing opened
    assert asked and f"line {cut + 1} is damaged" in asked[0] and other.errors and other.mode != SESSION

    monkeypatch.setattr(other, "ask_salvage", lambda message: True)
    assert other.open_session(bad)
    assert other.mode == SESSION and 0 < len(other.histories[0].results) < len(w.histories[0].results)
    assert other.banner.isVisible() and "left out" in other.banner.text()


def test_a_session_that_did_not_reach_the_end_says_so_when_opened(make_window, replay, speech_wav, tmp_path):
    """A session whose analysis stopped early (an end record that says "stopped") or never ended (no
    end record: killed) opens with a note that says so and how far it got; a complete one without."""
    import json

    w = replay(make_window(speed=0.0), speech_wav)
    lines = w.session_path.read_text().splitlines(keepends=True)
    assert json.loads(lines[-1])["type"] == "end"
    other = make_window()
    assert other.open_session(w.session_path) and not other.banner.isVisible()

    killed = tmp_path / "killed.jsonl"
    cut = [i for i, ln in enumerate(lines) if '"type": "result"' in ln][3] + 1
    killed.write_text("".join(lines[:cut]))  # no end record
    assert other.open_session(killed)
    text = other.banner.text()
    assert other.banner.isVisible() and "killed.jsonl: the analysis did not finish" in text and "results cover" in text

    exported = tmp_path / "exported.json"  # a JSON export opens like the session it came from
    w.bridge.export(w.session_path, exported, "json")
    assert other.open_session(exported) and not other.banner.isVisible()
    assert np.array_equal(other.histories[0].results.view(), w.histories[0].results.view())

    end = json.loads(lines[-1])
    end.update(analysis="stopped", analysed_until_s=5.0)
    stopped = tmp_path / "stopped.jsonl"
    kept = [ln for ln in lines[:-1] if json.loads(ln).get("end_s", 0.0) <= 5.0]  # what a stop at 5 s leaves
    stopped.write_text("".join(kept) + json.dumps(end) + "\n")
    assert other.open_session(stopped)
    text = other.banner.text()
    assert "stopped.jsonl: the analysis was stopped before the end" in text and "cover 5.0 s of 13." in text
    # Its axis and slider end where the analysis stopped, as on screen when Stop was pressed (its
    # recording is there: they ended at the recording's 13 s).
    assert other.duration_s == pytest.approx(5.0)


def _disk_full(monkeypatch, fails) -> list:
    """Session files' writes fail as on a full disk where ``fails(k)`` says so of the k-th write (from
    1); returns the writes made, for counting."""
    import errno

    import streamer.session

    real, calls = streamer.session._write_all, []
    real = getattr(real, "real_write", real)  # the store's own, not an earlier stand-in of this test

    def write(f, data):
        calls.append(data)
        if fails(len(calls)):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(f, data)

    write.real_write = real
    monkeypatch.setattr(streamer.session, "_write_all", write)
    return calls


def test_a_session_whose_disk_fills_exports_everything_on_screen(make_window, replay, speech_wav, tmp_path,
                                                                  monkeypatch):
    """The session file fails part-way (a full disk) while the export goes to a disk with room: the
    banner says so, the results go on in memory, and every export holds all of them, during the
    analysis and after it, as on screen. Once the disk has room again the file is written whole."""
    import json
    import shutil

    import streamer.session

    copies = []
    for name in ("first", "second"):  # a recording analysed whole once is not analysed again
        copies.append(tmp_path / f"{name}.wav")
        shutil.copy(speech_wav, copies[-1])
    whole = replay(make_window(speed=0.0), speech_wav)
    expected = len(streamer.session.SessionStore.open(whole.session_path).results)  # windows and utterances
    _disk_full(monkeypatch, lambda k: k > 4)
    w = replay(make_window(speed=0.0), copies[0])
    assert w.banner.isVisible() and "No space left on device" in w.banner.text()
    assert "kept in memory" in w.banner.text()
    assert np.array_equal(w.histories[0].results.view(), whole.histories[0].results.view())
    on_disk = streamer.session.SessionStore.open(w.session_path)
    assert len(on_disk.results) < expected  # the file lacks them ...
    assert f"{w.session_path}: the disk is still full" in w.errors[-1] and "Ctrl+Shift+J" in w.errors[-1]

    out_session = w.session_path
    out = w.export("json", tmp_path / "all.json")  # ... the export does not
    doc = json.loads(out.read_text())
    assert len(doc["results"]) == expected and doc["analysis"]["state"] == "complete"
    csv_rows = (w.export("csv", tmp_path / "all.csv")).read_text().splitlines()
    assert len(csv_rows) == expected + 1  # and its header
    assert w.export("html", tmp_path / "all.html").is_file()
    other = make_window()  # the JSON export opens as the session, whole
    assert other.open_session(out)
    assert np.array_equal(other.histories[0].results.view(), w.histories[0].results.view())

    asked = []  # opening something else would lose them: asked first
    monkeypatch.setattr(w, "ask_discard_unsaved", lambda message: asked.append(message) or False)
    assert not w.open_file(copies[1]) and w.session_path == out_session
    assert "records of the session" in asked[0] and "Opening another recording loses them" in asked[0]
    w.close()  # quitting would lose them too: asked, and No keeps the window as it was
    assert not w.isHidden() and "Quitting loses them" in asked[-1] and w.bridge.unsaved_results is not None
    w.scripted = True  # ser gui --exit-when-done: nobody to ask (its errors are printed)
    monkeypatch.setattr(w, "ask_discard_unsaved", type(w).ask_discard_unsaved.__get__(w))
    assert w.keep_unsaved_first("Quitting")
    assert w.bridge.unsaved_results is None  # let go: not asked again

    # Room again before the session ends: its end writes all it kept.
    _disk_full(monkeypatch, lambda k: k == 5)
    again = replay(make_window(speed=0.0), copies[1])
    assert "No space left on device" in again.banner.text()
    assert not any("still full" in m for m in again.errors)  # written whole at its end: nothing to say
    saved = streamer.session.SessionStore.open(again.session_path)
    assert len(saved.results) == expected and saved.ended["analysis"] == "complete"


def test_an_opened_session_says_what_was_noticed_when_it_was_analysed(make_window, replay, speech_wav, tmp_path):
    """A clipped or very quiet recording is said while it is analysed; opened later, its session says
    it again (it said nothing). An export's failure covers such a note only until an export works."""
    import json

    w = replay(make_window(speed=0.0), speech_wav)
    lines = w.session_path.read_text().splitlines(keepends=True)
    clipped = f"{speech_wav}: 2.0% of the samples are at full scale (clipped): the recording level was too high."
    noted = tmp_path / "noted.jsonl"
    note = {"type": "error", "message": clipped, "fatal": False, "notice": True}
    sound = {**note, "message": "The sound output failed (device gone). The replay goes on without sound."}
    noted.write_text("".join(lines[:-1]) + json.dumps(note) + "\n" + json.dumps(sound) + "\n" + lines[-1])
    other = make_window()
    assert other.open_session(noted)  # what the sound output said then is not about the analysis: not again
    assert other.banner.isVisible() and other.banner.text() == f"When it was analysed: {clipped}"
    assert other.export("csv", tmp_path / "no such folder" / "x.csv") is None
    said = other.banner.messages()  # the failure below the note it covers, which stays in view
    assert len(said) == 2 and said[0] == f"When it was analysed: {clipped}" and said[1].startswith("Export failed")
    assert other.export("json", tmp_path / "no such folder" / "x.json") is None  # a failure after a failure
    said = other.banner.messages()  # ... in place of the first
    assert len(said) == 2 and said[1].startswith("Export failed") and "JSON" in said[1]
    assert other.export("csv", tmp_path / "x.csv") == tmp_path / "x.csv"
    assert other.banner.isVisible() and other.banner.text() == f"When it was analysed: {clipped}"
    # The HTML report of it says so too.
    report = other.export("html", tmp_path / "x.html")
    assert report is not None and f"Note: {clipped}" in (html := report.read_text()) and "without sound" not in html


def test_drag_and_drop_opens_a_file(make_window, qtbot, speech_wav):
    w = make_window(speed=0.0)
    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(speech_wav))])
    event = QtGui.QDropEvent(QtCore.QPointF(100, 100), QtCore.Qt.DropAction.CopyAction, mime,
                             QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(w.sig_replay_finished, timeout=WAIT_MS):
        w.dropEvent(event)
    assert w.source_path == speech_wav and len(w.histories[0].results) > 0

    session = w.session_path  # a saved session dropped on the window opens as a session
    w.stop()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(session))])
    w.dropEvent(QtGui.QDropEvent(QtCore.QPointF(100, 100), QtCore.Qt.DropAction.CopyAction, mime,
                                 QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier))
    assert w.mode == SESSION and len(w.histories[0].results) > 0 and w.errors == []


def test_bad_file_shows_an_error_and_the_app_stays_usable(make_window, replay, tmp_path, speech_wav):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio")
    w = make_window(speed=0.0)
    assert not w.open_file(bad)
    assert w.banner.isVisible() and "broken.wav" in w.banner.text()
    assert not w.bridge.active
    assert not list(w.session_dir.glob("*broken*"))  # no empty session file left behind
    assert not w.open_file(tmp_path / "missing.wav")
    assert "file not found" in w.errors[-1] and "Ctrl+O" in w.errors[-1]
    folder = tmp_path / "calls.wav"  # a folder, named like a recording
    folder.mkdir()
    assert not w.open_file(folder)
    assert f"{folder}: is a folder, not an audio file." in w.errors[-1] and "not found" not in w.errors[-1]
    with pytest.raises(SERError, match="is a folder, not an audio file"):
        w.bridge.start_file(folder, w.settings)
    import os

    from model.audio import not_a_file_reason

    os.mkfifo(tmp_path / "pipe.wav")
    (tmp_path / "link.wav").symlink_to(tmp_path / "gone.wav")
    assert not_a_file_reason(tmp_path / "pipe.wav") == "is not a file (a device or a pipe?)"
    assert not_a_file_reason(tmp_path / "link.wav") == "file not found"  # a link to nothing
    assert not w.open_file(tmp_path / "pipe.wav") and "pipe.wav: is not a file" in w.errors[-1]
    replay(w, speech_wav)  # still works
    assert not w.banner.isVisible() and len(w.histories[0].results) > 0


def test_missing_device_shows_an_error_and_the_app_stays_usable(make_window, replay, speech_wav):
    w = make_window(speed=0.0)
    assert not w.start_microphone(device="no such microphone 4711")
    assert w.banner.isVisible()
    assert "no such microphone 4711" in w.errors[-1] or "PortAudio" in w.errors[-1]
    assert not w.bridge.active
    replay(w, speech_wav)
    assert len(w.histories[0].results) > 0


def test_missing_model_is_explained_and_fixable_in_settings(make_window, replay, tmp_path, tiny_model_path,
                                                             speech_wav):
    w = make_window(model_path=str(tmp_path / "nope.safetensors"))
    assert w.model_info is None and w.banner.isVisible()
    assert "nope.safetensors" in w.errors[-1] and "Settings" in w.errors[-1]
    assert not w.open_file(speech_wav)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"definitely not a model")
    w.apply_settings(w.settings.replace(model_path=str(junk)))
    assert w.model_info is None and "junk.safetensors" in w.errors[-1]  # refused: the missing one stays named
    w.apply_settings(w.settings.replace(model_path=str(tiny_model_path), smoothing=0.5, speed=0.0))
    assert w.model_info is not None and not w.banner.isVisible()
    replay(w, speech_wav)
    assert len(w.histories[0].results) > 0


def test_hiding_an_emotion_class_hides_its_curve_in_every_lane(make_window, replay, stereo_wav):
    w = replay(make_window(speed=0.0, channels="split"), stereo_wav)
    label = w.model_info.labels[2]
    w.plot_stack.set_label_visible(label, False)
    assert not any(lane.emotion_curves[label].isVisible() for lane in w.plot_stack.lanes.values())
    assert all(lane.emotion_curves[w.model_info.labels[0]].isVisible() for lane in w.plot_stack.lanes.values())


def test_seek_to_the_end_does_not_fail(make_window, qtbot, speech_wav):
    w = make_window(speed=2.0)
    assert w.open_file(speech_wav)
    qtbot.waitUntil(lambda: w.position_s > 0.5, timeout=WAIT_MS)
    w.seek(1000.0)
    assert w.position_s == pytest.approx(w.duration_s) and w.errors == [] and not w.bridge.active
    w.seek(-3.0)
    assert w.position_s == 0.0


def test_closing_the_window_during_a_replay_stops_the_engine(make_window, qtbot, speech_wav):
    from gui.engine_bridge import FILE_ANALYSIS_NICE

    w = make_window(speed=1.0)
    assert w.open_file(speech_wav)
    # The recording is analysed ahead of the playhead at a lower priority than the window.
    assert w.bridge._engine.config.background_nice == FILE_ANALYSIS_NICE > 0
    qtbot.waitUntil(lambda: w.position_s > 0.3, timeout=WAIT_MS)
    session = w.session_path
    w.close()
    assert not w.bridge.active and not w.timer.isActive()
    assert '"type": "end"' in session.read_text()  # the session file was closed properly


def test_new_engine_settings_analyse_the_recording_again_and_keep_the_playhead(make_window, qtbot, speech_wav):
    w = make_window(speed=2.0)
    assert w.open_file(speech_wav)
    qtbot.waitUntil(lambda: w.position_s > 1.0, timeout=WAIT_MS)
    w.apply_settings(w.settings.replace(hop_s=0.25, window_s=1.0))
    assert w.bridge.active and w.position_s > 0.9 and w.playing
    assert (w.bridge._engine.config.hop_s, w.bridge._engine.config.window_s) == (0.25, 1.0)
    w.stop()


def test_hidden_classes_stay_hidden_in_new_lanes(make_window, replay, speech_wav):
    w = make_window(speed=0.0)
    label = w.model_info.labels[1]
    w.plot_stack.set_label_visible(label, False)
    replay(w, speech_wav)
    assert not w.plot_stack.lanes[0].emotion_curves[label].isVisible()
    w.plot_stack.set_label_visible(label, True)
    assert w.plot_stack.lanes[0].emotion_curves[label].isVisible()


def test_the_position_slider_seeks(make_window, replay, speech_wav):
    from PySide6 import QtWidgets

    w = replay(make_window(speed=0.0), speech_wav)
    w.seek(2.0)
    w.redraw()
    assert w.seek_slider.value() == 2000
    w.seek_slider.triggerAction(QtWidgets.QAbstractSlider.SliderAction.SliderPageStepAdd)
    assert w.position_s == pytest.approx(7.0, abs=0.01) and w.paused


def test_a_click_on_the_position_slider_goes_where_it_was_clicked(make_window, replay, speech_wav, qtbot):
    """A click near the slider's right end seeks there (Qt's default moved a page step toward it)."""
    from PySide6 import QtCore

    w = replay(make_window(speed=0.0), speech_wav)
    w.seek(0.0)
    w.redraw()
    slider = w.seek_slider
    at = QtCore.QPoint(int(slider.width() * 0.9), slider.height() // 2)
    qtbot.mouseClick(slider, QtCore.Qt.MouseButton.LeftButton, pos=at)
    assert w.position_s == pytest.approx(0.9 * w.duration_s, abs=0.08 * w.duration_s)
    assert w.duration_s > 2 * 5.0  # so a page step (5 s) would have stopped well short of it


def test_spectrogram_keeps_its_times_across_a_gap(qtbot):
    from gui.history import TrackHistory
    from gui.plots import PlotStack

    stack = PlotStack()
    qtbot.addWidget(stack)
    stack.resize(800, 600)
    stack.set_heads(["neutral", "happy"])
    lane = stack.ensure_lane(0, "Speech")
    h = TrackHistory(["neutral", "happy"], history_s=60.0)
    noise = np.random.default_rng(0).standard_normal(8000).astype(np.float32) * 0.3
    for t in (0.0, 0.5, 1.0, 1.5, 10.0, 10.5, 11.0, 11.5):  # audio, a skipped stretch, audio
        h.add_audio(Audio(0, t, noise))
    stack.show_all(12.0)
    stack.refresh({0: h})
    image = lane.spec_image.image
    rect = lane.spec_image.mapRectToParent(lane.spec_image.boundingRect())

    def column_at(t):
        return image[int((t - rect.left()) / rect.width() * image.shape[0])]

    assert column_at(1.0).max() > 0 and column_at(11.0).max() > 0
    assert np.isnan(column_at(5.0)).all()  # nothing was analysed there: drawn as nothing, not as silence


def test_the_level_curve_breaks_across_skipped_audio_instead_of_drawing_silence():
    """A stretch a seek skipped was not analysed: no line over it, and no -80 dBFS "silence" either."""
    from gui.plots import _break_gaps

    t = np.array([0.0, 0.02, 0.04, 5.0, 5.02])
    db = np.array([-20.0, -20.0, -20.0, -30.0, -30.0])
    x, y = _break_gaps(t, db)
    assert (np.diff(x) > 0).all()
    assert np.isnan(y[3]) and np.delete(y, 3).tolist() == [-20, -20, -20, -30, -30]


def test_curves_break_at_a_live_pause_instead_of_joining_before_and_after(qtbot):
    """The time axis leaves a live pause out, so the windows before and after it touch: the curves
    once joined the last result before the pause (happy) to the first after it (sad)."""
    from gui.history import TrackHistory
    from gui.plots import PlotStack, _break_gaps
    from streamer import WindowResult

    labels = ["happy", "sad"]
    stack = PlotStack()
    qtbot.addWidget(stack)
    stack.resize(800, 600)
    stack.set_heads(labels)
    lane = stack.ensure_lane(0, "Microphone")
    h = TrackHistory(labels, history_s=60.0)
    for start, top in ((0.0, "happy"), (0.5, "happy"), (1.0, "happy"), (3.0, "sad"), (3.5, "sad")):
        probs = {"happy": 0.9, "sad": 0.1} if top == "happy" else {"happy": 0.1, "sad": 0.9}
        h.add_result(WindowResult.built_in(0, start, start + 2.0, probs))

    def happy_curve():
        stack.show_all(6.0)
        stack.refresh({0: h})
        x, y = lane.head_curves["emotion"]["happy"].getData()
        return x, y

    x, y = happy_curve()
    assert np.flatnonzero(np.isnan(y)).tolist() == [len(y) - 1]  # touching windows: one run, its end's break
    stack.add_marker(3.0, "paused 12 s")
    x, y = happy_curve()
    gap = np.flatnonzero(np.isnan(y))[:-1]
    assert len(gap) == 1 and x[gap[0] - 1] <= 3.0 and (y[:gap[0]] > 0.5).all() and (y[gap[0] + 1:-1] < 0.5).all()
    t = np.arange(0.0, 6.0, 0.02)  # the level curve breaks there too
    _, db = _break_gaps(t, np.full(len(t), -20.0), [3.0])
    assert np.isnan(db).sum() == 1 and np.flatnonzero(np.isnan(db))[0] == np.searchsorted(t, 3.0)


def test_a_marker_label_near_the_right_edge_stays_inside_the_plot(qtbot):
    """Live, the newest marker stands at the right edge of the view: its label goes to the line's
    left there, not past the edge, and to its right near the left edge."""
    from gui.plots import PlotStack

    stack = PlotStack()
    qtbot.addWidget(stack)
    stack.resize(900, 600)
    stack.show()
    stack.set_heads(["happy", "sad"])
    lane = stack.ensure_lane(0, "Microphone")
    stack.add_marker(0.3, "paused 12 s")
    stack.add_marker(29.8, "settings changed")
    lane.level_plot.setXRange(0.0, 30.0, padding=0)
    qtbot.wait(50)
    view = lane.level_plot.vb.sceneBoundingRect()
    labels = [line.label for line in lane.marker_lines if getattr(line, "label", None) is not None]
    assert len(labels) == 2
    for label in labels:
        box = label.sceneBoundingRect()
        assert box.width() > 20 and view.left() - 1 <= box.left() and box.right() <= view.right() + 1, (box, view)


def test_the_panel_summary_agrees_with_ser_analyze(make_window, replay, speech_wav):
    """One definition of emotion shares: the app's panel and `ser analyze` count the same thing."""
    from streamer import SessionStore
    from streamer.summary import summarize

    w = replay(make_window(speed=0.0), speech_wav)
    w.stop()
    store = SessionStore.open(w.session_path)
    track = summarize(["mix"], store.segments, store.results)[0]
    panel = w.histories[0].summary()
    assert panel.utterances == track.n_utterances > 0
    assert panel.shares.keys() == track.emotion_shares.keys()
    for lab, share in track.emotion_shares.items():
        assert abs(panel.shares[lab] - share) < 1e-6
    assert abs(panel.uncertain_s - track.uncertain_s) < 1e-6
    # The same totals to the millisecond, so that both print the same tenths (25.3 against 25.4 s
    # in a trial: the app summed float32 segment times).
    assert panel.speech_s == track.speech_s and f"{panel.speech_s:.1f}" in track.line()


def test_with_nothing_loaded_play_records_nothing_and_actions_wait(make_window, qtbot, tmp_path):
    """Play with nothing loaded must not start the microphone (it would record and save a session
    unasked); transport and exports are disabled until something is loaded."""
    w = make_window()
    w.redraw()
    assert not w.act_play.isEnabled() and not w.act_export_csv.isEnabled() and not w.act_export_json.isEnabled()
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow, timeout=WAIT_MS)  # window shortcuts go to the active window
    w._set_state("")
    qtbot.keyClick(w.plot_stack, QtCore.Qt.Key.Key_Space)  # Play is greyed: the key still says why
    assert not w.bridge.active and w.mode == "idle"
    assert "nothing to play" in w.status_state.text()
    assert "nothing to play" in w.act_play.toolTip()
    assert not (tmp_path / "sessions").exists() or not list((tmp_path / "sessions").iterdir())


def test_exports_are_named_after_the_source_and_say_where_they_went(make_window, replay, speech_wav, tmp_path):
    w = make_window(speed=0.0)
    replay(w, speech_wav)
    w.redraw()
    assert w.act_export_csv.isEnabled() and w.act_play.isEnabled()
    path = w.default_export_path("csv")
    assert path.name == f"{speech_wav.stem}.csv" and path.parent == speech_wav.parent  # beside the recording
    assert w.export("csv", path) == path and path.is_file()
    assert w.statusBar().toolTip() == str(path) and w.statusBar().currentMessage().startswith(f"Exported {path.name} to ")
    elsewhere = tmp_path / "exports"
    elsewhere.mkdir()
    assert w.export("json", elsewhere / "mine.json") == elsewhere / "mine.json"
    assert w.default_export_path("png") == elsewhere / f"{speech_wav.stem}.png"  # where the user last put one
    # A failed export says so in the banner; the next one that works takes it away.
    assert w.export("csv", tmp_path / "no such folder" / "x.csv") is None
    assert not w.banner.isHidden() and "Export failed" in w.banner.text() and "folder" in w.banner.text()
    assert w.export("png", elsewhere / "plots.png") == elsewhere / "plots.png"
    assert w.banner.isHidden()
    # A name without the format's ending gets it: an image called mine.html overwrote an HTML report.
    report = w.export("html", elsewhere / "mine.html")
    before = report.read_bytes()
    assert w.export("png", report) == elsewhere / "mine.html.png" and report.read_bytes() == before
    assert (elsewhere / "mine.html.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert w.export("csv", elsewhere / "results") == elsewhere / "results.csv"
    assert w.export("json", elsewhere / "UPPER.JSON") == elsewhere / "UPPER.JSON"  # its ending, in capitals
    assert w.export("html", elsewhere / "old.htm") == elsewhere / "old.htm"


def test_classes_of_near_colours_are_dashed_in_the_curves_and_the_colour_key(make_window, replay, speech_wav):
    """Sky-blue disgust beside blue sad, orange surprised beside yellow happy: in thin lines the user
    trial could not tell them apart by colour alone."""
    from gui.plots import DASHED_CLASSES

    w = replay(make_window(speed=0.0), speech_wav)
    labels = w.model_info.labels
    assert DASHED_CLASSES <= set(labels)
    for lane in w.plot_stack.lanes.values():
        for label, curve in lane.emotion_curves.items():
            dashed = curve.opts["pen"].style() == QtCore.Qt.PenStyle.DashLine
            assert dashed == (label in DASHED_CLASSES), label
    key = {label.text: sample.item for sample, label in w.plot_stack.key.items}
    for label in labels:
        assert key[label].opts["pen"].style() == (QtCore.Qt.PenStyle.DashLine if label in DASHED_CLASSES
                                                  else QtCore.Qt.PenStyle.SolidLine), label


def test_valence_arousal_dots_take_their_top_class_colour_and_axes_say_what_they_show(make_window, replay,
                                                                                       speech_wav):
    from gui.colors import label_color

    w = make_window(speed=0.0)
    replay(w, speech_wav)
    w.redraw()
    h, panel, lane = w.histories[0], w.side_panel.panels[0], w.plot_stack.lanes[0]
    probs = h.probabilities(smoothed=True)[-40:]
    spots = panel.va_trail.data
    assert len(spots) == len(probs)
    for spot, p in zip(spots, probs, strict=True):
        color = spot["brush"].color()
        assert (color.red(), color.green(), color.blue()) == label_color(h.labels[int(np.argmax(p))])
    ticks = lane.gender_plot.getAxis("left")._tickLevels[0]
    assert [t for _, t in ticks] == ["male", "", "female"]
    assert "estimated" in lane.dimensions_plot.toolTip() and "estimated" in panel.va_plot.toolTip()


def test_first_start_says_what_to_do_until_something_is_loaded(make_window, replay, speech_wav):
    from gui import engine_bridge
    from gui.plots import NO_MICROPHONE_HINT, START_HINT

    w = make_window(speed=0.0)
    w._devices = [(0, "USB Mic")]
    w._listen_ready(True)
    assert w.plot_stack._hint is not None and START_HINT in w.plot_stack._hint.text
    replay(w, speech_wav)
    assert w.plot_stack._hint is None and w.plot_stack.lanes
    # Without a microphone the empty canvas does not say "press Listen", and Listen (Ctrl+L) says why
    # it cannot (a disabled button swallowed the shortcut without a word) and leaves the replay alone.
    w.plot_stack._hint, shown = None, w.source_path
    real = engine_bridge.list_devices
    try:
        engine_bridge.list_devices = lambda rescan=False: []
        w.refresh_devices()
    finally:
        engine_bridge.list_devices = real
    assert w.plot_stack.hint_text == NO_MICROPHONE_HINT and "No microphone found" in w.act_listen.toolTip()
    assert w.act_listen.isEnabled() and not w.start_microphone()
    assert w.banner.text().startswith("No microphone found. Connect one and press ↻")
    assert w.source_path == shown and w.mode == "file"
    w.plot_stack.clear_lanes()
    assert NO_MICROPHONE_HINT in w.plot_stack._hint.text
    # PortAudio itself missing: connecting a microphone would not help, and the words say what would.
    def broken(rescan=False):
        raise OSError("PortAudio library not found")

    try:
        engine_bridge.list_devices = broken
        w.refresh_devices()
    finally:
        engine_bridge.list_devices = real
    assert "Microphones cannot be listed" in w.plot_stack._hint.text
    assert not w.start_microphone() and "PortAudio library not found" in w.banner.text()
    assert "libportaudio2" in w.banner.text() and "Connect one" not in w.banner.text()


def test_enter_in_a_lane_name_gives_the_keys_back_and_the_session_folder_is_named(make_window, replay, speech_wav,
                                                                                    qtbot):
    from PySide6 import QtCore

    w = make_window(speed=0.0)
    assert str(w.session_dir) in w.act_open_session.toolTip()
    replay(w, speech_wav)
    edit = w.side_panel.panels[0].name_edit
    edit.setFocus()
    qtbot.keyClick(edit, QtCore.Qt.Key.Key_Return)
    assert not edit.hasFocus()


def test_a_long_lane_name_is_shortened_in_the_plots_and_whole_in_the_panel(make_window, replay, stereo_wav):
    """A long name in every plot's caption covered the curves: the captions shorten it, the side
    panel and the session keep it whole."""
    from gui.plots import CAPTION_NAME_CHARS

    w = replay(make_window(speed=0.0, channels="split", analyse_agent=True), stereo_wav)
    name = "Caller Jane with a really long name for testing"
    w.side_panel.panels[1].name_edit.setText(name)
    w.side_panel.panels[1].name_edit.editingFinished.emit()
    lane = w.plot_stack.lanes[1]
    assert lane.caption_name == name[:CAPTION_NAME_CHARS - 1].rstrip() + "…"
    assert all(name not in lane.caption(p) for p in lane.captions)
    assert lane.caption(lane.level_plot).startswith(lane.caption_name + ": level")
    assert w.side_panel.panels[1].name == name and name in w.session_path.read_text()


def test_a_lane_renamed_for_one_call_does_not_name_the_next(make_window, replay, stereo_wav, tmp_path):
    """A name typed for one call's lane (often a person's) is that call's: analysed again with other
    settings, the call keeps it; the next call, and a live session, start with the usual names, and
    the next call's session holds none of the first call's names."""
    import soundfile as sf

    w = replay(make_window(speed=0.0, channels="split", analyse_agent=True), stereo_wav)
    w.rename_lane(1, "Caller Jane")
    w.apply_settings(w.settings.replace(smoothing=0.3))  # the same call, analysed again
    assert w.lane_name(1) == "Caller Jane"
    other = tmp_path / "other_call.wav"
    data, rate = sf.read(stereo_wav, dtype="float32")
    sf.write(other, data[::-1].copy(), rate)  # another call's audio
    replay(w, other)
    assert [w.lane_name(0), w.lane_name(1)] == ["Agent", "Customer"]
    assert [w.side_panel.panels[t].name for t in (0, 1)] == ["Agent", "Customer"]
    assert "Caller Jane" not in w.session_path.read_text()
    assert w._track_names_for_engine() == ["Agent", "Customer"]
    # A recorder that writes each call to the same file: the next call there is another call.
    w.rename_lane(1, "Caller Jane")
    first = w.session_path
    time.sleep(0.01)
    sf.write(other, data, rate)
    replay(w, other)
    assert [w.lane_name(0), w.lane_name(1)] == ["Agent", "Customer"]
    assert "Caller Jane" not in w.session_path.read_text()
    # A call's saved session shown, then its recording opened (to analyse it again with new settings,
    # as the banner advises): the names it was given come with it.
    assert first != w.session_path
    w.rename_lane(1, "Caller Bob")
    assert w.open_session(w.session_path) and w.lane_name(1) == "Caller Bob"
    w.apply_settings(w.settings.replace(smoothing=0.5))
    replay(w, other)
    assert w.lane_name(1) == "Caller Bob"


def test_a_single_lane_renamed_names_its_session_and_not_the_call_centre_lanes(make_window, replay, speech_wav):
    """The one lane of a recording renamed after its analysis: its saved session takes the name (its
    exports, and the recording opened again from it), the user's call-centre lane names do not."""
    w = make_window(speed=0.0)
    replay(w, speech_wav)
    panel = w.side_panel.panels[0]
    panel.name_edit.setText("Dana")
    panel.name_edit.editingFinished.emit()
    assert w.lane_name(0) == "Dana" and w.track_names[:2] == ["Agent", "Customer"]
    assert w._own_track_names[:2] == ["Agent", "Customer"]
    assert w.banner.text() == ""
    with open(w.export("csv", w.session_dir / "one.csv"), newline="") as f:
        assert {r["track_name"] for r in csv.DictReader(f)} == {"Dana"}
    session = w.session_path
    other = make_window(speed=0.0)
    replay(other, speech_wav)  # shown from the same session, with its name
    assert other.session_path == session and other.lane_name(0) == "Dana"
    assert other.side_panel.panels[0].name == "Dana"
    assert "Dana" in other.plot_stack.lanes[0].caption(other.plot_stack.lanes[0].level_plot)
    third = make_window(speed=0.0)
    assert third.open_session(session) and third.lane_name(0) == "Dana"
    # The Sessions list names it too (it said only "one channel").
    from gui.sessions import lanes_text, list_sessions

    assert [i.lanes for i in list_sessions(w.session_dir) if i.path == session] == ["Dana: one channel"]
    assert lanes_text({"engine": {"source": {"channels": "mix", "n_channels": 2}, "tracks": ["Speech"]}}) == \
        "mixed (2 channels)"


def test_the_panel_follows_the_playhead(make_window, replay, speech_wav):
    """In a replay the panel shows the result under the playhead, not the last one computed."""
    w = make_window(speed=0.0)
    replay(w, speech_wav)
    w.redraw()
    h, panel = w.histories[0], w.side_panel.panels[0]
    times = h.result_times()
    assert len(times) > 3
    for t in (times[1] + 0.01, times[-1] + 1.0):
        w.position_s = t
        w.redraw()
        i = h.index_at(t)
        probs = h.probabilities()[i]
        top = h.labels[int(np.argmax(probs))]
        assert panel.current_label.text().split(" ")[0] == top
        assert panel.top_bars[0].value() == int(round(100 * float(np.max(probs))))
        assert panel.top_values[0].text() == f"{panel.top_bars[0].value()}%"  # beside the bar, readable
        assert len(panel.va_trail.data) == min(i + 1, 40)
        start, end = h.result_span(i)
        assert panel.current_time.text() == f"window {start:.1f}-{end:.1f} s"  # which window the heading is
    from gui.side_panel import NO_RESULT, UNCERTAIN_GREY

    # Past the last speech the panel keeps its result, greyed, and says how long there was none.
    start, end = h.result_span(len(times) - 1)
    w.position_s = end + 2.6
    w.redraw()
    assert w.position_s == pytest.approx(end + 2.6)
    assert panel.current_time.text() == f"window {start:.1f}-{end:.1f} s; no speech for 2 s"
    assert f"rgb({','.join(map(str, UNCERTAIN_GREY))})" in panel.current_label.styleSheet()
    first = h.result_span(0)[0]
    assert first > 0.05  # speech_wav starts with a pause
    w.position_s = first - 0.05  # before the first window: no result yet (it showed the first one)
    w.redraw()
    assert panel.current_label.text() == NO_RESULT and panel.current_time.text() == ""


def test_an_opened_session_plays_its_recording_when_it_is_there(make_window, replay, qtbot, speech_wav, tmp_path):
    import shutil

    copy = tmp_path / "copy.wav"
    shutil.copy(speech_wav, copy)
    w = replay(make_window(speed=0.0), copy)
    other = make_window(speed=8.0)
    assert other.open_session(w.session_path)
    qtbot.waitUntil(lambda: not other.bridge.reading, timeout=WAIT_MS)
    other.tick()
    assert other.histories[0].level.view()[:, 0].max() > 13.0  # level and spectrogram restored
    assert other.act_play.isEnabled() and other.position_s == 0.0
    other.toggle_pause()
    assert other.playing
    qtbot.waitUntil(lambda: other.position_s > 1.0, timeout=WAIT_MS)
    copy.unlink()
    gone = make_window()
    assert gone.open_session(w.session_path)
    gone.toggle_pause()
    assert "not there any more" in gone.status_state.text() and not gone.playing


def test_the_call_centre_view_analyses_only_the_customers_channel_of_a_file_with_more(make_window, replay,
                                                                                   speech_16k, tmp_path):
    """A call file with a third channel (which may hold the agent's voice again): only the customer's
    channel is analysed, every other is shown but not analysed, and the banner says so; the
    session reopens with the same lanes left out."""
    import soundfile as sf

    # one speaker per channel (channels holding the same sound get a note of their own)
    data = np.stack([np.roll(speech_16k, 4000) * 0.5, speech_16k, np.roll(speech_16k, 8000) * 0.7], axis=1)
    sf.write(tmp_path / "three.wav", data, 16000)
    w = replay(make_window(speed=0.0, channels="split"), tmp_path / "three.wav")
    assert [len(w.histories[t].results) > 0 for t in range(3)] == [False, True, False]
    assert all(len(w.histories[t].level) > 0 for t in range(3))  # every channel is shown
    for t in (0, 2):
        assert "not analysed" in w.plot_stack.lanes[t].caption(w.plot_stack.lanes[t].emotion_plot)
    assert "only the customer's (Customer) is analysed, the others (Track 3)" in w.banner.text()
    caption = w.plot_stack.lanes[2].caption(w.plot_stack.lanes[2].emotion_plot)
    assert "only the customer's channel is analysed" in caption and "agent" not in caption  # not called the agent's
    session = w.session_path
    w.stop()
    other = make_window()
    assert other.open_session(session)
    assert [len(other.histories[t].results) > 0 for t in range(3)] == [False, True, False]
    for t in (0, 2):
        assert "not analysed" in other.plot_stack.lanes[t].caption(other.plot_stack.lanes[t].emotion_plot)
    agent_too = replay(make_window(speed=0.0, channels="split", analyse_agent=True), tmp_path / "three.wav")
    assert all(len(agent_too.histories[t].results) > 0 for t in range(3))  # asked for: every channel


def test_the_call_centre_view_says_what_it_analyses(make_window, replay, stereo_wav, speech_wav, qtbot):
    w = replay(make_window(speed=0.0, channels="split"), stereo_wav)
    text = w.banner.text()
    assert w.banner.isVisible() and "not analysed" in text and "Art. 5(1)(f)" in text and "Settings" in text
    assert w.errors == []
    agent, customer = w.histories[0], w.histories[1]
    assert len(agent.results) == 0 and len(agent.level) > 0  # shown, not analysed
    assert len(customer.results) >= 4
    assert "not analysed" in w.plot_stack.lanes[0].caption(w.plot_stack.lanes[0].emotion_plot)
    agent_lane, customer_lane = w.plot_stack.lanes[0], w.plot_stack.lanes[1]  # no voice activity in the agent's
    assert agent_lane.caption(agent_lane.level_plot) == "Agent: level"
    assert "The agent's lane (Agent)" in w.banner.text()
    w.rename_lane(0, "Maria (agent)")  # the notice names the lanes as they are now
    assert "The agent's lane (Maria (agent))" in w.banner.text() and w.banner.isVisible()
    w.rename_lane(0, "Agent")
    assert customer_lane.caption(customer_lane.level_plot) == "Customer: level, speech shaded"
    # The agent's empty model plots fold to one caption row; the customer's get the room.
    QtWidgets.QApplication.processEvents()
    from gui.plots import NOT_ANALYSED_ROW_PX

    agent_heights = [p.height() for p in w.plot_stack.lanes[0].head_plots.values()]
    customer_heights = [p.height() for p in w.plot_stack.lanes[1].head_plots.values()]
    assert agent_heights[0] <= NOT_ANALYSED_ROW_PX + 1 and max(agent_heights[1:]) <= 3, agent_heights
    assert min(customer_heights) > 2 * NOT_ANALYSED_ROW_PX, customer_heights
    # The emotion plot, the main output, has more of the height than the others (with every plot
    # alike, a user trial found its eight curves squashed into 25 pixels at laptop size).
    plots = w.plot_stack.lanes[1].head_plots
    assert plots["emotion"].height() > 1.3 * max(p.height() for h, p in plots.items() if h != "emotion")
    rows = json.loads(w.export("json", w.session_dir / "call.json").read_text())["results"]
    assert {r["track_name"] for r in rows} == {"Customer"}  # the session holds no result of the agent
    both = replay(make_window(speed=0.0, channels="split", analyse_agent=True), stereo_wav)
    assert "the agent's too" in both.banner.text() and len(both.histories[0].results) >= 4
    QtWidgets.QApplication.processEvents()
    assert min(p.height() for lane in both.plot_stack.lanes.values() for p in lane.head_plots.values()) > \
        NOT_ANALYSED_ROW_PX + 1  # both analysed: nothing folded (to one caption row, or to nothing)
    # A recording of one channel holds the agent's voice too: shown, not analysed, as ser batch refuses
    # it (a user trial found the app analysing it whole where batch and ser analyze refused).
    mono = replay(make_window(speed=0.0, channels="split"), speech_wav)
    assert "one channel" in mono.banner.text() and "does not analyse it" in mono.banner.text()
    assert len(mono.plot_stack.lanes) == 1 and not mono.plot_stack.lanes[0].analysed
    assert "Channels: Mixed analyses it whole" in mono.plot_stack.lanes[0].not_analysed_why
    assert len(mono.histories[0].results) == 0 and mono.session_path is None
    assert len(mono.histories[0].level) > 0 and len(mono.histories[0].spec) > 0  # its level and spectrogram
    assert not mono.act_export_csv.isEnabled()
    mono.set_channels("mix")  # Mixed analyses it whole
    qtbot.waitUntil(lambda: not mono.bridge.active, timeout=WAIT_MS)
    assert len(mono.histories[0].results) > 0 and mono.plot_stack.lanes[0].analysed
    whole = replay(make_window(speed=0.0, channels="split", analyse_agent=True), speech_wav)
    assert "analysed whole" in whole.banner.text() and len(whole.histories[0].results) > 0


def test_pause_seek_back_seek_forward_and_play_raise_nothing(make_window, qtbot, speech_wav):
    """The sequence that once failed while flushing (pause, click back, click forward, Space):
    seeks move the playhead only, so no engine is restarted mid-flush."""
    w = make_window(speed=4.0)
    assert w.open_file(speech_wav)
    qtbot.waitUntil(lambda: w.position_s > 8.0, timeout=WAIT_MS)
    w.toggle_pause()
    w.seek(2.0)
    w.seek(7.0)
    w.toggle_pause()
    qtbot.waitUntil(lambda: w.position_s > 8.0, timeout=WAIT_MS)
    w.tick()
    assert w.errors == [] and w.playing
    w.stop()


def test_the_band_shows_the_top_class_and_the_crosshair_reads_out_the_result(make_window, replay, speech_wav):
    from gui.colors import label_color
    from gui.plots import BAND_ROWS, readout_text, top_class_band, top_class_colors

    w = replay(make_window(speed=0.0), speech_wav)
    h, lane = w.histories[0], w.plot_stack.lanes[0]
    rows, probs = h.results.view(), h.probabilities()
    i = len(rows) // 2
    t = float(rows[i, 0]) + 0.01
    colors, unsure = top_class_colors(h, t - 0.001, t + 0.001, 1, lane.labels)
    top = lane.labels[int(np.argmax(probs[i]))]
    assert tuple(colors[0, :3]) == label_color(top) and colors[0, 3] == 255
    assert unsure[0] == bool(h.uncertain.view()[i, 0])
    assert top_class_colors(h, -5.0, -4.0, 4, lane.labels)[0][:, 3].max() == 0  # nothing analysed there: empty
    # Confident: solid in the class colour; uncertain: the same colour, striped (every other row empty).
    band = top_class_band(np.array([[1, 2, 3, 255]] * 2, np.ubyte), np.array([False, True]))
    assert band.shape == (2, BAND_ROWS, 4) and (band[0, :, 3] == 255).all()
    assert list(band[1, :, 3]) == [255, 0] * (BAND_ROWS // 2) and tuple(band[1, 0, :3]) == (1, 2, 3)
    assert lane.band is not None and lane.band.image is not None
    text = readout_text(h, t, lane.heads)
    assert top in text and "V " in text and ("female" in text or "male" in text)
    assert text.splitlines()[0] == f"{t:.1f} s"  # as the axis writes a time under a minute
    assert "not analysed" in readout_text(h, -1.0, lane.heads)
    # A lane not analysed says why, not "no speech" over the agent's speech.
    why = "not analysed (the agent's channel: turn it on in Settings where that is lawful)"
    assert readout_text(h, -1.0, lane.heads, why).splitlines()[1] == why
    # One colour key above the lanes, outside every plot.
    assert w.plot_stack.key is not None and len(w.plot_stack.key.items) == len(lane.labels) + 3


def test_the_spectrogram_scale_is_fixed_and_the_agent_panel_says_it_is_not_analysed(make_window, replay, stereo_wav):
    w = replay(make_window(speed=0.0, channels="split"), stereo_wav)
    a, b = w.plot_stack.lanes[0], w.plot_stack.lanes[1]
    assert a.spec_levels == b.spec_levels  # the same dB scale in every lane, whatever their loudness
    assert a.colorbar is not None
    panel = w.side_panel.panels[0]
    assert not panel.analysed and "Not analysed" in panel.summary_label.text() and not panel.va_plot.isVisible()


def test_a_saved_call_says_its_agent_lane_was_left_out_then_whatever_the_settings_say_now(make_window, replay,
                                                                                          stereo_wav):
    """A saved session's agent lane was not analysed when the call was: turning the agent's channel on
    in Settings changes nothing in it, so the lane does not tell the user to do that, and the change
    of settings says what it applies to."""
    from gui.main_window import SESSION_CHANNELS, SESSION_SETTINGS

    w = replay(make_window(speed=0.0, channels="split"), stereo_wav)
    session = w.session_path
    assert w.open_session(session)
    panel = w.side_panel.panels[0]
    assert not panel.analysed and "left out when this call was analysed" in panel.summary_label.text()
    assert "turn it on in Settings" not in panel.summary_label.text()
    w.apply_settings(w.settings.replace(analyse_agent=True))
    assert SESSION_SETTINGS + " Open its recording to analyse it again with them." in w.banner.messages()
    assert w.mode == "session"
    assert "left out when this call was analysed" in w.side_panel.panels[0].summary_label.text()
    w.set_channels("mix")  # nor does the channel setting: the lanes stay, and the banner says why
    assert SESSION_CHANNELS + " Open its recording to analyse it again with it." in w.banner.messages()
    assert len(w.plot_stack.lanes) == 2 and w.mode == "session"


def test_every_action_is_in_the_menus_and_the_session_browser_lists_sessions(make_window, replay, speech_wav):
    from gui.sessions import list_sessions

    w = make_window(speed=0.0)
    w.resize(1000, 700)
    in_menus = {a for m in w.menuBar().findChildren(QtWidgets.QMenu) for a in m.actions()}
    for a in (w.act_open_file, w.act_open_session, w.act_browse_sessions, w.act_play, w.act_stop, w.act_back,
              w.act_forward, w.act_sound, w.act_listen, w.act_export_csv, w.act_export_json, w.act_export_png,
              w.act_settings):
        assert a in in_menus, a.text()
    # The toolbar's one Export button holds the four exports, the menu's texts.
    assert w.export_button.menu().actions() == [w.act_export_csv, w.act_export_json, w.act_export_png,
                                                 w.act_export_html]
    assert w.act_export_csv.text() == "Results as CSV…"
    replay(w, speech_wav)
    w.stop()
    sessions = list_sessions(w.session_dir)
    assert len(sessions) == 1 and sessions[0].state == "complete" and sessions[0].source.endswith("speech.wav")
    assert sessions[0].duration_s is not None and sessions[0].duration_s > 10 and sessions[0].model != "?"
    # The browser gives the recording's length and, apart, how far the analysis got.
    import soundfile as sf

    from gui.sessions import SessionBrowser

    assert sessions[0].recording_s == pytest.approx(sf.info(str(speech_wav)).duration, abs=0.01)
    browser = SessionBrowser(w.session_dir, w)
    headers = [browser.table.horizontalHeaderItem(i).text() for i in range(browser.table.columnCount())]
    assert headers[2:5] == ["channels", "recording", "analysed up to"]
    column = browser.COLUMNS.index
    assert browser.table.item(0, column("recording")).text() == f"0:{sessions[0].recording_s:04.1f}"
    # complete: analysed to its end
    assert browser.table.item(0, column("analysed up to")).text() == browser.table.item(0, column("recording")).text()
    assert browser.table.item(0, column("channels")).text() == "one channel"
    browser.close()


def test_a_truncated_file_keeps_its_results_says_so_and_is_not_taken_as_analysed(make_window, replay, qtbot,
                                                                                  speech_wav, tmp_path):
    cut = tmp_path / "cut.wav"
    data = speech_wav.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    w = replay(make_window(speed=0.0), cut)
    qtbot.waitUntil(lambda: not w.bridge.active, timeout=WAIT_MS)  # the analysis may end just after the playhead
    assert any("truncated" in e for e in w.errors) and len(w.histories[0].results) > 0
    assert "analysis stopped early" in w.status_state.text()
    assert '"analysis": "complete"' not in w.session_path.read_text()  # opened again, it is analysed again
    # The axis, slider and playhead end where the audio does, not at the length the header declares.
    import soundfile as sf

    readable = sf.info(str(speech_wav)).duration / 2  # about: the header is a few bytes
    assert w.transport.end_s == pytest.approx(w._analysed_s()) and w.transport.end_s < readable + 0.1
    assert w.position_s <= w.transport.end_s


def test_the_session_report_is_the_batch_report_for_one_recording(make_window, replay, stereo_wav):
    w = replay(make_window(speed=0.0, channels="split"), stereo_wav)
    out = w.export("html", w.session_dir / "call.html")
    text = out.read_text()
    assert out.name == "call.html" and "Session report: call.wav" in text and "<img" in text
    assert "Not analysed: Agent" in text and "Customer" in text and "highest arousal" in text
    assert "Analysis: complete" in text
    assert "1 call:" not in text and "<h2>Per recording</h2>" in text  # one recording, not a batch of calls
    import re

    speech = re.search(r"<td>Customer</td><td>([0-9.]+) s</td>", text)
    assert speech and float(speech.group(1)) > 5.0  # the customer's own speech, not the agent's empty track


def test_stopping_an_analysis_leaves_a_playable_recording_and_a_reopened_call_keeps_the_agent_rule(
        make_window, replay, qtbot, speech_wav, stereo_wav):
    w = make_window(speed=8.0)
    assert w.open_file(speech_wav)
    w.stop()  # Esc while the recording is still being analysed
    assert w.transport.analysis_done and "analysed up to" in w.status_state.text()
    w.toggle_pause()  # Play: the playhead plays what was analysed, to its end
    with qtbot.waitSignal(w.sig_replay_finished, timeout=WAIT_MS):
        pass
    assert w.position_s == pytest.approx(w.transport.end_s) and not w.playing

    call = replay(make_window(speed=0.0, channels="split"), stereo_wav)
    other = make_window()
    assert other.open_session(call.session_path)
    assert not other.plot_stack.lanes[0].analysed and not other.side_panel.panels[0].analysed


def test_a_file_that_cannot_be_read_leaves_the_open_recording_as_it_was(make_window, replay, speech_wav, tmp_path):
    w = replay(make_window(speed=0.0), speech_wav)
    results = len(w.histories[0].results)
    assert w.plot_stack.lanes[0].name == "Speech" and w.side_panel.panels[0].name == "Speech"  # not "Microphone"
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    assert not w.open_file(bad)
    assert w.errors and "notes.wav" in w.errors[-1] and not w.banner.styleSheet().count("1d3a5a")
    assert w.mode == FILE and len(w.histories[0].results) == results  # nothing given up for it
    w.stop()
    assert w.position_s == 0.0  # Stop goes back to the start


def test_a_session_shows_its_own_lane_names_without_changing_the_users(qtbot, tiny_model_path, speech_wav,
                                                                        stereo_wav, tmp_path, replay):
    """A session from `ser analyze` names its one track "mix"; the window names it "Speech", as for
    the same file replayed (the same recording read "mix" opened from its session). Opening it must
    not rename the user's call-centre lanes, on screen afterwards or in the saved settings."""
    from gui.main_window import MainWindow
    from gui.settings import GuiSettings, load_settings
    from ser.cli import main

    assert main(["analyze", str(speech_wav), "--out", str(tmp_path / "cli"), "--model", str(tiny_model_path),
                 "--quiet"]) == 0
    store = QtCore.QSettings(str(tmp_path / "settings.ini"), QtCore.QSettings.Format.IniFormat)
    base = GuiSettings(model_path=str(tiny_model_path), speed=0.0, channels="split")
    w = MainWindow(base, session_dir=tmp_path / "sessions", store=store)
    qtbot.addWidget(w)
    w.show()
    assert w.open_session(tmp_path / "cli" / "speech.jsonl")
    assert w.lane_name(0) == "Speech" and w.side_panel.panels[0].name == "Speech"
    w.save_settings()
    assert "Speech" not in (tmp_path / "settings.ini").read_text() and load_settings(store, base) == w.settings
    replay(w, stereo_wav)
    assert [w.lane_name(0), w.lane_name(1)] == ["Agent", "Customer"]
    assert "Agent" in w.banner.text() and "mix" not in w.banner.text()


def test_ser_batch_results_open_like_sessions(make_window, stereo_wav, tiny_model_path, tmp_path, qtbot):
    """A call's results.json from ser batch opens with its recording (a file split into channels):
    the customer's results beside the customer's channel (results carry the file's channel, as
    `ser analyze` numbers them), the agent's channel shown as not analysed; a call cut short keeps its
    results up to the break and opens as stopped there."""
    import shutil

    import soundfile as sf

    from streamer.batch.runner import run_batch
    from streamer.batch.settings import BatchSettings

    src = tmp_path / "calls"
    src.mkdir()
    shutil.copy(stereo_wav, src / "call.wav")
    data, rate = sf.read(str(stereo_wav), dtype="float32")
    sf.write(str(tmp_path / "whole.flac"), data, rate, format="FLAC")
    whole = (tmp_path / "whole.flac").read_bytes()
    (src / "cut.flac").write_bytes(whole[: len(whole) * 2 // 3])
    run = run_batch(src, tmp_path / "out", BatchSettings(model=str(tiny_model_path)), workers=1, progress=False)
    assert (run.analysed, run.failed) == (1, 1)

    doc = json.loads((tmp_path / "out" / "calls" / "call.wav" / "results.json").read_text())
    assert {r["track"] for r in doc["results"]} == {1} and {s["track"] for s in doc["segments"]} == {1}
    assert doc["metadata"]["engine"]["settings"]["skip_tracks"] == [0]
    from streamer.batch.report import session_report  # the app's HTML export of it names the parties right

    report = session_report(tmp_path / "out" / "calls" / "call.wav" / "results.json", tmp_path / "call.html")
    assert "Analysed: Customer. Not analysed: Agent (the employee channel)." in report.read_text()
    w = make_window()
    assert w.open_session(tmp_path / "out" / "calls" / "call.wav" / "results.json")
    assert not w.banner.isVisible() and w.source_path == src / "call.wav"
    assert w.status_state.text() == "session call.wav/results.json"
    agent, customer = w.histories[0], w.histories[1]
    assert [w.lane_name(0), w.lane_name(1)] == ["Agent", "Customer"]
    assert len(agent.results) == 0 and len(customer.results) > 0
    assert "not analysed" in w.plot_stack.lanes[0].caption(w.plot_stack.lanes[0].emotion_plot)
    assert customer.results.view()[:, 0].min() > 3.0  # the customer speaks from 3 s on (stereo_wav)
    qtbot.waitUntil(lambda: not w.bridge.reading, timeout=WAIT_MS)
    w.tick()
    first = [h.level.view()[h.level.view()[:, 0] < 2.5, 1].max() for h in (agent, customer)]
    assert first[0] > -60.0 and first[1] <= -80.0  # each lane's level is its own channel's (the agent talks first)

    assert w.open_session(tmp_path / "out" / "calls" / "cut.flac" / "results.json")
    text = w.banner.text()
    assert w.banner.isVisible() and text.startswith("cut.flac/results.json: the analysis was stopped before the end")
    assert re.search(r"cover \d+\.\d s of \d+\.\d s\.", text)
    # ... and why, as ser batch said it (it was kept in results.json only)
    assert "When it was analysed: " in text and "cut.flac: reading failed after" in text
    assert w.source_path == src / "cut.flac" and len(w.histories[1].results) > 0
    # Reading the recording again for its level and spectrogram meets the same damage: said once.
    qtbot.waitUntil(lambda: not w.bridge.reading, timeout=WAIT_MS)
    assert w.banner.text().count("cut.flac: reading failed after") == 1, w.banner.text()


def test_a_ser_analyze_session_of_a_split_recording_shows_each_channels_audio(make_window, stereo_wav,
                                                                              tiny_model_path, tmp_path, qtbot):
    """A `ser analyze --channels split` session reopens with its recording read the same way: each
    lane's level and spectrogram from its own channel, not the two channels mixed into the first."""
    from ser.cli import main

    assert main(["analyze", str(stereo_wav), "--channels", "split", "--names", "Agent,Customer",
                 "--out", str(tmp_path / "cli"), "--model", str(tiny_model_path), "--quiet"]) == 0
    w = make_window()
    assert w.open_session(tmp_path / "cli" / "call.jsonl")
    qtbot.waitUntil(lambda: not w.bridge.reading, timeout=WAIT_MS)
    w.tick()
    agent, customer = w.histories[0], w.histories[1]
    assert len(customer.level) and len(customer.spec_times.view())
    first = [h.level.view()[h.level.view()[:, 0] < 2.5, 1].max() for h in (agent, customer)]
    assert first[0] > -60.0 and first[1] <= -80.0  # the customer starts 3 s after the agent (stereo_wav)


def test_a_call_whose_customer_never_speaks_reopens_with_both_lanes(make_window, replay, speech_16k, tmp_path):
    """The customer's lane has no results at all: the session still reopens with it, and with the
    agent's lane marked as not analysed."""
    import soundfile as sf

    sf.write(tmp_path / "silent_customer.wav", np.stack([speech_16k, np.zeros_like(speech_16k)], axis=1), 16000)
    w = replay(make_window(speed=0.0, channels="split"), tmp_path / "silent_customer.wav")
    assert not len(w.histories[1].results)
    session = w.session_path
    w.stop()
    other = make_window()
    assert other.open_session(session)
    assert sorted(other.histories) == [0, 1] and [other.lane_name(0), other.lane_name(1)] == ["Agent", "Customer"]
    assert "not analysed" in other.plot_stack.lanes[0].caption(other.plot_stack.lanes[0].emotion_plot)
    assert "not analysed" not in other.plot_stack.lanes[1].caption(other.plot_stack.lanes[1].emotion_plot)


def test_the_channels_a_batch_call_analysed_are_found_in_its_metadata():
    """Earlier batches numbered the channels they analysed from 0: their file channels come from the
    source's record (by name for results written before it recorded them); batches that list every
    channel as a track, and other sessions, are left alone."""
    from gui.engine_bridge import _analysed_channels

    def meta(**source):
        return {"engine": {"source": {"kind": "ChannelSelection", "channel_names": ["Agent", "Customer"],
                                      "tracks": ["Customer"], **source}}}

    assert _analysed_channels(meta(channels_analysed=[1])) == ([1], ["Agent", "Customer"])
    assert _analysed_channels(meta()) == ([1], ["Agent", "Customer"])  # older results: by name
    assert _analysed_channels(meta(channel_names=["A", "A"], tracks=["A"])) is None  # names do not tell
    assert _analysed_channels(meta(channels_analysed=[5])) is None  # not a channel of the file
    assert _analysed_channels(meta(channels_analysed=[1], tracks=["Agent", "Customer"])) is None  # tracks are channels
    assert _analysed_channels({"engine": {"source": {"kind": "FileSource", "channels": "split"}}}) is None
    assert _analysed_channels({"source": "file", "channels": "split"}) is None  # a session the app wrote


def test_a_model_file_that_cannot_be_used_is_neither_taken_nor_kept(make_window, tmp_path, tiny_model_path):
    """Settings naming a broken model file keep the model in use, and do not save the broken one for
    the next start."""
    bad = tmp_path / "notamodel.safetensors"
    bad.write_text("not a model")
    w = make_window()
    w.apply_settings(w.settings.replace(model_path=str(bad)))
    assert w.settings.model_path == str(tiny_model_path) and w.model_info is not None
    assert "notamodel.safetensors" in w.errors[-1] and f"The model stays {tiny_model_path.name}." in w.errors[-1]


def test_a_live_session_reopens_without_a_recording_to_play(make_window, tmp_path):
    """A session of live audio: stopped is how listening ends (no banner); its axis covers all that
    was listened to; Play and Sound are off, and Play's tip says why. A killed one says so."""
    from streamer import SessionStore, SpeechSegment, WindowResult

    def live(name, close):
        path = tmp_path / name
        store = SessionStore.create(path, {"source": "microphone", "channels": "mix",
                                           "engine": {"source": {"kind": "MicrophoneSource"}}})
        store.extend([SpeechSegment(0, "Microphone", 1.0, 4.0),
                      WindowResult(track=0, track_name="Microphone", kind="window", start_s=1.0, end_s=3.0,
                                   heads={"emotion": {"neutral": 1.0}, "gender": {"female": 0.5, "male": 0.5},
                                          "dimensions": {"valence": 0.5, "arousal": 0.5, "dominance": 0.5}},
                                   speech_ratio=1.0, latency_ms=1.0, dimensions_source="derived-from-category")])
        if close:
            store.close(analysis="stopped", analysed_until_s=71.4)
        else:
            store._file.close()  # killed: no end record
        return path

    w = make_window()
    assert w.open_session(live("live.jsonl", close=True))
    assert not w.banner.isVisible() and w.transport.end_s == pytest.approx(71.4)
    assert w.position_s == pytest.approx(71.4)  # nothing to play: the panel shows where it got to
    assert w.side_panel.panels[0].current_label.text() == "neutral"
    w._update_actions()
    assert not w.act_play.isEnabled() and "no recording to play" in w.act_play.toolTip()
    assert not w.act_sound.isEnabled() and w.act_back.isEnabled()
    state = w.status_state.text()
    assert state == "session live.jsonl: live audio, not recorded: no recording to play; the results are shown"
    assert w.status_state.fontMetrics().horizontalAdvance(state) < 1400 // 2  # whole in the status bar
    lane = w.plot_stack.lanes[0]  # its empty audio plots say why
    assert lane.caption(lane.level_plot).startswith("Microphone: no level (live audio is not recorded)")
    assert lane.caption(lane.spec_plot) == "Microphone: no spectrogram (live audio is not recorded)"
    # Exports of live audio go to the user's documents (or home), not the hidden sessions folder.
    assert w.default_export_path("csv").parent != w.session_path.parent
    # New settings apply to what is analysed next: live audio has no recording to analyse again.
    w.set_channels("split" if w.settings.channels == "mix" else "mix")
    assert any(m.endswith("Its audio was live and not recorded, so it cannot be analysed again.")
               for m in w.banner.messages()) and "Open its recording" not in w.banner.text()
    assert w.open_session(live("killed.jsonl", close=False))
    assert w.banner.isVisible() and "killed or crashed while it listened" in w.banner.text()


def test_the_toolbar_does_not_shift_when_play_becomes_pause(make_window):
    w = make_window()
    button = next(b for b in w.findChildren(QtWidgets.QToolButton) if b.defaultAction() is w.act_play)
    stop = next(b for b in w.findChildren(QtWidgets.QToolButton) if b.defaultAction() is w.act_stop)
    before = stop.x()
    w.act_play.setText("Pause")
    QtWidgets.QApplication.processEvents()
    assert stop.x() == before and button.width() >= button.sizeHint().width()


def test_a_session_whose_recording_cannot_be_read_shows_its_results_and_says_why(make_window, replay, speech_wav,
                                                                                  tmp_path):
    import shutil

    recording = tmp_path / "talk.wav"
    shutil.copy(speech_wav, recording)
    w = replay(make_window(speed=0.0), recording)
    session, shown = w.session_path, len(w.histories[0].results)
    w.stop()
    recording.write_bytes(b"RIFF" + bytes(40))  # still there, no longer audio
    other = make_window()
    assert other.open_session(session)
    assert len(other.histories[0].results) == shown and "cannot be read" in other.errors[-1]
    other._update_actions()
    assert not other.act_play.isEnabled() and "could not be read" in other.act_play.toolTip()


def test_a_narrower_window_lays_the_plots_out_within_it(make_window, replay, speech_wav, qtbot):
    """The colour key takes fewer columns in a narrow window; the plots must be laid out after that,
    or they stay as wide as before with their right part (captions, colour bar) cut off."""
    from gui.plots import LEGEND_COLUMNS, NARROW_LEGEND_COLUMNS, NARROW_PLOT_PX

    w = replay(make_window(speed=0.0), speech_wav)
    stack = w.plot_stack
    for width in (1024, 1400, 900):
        w.resize(width, 700)
        qtbot.waitUntil(lambda width=width: w.width() == width, timeout=2000)
        qtbot.wait(50)
        lane = stack.lanes[0]
        view = stack.viewport().width()
        assert stack.key.columnCount == (NARROW_LEGEND_COLUMNS if stack.width() < NARROW_PLOT_PX else LEGEND_COLUMNS)
        for p in [*lane.plots, lane.colorbar]:
            assert p.sceneBoundingRect().right() <= view + 1, (width, view, p.sceneBoundingRect())


def test_a_narrow_window_shortens_captions_and_notes_rather_than_cut_them(make_window, replay, speech_wav, qtbot):
    """At 900 x 560 a trial found captions running off the plots' left edge ("tomer: valence / ..."),
    the colour bar's label across the next lane, and a status note cut mid-word."""
    from gui.plots import COLORBAR_LABEL

    w = make_window(speed=0.0)
    replay(w, speech_wav)
    w.resize(760, 560)
    qtbot.wait(50)
    w.redraw()
    lane = w.plot_stack.lanes[0]
    shortened = 0
    for plot, item in lane.captions.items():
        shown = item.toPlainText()
        assert item.boundingRect().width() <= plot.vb.width(), shown  # inside its plot
        # the same words, shortened at most; or, in a plot too short for its caption above its data,
        # the short caption ("log-mel")
        assert lane.caption(plot).startswith(shown.rstrip("…")) or shown == lane._caption_compact.get(plot), shown
        shortened += shown != lane.caption(plot)
    assert shortened, [lane.caption(p) for p in lane.captions]
    axis = lane.colorbar.getAxis("left")
    assert lane.spec_plot.vb.height() < 100 and axis.labelText == "dB"
    assert lane.spec_plot.vb.height() < 70  # its scale's ends only: five labels ran into each other
    assert lane.colorbar.axis._tickLevels == [[(-80.0, "-80"), (0.0, "0")]]
    text = "A note far longer than the room left of the status bar's fields: " + "word " * 60
    w._flash(text)
    shown = w.statusBar().currentMessage()
    assert shown.endswith("…") and text.startswith(shown[:-1]) and w.statusBar().toolTip() == text
    # The status fields too: "device: cpu (ONNX Runtim" was cut mid-word.
    w._set_state("exported to /a/folder/with/a/rather/long/name/" + "deep/" * 30 + "session.csv")
    w.status_device.setText("device: " + "a microphone with a rather long name, " * 4)
    w._fit_state_field()
    qtbot.wait(50)
    state = w.status_state.shown_text()
    assert state.endswith("…") and w.status_state.text().startswith(state[:-1])
    assert w.status_state.toolTip() == w.status_state.text()
    fields = (w.status_device, w.status_latency, w.status_overflows)
    cut = [f for f in fields if f.shown_text() != f.text()]
    assert cut and all(f.toolTip().split("\n")[0] == f.text() for f in cut)  # whole in its tooltip while cut
    shown = []
    show = w.statusBar().showMessage
    w.statusBar().showMessage = lambda text, ms=0: shown.append((text, ms)) or show(text, ms)
    w._flash("Saved.")
    assert w.statusBar().currentMessage() == "Saved."
    w._flash("Saved.")  # the same note again: shown anew, for its whole time again (it was not)
    assert [text for text, _ in shown] == ["Saved.", "Saved."] and shown[1][1] > 0
    del w.statusBar().showMessage
    w._set_state("idle")
    w.resize(1600, 2000)
    qtbot.wait(50)
    assert all(f.shown_text() == f.text() and f.text() not in f.toolTip() for f in fields)  # whole: tooltip as set
    assert lane.caption(lane.dimensions_plot) == lane.captions[lane.dimensions_plot].toPlainText()  # whole again
    assert lane.spec_plot.vb.height() > 200 and axis.labelText == COLORBAR_LABEL
    assert lane.colorbar.axis._tickLevels is None  # every 20 dB again


def test_every_toolbar_control_shows_in_a_1280_and_a_1024_pixel_window(make_window):
    """Four export buttons, a long microphone name and 'Call centre (two lanes)' pushed Settings and
    the exports behind the toolbar's overflow arrow in a laptop-wide window; at 1024 pixels, Export and
    Settings."""
    w = make_window()
    w.device_combo.addItem("HDA Intel PCH: ALC3246 Analog (hw:0,0) with a long name", 3)
    for width, rows in ((1280, 1), (1024, 2)):  # a smaller window: the analysis controls on a second row
        w.resize(width, 700)
        QtWidgets.QApplication.processEvents()
        for toolbar in (w.main_toolbar, w.analysis_toolbar):
            overflow = [b for b in toolbar.findChildren(QtWidgets.QToolButton)
                        if b.objectName() == "qt_toolbar_ext_button"]
            assert not overflow or not overflow[0].isVisible(), (width, toolbar.objectName())
        assert w.export_button.isVisible() and w.analysis_toolbar.widgetForAction(w.act_settings).isVisible()
        assert w.toolBarBreak(w.analysis_toolbar) == (rows == 2), width
        assert (w.analysis_toolbar.y() > w.main_toolbar.y()) == (rows == 2), width


def test_a_small_window_scrolls_its_plots_rather_than_squash_them(make_window, replay, stereo_wav, qtbot):
    """A user trial: in a small window two lanes' plots were about 10 pixels high, tick labels on top
    of each other. The plots keep a readable height and scroll; at laptop size they need not."""
    from gui.plots import MIN_PLOT_PX

    w = replay(make_window(speed=0.0, channels="split"), stereo_wav)
    bar = w.plot_scroll.verticalScrollBar()
    for size, scrolls in (((900, 560), True), ((1297, 703), False)):
        w.resize(*size)
        qtbot.wait(50)
        w.redraw()
        qtbot.wait(50)
        assert (bar.maximum() > 0) == scrolls, (size, bar.maximum())
        customer = w.plot_stack.lanes[1]
        assert min(p.height() for p in customer.plots) >= MIN_PLOT_PX - 1, size  # each plot, its axes included
        assert w.plot_stack.minimumHeight() == w.plot_stack.minimum_plots_height()
    # The wheel scrolls the lanes where it is not over a plot (over one it zooms in time).
    w.resize(900, 560)
    qtbot.wait(50)
    w.redraw()
    qtbot.wait(50)
    stack = w.plot_stack
    key = stack.mapFromScene(stack.key.mapToScene(stack.key.boundingRect().center()))
    assert not any(isinstance(i, pg.ViewBox) for i in stack.items(key))
    before = bar.value()
    wheel = QtGui.QWheelEvent(QtCore.QPointF(key), QtCore.QPointF(stack.mapToGlobal(key)), QtCore.QPoint(0, 0),
                              QtCore.QPoint(0, -120), QtCore.Qt.MouseButton.NoButton,
                              QtCore.Qt.KeyboardModifier.NoModifier, QtCore.Qt.ScrollPhase.NoScrollPhase, False)
    QtWidgets.QApplication.sendEvent(stack.viewport(), wheel)
    assert not wheel.isAccepted()  # left to the parents, as Qt passes on a real wheel event ...
    QtWidgets.QApplication.sendEvent(w.plot_scroll.viewport(), wheel)  # (a synthetic one it does not)
    assert bar.value() > before  # ... to the scroll area, which scrolls


def test_a_one_channel_call_shows_its_time_axis_whole_under_its_folded_lane(make_window, replay, speech_wav, qtbot,
                                                                            tiny_model_path, tmp_path):
    """A review: the call-centre view of a mono file folds its only lane, the last, whose folded plot
    carried the time axis in a row of no height: the axis and its title were cut off."""
    w = replay(make_window(speed=0.0, channels="split"), speech_wav)
    qtbot.wait(50)
    lane = w.plot_stack.lanes[0]
    bottom = lane.plots[-1]
    axis = bottom.getAxis("bottom")
    assert not lane.analysed and axis.isVisible() and bottom.height() >= axis.minimumHeight() - 1
    # A session asked for by path (ser gui --replay --session) is not written, and that is said.
    from gui.main_window import MainWindow
    from gui.settings import GuiSettings

    asked = tmp_path / "asked.jsonl"
    w2 = MainWindow(GuiSettings(model_path=str(tiny_model_path), channels="split", speed=0.0),
                    session_dir=tmp_path / "s2", session_path=asked)
    qtbot.addWidget(w2)
    w2.show()
    replay(w2, speech_wav)
    assert any(e.startswith(f"{asked}: no session written") for e in w2.errors), w2.errors
    assert not asked.exists() and w2.explicit_session_path is None


def test_the_view_menu_checks_the_view_in_use(make_window):
    """A user trial: View's 'Mixed (one lane)' and 'Call centre (two lanes)' did not say which was on."""
    w = make_window(channels="mix")
    view = next(a.menu() for a in w.menuBar().actions() if a.text() == "&View")
    checked = lambda: [a.text() for a in view.actions() if a.isChecked()]  # noqa: E731
    assert all(a.isCheckable() for a in view.actions()) and checked() == ["Mixed (one lane)"]
    w.channels_combo.setCurrentIndex(1)  # the toolbar's Channels
    view.aboutToShow.emit()
    assert checked() == ["Call centre (two lanes)"] and w.settings.channels == "split"
    w.view_channel_actions["mix"].trigger()
    assert checked() == ["Mixed (one lane)"] and w.settings.channels == "mix"


@pytest.mark.screen_fit
def test_the_window_opens_within_a_small_screen():
    """It opened at 1400 x 900 on a 1366 x 768 laptop: the panel's percentages and Follow were cut off."""
    from gui.main_window import MIN_WINDOW_PX, WINDOW_PX, initial_size

    class Screen:
        def __init__(self, w, h):
            self.free = QtCore.QRect(0, 0, w, h)

        def availableGeometry(self):  # noqa: N802 - Qt's name
            return self.free

    assert initial_size(Screen(1920, 1080)) == WINDOW_PX
    w, h = initial_size(Screen(1366, 740))
    assert w <= 1366 and h <= 740 and (w, h) == (1297, 703)
    assert initial_size(Screen(800, 500)) == MIN_WINDOW_PX  # (the window manager fits it as it can)
    assert initial_size(None) == WINDOW_PX


def test_the_lane_not_analysed_draws_nothing_of_its_folded_plots(make_window, replay, stereo_wav):
    """Its folded gender plot's line at 0.5 showed as a dashed line across it, its axis lines as dots,
    its caption's box and playhead as strips and dots."""
    w = make_window(speed=0.0, channels="split")
    replay(w, stereo_wav)
    agent, customer = w.plot_stack.lanes[0], w.plot_stack.lanes[1]
    assert not agent.analysed and customer.analysed
    first, *folded = [agent.head_plots[h] for h, _k, _o in agent.heads]
    assert first.vb.opacity() == 1.0  # it says why
    assert first.getAxis("left").pen().color().alpha() == 0  # its bare axis showed as dots beside it
    assert folded and all(p.vb.opacity() == 0.0 and p.getAxis("left").pen().color().alpha() == 0 for p in folded)
    assert all(p.vb.opacity() == 1.0 for p in customer.head_plots.values())
    # What the folded plots drew showed in the image: the rows between the caption and the next lane
    # are now the background (the axis column and the plot area alike).
    image = w.plot_stack.grab().toImage()
    top = first.vb.mapRectToScene(first.vb.boundingRect()).bottom()
    below = customer.level_plot.mapRectToScene(customer.level_plot.boundingRect()).top()
    colors = {image.pixelColor(x, y).name() for y in range(int(top) + 2, int(below) - 2)
              for x in range(0, image.width() - 120, 7)}
    assert len(colors) <= 2, colors
    # The caption's row: its axis column (left of the plot area) is background too.
    rect = first.vb.mapRectToScene(first.vb.boundingRect())
    column = {image.pixelColor(x, y).name() for y in range(int(rect.top()) + 1, int(rect.bottom()) - 1)
              for x in range(int(rect.left()) - 12, int(rect.left()) + 1)}
    assert len(column) == 1, column
    # Analysed again (Settings' "Analyse the agent's channel too"): its axes are drawn as the others'.
    analysed_axis = customer.head_plots[customer.heads[0][0]].getAxis("left")
    agent.set_analysed(True)
    for p in (first, *folded):
        axis = p.getAxis("left")
        assert axis.pen().style() == analysed_axis.pen().style() == QtCore.Qt.PenStyle.SolidLine
        assert axis.pen().color() == analysed_axis.pen().color() and axis.tickPen().color() == analysed_axis.tickPen().color()


def test_axis_titles_show_only_where_their_plot_has_room(make_window, replay, stereo_wav, qtbot):
    """Two lanes in the smallest window: "dBFS" and "mel" ran into each other (the axis's tooltip
    keeps its title)."""
    w = make_window(speed=0.0, channels="split")
    replay(w, stereo_wav)
    lane = w.plot_stack.lanes[1]
    w.resize(1400, 900)
    qtbot.waitUntil(lambda: lane.level_plot.getAxis("left").label.isVisible(), timeout=5000)
    for size in ((900, 560), (760, 560)):  # (the plots keep MIN_PLOT_PX; the stack scrolls)
        w.resize(*size)
        qtbot.wait(100)
        for plot in (lane.level_plot, lane.spec_plot):
            axis = plot.getAxis("left")
            title = QtGui.QFontMetricsF(axis.label.font()).horizontalAdvance(axis.labelText)
            assert axis.label.isVisible() == (title + 4 <= plot.vb.height()) and axis.toolTip() == axis.labelText


def test_short_plots_show_short_captions_that_cover_less_of_their_data(make_window, replay, stereo_wav, qtbot):
    """Two lanes in the smallest window: a plot has no room for its caption above its data, and the
    whole caption ("Customer: valence / arousal / dominance ...") covered its newest stretch. There it
    is short; the lane's name stays on its first plot; caption() and a tall plot keep the whole."""
    w = make_window(speed=0.0, channels="split")
    replay(w, stereo_wav)
    lane = w.plot_stack.lanes[1]
    shown = {name: lane.captions[plot] for name, plot in (("level", lane.level_plot), ("spec", lane.spec_plot),
                                                          ("emotion", lane.emotion_plot))}
    w.resize(900, 560)
    qtbot.waitUntil(lambda: shown["spec"].toPlainText() == "log-mel", timeout=5000)
    # (the emotion plot, taller than the others, keeps its whole caption)
    assert shown["level"].toPlainText() == "Customer: level"
    assert shown["emotion"].toPlainText() == "Customer: emotion probabilities"
    assert lane.caption(lane.spec_plot) == "Customer: log-mel spectrogram"
    w.resize(1400, 900)
    qtbot.waitUntil(lambda: shown["spec"].toPlainText() == "Customer: log-mel spectrogram", timeout=5000)
    assert shown["level"].toPlainText() == "Customer: level, speech shaded"


def test_a_running_analysis_whose_disk_filled_is_not_stopped_by_a_question_answered_no(
        make_window, speech_16k, tmp_path, qtbot, monkeypatch):
    """A replay runs while its session's disk is full: quitting asks first, and No leaves the analysis
    running (it was stopped before the question, and the window still said "analysing"); a file that
    cannot be opened is refused without asking or stopping it."""

    import soundfile as sf


    long_wav = tmp_path / "long.wav"
    sf.write(long_wav, np.tile(speech_16k, 30), 16000, subtype="PCM_16")  # about 7 minutes
    _disk_full(monkeypatch, lambda k: k > 4)
    w = make_window(speed=1.0)
    assert w.open_file(long_wav)
    qtbot.waitUntil(lambda: w.bridge.session_failed, timeout=10000)
    asked = []
    monkeypatch.setattr(w, "ask_discard_unsaved", lambda message: asked.append(message) or False)
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    assert not w.open_file(bad)
    assert not asked and w.bridge.active and w.source_path == long_wav
    w.close()
    assert asked and "Quitting loses them unless the disk has room" in asked[0]
    assert not w.isHidden() and w.bridge.active and w.timer.isActive()
    monkeypatch.setattr(w, "ask_discard_unsaved", lambda message: True)


def test_refreshing_the_microphones_keeps_the_one_chosen(make_window, monkeypatch):
    """↻ put the first device in the list back in place of the one chosen, and the next Listen then
    ended the running session as if another microphone had been chosen."""
    from gui import engine_bridge

    w = make_window(speed=0.0)
    devices = [(0, "pulse (ALSA)"), (1, "USB Mic (ALSA)"), (2, "default (ALSA) – default")]
    monkeypatch.setattr(engine_bridge, "list_devices", lambda rescan=False: list(devices))
    w.refresh_devices()
    w.device_combo.setCurrentIndex(2)
    w.refresh_devices()
    assert w.device_combo.currentData() == 2
    devices.insert(0, (3, "Headset (ALSA)"))  # one plugged in: the indices move, the choice stays
    devices[3] = (4, "default (ALSA) – default")
    w.refresh_devices()
    assert w.device_combo.currentText() == "default (ALSA) – default"
    devices.pop()  # the chosen one unplugged: the first
    w.refresh_devices()
    assert w.device_combo.currentIndex() == 0


def test_the_result_delay_is_not_the_last_runs_once_a_new_one_has_none(make_window, monkeypatch):
    """A new Listen that had no result yet kept showing the last session's result delay."""
    w = make_window(speed=0.0)
    monkeypatch.setattr(w.bridge, "stats", lambda: {"device": "cpu", "latency_ms_p50": 6.0, "latency_ms_p95": 43.0})
    w._update_status()
    assert w.status_latency.text() == "result delay: 6 ms (p95 43)"
    monkeypatch.setattr(w.bridge, "stats", lambda: {"device": "cpu"})  # a new run, no result yet
    w._update_status()
    assert w.status_latency.text() == "result delay: –"


def test_a_silent_microphones_note_goes_when_sound_comes_in(make_window):
    """A muted input is said after its first seconds; once it is unmuted and sound comes in (on the
    lane the note is about), the note no longer holds and goes."""
    from gui.events import Audio, Problem
    from gui.transport import MIC
    from model.audio import live_quiet_message

    w = make_window(channels="split")
    w.transport.load(MIC)
    w._expected_tracks = 2
    w.reset_view(w._model_heads(), 2)
    note = live_quiet_message("USB mic", 0.0, 5.0, "Customer")
    w.dispatch([Problem(note, notice=True)])
    assert "no sound at all" in w.banner.text()
    quiet = np.full(1600, 0.003, np.float32)  # a DC offset is no sound
    loud = (0.1 * np.sin(np.arange(1600) / 5.0)).astype(np.float32)
    w.dispatch([Audio(1, 5.0, quiet), Audio(0, 5.0, loud)])  # sound on the other channel
    assert "no sound at all" in w.banner.text()
    w.dispatch([Audio(1, 5.1, loud)])
    assert "no sound at all" not in w.banner.text()
    assert "Sound is coming in on Customer's channel now" in w.statusBar().toolTip()
    # The engine's own note that sound came in (kept in the session for its report) passes by too, and
    # takes the silent note off where the sound has not reached the window yet.
    from model.audio import live_sound_back_message

    w.dispatch([Problem(note, notice=True)])
    w.dispatch([Problem(live_sound_back_message("USB mic", 6.0, "Customer"), notice=True)])
    assert "no sound at all" not in w.banner.text() and "sound came in" not in w.banner.text()
    assert "sound came in at 6.0 s" in w.statusBar().toolTip()


def test_the_agents_lane_renamed_keeps_its_name_where_it_says_it_is_not_analysed(make_window, replay, stereo_wav):
    w = replay(make_window(speed=0.0, channels="split"), stereo_wav)
    lane = w.plot_stack.lanes[0]
    first = lane.head_plots[lane.heads[0][0]]
    said = lane.caption(first)
    assert said.startswith("Agent: not analysed (") and lane._caption_compact[first] == "Agent: not analysed"
    w.rename_lane(0, "Zoe")  # it kept saying why, and its name where the plot is short
    assert lane.caption(first) == said.replace("Agent:", "Zoe:", 1)
    assert lane._caption_compact[first] == "Zoe: not analysed" and lane.caption(lane.level_plot) == "Zoe: level"


def test_a_call_renamed_in_its_session_shows_the_names_when_its_recording_is_opened_again(make_window, replay,
                                                                                             stereo_wav, tmp_path):
    """The call-centre lanes renamed in the session's view are the session's names: the recording
    opened again (shown from that session) showed the settings' names while its exports said the new
    ones, and a rename then wrote the settings' names back over them. A damaged session opened up to
    its damage takes no rename: a record after the damage would not be read."""
    w = replay(make_window(speed=0.0, channels="split", analyse_agent=True), stereo_wav)
    session = w.session_path
    assert w.open_session(session)
    w.rename_lane(1, "Caller")
    assert w._own_track_names[:2] == ["Agent", "Customer"]  # a session's names are its own
    assert replay(w, stereo_wav).session_path == session  # shown from the session
    assert [w.lane_name(0), w.lane_name(1)] == ["Agent", "Caller"]
    assert [w.side_panel.panels[t].name for t in (0, 1)] == ["Agent", "Caller"]
    w.rename_lane(0, "Maria")
    with open(w.export("csv", tmp_path / "call.csv"), newline="") as f:
        assert {r["track_name"] for r in csv.DictReader(f)} == {"Maria", "Caller"}

    damaged = tmp_path / "damaged.jsonl"
    lines = session.read_text().splitlines(keepends=True)
    damaged.write_text("".join(lines[:4]) + "{not json\n" + "".join(lines[4:]))
    before = damaged.read_bytes()
    assert w.open_session(damaged, salvage=True)
    w.rename_lane(1, "Someone")
    assert damaged.read_bytes() == before and "is damaged, so the new name is not saved in it" in w.banner.text()
    assert w.lane_name(1) == "Someone"


def test_a_session_opened_says_while_its_recording_is_read_for_level_and_spectrogram(make_window, replay,
                                                                                     stereo_wav, qtbot):
    """A long session's level and spectrogram stayed blank for seconds with nothing said: while its
    recording is read again, the status says so and how far it got; then the session's name alone."""
    from streamer.summary import time_text

    w = replay(make_window(speed=0.0), stereo_wav)
    session = w.session_path
    assert w.open_session(session)
    assert w.bridge.reading
    w._show_reading()
    assert w.status_state.text().startswith(f"session {session.name}: reading its recording for the level and "
                                            "spectrogram, ")
    assert w.status_state.text().endswith(f" of {time_text(w.duration_s)}")

    def read():
        w.tick()
        return not w.bridge.reading

    qtbot.waitUntil(read, timeout=20000)
    w.tick()
    assert w.status_state.text() == f"session {session.name}"


def test_file_dialogs_show_the_apps_file_names_whole(make_window, tmp_path):
    """Qt's own file dialog opened at about 630 x 410 pixels and cut the sessions' names short: the
    app's dialogs take most of the window, and a save dialog proposes the file the export would write."""
    from pathlib import Path

    from gui.filedialogs import MIN_SIZE_PX, file_dialog

    w = make_window()
    w.resize(1280, 800)
    room = w.screen().availableGeometry()  # (the test's screen may be smaller than a laptop's)
    dialog = file_dialog(w, "Open a session", tmp_path, "Sessions (*.jsonl)")
    assert dialog.width() >= min(MIN_SIZE_PX[0], room.width(), 0.75 * w.width())
    assert dialog.height() >= min(MIN_SIZE_PX[1], room.height())
    assert dialog.width() >= min(0.7 * w.width(), room.width()) and dialog.width() > 640
    assert Path(dialog.directory().absolutePath()) == tmp_path
    proposed = tmp_path / "20261205-062248-call-centre-stereo.csv"
    save = file_dialog(w, "Export CSV", proposed, "CSV (*.csv)", save=True)
    assert save.acceptMode() == QtWidgets.QFileDialog.AcceptMode.AcceptSave
    assert save.testOption(QtWidgets.QFileDialog.Option.DontConfirmOverwrite)  # the export asks, of its own file
    assert Path(save.directory().absolutePath()) == tmp_path


def test_a_long_state_leaves_the_status_fields_and_a_passing_note_their_room(make_window, qtbot, tmp_path):
    """An opened live session's state ("session NAME: live audio, not recorded: no recording to play;
    ...") took most of the status bar at 1280 pixels: the fields beside it read "devic…" and an
    export's note "Exported to /tmp/tr…". The state is cut short instead (whole in its tooltip), and
    the note names the file first."""
    w = make_window(speed=0.0)
    w.resize(1280, 800)
    qtbot.wait(50)
    w._set_state("session 20261205-090242-975579-live.jsonl: live audio, not recorded: no recording to play; the "
                 "results are shown")
    w._flash(sentence(f"exported session_results.csv to {tmp_path / 'a' / 'folder'}"))
    qtbot.wait(50)
    assert w.status_state.shown_text().endswith("…") and w.status_state.width() < w.width() // 2
    assert all(f.shown_text() == f.text() for f in (w.status_model, w.status_device, w.status_latency,
                                                    w.status_overflows))
    assert w.statusBar().currentMessage().startswith("Exported session_results.csv to ")


def test_what_was_said_while_a_live_session_listened_is_not_said_of_an_analysis():
    from gui.main_window import _said_note

    note = "input device 'pulse' stopped delivering audio (unplugged or taken by another program?)."
    assert _said_note([note], live=True).startswith("While it listened: input device 'pulse' stopped")
    assert _said_note([note]).startswith("When it was analysed: ")


def test_the_device_list_is_read_again_only_while_no_sound_device_is_in_use(make_window, monkeypatch):
    """↻ restarts PortAudio to see devices plugged in since the start, which would close a stream
    open now: while one is (listening, the replay's sound), the list is the one PortAudio has, and
    the status bar says why."""
    from gui import engine_bridge
    from streamer import portaudio

    w = make_window(speed=0.0)
    asked = []
    monkeypatch.setattr(engine_bridge, "list_devices", lambda rescan=False: asked.append(rescan) or [(0, "USB Mic")])
    monkeypatch.setattr(portaudio, "in_use", lambda: False)
    w.rescan_devices()
    assert asked == [True]
    monkeypatch.setattr(portaudio, "in_use", lambda: True)
    w.rescan_devices()
    # What to do comes first (the status bar cuts a long note short at its end); the whole note is its tooltip.
    assert asked == [True, False] and w.statusBar().currentMessage().startswith("Stop first, then press ↻ again")
    assert "once nothing uses the sound devices (the microphone or the sound is open)" in w.statusBar().toolTip()
    assert w.device_combo.currentText() == "USB Mic"


def test_a_recordings_level_and_spectrogram_are_kept_whole_however_long_it_is(make_window, replay, speech_wav, qtbot,
                                                                              monkeypatch):
    """The display kept the last hour of audio: a session of a 2-h recording showed nothing at its start
    once the recording had been read. A recording's level and spectrogram are now kept for its
    length (here the hour is made 5 s, the recording being 14 s)."""
    from gui.history import Ring, TrackHistory

    w = replay(make_window(speed=0.0), speech_wav)
    session = w.session_path
    defaults = TrackHistory.__init__.__defaults__
    monkeypatch.setattr(TrackHistory.__init__, "__defaults__", (5.0, *defaults[1:]))
    other = make_window(speed=0.0)
    assert other.open_session(session)
    qtbot.waitUntil(lambda: not other.bridge.reading, timeout=WAIT_MS)
    other.tick()
    level = other.histories[0].level.view()[:, 0]
    assert level.min() < 0.1 and level.max() > 13.0  # from its start to its end
    assert other.histories[0].spec_times.view()[:, 0].min() < 0.1
    ring = Ring(3, 1)  # growing keeps what is held
    ring.append(np.arange(5.0)[:, None])
    ring.grow(10)
    ring.append(np.array([[5.0]]))
    assert ring.view()[:, 0].tolist() == [2.0, 3.0, 4.0, 5.0]
