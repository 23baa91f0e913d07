"""Errors the streaming engine raises on purpose. Each message names the file or device and what to do."""

from __future__ import annotations

from model.errors import AudioError, SERError

__all__ = ["AudioError", "ConfigError", "DeviceError", "SERError", "SessionError"]


class DeviceError(SERError):
    """An audio input device that is missing, busy, unplugged, or a PortAudio library that is absent."""


class SessionError(SERError):
    """A session file that cannot be created, read or exported."""


class CorruptSessionError(SessionError):
    """A session file with a damaged line: what precedes it can still be opened
    (``SessionStore.open(path, salvage=True)``). ``kept`` counts the results before the damage and
    ``kept_until_s`` is where they end; ``lost_lines`` counts the lines from the damage on."""

    def __init__(self, message: str, line: int, kept: int, kept_until_s: float, lost_lines: int):
        super().__init__(message)
        self.line, self.kept, self.kept_until_s, self.lost_lines = line, kept, kept_until_s, lost_lines


class ConfigError(SERError):
    """Engine settings that make no sense (for example a hop longer than the window)."""


class TrackNamesError(ConfigError):
    """Track names (``--names``) that do not fit the channels of the source: one per channel."""
