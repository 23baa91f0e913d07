"""The Sound action: it turns the engine's sound output on for file replays (the window itself opens
no device), applies at once during a replay, is remembered, and a missing output device is shown
while the replay goes on."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtCore

from gui.main_window import MainWindow
from gui.settings import GuiSettings, load_settings

WAIT_MS = 60_000
SHORT_CLIP_S = 3.0  # a 1x replay of this much speech keeps the test short
CLIENT_CLIP_S = 5.0


@pytest.fixture
def short_wav(tmp_path, speech_16k):
    import soundfile as sf

    path = tmp_path / "short.wav"
    sf.write(path, speech_16k[: int(SHORT_CLIP_S * 16000)], 16000)
    return path


def test_sound_toggle_applies_during_a_replay_and_is_remembered(qtbot, tmp_path, tiny_model_path, speech_wav):
    ini = str(tmp_path / "ser.ini")
    store = QtCore.QSettings(ini, QtCore.QSettings.Format.IniFormat)
    w = MainWindow(GuiSettings(model_path=str(tiny_model_path), speed=2.0), session_dir=tmp_path / "s", store=store)
    qtbot.addWidget(w)
    w.show()
    assert w.act_sound.isCheckable() and not w.act_sound.isChecked()
    assert w.act_sound.shortcut().toString() == "Ctrl+M" and "1x" in w.act_sound.toolTip()
    assert w.act_sound in w.findChild(QtCore.QObject, "mainToolbar").actions()

    assert w.open_file(speech_wav)
    assert not w.bridge.source.monitor  # the analysis never plays: the playhead's sound is apart from it
    qtbot.waitUntil(lambda: w.position_s > 1.0, timeout=WAIT_MS)
    w.act_sound.trigger()  # what a click or Ctrl+M does
    assert w.act_sound.isChecked() and w.settings.sound
    assert not w.bridge.sound_playing  # 2x is silent: no pitch-shifted voice (the tooltip says so)
    assert "1x" in w.statusBar().currentMessage()
    assert QtCore.QSettings(ini, QtCore.QSettings.Format.IniFormat).value("analyzer/settings").count('"sound": true')

    w.set_speed(1.0)  # at 1x the sound starts from the playhead
    assert w.bridge._player is not None and w.bridge._player.source.start_s == pytest.approx(w.position_s, abs=0.1)
    w.act_sound.trigger()
    assert not w.settings.sound and not w.bridge.sound_playing
    w.close()
    settings = load_settings(QtCore.QSettings(ini, QtCore.QSettings.Format.IniFormat), GuiSettings())
    assert settings.sound is False

    w2 = MainWindow(GuiSettings(model_path=str(tiny_model_path), sound=True), session_dir=tmp_path / "s")
    qtbot.addWidget(w2)
    assert w2.act_sound.isChecked()  # a remembered "on" shows on the next start


def test_missing_sound_device_is_shown_and_the_replay_finishes(make_window, replay, short_wav):
    w = make_window(speed=1.0, sound=True, sound_device="no such output 4711")
    replay(w, short_wav)
    assert any("without sound" in e for e in w.errors), w.errors
    assert any("no such output 4711" in e or "PortAudio" in e for e in w.errors), w.errors
    assert w.banner.isVisible() and w.status_state.text() == "replay finished"
    assert len(w.histories[0].results) > 0 and np.isfinite(w.histories[0].results.view()).all()
    assert w.bridge.source is None or not w.bridge.running


def test_a_missing_sound_device_turns_the_sound_off_so_the_next_file_opens_without_the_error(
        make_window, replay, short_wav):
    """A user trial: the Sound action stayed on after its device was not found, so every later file
    opened with the same red error; and the message sent app users to a Python command."""
    w = make_window(speed=1.0, sound=True, sound_device="no such output 4711")
    replay(w, short_wav)
    error = next(e for e in w.errors if "no such output 4711" in e)
    assert "Sound is now off" in error and "Settings > Sound output" in error and "python" not in error
    assert not w.act_sound.isChecked() and not w.settings.sound
    w.errors.clear()
    replay(w, short_wav)
    assert not any("sound" in e.lower() for e in w.errors), w.errors


def test_any_failure_of_the_sound_output_turns_the_sound_off_and_says_so(make_window):
    """A review: only a device not found or not opened turned Sound off; one that stopped playing
    (unplugged) or a missing PortAudio library left it on, to fail again at every file."""
    from gui.events import Problem

    w = make_window(sound=True)
    w.dispatch([Problem("sound output 'USB' stopped playing (unplugged or taken by another program?). "
                        "The replay goes on without sound.", False, False)])
    assert not w.settings.sound and not w.act_sound.isChecked()
    assert w.errors[-1].endswith("Sound is now off (Ctrl+M turns it on again). The replay goes on without sound.")


def test_sound_device_is_a_setting(qtbot):
    from gui.settings import SettingsDialog

    dialog = SettingsDialog(GuiSettings(sound_device="pulse"))
    qtbot.addWidget(dialog)
    assert dialog.values().sound_device == "pulse"
    dialog.sound_device_edit.setText("  ")
    assert dialog.values().sound_device == ""


def test_sound_turned_on_during_a_replay_plays_through_the_engine(pulse_server, tiny_model_path, speech_16k,
                                                                  tmp_path):
    """With a (virtual) sound server: the rest of the replay is heard from the playhead on."""
    import soundfile as sf
    from gui_clients import run_gui_client

    wav = tmp_path / "speech.wav"
    sf.write(wav, speech_16k[: int(CLIENT_CLIP_S * 16000)], 16000)
    got = run_gui_client("gui_sound_client.py", [tiny_model_path, wav, tmp_path / "sound.json"], pulse_server)
    assert got["errors"] == [] and got["state"] == "replay finished" and got["results"] > 0
    assert got["sound_on_at"] > 0.9  # the replay went on from where it was
    assert "ALSA Playback" in got["sink_inputs"] or "python" in got["sink_inputs"], got["sink_inputs"]
    rate = got["stats"]["sound_frames_played"] / (got["duration_s"] - got["sound_on_at"])
    assert got["stats"]["sound_frames_played"] > 0 and rate > 8000, got["stats"]  # the rest was played


def test_the_sound_error_goes_when_the_sound_works_again(make_window, replay, speech_wav, monkeypatch):
    """Kept below the other messages, the error that the sound failed stayed red after the sound
    worked again (another output chosen)."""
    from model.errors import AudioError

    w = make_window(speed=0.0)
    replay(w, speech_wav)
    w.seek(1.0)
    w.settings = w.settings.replace(sound=True)
    w.transport.set_speed(1.0)
    w.transport.playing = True

    def failing(*args):
        raise AudioError("output device 'Speakers' cannot be opened.")

    monkeypatch.setattr(w.bridge, "play_sound", failing)
    w._sync_sound()
    assert w.banner.messages()[-1] == "output device 'Speakers' cannot be opened. The replay goes on without sound."
    monkeypatch.setattr(w.bridge, "play_sound", lambda *args: None)
    w._sync_sound()
    assert not any("without sound" in m for m in w.banner.messages())
