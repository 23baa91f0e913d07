"""What the window does when the engine fails by itself (device unplugged, worker error): a
scripted stand-in for the engine bridge feeds the window the events the engine would send."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PySide6 import QtCore, QtWidgets

from gui.events import Audio, Finished, Problem, Result, Segment
from gui.main_window import MainWindow
from gui.settings import GuiSettings
from gui.transport import SESSION


class ScriptedBridge:
    """Plays back a list of event batches, one per poll, then stops 'running' like a dead engine."""

    def __init__(self, batches, labels):
        self.batches = list(batches)
        self.active = False
        self.running = False
        self.labels = labels
        self.session_path = None

    def start_microphone(self, device, settings, track_names=None, session_path=None, start_s=0.0):
        self.active = self.running = True

    # What the window also asks of a bridge: no display reader, no sound, no channel left out, no source,
    # every session's file whole.
    reading = sound_playing = False
    skipped_tracks = ()
    source = None
    unsaved_results = open_unsaved = None
    session_failed = False

    def take_unsaved_news(self):
        return False

    def stop_sound(self):
        pass

    def poll(self, max_events=None):
        if self.batches:
            batch = self.batches.pop(0)
            if not self.batches:
                self.running = False  # the engine's threads ended after its last events
            return batch
        return []

    def stop(self, close_session=True):
        self.active = self.running = False
        return []

    def note_pause(self, at_s, paused_s):
        self.pauses = [*getattr(self, "pauses", []), (at_s, paused_s)]

    def close_session(self, complete=False, ended_by=None):
        self.closed, self.ended_by = True, ended_by

    def stats(self):
        return {"device": "cpu", "overflows": 3, "latency_ms_p50": 12.0, "latency_ms_p95": 30.0}

    def forget_last_run(self):
        pass

    @staticmethod
    def analysis_settings(settings):  # the real bridge resolves them as the engine runs them
        return (settings.window_s, settings.hop_s, settings.vad_aggressiveness, settings.speaker_adaptation,
                settings.analyse_agent)


def test_device_lost_during_a_live_session_keeps_the_results(qtbot, tiny_model_path, tmp_path):
    from model.checkpoint import read_meta

    labels = list(read_meta(tiny_model_path).labels)
    probs = dict(zip(labels, np.full(len(labels), 1 / len(labels)), strict=True))
    batches = [
        [Audio(0, 0.0, np.full(8000, 0.1, np.float32)), Result.built_in(0, 0.0, 1.0, probs, {"female": 0.4})],
        [Audio(0, 0.5, np.full(8000, 0.1, np.float32)), Segment(0, 0.0, 1.0),
         Problem("microphone 'USB Mic': audio input failed (device unplugged). Plug it back in and press Listen.",
                 fatal=True), Finished(None)],
    ]
    bridge = ScriptedBridge(batches, labels)
    w = MainWindow(GuiSettings(model_path=str(tiny_model_path)), bridge=bridge, session_dir=tmp_path)
    qtbot.addWidget(w)
    w.show()
    w._devices = [(0, "USB Mic")]
    assert w.start_microphone(device=0)
    w.session_path.write_text('{"type": "metadata", "source": "microphone"}\n')  # the engine's file
    qtbot.waitUntil(lambda: not bridge.active, timeout=5000)
    # Kept and shown as after Stop, to move through and export (a trial found the controls dead, the
    # title still "live", and nothing said about the results).
    banner = w.banner.text()
    assert w.banner.isVisible() and "unplugged" in banner and "The session is kept up to 1.0 s" in banner
    assert w.status_state.text().startswith("stopped at 1.0 s: the live audio ended")
    assert w.mode == SESSION and w.windowTitle().endswith("-live.jsonl") and w.act_back.isEnabled()
    assert "unplugged" in bridge.ended_by  # the end record says why (File > Sessions lists it)
    assert len(w.histories[0].results) == 1 and len(w.histories[0].segments) == 1
    assert w.position_s == 1.0 and w.seek_slider.isEnabled()
    w.seek(0.5)
    assert w.position_s == 0.5
    w._update_status()
    assert w.status_overflows.text() == "overflows: 3" and w.status_latency.text() == "result delay: 12 ms (p95 30)"
    # Still usable: the next start works.
    bridge.batches = [[Audio(0, 0.0, np.zeros(1600, np.float32))], []]
    assert w.start_microphone(device=0)
    assert not w.banner.isVisible()


def test_settings_changed_while_listening_say_so_and_go_on(qtbot, tiny_model_path, tmp_path):
    """New analysis settings while live restart the analysis from there, in the same session; the
    window says so (the session records where they changed: tests/streamer/test_streaming_session)."""
    from model.checkpoint import read_meta

    bridge = ScriptedBridge([[] for _ in range(1000)], list(read_meta(tiny_model_path).labels))
    w = MainWindow(GuiSettings(model_path=str(tiny_model_path)), bridge=bridge, session_dir=tmp_path)
    qtbot.addWidget(w)
    w.show()
    w._devices = [(0, "USB Mic")]
    assert w.start_microphone(device=0)
    session = w.session_path
    w.apply_settings(w.settings.replace(hop_s=1.0, vad_aggressiveness=3))
    assert bridge.active and w.session_path == session and w.status_state.text() == "listening"
    assert w.banner.isVisible() and re.match(r"Settings changed at \d+\.\d s: ", w.banner.text())
    assert "same session" in w.banner.text()
    lane = w.plot_stack.lanes[0]  # marked where they changed; not a pause (this bridge restarts at once)
    assert lane.marker_lines[0].label.toPlainText() == "settings changed" and not getattr(bridge, "pauses", [])


def test_the_audio_a_live_restart_does_not_hear_is_recorded(qtbot, tiny_model_path, tmp_path):
    """A device takes a second or two to open again after a settings change or a pause: that audio is
    not heard, and the session's times go on from where they stopped. A trial found 1.7 s gone
    without a trace after a settings change, and a pause marked 5.1 s where 6.3 s were not heard."""
    import time as _time

    from model.checkpoint import read_meta

    class SlowBridge(ScriptedBridge):
        def start_microphone(self, device, settings, track_names=None, session_path=None, start_s=0.0):
            _time.sleep(0.4)  # the device opening
            super().start_microphone(device, settings, track_names, session_path, start_s)

    w, bridge = _live_window(qtbot, tiny_model_path, tmp_path, SlowBridge([[] for _ in range(1000)],
                                                                       list(read_meta(tiny_model_path).labels)))
    assert w.start_microphone()
    w.apply_settings(w.settings.replace(hop_s=1.0))
    assert len(bridge.pauses) == 1 and bridge.pauses[0][1] >= 0.4
    assert "not heard" in w.banner.text()
    w.pause()
    w.resume()
    assert len(bridge.pauses) == 2 and bridge.pauses[1][1] >= 0.4  # the opening counts in the pause


def _live_window(qtbot, tiny_model_path, tmp_path, bridge=None):
    from model.checkpoint import read_meta

    bridge = bridge or ScriptedBridge([[] for _ in range(1000)], list(read_meta(tiny_model_path).labels))
    w = MainWindow(GuiSettings(model_path=str(tiny_model_path)), bridge=bridge, session_dir=tmp_path)
    qtbot.addWidget(w)
    w.show()
    w._devices = [(0, "USB Mic"), (1, "Headset")]
    w.device_combo.clear()
    for key, name in w._devices:
        w.device_combo.addItem(name, key)
    return w, bridge


def test_a_one_channel_microphone_in_the_call_centre_view_is_said_to_be_analysed_whole(qtbot, tiny_model_path,
                                                                                       tmp_path):
    """A device of one channel has no agent's channel to leave out, and the engine analyses a source
    of one track whole: the view said nothing of it, where a file of one channel is not analysed."""
    from types import SimpleNamespace

    from gui.main_window import MONO_MIC_NOTICE

    for n_tracks, said in ((1, True), (2, False)):
        w, bridge = _live_window(qtbot, tiny_model_path, tmp_path / str(n_tracks))
        bridge.source = SimpleNamespace(n_tracks=n_tracks)
        w.settings = w.settings.replace(channels="split")
        assert w.start_microphone()
        assert (MONO_MIC_NOTICE in w.banner.messages()) == said


def test_the_state_says_listening_while_live_audio_comes(qtbot, tiny_model_path, tmp_path):
    """The playhead stands still between the microphone's blocks: that is not waiting for the analysis."""
    w, bridge = _live_window(qtbot, tiny_model_path, tmp_path)
    assert w.start_microphone()
    for _ in range(5):
        qtbot.wait(30)
        w.tick()
    assert w.status_state.text() == "listening"
    w._update_actions()
    assert not w.act_sound.isEnabled() and "not played back" in w.act_sound.toolTip()  # it would play nothing
    assert not w.speed_combo.isEnabled() and "own pace" in w.speed_combo.toolTip()


