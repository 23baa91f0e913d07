"""The settings dialog and the status bar."""

from __future__ import annotations

import numpy as np

from gui.settings import GuiSettings, SettingsDialog


def test_settings_dialog_round_trip(qtbot):
    settings = GuiSettings(model_path="m.safetensors", window_s=2.0, hop_s=0.5, vad_aggressiveness=2, smoothing=0.0)
    dialog = SettingsDialog(settings)
    qtbot.addWidget(dialog)
    assert dialog.values() == settings
    dialog.window_spin.setValue(3.0)
    dialog.hop_spin.setValue(0.25)
    dialog.vad_spin.setValue(3)
    dialog.smooth_spin.setValue(0.5)
    dialog.model_edit.setText("")
    new = dialog.values()
    assert (new.window_s, new.hop_s, new.vad_aggressiveness, new.smoothing) == (3.0, 0.25, 3, 0.5)
    assert new.model_path == "default"


def test_engine_settings_reach_the_engine_and_the_status_bar_reports(make_window, replay, speech_wav):
    w = make_window(speed=0.0)
    w.apply_settings(w.settings.replace(window_s=1.5, hop_s=0.25, vad_aggressiveness=3))
    config = w.bridge._config(w.settings)
    assert (config.window_s, config.hop_s, config.vad_aggressiveness) == (1.5, 0.25, 3)
    replay(w, speech_wav)
    w._update_status()
    assert w.status_device.text() == "device: cpu (ONNX Runtime)"
    assert w.status_latency.text().startswith("result delay: ") and "ms" in w.status_latency.text()
    assert w.status_overflows.text() == "overflows: 0"
    assert w.status_fps.text().endswith("fps")
    # A saved session opened has no run of its own: the last run's numbers are not shown for it.
    assert w.open_session(w.session_path)
    w._update_status()
    assert w.status_latency.text() == "result delay: –" and w.status_overflows.text() == "overflows: –"
    rows = w.histories[0].results.view()  # (mid, end, ...)
    lengths = 2 * (rows[:, 1] - rows[:, 0])
    assert (lengths <= 1.5 + 1e-3).all() and np.isclose(lengths, 1.5, atol=1e-3).any()
    assert np.isclose(np.diff(rows[:, 1]), 0.25, atol=0.01).any()  # the hop inside a segment


def test_settings_are_remembered_and_lane_names_are_not(qtbot, tmp_path, tiny_model_path):
    """Settings carry over to the next start; a lane's name does not (a name typed for one call, often a
    person's, would label every later call), and names saved by earlier versions are removed."""
    from PySide6 import QtCore

    from gui.main_window import MainWindow
    from gui.settings import TRACK_NAMES_KEY, load_settings

    ini = str(tmp_path / "ser.ini")
    store = QtCore.QSettings(ini, QtCore.QSettings.Format.IniFormat)
    w = MainWindow(GuiSettings(model_path=str(tiny_model_path)), session_dir=tmp_path, store=store)
    qtbot.addWidget(w)
    w.apply_settings(w.settings.replace(smoothing=0.3, hop_s=0.25))
    w.set_speed(4.0)
    w.rename_lane(1, "Caller Jane")
    w.close()
    assert "Caller Jane" not in (tmp_path / "ser.ini").read_text()

    again = QtCore.QSettings(ini, QtCore.QSettings.Format.IniFormat)
    settings = load_settings(again, GuiSettings())
    assert (settings.smoothing, settings.hop_s, settings.speed) == (0.3, 0.25, 4.0)
    assert settings.model_path == str(tiny_model_path)

    again.setValue(TRACK_NAMES_KEY, '["Agent", "Caller Jane"]')  # as an earlier version saved them
    again.sync()
    assert load_settings(again, GuiSettings()) == settings
    assert "Caller Jane" not in (tmp_path / "ser.ini").read_text()

    (tmp_path / "bad.ini").write_text("[analyzer]\nsettings=not json {\n")
    damaged = QtCore.QSettings(str(tmp_path / "bad.ini"), QtCore.QSettings.Format.IniFormat)
    assert load_settings(damaged, GuiSettings()) == GuiSettings()


def test_window_and_hop_follow_the_model_unless_changed(qtbot):
    """Unset, window and hop are the model file's (shown in the dialog, kept unset when unchanged);
    the hop cannot exceed the window."""
    dialog = SettingsDialog(GuiSettings(), model_window=(3.0, 0.75))
    qtbot.addWidget(dialog)
    assert (dialog.window_spin.value(), dialog.hop_spin.value()) == (3.0, 0.75)
    assert (dialog.values().window_s, dialog.values().hop_s) == (None, None)
    dialog.window_spin.setValue(1.0)
    dialog.hop_spin.setValue(4.0)
    assert dialog.hop_spin.value() == 1.0  # bounded by the window
    assert (dialog.values().window_s, dialog.values().hop_s) == (1.0, 1.0)


def test_an_unset_window_is_the_models(make_window, tiny_model_path):
    from model.checkpoint import read_meta

    w = make_window()
    meta = read_meta(tiny_model_path)
    assert w.settings.window_s is None and (w.model_info.window_s, w.model_info.hop_s) == (meta.window_s, meta.hop_s)
    w.bridge._predictor_for(w.settings)
    config = w.bridge._config(w.settings)
    assert (config.window_s, config.hop_s) == (meta.window_s, meta.hop_s)


def test_settings_saved_before_the_model_set_the_window_follow_the_model(tmp_path):
    """Version 1 saved the old defaults (2.0 / 0.5) for everyone: read back, they follow the model;
    a window chosen under version 2 stays."""
    import json

    from PySide6 import QtCore

    from gui.settings import SETTINGS_KEY, load_settings, save_settings

    store = QtCore.QSettings(str(tmp_path / "s.ini"), QtCore.QSettings.Format.IniFormat)
    store.setValue(SETTINGS_KEY, json.dumps({"window_s": 2.0, "hop_s": 0.5, "smoothing": 0.3}))
    settings = load_settings(store, GuiSettings())
    assert (settings.window_s, settings.hop_s, settings.smoothing) == (None, None, 0.3)
    save_settings(store, GuiSettings(window_s=2.0, hop_s=0.5))
    settings = load_settings(store, GuiSettings())
    assert (settings.window_s, settings.hop_s) == (2.0, 0.5)
