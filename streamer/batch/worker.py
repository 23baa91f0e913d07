"""One call, analysed in a worker process: the task and outcome objects (plain, picklable), the per-process
model cache, and the source of a call split into channels (one name per channel).

The same :func:`analyze_call` runs in the calling process, in a local process pool and on Dask workers,
so all three give the same results.
"""

from __future__ import annotations

import os
import socket
import sys
import time
import traceback
from dataclasses import dataclass, field, replace

from model.audio import agent_twin_refusal, narrowband_message
from model.errors import AudioError, ModelFileError, SERError
from streamer.batch.settings import BatchSettings, file_sha256
from streamer.batch.summary import analysed_view, call_summary
from streamer.config import EngineConfig
from streamer.engine import Engine, engine_metadata
from streamer.errors import ConfigError
from streamer.events import EngineError, SpeechSegment, WindowResult
from streamer.session import FORMAT_NAME as SESSION_FORMAT
from streamer.session import FORMAT_VERSION as SESSION_FORMAT_VERSION
from streamer.sources import FileSource, Source

DONE, FAILED = "done", "failed"

# One loaded model per worker process: (path, sha256, device) -> Predictor.
_PREDICTORS: dict[tuple[str, str, str], object] = {}


@dataclass(frozen=True)
class CallTask:
    """Everything a worker needs for one call (paths must be readable by the worker)."""

    call_id: str
    path: str
    key: str
    model_path: str
    model_sha256: str
    settings: BatchSettings


@dataclass
class CallOutcome:
    """What a worker hands back; the caller writes it to disk (one writer, so writes stay atomic)."""

    call_id: str
    key: str
    status: str
    error: str = ""
    detail: str = ""
    duration_s: float | None = None
    metadata: dict = field(default_factory=dict)
    segments: list[dict] = field(default_factory=list)
    results: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    timeline_png: bytes | None = None
    elapsed_s: float = 0.0
    # A call that failed part-way (a truncated or damaged file): how far its analysis got; its
    # segments and results up to there are kept (BatchStore.write_failed), as ser analyze keeps them.
    analysed_until_s: float | None = None
    worker: str = ""


def limit_threads() -> None:
    """One compute thread per worker: processes, not threads, use the cores (no oversubscription).
    The worker's predictor is loaded with one thread; torch, when the worker uses it, gets the same."""
    os.environ["OMP_NUM_THREADS"] = "1"
    if "torch" in sys.modules:
        import torch

        torch.set_num_threads(1)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # only allowed before the first parallel work; the intra-op limit is what counts
            pass


def get_predictor(model_path: str, model_sha256: str, device: str = "cpu"):
    """The model of this process, loaded once; checks that the file is the one the batch was keyed on."""
    key = (model_path, model_sha256, device)
    if key not in _PREDICTORS:
        from model.runtime import load_predictor

        limit_threads()
        try:
            sha = file_sha256(model_path)
        except OSError as exc:
            raise ModelFileError(f"{model_path}: model file not readable on worker {worker_name()} ({exc}).") from exc
        if sha != model_sha256:
            raise ModelFileError(f"{model_path}: the model file on worker {worker_name()} differs from the one the "
                                 "batch was started with; give every worker the same file.")
        _PREDICTORS.clear()
        _PREDICTORS[key] = load_predictor(model_path, device=device, threads=1)
    return _PREDICTORS[key]


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class ChannelSelection(FileSource):
    """A call file split into channels, one name per channel, of which only ``keep`` are analysed.

    Every channel reaches the engine, which runs only ``keep`` through the model
    (``EngineConfig.only_tracks``; responsible use: the agent's channel is never analysed), so
    results and segments carry the file's channel as their track, as ``ser analyze --channels split``
    numbers them. What it adds to a split :class:`FileSource`: the call-centre message for a file
    whose channels do not match the names, and the names and kept channels in its metadata.

    Args:
        path: Audio file.
        names: One name per channel of the file.
        keep: Indices of the channels to analyse, in order.
    """

    def __init__(self, path: str, names: list[str], keep: list[int]):
        super().__init__(path, pace="fast", channels="split")
        self.names, self.keep = list(names), list(keep)

    def open(self) -> None:
        if self._file is not None:
            return
        super().open()
        n = self.n_channels
        if n != len(self.names):
            self.close()
            if n == 1:
                detail = ("it is mono, so both parties are mixed in one channel (only --channels mix "
                          "--analyse-agent analyses such recordings, where that is lawful)")
            else:
                detail = f"give {n} names with --names, one per channel"
            raise AudioError(f"{self.path}: {n} {'channel' if n == 1 else 'channels'}, but --names gives "
                             f"{len(self.names)} ({', '.join(self.names)}); split call recordings need one channel "
                             f"per party: {detail}.")
        self.track_names = list(self.names)

    def metadata(self) -> dict:
        meta = super().metadata()
        # Tracks are the file's channels (``tracks`` names them all); channels_analysed are those
        # analysed. (Batches before this numbered only the analysed channels, from 0, and listed
        # only those in ``tracks``: the app maps such results back to their channels.)
        meta.update(channel_names=self.names, channels_analysed=list(self.keep))
        return meta


