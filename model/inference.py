"""Inference on arrays, independent of the engine that computes the network: the result type
(:class:`Prediction`), how windows are laid out and aggregated, and :class:`InferenceBase`, the
logic both runtimes share (speaker statistics, the voice encoder's cadence within a segment, the
fusion of the voice heads, calibration). Torch-free: the ONNX runtime (model/runtime.py) and the
torch one (model/predictor.py) differ only in how they compute the network, the voice encoder
and the speaker references."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from model.arch import DIMENSION_NAMES, GENDER_LABELS
from model.audio import SAMPLE_RATE_HZ, check_rate, check_waveform, resample, speech_bounds
from model.errors import AudioError
from model.meta import ModelMeta


@dataclass
class Prediction:
    """Model output for one window or one utterance."""

    labels: tuple[str, ...]
    probabilities: np.ndarray  # (n_labels,), sums to 1, in the model's label order
    gender_probabilities: np.ndarray  # (2,), order GENDER_LABELS
    dimensions: np.ndarray  # (3,) valence, arousal, dominance in [0, 1]
    dimensions_source: str = "derived-from-category"
    # Calibrated top probabilities below this mark the result uncertain (None: the model sets no threshold).
    uncertain_below: float | None = None
    # The model's further heads (ArchConfig.extra_heads): name -> {label or name: value}.
    extra: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def heads(self) -> dict[str, dict[str, float]]:
        """Every output, as results carry it: head name -> {label or name: value}, in the order the
        model file declares its heads (ModelMeta.heads)."""
        return {
            "emotion": {lab: float(p) for lab, p in zip(self.labels, self.probabilities, strict=True)},
            "gender": {g: float(p) for g, p in zip(GENDER_LABELS, self.gender_probabilities, strict=True)},
            "dimensions": {n: float(v) for n, v in zip(DIMENSION_NAMES, self.dimensions, strict=True)},
            **{name: dict(values) for name, values in self.extra.items()},
        }

    @property
    def top_probability(self) -> float:
        return float(np.max(self.probabilities))

    @property
    def uncertain(self) -> bool:
        """The model gives its top class less than its threshold's chance of being right."""
        return self.uncertain_below is not None and self.top_probability < self.uncertain_below

    @property
    def top_label(self) -> str:
        return self.labels[int(np.argmax(self.probabilities))]

    def top_k(self, k: int = 3) -> list[tuple[str, float]]:
        order = np.argsort(-self.probabilities)[:k]
        return [(self.labels[i], float(self.probabilities[i])) for i in order]

    @property
    def gender(self) -> str:
        return GENDER_LABELS[int(np.argmax(self.gender_probabilities))]

    @property
    def valence(self) -> float:
        return float(self.dimensions[0])

    @property
    def arousal(self) -> float:
        return float(self.dimensions[1])

    @property
    def dominance(self) -> float:
        return float(self.dimensions[2])

    def to_dict(self) -> dict:
        return {
            "top_label": self.top_label,
            "probabilities": {lab: float(p) for lab, p in zip(self.labels, self.probabilities)},
            "gender": {g: float(p) for g, p in zip(GENDER_LABELS, self.gender_probabilities)},
            **{name: float(v) for name, v in zip(DIMENSION_NAMES, self.dimensions)},
            "dimensions_source": self.dimensions_source,
            "uncertain": self.uncertain,
            **{name: dict(values) for name, values in self.extra.items()},
        }


@dataclass
class SegmentState:
    """What the model keeps for one speech segment (one speaker) while its windows are analysed.

    - The voice encoder's gender, taken from the segment's first analysed window, and the embedding
      of the last window it embedded, which later windows reuse while they start less than the
      model's ``voice_emotion_every_s`` after it (see :meth:`InferenceBase._segment_embeddings`).
    - The ONNX runtime's log-mel frames of the latest window (``mel_start``, ``mel``): overlapping
      windows on the same frame grid take their shared frames from here instead of computing them
      again (model/runtime.py); for chunked features, the conv stack's output of its chunks (``chunks``).

    Positions are sample counts at the model's rate (16 kHz), on any clock the caller keeps
    consistent for the segment."""

    gender: np.ndarray | None = None
    anchor: int | None = None  # start of the last embedded window
    embedding: np.ndarray | None = field(default=None, repr=False)
    mel_start: int | None = None  # position of the first frame in ``mel``
    mel: np.ndarray | None = field(default=None, repr=False)  # (frames, n_mels) mel power
    # Chunked features (FeatureConfig.chunk_ms), ONNX runtime: the conv stack's output of the latest
    # window's whole chunks, by the chunk's start; later windows take the chunks they share from here.
    chunks: dict[int, np.ndarray] = field(default_factory=dict, repr=False)