def test_listen_while_listening_and_choices_made_while_listening_keep_the_session(qtbot, tiny_model_path, tmp_path):
    w, bridge = _live_window(qtbot, tiny_model_path, tmp_path)
    starts = []
    start = bridge.start_microphone
    bridge.start_microphone = lambda *a, **k: starts.append(a[0]) or start(*a, **k)
    assert w.start_microphone()
    session = w.session_path
    assert w.start_microphone()  # the same microphone again: nothing new
    assert starts == [0] and w.session_path == session and w.status_state.text() == "listening"
    assert w.statusBar().currentMessage().startswith("Already listening to this microphone: Stop ends this session")
    w.pause()
    assert w.start_microphone()  # paused: Listen resumes this session (a trial found a new one started unsaid)
    assert starts == [0, 0] and w.session_path == session and w.listening
    assert w.statusBar().currentMessage().startswith("Listen resumed the paused session")
    session.write_text('{"type": "metadata", "source": "microphone"}\n')  # the engine's file
    w.channels_combo.setCurrentIndex(1)  # call centre, while listening: for the next Listen
    assert w.banner.isVisible() and w.banner.text().startswith("The channel setting applies from the next Listen")
    assert bridge.active and w.session_path == session and len(w.plot_stack.lanes) == 1
    w.device_combo.setCurrentIndex(1)
    w.device_combo.activated.emit(1)  # as a user's choice in the list sends it
    assert w.banner.messages() == ["The channel setting and the microphone chosen apply from the next Listen: this "
                                   "session goes on as it started (it is saved). Press Listen to start a new "
                                   "session with them."]  # one notice names both (the second hid the first)
    assert w.start_microphone()  # Listen with the new choices: a new session, on them
    assert starts == [0, 0, 1] and w.session_path != session and len(w.plot_stack.lanes) == 2
    assert w.banner.text() == (f"A new live session: the one before ({session.name}) ended here and is kept; "
                                     "File > Sessions opens it.")


def test_play_after_stop_does_not_start_a_new_live_session(qtbot, tiny_model_path, tmp_path):
    w, bridge = _live_window(qtbot, tiny_model_path, tmp_path)
    assert w.start_microphone()
    session = w.session_path
    w.pause()
    w._update_actions()
    assert w.act_play.isEnabled()  # paused: Play resumes
    w.stop()
    w._update_actions()
    assert not w.act_play.isEnabled() and not w.act_stop.isEnabled()
    w.toggle_pause()  # Space
    assert not bridge.active and w.session_path == session
    assert w.status_state.text() == "stopped: press Listen (Ctrl+L) to start a new live session"


def test_a_microphone_that_does_not_open_leaves_what_was_shown(make_window, replay, speech_wav, tmp_path):
    """Listen on a device that fails: the banner says why, the recording analysed before is shown again
    (from its saved session) and nothing offers to export a live session that never existed."""
    w = replay(make_window(speed=0.0), speech_wav)
    before = w.session_path
    results = len(w.histories[0].results)
    w._devices = [("no such microphone 7f3a", "gone")]
    assert not w.start_microphone(device="no such microphone 7f3a")
    assert w.banner.isVisible() and "no such microphone 7f3a" in w.banner.text()
    assert w.session_path == before and len(w.histories[0].results) == results
    assert w.status_state.text() == "stopped: the microphone did not open"
    assert not w.bridge.active
    w._update_actions()
    assert w.act_export_csv.isEnabled()  # the recording's session, which exists


