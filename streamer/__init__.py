"""Streaming engine: sources, VAD, sliding windows, timestamped results, sessions and ``ser analyze``.

Importing this package loads no model and does not import ``sounddevice``.
"""

from streamer.analyze import AnalysisResult, analyze_file
from streamer.config import SAMPLE_RATE_HZ, EngineConfig
from streamer.engine import Engine, EngineStats
from streamer.errors import AudioError, ConfigError, CorruptSessionError, DeviceError, SERError, SessionError
from streamer.events import AudioBlock, EngineError, Event, SourceFinished, SpeechSegment, VadFrames, WindowResult
from streamer.monitor import AudioMonitor
from streamer.pipeline import TrackPipeline, analyze_waveform
from streamer.session import SessionStore, export_csv, export_json, write_csv, write_json
from streamer.sources import (
    FileSource,
    InputDevice,
    MicrophoneSource,
    Source,
    SourceBlock,
    list_input_devices,
)

__all__ = [
    "SAMPLE_RATE_HZ", "AnalysisResult", "AudioBlock", "AudioMonitor", "AudioError", "ConfigError", "DeviceError", "Engine", "EngineConfig",
    "EngineError", "EngineStats", "Event", "FileSource", "InputDevice", "MicrophoneSource", "SERError", "SessionError", "CorruptSessionError",
    "SessionStore", "Source", "SourceBlock", "SourceFinished", "SpeechSegment", "TrackPipeline", "VadFrames",
    "WindowResult", "analyze_file", "analyze_waveform", "export_csv", "export_json", "list_input_devices", "write_csv", "write_json",
]