def window_bounds(n_samples: int, window: int, hop: int) -> list[tuple[int, int]]:
    """Sliding windows over ``n_samples`` samples: starts at 0, hop, 2*hop ...; one window when
    shorter than ``window``. When the hops leave a tail uncovered, a last window covers it: the next
    start on the grid to the end, shorter than ``window`` (at least half of it; with the default
    2-s window and 0.5-s hop, 1.5 to 2 s), so that it shares its whole chunks with the windows
    before it (chunked features, model/logmel.py); if that would be shorter than half a window (hops
    over half the window), a full window aligned to the end instead."""
    if n_samples <= window:
        return [(0, n_samples)]
    bounds = [(s, s + window) for s in range(0, n_samples - window + 1, hop)]
    if bounds[-1][1] < n_samples:
        start = bounds[-1][0] + hop
        bounds.append((start, n_samples) if 2 * (n_samples - start) >= window else (n_samples - window, n_samples))
    return bounds


def aggregate(predictions: Sequence[Prediction], weights: Sequence[float] | None = None) -> Prediction:
    """Utterance-level result: the (weighted) mean of window probabilities, gender and V/A/D."""
    if not predictions:
        raise ValueError("nothing to aggregate")
    w = np.ones(len(predictions)) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w / w.sum()

    def mean(attr: str) -> np.ndarray:
        return np.tensordot(w, np.stack([getattr(p, attr) for p in predictions]), axes=1).astype(np.float32)

    first = predictions[0]
    extra = {name: {k: float(np.dot(w, [p.extra[name][k] for p in predictions])) for k in values}
             for name, values in first.extra.items()}
    return Prediction(first.labels, mean("probabilities"), mean("gender_probabilities"), mean("dimensions"), first.dimensions_source,
                      first.uncertain_below, extra)


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    z = np.exp(x - x.max(axis=axis, keepdims=True))
    return z / z.sum(axis=axis, keepdims=True)


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    z = x - x.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