def test_the_sessions_list_does_not_call_the_session_being_written_interrupted(qtbot, tiny_model_path, tmp_path):
    import json

    from gui.sessions import INTERRUPTED, SessionBrowser
    from streamer.session import SessionStore

    w, bridge = _live_window(qtbot, tiny_model_path, tmp_path)
    assert w.start_microphone()
    # The scripted bridge writes no file: the session's first line as the engine writes it, no end yet.
    w.session_path.write_text(json.dumps({"type": "metadata", "created": "2026-12-03T16:00:00", "source": "microphone",
                                          "device": 0}) + "\n")
    killed = tmp_path / "older-live.jsonl"
    killed.write_text(json.dumps({"type": "metadata", "created": "2026-12-02T10:00:00", "source": "microphone"}) + "\n")
    # Another program writing a session (here a store in this process: it holds the writer's lock).
    other = SessionStore.create(tmp_path / "other-live.jsonl", {"source": "microphone", "device": 1})
    browser = SessionBrowser(w.session_dir, w, current=w.session_path)
    states = {browser.sessions[r].path.name: browser.table.item(r, browser.COLUMNS.index("state")).text() for r in range(browser.table.rowCount())}
    assert states == {w.session_path.name: "being written now (this window)", killed.name: INTERRUPTED,
                      "other-live.jsonl": "being written now"}
    browser.close()
    other.close()


def test_the_sessions_list_is_as_wide_as_its_columns_within_the_screen(qtbot, tmp_path):
    """A user trial: at 1366 x 768 the list opened 900 pixels wide and its state column read
    "interrupte" behind a horizontal scroll bar."""
    import json

    from gui.sessions import SCREEN_SHARE, SessionBrowser

    folder = tmp_path / "sessions"
    folder.mkdir()
    for i, name in enumerate(("recordings of the support line/2026-12/call 0042 customer complaint.wav",
                              "calls/short.wav")):
        (folder / f"s{i}.jsonl").write_text(json.dumps(
            {"type": "metadata", "created": f"2026-12-0{i + 1}T10:00:00", "source": {"kind": "file", "path": f"/data/{name}"},
             "track_names": ["Agent (left)", "Customer (right)"], "lanes": 2, "skip_tracks": [0]}) + "\n")
    browser = SessionBrowser(folder)
    qtbot.addWidget(browser)
    table = browser.table
    state = browser.COLUMNS.index("state")
    for screen_px in (1366, 1920):
        browser._fit_width(screen_px)
        browser.show()
        QtWidgets.QApplication.processEvents()
        assert browser.width() <= screen_px * SCREEN_SHARE
        assert table.horizontalScrollBar().maximum() == 0  # every column in view, the state's whole
        assert table.columnViewportPosition(state) + table.columnWidth(state) <= table.viewport().width()
        assert table.columnWidth(state) >= table.fontMetrics().horizontalAdvance("interrupted")
    browser.close()


def test_a_live_session_is_listed_by_its_microphone_name_not_its_index(tmp_path):
    """The app records the device it chose (an index, or None for the default) and the engine the
    name it opened: the sessions list and the killed-session notice said "microphone 0"."""
    import json

    from gui.sessions import read_session_info

    path = tmp_path / "live.jsonl"
    head = {"type": "metadata", "created": "2026-12-03T10:00:00", "source": "microphone", "device": 0}
    path.write_text(json.dumps(head) + "\n")
    assert read_session_info(path).source == "microphone 0"  # the engine never opened it: the index is all there is
    update = {"type": "metadata-update", "engine": {"source": {"kind": "MicrophoneSource", "device": 0,
                                                               "device_name": "USB Headset"}}}
    path.write_text(json.dumps(head) + "\n" + json.dumps(update) + "\n")
    assert read_session_info(path).source == "microphone USB Headset"
    path.write_text(json.dumps({**head, "device": None}) + "\n")
    assert read_session_info(path).source == "microphone (default)"


def test_the_sessions_list_gives_a_files_whole_length_and_a_complete_analysis_to_its_end(tmp_path):
    """The detector's last part-frame is not counted in analysed_until_s: a complete analysis of a
    39.56-s file said "analysed up to 0:39.5" beside "recording 0:39.6". A file analysed from 10 s on
    gave its remaining length as the recording's."""
    import json

    from gui.sessions import read_session_info

    def session(source: dict, end: dict | None) -> object:
        path = tmp_path / "file.jsonl"
        head = {"type": "metadata", "created": "2026-12-03T10:00:00", "source": "file", "path": "/x/call.wav",
                "engine": {"source": {"kind": "FileSource", **source}}}
        result = {"type": "result", "start_s": 37.0, "end_s": 39.0}
        path.write_text("\n".join(json.dumps(r) for r in (head, result, end) if r) + "\n")
        return read_session_info(path)

    done = {"type": "end", "analysis": "complete", "analysed_until_s": 39.54}
    info = session({"duration_s": 39.56, "start_s": 0.0}, done)
    assert info.recording_s == pytest.approx(39.56) and info.duration_s == pytest.approx(39.56)
    info = session({"duration_s": 29.56, "start_s": 10.0}, done)
    assert info.recording_s == pytest.approx(39.56) and info.duration_s == pytest.approx(39.56)
    info = session({"duration_s": 39.56, "start_s": 0.0}, {**done, "analysis": "stopped", "analysed_until_s": 20.0})
    assert info.state == "stopped" and info.duration_s == pytest.approx(39.0)  # its last result's end
    lost = "input device 'USB Mic' stopped delivering audio (unplugged or taken by another program?)."
    info = session({"duration_s": 39.56}, {**done, "analysis": "stopped", "ended_by": lost})
    assert info.state == f"ended by an error: {lost}"  # not listed as if its user had stopped it
    info = session({"duration_s": 39.56}, None)  # killed: no end record
    assert info.duration_s == pytest.approx(39.0) and info.recording_s == pytest.approx(39.56)


