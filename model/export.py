"""Export a model to ONNX, for the torch-free runtime (model/runtime.py).

The ONNX file sits beside the safetensors file (same stem, ``.onnx``) and carries the same metadata
(``ser`` in its metadata properties) plus the SHA-256 of the safetensors file it was made from, so
the runtime can tell a stale or foreign ONNX file from the right one. Its graphs hold everything the
runtime computes, the front ends included, built here from the torch modules so that the one
:class:`FeatureConfig` and the one network keep defining the numbers. The main graph (``STEM.onnx``):

- the log-mel front end, split where overlapping windows can share work: ``frames`` (K, win_length),
  the samples of K new STFT frames, give ``mel_power`` (K, n_mels) (a DFT as two steps of matrix
  products with the Hann window folded in, then the mel filterbank: :class:`_PowerMel`); each window's log-mel is then gathered from
  rows computed earlier (``cache``) and now, by ``index`` (B, T), scaled by its level-normalisation
  gain squared (``gain2``, B) and logged;
- the emotion network(s) on that log-mel (``emotion``, ``gender``, ``dimensions`` and extra heads,
  as the torch model returns them); speaker-normalised models also take ``reference`` (B, n_mels)
  and ``has_reference`` (B,);
- models with a voice encoder: ``embedding`` (B, 256) gives ``voice_male`` (B,), and for
  voice-emotion models with ``centre`` (B, 256) the voice heads' raw and centred outputs.

Models with chunked features (``FeatureConfig.chunk_ms``) split the networks instead, so that a
segment's chunks are computed once however many windows share them: the trunk graph
(``STEM.trunk.onnx``) takes ``chunk_frames`` (N, F, win_length), the STFT frames of N chunks of
equal length, and ``chunk_gain2`` (N,), each chunk's level-normalisation gain squared, and gives
``trunk`` (N, C, F', T'), each chunk's conv-stack output (the members' side by side in C for an
ensemble); the main graph then takes ``trunk_seq`` (B, C, F', T), each window's chunks side by side
in time, in place of ``frames``, ``cache``, ``index`` and ``gain2``, and has no ``mel_power``.

Models with a voice encoder have a second graph (``STEM.voice.onnx``): ``voice_frames`` (P, 160, 400),
the STFT frames of P partials of 1.6 s, give ``voice_partials`` (P, 256), unit embeddings. It is a
graph of its own because ONNX Runtime runs every node of a graph on every call: calls that need only
the networks, or only the voice encoder, then compute nothing else (the runtime feeds minimal
stand-ins for the inputs of a graph a call does not use).

By default the voice encoder's LSTM layers after the first run in int8 (ONNX Runtime's dynamic
quantisation: weights int8 per output channel, each step's inputs quantised on the fly), which
makes the encoder about 1.6 times faster on the CPU. Every layer of that graph carries two extra
hidden units held at +1 and -1 (:class:`_AnchoredLSTM`), which fix the quantisation's scale, so a
window's embedding does not depend on the windows computed in the same call. The embeddings differ
slightly from torch's (cosine similarity about 0.999 on real clips); what that changes in accuracy
is in the model card. The first layer stays in float: its inputs are mel power, whose range one
8-bit scale cannot hold (quantised, the embeddings lose their meaning).

The conv stack's convolutions (but each network's first) run in int8 too when the model file holds
their activation ranges (``ModelMeta.int8``, measured on its training speech when it is trained, or
by ``ser export --calibrate``): fixed ranges, so a chunk's numbers do not depend on the chunks
computed with it (see "the conv stack in int8" below; about 1.7 times faster for the conv stack).

``int8=False`` (``ser export --exact``) writes every graph in float, which gives torch's outputs to
about 1e-6.
"""

from __future__ import annotations

import copy
import io
import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from model.errors import ModelFileError
from model.files import atomic_write, file_sha256, signals_deferred
from model.meta import (
    ONNX_FORMAT,
    ONNX_FORMAT_VERSION,
    ONNX_PARTS,
    ModelMeta,
    check_int8_range,
    onnx_inputs,
    onnx_outputs,
    onnx_parts,
    onnx_path_for,
)

