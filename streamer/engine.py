"""The engine: a source thread, a worker (VAD, segments, windows), for models with a voice encoder a
voice thread, a model thread, and a consumer that drains events with ``poll``.

Threads and what each may block on:
  * the audio callbacks (microphone input, sound output of a replay) copy blocks into or out of
    bounded queues and never block;
  * the source thread reads/resamples and blocks on the bounded input queue (files: backpressure);
  * the worker plans each block (VAD, segments, windows with their audio) and blocks on the bounded
    queue to the model thread; display events (audio, VAD flags) leave it at once;
  * the voice thread (models with voice-emotion heads) computes the planned windows' voice
    embeddings and passes each block on, blocking on the bounded queue to the model thread: the
    voice encoder and the networks then run at the same time, on different windows;
  * the model thread runs planned windows through the model in batches, emits results in order, and
    waits only when the result queue is full (never while stopping);
  * the consumer (GUI timer, ``analyze_file``) calls :meth:`Engine.poll`, which never blocks.
Splitting VAD, the voice encoder and the networks lets them use every core. Errors in the source, the worker or the model
become :class:`EngineError` events; what was found before the error is flushed and kept (and stays in
the session). Problems that do not stop the analysis (no sound output for a replay) become non-fatal
:class:`EngineError` events, emitted as they happen.
"""

from __future__ import annotations

import contextlib
import gc
import math
import queue
import threading
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from model.adaptation import DEFAULT_MIN_WINDOWS
from model.errors import SERError
from streamer.config import SAMPLE_RATE_HZ, EngineConfig
from streamer.errors import ConfigError, SessionError
from streamer.events import (
    WINDOW,
    AudioBlock,
    EngineError,
    Event,
    SourceFinished,
    SpeechSegment,
    VadFrames,
    WindowResult,
)
from streamer.pipeline import TrackPipeline
from streamer.session import ANALYSIS_COMPLETE, ANALYSIS_STOPPED, now_iso
from streamer.sources import Source, SourceBlock

RUN_STEP_S = 0.05  # Engine.run hands on events at least this often

JOIN_TIMEOUT_S = 10.0
QUEUE_POLL_S = 0.1
# Said after a session file fails (a full disk): what happens to the results from then on (SessionStore.failed).
SAVING_STOPPED = ("Results from here on are kept in memory and written to it when the analysis ends, if the "
                  "disk has room by then (free some space); exports include them meanwhile.")
