"""Errors the streaming engine raises on purpose. Each message names the file or device and what to do."""

from __future__ import annotations

from model.errors import AudioError, SERError

__all__ = ["AudioError", "ConfigError", "DeviceError", "SERError", "SessionError"]


class DeviceError(SERError):
    """An audio input device that is missing, busy, unplugged, or a PortAudio library that is absent."""


class SessionError(SERError):
    """A session file that cannot be created, read or exported."""


class ConfigError(SERError):
    """Engine settings that make no sense (for example a hop longer than the window)."""
