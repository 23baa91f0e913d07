"""``ser gui --replay FILE --snapshot PNG --exit-when-done`` on the offscreen platform."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time

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


@contextlib.contextmanager
def _app_replaying(tmp_path, tiny_model_path, speech_wav, preexec):
    """``ser gui`` replaying ``speech_wav`` into ``tmp_path/run.jsonl`` (settings and sessions under
    ``tmp_path``), yielded once its session holds a result; killed if still running at the end."""
    session = tmp_path / "run.jsonl"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "config"),
               XDG_DATA_HOME=str(tmp_path / "data"))
    with subprocess.Popen([sys.executable, "-m", "ser", "gui", "--model", str(tiny_model_path), "--replay",
                           str(speech_wav), "--session", str(session)], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, preexec_fn=preexec) as app:
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and app.poll() is None and not (
                    session.is_file() and '"type": "result"' in session.read_text()):
                time.sleep(0.1)
            assert app.poll() is None, app.stderr.read()
            yield app, session
        finally:
            if app.poll() is None:
                app.kill()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda s: s.name)
def test_a_signal_closes_the_app_as_quit_does_and_its_session_ends_properly(tmp_path, tiny_model_path, speech_wav,
                                                                              sig):
    """kill, a logout, a closed terminal or Ctrl+C in it: the app closes as File > Quit does. The
    session ends with its end record (how far the analysis got), not as a killed run's (which the
    next start reports as killed); exit status 128 + the signal's number."""
    with _app_replaying(tmp_path, tiny_model_path, speech_wav,
                        lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)) as (app, session):
        app.send_signal(sig)
        code = app.wait(timeout=30)
        err = app.stderr.read()
    assert code == 128 + sig, err
    assert "Traceback" not in err, err
    records = [json.loads(line) for line in session.read_text().splitlines()]
    end = records[-1]
    assert end["type"] == "end" and end["analysis"] in ("stopped", "complete"), end
    assert 0 < end["analysed_until_s"] <= 14.1


def test_a_signal_the_app_was_started_to_ignore_stays_ignored(tmp_path, tiny_model_path, speech_wav):
    """nohup ser gui &: the terminal's closing (SIGHUP) must not end it."""
    with _app_replaying(tmp_path, tiny_model_path, speech_wav,
                        lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN)) as (app, _):
        app.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        assert app.poll() is None, app.stderr.read()  # still running
        app.send_signal(signal.SIGTERM)
        assert app.wait(timeout=30) == 128 + signal.SIGTERM


# Drives an interactive `ser gui --replay BAD`: once the window is up, opens another recording (or
# nothing) as a user would with Ctrl+O, then quits as File > Quit does; exits with run_gui's status.
_INTERACTIVE_DRIVER = """
import argparse, sys
from PySide6 import QtCore, QtWidgets
from gui import commands
from gui.app import create_app, run_gui
from gui.main_window import MainWindow

model, replay, other, quit_after_ms = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
parser = argparse.ArgumentParser()
commands.register(parser.add_subparsers())
args = parser.parse_args(["gui", "--model", model, "--replay", replay])
app = create_app()

def window():
    return next(w for w in QtWidgets.QApplication.topLevelWidgets() if isinstance(w, MainWindow))

def open_other():
    if other != "-":
        window().open_file(other)
    QtCore.QTimer.singleShot(quit_after_ms, lambda: (window().close(), app.quit()))

QtCore.QTimer.singleShot(1000, open_other)
sys.exit(run_gui(args))
"""


@pytest.mark.parametrize("then_open", [True, False], ids=["then-another-file", "nothing-else"])
def test_an_interactive_run_whose_replay_failed_exits_normally_once_another_file_was_opened(
        tmp_path, tiny_model_path, speech_wav, then_open):
    """``ser gui --replay BAD`` in a window: the window says why, and the exit status says the file
    could not be replayed only if nothing else was opened before a normal quit (a trial's run exited
    1 after the user had gone on to replay other files)."""
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "config"),
               XDG_DATA_HOME=str(tmp_path / "data"))
    proc = subprocess.run([sys.executable, "-c", _INTERACTIVE_DRIVER, str(tiny_model_path), str(bad),
                           str(speech_wav) if then_open else "-", "1500"], capture_output=True, text=True,
                          timeout=120, env=env)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "bad.wav" in proc.stderr  # said on the terminal too
    assert proc.returncode == (0 if then_open else 1), proc.stderr