class InferenceBase:
    """What both runtimes share. A runtime implements :meth:`_network`, :meth:`_embeddings`,
    :meth:`_mean_logmel` and :meth:`voice_gender_batch`."""

    meta: ModelMeta
    source: str = ""

    def _init_meta(self, meta: ModelMeta, source: str) -> None:
        self.meta = meta
        self.source = source
        self.labels = tuple(meta.labels)
        self.sample_rate = meta.features.sample_rate_hz
        self.temperature = meta.temperature

    # -- what the model is -------------------------------------------------------------------
    @property
    def min_samples(self) -> int:
        return self.meta.features.n_fft

    @property
    def has_voice(self) -> bool:
        """The model file carries a voice encoder for gender (model/voice.py)."""
        return bool(self.meta.arch.voice_gender)

    @property
    def speaker_norm(self) -> bool:
        """The model centres features on the speaker's own average when given one (see model/adaptation.py)."""
        return bool(self.meta.arch.speaker_norm)

    @property
    def voice_emotion(self) -> bool:
        """The model fuses voice-embedding emotion heads with its network (model/voice.py)."""
        return bool(self.meta.arch.voice_gender and self.meta.arch.voice_emotion)

    @property
    def adapts_to_speaker(self) -> bool:
        """Running statistics of the speaker's speech change this model's output (model/adaptation.py)."""
        return self.speaker_norm or self.voice_emotion

    @property
    def voice_every(self) -> int:
        """Samples of a segment between two voice embeddings (0: every window has its own)."""
        return int(round(self.meta.arch.voice_emotion_every_s * self.sample_rate))

    @property
    def window_s(self) -> float:
        """The analysis window the model file says it is meant for."""
        return self.meta.window_s

    @property
    def hop_s(self) -> float:
        return self.meta.hop_s

    # -- what a runtime computes -------------------------------------------------------------
    def _network(self, windows: list[np.ndarray], references: np.ndarray | None,
                 segments: Sequence[tuple[SegmentState, int]] | None, embeddings: np.ndarray | None = None,
                 centres: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Windows of equal length -> the network's outputs as numpy arrays: ``emotion`` (logits or
        log-probabilities), ``gender``, ``dimensions`` and extra heads. ``references``: the
        speaker's mean log-mel per window (speaker-normalised models), or None. ``segments``: each
        window's segment and start, when the windows' samples are the segment's own (a runtime may
        share work between them). With ``embeddings`` (B, 256), the voice heads' outputs too:
        ``voice_emotion`` logits and ``voice_dimensions``, centred on ``centres`` when given, and
        ``voice_male``, P(male)."""
        raise NotImplementedError

    def _embeddings(self, prepared: list[np.ndarray]) -> list[np.ndarray]:
        """The voice encoder's embedding of each window."""
        raise NotImplementedError

    def _mean_logmel(self, window: np.ndarray) -> np.ndarray:
        """A window's mean log-mel per band (the speaker statistics of speaker-normalised models)."""
        raise NotImplementedError

    def voice_gender_batch(self, waveforms: Sequence[np.ndarray],
                           sample_rate: int = SAMPLE_RATE_HZ) -> list[np.ndarray] | None:
        """:meth:`voice_gender` of several stretches (each one speaker's)."""
        raise NotImplementedError

    # -- shared logic ------------------------------------------------------------------------
    def _prepare(self, waveform: np.ndarray, sample_rate: int) -> np.ndarray:
        x = check_waveform(waveform)
        if sample_rate != self.sample_rate:
            check_rate(sample_rate)
            x = resample(x, sample_rate, self.sample_rate)
        if len(x) < self.min_samples:
            raise AudioError(
                f"audio of {len(x)} samples is too short to analyse; need at least "
                f"{self.min_samples / self.sample_rate * 1000:.0f} ms."
            )
        return x

    def voice_gender(self, waveform: np.ndarray, sample_rate: int = SAMPLE_RATE_HZ) -> np.ndarray | None:
        """Gender probabilities (GENDER_LABELS order) of a stretch of one speaker's speech from the
        voice encoder, or None when the model has none."""
        genders = self.voice_gender_batch([waveform], sample_rate)
        return None if genders is None else genders[0]

    def _segment_embeddings(self, windows: Sequence[np.ndarray],
                            segments: Sequence[tuple[SegmentState, int]] | None,
                            prepare: Callable[[np.ndarray], np.ndarray] | None = None) -> list[np.ndarray]:
        """Each window's voice embedding. ``segments[i]`` is window i's segment and start sample:
        the encoder runs on a segment's first window and then on each window starting at least
        :attr:`voice_every` samples after the last one it ran on; the windows between reuse that
        embedding. The choice depends only on the windows' starts, in order, so streaming and an
        offline pass embed the same windows. Without ``segments`` every window is embedded.
        ``windows`` are prepared (:meth:`_prepare`), or raw and then ``prepare`` prepares the ones
        the encoder runs on, and only those."""
        every = self.voice_every
        ready = prepare or (lambda w: w)
        if segments is None or every <= 0:
            return self._embeddings([ready(w) for w in windows])
        fresh: list[int] = []
        source: list[int | np.ndarray] = []  # an index into ``fresh``, or a segment's kept embedding
        latest: dict[int, tuple[SegmentState, int, int | np.ndarray | None]] = {}
        for i, (seg, start) in enumerate(segments):
            _, anchor, ref = latest.get(id(seg), (seg, seg.anchor, seg.embedding))
            if anchor is None or ref is None or start - anchor >= every or start < anchor:
                fresh.append(i)
                ref, anchor = len(fresh) - 1, start
            latest[id(seg)] = (seg, anchor, ref)
            source.append(ref)
        computed = self._embeddings([ready(windows[i]) for i in fresh]) if fresh else []
        for seg, anchor, ref in latest.values():
            seg.anchor, seg.embedding = anchor, computed[ref] if isinstance(ref, int) else ref
        return [computed[s] if isinstance(s, int) else s for s in source]

    def _references(self, prepared: list[np.ndarray], embeddings: list[np.ndarray] | None,
                    speaker) -> list[tuple[np.ndarray | None, np.ndarray | None]]:
        """Each window's references, in order, as ``speaker`` (a SpeakerStats) counts them: the
        speaker's mean log-mel (speaker-normalised models) and mean voice embedding (voice-emotion
        models), each None until enough speech has been heard. The statistics kept are one vector,
        these two side by side."""
        out = []
        n_mels = self.meta.features.n_mels if self.speaker_norm else 0
        for i, w in enumerate(prepared):
            parts = []
            if self.speaker_norm:
                parts.append(self._mean_logmel(w))
            if embeddings is not None:
                parts.append(embeddings[i])
            ref = speaker.add(np.concatenate(parts))
            if ref is None:
                out.append((None, None))
            else:
                out.append((ref[:n_mels] if self.speaker_norm else None,
                            ref[n_mels:] if embeddings is not None else None))
        return out

    def predict(self, waveform: np.ndarray, sample_rate: int = SAMPLE_RATE_HZ) -> Prediction:
        """One window (any length from ``min_samples`` up) -> one prediction."""
        return self.predict_batch([waveform], sample_rate)[0]

    def voice_embeddings(self, waveforms: Sequence[np.ndarray], segments: Sequence[tuple[SegmentState, int]],
                         sample_rate: int = SAMPLE_RATE_HZ) -> list[np.ndarray] | None:
        """The voice embeddings :meth:`predict_batch` would use for these windows, computed ahead:
        the engine computes them in a thread of its own while the networks run on earlier windows,
        then hands them to :meth:`predict_batch` (``embeddings``). ``segments`` as for
        :meth:`predict_batch`; windows must come in the order they will be predicted in, as the
        voice encoder's cadence within a segment counts them. None for a model without voice-emotion
        heads."""
        if not self.voice_emotion:
            return None
        if len(segments) != len(waveforms):
            raise ValueError(f"{len(segments)} segment entries for {len(waveforms)} windows")
        return self._segment_embeddings(waveforms, segments, lambda w: self._prepare(w, sample_rate))

    def predict_batch(self, waveforms: Sequence[np.ndarray] | np.ndarray,
                      sample_rate: int = SAMPLE_RATE_HZ, speaker=None,
                      segments: Sequence[tuple[SegmentState, int]] | None = None,
                      embeddings: Sequence[np.ndarray] | None = None) -> list[Prediction]:
        """Several windows -> predictions in the same order. Windows of equal length run as one batch.

        ``speaker``: a :class:`model.adaptation.SpeakerStats` of the track these windows come from,
        in order; each window is counted in it, and a model that adapts to the speaker
        (:attr:`adapts_to_speaker`) uses its references once it is ready.
        ``segments``: each window's :class:`SegmentState` and start sample, in order: a segment's
        windows then share what they can (the voice embedding at the model's
        ``voice_emotion_every_s``, log-mel frames in the ONNX runtime); without it every window is
        computed on its own.
        ``embeddings``: the windows' voice embeddings from :meth:`voice_embeddings`, when computed
        ahead (the same windows, segments and order); otherwise they are computed here.
        """
        if segments is not None and len(segments) != len(waveforms):
            raise ValueError(f"{len(segments)} segment entries for {len(waveforms)} windows")
        prepared = [self._prepare(w, sample_rate) for w in waveforms]
        if not self.voice_emotion:
            embeddings = None
        elif embeddings is None:
            embeddings = self._segment_embeddings(prepared, segments)
        elif len(embeddings) != len(prepared):
            raise ValueError(f"{len(embeddings)} voice embeddings for {len(prepared)} windows")
        if speaker is not None and self.adapts_to_speaker:
            refs = self._references(prepared, embeddings, speaker)
        else:
            refs = [(None, None)] * len(prepared)
        results: list[Prediction | None] = [None] * len(prepared)
        groups: dict[tuple[int, bool, bool], list[int]] = {}
        for i, w in enumerate(prepared):
            groups.setdefault((len(w), refs[i][0] is not None, refs[i][1] is not None), []).append(i)
        # Windows resampled one by one do not share samples where they overlap: nothing is shared then.
        shared = segments if sample_rate == self.sample_rate else None
        for (_, spectral, voiced), idx in groups.items():
            out = self._network([prepared[i] for i in idx],
                                np.stack([refs[i][0] for i in idx]) if spectral else None,
                                None if shared is None else [shared[i] for i in idx],
                                None if embeddings is None else np.stack([embeddings[i] for i in idx]),
                                np.stack([refs[i][1] for i in idx]) if voiced else None)
            if embeddings is not None:
                out = self._fuse(out, centred=voiced)
            for i, p in zip(idx, self._predictions(out, len(idx))):
                results[i] = p
        return results  # type: ignore[return-value]

    def _fuse(self, out: dict[str, np.ndarray], centred: bool) -> dict:
        """The network's output combined with the voice-emotion heads': a weighted geometric mean
        of the class probabilities (``emotion``: its log, unnormalised, which the softmax of
        :meth:`_predictions` normalises) and a weighted mean of V/A/D, the weight being the voice
        heads' share (``centred``: the speaker's average embedding is known); V/A/D kept within
        their range; ``gender`` the voice encoder's log-probabilities."""
        arch = self.meta.arch
        # The window's voice gender comes free with its embedding (the same value voice_gender gives
        # for these samples): the engine takes a segment's gender from its first window's.
        p_male = out["voice_male"].astype(np.float64)
        gender = np.empty((len(p_male), 2))
        np.subtract(1.0, p_male, out=gender[:, 0])
        gender[:, 1] = p_male
        np.log(np.maximum(gender, 1e-12, out=gender), out=gender)
        weight = arch.voice_emotion_weight if centred else arch.voice_emotion_weight_unadapted
        # The weighted sum of the two opinions' log-probabilities, up to a constant per window: a
        # log-softmax only shifts its row by a constant, so the weighted sum of the logits is that
        # sum shifted, and the softmax of :meth:`_predictions` takes every such shift out (this runs
        # for every window: without the three log-softmaxes it takes 10 us instead of 27).
        emotion = np.multiply(out["emotion"], 1.0 - weight, dtype=np.float64)
        emotion += np.multiply(out["voice_emotion"], weight, dtype=np.float64)
        # The voice heads' V/A/D are linear regressions on the embedding: unlike the network's
        # (a sigmoid), they can leave the declared range [0, 1], and a weighted mean with them too.
        dims = (1 - weight) * out["dimensions"] + weight * out["voice_dimensions"]
        np.clip(dims, 0.0, 1.0, out=dims)
        return {**out, "emotion": emotion, "dimensions": dims, "gender": gender}

    def _predictions(self, out: dict[str, np.ndarray], n: int) -> list[Prediction]:
        """Predictions from the outputs: ``emotion`` log-probabilities (or logits, or either up to a
        constant per window) and ``gender`` log-probabilities or logits, softmaxed."""
        # Calibration: the emotion log-probabilities divided by the model file's temperature.
        probs = softmax(np.asarray(out["emotion"], dtype=np.float64) / self.temperature, axis=1).astype(np.float32)
        gender = softmax(np.asarray(out["gender"], dtype=np.float64), axis=1).astype(np.float32)
        dims = np.asarray(out["dimensions"], dtype=np.float32)
        src = self.meta.dimensions_source
        thr = self.meta.uncertain_below
        extra = {}
        for name, kind, names in self.meta.arch.extra_heads:
            y = np.asarray(out[name], dtype=np.float64)
            extra[name] = (names, softmax(y, axis=1) if kind == "categorical" else y)
        return [Prediction(self.labels, probs[i], gender[i], dims[i], src, thr,
                           {name: {k: float(v) for k, v in zip(names, values[i], strict=True)}
                            for name, (names, values) in extra.items()})
                for i in range(n)]

    def _utterance_windows(self, waveform: np.ndarray, sample_rate: int, window_s: float, hop_s: float,
                           trim: bool = True) -> tuple[np.ndarray, list[np.ndarray], list[tuple[SegmentState, int]]]:
        """The audible part of an utterance, the analysis windows over it, and each window's entry
        of the utterance's one :class:`SegmentState` (see :meth:`predict_batch`)."""
        x = self._prepare(waveform, sample_rate)
        if trim:
            start, end = speech_bounds(x, self.sample_rate)
            if end - start >= self.min_samples:
                x = x[start:end]
        window = int(round(window_s * self.sample_rate))
        hop = max(1, int(round(hop_s * self.sample_rate)))
        bounds = window_bounds(len(x), window, hop)
        seg = SegmentState()
        return x, [x[s:e] for s, e in bounds], [(seg, s) for s, _ in bounds]

    def predict_windows(self, waveform: np.ndarray, sample_rate: int = SAMPLE_RATE_HZ, window_s: float | None = None,
                        hop_s: float | None = None) -> list[Prediction]:
        """The window predictions that :meth:`predict_utterance` aggregates."""
        _, windows, segments = self._utterance_windows(waveform, sample_rate, window_s or self.window_s,
                                                       hop_s or self.hop_s)
        return self.predict_batch(windows, segments=segments)

    def predict_utterance(self, waveform: np.ndarray, sample_rate: int = SAMPLE_RATE_HZ,
                          window_s: float | None = None, hop_s: float | None = None, trim: bool = True,
                          speaker=None) -> Prediction:
        """A whole utterance: sliding windows over its audible part, aggregated by :func:`aggregate`."""
        x, windows, segments = self._utterance_windows(waveform, sample_rate, window_s or self.window_s,
                                                       hop_s or self.hop_s, trim)
        pred = aggregate(self.predict_batch(windows, speaker=speaker, segments=segments))
        if self.has_voice:  # one speaker per utterance: gender from its whole speech
            pred.gender_probabilities = self.voice_gender(x)
        return pred
