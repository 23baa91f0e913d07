"""Run as a subprocess by the GUI sound test, with PULSE_SERVER set before PortAudio loads.

Usage: gui_sound_client.py MODEL WAV OUT_JSON. Opens the main window (offscreen), replays WAV at 1x,
turns Sound on half-way with its shortcut action, lists the sound server's sink inputs while it plays,
waits for the end and writes what the window and the engine report as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

TIMEOUT_S = 60.0
SOUND_ON_AT_S = 1.0  # replay position at which Sound is turned on
LISTEN_AFTER_S = 1.0  # replay time after turning Sound on at which the sink inputs are listed


def main() -> int:
    model_path, wav, out = sys.argv[1:4]
    from PySide6 import QtWidgets

    app = QtWidgets.QApplication([])
    from gui.main_window import MainWindow
    from gui.settings import GuiSettings

    window = MainWindow(GuiSettings(model_path=model_path, speed=1.0), session_dir=Path(out).parent / "sessions")
    window.show()
    deadline = time.monotonic() + TIMEOUT_S
    finished = []
    window.sig_replay_finished.connect(lambda: finished.append(True))

    def pump_until(cond) -> None:
        while not cond():
            app.processEvents()
            time.sleep(0.01)
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out; errors: {window.errors}")

    window.open_file(wav)
    pump_until(lambda: window.position_s > SOUND_ON_AT_S)
    window.act_sound.trigger()
    sound_on_at = window.position_s
    pump_until(lambda: window.position_s > sound_on_at + LISTEN_AFTER_S)
    sink_inputs = subprocess.run(["pactl", "list", "sink-inputs"], capture_output=True, text=True).stdout
    pump_until(lambda: bool(finished))
    stats = window.bridge.stats()
    result = {"errors": window.errors, "sound_on_at": sound_on_at, "sink_inputs": sink_inputs, "stats": stats,
              "duration_s": window.duration_s, "results": len(window.histories[0].results),
              "state": window.status_state.text()}
    Path(out).write_text(json.dumps(result))
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