INPUT_QUEUE_MAX_S = 32.0  # audio the input queue holds at most, whatever the blocks' length (long file blocks)
PLANNED_QUEUE_ENTRIES = 32  # planned blocks waiting for the model (each holds its windows' audio)
EMBEDDED_QUEUE_ENTRIES = 16  # planned blocks with their voice embeddings, waiting for the model thread
# ... and no more than this much audio in them when the source says how long its blocks are (a file's
# 8-s blocks would otherwise hold minutes of windows' audio in each queue).
PLANNED_QUEUE_MAX_S = 64.0
EMBEDDED_QUEUE_MAX_S = 32.0
# The display queue (AudioBlock and VadFrames events, two per block; the oldest dropped when full):
# 512 events of 2-s blocks held this much, and so many 8-s ones do.
DISPLAY_QUEUE_MAX_S = 1024.0
MAX_ENTRIES_PER_STEP = 16  # planned blocks the model thread takes at once when it is behind (bigger batches)
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
    monitor_frames_played: int = 0  # sound output of a replay: device frames played
    monitor_underflows: int = 0  # times the sound output found no audio queued (heard as a gap)
    monitor_dropped_blocks: int = 0  # output blocks dropped because the device took audio too slowly

    def to_dict(self) -> dict:
        return {
            "overflows": self.overflows, "dropped_blocks": self.dropped_blocks,
            "dropped_display_events": self.dropped_display_events,
            "samples_processed": {str(k): v for k, v in self.samples_processed.items()},
            "windows": self.windows, "utterances": self.utterances, "segments": self.segments,
            "latency_ms": dict(self.latency_ms), "errors": self.errors,
            "monitor_frames_played": self.monitor_frames_played, "monitor_underflows": self.monitor_underflows,
            "monitor_dropped_blocks": self.monitor_dropped_blocks,
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
        self.saving_failed = False  # the session file failed (a full disk); said once
        self.close_session = close_session
        self._results: deque[Event] = deque()
        self._results_cv = threading.Condition()
        self._display: deque[Event] = deque(maxlen=self.config.display_queue_events)
        self._display_lock = threading.Lock()
        self._input: queue.Queue = queue.Queue(maxsize=self.config.input_queue_blocks)
        self._planned: queue.Queue = queue.Queue(maxsize=PLANNED_QUEUE_ENTRIES)
        self._embedded: queue.Queue = self._planned  # the model thread's input (see start)
        self._stop = threading.Event()
        self._discard = threading.Event()  # stop(discard=True): what is queued is dropped, not analysed
        self._source: Source | None = None
        self._source_thread: threading.Thread | None = None
        self._worker: threading.Thread | None = None
        self._voice_thread: threading.Thread | None = None
        self._model_thread: threading.Thread | None = None
        self._done = threading.Event()
        self._latencies: deque[float] = deque(maxlen=self.config.latency_history)
        self._counts = {"windows": 0, "utterances": 0, "segments": 0, "errors": 0, "dropped_display": 0}
        self._samples: dict[int, int] = {}
        self._pipelines: list[TrackPipeline] = []
        self._skip: set[int] = set()  # tracks shown but not analysed (see start)
        self._source_ended = False  # the source ran out by itself (a file's end), not stopped
        self._model_failed = False  # the model raised: audio planned after that got no results
        self._emitted_until_s = 0.0  # where the last result or segment emitted ends
        # Per track: where its last emitted speech segment ends, and the span of the window results
        # emitted after it (a segment still open: its record comes when it closes, see _close_open).
        self._segment_end: dict[int, float] = {}
        self._open_windows: dict[int, tuple[float, float, str]] = {}

    # ------------------------------------------------------------------ control
    def start(self, source: Source) -> None:
        """Open ``source`` (raising its :class:`SERError` on bad files/devices) and start the threads."""
        if self.running:
            raise ConfigError("the engine is already running; stop() it before starting another source.")
        source.open()
        try:
            self._set_threads()
            self._pipelines = [TrackPipeline(self.predictor, self.config, i, name, source.start_sample)
                               for i, name in enumerate(source.track_names)]
            # Tracks shown but not analysed; a source with one track is always analysed (a mono
            # recording or device has no separate channel to leave out).
            n, only = len(self._pipelines), self.config.only_tracks
            self._skip = (set(self.config.skip_tracks) | ({t for t in range(n) if t not in only} if only else set())
                          if n > 1 else set())
            if hasattr(source, "analysed_tracks"):  # its notes on the recording's level are about these
                source.analysed_tracks = [t for t in range(n) if t not in self._skip]
            if self.session is not None:  # the session records the tracks this source left out
                config = replace(self.config, skip_tracks=self.skipped_tracks)
                try:
                    self.session.update_metadata(engine=engine_metadata(self.predictor, config, source),
                                                 started=now_iso())
                except SERError:  # a full disk: the store keeps the record in memory, said once running (below)
                    if not self.session.failed or self.session.closed:
                        raise  # (a closed session is no full disk)
        except BaseException:
            source.close()  # do not hold a device or file that will never be read
            with contextlib.suppress(Exception):  # the error being raised is the one to report
                self._restore_threads()
            raise
        self._source = source
        self._source_ended = False
        self._model_failed = False
        self._emitted_until_s = 0.0
        self._segment_end = {}
        self._open_windows = {}
        self._stop.clear()
        self._discard.clear()
        self._done.clear()
        self._input = queue.Queue(maxsize=input_queue_size(self.config.input_queue_blocks, source.block_s))
        with self._display_lock:  # an AudioBlock and a VadFrames per block: bounded in audio too
            maxlen = queue_size(self.config.display_queue_events, DISPLAY_QUEUE_MAX_S, source.block_s)
            if maxlen != self._display.maxlen:
                self._display = deque(self._display, maxlen=maxlen)
        self._planned = queue.Queue(maxsize=queue_size(PLANNED_QUEUE_ENTRIES, PLANNED_QUEUE_MAX_S, source.block_s))
        # Models with a voice encoder: a voice thread between the worker and the model thread
        # computes the windows' voice embeddings while the model thread runs the networks on
        # earlier windows (the two share the cores; each computation is the same as in one thread).
        embeds = any(p.embeds_ahead for p in self._pipelines)
        self._embedded = (queue.Queue(maxsize=queue_size(EMBEDDED_QUEUE_ENTRIES, EMBEDDED_QUEUE_MAX_S, source.block_s))
                          if embeds else self._planned)
        self._samples = {i: 0 for i in range(len(self._pipelines))}
        self._latencies.clear()
        self._counts = dict.fromkeys(self._counts, 0)
        if self.session is not None and self.session.failed:  # met while paused, or by this start
            if (said := self._saving_failure(SessionError(self.session.failure or "the session file failed."))):
                self._say(said)
        _freeze_startup_objects()
        self._model_thread = self._thread(self._run_model, "ser-engine-model")
        self._voice_thread = self._thread(self._run_voice, "ser-engine-voice") if embeds else None
        self._worker = self._thread(self._work, "ser-engine-worker")
        self._source_thread = self._thread(self._read, "ser-engine-source")
        self._model_thread.start()
        if self._voice_thread is not None:
            self._voice_thread.start()
        self._worker.start()
        self._source_thread.start()

    def stop(self, discard: bool = False) -> None:
        """Stop the source, let the worker process what is queued and flush pending windows and
        utterances. With ``discard``, what is queued (up to about 30 s of audio read ahead, and the
        windows planned from up to a minute or two of it when the analysis runs as fast as it can)
        is dropped instead: the analysis ends with the last result already emitted, at once (the
        app's Stop on a recording, which can be analysed again; live audio is never discarded)."""
        if discard:
            self._discard.set()
        self._stop.set()
        if self._source is not None:
            self._source.silence()  # a pause or seek must not keep sounding while the threads wind down
        for t in (self._source_thread, self._worker, self._voice_thread, self._model_thread):
            if t is not None and t is not threading.current_thread():
                t.join(JOIN_TIMEOUT_S)
        with self._results_cv:
            self._results_cv.notify_all()
        self._restore_threads()

    def _set_threads(self) -> None:
        """Apply ``config.inference_threads`` to the predictor (restored by :meth:`stop`)."""
        self._saved_threads = None
        if self.config.inference_threads > 0 and hasattr(self.predictor, "threads"):
            self._saved_threads = self.predictor.threads
            self.predictor.threads = self.config.inference_threads

    def _restore_threads(self) -> None:
        if getattr(self, "_saved_threads", None) is not None:
            self.predictor.threads = self._saved_threads
            self._saved_threads = None

    def run(self, source: Source, on_events: Callable[[list[Event]], None],
            on_step: Callable[[], None] | None = None, step_s: float = RUN_STEP_S) -> None:
        """Analyse ``source`` to its end (or until interrupted) in this thread: start, hand every
        batch of events to ``on_events`` as they come, call ``on_step`` between batches (progress),
        and stop and flush whatever way the run ends (a Ctrl+C included). Raises what
        :meth:`start` raises for a bad source."""
        self.start(source)
        try:
            while True:
                done = self.wait(step_s)
                on_events(self.poll())
                if on_step is not None:
                    on_step()
                if done:
                    break
        finally:
            self.stop()
            on_events(self.poll())

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the source is exhausted and everything has been emitted; True when done."""
        return self._done.wait(timeout)

    def rename_tracks(self, names: list[str]) -> None:
        """The tracks' results and segments from now on carry these names (track i: ``names[i]``; a
        track past them keeps its name). The session's records before are renamed by its store
        (:meth:`streamer.session.SessionStore.rename_tracks`)."""
        for pipeline in self._pipelines:
            if pipeline.track < len(names):
                pipeline.track_name = str(names[pipeline.track])

    @property
    def skipped_tracks(self) -> tuple[int, ...]:
        """The current source's tracks that are shown but not analysed (``skip_tracks`` and the tracks
        ``only_tracks`` leaves out; none for a source with one track)."""
        return tuple(sorted(self._skip))

    @property
    def running(self) -> bool:
        return any(t is not None and t.is_alive()
                   for t in (self._source_thread, self._worker, self._voice_thread, self._model_thread))

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
    def samples_done(self) -> int:
        """Samples of the source taken in for analysis so far (its longest track): progress, without computing
        :attr:`stats` (whose latency percentiles grow with the run)."""
        return max(self._samples.values(), default=0)

    @property
    def stats(self) -> EngineStats:
        lat = np.asarray(self._latencies, dtype=np.float64)
        latency = {}
        if lat.size:
            latency = {f"p{q}": float(np.percentile(lat, q)) for q in PERCENTILES}
            latency["max"] = float(lat.max())
        src = self._source
        monitor = src.monitor_stats() if src else {}
        return EngineStats(
            overflows=src.overflows if src else 0, dropped_blocks=src.dropped_blocks if src else 0,
            dropped_display_events=self._counts["dropped_display"], samples_processed=dict(self._samples),
            windows=self._counts["windows"], utterances=self._counts["utterances"],
            segments=self._counts["segments"], latency_ms=latency, errors=self._counts["errors"],
            monitor_frames_played=monitor.get("monitor_frames_played", 0),
            monitor_underflows=monitor.get("monitor_underflows", 0),
            monitor_dropped_blocks=monitor.get("monitor_dropped_blocks", 0),
        )

    def _thread(self, target: Callable[[], None], name: str) -> threading.Thread:
        """One of the engine's threads, at ``config.background_nice`` lower priority when given."""
        nice = self.config.background_nice

        def run() -> None:
            lower_thread_priority(nice)
            target()

        return threading.Thread(target=run if nice > 0 else target, name=name, daemon=True)

    # ------------------------------------------------------------------ source thread
    def _read(self) -> None:
        src = self._source
        try:
            for block in src.blocks(self._stop):
                self._report_notices(src)
                if not self._put_input(block):
                    break
            else:
                self._source_ended = not self._stop.is_set()
        except SERError as exc:
            self._put_input(EngineError(str(exc), fatal=True), force=True)
        except Exception as exc:  # a driver or library failure: report it, keep what we have
            self._put_input(EngineError(f"{src.description}: audio input failed ({type(exc).__name__}: {exc}).",
                                        fatal=True), force=True)
        finally:
            try:
                src.close()
                self._report_notices(src, force=True)
            finally:
                self._put_input(_END, force=True)

    def _report_notices(self, src: Source, force: bool = False) -> None:
        """Pass the source's non-fatal problems on as events (in order with its audio)."""
        while src.notices:  # taken off once queued: one a stop turned away is reported at the end (forced)
            if not self._put_input(EngineError(src.notices[0], fatal=False, notice=True), force=force):
                return
            src.notices.popleft()

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

    # ------------------------------------------------------------------ worker thread (VAD, windows)
    def _work(self) -> None:
        """Plans each block as it arrives (VAD, segments, windows); the model thread does the rest."""
        error: EngineError | None = None
        try:
            while True:
                item = self._input.get()
                if item is _END:
                    break
                if isinstance(item, EngineError):
                    if item.fatal:
                        error = item
                    else:  # the analysis goes on: say so now, not at the end
                        self._put_planned((None, item))
                    continue
                if not self._discard.is_set():
                    self._plan(item)
        except Exception as exc:
            error = EngineError(f"analysis failed ({_describe(exc)}); results so far are kept.", fatal=True)
            self._stop.set()  # the source thread must not wait on a worker that is gone
        finally:
            for t, pipe in enumerate(self._pipelines):
                if t in self._skip or self._discard.is_set():
                    continue
                try:
                    self._put_planned((t, pipe.plan_flush()))
                except Exception as exc:  # flushing one track must not lose the others
                    error = error or EngineError(f"analysis failed while flushing ({_describe(exc)}).", fatal=True)
            if error is not None:
                self._put_planned((None, error))
            self._put_planned(_END)

    def _plan(self, block: SourceBlock) -> None:
        if self.config.emit_audio:
            self._show([AudioBlock(t, block.start / SAMPLE_RATE_HZ, np.ascontiguousarray(block.data[:, t]))
                        for t in range(block.data.shape[1])])
        n_tracks = block.data.shape[1]
        for t, pipe in enumerate(self._pipelines):
            if t in self._skip:  # shown, never analysed
                continue
            # The other tracks, analysed or not, tell their voices leaking into this one (a call's agent
            # heard faintly on the customer's channel).
            others = np.delete(block.data, t, axis=1) if n_tracks > 1 and self.config.crosstalk_db else None
            items = pipe.plan(block.data[:, t], block.arrival, others)
            self._samples[t] += len(block.data)
            display = [e for e in items if isinstance(e, VadFrames)]
            if display:  # shading need not wait for the model
                self._show(display)
                items = [e for e in items if not isinstance(e, VadFrames)]
            if items:
                self._put_planned((t, items))

    def _put_planned(self, entry) -> None:
        # The voice thread (or, without one, the model thread) drains this queue until it sees _END;
        # should it have died, the put gives up rather than hang.
        _put_while(self._planned, entry, self._voice_thread or self._model_thread)

    # ------------------------------------------------------------------ voice thread
    def _run_voice(self) -> None:
        """Computes the planned windows' voice embeddings ahead of the model thread (TrackPipeline.embed)
        and passes every entry on, in order. Work saved, nothing more: should the voice encoder fail
        here, the model thread computes the embeddings itself and reports what goes wrong."""
        failed = False
        done = False
        while not done:
            entries = self._take(self._planned, merge=False)
            if not failed and not self._discard.is_set():
                by_track: dict[int, list] = {}  # each track's windows of all the entries taken, one batch
                for e in entries:
                    if e is not _END and isinstance(e[1], list):
                        by_track.setdefault(e[0], []).extend(e[1])
                try:
                    for track, items in by_track.items():
                        self._pipelines[track].embed(items)
                except Exception:  # noqa: BLE001 - the model thread meets and reports the same failure
                    failed = True
            # Passed on one by one as they came: the queue's bound counts blocks, and so bounds the
            # audio waiting in it (merged entries would hold many blocks each).
            for entry in entries:
                done = done or entry is _END
                if not _put_while(self._embedded, entry, self._model_thread):
                    return

    # ------------------------------------------------------------------ model thread
    def _run_model(self) -> None:
        """Runs planned windows through the model in batches and emits results in order."""
        error: EngineError | None = None
        try:
            done = False
            while not done:
                if self._embedded.empty() and self.session is not None:
                    try:  # nothing to analyse this moment: what was written goes on the disk now
                        self.session.sync()
                    except SERError as exc:  # a failing disk: said once (the store keeps the records)
                        if (said := self._saving_failure(exc)) is not None:
                            self._say(said)
                for entry in self._take(self._embedded):
                    if entry is _END:
                        done = True
                        continue
                    track, payload = entry
                    if isinstance(payload, EngineError):
                        if payload.fatal:
                            error = error or payload
                        else:
                            self._emit([payload])
                    elif self._discard.is_set():
                        continue  # stopped with discard: nothing more is analysed or said
                    elif self._model_failed:  # keep the segments, so the session keeps what speech was found
                        self._emit([e for e in payload if isinstance(e, SpeechSegment)])
                    else:
                        try:
                            self._emit(self._pipelines[track].complete(payload))
                        except Exception as exc:
                            self._model_failed = True
                            error = EngineError(f"analysis failed ({_describe(exc)}); results so far are kept.",
                                                fatal=True)
                            self._stop.set()
        finally:
            try:
                if self._discard.is_set():
                    self._close_open()
                if error is not None:
                    self._emit([error])
                self._emit([SourceFinished(None)])
                if self.session is not None and self.close_session:
                    try:
                        self.session.close(stats=self.stats.to_dict(), **self._outcome(error))
                    except SERError:
                        pass  # already reported by _emit when the disk first failed
            finally:
                self._done.set()

    def _saving_failure(self, exc: SERError) -> EngineError | None:
        """The error that says the session file failed (a full disk), the first time only in the
        session (a resumed session's next engine does not say it again). The store keeps what it
        cannot write in memory (SessionStore.failed), and writes it when it is closed if there is room
        by then. It is not recorded in the session: it is about the file, not the analysis."""
        self.saving_failed = True
        if self.session is None or self.session.failure_said:
            return None
        self.session.failure_said = True
        return EngineError(f"{exc} {SAVING_STOPPED}", fatal=False)

    def _say(self, event: EngineError) -> None:
        """Hand an error to the consumer without recording it in the session."""
        self._counts["errors"] += 1
        with self._results_cv:
            self._results.append(event)

    def _close_open(self) -> None:
        """After a stop that discarded what was queued: each track's segment still open when the
        stop came gets its record, ending where its last emitted window ends, so that every window
        result lies in a speech segment (speech time, shares and exports count segments)."""
        self._emit([SpeechSegment(track, name, round(start, 6), round(end, 6))
                    for track, (start, end, name) in sorted(self._open_windows.items())])
        self._open_windows = {}

    def _outcome(self, error: EngineError | None) -> dict:
        """The end record's account of the run: analysed to the source's end, or stopped, and how far."""
        complete = self._source_ended and error is None and not self._discard.is_set()
        return {"analysis": ANALYSIS_COMPLETE if complete else ANALYSIS_STOPPED,
                "analysed_until_s": self.analysed_until_s}

    @property
    def analysed_until_s(self) -> float:
        """How far into the source the analysis has got, on the source's own clock (file time for a
        recording started part-way). After the model failed, where its last result ends: the audio
        taken in after that was never analysed; likewise after a stop that discarded what was queued."""
        if self._model_failed or self._discard.is_set():
            return round(self._emitted_until_s, 3)
        start = getattr(self._source, "start_sample", 0) or 0
        return round((start + self.samples_done) / SAMPLE_RATE_HZ, 3)

    @staticmethod
    def _take(planned: queue.Queue, merge: bool = True) -> list:
        """At least one entry (blocking) plus what else is queued; with ``merge``, consecutive entries
        of one track are merged so that their windows share model batches."""
        entries = [planned.get()]
        while len(entries) < MAX_ENTRIES_PER_STEP and entries[-1] is not _END:
            try:
                entries.append(planned.get_nowait())
            except queue.Empty:
                break
        if not merge:
            return entries
        merged: list = []
        for e in entries:
            if (e is not _END and merged and merged[-1] is not _END and merged[-1][0] == e[0]
                    and isinstance(e[1], list) and isinstance(merged[-1][1], list)):
                merged[-1] = (e[0], merged[-1][1] + e[1])
            else:
                merged.append(e)
        return merged

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
                if e.kind == WINDOW and e.start_s >= self._segment_end.get(e.track, -1.0) - 1e-6:
                    span = self._open_windows.get(e.track)
                    self._open_windows[e.track] = ((span[0], max(span[1], e.end_s), e.track_name) if span
                                                   else (e.start_s, e.end_s, e.track_name))
            elif isinstance(e, SpeechSegment):
                self._counts["segments"] += 1
                self._segment_end[e.track] = max(self._segment_end.get(e.track, -1.0), e.end_s)
                span = self._open_windows.get(e.track)
                if span is not None and span[1] <= e.end_s + 1e-6:
                    del self._open_windows[e.track]
            elif isinstance(e, EngineError):
                self._counts["errors"] += 1
            if isinstance(e, (WindowResult, SpeechSegment)):
                self._emitted_until_s = max(self._emitted_until_s, e.end_s)
            if self.session is not None:
                try:
                    self.session.append(e)
                except SERError as exc:  # e.g. disk full: keep analysing, say once that saving stopped
                    if (said := self._saving_failure(exc)) is not None:
                        self._counts["errors"] += 1  # (added after this loop, which counts the others)
                        results.append(said)
        with self._results_cv:
            # Wait for the consumer when the queue is full, except when stopping (stop must not hang).
            while len(self._results) >= self.config.result_queue_events and not self._stop.is_set():
                self._results_cv.wait(QUEUE_POLL_S)
            self._results.extend(results)


