"""PortAudio, through ``sounddevice``, imported only when a device is used: the library needs the
system's PortAudio (``libportaudio2``) at import time, and analysis of files must work without it."""

from __future__ import annotations

import contextlib
import threading
import weakref

from streamer.errors import DeviceError

# The streams this program has open (a microphone's, the replay's sound): PortAudio cannot read the
# device list again while any is open (see rescan_devices).
_streams: weakref.WeakSet = weakref.WeakSet()
_lock = threading.RLock()  # held from reading the devices to a new stream's registration, and by a rescan


def import_sounddevice():
    try:
        import sounddevice
    except OSError as exc:  # raised when the PortAudio library is missing
        raise DeviceError(f"cannot use audio devices: the PortAudio library is not available ({exc}). "
                          "Install it (Debian/Ubuntu: sudo apt-get install libportaudio2).") from exc
    return sounddevice


@contextlib.contextmanager
def opening():
    """Around the opening of a stream, from reading the devices to :func:`opened`: a rescan (another
    thread's: the app's ↻ while a replay's sound opens) waits, so that PortAudio is not restarted
    under the opening, nor the device's index changed between the two."""
    with _lock:
        yield


def opened(stream) -> None:
    """Note a stream just opened (closed ones and ones let go of are forgotten by themselves)."""
    with _lock:
        _streams.add(stream)


def in_use() -> bool:
    """Whether a stream of this program is open (a rescan would end it, so none is made)."""
    with _lock:
        return any(not getattr(s, "closed", True) for s in list(_streams))


def rescan_devices(sd) -> bool:
    """Make PortAudio read the system's devices again. It reads them once, when it starts: a
    microphone plugged in, or a sound server started, after that stays unseen until PortAudio is
    restarted, which would end any stream open now; so it is restarted only when none is. Returns
    whether it was."""
    with _lock:
        if in_use():
            return False
        try:
            sd._terminate()
        except Exception:  # noqa: BLE001 - PortAudio as it was: the list read as before
            return False
        try:
            sd._initialize()
        except Exception:  # noqa: BLE001 - once more; failing again, listing the devices says PortAudio's error
            with contextlib.suppress(Exception):
                sd._initialize()
    return True
