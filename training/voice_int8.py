"""Can the voice encoder's first LSTM layer run in int8? The measurement behind RESULTS.md's
"The first voice-encoder layer in int8, rotated".

The export runs the upper two of GE2E's three LSTM layers in int8 (ONNX Runtime's dynamic int8
LSTM) and keeps the first in float: its input is mel power, which spans 60-70 dB within a partial,
and ONNX Runtime quantises a step's inputs on one 8-bit scale per call. This module tries the form
that gives that layer's input term the most precision 8 bits can: the layer's input weights W
(1024 x 40) split by singular value decomposition, W = U S V^T; the input becomes u = S V^T x, a float
matrix product before the LSTM (cheap, exact), and the int8 layer's input weights become U, whose
columns are orthonormal. A quantisation error e in u then moves the gates by U e, no more than e
itself: the smallest error any linear form of the input can give for a given 8-bit step. u is
clipped to [-C, C], with two constant inputs at +C and -C beside it (zero weights) so that the
step, 2C / 255, is the same in every call, as the anchor units fix the hidden states' (model/export.py).

It prints, on the analysis windows of EmoDB and BAVED (development sets, measured and never trained
on), the embeddings' cosine similarity with the float encoder: GE2E's graph as the export quantises it
(the upper two layers in int8), then for each
C the rotated encoder in float (what the clipping alone costs) and with all three layers in int8::

    python -m training.voice_int8 --data DATA --clip 10 20 40 80 180   # DATA holds emodb/ and baved/
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn


class Encoder(nn.Module):
    """Mel power (P, T, 40) -> (P, 256) unit embeddings: ``voice``'s encoder as the export anchors it
    (model/export.py, _AnchoredLSTM); with ``clip`` > 0 its first layer's input rotated (u = S V^T x,
    clipped to [-clip, clip], with the two constant inputs), so that layer too can be quantised."""

    def __init__(self, voice, clip: float = 0.0):
        super().__init__()
        from model.export import _AnchoredLSTM

        t = voice.lstm
        self.clip = float(clip)
        if clip > 0:
            u, s, vh = torch.linalg.svd(t.weight_ih_l0.detach(), full_matrices=False)
            self.register_buffer("rotation", vh.T * s)  # x @ rotation = S V^T x
            lstm = nn.LSTM(t.input_size + 2, t.hidden_size, t.num_layers, batch_first=True)
            with torch.no_grad():
                for name, p in lstm.named_parameters():
                    p.zero_()
                    if name == "weight_ih_l0":
                        p[:, :t.input_size] = u
                    else:
                        p.copy_(getattr(t, name))
        else:
            lstm = t
        self.lstm = _AnchoredLSTM(lstm)
        self.linear = voice.linear

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = mel
        if self.clip > 0:
            u = torch.clamp(mel @ self.rotation, -self.clip, self.clip)
            bounds = torch.tensor([self.clip, -self.clip]).expand(u.shape[0], u.shape[1], 2)
            x = torch.cat([u, bounds], dim=2)
        e = torch.relu(self.linear(self.lstm(x)))
        return e / torch.clamp(e.norm(dim=1, keepdim=True), min=1e-8)


def int8_session(encoder: Encoder, skip_first: int):
    """``encoder`` exported to ONNX with its LSTM layers after the first ``skip_first`` in int8, as
    the model's export quantises them; an ONNX Runtime session of it (one thread)."""
    import onnx
    import onnxruntime as ort

    from model.export import OPSET, quantize_voice_lstm

    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notes, as in model/export.py
        torch.onnx.export(encoder, (torch.rand(2, 160, 40),), buf, input_names=["mel"], output_names=["embedding"],
                          dynamic_axes={"mel": {0: "partials"}, "embedding": {0: "partials"}}, opset_version=OPSET,
                          dynamo=False)
    proto, _ = quantize_voice_lstm(onnx.load_from_string(buf.getvalue()), skip_first=skip_first)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])


def cosines(embed, mels: np.ndarray, reference: np.ndarray, batch: int = 64) -> dict:
    """Mean, 1st percentile and least cosine of ``embed``'s embeddings of ``mels`` with ``reference``."""
    got = np.concatenate([embed(mels[s:s + batch]) for s in range(0, len(mels), batch)])
    c = np.sum(got * reference, axis=1)
    return {"mean": round(float(c.mean()), 4), "p1": round(float(np.percentile(c, 1)), 4), "min": round(float(c.min()), 4)}


def _onnx(session):
    return lambda mels: session.run(None, {"mel": mels})[0]


def _torch(encoder: Encoder):
    def embed(mels: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return encoder(torch.from_numpy(mels)).numpy()
    return embed


def _measure(embed, sets: dict) -> dict:
    return {name: cosines(embed, mels, reference) for name, (mels, reference) in sets.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.voice_int8", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, type=Path, help="a folder holding emodb/ and baved/")
    p.add_argument("--clip", type=float, nargs="+", default=[10, 20, 40, 80, 180])
    args = p.parse_args(argv)
    from training.recipes import load_corpus
    from training.voice_distill import _embed_all, _read, _window_mels, ge2e_voice

    voice = ge2e_voice()
    sets = {}
    for corpus in ("emodb", "baved"):
        entries, _ = load_corpus(corpus, args.data / corpus)
        mels = _window_mels(voice, _read(entries))
        sets[corpus] = (mels, _embed_all(voice.encode_partials, mels))
    rows = [{"encoder": "shipped: first layer float, upper two int8",
             **_measure(_onnx(int8_session(Encoder(voice).eval(), 1)), sets)}]
    for clip in args.clip:
        enc = Encoder(voice, clip).eval()
        rows.append({"encoder": f"rotated, clipped at {clip:g}, float", **_measure(_torch(enc), sets)})
        rows.append({"encoder": f"rotated, clipped at {clip:g}, all three layers int8",
                     **_measure(_onnx(int8_session(enc, 0)), sets)})
    for row in rows:
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
