"""The engine: a source thread, a processing worker, and a consumer that drains events with ``poll``.

Threads and what each may block on:
  * the audio callback (microphones only) copies blocks into a bounded queue and never blocks;
  * the source thread reads/resamples and blocks on the bounded input queue (files: backpressure);
  * the worker runs VAD, windows and the model, and waits only when the result queue is full;
  * the consumer (GUI timer, ``analyze_file``) calls :meth:`Engine.poll`, which never blocks.
Errors in the source or the worker become :class:`EngineError` events; what was found before the
error is flushed and kept (and stays in the session).
"""

from __future__ import annotations

import queue
import threading
import traceback
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from model.errors import SERError
from streamer.config import SAMPLE_RATE_HZ, EngineConfig
from streamer.errors import ConfigError
from streamer.events import AudioBlock, EngineError, Event, SourceFinished, SpeechSegment, VadFrames, WindowResult
from streamer.pipeline import TrackPipeline
from streamer.session import now_iso
from streamer.sources import Source, SourceBlock

JOIN_TIMEOUT_S = 10.0
QUEUE_POLL_S = 0.1
MAX_BLOCKS_PER_STEP = 64  # blocks the worker merges into one push when it is behind (bigger batches) ...
MAX_MERGED_S = 8.0  # ... up to this much audio, which bounds the windows pending at once
PERCENTILES = (50, 95, 99)

_END = object()  # sentinel: the source has no more audio


@dataclass(frozen=True)
class EngineStats:
    """A snapshot of the engine's counters."""

    overflows: int = 0
    dropped_blocks: int = 0
    dropped_display_events: int = 0
    samples_processed: dict[int, int] = field(default_factory=dict)
    windows: int = 0
    utterances: int = 0
    segments: int = 0
    latency_ms: dict[str, float] = field(default_factory=dict)  # p50 / p95 / p99 / max of recent results
    errors: int = 0

    def to_dict(self) -> dict:
        return {
            "overflows": self.overflows, "dropped_blocks": self.dropped_blocks,
            "dropped_display_events": self.dropped_display_events,
            "samples_processed": {str(k): v for k, v in self.samples_processed.items()},
            "windows": self.windows, "utterances": self.utterances, "segments": self.segments,
            "latency_ms": dict(self.latency_ms), "errors": self.errors,
        }


