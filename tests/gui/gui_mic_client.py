"""Run as a subprocess by the GUI microphone test, with PULSE_SERVER set before PortAudio loads.

Usage: gui_mic_client.py MODEL WAV OUT_JSON. Opens the main window (offscreen), listens on the
``pulse`` device chosen in the device list, plays WAV into the default sink once audio flows,
pauses, resumes and plays WAV again, stops, and writes what the window and the session show as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

TIMEOUT_S = 90.0
SETTLE_S = 0.5  # audio must flow this long before playing
TAIL_S = 1.5  # keep listening after paplay ends (device and server buffers)
RESUME_WAIT_S = 15.0
RESUMED_S = 1.0


def result_starts(session_text: str) -> list[float]:
    """Start times of the results in a session file, in the order they were written."""
    out = []
    for line in session_text.splitlines():
        record = json.loads(line) if '"result"' in line else {}
        if record.get("type") == "result":
            out.append(float(record["start_s"]))
    return out


def main() -> int:
    model_path, wav, out = sys.argv[1:4]
    from PySide6 import QtWidgets

    app = QtWidgets.QApplication([])
    from gui.main_window import MainWindow
    from gui.settings import GuiSettings
    from streamer import SessionStore

    window = MainWindow(GuiSettings(model_path=model_path), session_dir=Path(out).parent / "sessions")
    window.show()
    deadline = time.monotonic() + TIMEOUT_S

    def pump(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.01)
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out; errors: {window.errors}")

    devices = [window.device_combo.itemText(i) for i in range(window.device_combo.count())]
    window.device_combo.setCurrentIndex(next(i for i, name in enumerate(devices) if name.startswith("pulse")))
    started = window.start_microphone()
    while started and (0 not in window.histories or window.histories[0].end_s < SETTLE_S):
        pump(0.05)
    clock_at_play = window.position_s
    player = subprocess.Popen(["paplay", wav])
    while player.poll() is None:
        pump(0.05)
    pump(TAIL_S)
    state_listening = window.status_state.text()
    lane_title = window.plot_stack.lanes[0].caption(window.plot_stack.lanes[0].level_plot)
    panel = window.side_panel.panels[0]  # the lane renamed while listening: the whole session takes the name
    panel.name_edit.setText("Dana")
    panel.name_edit.editingFinished.emit()
    live_nice = window.bridge._engine.config.background_nice if started else None
    window.pause()
    paused_at = window.position_s
    state_paused = window.status_state.text()
    results_at_pause = len(result_starts(Path(window.session_path).read_text()))
    window.resume()
    # Reopening the device takes a while on a loaded machine: wait for the clock to move on.
    resume_deadline = time.monotonic() + RESUME_WAIT_S
    pump(RESUMED_S)
    while window.position_s <= paused_at + RESUMED_S and time.monotonic() < resume_deadline:
        pump(0.05)
    resumed_to = window.position_s
    player_after = subprocess.Popen(["paplay", wav])  # speech after the resume, so it has results
    while player_after.poll() is None:
        pump(0.05)
    pump(TAIL_S)
    resumed_to = window.position_s
    first = window.histories[0].results.view()[0]
    look_at = float(first[0]) + 0.5  # live: look back into the first result, the analysis goes on
    window.seek(look_at)
    look_range = window.plot_stack.x_range()
    pump(0.3)
    after_look = window.position_s
    looked = {"at": look_at, "slider_ms": window.seek_slider.value(), "time": window.time_label.text(),
              "cursor": window.plot_stack.position_s,
              "panel_time": window.side_panel.panels[0].current_time.text()}
    level_t = window.histories[0].level.view()[:, 0]
    window.stop()
    h = window.histories[0]
    lane = window.plot_stack.lanes[0]
    result = {
        "devices": devices, "started": started, "live_nice": live_nice, "errors": window.errors,
        "clock_at_play": clock_at_play,
        "paplay_status": player.returncode, "paused_at": paused_at, "state_paused": state_paused,
        "resumed_to": resumed_to, "look_range": look_range, "after_look": after_look, "looked": looked,
        "follow_after_look": window.plot_stack.follow, "level_monotonic": bool((level_t[1:] >= level_t[:-1]).all()),
        "level_points": len(h.level), "level_max_db": float(h.level.view()[:, 1].max()),
        "results": len(h.results), "segments": h.segments.view().tolist(), "spec_columns": len(h.spec),
        "curve_points": int(len(lane.emotion_curves[window.model_info.labels[0]].getData()[0])),
        "lane_title": lane_title, "renamed_title": lane.caption(lane.level_plot), "state": window.status_state.text(),
        "stored_names": sorted({r.track_name for r in SessionStore.open(window.session_path).results}),
        "own_names": list(window._own_track_names),
        "session": str(window.session_path), "session_text": Path(window.session_path).read_text(),
        "results_at_pause": results_at_pause, "paplay_after_status": player_after.returncode,
        "session_result_starts": result_starts(Path(window.session_path).read_text()),
        "history_result_ends": h.results.view()[:, 1].tolist(),
    }
    # Call centre on the same device (PulseAudio's offers 32 input channels): two lanes, two channels.
    window.set_channels("split")
    split_started = window.start_microphone()
    pump(1.0)
    source = window.bridge.source
    result.update(state_listening=state_listening, split_started=split_started, split_lanes=len(window.plot_stack.lanes),
                  split_channels=source.n_channels if source is not None else None, split_errors=window.errors)
    window.stop()
    Path(out).write_text(json.dumps(result))
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