OPSET = 17


def dft_basis(n_fft: int, win_length: int, window: torch.Tensor) -> torch.Tensor:
    """(win_length, 2 * bins): the one-sided DFT of an ``n_fft`` frame whose only non-zero samples
    are the ``win_length`` centred ones, times the window (real parts, then imaginary)."""
    offset = (n_fft - win_length) // 2
    n = torch.arange(win_length, dtype=torch.float64)[:, None] + offset
    k = torch.arange(n_fft // 2 + 1, dtype=torch.float64)[None, :]
    angle = 2 * torch.pi * n * k / n_fft
    w = window.to(torch.float64)[:, None]
    return torch.cat([torch.cos(angle) * w, -torch.sin(angle) * w], dim=1).float()


def dft_split(n_fft: int) -> int:
    """The stride ``a`` of the two-step DFT of :class:`_PowerMel` (``n_fft = a * b``): the divisor
    of ``n_fft`` nearest its square root, where the two steps cost about the same; 0 when
    ``n_fft`` has no divisor but 1 and itself."""
    divisors = [a for a in range(2, n_fft) if n_fft % a == 0]
    return min(divisors, key=lambda a: (abs(a * a - n_fft), a)) if divisors else 0


class _PowerMel(nn.Module):
    """Windowed frames (..., win_length) -> mel power (..., n_mels).

    The DFT is computed in two steps of matrix products, as a fast Fourier transform splits it
    (Cooley-Tukey), which needs 3-4 times fewer multiplications than one (win_length, n_fft + 2)
    product: with ``n_fft = a * b`` and sample index ``n = a * j + r``, step one transforms, for
    each residue ``r``, the samples ``j`` with the twiddle factors and the window folded in (one
    batched product over ``r``); step two combines the ``a`` residues of each output frequency
    ``k = k1 + b * k2`` (one product for all frames). The frame's samples sit at the start of the
    ``n_fft`` frame instead of its centre: a circular shift changes the phases and not the power.
    Bins are kept in the steps' order (k2, k1) and the mel filterbank's rows are put in that order
    (zero for the bins past ``n_fft / 2``, which step two also yields). The numbers are those of
    the direct DFT to about 1e-6 relative; ONNX Runtime computes them about twice as fast."""

    def __init__(self, n_fft: int, win_length: int, window: torch.Tensor, filterbank: torch.Tensor):
        super().__init__()
        bins = n_fft // 2 + 1
        a = dft_split(n_fft)
        self.split = a
        if not a:  # a prime length: the direct DFT
            self.register_buffer("basis", dft_basis(n_fft, win_length, window))
            self.register_buffer("filterbank", filterbank.float())
            return
        b = n_fft // a
        self.rows = -(-win_length // a)  # values of j that hold samples
        self.pad = self.rows * a - win_length
        w = torch.zeros(self.rows * a, dtype=torch.float64)
        w[:win_length] = window.to(torch.float64)
        n = (torch.arange(self.rows)[None, :] * a + torch.arange(a)[:, None])  # (a, rows): sample of (r, j)
        angle = -2 * torch.pi * n[:, :, None].to(torch.float64) * torch.arange(b, dtype=torch.float64) / n_fft
        wn = w[n][:, :, None]
        # (2, a, rows, b): step one's real and imaginary parts for each residue r
        self.register_buffer("step1", torch.stack([torch.cos(angle) * wn, torch.sin(angle) * wn]).float())
        self.k2 = (bins - 1) // b + 1  # values of k2 with k1 + b * k2 <= n_fft / 2 for some k1
        angle2 = -2 * torch.pi * torch.arange(self.k2, dtype=torch.float64)[:, None] * torch.arange(a) / a
        c, s = torch.cos(angle2), torch.sin(angle2)
        # (2 * k2, 2 * a): [real; imaginary] of X = (c + i s) Z, Z's real parts then imaginary parts
        self.register_buffer("step2", torch.cat([torch.cat([c, -s], 1), torch.cat([s, c], 1)], 0).float())
        fb = torch.zeros(self.k2, b, filterbank.shape[1], dtype=torch.float64)
        k = torch.arange(self.k2)[:, None] * b + torch.arange(b)[None, :]  # (k2, k1) -> bin
        fb[k < bins] = filterbank.to(torch.float64)[k[k < bins]]
        self.register_buffer("filterbank", fb.reshape(self.k2 * b, -1).float())
        self.b = b

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        if not self.split:
            spec = torch.matmul(frames, self.basis)
            bins = spec.shape[-1] // 2
            re, im = spec[..., :bins], spec[..., bins:]
            return torch.matmul(re * re + im * im, self.filterbank)
        lead = frames.shape[:-1]
        x = frames.reshape(-1, frames.shape[-1])
        if self.pad:
            x = nn.functional.pad(x, (0, self.pad))
        f = x.shape[0]  # sizes are spelled out, not -1: a call may bring no new frame (F = 0)
        x = x.reshape(f, self.rows, self.split).permute(2, 0, 1)  # (a, F, rows)
        z = torch.matmul(x, self.step1).reshape(2 * self.split, f * self.b)  # real parts, then imaginary
        y = torch.matmul(self.step2, z)  # (2 * k2, F * b)
        re, im = y[:self.k2], y[self.k2:]
        power = (re * re + im * im).reshape(self.k2, f, self.b).transpose(0, 1).reshape(f, self.k2 * self.b)
        return torch.matmul(power, self.filterbank).reshape(*lead, self.filterbank.shape[1])


# Two extra hidden units per LSTM layer of the int8 voice graph (see _AnchoredLSTM), held at the
# largest and smallest value an LSTM output can take: gates saturated by these biases, cell states
# started far into tanh's flat part.
ANCHOR_BIAS = 30.0
ANCHOR_CELL = 20.0


class _AnchoredLSTM(nn.Module):
    """A batch-first multi-layer :class:`nn.LSTM` (or a pruned encoder's :class:`model.voice.StackedLSTM`)
    as single layers with two extra hidden units each,
    one held at +1 and one at -1 (saturated gates, zero weights, so they never touch the real units,
    and the next layer ignores them), returning the last layer's final hidden state of the real
    units: the same numbers as the plain LSTM.

    Why: ONNX Runtime's dynamic int8 LSTM quantises each step's inputs and hidden states with a
    scale taken from their range over the whole batch, so a row's result would depend on the rows
    beside it. With one unit at the top and one at the bottom of every layer's output range, that
    range, and with it the scale, is the same in every call: a window's voice embedding no longer
    depends on the windows computed with it."""

    def __init__(self, lstm: nn.Module):
        super().__init__()
        from model.voice import StackedLSTM, lstm_layers

        plain = isinstance(lstm, nn.LSTM)
        if plain and not (lstm.batch_first and not lstm.bidirectional and lstm.proj_size == 0 and lstm.bias):
            raise ValueError("anchoring needs a batch-first, one-directional LSTM with biases and no projection")
        if not (plain or isinstance(lstm, StackedLSTM)):
            raise ValueError("anchoring needs an nn.LSTM or a StackedLSTM")
        self.layers = nn.ModuleList()
        below = None
        for k, params in enumerate(lstm_layers(lstm)):
            w_ih, w_hh, b_ih, b_hh = (t.detach() for t in params)
            h = w_hh.shape[1]
            layer = nn.LSTM(w_ih.shape[1] if below is None else below + 2, h + 2, 1, batch_first=True)
            new = {name: torch.zeros_like(p) for name, p in layer.named_parameters()}
            for gate in range(4):  # torch's gate order: input, forget, cell, output
                src, real = slice(gate * h, (gate + 1) * h), slice(gate * (h + 2), gate * (h + 2) + h)
                new["weight_ih_l0"][real, :w_ih.shape[1]] = w_ih[src]  # anchor inputs (not the first layer's) get weight 0
                new["weight_hh_l0"][real, :h] = w_hh[src]
                new["bias_ih_l0"][real], new["bias_hh_l0"][real] = b_ih[src], b_hh[src]
                anchors = slice(gate * (h + 2) + h, (gate + 1) * (h + 2))
                new["bias_ih_l0"][anchors] = -ANCHOR_BIAS if gate == 0 else ANCHOR_BIAS  # input gate shut, others open
            layer.load_state_dict(new)
            self.layers.append(layer)
            self.register_buffer(f"c0_{k}", torch.cat([torch.zeros(h), torch.tensor([ANCHOR_CELL, -ANCHOR_CELL])]))
            below = h
        self.hidden = below

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for k, layer in enumerate(self.layers):
            c0 = getattr(self, f"c0_{k}").expand(1, x.shape[0], -1).contiguous()
            x, (hidden, _) = layer(x, (torch.tanh(c0), c0))
        return hidden[0, :, :self.hidden]


class OnnxGraph(nn.Module):
    """One inference graph of a model, ``part`` "main" or "voice" (see the module docstring for their
    inputs and outputs)."""

    def __init__(self, net: nn.Module, part: str = "main", anchored: bool = False):
        super().__init__()
        self.net = net
        self.part = part
        features = net.features
        self.chunked = features.chunk_samples > 0
        self.members = list(net.members) if hasattr(net, "members") else [net]
        spectrogram = net.logmel.mel.spectrogram
        self.log_floor = float(features.log_floor)
        self.mel = _PowerMel(features.n_fft, features.win_length, spectrogram.window,
                             net.logmel.mel.mel_scale.fb)
        self.voice = getattr(net, "voice", None)
        self.voice_emotion = self.voice is not None and bool(net.arch.voice_emotion)
        if self.voice is not None:
            vs = self.voice.mel.spectrogram
            self.voice_mel = _PowerMel(vs.n_fft, vs.win_length, vs.window, self.voice.mel.mel_scale.fb)
            self.voice_lstm = _AnchoredLSTM(self.voice.lstm) if anchored else None

    def input_names(self) -> list[str]:
        return onnx_inputs(self.net.arch, self.part, self.chunked)

    def output_names(self) -> list[str]:
        return onnx_outputs(self.net.arch, self.part, self.chunked)

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = dict(zip(self.input_names(), inputs, strict=True))
        if self.part == "voice":
            v = self.voice
            mel = self.voice_mel(x["voice_frames"])
            if self.voice_lstm is not None:
                last = self.voice_lstm(mel)
            else:
                _, (hidden, _) = v.lstm(mel)
                last = hidden[-1]
            e = torch.relu(v.linear(last))
            return (e / torch.clamp(e.norm(dim=1, keepdim=True), min=1e-8),)
        if self.part == "trunk":  # chunks' frames -> each member's conv stack output, side by side in channels
            power = self.mel(x["chunk_frames"])
            logmel = torch.log(power * x["chunk_gain2"][:, None, None] + self.log_floor).transpose(1, 2)
            return (torch.cat([m.trunk(m.normalise(logmel)) for m in self.members], dim=1),)
        if self.chunked:
            seq = x["trunk_seq"]
            width = seq.shape[1] // len(self.members)
            outs = [m.head(seq[:, i * width:(i + 1) * width]) for i, m in enumerate(self.members)]
            out = outs[0] if len(outs) == 1 else self.net.merge(outs)
            result = []
        else:
            power = self.mel(x["frames"])
            rows = torch.cat([x["cache"], power], dim=0)
            logmel = torch.log(rows[x["index"]] * x["gain2"][:, None, None] + self.log_floor).transpose(1, 2)
            out = self.net.forward_logmel(logmel, x.get("reference"), x.get("has_reference"))
            result = [power]
        result += [out["emotion"], out["gender"], out["dimensions"], *(out[h[0]] for h in self.net.arch.extra_heads)]
        if self.voice is not None:
            v = self.voice
            emb = x["embedding"]
            result.append(torch.sigmoid(v.gender(emb))[:, 0])
            if self.voice_emotion:
                centred = emb - x["centre"]
                result += [v.emotion_raw(emb), v.dimensions_raw(emb), v.emotion_centred(centred),
                           v.dimensions_centred(centred)]
        return tuple(result)

    def example_inputs(self) -> tuple[torch.Tensor, ...]:
        f = self.net.features
        t = f.n_frames(32000)
        ex = {}
        if self.chunked:
            cf = f.chunk_frames(f.chunk_samples)
            ex["chunk_frames"], ex["chunk_gain2"] = torch.randn(2, cf, f.win_length) * 0.05, torch.ones(2)
            if self.part == "main":
                with torch.no_grad():
                    trunk = OnnxGraph(self.net, "trunk")(ex["chunk_frames"], ex["chunk_gain2"])[0]
                ex["trunk_seq"] = torch.cat([trunk, trunk], dim=3)
        ex |= {"frames": torch.randn(t, f.win_length) * 0.05, "cache": torch.zeros(0, f.n_mels),
              "index": torch.arange(t)[None].repeat(2, 1), "gain2": torch.ones(2),
              "reference": torch.zeros(2, f.n_mels), "has_reference": torch.ones(2),
              "voice_frames": torch.randn(1, 160, 400) * 0.05, "embedding": torch.randn(2, 256),
              "centre": torch.randn(2, 256)}
        return tuple(ex[n] for n in self.input_names())

    def dynamic_axes(self) -> dict:
        axes = {"frames": {0: "new_frames"}, "cache": {0: "cached_frames"}, "index": {0: "windows", 1: "time"},
                "gain2": {0: "windows"}, "reference": {0: "windows"}, "has_reference": {0: "windows"},
                "voice_frames": {0: "partials", 1: "voice_time"}, "embedding": {0: "windows"},
                "centre": {0: "windows"}, "mel_power": {0: "new_frames"}, "voice_partials": {0: "partials"},
                "voice_male": {0: "windows"}, "chunk_frames": {0: "chunks", 1: "chunk_frames"},
                "chunk_gain2": {0: "chunks"}, "trunk": {0: "chunks", 3: "chunk_time"},
                "trunk_seq": {0: "windows", 3: "time"}}
        for name in self.output_names():
            axes.setdefault(name, {0: "windows"})
        return {k: v for k, v in axes.items() if k in self.input_names() + self.output_names()}


def quantize_voice_lstm(proto, skip_first: int = 1):
    """The voice graph ``proto`` with its LSTM layers after the first ``skip_first`` in int8 (see the
    module docstring). Returns (the new graph, how many layers were quantised)."""
    import logging
    import tempfile

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    layers = [n.name for n in proto.graph.node if n.op_type == "LSTM"][skip_first:]
    if not layers:
        return proto, 0
    previous_level = logging.getLogger().level
    # The quantiser logs its advice on pre-processing on the root logger; it is not for users.
    logging.getLogger().setLevel(logging.ERROR)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            src, dst = Path(tmp) / "float.onnx", Path(tmp) / "int8.onnx"
            src.write_bytes(proto.SerializeToString())
            quantize_dynamic(src, dst, op_types_to_quantize=["LSTM"], nodes_to_quantize=layers,
                             per_channel=True, weight_type=QuantType.QInt8)
            quantized = onnx.load(str(dst))
    finally:
        logging.getLogger().setLevel(previous_level)
    if sum(n.op_type == "DynamicQuantizeLSTM" for n in quantized.graph.node) != len(layers):
        raise RuntimeError("the voice encoder's LSTM layers were not quantised as planned")
    return quantized, len(layers)


def _export_graph(graph: OnnxGraph):
    """One graph of the export as an ONNX ModelProto, traced from the torch modules."""
    import onnx

    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notes on traced shapes and LSTM batch sizes
        torch.onnx.export(graph, graph.example_inputs(), buffer, dynamo=False, opset_version=OPSET,
                          input_names=graph.input_names(), output_names=graph.output_names(),
                          dynamic_axes=graph.dynamic_axes(), do_constant_folding=True)
    return onnx.load_from_string(buffer.getvalue())


# -- the conv stack in int8 --------------------------------------------------------------------
#
# The trunk graph's convolutions, but for each network's first (its input is the log-mel, one
# channel: in int8 it cost more than it saved), run in int8: weights int8 per output channel (in 7
# bits, WEIGHT_LEVELS), activations uint8 on one fixed range per tensor, measured on speech when the model is trained
# (:func:`calibrate_trunk`) and kept in its metadata (``int8["trunk_ranges"]``: for each such
# convolution, in the graph's order, [input low, input high, output low, output high]). ONNX Runtime
# runs each as one QLinearConv. Fixed ranges, unlike the voice encoder's dynamic int8, make a chunk's
# numbers independent of the chunks computed with it. What it changes in accuracy is in the model card.

CALIBRATION_CHUNKS = 4000  # at most this many chunks of speech set the ranges (evenly spread)
# Weights in 7 bits (-63..63): on x86 CPUs without VNNI, ONNX Runtime multiplies uint8 activations by
# int8 weights with an instruction that adds pairs of products in 16 bits, which 255 * 127 * 2
# overflows (it saturates); 255 * 63 * 2 does not. With VNNI (and on ARM) 8 bits would be exact too,
# but the export must give the same numbers on every CPU.
WEIGHT_LEVELS = 63
CALIBRATION_BATCH = 64


def _weights(proto) -> dict:
    """The graph's constant tensors by name: its initializers, Constant nodes' values, and what
    Identity nodes pass on of them (the exporter shares a tensor that two members hold alike so)."""
    from onnx import numpy_helper

    found = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    for node in proto.graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            found[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
        elif node.op_type == "Identity" and node.input[0] in found:
            found[node.output[0]] = found[node.input[0]]
    return found


def quantizable_convs(proto) -> list:
    """The Conv nodes of a trunk graph that run in int8 (see above)."""
    weights = _weights(proto)
    convs = []
    for node in proto.graph.node:
        if node.op_type != "Conv":
            continue
        w = weights.get(node.input[1])
        if w is None or w.ndim != 4:
            raise RuntimeError(f"the conv stack's convolution {node.name} has no constant 2-d weights")
        if w.shape[1] > 1:
            convs.append(node)
    return convs


def conv_ranges(proto, feeds) -> list[list[float]]:
    """[input low, input high, output low, output high] of each of :func:`quantizable_convs`, over
    the float trunk graph ``proto`` run on ``feeds`` (the graph's inputs, as
    :func:`model.runtime.chunk_feed` makes them)."""
    import onnx
    import onnxruntime as ort

    probe = copy.deepcopy(proto)
    convs = quantizable_convs(probe)
    names = [name for node in convs for name in (node.input[0], node.output[0])]
    probe.graph.output.extend(onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None) for n in names)
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    low, high = np.full(len(names), np.inf), np.full(len(names), -np.inf)
    for feed in feeds:
        for k, value in enumerate(session.run(names, feed)):
            low[k], high[k] = min(low[k], float(value.min())), max(high[k], float(value.max()))
    if not np.isfinite(low).all():
        raise ValueError("no speech to calibrate the conv stack's int8 ranges on")
    return [[low[2 * k], high[2 * k], low[2 * k + 1], high[2 * k + 1]] for k in range(len(convs))]


class NoCalibrationSound(ValueError):
    """The waveforms given to :func:`calibrate_trunk` hold no whole chunk of sound."""


def calibration_chunks(waveforms, features, limit: int = CALIBRATION_CHUNKS) -> list[np.ndarray]:
    """The whole chunks (``features.chunk_samples``, on the chunk grid) of the audible part of each
    16-kHz waveform, digital silence left out; at most ``limit``, evenly spread over them all."""
    from model.audio import speech_bounds

    size = features.chunk_samples
    chunks = []
    for w in waveforms:
        start, end = speech_bounds(w)
        chunks += [c for s in range(start, end - size + 1, size) if np.abs(c := w[s:s + size]).max() > 0]
    if len(chunks) > limit:
        chunks = [chunks[i] for i in np.linspace(0, len(chunks) - 1, limit).round().astype(int)]
    return chunks


def calibrate_trunk(net: nn.Module, waveforms) -> dict:
    """The int8 ranges of a chunked network's conv stack (what ``ModelMeta.int8`` keeps), measured on
    ``waveforms``: 16-kHz speech like the model's training data (its training clips). Raises
    :class:`NoCalibrationSound` when they hold no whole chunk of speech, ValueError for a network
    without chunks."""
    from model.features import chunk_feed

    net = copy.deepcopy(net).cpu().eval()
    features = net.features
    if features.chunk_samples <= 0:
        raise ValueError("only a model with chunked features has a conv stack graph to run in int8")
    chunks = calibration_chunks(waveforms, features)
    if not chunks:
        raise NoCalibrationSound("no whole chunk of speech to calibrate the conv stack's int8 ranges on")
    proto = _export_graph(OnnxGraph(net, "trunk").eval())
    feeds = (chunk_feed(chunks[i:i + CALIBRATION_BATCH], features) for i in range(0, len(chunks), CALIBRATION_BATCH))
    return {"trunk_ranges": conv_ranges(proto, feeds), "calibration_chunks": len(chunks)}


def _uint8_scale(low: float, high: float) -> tuple[np.float32, np.uint8]:
    """Scale and zero point of uint8 values covering [low, high] (and 0, which must be exact)."""
    low, high = min(float(low), 0.0), max(float(high), 0.0)
    scale = (high - low) / 255.0 if high > low else 1.0
    return np.float32(scale), np.uint8(np.clip(round(-low / scale), 0, 255))


def quantize_trunk(proto, ranges: list) -> object:
    """The trunk graph ``proto`` with its :func:`quantizable_convs` in int8 on ``ranges`` (see above):
    each becomes QuantizeLinear/DequantizeLinear of its input, its weights as int8 with a
    DequantizeLinear per output channel, and QuantizeLinear/DequantizeLinear of its output, which
    ONNX Runtime fuses into one QLinearConv. Raises ValueError when ``ranges`` do not fit the graph."""
    from onnx import helper, numpy_helper

    proto = copy.deepcopy(proto)
    convs = quantizable_convs(proto)
    if len(ranges) != len(convs):
        raise ValueError(f"the model's int8 ranges are for {len(ranges)} convolutions, its conv stack has {len(convs)}")
    weights = _weights(proto)
    before: dict[str, list] = {}  # conv name -> nodes to insert before it; after it:
    after: dict[str, list] = {}
    for k, (node, r) in enumerate(zip(convs, ranges, strict=True)):
        check_int8_range(r)  # (ModelMeta checks a file's on reading; these may come from elsewhere)
        p = f"int8_conv{k}"
        node.name = node.name or p
        x_scale, x_zero = _uint8_scale(r[0], r[1])
        y_scale, y_zero = _uint8_scale(r[2], r[3])
        w = weights[node.input[1]].astype(np.float64)
        w_scale = np.abs(w.reshape(len(w), -1)).max(axis=1) / WEIGHT_LEVELS
        w_scale[w_scale == 0] = 1.0
        w_q = np.clip(np.round(w / w_scale[:, None, None, None]), -WEIGHT_LEVELS, WEIGHT_LEVELS).astype(np.int8)
        tensors = {f"{p}_x_scale": x_scale, f"{p}_x_zero": x_zero, f"{p}_y_scale": y_scale, f"{p}_y_zero": y_zero,
                   f"{p}_w": w_q, f"{p}_w_scale": w_scale.astype(np.float32), f"{p}_w_zero": np.zeros(len(w), np.int8)}
        nodes = [helper.make_node("QuantizeLinear", [node.input[0], f"{p}_x_scale", f"{p}_x_zero"], [f"{p}_xq"]),
                 helper.make_node("DequantizeLinear", [f"{p}_xq", f"{p}_x_scale", f"{p}_x_zero"], [f"{p}_x"]),
                 helper.make_node("DequantizeLinear", [f"{p}_w", f"{p}_w_scale", f"{p}_w_zero"], [f"{p}_wf"], axis=0)]
        if len(node.input) > 2 and node.input[2]:  # a bias: int32 on the product of the two scales
            b_scale = (np.float64(x_scale) * w_scale).astype(np.float32)
            b = weights[node.input[2]].astype(np.float64)
            tensors |= {f"{p}_b": np.round(b / b_scale).astype(np.int32), f"{p}_b_scale": b_scale,
                        f"{p}_b_zero": np.zeros(len(b), np.int32)}
            nodes.append(helper.make_node("DequantizeLinear", [f"{p}_b", f"{p}_b_scale", f"{p}_b_zero"], [f"{p}_bf"], axis=0))
            node.input[2] = f"{p}_bf"
        node.input[0], node.input[1] = f"{p}_x", f"{p}_wf"
        output = node.output[0]
        node.output[0] = f"{p}_y"
        before[node.name] = nodes
        after[node.name] = [helper.make_node("QuantizeLinear", [f"{p}_y", f"{p}_y_scale", f"{p}_y_zero"], [f"{p}_yq"]),
                            helper.make_node("DequantizeLinear", [f"{p}_yq", f"{p}_y_scale", f"{p}_y_zero"], [output])]
        proto.graph.initializer.extend(numpy_helper.from_array(np.asarray(v), name) for name, v in tensors.items())
    used = {name for node in proto.graph.node for name in node.input}
    kept = [i for i in proto.graph.initializer if i.name in used or i.name.startswith("int8_conv")]
    del proto.graph.initializer[:]
    proto.graph.initializer.extend(kept)  # the float weights are gone
    nodes = []
    for node in proto.graph.node:
        nodes += [*before.get(node.name, []), node, *after.get(node.name, [])]
    del proto.graph.node[:]
    proto.graph.node.extend(nodes)
    return proto


def export_onnx(net: nn.Module, meta: ModelMeta, model_path: str | os.PathLike,
                out: str | os.PathLike | None = None, int8: bool = True) -> Path:
    """Write the ONNX export of the model file ``model_path`` (whose network and metadata are
    ``net`` and ``meta``) beside it, or to ``out``, atomically: the main graph, and the graphs
    beside it (``onnx_path_for(out, part)``): the voice encoder's, with its upper LSTM layers in
    int8, and the conv stack's, in int8 when the metadata holds its ranges (``meta.int8``, see
    :func:`calibrate_trunk`); ``int8`` False writes both in float. Returns the main graph's path."""
    import onnx

    out = Path(out) if out is not None else onnx_path_for(model_path)
    sha = file_sha256(model_path)
    net = copy.deepcopy(net).cpu().eval()  # the caller's network stays as it is
    out.parent.mkdir(parents=True, exist_ok=True)
    # The voice graph first: a main graph whose voice graph is missing is refused at loading.
    parts = onnx_parts(net.arch, net.features.chunk_samples > 0)
    ranges = meta.int8.get("trunk_ranges") if int8 else None
    with signals_deferred():  # the graphs of one export written together: a stop waits for the last
        for part in reversed(parts):
            graph = OnnxGraph(net, part, anchored=int8).eval()
            proto = _export_graph(graph)
            info = {"format": ONNX_FORMAT, "format_version": ONNX_FORMAT_VERSION, "part": part,
                    "model_sha256": sha, "inputs": graph.input_names(), "outputs": graph.output_names()}
            if part == "voice":
                proto, info["int8_lstm_layers"] = quantize_voice_lstm(proto) if int8 else (proto, 0)
                info["int8_anchored"] = int8  # see _AnchoredLSTM; the runtime refuses int8 without it
            if part == "trunk":
                try:
                    proto, info["int8_convs"] = (quantize_trunk(proto, ranges), len(ranges)) if ranges else (proto, 0)
                except ValueError as exc:
                    raise ModelFileError(f"{model_path}: {exc}; calibrate again ('ser export MODEL --calibrate "
                                         "FOLDER'), or export in float ('ser export --exact').") from exc
            onnx.helper.set_model_props(proto, {"ser": meta.to_json(), "ser_onnx": json.dumps(info)})
            atomic_write(out if part == "main" else onnx_path_for(out, part), proto.SerializeToString())
        for part in set(ONNX_PARTS) - set(parts):  # an earlier export's graph this model does not have
            onnx_path_for(out, part).unlink(missing_ok=True)
    return out