class Engine:
    """Runs one source through one pipeline per track.

    Args:
        predictor: A loaded :class:`model.Predictor` (or anything with ``predict_batch`` and ``min_samples``).
        config: Engine settings.
        session: Optional :class:`streamer.session.SessionStore`; the engine records its settings in it,
            appends every segment, result and error as it happens, and closes it when the source ends
            or the engine stops (unless ``close_session`` is False).
    """

    def __init__(self, predictor, config: EngineConfig | None = None, session=None, close_session: bool = True):
        self.predictor = predictor
        self.config = config or EngineConfig()
        self.session = session
        self.close_session = close_session
        self._results: deque[Event] = deque()
        self._results_cv = threading.Condition()
        self._display: deque[Event] = deque(maxlen=self.config.display_queue_events)
        self._display_lock = threading.Lock()
        self._input: queue.Queue = queue.Queue(maxsize=self.config.input_queue_blocks)
        self._stop = threading.Event()
        self._source: Source | None = None
        self._source_thread: threading.Thread | None = None
        self._worker: threading.Thread | None = None
        self._done = threading.Event()
        self._latencies: deque[float] = deque(maxlen=self.config.latency_history)
        self._counts = {"windows": 0, "utterances": 0, "segments": 0, "errors": 0, "dropped_display": 0}
        self._samples: dict[int, int] = {}
        self._pipelines: list[TrackPipeline] = []

    # ------------------------------------------------------------------ control
    def start(self, source: Source) -> None:
        """Open ``source`` (raising its :class:`SERError` on bad files/devices) and start the threads."""
        if self.running:
            raise ConfigError("the engine is already running; stop() it before starting another source.")
        source.open()
        try:
            self._pipelines = [TrackPipeline(self.predictor, self.config, i, name, source.start_sample)
                               for i, name in enumerate(source.track_names)]
            if self.session is not None:
                from streamer.analyze import engine_metadata

                self.session.update_metadata(engine=engine_metadata(self.predictor, self.config, source),
                                             started=now_iso())
        except BaseException:
            source.close()  # do not hold a device or file that will never be read
            raise
        self._source = source
        self._stop.clear()
        self._done.clear()
        self._input = queue.Queue(maxsize=self.config.input_queue_blocks)
        self._samples = {i: 0 for i in range(len(self._pipelines))}
        self._latencies.clear()
        self._counts = dict.fromkeys(self._counts, 0)
        self._set_threads()
        self._worker = threading.Thread(target=self._work, name="ser-engine-worker", daemon=True)
        self._source_thread = threading.Thread(target=self._read, name="ser-engine-source", daemon=True)
        self._worker.start()
        self._source_thread.start()

    def stop(self) -> None:
        """Stop the source, let the worker process what is queued and flush pending windows and utterances."""
        self._stop.set()
        for t in (self._source_thread, self._worker):
            if t is not None and t is not threading.current_thread():
                t.join(JOIN_TIMEOUT_S)
        with self._results_cv:
            self._results_cv.notify_all()
        self._restore_threads()

    def _set_threads(self) -> None:
        """Apply ``config.inference_threads`` (a process-wide torch setting, restored by :meth:`stop`)."""
        self._saved_threads = None
        if self.config.inference_threads > 0:
            import torch

            self._saved_threads = torch.get_num_threads()
            torch.set_num_threads(self.config.inference_threads)

    def _restore_threads(self) -> None:
        if getattr(self, "_saved_threads", None):
            import torch

            torch.set_num_threads(self._saved_threads)
            self._saved_threads = None

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the source is exhausted and everything has been emitted; True when done."""
        return self._done.wait(timeout)

    @property
    def running(self) -> bool:
        return self._worker is not None and self._worker.is_alive()

    @property
    def source(self) -> Source | None:
        return self._source

    def poll(self, max_events: int | None = None) -> list[Event]:
        """Take the events emitted so far (display events first), without blocking."""
        out: list[Event] = []
        limit = max_events if max_events is not None else float("inf")
        with self._display_lock:
            while self._display and len(out) < limit:
                out.append(self._display.popleft())
        with self._results_cv:
            while self._results and len(out) < limit:
                out.append(self._results.popleft())
            self._results_cv.notify_all()
        return out

    @property
    def stats(self) -> EngineStats:
        lat = np.asarray(self._latencies, dtype=np.float64)
        latency = {}
        if lat.size:
            latency = {f"p{q}": float(np.percentile(lat, q)) for q in PERCENTILES}
            latency["max"] = float(lat.max())
        src = self._source
        return EngineStats(
            overflows=src.overflows if src else 0, dropped_blocks=src.dropped_blocks if src else 0,
            dropped_display_events=self._counts["dropped_display"], samples_processed=dict(self._samples),
            windows=self._counts["windows"], utterances=self._counts["utterances"],
            segments=self._counts["segments"], latency_ms=latency, errors=self._counts["errors"],
        )

    # ------------------------------------------------------------------ source thread
    def _read(self) -> None:
        src = self._source
        try:
            for block in src.blocks(self._stop):
                if not self._put_input(block):
                    break
        except SERError as exc:
            self._put_input(EngineError(str(exc), fatal=True), force=True)
        except Exception as exc:  # a driver or library failure: report it, keep what we have
            self._put_input(EngineError(f"{src.description}: audio input failed ({type(exc).__name__}: {exc}).",
                                        fatal=True), force=True)
        finally:
            try:
                src.close()
            finally:
                self._put_input(_END, force=True)

    def _put_input(self, item, force: bool = False) -> bool:
        """Blocking put that gives up when stopping (unless ``force``: end markers must arrive)."""
        while True:
            if self._stop.is_set() and not force:
                return False
            try:
                self._input.put(item, timeout=QUEUE_POLL_S)
                return True
            except queue.Full:
                if force and not self._worker.is_alive():
                    return False

    # ------------------------------------------------------------------ worker thread
    def _work(self) -> None:
        error: EngineError | None = None
        try:
            while True:
                items = self._take_inputs()
                blocks = [b for b in items if isinstance(b, SourceBlock)]
                if blocks:
                    self._process(blocks)
                for item in items:
                    if isinstance(item, EngineError):
                        error = item
                if any(item is _END for item in items):
                    break
        except Exception as exc:
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            error = EngineError(f"analysis failed ({detail}); results so far are kept.", fatal=True)
            self._stop.set()  # the source thread must not wait on a worker that is gone
        finally:
            try:
                for pipe in self._pipelines:
                    try:
                        self._emit(pipe.flush())
                    except Exception as exc:  # flushing one track must not lose the others
                        error = error or EngineError(f"analysis failed while flushing ({exc}).", fatal=True)
                if error is not None:
                    self._emit([error])
                self._emit([SourceFinished(None)])
                if self.session is not None and self.close_session:
                    try:
                        self.session.close(stats=self.stats.to_dict())
                    except SERError:
                        pass  # already reported by _emit when the disk first failed
            finally:
                self._done.set()

    def _take_inputs(self) -> list:
        """At least one item (blocking), plus whatever else is queued, up to a limit."""
        items = [self._input.get()]
        limit = MAX_MERGED_S * SAMPLE_RATE_HZ
        merged = len(items[0].data) if isinstance(items[0], SourceBlock) else 0
        while len(items) < MAX_BLOCKS_PER_STEP and merged < limit and isinstance(items[-1], SourceBlock):
            try:
                items.append(self._input.get_nowait())
            except queue.Empty:
                break
            if isinstance(items[-1], SourceBlock):
                merged += len(items[-1].data)
        return items

    def _process(self, blocks: list[SourceBlock]) -> None:
        data = blocks[0].data if len(blocks) == 1 else np.concatenate([b.data for b in blocks])
        arrival = blocks[-1].arrival
        if self.config.emit_audio:
            for b in blocks:
                self._show([AudioBlock(t, b.start / SAMPLE_RATE_HZ, np.ascontiguousarray(b.data[:, t]))
                            for t in range(b.data.shape[1])])
        for t, pipe in enumerate(self._pipelines):
            events = pipe.push(data[:, t], arrival)
            self._samples[t] += len(data)
            self._emit(events)

    def _show(self, events: list[Event]) -> None:
        with self._display_lock:
            for e in events:
                if len(self._display) == self._display.maxlen:
                    self._counts["dropped_display"] += 1
                self._display.append(e)

    def _emit(self, events: list[Event]) -> None:
        display = [e for e in events if isinstance(e, (VadFrames, AudioBlock))]
        if display:
            self._show(display)
        results = [e for e in events if not isinstance(e, (VadFrames, AudioBlock))]
        if not results:
            return
        for e in list(results):
            if isinstance(e, WindowResult):
                self._latencies.append(e.latency_ms)
                self._counts["windows" if e.kind == "window" else "utterances"] += 1
            elif isinstance(e, SpeechSegment):
                self._counts["segments"] += 1
            elif isinstance(e, EngineError):
                self._counts["errors"] += 1
            if self.session is not None:
                try:
                    self.session.append(e)
                except SERError as exc:  # e.g. disk full: keep analysing, say once that saving stopped
                    self.session = None
                    self._counts["errors"] += 1
                    results.append(EngineError(f"{exc} Results are no longer saved to the session.", fatal=False))
        with self._results_cv:
            # Wait for the consumer when the queue is full, except when stopping (stop must not hang).
            while len(self._results) >= self.config.result_queue_events and not self._stop.is_set():
                self._results_cv.wait(QUEUE_POLL_S)
            self._results.extend(results)
