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
    assert w.status_device.text() == "device: cpu"
    assert w.status_latency.text().startswith("latency: ") and "ms" in w.status_latency.text()
    assert w.status_overflows.text() == "overflows: 0"
    assert w.status_fps.text().endswith("fps")
    rows = w.histories[0].results.view()  # (mid, end, ...)
    lengths = 2 * (rows[:, 1] - rows[:, 0])
    assert (lengths <= 1.5 + 1e-3).all() and np.isclose(lengths, 1.5, atol=1e-3).any()
    assert np.isclose(np.diff(rows[:, 1]), 0.25, atol=0.01).any()  # the hop inside a segment