def test_a_session_left_open_by_a_killed_run_is_pointed_out_at_the_next_start(qtbot, tiny_model_path, tmp_path):
    import json
    import os
    import time

    from streamer.events import WindowResult
    from streamer.session import SessionStore

    w, _ = _live_window(qtbot, tiny_model_path, tmp_path)
    assert not w.notice_interrupted_session()  # no sessions at all
    older = tmp_path / "20261203-100000-live.jsonl"
    older.write_text(json.dumps({"type": "metadata", "created": "2026-12-03T10:00:00", "source": "microphone",
                                 "device": "pulse"}) + "\n"
                     + json.dumps({"type": "result", "track": 0, "track_name": "Microphone", "kind": "window",
                                   "start_s": 1.0, "end_s": 3.0, "heads": {}, "speech_ratio": 1.0,
                                   "latency_ms": 1.0}) + "\n")
    assert w.notice_interrupted_session()  # written a moment ago, but nobody holds it: no need to wait
    text = w.banner.text()
    assert "20261203-100000-live.jsonl" in text and "was not closed" in text and "File > Sessions" in text
    assert "up to 3.0 s" in text
    older.write_text(older.read_text() + json.dumps({"type": "end", "analysis": "stopped"}) + "\n")
    os.utime(older, (time.time() - 60, time.time() - 60))
    w.clear_error()
    assert not w.notice_interrupted_session()  # closed properly: nothing to say
    # A newer session that another program is writing (it holds the writer's lock): nothing to say
    # either, however long it has been quiet.
    writer = SessionStore.create(tmp_path / "20261203-110000-live.jsonl", {"source": "microphone"})
    writer.append(WindowResult.built_in(0, 1.0, 3.0, {"happy": 1.0}))
    os.utime(writer.path, (time.time() - 60, time.time() - 60))
    assert not w.notice_interrupted_session()
    writer.close()


def test_a_live_pause_is_marked_where_it_was(qtbot, tiny_model_path, tmp_path):
    """The axis leaves the pause out; a dashed line with its length marks it, live and reopened."""
    from streamer import SessionStore

    w, bridge = _live_window(qtbot, tiny_model_path, tmp_path)
    assert w.start_microphone()
    w.pause()
    qtbot.wait(150)
    w.resume()
    assert len(bridge.pauses) == 1 and bridge.pauses[0][1] >= 0.14
    lane = w.plot_stack.lanes[0]
    assert len(lane.marker_lines) == len(lane.plots)
    assert lane.marker_lines[0].label.toPlainText() in ("paused 0.1 s", "paused 0.2 s", "paused 0.3 s")
    path = tmp_path / "paused.jsonl"
    store = SessionStore.create(path, {"source": "microphone", "track_names": ["Microphone"]})

    def engine(hop, start_s):
        return {"engine": {"settings": {"window_s": 2.0, "hop_s": hop, "vad_aggressiveness": 2},
                           "source": {"kind": "MicrophoneSource", "start_s": start_s}}}

    store.update_metadata(**engine(0.5, 0.0))
    store.note_pause(12.5, 64.0)
    store.update_metadata(**engine(0.5, 12.5))
    store.update_metadata(**engine(1.0, 16.0))  # settings changed while listening
    store.close(analysis="stopped", analysed_until_s=20.0)
    w.stop()
    assert w.open_session(path)
    lane = w.plot_stack.lanes[0]
    n = len(lane.plots)
    assert [line.value() for line in lane.marker_lines] == [12.5] * n + [16.0] * n
    assert lane.marker_lines[0].label.toPlainText() == "paused 64 s"
    assert lane.marker_lines[n].label.toPlainText() == "settings changed"


class _RecordingBridge(ScriptedBridge):
    """Records each start's device, channels and session; ``fail_from`` makes starts from that one on
    fail as an unplugged device does."""

    def __init__(self, labels, fail_from=None):
        super().__init__([[] for _ in range(1000)], labels)
        self.starts, self.fail_from = [], fail_from

    def start_microphone(self, device, settings, track_names=None, session_path=None, start_s=0.0):
        from streamer import DeviceError

        self.starts.append((device, settings.channels, session_path, start_s, settings.hop_s))
        if self.fail_from is not None and len(self.starts) >= self.fail_from:
            raise DeviceError("input device 'USB Mic' not found; run `ser devices` to list them.")
        super().start_microphone(device, settings, track_names, session_path, start_s)


def test_a_live_session_restarts_on_its_own_microphone_and_channels(qtbot, tiny_model_path, tmp_path):
    """Channels or microphone chosen while listening or paused apply from the next Listen only: a
    resume or a settings change restarts the session as it started, and marks where settings changed."""
    from model.checkpoint import read_meta

    w, bridge = _live_window(qtbot, tiny_model_path, tmp_path,
                             _RecordingBridge(list(read_meta(tiny_model_path).labels)))
    assert w.start_microphone()
    w.channels_combo.setCurrentIndex(1)  # call centre, while listening
    w.pause()
    w.device_combo.setCurrentIndex(1)
    w.device_combo.activated.emit(1)  # another microphone, while paused: said to apply from the next Listen
    said = w.banner.messages()  # one notice for both choices
    assert len(said) == 1 and said[0].startswith("The channel setting and the microphone chosen apply from the next")
    w.apply_settings(w.settings.replace(hop_s=1.0))  # while paused: applies at the resume, and says so
    said = w.banner.messages()  # both hold
    assert said[0].startswith("The channel setting and") and said[1].startswith("Settings changed while paused: they "
                                                                               "apply when you resume")
    w.resume()
    assert not any(m.startswith("Settings changed while paused") for m in w.banner.messages())  # it applies now
    (dev0, ch0, session0, _, hop0), (dev1, ch1, session1, _, hop1) = bridge.starts
    assert (dev1, ch1, session1) == (dev0, "mix", None) and hop0 != 1.0 and hop1 == 1.0  # same session and device
    assert len(w.plot_stack.lanes) == 1
    texts = [line.label.toPlainText() for line in w.plot_stack.lanes[0].marker_lines if getattr(line, "label", None)]
    assert "settings changed" in texts and any(t.startswith("paused ") for t in texts)
    # The Sessions list does not call a paused session interrupted.
    w.pause()
    from gui.sessions import SessionBrowser

    w.session_path.write_text('{"type": "metadata", "created": "2026-12-03T16:00:00", "source": "microphone"}\n')
    assert w.writing_session() == w.session_path
    browser = SessionBrowser(w.session_dir, w, current=w.writing_session())
    assert browser.table.item(0, browser.COLUMNS.index("state")).text() == "being written now (this window)"
    browser.close()


