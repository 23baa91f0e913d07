"""Batch settings, the responsible-use channel rule, and the keys that make reruns idempotent.

Kept free of torch, dask and pyarrow so that the command line and the workers' task objects stay light.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

from model.files import file_sha256  # noqa: F401 - the batch keys calls and models by content
from streamer.commands import check_not_all_agents, is_agent
from streamer.config import CROSSTALK_DB, EngineConfig
from streamer.errors import ConfigError
from streamer.sources import check_track_names

# Bump when the per-call outputs change meaning, so that old results are recomputed, never reused.
BATCH_FORMAT_VERSION = 6  # 2: segments record sound the speech gate left out; speech_s no longer counts it; 3: results and segments carry the file's channel as their track (a rerun analyses earlier calls again); 4: V/A/D kept within [0, 1], results on less than 0.8 s of speech uncertain; 5: anger peaks from windows not uncertain, summaries keep the notes on the audio (clipped, very quiet); 6: the emotion head's peaks too, and the notes per analysed channel when split
DEFAULT_NAMES = ("Agent", "Customer")
DEFAULT_AGENT_NAMES = ("Agent",)
# Engine settings that change how fast, not what, is computed: left out of the key.
NON_RESULT_SETTINGS = ("device", "max_batch_windows", "input_queue_blocks", "result_queue_events",
                       "display_queue_events", "emit_audio", "latency_history", "background_nice")


@dataclass(frozen=True)
class BatchSettings:
    """What every call of a batch is analysed with.

    Attributes:
        model: Model file, or ``default`` for the bundled model.
        window_s: Analysis window.
        hop_s: Hop between windows.
        vad_aggressiveness: webrtcvad mode 0-3.
        channels: ``split`` (one track per channel: stereo call recordings) or ``mix``.
        names: With ``split``: the track names in channel order (default ``Agent,Customer``).
        agent_names: Tracks that hold employees; they are analysed only with ``analyse_agent``.
        analyse_agent: Analyse the employees' channels too (see the responsible-use note).
        device: Torch device of the workers (``cpu`` by default: one process per core scales better).
        speaker_adaptation: Adapt to each speaker (see ``EngineConfig.speaker_adaptation``).
        crosstalk_db: See ``EngineConfig.crosstalk_db`` (None: off).
    """

    model: str = "default"
    window_s: float = 2.0
    hop_s: float = 0.5
    vad_aggressiveness: int = 2
    channels: str = "split"
    names: tuple[str, ...] = DEFAULT_NAMES
    agent_names: tuple[str, ...] = DEFAULT_AGENT_NAMES
    analyse_agent: bool = False
    device: str = "cpu"
    speaker_adaptation: bool = True
    crosstalk_db: float | None = CROSSTALK_DB

    def __post_init__(self) -> None:
        if self.channels not in ("split", "mix"):
            raise ConfigError(f"channels must be 'split' or 'mix', got {self.channels!r}.")
        if self.channels == "split":
            check_track_names(self.names)
            if not self.analyse_agent and not any(is_agent(n, self.agent_names) for n in self.names):
                # Otherwise renaming the channels would silently analyse the agent's too.
                raise ConfigError(f"none of the track names ({','.join(self.names)}) is the agent's "
                                  f"(--agent-name {','.join(self.agent_names)}). Say which channel holds the agent, "
                                  "e.g. --names Agent,Customer --agent-name Agent; only the other channels are "
                                  "analysed. Pass --analyse-agent to analyse every channel, only where lawful.")
            if not self.analyse_agent:
                check_not_all_agents(self.names, self.agent_names)
        if self.channels == "mix" and not self.analyse_agent:
            # A mixed recording holds the agent's voice too: analysing it infers the employee's emotions.
            raise ConfigError("--channels mix analyses the agent's voice together with the customer's. In the EU, "
                              "inferring the emotions of employees at work is prohibited (AI Act, Art. 5(1)(f)). "
                              "Use --channels split on stereo call recordings (only the customer channel is "
                              "analysed), or pass --analyse-agent only where this is lawful.")
        self.engine_config()  # raises ConfigError for bad window, hop or VAD settings

    def engine_config(self) -> EngineConfig:
        return EngineConfig(window_s=self.window_s, hop_s=self.hop_s, vad_aggressiveness=self.vad_aggressiveness,
                            device=self.device, emit_audio=False, speaker_adaptation=self.speaker_adaptation,
                            crosstalk_db=self.crosstalk_db)

    @property
    def track_names(self) -> list[str]:
        """All tracks of a call, analysed or not."""
        return list(self.names) if self.channels == "split" else ["mix"]

    def analysed_tracks(self) -> list[int]:
        """Indices of the tracks that are analysed: employees' tracks only with ``analyse_agent``."""
        if self.channels == "mix" or self.analyse_agent:
            return list(range(len(self.track_names)))
        return [i for i, n in enumerate(self.names) if not is_agent(n, self.agent_names)]

    def channel_statement(self) -> str:
        """One sentence for summaries and reports: which channels were analysed and why."""
        if self.channels == "mix":
            return "All channels mixed to one track and analysed (agent included: --analyse-agent was given)."
        done = [self.names[i] for i in self.analysed_tracks()]
        skipped = [n for n in self.names if n not in done]
        text = f"Analysed: {', '.join(done) or 'none'}."
        if skipped:
            text += f" Not analysed: {', '.join(skipped)} (employee channel; needs --analyse-agent)."
        elif any(is_agent(n, self.agent_names) for n in self.names):
            text += " The agent channel was analysed because --analyse-agent was given."
        return text

    def result_settings(self) -> dict:
        """Every setting that can change a call's results (for the idempotency key)."""
        engine = {k: v for k, v in self.engine_config().to_dict().items() if k not in NON_RESULT_SETTINGS}
        if self.channels == "mix":  # one track: nothing can leak into it from another
            engine.pop("crosstalk_db", None)
        return {"engine": engine, "channels": self.channels, "names": list(self.track_names),
                "analysed": [self.track_names[i] for i in self.analysed_tracks()]}

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["names"], d["agent_names"] = list(self.names), list(self.agent_names)
        return d


def call_key(content_sha256: str, model_sha256: str, settings: BatchSettings) -> str:
    """The identity of one call's analysis: same file content, same model file, same result settings."""
    doc = {"version": BATCH_FORMAT_VERSION, "content": content_sha256, "model": model_sha256,
           "settings": settings.result_settings()}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()
