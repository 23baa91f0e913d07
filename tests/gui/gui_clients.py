"""Runs the GUI client scripts of this folder against the private PulseAudio server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

GUI_CLIENT_TIMEOUT_S = 120
REPO_ROOT = Path(__file__).resolve().parents[2]


def run_gui_client(script: str, args: list, pulse_server) -> dict:
    """Run a GUI client script of this folder in a subprocess on the private PulseAudio server (PortAudio
    must be imported after its environment is set) and return the JSON it wrote to its last argument."""
    env = {**pulse_server.env, "QT_QPA_PLATFORM": "offscreen", "OMP_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, str(Path(__file__).with_name(script)), *map(str, args)], env=env,
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=GUI_CLIENT_TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr
    return json.loads(Path(args[-1]).read_text())