def test_a_restart_on_a_device_that_is_gone_says_so_and_ends_the_session(qtbot, tiny_model_path, tmp_path):
    from model.checkpoint import read_meta

    w, bridge = _live_window(qtbot, tiny_model_path, tmp_path,
                             _RecordingBridge(list(read_meta(tiny_model_path).labels), fail_from=2))
    assert w.start_microphone()
    w.session_path.write_text('{"type": "metadata", "source": "microphone"}\n')  # the engine's file
    w.apply_settings(w.settings.replace(hop_s=1.0))  # the restart finds the device gone
    assert "'USB Mic' not found" in w.banner.text() and "Settings changed" not in w.banner.text()
    assert "The session is kept up to" in w.banner.text()
    # The window's advice, not the command line's ("run `ser devices`").
    assert "ser devices" not in w.banner.text() and "press ↻ beside the microphone list" in w.banner.text()
    assert not w.plot_stack.lanes[0].marker_lines  # nothing changed: no marker
    assert "'USB Mic' not found" in bridge.ended_by and w.status_state.text().startswith("stopped at 0.0 s")
    assert w.mode == SESSION
    w._update_actions()
    assert not w.act_play.isEnabled()  # live audio is not recorded: nothing to play; Listen starts a new session


def test_a_microphone_lost_while_paused_ends_the_session_at_the_resume(qtbot, tiny_model_path, tmp_path):
    """Lost while paused, the resume finds it gone: the session ends where the pause began, kept to
    move through as after Stop (a trial found it dead: no slider, the title still live)."""
    from model.checkpoint import read_meta

    labels = list(read_meta(tiny_model_path).labels)
    bridge = _RecordingBridge(labels, fail_from=2)
    bridge.batches = [[Audio(0, k * 0.5, np.full(8000, 0.01, np.float32))] for k in range(8)] + [[]] * 100
    w, _ = _live_window(qtbot, tiny_model_path, tmp_path, bridge)
    assert w.start_microphone()
    w.session_path.write_text('{"type": "metadata", "source": "microphone"}\n')
    for _ in range(10):
        w.tick()
    w.pause()
    w.resume()
    assert w.mode == SESSION and w.position_s == pytest.approx(4.0) and w.act_back.isEnabled()
    assert "The session is kept up to 4.0 s" in w.banner.text() and "not found" in bridge.ended_by
    w.resume()  # Space again: nothing to play, no new session unasked
    assert len(bridge.starts) == 2


def test_settings_that_change_nothing_recorded_restart_nothing(tiny_model_path):
    """The window's own analysis key is what the session records: the model's window given as a
    number, or the agent analysed in the mixed view, is no change (no restart, no marker)."""
    from gui.engine_bridge import EngineBridge

    bridge = EngineBridge()
    base = GuiSettings(model_path=str(tiny_model_path))
    bridge._predictor_for(base)
    key = bridge.analysis_settings
    own = bridge._predictor.window_s
    assert key(base) == key(base.replace(window_s=own)) == key(base.replace(analyse_agent=True))
    assert key(base) != key(base.replace(hop_s=1.0))
    assert key(base.replace(channels="split")) != key(base.replace(channels="split", analyse_agent=True))


def test_a_resumed_session_does_not_compare_its_channels_again(monkeypatch, tmp_path):
    """The note that a microphone's two channels hold the same sound came again after each pause:
    each resume opens the device anew. Once compared in a session, its resumes leave it; a new
    session, or a resume before the comparison came to its end, compares them. The same for the note
    on a muted microphone, once said."""
    import streamer
    from gui.engine_bridge import EngineBridge

    made = []

    class Mic:
        def __init__(self, device=None, check_twins=True, first_in_session=True, check_quiet=True, **kwargs):
            self.twins_checked, self.first, self.check_quiet = not check_twins, first_in_session, check_quiet
            self.quiet_noted = False
            made.append(self)

    bridge = EngineBridge()
    monkeypatch.setattr(streamer, "MicrophoneSource", Mic)
    class Session:
        failed = False  # its file was written (SessionStore.failed)

        def close(self, **record):
            pass

    monkeypatch.setattr(bridge, "_start", lambda source, settings, session_path, meta: setattr(
        bridge, "_session", Session()) if session_path is not None else None)
    settings = GuiSettings(channels="split")
    bridge.start_microphone(0, settings, session_path=tmp_path / "a.jsonl")
    bridge.start_microphone(0, settings, start_s=3.0)  # a resume before the channels were compared
    assert [m.twins_checked for m in made] == [False, False]
    assert [m.first for m in made] == [True, False]  # the note on a device below 16 kHz: once a session
    made[-1].twins_checked = True  # compared (said, or nothing to say)
    bridge.start_microphone(0, settings, start_s=9.0)
    assert made[-1].twins_checked  # not compared again
    assert made[-1].check_quiet
    made[-1].quiet_noted = True  # said that the microphone is muted
    bridge.start_microphone(0, settings, start_s=20.0)
    assert not made[-1].check_quiet  # not said again at each resume while it stays muted
    bridge.close_session()
    bridge.start_microphone(0, settings, session_path=tmp_path / "b.jsonl")
    assert not made[-1].twins_checked and made[-1].first  # a new session compares them, and says it all again
    assert made[-1].check_quiet


def test_marker_labels_close_together_stand_at_different_heights(qtbot, tiny_model_path, tmp_path):
    """A pause, then a settings change 2 s later: their labels once printed over each other."""
    from gui.plots import MARKER_LABEL_POSITIONS

    w, _ = _live_window(qtbot, tiny_model_path, tmp_path)
    assert w.start_microphone()
    for at, text in ((10.0, "paused 12 s"), (12.0, "settings changed"), (60.0, "paused 3 s")):
        w.plot_stack.add_marker(at, text)
    lane = w.plot_stack.lanes[0]
    labelled = [m for m in lane.marker_lines if getattr(m, "label", None) is not None]
    heights = [m.label.orthoPos for m in labelled]
    assert [m.label.toPlainText() for m in labelled] == ["paused 12 s", "settings changed", "paused 3 s"]
    assert heights[0] != heights[1] and heights[2] == heights[0] == MARKER_LABEL_POSITIONS[0]


