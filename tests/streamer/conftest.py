"""Fixtures of the streaming-engine tests: a loaded tiny model, a stub model, audio files, and a
virtual microphone (a private PulseAudio daemon with a null sink whose monitor is the default source)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from streamer_helpers import SAMPLE_RATE_HZ, StubPredictor, write_audio

PULSE_START_TIMEOUT_S = 15.0
PULSE_STOP_TIMEOUT_S = 5.0
POLL_S = 0.05


@pytest.fixture(scope="session")
def predictor(tiny_model_path):
    """The tiny random-weight model, on the CPU (CI has no GPU)."""
    from model.predictor import Predictor

    return Predictor.load(tiny_model_path, device="cpu")


@pytest.fixture
def stub_predictor():
    return StubPredictor()


@pytest.fixture(scope="session")
def speech_wav(speech_16k, tmp_path_factory) -> Path:
    """``speech_16k`` (about 14 s of real speech with silences) as a 16 kHz WAV file."""
    return write_audio(tmp_path_factory.mktemp("audio") / "speech.wav", speech_16k, subtype="FLOAT")


@dataclass(frozen=True)
class PulseServer:
    """A running private PulseAudio daemon: its process id and the environment that reaches it."""

    pid: int
    env: dict


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def pulse_server():
    """A private PulseAudio daemon with a 16 kHz mono null sink ``vspk`` whose monitor is the default
    source. Yields a :class:`PulseServer` whose ``env`` a subprocess needs (``PULSE_SERVER``,
    ``XDG_RUNTIME_DIR``); PortAudio must be imported after that environment is set, so microphone
    tests run in a subprocess.
    Fails (never skips) when PulseAudio cannot be started: the virtual microphone is part of the suite.
    """
    missing = [tool for tool in ("pulseaudio", "paplay", "pactl") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"virtual microphone: {', '.join(missing)} not found; install the test system packages "
                    "(sudo apt-get install pulseaudio pulseaudio-utils libasound2-plugins, or `make sysdeps-test`).",
                    pytrace=False)
    # A short private folder: unix socket paths are limited to about 100 characters.
    base = Path(tempfile.mkdtemp(prefix="ser-pulse-"))
    runtime = base / "run"
    runtime.mkdir(mode=0o700)
    socket = base / "native"
    conf = base / "daemon.pa"
    conf.write_text(
        f"load-module module-native-protocol-unix auth-anonymous=1 socket={socket}\n"
        f"load-module module-null-sink sink_name=vspk rate={SAMPLE_RATE_HZ} channels=1\n"
        "set-default-source vspk.monitor\n"
    )
    env = dict(os.environ, PULSE_SERVER=f"unix:{socket}", XDG_RUNTIME_DIR=str(runtime), HOME=str(base))
    env.pop("PULSE_SINK", None)
    env.pop("PULSE_SOURCE", None)
    proc = subprocess.run(["pulseaudio", "--daemonize=yes", "--exit-idle-time=-1", "-n", "-F", str(conf),
                           "--use-pid-file=yes", "--log-target=stderr"],
                          env=env, capture_output=True, text=True, timeout=PULSE_START_TIMEOUT_S)
    pid_file = runtime / "pulse" / "pid"
    deadline = time.monotonic() + PULSE_START_TIMEOUT_S
    ready = False
    while proc.returncode == 0 and time.monotonic() < deadline:
        if socket.exists() and pid_file.exists():
            info = subprocess.run(["pactl", "info"], env=env, capture_output=True, text=True)
            if info.returncode == 0:
                ready = True
                break
        time.sleep(POLL_S)
    pid = int(pid_file.read_text().strip()) if pid_file.exists() else None
    if not ready:
        if pid is not None and _alive(pid):
            os.kill(pid, signal.SIGTERM)
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"virtual microphone: PulseAudio did not start (exit {proc.returncode}, uid {os.geteuid()}; "
                    f"the recipe is verified as root). Its output:\n{proc.stderr.strip()}", pytrace=False)
    try:
        yield PulseServer(pid, env)
    finally:
        if pid is not None and _alive(pid):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + PULSE_STOP_TIMEOUT_S
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(POLL_S)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(base, ignore_errors=True)