def test_an_interactive_replay_ends_with_status_0_whatever_the_user_tried_to_open_after_it(tmp_path, tiny_model_path,
                                                                                        speech_16k):
    """``ser gui --replay good.wav`` in a window, then a bad file tried while it plays, then the good
    one's replay ends: a normal quit exits 0 (it exited 1, the bad file's error counted as the replay's)."""
    import soundfile as sf

    short = tmp_path / "short.wav"
    sf.write(str(short), speech_16k[:16000 * 2], 16000)
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "config"),
               XDG_DATA_HOME=str(tmp_path / "data"))
    proc = subprocess.run([sys.executable, "-c", _INTERACTIVE_DRIVER, str(tiny_model_path), str(short), str(bad),
                           "3500"], capture_output=True, text=True, timeout=120, env=env)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 0, proc.stderr


def test_without_a_display_the_app_says_so_in_one_line(tmp_path):
    """On a machine without a display (a server, an ssh session without -X) Qt aborted with advice to
    install xcb-cursor packages and reinstall; the command now says what is missing and exits 1."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env |= {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_DATA_HOME": str(tmp_path / "data")}
    proc = subprocess.run([sys.executable, "-m", "ser", "gui"], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "ser gui: no display to open the window on (neither DISPLAY nor WAYLAND_DISPLAY is set): run it in a desktop "
        "session, or over ssh -X; ser analyze and ser batch work without one (and ser gui --snapshot or "
        "--exit-when-done with QT_QPA_PLATFORM=offscreen)."]
    env["QT_QPA_PLATFORM"] = "offscreen"  # a platform that needs no display: not refused
    proc = subprocess.run([sys.executable, "-m", "ser", "gui", "--replay", str(tmp_path / "gone.wav"),
                           "--exit-when-done"], capture_output=True, text=True, timeout=60, env=env)
    assert "no display" not in proc.stderr and "gone.wav: file not found" in proc.stderr


_SCRIPTED_DRIVER = """
import argparse, sys
from PySide6 import QtCore, QtWidgets
from gui import commands
from gui.app import create_app, run_gui
from gui.main_window import MainWindow

model, wav, notice = sys.argv[1], sys.argv[2], sys.argv[3] == "notice"
parser = argparse.ArgumentParser()
commands.register(parser.add_subparsers())
args = parser.parse_args(["gui", "--model", model, "--replay", wav, "--speed", "8", "--exit-when-done"])
app = create_app()

def say():
    window = next(w for w in QtWidgets.QApplication.topLevelWidgets() if isinstance(w, MainWindow))
    window.show_error("something said about the audio", notice=notice)

QtCore.QTimer.singleShot(200, say)
sys.exit(run_gui(args))
"""


@pytest.mark.parametrize("kind", ["notice", "error"])
def test_a_scripted_replay_exits_1_on_an_error_and_0_on_a_notice(tmp_path, tiny_model_path, speech_wav, kind):
    """``--exit-when-done``: a notice about the audio (digital silence, a quiet channel) is said as a
    note and is no failure, as ser analyze's notes are not; an error makes the exit status 1 (a notice
    did too)."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run([sys.executable, "-c", _SCRIPTED_DRIVER, str(tiny_model_path), str(speech_wav), kind],
                          capture_output=True, text=True, timeout=120, env=env)
    assert "Traceback" not in proc.stderr, proc.stderr
    if kind == "notice":
        assert proc.returncode == 0 and "ser gui: note: something said about the audio" in proc.stderr, proc.stderr
    else:
        assert proc.returncode == 1 and "ser gui: something said about the audio" in proc.stderr, proc.stderr


def test_a_scripted_replay_reopened_from_its_session_says_the_analysis_notes_again(tmp_path, tiny_model_path):
    """A recording analysed before reopens from its saved session: its analysis's notes (here, that
    it is digital silence) were shown in the window but not said on the terminal, as the first run's were."""
    import numpy as np
    import soundfile as sf

    silence = tmp_path / "silence.wav"
    sf.write(str(silence), np.zeros(16000 * 3, np.float32), 16000)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "config"),
               XDG_DATA_HOME=str(tmp_path / "data"))
    for run in ("first", "reopened"):
        proc = subprocess.run([sys.executable, "-m", "ser", "gui", "--model", str(tiny_model_path), "--replay",
                               str(silence), "--speed", "8", "--exit-when-done"], capture_output=True, text=True,
                              timeout=120, env=env)
        assert proc.returncode == 0, (run, proc.stderr)
        assert "ser gui: note: " in proc.stderr and "digital silence" in proc.stderr, (run, proc.stderr)
