"""Qt fixtures for the GUI tests: offscreen platform, a window on the tiny model, speech files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

# Must be set before pytest-qt creates the QApplication.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# The offscreen platform says this when a top-level window is shown; it is about the platform, not us.
OFFSCREEN_NOISE = r"This plugin does not support propagateSizeHints"
REPLAY_TIMEOUT_MS = 60_000


def pytest_collection_modifyitems(config, items):
    """Every GUI test fails on Qt warnings (pytest-qt's qt_log_level_fail), platform noise aside."""
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.qt_log_level_fail("WARNING"))
            item.add_marker(pytest.mark.qt_log_ignore(OFFSCREEN_NOISE))


@pytest.fixture(autouse=True)
def desktop_sized_windows(request, monkeypatch):
    """Windows open at the size a desktop gives them (the offscreen platform's screen is 800 x 800,
    which would fit them to it); tests marked ``screen_fit`` check the fitting itself."""
    import gui.main_window as mw

    if request.node.get_closest_marker("screen_fit") is None:
        monkeypatch.setattr(mw, "initial_size", lambda screen: mw.WINDOW_PX)


@pytest.fixture
def speech_wav(tmp_path, speech_16k) -> Path:
    """About 14 s of real speech (4 RAVDESS clips with 1 s gaps) as a 16 kHz mono WAV."""
    import soundfile as sf

    path = tmp_path / "speech.wav"
    sf.write(path, speech_16k, 16000)
    return path


@pytest.fixture
def stereo_wav(tmp_path, speech_16k) -> Path:
    """A two-party call: the speech on the left channel, the same speech 3 s later on the right."""
    import soundfile as sf

    shift = 3 * 16000
    n = len(speech_16k) + shift
    data = np.zeros((n, 2), dtype=np.float32)
    data[: len(speech_16k), 0] = speech_16k
    data[shift:, 1] = speech_16k
    path = tmp_path / "call.wav"
    sf.write(path, data, 16000)
    return path


@pytest.fixture
def make_window(qtbot, tiny_model_path, tmp_path):
    """Factory: a shown main window on the tiny model, saving sessions under tmp_path."""
    from gui.main_window import MainWindow
    from gui.settings import GuiSettings

    def make(**settings):
        settings.setdefault("model_path", str(tiny_model_path))
        window = MainWindow(GuiSettings(**settings), session_dir=tmp_path / "sessions")
        qtbot.addWidget(window)
        window.show()
        qtbot.waitExposed(window)
        return window

    return make


@pytest.fixture
def replay(qtbot):
    """Replay a file in a window and wait until it has finished."""

    def run(window, path):
        with qtbot.waitSignal(window.sig_replay_finished, timeout=REPLAY_TIMEOUT_MS):
            assert window.open_file(path)
        return window

    return run

