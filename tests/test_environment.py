"""The installed environment loads: every compiled extension the product needs imports, and the
installed packages agree with each other.

A broken combination (for example a torchaudio build that needs a newer torch) then fails here with
one clear message naming the package, not with an import traceback deep inside another test.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def _mel_of_silence(torchaudio):
    import torch

    return torchaudio.transforms.MelSpectrogram(16000, n_mels=64)(torch.zeros(1, 1600)).shape


def _vad_of_silence(core):
    vad = core.create()
    core.init(vad)
    core.set_mode(vad, 2)
    return core.process(vad, 16000, b"\x00\x00" * 480, 480) is False


# (module to import, what it provides, what to call in it to load its compiled code)
COMPILED = [
    ("torch", "PyTorch", lambda m: m.zeros(2).sum().item()),
    ("torchaudio", "torchaudio's C++ library", _mel_of_silence),
    ("soxr", "the soxr resampler", lambda m: m.resample([0.0] * 320, 16000, 8000)),
    ("_webrtcvad", "webrtcvad's C core (streamer/vad.py calls it directly)", _vad_of_silence),
    ("soundfile", "libsndfile through soundfile", lambda m: m.__libsndfile_version__),
    ("PySide6.QtCore", "Qt (PySide6)", lambda m: m.qVersion()),
    ("PySide6.QtGui", "Qt GUI (PySide6)", lambda m: m.QColor(1, 2, 3).name()),
    ("safetensors.torch", "safetensors", lambda m: m.save({}) is not None),
    ("pyarrow", "Apache Arrow (batch tables)", lambda m: m.array([1, 2]).sum()),
    ("onnxruntime", "ONNX Runtime (the model on the CPU)", lambda m: m.get_available_providers()),
    ("onnx", "onnx (model export)", lambda m: m.helper.make_opsetid("", 17)),
]


@pytest.mark.parametrize("module, what, use", COMPILED, ids=[c[0] for c in COMPILED])
def test_compiled_extension_loads(module, what, use):
    try:
        use(importlib.import_module(module))
    except Exception as exc:  # noqa: BLE001 - the point is one readable message for any failure
        pytest.fail(
            f"{what} ({module}) does not load in this environment: {type(exc).__name__}: {exc}. "
            "The installed packages do not match requirements/lock.txt: run 'make clean test'."
        )


def test_torch_and_torchaudio_are_the_locked_pair():
    import torch
    import torchaudio

    lock = (Path(__file__).resolve().parents[1] / "requirements" / "lock.txt").read_text()
    for name, module in (("torch", torch), ("torchaudio", torchaudio)):
        version = module.__version__.split("+")[0]
        assert f"\n{name}=={version} " in lock, f"{name} {module.__version__} is installed, the lock has another"


def test_portaudio_binding_loads_when_portaudio_is_installed():
    """sounddevice needs the system PortAudio library at import time; `make` installs it."""
    import ctypes.util

    if ctypes.util.find_library("portaudio") is None:
        pytest.fail("the system library PortAudio is missing: sudo apt-get install -y libportaudio2")
    import sounddevice

    assert sounddevice.get_portaudio_version()[0] >= 1899


def test_installed_packages_are_consistent():
    uv = shutil.which("uv", path=str(Path(sys.executable).parent))
    command = [uv, "pip", "check", "--python", sys.executable] if uv else [sys.executable, "-m", "pip", "check"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"installed packages conflict:\n{done.stdout}{done.stderr}"


def _pins(path: Path) -> dict[str, str]:
    """Package -> its whole entry (version line and hashes) in a lock file."""
    entries, name = {}, None
    for line in path.read_text().splitlines():
        if line and line[0].isalnum():
            name = line.split("==")[0].lower()
            entries[name] = line
        elif name and line.strip().startswith("--hash"):
            entries[name] += line.strip()
    return entries


def test_base_lock_is_the_full_locks_subset_without_torch():
    """`make run` installs the base flavour: the same versions and hashes as the tested full lock,
    and nothing of training."""
    req = Path(__file__).resolve().parents[1] / "requirements"
    full, base = _pins(req / "lock.txt"), _pins(req / "lock-base.txt")
    assert {"onnxruntime", "pyside6-essentials", "numpy"} <= set(base)
    assert not {"torch", "torchaudio", "onnx", "pytest", "scipy"} & set(base)
    for name, entry in base.items():
        assert full.get(name) == entry, f"{name}: the base lock differs from the full one; run make lock"