def test_a_stopped_live_session_can_be_moved_through(qtbot, tiny_model_path, tmp_path):
    """Once stopped, the slider and -5 s / +5 s move through the session just recorded (live they
    only looked back, and after Stop the view stayed on the last seconds)."""
    import json

    from gui.transport import SESSION
    from model.checkpoint import read_meta

    labels = list(read_meta(tiny_model_path).labels)
    batches = [[Audio(0, k * 0.5, np.full(8000, 0.01, np.float32))]
               + ([Result.built_in(0, k * 0.5, k * 0.5 + 2.0, {labels[0]: 1.0})] if k % 2 == 0 and k < 40 else [])
               for k in range(144)]
    w, _ = _live_window(qtbot, tiny_model_path, tmp_path, ScriptedBridge(batches + [[]] * 20, labels))
    assert w.start_microphone()
    w.session_path.write_text(json.dumps({"type": "metadata", "source": "microphone"}) + "\n")  # the engine's file
    for _ in range(150):
        w.tick()
    assert w.position_s == pytest.approx(72.0)
    w.act_stop.trigger()  # the toolbar's Stop (Esc), as the user stops
    assert w.mode == SESSION and w.position_s == pytest.approx(72.0) and w.status_state.text().startswith("stopped")
    assert w.act_back.isEnabled() and w.act_forward.isEnabled() and not w.act_play.isEnabled()
    assert len(w.histories[0].spec_times) > 0  # the spectrogram and level stay
    x0, x1 = w.plot_stack.x_range()  # the whole session in view, as after a replay (it showed the last 30 s)
    assert x0 <= 0.5 and x1 >= 71.5
    png = w.export("png", tmp_path / "live.png")
    assert png is not None and png.is_file()
    w.seek(10.0)
    w.tick()
    assert w.position_s == pytest.approx(10.0) and w.seek_slider.value() == 10000
    view = w.plot_stack._master.viewRange()[0]
    assert view[0] <= 10.0 <= view[1]
    assert w.start_microphone() and w.mode != SESSION  # Listen: a new live session


def test_a_live_session_the_engine_ended_can_be_moved_through_after_stop(qtbot, tiny_model_path, tmp_path):
    """The microphone lost: the engine ended the session by itself; Stop then shows it for review too."""
    import json

    from gui.transport import SESSION

    labels = ["neutral"]
    batches = [[Audio(0, k * 0.5, np.full(8000, 0.01, np.float32))] for k in range(20)]
    w, bridge = _live_window(qtbot, tiny_model_path, tmp_path, ScriptedBridge(batches, labels))
    assert w.start_microphone()
    w.session_path.write_text(json.dumps({"type": "metadata", "source": "microphone"}) + "\n")
    for _ in range(25):
        w.tick()
    bridge.active = False  # ended by itself
    w.stop()
    assert w.mode == SESSION and w.act_back.isEnabled()
    w.stop()  # again: nothing more happens
    assert w.mode == SESSION


class _AgentBridge(_RecordingBridge):
    """Leaves the agent's channel out as the real bridge does in the call-centre view, unless the
    settings of its latest start ask for it."""

    source = None

    def start_microphone(self, device, settings, track_names=None, session_path=None, start_s=0.0):
        super().start_microphone(device, settings, track_names, session_path, start_s)
        self.skipped_tracks = (0,) if settings.channels == "split" and not settings.analyse_agent else ()


def test_the_agents_lane_follows_agent_analysis_turned_on_or_off_while_listening(qtbot, tiny_model_path, tmp_path):
    """Turned on while listening, the agent's results came in but its lane and panel still said "not
    analysed" (its curves squeezed into the caption's strip); turned off, a lane with results keeps them."""
    import types

    from model.checkpoint import read_meta

    labels = list(read_meta(tiny_model_path).labels)
    w, bridge = _live_window(qtbot, tiny_model_path, tmp_path, _AgentBridge(labels))
    bridge.source = types.SimpleNamespace(n_tracks=2)  # a device with the agent's and the customer's channels
    w.apply_settings(w.settings.replace(channels="split"))
    assert w.start_microphone()
    assert not w.plot_stack.lanes[0].analysed and not w.side_panel.ensure_lane(0, w.lane_name(0)).analysed
    assert "The agent's lane (Agent) is shown but not analysed" in w.banner.text()
    w.apply_settings(w.settings.replace(analyse_agent=True))
    assert w.plot_stack.lanes[0].analysed and w.side_panel.ensure_lane(0, w.lane_name(0)).analysed
    # The call-centre notice says what is analysed now (it said the agent's lane was not).
    assert "shown but not analysed" not in w.banner.text()
    assert "Every channel is analysed, the agent's too" in w.banner.text() and "AI Act" in w.banner.text()
    w.dispatch([Result.built_in(0, 1.0, 3.0, {labels[0]: 1.0})])
    w.apply_settings(w.settings.replace(analyse_agent=False))
    assert bridge.skipped_tracks == (0,) and w.plot_stack.lanes[0].analysed  # its results stay in view
    assert "The agent's lane (Agent) is shown but not analysed" in w.banner.text()
    # A new session with the agent's channel analysed says so, and why that needs care, as it starts.
    w.stop()
    w.apply_settings(w.settings.replace(analyse_agent=True))
    w.banner.withdraw_containing("AI Act")
    assert w.start_microphone()
    assert "Every channel is analysed, the agent's too" in w.banner.text()


def test_a_live_session_that_ended_on_an_error_says_so_when_opened_and_in_its_report(qtbot, tiny_model_path, tmp_path):
    """A resume that found the microphone gone writes no error record: the end record's ended_by was
    all there was, and the reopened session and its report said nothing (or "listened to until stopped")."""
    from streamer import SessionStore
    from streamer.batch.report import session_report
    from streamer.events import WindowResult

    path = tmp_path / "20261204-100000-live.jsonl"
    store = SessionStore.create(path, {"source": "microphone"})
    store.append(WindowResult.built_in(0, 1.0, 3.0, {"neutral": 1.0}))
    lost = "input device 'USB Mic' not found; run `ser devices` to list them."
    store.close(analysis="stopped", analysed_until_s=4.0, ended_by=lost)
    w, _ = _live_window(qtbot, tiny_model_path, tmp_path)
    assert w.open_session(path)
    assert (f"listening ended on an error: I{lost[1:]} The results up to 4.0 s are kept." in w.banner.text())
    text = session_report(path, tmp_path / "live.html").read_text().replace("&#x27;", "'")
    assert "live audio, listening ended on an error: input device 'USB Mic' not found; run" in text
    assert "list them, analysed up to 4.0 s" in text  # no nested brackets, no ".),"
    assert "listened to until stopped" not in text


