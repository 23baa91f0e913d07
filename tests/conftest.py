"""Shared fixtures: real speech clips from tests/data, a tiny model with random weights, and a
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

import numpy as np
import pytest

from model.testing import make_tiny_model

DATA_DIR = Path(__file__).resolve().parent / "data"
RAVDESS_DIR = DATA_DIR / "ravdess"

# Keep the suite predictable on a 2-core machine.
os.environ.setdefault("OMP_NUM_THREADS", "2")

VIRTUAL_MIC_RATE_HZ = 16000
PULSE_START_TIMEOUT_S = 15.0
PULSE_STOP_TIMEOUT_S = 5.0
POLL_S = 0.05


@pytest.fixture(scope="session")
def ravdess_dir() -> Path:
    """A tiny RAVDESS tree (8 real clips of actors 01-04) in the original layout."""
    return RAVDESS_DIR


@pytest.fixture(scope="session")
def speech_paths() -> list[Path]:
    return sorted(RAVDESS_DIR.glob("Actor_*/*.flac"))


@pytest.fixture(scope="session")
def speech_16k(speech_paths) -> np.ndarray:
    """About 14 s of real speech: four clips at 16 kHz joined with 1 s of silence between them."""
    from model.audio import load_mono_16k

    gap = np.zeros(16000, dtype=np.float32)
    parts = []
    for p in speech_paths[:4]:
        parts += [load_mono_16k(p), gap]
    return np.concatenate(parts)


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("model") / "tiny.safetensors")


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
        f"load-module module-null-sink sink_name=vspk rate={VIRTUAL_MIC_RATE_HZ} channels=1\n"
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
