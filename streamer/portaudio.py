"""PortAudio, through ``sounddevice``, imported only when a device is used: the library needs the
system's PortAudio (``libportaudio2``) at import time, and analysis of files must work without it."""

from __future__ import annotations

import threading
import weakref

from streamer.errors import DeviceError

# The streams this program has open (a microphone's, the replay's sound): PortAudio cannot read the
# device list again while any is open (see rescan_devices).
_streams: weakref.WeakSet = weakref.WeakSet()
_lock = threading.Lock()


def import_sounddevice():
    try:
        import sounddevice
    except OSError as exc:  # raised when the PortAudio library is missing
        raise DeviceError(f"cannot use audio devices: the PortAudio library is not available ({exc}). "
                          "Install it (Debian/Ubuntu: sudo apt-get install libportaudio2).") from exc
    return sounddevice


def opened(stream) -> None:
    """Note a stream just opened (closed ones and ones let go of are forgotten by themselves)."""
    with _lock:
        _streams.add(stream)


def rescan_devices(sd) -> bool:
    """Make PortAudio read the system's devices again. It reads them once, when it starts: a
    microphone plugged in, or a sound server started, after that stays unseen until PortAudio is
    restarted, which would end any stream open now; so it is restarted only when none is. Returns
    whether it was."""
    with _lock:
        if any(not getattr(s, "closed", True) for s in list(_streams)):
            return False
        try:
            sd._terminate()
            sd._initialize()
        except Exception:  # noqa: BLE001 - PortAudio as it was: the list read as before
            return False
    return True
