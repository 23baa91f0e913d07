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


@pytest.fixture(scope="session", autouse=True)
def signals_as_a_terminal_gives_them():
    """The tests of Ctrl+C, ``kill`` and a closed terminal need those signals as a terminal gives
    them. A suite started in the background (``nohup``, ``&`` in a script) inherits SIGINT and SIGHUP
    ignored, and the commands and the app rightly keep a signal they were started to ignore: their
    tests then failed there. The suite and what it starts get the usual handling; what was there
    before is put back at the end."""
    usual = {signal.SIGINT: signal.default_int_handler, signal.SIGHUP: signal.SIG_DFL, signal.SIGTERM: signal.SIG_DFL}
    before = {sig: signal.getsignal(sig) for sig in usual}
    for sig, handler in usual.items():
        if before[sig] is signal.SIG_IGN:
            signal.signal(sig, handler)
    yield
    for sig, handler in before.items():
        if handler is signal.SIG_IGN:
            signal.signal(sig, handler)


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


class PulseDaemon:
    """A private PulseAudio daemon with a 16 kHz mono null sink ``vspk`` whose monitor is the default
    source, in a folder of its own. ``env`` (``PULSE_SERVER``, ``XDG_RUNTIME_DIR``) reaches it, and
    may be given to a client before :meth:`start` (a sound server started after the program).
    Fails the test (never skips) when PulseAudio cannot be started: the virtual microphone is part
    of the suite."""

    def __init__(self):
        missing = [tool for tool in ("pulseaudio", "paplay", "pactl") if shutil.which(tool) is None]
        if missing:
            pytest.fail(f"virtual microphone: {', '.join(missing)} not found; install the test system packages "
                        "(sudo apt-get install pulseaudio pulseaudio-utils libasound2-plugins, or `make sysdeps-test`).",
                        pytrace=False)
        # A short private folder: unix socket paths are limited to about 100 characters.
        self.base = Path(tempfile.mkdtemp(prefix="ser-pulse-"))
        self.runtime = self.base / "run"
        self.runtime.mkdir(mode=0o700)
        self.socket = self.base / "native"
        self.conf = self.base / "daemon.pa"
        self.conf.write_text(
            f"load-module module-native-protocol-unix auth-anonymous=1 socket={self.socket}\n"
            f"load-module module-null-sink sink_name=vspk rate={VIRTUAL_MIC_RATE_HZ} channels=1\n"
            "set-default-source vspk.monitor\n"
        )
        self.env = dict(os.environ, PULSE_SERVER=f"unix:{self.socket}", XDG_RUNTIME_DIR=str(self.runtime),
                        HOME=str(self.base))
        self.env.pop("PULSE_SINK", None)
        self.env.pop("PULSE_SOURCE", None)
        self.pid: int | None = None

    def start(self) -> int:
        proc = subprocess.run(["pulseaudio", "--daemonize=yes", "--exit-idle-time=-1", "-n", "-F", str(self.conf),
                               "--use-pid-file=yes", "--log-target=stderr"],
                              env=self.env, capture_output=True, text=True, timeout=PULSE_START_TIMEOUT_S)
        pid_file = self.runtime / "pulse" / "pid"
        deadline = time.monotonic() + PULSE_START_TIMEOUT_S
        ready = False
        while proc.returncode == 0 and time.monotonic() < deadline:
            if self.socket.exists() and pid_file.exists():
                info = subprocess.run(["pactl", "info"], env=self.env, capture_output=True, text=True)
                if info.returncode == 0:
                    ready = True
                    break
            time.sleep(POLL_S)
        self.pid = int(pid_file.read_text().strip()) if pid_file.exists() else None
        if not ready:
            self.close()
            pytest.fail(f"virtual microphone: PulseAudio did not start (exit {proc.returncode}, uid {os.geteuid()}; "
                        f"the recipe is verified as root). Its output:\n{proc.stderr.strip()}", pytrace=False)
        return self.pid

    def close(self) -> None:
        """Stop the daemon (if it runs) and remove its folder."""
        pid, self.pid = self.pid, None
        if pid is not None and _alive(pid):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + PULSE_STOP_TIMEOUT_S
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(POLL_S)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture
def pulse_server():
    """A running :class:`PulseDaemon`, as a :class:`PulseServer` whose ``env`` a subprocess needs;
    PortAudio must be imported after that environment is set, so microphone tests run in a subprocess."""
    daemon = PulseDaemon()
    try:
        yield PulseServer(daemon.start(), daemon.env)
    finally:
        daemon.close()


@pytest.fixture
def pulse_daemon():
    """A :class:`PulseDaemon` not yet started: its ``env`` can be given to a client first (a sound
    server that comes after the program); stopped at the end whether or not the test started it."""
    daemon = PulseDaemon()
    try:
        yield daemon
    finally:
        daemon.close()
