"""The torch-free runtime: a model's ONNX export (model/export.py) run by ONNX Runtime on the CPU.

:func:`load_predictor` is how the product loads a model: the ONNX runtime when the model file has
its ``.onnx`` beside it and the computation is on the CPU; torch (model/predictor.py) for CUDA, for
a model without an export, or when asked for. Both give the same predictions (to about 1e-5; a
test holds them to 1e-4).

What this runtime adds is work done once: a segment's overlapping windows share their STFT frames
(:class:`model.inference.SegmentState` keeps the latest window's mel power). Each window's level
normalisation is a gain, which scales a frame's mel power by its square, so a shared frame gives
the numbers a window of its own would.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from model.arch import (  # the voice encoder's framing, shared with model/voice.py
    VOICE_EMBEDDING,
    VOICE_HOP,
    VOICE_LEVEL_DBFS,
    VOICE_MAX_PARTIALS,
    VOICE_N_FFT,
    VOICE_PARTIAL_FRAMES,
    VOICE_PARTIAL_STEP,
    VOICE_SILENCE_RMS,
)
from model.audio import SAMPLE_RATE_HZ
from model.errors import ComputeDeviceError, ModelFileError
from model.features import chunk_feed, level_gain, level_gains  # noqa: F401 - level_gain: re-exported
from model.files import file_sha256
from model.inference import InferenceBase, SegmentState
from model.meta import (  # noqa: F401 - onnx_path_for is where users of the runtime look for it
    ONNX_FORMAT,
    ONNX_FORMAT_VERSION,
    ModelMeta,
    onnx_inputs,
    onnx_outputs,
    onnx_parts,
    onnx_path_for,
    read_meta,
    resolve_model_path,
)

RUNTIMES = ("auto", "onnx", "torch")
RUNTIME_NAMES = {"onnx": "ONNX Runtime", "torch": "torch"}  # as the app and reports name them
# What each graph beside the main one computes, for the message when its file is missing.
PART_NAMES = {"voice": "voice encoder", "trunk": "conv stack"}


def voice_partial_count(n_samples: int) -> int:
    """How many partials :func:`voice_partials` makes of a window of ``n_samples`` samples."""
    n_frames = max(1 + n_samples // VOICE_HOP, VOICE_PARTIAL_FRAMES)
    return min(VOICE_MAX_PARTIALS, (n_frames - VOICE_PARTIAL_FRAMES) // VOICE_PARTIAL_STEP + 1)


def voice_partials(window: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """A window's voice-encoder input: (P, 160, 400) STFT frames of its partials of 1.6 s (at most
    3, half overlapping; P from :func:`voice_partial_count`), after the encoder's level normalisation
    and centred framing. Written into ``out`` (P, 160, 400) when given: a batch's partials go
    straight into the array the graph takes."""
    window = window.astype(np.float32, copy=False)
    n, half = len(window), VOICE_N_FFT // 2
    # The samples go straight into the padded array (np.pad would copy them once more).
    padded = np.zeros(n + 2 * half, np.float32)
    x = padded[half:half + n]
    # A DC offset is no part of the voice (model/voice.py).
    np.subtract(window, np.float32(window.mean(dtype=np.float32)), out=x)
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float32), dtype=np.float32)))
    x *= np.float32(10 ** (VOICE_LEVEL_DBFS / 20) / max(rms, VOICE_SILENCE_RMS))
    if n > half:  # reflected at both ends, as np.pad's "reflect"; zeros around a shorter window
        padded[:half] = x[1:half + 1][::-1]
        padded[half + n:] = x[n - 1 - half:n - 1][::-1]
    n_frames = 1 + n // VOICE_HOP
    frames = np.lib.stride_tricks.sliding_window_view(padded, VOICE_N_FFT)[::VOICE_HOP][:n_frames]
    count = voice_partial_count(len(x))
    if out is None:
        out = np.empty((count, VOICE_PARTIAL_FRAMES, VOICE_N_FFT), np.float32)
    for k in range(count):
        s = k * VOICE_PARTIAL_STEP
        have = max(0, min(VOICE_PARTIAL_FRAMES, n_frames - s))
        out[k, :have] = frames[s:s + have]
        out[k, have:] = 0.0  # zero frames have zero power: the encoder's zero padding
    return out


class OnnxPredictor(InferenceBase):
    """A model's ONNX export run by ONNX Runtime on the CPU; the same interface and predictions as
    :class:`model.predictor.Predictor`."""

    runtime = "onnx"

    def __init__(self, onnx_path: Path, meta: ModelMeta, source: str = "", threads: int = 0):
        self._init_meta(meta, source)
        self.onnx_path = Path(onnx_path)
        self.device = "cpu"
        f = meta.features
        self._hop = f.hop_length
        self._win = f.win_length
        self._offset = (f.n_fft - f.win_length) // 2
        self._chunked = f.chunk_samples > 0
        self._threads = 0
        self._sessions: dict = {}  # graph part -> its ONNX Runtime session
        self._checked: Path | None = None  # the model file the sessions were checked against
        self.threads = threads

    @classmethod
    def load(cls, path: str | os.PathLike = "default", threads: int = 0) -> OnnxPredictor:
        model_path = _model_file(path)
        meta = read_meta(model_path)
        onnx_path = onnx_path_for(model_path)
        if not onnx_path.is_file():
            extra = "" if torch_available() else (" ('ser export' and torch need the training flavour: "
                                                  "pip install 'speech-emotion-analyzer[train]')")
            raise ModelFileError(f"{model_path}: has no ONNX export beside it ({onnx_path.name}); run "
                                 f"'ser export {model_path}' to make it, or use --runtime torch{extra}.")
        predictor = cls(onnx_path, meta, source=str(model_path), threads=threads)
        predictor._check(model_path)
        return predictor

    # -- the sessions ------------------------------------------------------------------------
    @property
    def threads(self) -> int:
        """CPU threads of each computation (0: ONNX Runtime's default, one per core)."""
        return self._threads

    @threads.setter
    def threads(self, n: int) -> None:
        n = max(0, int(n))
        if self._sessions and n == self._threads:
            return
        # Built and checked aside, then put in place together: a failure leaves the sessions as they were.
        sessions = {"main": self._open(self.onnx_path, n)}
        for part in onnx_parts(self.meta.arch, self._chunked)[1:]:  # the graphs beside the main one
            path = onnx_path_for(self.onnx_path, part)
            if not path.is_file():
                raise ModelFileError(f"{path}: the {PART_NAMES[part]}'s part of the ONNX export is missing; "
                                     f"make the export again with 'ser export {self.source or 'MODEL'}'.")
            sessions[part] = self._open(path, n)
        if self._checked is not None:  # sessions rebuilt (other threads): the files again
            self._check(self._checked, sessions)
        self._sessions = sessions
        self._inputs = {part: {i.name for i in s.get_inputs()} for part, s in sessions.items()}
        # Channels and frequency rows of the conv stack's output (the time axis varies), for stand-ins.
        self._trunk_shape = next((tuple(i.shape[1:3]) for i in sessions["main"].get_inputs() if i.name == "trunk_seq"), ())
        self._threads = n

    def _open(self, path: Path, threads: int):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # Threads that finish their share of an operation sleep rather than spin for the next: the
        # engine's other threads (voice activity, the voice encoder) need the cores meanwhile.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3  # errors only: the exporter's graph is fine as it is
        try:
            return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - ONNX Runtime raises its own exception types for bad files
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelFileError(f"{path}: not a readable ONNX model ({first}); it may be truncated. "
                                 f"Make it again with 'ser export {self.source or 'MODEL'}'.") from exc

    def _check(self, model_path: Path, sessions: dict | None = None) -> None:
        """Each ONNX file is an export of this very model file, with the inputs and outputs it needs."""
        sessions = self._sessions if sessions is None else sessions
        sha = file_sha256(model_path)
        for part, session in sessions.items():
            path = onnx_path_for(self.onnx_path, part)
            props = session.get_modelmeta().custom_metadata_map
            try:
                info = json.loads(props.get("ser_onnx", ""))
            except json.JSONDecodeError:
                info = {}
            if info.get("format") != ONNX_FORMAT:
                raise ModelFileError(f"{path}: this ONNX file is not an export of a speech-emotion model of "
                                     f"this product; make it with 'ser export {model_path}'.")
            version = int(info.get("format_version", 0))
            if version > ONNX_FORMAT_VERSION:
                raise ModelFileError(f"{path}: the export format is newer than this program understands; "
                                     "update the program, or make the export again with this one ('ser export').")
            # Format 1 differs only for models with a voice encoder (it held it in the main graph).
            same_as_v1 = version == 1 and "part" not in info and onnx_parts(self.meta.arch) == ("main",)
            if not same_as_v1 and (version < ONNX_FORMAT_VERSION or info.get("part") != part):
                raise ModelFileError(f"{path}: an export of an earlier format, or another part of one (here the "
                                     f"{part} graph belongs); make the export again with 'ser export {model_path}'.")
            if part == "voice" and int(info.get("int8_lstm_layers", 0)) and not info.get("int8_anchored"):
                raise ModelFileError(f"{path}: an int8 voice graph without the anchor units that make its embeddings "
                                     f"independent of the batch (an early export); make it again with "
                                     f"'ser export {model_path}'.")
            if info.get("model_sha256") != sha:
                raise ModelFileError(f"{path}: this ONNX file was made from another model file than "
                                     f"{model_path.name} (or that file changed since); make it again with "
                                     f"'ser export {model_path}'.")
            missing = sorted(set(onnx_outputs(self.meta.arch, part, self._chunked)) - {o.name for o in session.get_outputs()})
            missing += sorted(set(onnx_inputs(self.meta.arch, part, self._chunked)) - {i.name for i in session.get_inputs()})
            if missing:
                raise ModelFileError(f"{path}: the ONNX file lacks the inputs or outputs {missing} its model "
                                     f"needs; make it again with 'ser export {model_path}'.")
        self._checked = model_path

    def _run(self, feed: dict[str, np.ndarray], outputs: list[str], part: str = "main") -> dict[str, np.ndarray]:
        """One run of one graph. Every input is fed: inputs this call does not use get minimal
        stand-ins (ONNX Runtime computes every node of a graph on every call)."""
        names = self._inputs[part]
        full = {name: feed[name] if name in feed else self._stand_in(name, feed) for name in names}
        values = self._sessions[part].run(outputs, full)
        return dict(zip(outputs, values, strict=True))

    def _stand_in(self, name: str, feed: dict[str, np.ndarray]) -> np.ndarray:
        """A minimal input ``name`` for a run fed ``feed`` that does not use it."""
        n = next((len(feed[k]) for k in ("index", "trunk_seq") if k in feed), 1)
        f = self.meta.features
        if name == "frames":
            return np.zeros((1, self._win), np.float32)
        if name == "cache":
            return np.zeros((0, f.n_mels), np.float32)
        if name == "index":
            return np.zeros((1, 1), np.int64)
        if name == "gain2":
            return np.ones(n, np.float32)
        if name == "has_reference":
            return np.zeros(n, np.float32)
        if name == "voice_frames":
            return np.zeros((1, 1, VOICE_N_FFT), np.float32)
        if name == "trunk_seq":
            return np.zeros((n, *self._trunk_shape, 1), np.float32)
        width = {"reference": f.n_mels, "embedding": VOICE_EMBEDDING, "centre": VOICE_EMBEDDING}[name]
        return np.zeros((n, width), np.float32)

    # -- the runtime's part of InferenceBase -------------------------------------------------
    def _window_rows(self, windows: list[np.ndarray], segments: Sequence[tuple[SegmentState, int]] | None):
        """The STFT frames the windows need, computed once: (cache rows, new frames, index (B, T),
        per-segment (state, start, row indices) to store after the run). Row indices point into
        the cache rows followed by the new frames' mel power."""
        n_frames = self.meta.features.n_frames(len(windows[0]))
        index = np.empty((len(windows), n_frames), np.int64)
        cache: list[np.ndarray] = []
        n_cache = 0
        new: list[np.ndarray] = []
        n_new = 0
        latest: dict[int, tuple[SegmentState, int, np.ndarray]] = {}
        for i, w in enumerate(windows):
            reuse = np.empty(0, np.int64)
            if segments is not None:
                seg, start = segments[i]
                base, rows = (latest[id(seg)][1], latest[id(seg)][2]) if id(seg) in latest else (None, None)
                if base is None and seg.mel is not None and seg.mel_start is not None:
                    base, rows = seg.mel_start, np.arange(n_cache, n_cache + len(seg.mel))
                    cache.append(seg.mel)
                    n_cache += len(seg.mel)
                if base is not None and start >= base and (start - base) % self._hop == 0:
                    offset = (start - base) // self._hop
                    reuse = rows[offset:offset + n_frames]
            fresh = n_frames - len(reuse)
            if fresh:
                view = np.lib.stride_tricks.sliding_window_view(w[self._offset:], self._win)[::self._hop]
                new.append(view[len(reuse):n_frames])
                reuse = np.concatenate([reuse, -1 - np.arange(n_new, n_new + fresh)])  # new rows, renumbered below
                n_new += fresh
            index[i] = reuse
            if segments is not None:
                latest[id(seg)] = (seg, start, index[i])
        index[index < 0] = n_cache - 1 - index[index < 0]
        frames = np.concatenate(new).astype(np.float32, copy=False) if new else np.zeros((0, self._win), np.float32)
        cached = np.concatenate(cache) if cache else np.zeros((0, self.meta.features.n_mels), np.float32)
        return cached, frames, index, latest

    def _trunk_seq(self, windows: list[np.ndarray], segments: Sequence[tuple[SegmentState, int]] | None) -> np.ndarray:
        """Chunked features: each window's chunks through the conv stack, side by side (B, C, F', T).
        A segment's whole chunks are computed once: windows take the chunks they share with the
        segment's earlier windows (``SegmentState.chunks``, which keeps those that start at or after
        the latest window) or with windows of the same call."""
        f = self.meta.features
        size = f.chunk_samples
        bounds = f.chunk_bounds(len(windows[0]))
        maps: dict[tuple, np.ndarray] = {}
        todo: dict[int, dict[tuple, np.ndarray]] = {}  # chunk length -> key -> samples
        keys: list[list[tuple]] = []
        latest: dict[int, tuple[SegmentState, int]] = {}
        for i, w in enumerate(windows):
            seg, start = segments[i] if segments is not None else (None, 0)
            row = []
            for s, e in bounds:
                if seg is not None and e - s == size:
                    key: tuple = (id(seg), start + s)
                    if key not in maps:
                        kept = seg.chunks.get(start + s)
                        if kept is not None:
                            maps[key] = kept
                        else:
                            todo.setdefault(size, {}).setdefault(key, w[s:e])
                else:
                    key = ("window", i, s)
                    todo.setdefault(e - s, {})[key] = w[s:e]
                row.append(key)
            keys.append(row)
            if seg is not None:
                previous = latest.get(id(seg))
                latest[id(seg)] = (seg, start if previous is None else max(start, previous[1]))
        for group in todo.values():
            out = self._run(chunk_feed(list(group.values()), f), ["trunk"], "trunk")["trunk"]
            maps.update(zip(group.keys(), out))
        for seg, start in latest.values():  # windows come in order: chunks before the latest one's start are done
            kept = {s: m for s, m in seg.chunks.items() if s >= start}  # another hop's grid (e.g. 0.25 s) too
            kept.update((k[1], m) for k, m in maps.items() if k[0] == id(seg) and k[1] >= start)
            seg.chunks = kept
        # Each window's chunks side by side along time, written into one array: concatenating along
        # the last axis and then stacking copied everything twice, in pieces of a few floats, and
        # took about 5 times as long for the engine's batches of 16 windows.
        first = maps[keys[0][0]]  # the windows are of one length, so their chunks are alike
        out = np.empty((len(keys), *first.shape[:-1], sum(maps[k].shape[-1] for k in keys[0])), first.dtype)
        for i, row in enumerate(keys):
            t = 0
            for k in row:
                width = maps[k].shape[-1]
                out[i, ..., t:t + width] = maps[k]
                t += width
        return out

    def _network(self, windows: list[np.ndarray], references: np.ndarray | None,
                 segments: Sequence[tuple[SegmentState, int]] | None, embeddings: np.ndarray | None = None,
                 centres: np.ndarray | None = None) -> dict[str, np.ndarray]:
        f = self.meta.features
        if self._chunked:
            return self._heads({"trunk_seq": self._trunk_seq(windows, segments)}, [], embeddings, centres)
        cached, frames, index, latest = self._window_rows(windows, segments)
        if f.level_norm_dbfs is None:
            gain2 = np.ones(len(windows), np.float32)
        else:
            gain2 = level_gains(np.stack(windows).astype(np.float32, copy=False), f.level_norm_dbfs, self._hop) ** 2
        feed = {"frames": frames, "cache": cached, "index": index, "gain2": gain2}
        if references is not None:
            feed["reference"] = references.astype(np.float32)
            feed["has_reference"] = np.ones(len(windows), np.float32)
        out = self._heads(feed, ["mel_power"], embeddings, centres)
        if latest:  # each segment keeps its latest window's frames for the windows after it
            rows = np.concatenate([cached, out["mel_power"]])
            for seg, start, idx in latest.values():
                seg.mel_start, seg.mel = start, rows[idx]
        return out

    def _heads(self, feed: dict[str, np.ndarray], outputs: list[str], embeddings: np.ndarray | None,
               centres: np.ndarray | None) -> dict[str, np.ndarray]:
        """The main graph's run: the heads' outputs (see :meth:`InferenceBase._network`), and ``outputs``."""
        outputs = [*outputs, "emotion", "gender", "dimensions", *(h[0] for h in self.meta.arch.extra_heads)]
        if embeddings is not None:
            feed["embedding"] = embeddings.astype(np.float32)
            kind = "raw" if centres is None else "centred"
            if centres is not None:
                feed["centre"] = centres.astype(np.float32)
            outputs += [f"voice_emotion_{kind}", f"voice_dimensions_{kind}", "voice_male"]
        out = self._run(feed, outputs)
        if embeddings is not None:
            out["voice_emotion"] = out.pop(f"voice_emotion_{kind}")
            out["voice_dimensions"] = out.pop(f"voice_dimensions_{kind}")
        return out

    def _embeddings(self, prepared: list[np.ndarray]) -> list[np.ndarray]:
        if not prepared:
            return []
        counts = [voice_partial_count(len(w)) for w in prepared]
        frames = np.empty((sum(counts), VOICE_PARTIAL_FRAMES, VOICE_N_FFT), np.float32)
        k = 0
        for w, n in zip(prepared, counts, strict=True):
            voice_partials(w, frames[k:k + n])
            k += n
        partials = self._run({"voice_frames": frames}, ["voice_partials"], "voice")["voice_partials"]
        out, k = [], 0
        for n in counts:
            mean = partials[k:k + n].mean(axis=0)
            out.append((mean / max(float(np.linalg.norm(mean)), 1e-8)).astype(np.float32))
            k += n
        return out

    def _mean_logmel(self, window: np.ndarray) -> np.ndarray:
        f = self.meta.features
        n = f.n_frames(len(window))
        gain2 = 1.0 if f.level_norm_dbfs is None else level_gain(window, f.level_norm_dbfs, self._hop) ** 2
        view = np.lib.stride_tricks.sliding_window_view(window[self._offset:], self._win)[::self._hop][:n]
        power = self._run({"frames": np.ascontiguousarray(view, dtype=np.float32)}, ["mel_power"])["mel_power"]
        return np.log(power * np.float32(gain2) + np.float32(f.log_floor)).mean(axis=0).astype(np.float32)

    def voice_gender_batch(self, waveforms: Sequence[np.ndarray],
                           sample_rate: int = SAMPLE_RATE_HZ) -> list[np.ndarray] | None:
        if not self.has_voice:
            return None
        embeddings = self._embeddings([self._prepare(w, sample_rate) for w in waveforms])
        if not embeddings:
            return []
        p_male = self._run({"embedding": np.stack(embeddings)}, ["voice_male"])["voice_male"]
        return [np.array([1 - p, p], dtype=np.float32) for p in p_male]


def _model_file(path: str | os.PathLike) -> Path:
    model_path = resolve_model_path(path)
    if model_path.is_dir():
        raise ModelFileError(f"{model_path}: is a folder; pass the model file inside it (a .safetensors file) or 'default'.")
    if not model_path.is_file():
        raise ModelFileError(f"{model_path}: model file not found. Pass an existing .safetensors file or 'default'.")
    return model_path


def torch_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def nvidia_driver_present() -> bool:
    """An NVIDIA driver is loaded (what CUDA needs): known without importing torch, which takes seconds."""
    return Path("/proc/driver/nvidia/version").exists() or Path("/dev/nvidiactl").exists()


def cuda_available() -> bool:
    """A CUDA GPU and a torch build that uses it (torch is imported only when both could be there)."""
    if not torch_available() or not nvidia_driver_present():
        return False
    import torch

    return bool(torch.cuda.is_available())


def check_device(device: str) -> None:
    """Refuse a device name that is not cpu, cuda or auto, or CUDA where there is none, with what to do."""
    device = str(device)
    if device in ("auto", "cpu"):
        return
    if not (device == "cuda" or device.startswith("cuda:")):
        raise ComputeDeviceError(f"--device {device}: this program runs on cpu or cuda; use auto, cpu or cuda.")
    if not cuda_available():
        raise ComputeDeviceError(f"--device {device}: no CUDA GPU is available here (or torch with CUDA is not "
                                 "installed); use --device cpu, or auto to take a GPU when there is one.")


def load_predictor(path: str | os.PathLike = "default", device: str = "auto", runtime: str = "auto",
                   threads: int = 0):
    """The predictor for a model file: ONNX Runtime on the CPU when the model has its export beside
    it, torch for CUDA (``device`` cuda, or auto with a GPU and torch's CUDA build present) or when
    ``runtime`` says so. Raises :class:`ModelFileError` or :class:`ComputeDeviceError` with what to do."""
    if runtime not in RUNTIMES:
        raise ComputeDeviceError(f"--runtime {runtime}: use one of {', '.join(RUNTIMES)}.")
    device = str(device)
    check_device(device)
    want_torch = runtime == "torch" or device.startswith("cuda") or (device == "auto" and runtime == "auto"
                                                                      and cuda_available())
    if runtime == "auto" and not want_torch and not onnx_path_for(_model_file(path)).is_file() and torch_available():
        want_torch = True  # a model without an export still runs, in torch
    if want_torch:
        if not torch_available():
            raise ComputeDeviceError("this needs torch, which is not installed: install the training flavour "
                                     "(pip install 'speech-emotion-analyzer[train]'), or use --runtime onnx on the CPU.")
        from model.predictor import Predictor

        predictor = Predictor.load(path, device=device)
        if threads:
            predictor.threads = threads
        return predictor
    if runtime == "onnx" and device.startswith("cuda"):
        raise ComputeDeviceError("--runtime onnx runs on the CPU; use --runtime torch for --device cuda.")
    return OnnxPredictor.load(path, threads=threads)
