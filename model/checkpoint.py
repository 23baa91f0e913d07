"""The model file: one safetensors file holding the weights plus JSON metadata in its header.

Loading never executes code: safetensors stores raw tensors and a JSON header, nothing else.
The metadata (key ``ser``) carries the label list, feature settings, architecture, training
corpora and licences, the V/A/D target source, validation metrics and the creation date.
"""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from model.errors import ModelFileError
from model.files import atomic_write, signals_deferred
from model.meta import (  # noqa: F401 - re-exported: the metadata belongs to the model file
    DEFAULT_ANALYSIS,
    DEFAULT_MODEL_PATH,
    DIMENSION_SOURCES,
    FORMAT_NAME,
    FORMAT_VERSION,
    ONNX_PARTS,
    ModelMeta,
    onnx_path_for,
    read_meta,
    resolve_model_path,
)
from model.network import SEREnsemble, SERNet, build_network


def save_model(net: SERNet | SEREnsemble, meta: ModelMeta, path: str | os.PathLike, overwrite: bool = False,
               onnx: bool = True) -> Path:
    """Write ``net`` and ``meta`` to one safetensors file, atomically (temporary file + rename), and
    with ``onnx`` its ONNX export beside it (model/export.py), which the product runs on the CPU.
    Without it, an export left beside the file from before is removed: it would be stale."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; choose another output or allow overwriting.")
    if len(meta.labels) != net.n_labels:
        raise ValueError("the label list does not match the network's emotion head")
    if not meta.created:
        meta.created = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    with signals_deferred():  # the file and its export written together (or not at all)
        atomic_write(path, save(tensors, metadata={"ser": meta.to_json()}))
        if onnx:
            from model.export import export_onnx

            export_onnx(net, meta, path)
        else:
            for part in ONNX_PARTS:
                onnx_path_for(path, part).unlink(missing_ok=True)
    return path


# Weight names of files written before the valence/arousal/dominance outputs were called "dimensions".
_OLD_KEY_PARTS = (("vad_head.", "dimensions_head."), ("voice.vad_raw.", "voice.dimensions_raw."),
                  ("voice.vad_centred.", "voice.dimensions_centred."))


def _current_key(key: str) -> str:
    for old, new in _OLD_KEY_PARTS:
        key = key.replace(old, new)
    return key


def load_model(path_or_default: str | os.PathLike = "default") -> tuple[SERNet | SEREnsemble, ModelMeta]:
    """Load a model file into a CPU network in eval mode. Raises :class:`ModelFileError`."""
    path = resolve_model_path(path_or_default)
    if path.is_dir():
        raise ModelFileError(f"{path}: is a folder; pass the model file inside it (a .safetensors file) or 'default'.")
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found. Pass an existing .safetensors file or 'default'.")
    meta = read_meta(path)
    try:
        tensors = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFileError(f"{path}: the weights cannot be read ({exc}); the file may be truncated.") from exc
    tensors = {_current_key(k): v for k, v in tensors.items()}
    try:
        net = build_network(len(meta.labels), meta.features, meta.arch)
    except ValueError as exc:
        raise ModelFileError(f"{path}: the architecture the file describes is invalid ({exc}).") from exc
    head = tensors.get("emotion_head.weight", tensors.get("members.0.emotion_head.weight"))
    if head is not None and head.shape[0] != len(meta.labels):
        raise ModelFileError(f"{path}: the file lists {len(meta.labels)} emotion labels but its network has "
                             f"{head.shape[0]} emotion outputs; the file is corrupt or was edited.")
    try:
        net.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        raise ModelFileError(
            f"{path}: the weights do not match the architecture the file describes ({str(exc).splitlines()[0]})."
        ) from exc
    for name, t in tensors.items():
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise ModelFileError(f"{path}: tensor {name!r} holds NaN or infinite values; the file is corrupt.")
    net.eval()
    return net, meta


def export_model_file(model_path: str | os.PathLike, out: str | os.PathLike | None = None,
                      int8: bool = True, calibration=None) -> Path:
    """``ser export``: write the ONNX export of an existing model file (beside it, or to ``out``;
    ``int8`` as :func:`model.export.export_onnx` takes it). ``calibration``: 16-kHz speech waveforms
    like the model's training data, on which the conv stack's int8 ranges are measured and then kept
    in the model file (rewritten atomically, the weights unchanged, with its export beside it) for
    this and later exports; ValueError when the model has no conv stack graph or they hold no whole
    chunk of speech."""
    from model.export import calibrate_trunk, export_onnx

    path = resolve_model_path(model_path)
    net, meta = load_model(path)
    try:
        if calibration is not None:
            meta.int8 = calibrate_trunk(net, calibration)
            # The model file rewritten with its export beside it (the one there was made for the file
            # before, and would be refused as stale): the export asked for, or with ``out`` the
            # default one, and then the one asked for there.
            with signals_deferred():
                save_model(net, meta, path, overwrite=True, onnx=out is not None)
                if out is None:
                    return export_onnx(net, meta, path, int8=int8)
        return export_onnx(net, meta, path, out, int8=int8)
    except OSError as exc:
        raise ModelFileError(f"{out or onnx_path_for(path)}: cannot write the ONNX file ({exc}).") from exc
