"""PortAudio, through ``sounddevice``, imported only when a device is used: the library needs the
system's PortAudio (``libportaudio2``) at import time, and analysis of files must work without it."""

from __future__ import annotations

from streamer.errors import DeviceError


def import_sounddevice():
    try:
        import sounddevice
    except OSError as exc:  # raised when the PortAudio library is missing
        raise DeviceError(f"cannot use audio devices: the PortAudio library is not available ({exc}). "
                          "Install it (Debian/Ubuntu: sudo apt-get install libportaudio2).") from exc
    return sounddevice