def test_stop_withdraws_the_notice_that_settings_apply_at_the_resume(qtbot, tiny_model_path, tmp_path):
    w, bridge = _live_window(qtbot, tiny_model_path, tmp_path)
    assert w.start_microphone()
    w.session_path.write_text('{"type": "metadata", "source": "microphone"}\n')
    w.pause()
    w._update_transport()
    assert w.act_play.text() == "Resume"  # live audio paused: not "Play" as for a recording
    w.apply_settings(w.settings.replace(hop_s=1.0))
    assert w.banner.text().startswith("Settings changed while paused")
    w.stop()
    assert w.banner.isHidden()  # no resume will come


def test_listen_just_after_the_engine_ended_by_itself_keeps_why(qtbot, tiny_model_path, tmp_path):
    """The engine died less than a timer tick before Listen: the session it leaves is closed with why it
    ended (not as a plain stop), and Listen starts the new one."""
    w, bridge = _live_window(qtbot, tiny_model_path, tmp_path)
    assert w.start_microphone()
    first = w.session_path
    first.write_text('{"type": "metadata", "source": "microphone"}\n')
    w.dispatch([Problem("input device 'USB Mic' stopped delivering audio (unplugged?).", fatal=True)])
    bridge.running = False  # dead, and the timer has not seen it yet
    w.device_combo.setCurrentIndex(1)
    assert w.start_microphone() and w.session_path != first
    assert bridge.ended_by == "input device 'USB Mic' stopped delivering audio (unplugged?)."


def test_notes_that_come_together_are_all_shown(qtbot, tiny_model_path, tmp_path):
    """A recording's notes on its audio (channels alike, very quiet ...) come together at its end, and
    each hid the one before: the banner showed the last only, in red. They stay together now, each
    once, the newest eight, in blue; an error among them makes the banner red; an export's failure
    displaces none; a resume takes the errors off and keeps the notes; Dismiss forgets them."""
    from gui.main_window import BANNER_MESSAGES_KEPT, EXPORT_FAILED

    w, bridge = _live_window(qtbot, tiny_model_path, tmp_path)
    assert w.start_microphone()
    split = "The call-centre view analyses the Customer channel."
    w.banner.show_message(split, notice=True)
    notes = [f"Microphone USB Mic: note {i}." for i in range(BANNER_MESSAGES_KEPT + 2)]
    w.dispatch([Problem(notes[0], False, True), Problem(notes[1], False, True), Problem(notes[0], False, True)])
    assert w.banner.messages() == [split, notes[1], notes[0]]  # the one said again: once, as the newest
    assert w.banner.text() == "\n\n".join([split, notes[1], notes[0]])
    assert "#1d3a5a" in w.banner.styleSheet()  # notes only: blue
    w.dispatch([Problem(n, False, True) for n in notes[2:]])
    assert w.banner.messages() == notes[-BANNER_MESSAGES_KEPT:]
    w.show_error(f"{EXPORT_FAILED}the folder does not exist.", passing=True)
    assert w.banner.messages() == [*notes[-BANNER_MESSAGES_KEPT:], f"{EXPORT_FAILED}the folder does not exist."]
    w.banner.withdraw(EXPORT_FAILED)  # an export that worked: every note is still there
    assert w.banner.messages() == notes[-BANNER_MESSAGES_KEPT:] and "#1d3a5a" in w.banner.styleSheet()
    error = "Saving the session failed: disk full."
    w.dispatch([Problem(error, False)])
    assert w.banner.messages() == [*notes[-BANNER_MESSAGES_KEPT + 1:], error]  # the oldest note went
    assert "#5a1d1d" in w.banner.styleSheet()  # an error among them: red ...
    shown = w.banner.label.text()  # ... and each note on its own blue inside it, the error not
    assert w.banner.label.textFormat() == QtCore.Qt.TextFormat.RichText
    assert shown.count(f'<span style="color: {w.banner.NOTE_TEXT_ON_ERROR};"><b>Note:</b> ') == BANNER_MESSAGES_KEPT - 1
    assert shown.endswith(f"<br><br>{error}") and w.banner.text().endswith(error)
    w.pause()
    w.resume()  # the same session again: the error no longer applies, the notes still do
    assert w.banner.messages() == notes[-BANNER_MESSAGES_KEPT + 1:] and "#1d3a5a" in w.banner.styleSheet()
    w.banner.dismiss()
    assert w.banner.isHidden() and w.banner.messages() == []
    w.dispatch([Problem(notes[0], False, True)])
    assert w.banner.messages() == [notes[0]]  # afresh after Dismiss
    w.banner.show_message("Something else went wrong.", keep=False)  # in place of what was shown
    assert w.banner.messages() == ["Something else went wrong."]
    # A message said within a shown one is not added again: its words are shown once. An error said
    # within a note makes it an error: the banner turns red.
    w.banner.show_message("When it was analysed: the file is cut short. Results are kept.", notice=True, keep=False)
    w.banner.show_message("the file is cut short.", notice=True)
    assert w.banner.messages() == ["When it was analysed: the file is cut short. Results are kept."]
    assert "#1d3a5a" in w.banner.styleSheet()
    w.banner.show_message("the file is cut short.")
    assert w.banner.messages() == ["When it was analysed: the file is cut short. Results are kept."]
    assert "#5a1d1d" in w.banner.styleSheet()
    w.banner.show_message("the file is cut short. More.")  # not within it: shown
    assert w.banner.messages()[-1] == "the file is cut short. More."
    # A session's note names its recording as it was analysed (a relative path); read again, the
    # recording is named by its full path: the same words, shown once.
    note = "When it was analysed: calls/call_d.wav: the WAV header declares 1:06.9 of audio but the file holds 33.5 s."
    w.banner.show_message(note, notice=True, keep=False)
    w.banner.show_message("/home/ana/w/calls/call_d.wav: the WAV header declares 1:06.9 of audio but the file "
                          "holds 33.5 s.")
    assert w.banner.messages() == [note]
    w.banner.show_message("/home/ana/w/calls/call_e.wav: the WAV header declares 1:06.9 of audio but the file "
                          "holds 33.5 s.")  # another recording's
    assert len(w.banner.messages()) == 2
    # Two files of the same name in different folders are two messages.
    w.banner.show_message("/data/monday/call.wav: file not found.", keep=False)
    w.banner.show_message("/data/tuesday/call.wav: file not found.")
    assert w.banner.messages() == ["/data/monday/call.wav: file not found.", "/data/tuesday/call.wav: file not found."]


