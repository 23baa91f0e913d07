"""Per-track processing: VAD, speech segments, sliding windows over speech, batched inference.

:class:`TrackPipeline` is a streaming stage (``push``/``flush``/``reset``). Its decisions depend only
on the samples, never on how they were chunked, so the same audio fed in 160-, 512- or 4000-sample
blocks, or in one piece, gives the same windows and the same results.

Windows are laid out per speech segment exactly as :func:`model.predictor.window_bounds` lays them
out over an utterance (starts at 0, hop, 2*hop ... and a last, shorter window from the next start
to the end), and the utterance result is :func:`model.predictor.aggregate` of the analysed windows,
as in ``ser eval``. Full windows are analysed as soon as they are known to lie inside the segment;
the last window and the utterance result follow when the segment closes.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from model.adaptation import SpeakerStats
from model.inference import Prediction, SegmentState, aggregate, window_bounds
from streamer.buffers import History
from streamer.config import MIN_CONFIDENT_SPEECH_S, SAMPLE_RATE_HZ, EngineConfig
from streamer.events import UTTERANCE, WINDOW, Event, SpeechSegment, VadFrames, WindowResult
from streamer.speechgate import CONTEXT_S, GateFrames, measure
from streamer.vad import FrameVad, Segmenter

MS_PER_S = 1000.0
# Extra history kept beyond what the window and VAD settings need, in samples.
HISTORY_MARGIN_SAMPLES = SAMPLE_RATE_HZ // 2


@dataclass
class _WindowJob:
    start: int  # samples relative to the track origin
    end: int
    speech_ratio: float
    arrival: float  # wall-clock time the window's last sample arrived
    samples: np.ndarray | None = field(default=None, repr=False)
    prediction: Prediction | None = None
    voice: SegmentState | None = None
    speaker: SpeakerStats | None = None  # the track's statistics when it was planned (a reset makes new ones)
    embedding: np.ndarray | None = field(default=None, repr=False)  # its voice embedding, when computed ahead


@dataclass
class _UtteranceJob:
    start: int
    end: int
    speech_ratio: float
    arrival: float
    windows: list[_WindowJob]


@dataclass
class _OpenSegment:
    start: int
    speech_before: int  # speech samples in [start, open_end): counted when the segment opened
    open_end: int  # end of the frame at which the segment opened
    speech_frames_at_open: int  # running count of speech frames at that point
    next_k: int = 0  # index of the next grid window (start + k * hop) not yet planned
    # window start -> its job, or None for a grid window decided against (too little speech, or not
    # speech at all): decided once, while its audio is still kept
    jobs: dict[int, _WindowJob | None] = field(default_factory=dict)
    voice: SegmentState = field(default_factory=SegmentState)
    gate: GateFrames = field(default_factory=GateFrames)  # the speech gate's frames shared by its windows
    passed: int = 0  # windows the speech gate let through
    rejected: list[tuple[int, int, str]] = field(default_factory=list)  # windows the gate rejected: start, end, reason


class TrackPipeline:
    """VAD, segments, windows and model for one mono 16 kHz track.

    Args:
        predictor: Object with ``predict_batch(list of arrays)`` and ``min_samples`` (a ``Predictor``).
        config: Engine settings.
        track: Track index reported in events.
        track_name: Track name reported in events.
        start_sample: Position of the first sample on the sample clock (16 kHz samples).
    """

    def __init__(self, predictor, config: EngineConfig, track: int = 0, track_name: str = "mix",
                 start_sample: int = 0):
        self.predictor = predictor
        self.config = config
        self.track = track
        self.track_name = track_name
        self._window = config.window_samples
        self._hop = config.hop_samples
        self._frame = config.vad_frame_samples
        self._min_segment = max(int(round(config.min_speech_s * SAMPLE_RATE_HZ)), int(predictor.min_samples))
        self._vad = FrameVad(config.vad_aggressiveness, self._frame, config.crosstalk_db)
        self._seg = Segmenter.from_config(config)
        keep = self._window + self._seg.pad + (self._seg.onset_frames + self._seg.offset_frames + 1) * self._frame
        # A window shorter than the speech gate's context is judged with the audio before it.
        self._gate_extra = max(0, int(round(CONTEXT_S * SAMPLE_RATE_HZ)) - self._window) if config.speech_gate else 0
        self._audio = History(keep + self._gate_extra + HISTORY_MARGIN_SAMPLES)
        self._flags = History(keep // self._frame + 1, dtype=bool)
        self._arrivals: deque[tuple[int, float]] = deque()  # (end sample of a pushed block, arrival time)
        # Speaker adaptation (model/adaptation.py): this track's running statistics, counted in
        # window order by complete(), for models that adapt to the speaker (speaker normalisation or
        # voice emotion: Predictor.adapts_to_speaker).
        self._adapt = config.speaker_adaptation and getattr(predictor, "adapts_to_speaker", False)
        self._speaker: SpeakerStats | None = None
        self._voice = getattr(predictor, "has_voice", False)
        self.reset(start_sample)

    # ------------------------------------------------------------------ public verbs
    def reset(self, start_sample: int = 0) -> None:
        """Forget all state; the next sample pushed sits at ``start_sample`` on the sample clock."""
        self.origin = int(start_sample)
        self._vad.reset()
        self._seg.reset()
        self._audio.reset(0)
        self._flags.reset(0)
        self._arrivals.clear()
        self._open: _OpenSegment | None = None
        self._speech_frames = 0  # running count of frames flagged as speech
        self._finished = False
        # New statistics rather than clearing the old: windows planned before the reset, still in
        # complete() in another thread, go on counting into the old ones.
        self._speaker = SpeakerStats() if self._adapt else None

    @property
    def position(self) -> int:
        """Samples pushed so far."""
        return self._audio.end

    def push(self, samples: np.ndarray, arrival: float | None = None, others: np.ndarray | None = None) -> list[Event]:
        """Feed mono float32 16 kHz samples; returns the events they complete, in order. ``others``:
        the source's other tracks at the same positions, (len(samples), m), from which the crosstalk
        gate tells their voices leaking into this track (``EngineConfig.crosstalk_db``)."""
        out: list = []
        jobs: list[_WindowJob] = []
        # Work through long pushes a hop at a time, so that the history stays the size the window
        # needs and pending windows are run through the model in batches as they accumulate.
        for chunk, other in self._chunks(samples, others):
            n = len(out)
            self._push_chunk(chunk, arrival, out, other)
            jobs += [j for j in out[n:] if isinstance(j, _WindowJob)]
            if len(jobs) >= self.config.max_batch_windows:
                self._predict(jobs)
                jobs = []
        return self.complete(out)

    def flush(self) -> list[Event]:
        """End of the track: close an open segment and emit its last windows and utterance result."""
        return self.complete(self.plan_flush())

    def plan(self, samples: np.ndarray, arrival: float | None = None, others: np.ndarray | None = None) -> list:
        """First half of :meth:`push`, without the model: VAD, segments and planned windows.

        Returns opaque items for :meth:`complete`, which may run in another thread (the planned
        windows carry copies of their samples). Keep pushes short: planned windows hold their audio.
        """
        out: list = []
        for chunk, other in self._chunks(samples, others):
            self._push_chunk(chunk, arrival, out, other)
        return out

    def plan_flush(self) -> list:
        """First half of :meth:`flush`, without the model."""
        out: list = []
        change = self._seg.close_at(self._audio.end)
        if change is not None:
            self._on_change(change, self._flags.end * self._frame, out)
        self._finished = True
        return out

    @property
    def embeds_ahead(self) -> bool:
        """The model has a voice encoder whose embeddings :meth:`embed` can compute ahead of :meth:`complete`."""
        return bool(getattr(self.predictor, "voice_emotion", False)) and hasattr(self.predictor, "voice_embeddings")

    def embed(self, items: list) -> None:
        """Between :meth:`plan` and :meth:`complete`, optionally: the voice embeddings of the planned
        windows, so that :meth:`complete` runs only the networks. Items must come here in the order
        they go to :meth:`complete` (the voice encoder's cadence counts a segment's windows in
        order); may run in a thread of its own, between the planning and the model threads."""
        jobs = [j for j in items if isinstance(j, _WindowJob) and j.prediction is None and j.embedding is None
                and j.samples is not None]
        if not jobs or not self.embeds_ahead:
            return
        embeddings = self.predictor.voice_embeddings([j.samples for j in jobs], [(j.voice, j.start) for j in jobs])
        for job, e in zip(jobs, embeddings, strict=True):
            job.embedding = e

    def complete(self, items: list) -> list[Event]:
        """Second half: run the planned windows through the model (batched) and return the events in order.

        Touches only the items and the model, never the planning state, so it may run in a thread of its own.
        """
        self._predict([j for j in items if isinstance(j, _WindowJob) and j.prediction is None])
        events: list[Event] = []
        now = time.monotonic()
        for item in items:
            if isinstance(item, _WindowJob):
                events.append(self._result(WINDOW, item.start, item.end, item.prediction, item.speech_ratio,
                                           item.arrival, now))
            elif isinstance(item, _UtteranceJob):
                pred = aggregate([w.prediction for w in item.windows])
                events.append(self._result(UTTERANCE, item.start, item.end, pred, item.speech_ratio, item.arrival, now))
            else:
                events.append(item)
        return events

    def _chunks(self, samples: np.ndarray, others: np.ndarray | None = None):
        if self._finished:
            raise RuntimeError("push() after flush(); call reset() first")
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        for i in range(0, len(samples), self._hop):
            yield samples[i:i + self._hop], None if others is None else others[i:i + self._hop]

    def _push_chunk(self, samples: np.ndarray, arrival: float | None, out: list,
                    others: np.ndarray | None = None) -> None:
        arrival = time.monotonic() if arrival is None else arrival
        self._audio.append(samples)
        self._arrivals.append((self._audio.end, arrival))
        first_frame = self._flags.end
        flags = self._vad.push(samples, others)
        self._flags.append(flags)
        if self.config.emit_audio and len(flags):
            out.append(VadFrames(self.track, self._seconds(first_frame * self._frame), self._frame / SAMPLE_RATE_HZ,
                                 tuple(bool(f) for f in flags)))
        for i, flag in enumerate(flags):
            self._speech_frames += bool(flag)
            change = self._seg.step(bool(flag))
            covered = (first_frame + i + 1) * self._frame
            if change is not None:
                self._on_change(change, covered, out)
            if self._open is not None:
                self._plan_grid(min(covered, self._seg.safe_end), out)
        self._trim()

    # ------------------------------------------------------------------ segments and windows
    def _on_change(self, change: tuple[str, int, int], covered: int, out: list) -> None:
        kind, start, end = change
        if kind == "open":
            speech = self._speech_ratio(start, covered) * (covered - start)
            self._open = _OpenSegment(start, int(round(speech)), covered, self._speech_frames)
            return
        seg, self._open = self._open, None
        if seg is None or end - start < self._min_segment:
            return
        at = len(out)  # the segment goes before its last windows, once the gate has judged them
        analysed = []
        for a, b in window_bounds(end - start, self._window, self._hop):
            key = start + a
            job = seg.jobs.get(key)
            decided = key in seg.jobs and (job is None or job.end == start + b) and b - a == self._window
            if not decided:
                job = self._plan_window(key, start + b, out, seg)
            if job is not None:
                analysed.append(job)
        # Every window the gate judged was rejected: say what the sound was instead of speech.
        not_speech = _main_reason(seg.rejected, start, end) if not seg.passed else None
        if not analysed and not seg.rejected and self.config.speech_gate:
            # No window to judge (a segment shorter than one, or with too little speech): the VAD's
            # few frames where a tone starts or stops, or a short word. The segment's own sound (its
            # last CONTEXT_S) is judged by the tone test only: a single vowel is as steady as a hum,
            # and a word over a steady tone has the tone's steady line, but not nearly all its sound
            # in a few lines, so that only a tone's edges are not counted as speech.
            not_speech = measure(self._audio.get(max(start, end - self._window - self._gate_extra), end)).tonal_reason
        pieces = _speech_pieces(start, end, analysed, seg.rejected) if analysed and seg.rejected else None
        if pieces is None or len(pieces) == 1 and pieces[0][2] is None:
            out.insert(at, SpeechSegment(self.track, self.track_name, self._seconds(start), self._seconds(end),
                                         not_speech))
            if analysed:
                # Every frame after the segment's last speech frame is silent, so the speech frames
                # counted since the segment opened all lie inside it.
                speech = seg.speech_before + (self._speech_frames - seg.speech_frames_at_open) * self._frame
                out.append(_UtteranceJob(start, end, speech / (end - start), self._arrival_of(end), analysed))
            return
        # The gate rejected a stretch of the segment (noise the VAD took for speech, between words):
        # the stretches it let through are speech, each with its utterance; the others are not speech,
        # with its reason, so that speech time and emotion shares count speech only.
        segments = [SpeechSegment(self.track, self.track_name, self._seconds(a), self._seconds(b), reason)
                    for a, b, reason in pieces]
        out[at:at] = segments
        for a, b, reason in pieces:
            if reason is None:
                jobs = [j for j in analysed if a <= j.start and j.end <= b]
                # Its speech ratio is its windows' mean (the frames of an earlier stretch may be gone
                # from the history by now), and it arrived with its last window's audio.
                ratio = sum(j.speech_ratio for j in jobs) / len(jobs)
                out.append(_UtteranceJob(a, b, ratio, max(j.arrival for j in jobs), jobs))

    def _plan_grid(self, known_end: int, out: list) -> None:
        """Plan every grid window of the open segment that ends by ``known_end`` (surely inside it)."""
        seg = self._open
        while True:
            a = seg.start + seg.next_k * self._hop
            b = a + self._window
            if b > known_end:
                return
            seg.next_k += 1
            seg.jobs[a] = self._plan_window(a, b, out, seg)

    def _plan_window(self, a: int, b: int, out: list, seg: _OpenSegment) -> _WindowJob | None:
        ratio = self._speech_ratio(a, b)
        if ratio < self.config.min_speech_ratio:
            return None
        samples = self._audio.get(a, b)
        if self.config.speech_gate:
            gate_from = max(seg.start, b - self._window - self._gate_extra)  # CONTEXT_S of the segment, if it has it
            reading = measure(samples if gate_from == a else self._audio.get(gate_from, b), gate_from, seg.gate)
            if not reading.speech_like:  # noise, hum, a tone or music that the VAD let through: no emotion for it
                seg.rejected.append((a, b, reading.reason))
                return None
            seg.passed += 1
        job = _WindowJob(a, b, ratio, self._arrival_of(b), samples, voice=seg.voice, speaker=self._speaker)
        out.append(job)
        return job

    def _speech_ratio(self, a: int, b: int) -> float:
        """Share of samples in ``[a, b)`` inside frames flagged as speech (frames not yet decided count as silence)."""
        f = self._frame
        f0, f1 = a // f, min(-(-b // f), self._flags.end)
        if f1 <= f0:
            return 0.0
        flags = self._flags.get(f0, f1)
        idx = np.arange(f0, f1)
        overlap = np.minimum(b, (idx + 1) * f) - np.maximum(a, idx * f)
        return float(np.sum(overlap * flags) / (b - a))

    def _arrival_of(self, sample_end: int) -> float:
        for end, t in self._arrivals:
            if end >= sample_end:
                return t
        return self._arrivals[-1][1] if self._arrivals else time.monotonic()

    def _trim(self) -> None:
        covered = self._flags.end * self._frame
        if self._open is not None:
            seg = self._open
            # The segment's last window ends where it closes: at safe_end or later, unless the audio
            # ends first (flush closes it at the audio's end, which is at least today's).
            tail_start = max(seg.start, min(self._seg.safe_end, self._audio.end) - self._window)
            keep = min(seg.start + seg.next_k * self._hop, tail_start) - self._gate_extra
        else:
            keep = self._seg.earliest_future_start(covered)
        self._audio.discard_before(keep)
        self._flags.discard_before(keep // self._frame)
        while len(self._arrivals) > 1 and self._arrivals[0][0] < keep:
            self._arrivals.popleft()

    # ------------------------------------------------------------------ inference
    def _predict(self, jobs: list[_WindowJob]) -> None:
        """Run windows through the model in batches of at most ``max_batch_windows``."""
        batch = self.config.max_batch_windows
        self.embed(jobs)  # what the voice thread has not computed ahead (or all, without one)
        runs: list[list[_WindowJob]] = []
        for job in jobs:  # batches of at most `batch` windows that share their speaker statistics
            if runs and len(runs[-1]) < batch and runs[-1][0].speaker is job.speaker:
                runs[-1].append(job)
            else:
                runs.append([job])
        for chunk in runs:
            windows = [j.samples for j in chunk]
            stats = chunk[0].speaker
            kwargs = {} if stats is None else {"speaker": stats}
            # A segment's windows share what the model computes once for them: the voice embedding
            # at the model's cadence, log-mel frames in the ONNX runtime (SegmentState).
            kwargs["segments"] = [(j.voice, j.start) for j in chunk]
            if self.embeds_ahead:
                kwargs["embeddings"] = [j.embedding for j in chunk]
            preds = self.predictor.predict_batch(windows, **kwargs)
            if self._voice:  # once per segment, on its first analysed window; all of the chunk's at once
                first = {}
                for i, job in enumerate(chunk):
                    if job.voice is not None and job.voice.gender is None and id(job.voice) not in first:
                        first[id(job.voice)] = i
                if first and getattr(self.predictor, "voice_emotion", False):
                    # Voice-emotion models embed a segment's first window (always), with its voice gender.
                    for i in first.values():
                        chunk[i].voice.gender = preds[i].gender_probabilities
                elif first:
                    genders = self.predictor.voice_gender_batch([chunk[i].samples for i in first.values()])
                    for i, g in zip(first.values(), genders, strict=True):
                        chunk[i].voice.gender = g
            for job, pred in zip(chunk, preds, strict=True):
                if self._voice and job.voice is not None:
                    pred.gender_probabilities = job.voice.gender
                job.prediction = pred
                job.samples = job.embedding = None  # no longer needed; keep memory flat

    def _result(self, kind: str, a: int, b: int, pred: Prediction, ratio: float, arrival: float,
                now: float) -> WindowResult:
        return WindowResult(
            track=self.track, track_name=self.track_name, kind=kind, start_s=self._seconds(a), end_s=self._seconds(b),
            heads=pred.heads, speech_ratio=ratio, latency_ms=max(0.0, (now - arrival) * MS_PER_S),
            dimensions_source=pred.dimensions_source,
            uncertain=bool(pred.uncertain) or ratio * (b - a) < MIN_CONFIDENT_SPEECH_S * SAMPLE_RATE_HZ,
        )

    def _seconds(self, sample: int) -> float:
        return (self.origin + sample) / SAMPLE_RATE_HZ


def _main_reason(rejected: list[tuple[int, int, str]], a: int, b: int) -> str | None:
    """The reason most of the rejected windows overlapping ``[a, b)`` had (the first met in a tie), or None."""
    counts: dict[str, int] = {}
    for ra, rb, why in rejected:
        if ra < b and rb > a:
            counts[why] = counts.get(why, 0) + 1
    return max(counts, key=counts.get) if counts else None


def _speech_pieces(start: int, end: int, analysed: list, rejected: list[tuple[int, int, str]]
                   ) -> list[tuple[int, int, str | None]]:
    """A segment ``[start, end)`` cut where the speech gate rejected windows: the stretches its
    analysed windows cover (reason None), and between them the stretches only rejected windows
    cover (the reason most of them had), in order. Windows tile a segment from its start to its end,
    so without a rejection this is the whole segment, once; a stretch between analysed windows that
    no rejected window covers (windows with too little speech) stays with the speech beside it."""
    runs: list[list[int]] = []
    for j in sorted(analysed, key=lambda j: j.start):
        if runs and j.start <= runs[-1][1]:
            runs[-1][1] = max(runs[-1][1], j.end)
        else:
            runs.append([j.start, j.end])

    pieces: list[tuple[int, int, str | None]] = []
    cursor = start
    for a, b in runs:
        why = _main_reason(rejected, cursor, a) if a > cursor else None
        if why is not None:
            pieces.append((cursor, a, why))
        elif pieces and pieces[-1][2] is None:  # nothing rejected in between: one stretch of speech
            pieces[-1] = (pieces[-1][0], b, None)
            cursor = b
            continue
        else:
            a = cursor
        pieces.append((a, b, None))
        cursor = b
    if cursor < end:
        why = _main_reason(rejected, cursor, end)
        if why is not None:
            pieces.append((cursor, end, why))
        else:
            pieces[-1] = (pieces[-1][0], end, pieces[-1][2])
    return pieces


def analyze_waveform(waveform: np.ndarray, predictor, config: EngineConfig | None = None,
                     block_samples: int | None = None, track_name: str = "mix") -> list[Event]:
    """Run one mono 16 kHz waveform through a :class:`TrackPipeline` (in blocks, or in one piece)."""
    config = config or EngineConfig(emit_audio=False)
    pipe = TrackPipeline(predictor, config, track_name=track_name)
    events: list[Event] = []
    step = block_samples or max(1, len(waveform))
    for i in range(0, len(waveform), step):
        events += pipe.push(waveform[i:i + step])
    return events + pipe.flush()