def _run_engine(predictor, config: EngineConfig, source: Source) -> tuple[list, list, list, list, float, EngineConfig]:
    """The call's segments, results, errors, notices, how far it was analysed, and the engine's
    settings with the tracks it left out resolved (``skip_tracks``), as a session records them."""
    engine = Engine(predictor, config)
    events = []
    engine.run(source, events.extend)  # raises AudioError for a missing or unreadable file
    segments = [e for e in events if isinstance(e, SpeechSegment)]
    results = [e for e in events if isinstance(e, WindowResult)]
    errors = [e.message for e in events if isinstance(e, EngineError) and not e.notice]
    notices = [e.message for e in events if isinstance(e, EngineError) and e.notice]
    return segments, results, errors, notices, engine.analysed_until_s, replace(config, skip_tracks=engine.skipped_tracks)


def analyze_call(task: CallTask) -> CallOutcome:
    """Analyse one call. Never raises for a bad file: the outcome says ``failed`` and why."""
    t0 = time.perf_counter()
    out = CallOutcome(task.call_id, task.key, FAILED, worker=worker_name())
    s = task.settings
    try:
        predictor = get_predictor(task.model_path, task.model_sha256, s.device)
        keep = s.analysed_tracks()
        config = s.engine_config()
        if s.channels == "split":
            if not keep:  # BatchSettings refuses such names; an empty only_tracks would mean every channel
                raise ConfigError("no channel of the call is to be analysed (every name is an agent's).")
            source: Source = ChannelSelection(task.path, s.track_names, keep)
            config = replace(config, only_tracks=tuple(keep))
        else:
            # Mixed only when told to (--analyse-agent): the note that a call's channels take turns, with
            # its advice for ser analyze, is not for it.
            source = FileSource(task.path, pace="fast", channels="mix", check_turns=False)
        segments, results, errors, notices, until, config = _run_engine(predictor, config, source)
        if refusal := agent_twin_refusal(str(task.path), source.twin_pairs, keep, s.track_names, errors):
            # A mono recording saved as stereo: the customer's channel is the agent's too. Refused as a
            # mono call is (ChannelSelection), its results not kept (a file cut short says so too).
            raise AudioError(refusal)
        out.duration_s = source.total_s
        source_meta = source.metadata()  # taken after the run: the file's length added as when it was open
        if out.duration_s is not None:
            source_meta.setdefault("duration_s", out.duration_s)
        analysed = [s.track_names[i] for i in keep]
        not_analysed = [n for n in s.track_names if n not in analysed]
        # The session format's header: a call's results.json opens in the app like a session. (No
        # time stamp: the same call, model and settings give the same document; done.json says when.)
        out.metadata = {"format": SESSION_FORMAT, "format_version": SESSION_FORMAT_VERSION, "created_by": "ser batch",
                        "path": task.path, "model": {"path": task.model_path, "sha256": task.model_sha256,
                                                     "labels": list(predictor.labels)},
                        "settings": s.to_dict(), "source": source_meta, "tracks_analysed": analysed,
                        "tracks_not_analysed": not_analysed, "channel_statement": s.channel_statement(),
                        "key": task.key, "notices": notices,
                        "engine": {**engine_metadata(predictor, config, source), "source": source_meta}}
        out.segments = [e.to_dict() for e in segments]
        out.results = [e.to_dict() for e in results]
        heads = getattr(getattr(predictor, "meta", None), "heads", None)
        # A truncated or corrupt file ends early: partial results are not a finished call (it stays
        # failed and is retried), but what was analysed is kept beside its failure record, with the
        # summary and timeline of that part.
        length = until if errors else out.duration_s
        speaker_segments, speaker_results = analysed_view(keep, segments, results)
        out.summary = call_summary(analysed, not_analysed, speaker_segments, speaker_results, length,
                                   s.channel_statement(), s.track_names, heads)
        # Said about its audio (clipped, very quiet, damaged MP3 frames). Its sample rate is kept instead
        # of the note on audio below 16 kHz: the batch says that once (report.narrowband_statement).
        narrowband = narrowband_message(source.path, source.rate)
        out.summary["notes"] = [n for n in notices if n != narrowband]
        out.summary["sample_rate_hz"] = int(source.rate)
        from streamer.batch.report import timeline_png

        out.timeline_png = timeline_png(task.call_id, length or 0.0, analysed, speaker_segments, speaker_results,
                                        hop_s=task.settings.hop_s)
        if errors:
            out.error = "; ".join(errors)
            out.analysed_until_s = until
            out.summary = {**out.summary, "analysed_until_s": until}
            return out
        out.status = DONE
    except SERError as exc:
        out.error = str(exc)
    except Exception as exc:  # a bug or a library failure on one file must not stop the batch
        out.error = f"internal error: {type(exc).__name__}: {exc}"
        out.detail = traceback.format_exc()
    finally:
        out.elapsed_s = time.perf_counter() - t0
    return out