def test_notices_that_a_live_session_goes_on_go_when_it_ends(qtbot, tiny_model_path, tmp_path):
    """Kept together, the notice that a choice applies from the next Listen ("this session goes on as
    it started") stayed after Stop, beside the message that the session had ended."""
    w, bridge = _live_window(qtbot, tiny_model_path, tmp_path)
    assert w.start_microphone()
    w.set_channels("split")
    assert any("from the next Listen" in m for m in w.banner.messages())
    w.stop()
    assert not any("from the next Listen" in m for m in w.banner.messages())
    assert w.start_microphone()
    w.device_combo.setCurrentIndex(1)
    w.device_combo.activated.emit(1)
    said = w.banner.messages()  # a new session: the choices before it are not named again
    assert len(said) == 1 and said[0].startswith("The microphone chosen applies from the next Listen")


@pytest.mark.parametrize("stopped", [False, True])
def test_a_listen_that_fails_keeps_the_live_sessions_level_and_spectrogram(qtbot, tiny_model_path, tmp_path, stopped):
    """Listen on another microphone that does not open: the live session before (still listening,
    or stopped) comes back from its file, which keeps results, not audio; its level and spectrogram
    as heard stay on screen."""
    import numpy as np

    from gui.events import Audio
    from model.checkpoint import read_meta
    from streamer import SessionStore, SpeechSegment
    from streamer.events import WindowResult

    labels = list(read_meta(tiny_model_path).labels)
    w, bridge = _live_window(qtbot, tiny_model_path, tmp_path, _RecordingBridge(labels, fail_from=2))
    assert w.start_microphone(device=0)
    store = SessionStore.create(w.session_path, {"source": "microphone", "channels": "mix",
                                                 "engine": {"source": {"kind": "MicrophoneSource"}}})
    store.extend([SpeechSegment(0, "Microphone", 0.5, 2.5),
                  WindowResult(track=0, track_name="Microphone", kind="window", start_s=0.5, end_s=2.5,
                               heads={"emotion": {labels[0]: 1.0}}, speech_ratio=1.0, latency_ms=1.0,
                               dimensions_source="derived-from-category")])
    store.close(analysis="stopped", analysed_until_s=3.0)
    sound = (0.1 * np.sin(np.arange(48000) / 5.0)).astype(np.float32)
    w.dispatch([Audio(0, 0.0, sound)])
    levels = len(w.histories[0].level)
    assert levels > 0
    if stopped:
        w.stop()
    assert not w.start_microphone(device=1)
    assert "not found" in w.banner.text() and w.mode == SESSION
    assert len(w.histories[0].level) == levels and len(w.histories[0].results) == 1
    lane = w.plot_stack.lanes[0]
    assert "no level" not in lane.caption(lane.level_plot)


@pytest.mark.parametrize("live", [True, False], ids=["listening", "recording"])
def test_a_json_export_made_while_its_session_was_written_opens_without_calling_it_killed(tmp_path, live):
    """The app's JSON export made while it listened or analysed (its state "running") has no end
    record because the session had none yet: opened, it says so, not that the program was killed."""
    from gui.engine_bridge import EngineBridge
    from gui.main_window import _incomplete_note
    from streamer.events import SpeechSegment, WindowResult
    from streamer.session import SessionStore

    session = SessionStore.create(tmp_path / "s.jsonl", {"source": "microphone" if live else "file"})
    source = ({"kind": "MicrophoneSource", "start_s": 0.0} if live else
              {"kind": "FileSource", "start_s": 0.0, "duration_s": 60.0})
    session.update_metadata(engine={"settings": {"window_s": 2.0, "hop_s": 0.5}, "source": source})
    session.extend([SpeechSegment(0, "mix", 0.5, 3.0),
                    WindowResult(track=0, track_name="mix", kind="window", start_s=0.5, end_s=2.5,
                                 heads={"emotion": {"calm": 1.0}}, speech_ratio=1.0, latency_ms=1.0)])
    session.sync()
    export = EngineBridge().export(session.path, tmp_path / "running.json", "json")  # File > Export's way
    session.close(analysis="stopped")
    note = _incomplete_note("running.json", EngineBridge.open_session(export))
    assert note == ("running.json: this JSON export was made while the session was still being written ("
                    f"{'listening' if live else 'its analysis running'}); the results up to 3.0 s are in it.")


def test_a_live_session_that_ended_with_no_error_reported_is_listed_and_opened_as_such(tmp_path):
    """The engine stopped listening without saying why: the session's end record says so in the
    app's words (LIVE_ENDED), and the sessions list and the opened session say it ended by itself."""
    import json

    from gui.engine_bridge import EngineBridge
    from gui.main_window import LIVE_ENDED, _incomplete_note
    from gui.sessions import read_session_info
    from streamer.events import WindowResult
    from streamer.session import SessionStore

    path = tmp_path / "20261205-100000-live.jsonl"
    store = SessionStore.create(path, {"source": "microphone"})
    store.append(WindowResult.built_in(0, 1.0, 3.0, {"neutral": 1.0}))
    store.close(analysis="stopped", analysed_until_s=4.0, ended_by=LIVE_ENDED)
    assert json.loads(path.read_text().splitlines()[-1])["ended_by"] == LIVE_ENDED
    assert read_session_info(path).state == "ended by itself, with no error reported"
    note = _incomplete_note(path.name, EngineBridge.open_session(path))
    assert note == f"{path.name}: listening ended by itself, with no error reported. The results up to 4.0 s are kept."