_frozen = False


def lower_thread_priority(nice: int) -> bool:
    """Raise the calling thread's nice value by ``nice`` (at most to 19). Linux only, where a thread
    has its own (elsewhere ``os.setpriority`` would lower the whole process). Lowering needs no
    privilege; a failure leaves the priority as it was. Returns whether it was lowered."""
    import os
    import sys

    if not sys.platform.startswith("linux") or not hasattr(os, "setpriority"):
        return False
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))
    except OSError:
        return False
    return True


def _freeze_startup_objects() -> None:
    """Once per process, at the first engine start: what exists by then (modules, the loaded model)
    lives as long as the program, so it is set apart from the garbage collector, whose full
    collections otherwise walk it all (measured: 0.13-0.14 s over some 170,000 objects with the GIL
    held, long enough for a sound device to run dry). Garbage is collected first, so that nothing
    unreachable is kept for good."""
    global _frozen
    if not _frozen:
        _frozen = True
        gc.collect()
        gc.freeze()


def _put_while(q: queue.Queue, item, consumer: threading.Thread | None) -> bool:
    """Put ``item`` on ``q``, waiting while ``consumer`` (the thread that drains it) is alive; False
    when it is gone and the item could not be put."""
    while True:
        try:
            q.put(item, timeout=QUEUE_POLL_S)
            return True
        except queue.Full:
            if consumer is None or not consumer.is_alive():
                return False


