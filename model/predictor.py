"""Inference on arrays: :class:`Predictor` loads a model file and turns waveforms into
:class:`Prediction` objects. It never opens audio files or devices."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from model.audio import SAMPLE_RATE_HZ, check_rate, check_waveform, resample, speech_bounds
from model.checkpoint import ModelMeta, load_model, resolve_model_path
from model.errors import AudioError, ComputeDeviceError
from model.network import DIMENSION_NAMES, GENDER_LABELS, SEREnsemble, SERNet


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


def map_equal_lengths(arrays: Sequence[np.ndarray], fn, device: str | torch.device = "cpu") -> list[np.ndarray]:
    """``fn`` ((B, samples) tensor -> (B, ...) tensor) over 1-D ``arrays``, those of equal length
    stacked into one batch (a batch is much cheaper per row than rows one by one; no row's result
    depends on the others). Results as float32 numpy arrays, in the order of ``arrays``."""
    out: list[np.ndarray | None] = [None] * len(arrays)
    by_len: dict[int, list[int]] = {}
    for i, w in enumerate(arrays):
        by_len.setdefault(len(w), []).append(i)
    for idx in by_len.values():
        x = torch.from_numpy(np.stack([arrays[i] for i in idx])).to(device)
        for i, r in zip(idx, fn(x).float().cpu().numpy()):
            out[i] = r
    return out  # type: ignore[return-value]


@dataclass
class SegmentVoice:
    """What the voice encoder gave for one speech segment (one speaker): its gender, taken from
    the segment's first analysed window, and the embedding of the last window it embedded, which
    later windows reuse while they start less than the model's ``voice_emotion_every_s`` after it
    (see :meth:`Predictor._segment_embeddings`). Positions are sample counts at the model's rate
    (16 kHz), on any clock the caller keeps consistent for the segment."""

    gender: np.ndarray | None = None
    anchor: int | None = None  # start of the last embedded window
    embedding: np.ndarray | None = field(default=None, repr=False)


def window_bounds(n_samples: int, window: int, hop: int) -> list[tuple[int, int]]:
    """Sliding windows over ``n_samples`` samples: starts at 0, hop, 2*hop ...; a last window is
    aligned to the end when the hops leave a tail uncovered; one window when shorter than ``window``."""
    if n_samples <= window:
        return [(0, n_samples)]
    bounds = [(s, s + window) for s in range(0, n_samples - window + 1, hop)]
    if bounds[-1][1] < n_samples:
        bounds.append((n_samples - window, n_samples))
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


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` picks CUDA when it is available, else the CPU."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ComputeDeviceError(f"--device {device}: not a device name; use auto, cpu or cuda.") from exc
    if dev.type not in ("cpu", "cuda"):
        raise ComputeDeviceError(f"--device {device}: this program runs on cpu or cuda; use auto, cpu or cuda.")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ComputeDeviceError(f"--device {device}: no CUDA GPU is available here (or this torch build has no "
                                 "CUDA); use --device cpu, or auto to take a GPU when there is one.")
    return dev


class Predictor:
    """Loads a model and predicts emotion, gender and V/A/D from mono waveforms."""

    def __init__(self, net: SERNet | SEREnsemble, meta: ModelMeta, device: str | torch.device = "auto", source: str = ""):
        self.device = resolve_device(device)
        self.net = net.to(self.device).eval()
        self.meta = meta
        self.source = source
        self.labels = tuple(meta.labels)
        self.sample_rate = meta.features.sample_rate_hz
        self.temperature = meta.temperature

    @classmethod
    def load(cls, path: str | os.PathLike = "default", device: str | torch.device = "auto") -> Predictor:
        net, meta = load_model(path)
        return cls(net, meta, device, source=str(resolve_model_path(path)))

    @property
    def min_samples(self) -> int:
        return self.meta.features.n_fft

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

    @property
    def has_voice(self) -> bool:
        """The model file carries a voice encoder for gender (model/voice.py)."""
        return bool(self.meta.arch.voice_gender)

    @torch.inference_mode()
    def voice_gender(self, waveform: np.ndarray, sample_rate: int = SAMPLE_RATE_HZ) -> np.ndarray | None:
        """Gender probabilities (GENDER_LABELS order) of a stretch of one speaker's speech from the
        voice encoder, or None when the model has none."""
        genders = self.voice_gender_batch([waveform], sample_rate)
        return None if genders is None else genders[0]

    @torch.inference_mode()
    def voice_gender_batch(self, waveforms: Sequence[np.ndarray],
                           sample_rate: int = SAMPLE_RATE_HZ) -> list[np.ndarray] | None:
        """:meth:`voice_gender` of several stretches (each one speaker's), equal lengths batched."""
        if not self.has_voice:
            return None
        prepared = [self._prepare(w, sample_rate) for w in waveforms]
        return map_equal_lengths(prepared, self.net.voice.forward_batch, self.device)

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

    @torch.inference_mode()
    def _run(self, batch: np.ndarray, reference: np.ndarray | None = None) -> dict:
        x = torch.from_numpy(batch).to(self.device)
        if reference is None:
            return self.net(x)
        return self.net(x, torch.from_numpy(reference).to(self.device))

    def _predictions(self, out: dict, n: int) -> list[Prediction]:
        # Calibration: the emotion log-probabilities divided by the model file's temperature.
        probs = torch.softmax(out["emotion"].float() / self.temperature, dim=1).cpu().numpy()
        gender = torch.softmax(out["gender"].float(), dim=1).cpu().numpy()
        dims = out["dimensions"].float().cpu().numpy()
        src = self.meta.dimensions_source
        thr = self.meta.uncertain_below
        extra = {}
        for name, kind, names in self.meta.arch.extra_heads:
            y = out[name].float()
            extra[name] = (names, (torch.softmax(y, dim=1) if kind == "categorical" else y).cpu().numpy())
        return [Prediction(self.labels, probs[i], gender[i], dims[i], src, thr,
                           {name: {k: float(v) for k, v in zip(names, values[i], strict=True)}
                            for name, (names, values) in extra.items()})
                for i in range(n)]

    @torch.inference_mode()
    def _embeddings(self, prepared: list[np.ndarray]) -> list[np.ndarray]:
        """The voice encoder's embedding of each window (windows of equal length run as one batch)."""
        return map_equal_lengths(prepared, self.net.voice.embed_batch, self.device)

    @property
    def voice_every(self) -> int:
        """Samples of a segment between two voice embeddings (0: every window has its own)."""
        return int(round(self.meta.arch.voice_emotion_every_s * self.sample_rate))

    def _segment_embeddings(self, prepared: list[np.ndarray],
                            segments: Sequence[tuple[SegmentVoice, int]] | None) -> list[np.ndarray]:
        """Each window's voice embedding. ``segments[i]`` is window i's segment and start sample:
        the encoder runs on a segment's first window and then on each window starting at least
        :attr:`voice_every` samples after the last one it ran on; the windows between reuse that
        embedding. The choice depends only on the windows' starts, in order, so streaming and an
        offline pass embed the same windows. Without ``segments`` every window is embedded."""
        every = self.voice_every
        if segments is None or every <= 0:
            return self._embeddings(prepared)
        fresh: list[int] = []
        source: list[int | np.ndarray] = []  # an index into ``fresh``, or a segment's kept embedding
        latest: dict[int, tuple[SegmentVoice, int, int | np.ndarray | None]] = {}
        for i, (seg, start) in enumerate(segments):
            _, anchor, ref = latest.get(id(seg), (seg, seg.anchor, seg.embedding))
            if anchor is None or ref is None or start - anchor >= every or start < anchor:
                fresh.append(i)
                ref, anchor = len(fresh) - 1, start
            latest[id(seg)] = (seg, anchor, ref)
            source.append(ref)
        computed = self._embeddings([prepared[i] for i in fresh])
        for seg, anchor, ref in latest.values():
            seg.anchor, seg.embedding = anchor, computed[ref] if isinstance(ref, int) else ref
        return [computed[s] if isinstance(s, int) else s for s in source]

    @torch.inference_mode()
    def _references(self, prepared: list[np.ndarray], embeddings: list[np.ndarray] | None,
                    speaker) -> list[tuple[np.ndarray | None, np.ndarray | None]]:
        """Each window's references, in order, as ``speaker`` (a SpeakerStats) counts them: the
        speaker's mean log-mel (speaker-normalised models) and mean voice embedding (voice-emotion
        models), each None until enough speech has been heard. The statistics kept are one vector,
        these two side by side."""
        out = []
        n_mels = self.net.features.n_mels if self.speaker_norm else 0
        for i, w in enumerate(prepared):
            parts = []
            if self.speaker_norm:
                logmel = self.net.logmel(torch.from_numpy(w)[None].to(self.device))
                parts.append(logmel.mean(dim=2)[0].float().cpu().numpy())
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

    @torch.inference_mode()
    def predict_batch(self, waveforms: Sequence[np.ndarray] | np.ndarray,
                      sample_rate: int = SAMPLE_RATE_HZ, speaker=None,
                      segments: Sequence[tuple[SegmentVoice, int]] | None = None) -> list[Prediction]:
        """Several windows -> predictions in the same order. Windows of equal length run as one batch.

        ``speaker``: a :class:`model.adaptation.SpeakerStats` of the track these windows come from,
        in order; each window is counted in it, and a model that adapts to the speaker
        (:attr:`adapts_to_speaker`) uses its references once it is ready.
        ``segments``: each window's :class:`SegmentVoice` and start sample, in order, for models
        that reuse a voice embedding within a segment (``voice_emotion_every_s``); without it every
        window gets its own embedding.
        """
        if segments is not None and len(segments) != len(waveforms):
            raise ValueError(f"{len(segments)} segment entries for {len(waveforms)} windows")
        prepared = [self._prepare(w, sample_rate) for w in waveforms]
        embeddings = self._segment_embeddings(prepared, segments) if self.voice_emotion else None
        if speaker is not None and self.adapts_to_speaker:
            refs = self._references(prepared, embeddings, speaker)
        else:
            refs = [(None, None)] * len(prepared)
        results: list[Prediction | None] = [None] * len(prepared)
        groups: dict[tuple[int, bool, bool], list[int]] = {}
        for i, w in enumerate(prepared):
            groups.setdefault((len(w), refs[i][0] is not None, refs[i][1] is not None), []).append(i)
        for (_, spectral, voiced), idx in groups.items():
            out = self._run(np.stack([prepared[i] for i in idx]),
                            np.stack([refs[i][0] for i in idx]) if spectral else None)
            if embeddings is not None:
                out = self._fuse(out, np.stack([embeddings[i] for i in idx]),
                                 np.stack([refs[i][1] for i in idx]) if voiced else None)
            for i, p in zip(idx, self._predictions(out, len(idx))):
                results[i] = p
        return results  # type: ignore[return-value]

    def _fuse(self, out: dict, embeddings: np.ndarray, centres: np.ndarray | None) -> dict:
        """The network's output combined with the voice-emotion heads' (model/voice.fuse)."""
        from model.voice import fuse

        arch = self.meta.arch
        emb = torch.from_numpy(embeddings).to(self.device)
        centre = None if centres is None else torch.from_numpy(centres).to(self.device)
        voice_logp, voice_dimensions = self.net.voice.emotion_from_embeddings(emb, centre)
        # The window's voice gender comes free with its embedding (the same value voice_gender gives
        # for these samples): the engine takes a segment's gender from its first window's.
        p_male = torch.sigmoid(self.net.voice.gender(emb))[:, 0]
        gender = torch.log(torch.clamp(torch.stack([1 - p_male, p_male], dim=1), min=1e-12))
        weight = arch.voice_emotion_weight if centre is not None else arch.voice_emotion_weight_unadapted
        emotion, dims = fuse(torch.log_softmax(out["emotion"].float(), dim=1), out["dimensions"].float(),
                            voice_logp.float(), voice_dimensions.float(), weight)
        return {**out, "emotion": emotion, "dimensions": dims, "gender": gender.float()}

    def _utterance_windows(self, waveform: np.ndarray, sample_rate: int, window_s: float, hop_s: float,
                           trim: bool = True) -> tuple[np.ndarray, list[np.ndarray], list[tuple[SegmentVoice, int]]]:
        """The audible part of an utterance, the analysis windows over it, and each window's entry
        of the utterance's one :class:`SegmentVoice` (see :meth:`predict_batch`)."""
        x = self._prepare(waveform, sample_rate)
        if trim:
            start, end = speech_bounds(x, self.sample_rate)
            if end - start >= self.min_samples:
                x = x[start:end]
        window = int(round(window_s * self.sample_rate))
        hop = max(1, int(round(hop_s * self.sample_rate)))
        bounds = window_bounds(len(x), window, hop)
        seg = SegmentVoice()
        return x, [x[s:e] for s, e in bounds], [(seg, s) for s, _ in bounds]

    @property
    def window_s(self) -> float:
        """The analysis window the model file says it is meant for."""
        return self.meta.window_s

    @property
    def hop_s(self) -> float:
        return self.meta.hop_s

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
