"""``ser gui --replay FILE --snapshot PNG --exit-when-done`` on the offscreen platform."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from PySide6 import QtGui


def _ser(*args, timeout=120):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    return subprocess.run([sys.executable, "-m", "ser", *args], capture_output=True, text=True, timeout=timeout,
                          env=env)


def test_replay_snapshot_and_exit(tmp_path, tiny_model_path, speech_wav):
    png = tmp_path / "shot.png"
    session = tmp_path / "run.jsonl"
    proc = _ser("gui", "--model", str(tiny_model_path), "--replay", str(speech_wav), "--speed", "8",
                "--snapshot", str(png), "--exit-when-done", "--session", str(session))
    assert proc.returncode == 0, proc.stderr
    image = QtGui.QImage(str(png))
    assert not image.isNull() and image.width() >= 1000 and image.height() >= 700
    assert session.exists() and '"type": "result"' in session.read_text()

    # The saved session opens again without audio.
    png2 = tmp_path / "session.png"
    proc = _ser("gui", "--model", str(tiny_model_path), "--session", str(session), "--snapshot", str(png2),
                "--exit-when-done")
    assert proc.returncode == 0, proc.stderr
    assert not QtGui.QImage(str(png2)).isNull()


def test_replay_of_a_bad_file_exits_with_an_error(tmp_path, tiny_model_path):
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    png = tmp_path / "shot.png"
    proc = _ser("gui", "--model", str(tiny_model_path), "--replay", str(bad), "--snapshot", str(png),
                "--exit-when-done")
    assert proc.returncode == 1
    assert "bad.wav" in proc.stderr
    assert png.exists()  # the window, error banner included


def test_replay_of_a_missing_file_says_so_in_command_line_terms(tmp_path, tiny_model_path):
    """A scripted run is told about --replay, not about the window's Open dialog (Ctrl+O)."""
    proc = _ser("gui", "--model", str(tiny_model_path), "--replay", str(tmp_path / "gone.wav"), "--exit-when-done")
    assert proc.returncode == 1
    assert "gone.wav: file not found" in proc.stderr and "--replay" in proc.stderr and "Ctrl+O" not in proc.stderr


@pytest.mark.parametrize("speed", ["0.25", "9"])
def test_speed_outside_the_range_is_refused(speed):
    proc = _ser("gui", "--speed", speed, "--exit-when-done")
    assert proc.returncode == 2 and "speed" in proc.stderr