def input_queue_size(blocks: int, block_s: float | None) -> int:
    """Capacity of the source-to-worker queue: ``blocks`` blocks (``EngineConfig.input_queue_blocks``),
    but no more than :data:`INPUT_QUEUE_MAX_S` of audio when the source says how long its blocks
    are (a file read as fast as possible comes in 8-s blocks; 64 of them would be minutes of audio)."""
    return queue_size(blocks, INPUT_QUEUE_MAX_S, block_s)


def queue_size(entries: int, max_s: float, block_s: float | None) -> int:
    """Capacity of a queue of blocks: ``entries``, but no more than ``max_s`` seconds of audio when
    the blocks' length ``block_s`` is known; two at least."""
    if not block_s or block_s <= 0:
        return entries
    return max(2, min(entries, int(math.ceil(max_s / block_s))))


def _describe(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


def engine_metadata(predictor, config: EngineConfig, source) -> dict:
    """What a session records about how it was made."""
    meta = getattr(predictor, "meta", None)
    model = {"path": getattr(predictor, "source", ""), "labels": list(getattr(predictor, "labels", [])),
             "runtime": getattr(predictor, "runtime", "")}
    if meta is not None:
        model.update(heads=meta.heads, dimensions_source=meta.dimensions_source, created=meta.created,
                     gender_source="voice-encoder" if meta.arch.voice_gender else "emotion-network",
                     calibration=dict(meta.calibration))
        if meta.arch.voice_gender and meta.arch.voice_emotion:
            model["voice_emotion"] = {"weight_adapted": meta.arch.voice_emotion_weight,
                                      "weight_unadapted": meta.arch.voice_emotion_weight_unadapted,
                                      "every_s": meta.arch.voice_emotion_every_s}
    adapts = bool(getattr(predictor, "adapts_to_speaker", False))
    model["speaker_adaptation"] = {
        "model_supports": adapts, "enabled": adapts and config.speaker_adaptation,
        "min_windows": DEFAULT_MIN_WINDOWS,
        "note": "each track is judged against its own speaker's running average after this many analysed windows"}
    return {"source": source.metadata(), "model": model, "settings": config.to_dict(),
            "sample_rate_hz": SAMPLE_RATE_HZ, "tracks": list(source.track_names)}
