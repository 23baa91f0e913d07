"""Where the app keeps its files, known without Qt (``ser gui --help`` names the sessions folder)."""

from __future__ import annotations

import os
from pathlib import Path

ORGANIZATION, APPLICATION = "speech-emotion-analyzer", "ser"


def sessions_folder() -> Path:
    """Where the app saves sessions: Qt's application data folder on Linux (XDG), computed without Qt."""
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / ORGANIZATION / APPLICATION / "sessions"
