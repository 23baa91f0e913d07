"""Runtime comparison: the bundled model's networks on one 2-second window, batch 1, one thread, in
each way we could run them, with how far each one's outputs are from torch's.

- torch eager (the training code's inference path), 1 and 2 threads;
- ``torch.compile`` (inductor) of the same module;
- ONNX Runtime on the exported graph (what the product runs), 1 and 2 threads;
- ONNX Runtime with the convolutions quantised to int8 (static, calibrated on real clips).

All take the same log-mel window and compute the emotion network(s) only (the front end and the voice
encoder are the same for every option and measured in bench_model). For a chunked model (0.5-s
chunks, model/logmel.py) the window is what it costs in a speech segment: its one new chunk through
the conv stack, and the heads over that and its earlier chunks' conv-stack output.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.bench_model import REPEATS, WARMUP, timed

REPO_ROOT = Path(__file__).resolve().parents[1]
CALIBRATION_CLIPS = 24


def _time(fn) -> float:
    return statistics.median(timed(fn))


def _clips() -> list[np.ndarray]:
    from model.audio import load_mono_16k

    shared = REPO_ROOT.parent / "shared" / "data" / "ravdess"
    root = shared if shared.exists() else REPO_ROOT / "tests" / "data" / "ravdess"
    paths = sorted(root.glob("Actor_*/*.flac")) + sorted(root.glob("Actor_*/*.wav"))
    return [load_mono_16k(p)[:32000] for p in paths[:: max(1, len(paths) // CALIBRATION_CLIPS)][:CALIBRATION_CLIPS]]


def _int8_convs(model: str) -> int:
    """How many convolutions the model's conv stack graph runs in int8, as its export says."""
    import json

    import onnx

    from model.meta import onnx_path_for, resolve_model_path

    props = {p.key: p.value for p in onnx.load(str(onnx_path_for(resolve_model_path(model), "trunk"))).metadata_props}
    return int(json.loads(props["ser_onnx"]).get("int8_convs", 0))


def _product_chunked(model: str, clips: list[np.ndarray], diff) -> list[tuple[str, float, float]]:
    """The product's own path for a chunked model's window in a speech segment (model/runtime.py):
    the conv-stack graph on the window's one new chunk, from its samples (log-mel front end
    included), then the heads graph over it and the earlier chunks the segment keeps, Python
    included. The window is the first clip, 0.5 s into a segment that starts with another clip."""
    from model.inference import SegmentState
    from model.runtime import load_predictor

    rows = []
    hop = 8000
    segment = np.concatenate([clips[1][:hop], clips[0]])
    for threads in (1, 2):
        p = load_predictor(model, device="cpu", runtime="onnx", threads=threads)
        int8 = _int8_convs(model)
        seg = SegmentState()
        p._network([segment[:len(clips[0])]], None, [(seg, 0)])  # the segment's first window
        earlier = dict(seg.chunks)

        def window(p=p, seg=seg, earlier=earlier):
            seg.chunks = dict(earlier)
            return p._network([clips[0]], None, [(seg, hop)])

        out = window()
        rows.append((f"the product's runtime, {threads} thread{'s' * (threads > 1)}: a new chunk's graph from its "
                     "samples" + (f" ({int8} of its convolutions in int8, as shipped)" if int8 else "")
                     + ", then the heads' graph, Python included", _time(window),
                     diff([out["emotion"], out["gender"], out["dimensions"]])))
    return rows


def run(model: str = "default") -> str:
    import onnxruntime as ort
    import torch
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    from model.checkpoint import load_model

    net, meta = load_model(model)

    cf = getattr(net, "chunk_frames", 0)
    if net.features.chunk_ms and not cf:
        return ("## Runtimes compared: the emotion networks on one 2-second window, batch 1\n\n"
                "Not measured: the bundled model is an ensemble of chunked networks, which this comparison "
                "does not lay out.\n")
    if cf:  # chunked: what a window costs in a speech segment, one new chunk's conv stack and the heads
        names = ["chunk", "earlier"]

        class Networks(torch.nn.Module):  # a window's new chunk (log-mel) and its earlier chunks' conv-stack output
            def __init__(self):
                super().__init__()
                self.net = net

            def forward(self, chunk, earlier):
                out = self.net.head(torch.cat([earlier, self.net.trunk(self.net.normalise(chunk))], dim=3))
                return out["emotion"], out["gender"], out["dimensions"]

        def inputs(logmel):
            return logmel[:, :, -cf:], net.chunk_trunks(net.normalise(logmel[:, :, :-cf]))
    else:
        names = ["logmel"]

        class Networks(torch.nn.Module):  # normalised log-mel -> the merged outputs, as the graph computes them
            def __init__(self):
                super().__init__()
                self.net = net

            def forward(self, logmel):
                out = self.net.forward_logmel(logmel)
                return out["emotion"], out["gender"], out["dimensions"]

        def inputs(logmel):
            return (logmel,)

    module = Networks().eval()
    clips = [c for c in _clips() if len(c) == 32000]
    with torch.inference_mode():
        examples = [inputs(net.logmel(torch.from_numpy(c)[None])) for c in clips]
    x = examples[0]
    with torch.inference_mode():
        ref = [o.numpy() for o in module(*x)]

    def diff(outs) -> float:
        return max(float(np.abs(np.asarray(a) - b).max()) for a, b in zip(outs, ref, strict=True))

    def feed(example) -> dict[str, np.ndarray]:
        return {n: t.numpy() for n, t in zip(names, example, strict=True)}

    rows = []
    saved = torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            with torch.inference_mode():
                rows.append((f"torch eager, {threads} thread{'s' * (threads > 1)}", _time(lambda: module(*x)), 0.0))
        torch.set_num_threads(1)
        try:
            compiled = torch.compile(module, dynamic=False)
            with torch.inference_mode():
                compiled(*x)  # compiles
                rows.append(("torch.compile (inductor), 1 thread", _time(lambda: compiled(*x)),
                             diff([o.numpy() for o in compiled(*x)])))
        except Exception as exc:  # noqa: BLE001 - a missing compiler is reported, not fatal
            rows.append((f"torch.compile: failed ({type(exc).__name__}: {str(exc).splitlines()[0][:80]})", float("nan"),
                         float("nan")))
        with tempfile.TemporaryDirectory() as tmp:
            fp32 = Path(tmp) / "net.onnx"
            with torch.no_grad():
                torch.onnx.export(module, x, str(fp32), dynamo=False, opset_version=17, input_names=names)
            first = feed(x)

            def session(path, threads):
                so = ort.SessionOptions()
                so.intra_op_num_threads = threads
                so.log_severity_level = 3
                return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])

            for threads in (1, 2):
                s = session(fp32, threads)
                what = "the same graph" if cf else "the product"
                rows.append((f"ONNX Runtime fp32, {threads} thread{'s' * (threads > 1)} ({what})",
                             _time(lambda s=s: s.run(None, first)), diff(s.run(None, first))))
            if cf:
                rows += _product_chunked(model, clips, diff)

            class Reader(CalibrationDataReader):
                def __init__(self):
                    self.items = iter([feed(e) for e in examples])

                def get_next(self):
                    return next(self.items, None)

            int8 = Path(tmp) / "net_int8.onnx"
            quantize_static(str(fp32), str(int8), Reader(), quant_format=QuantFormat.QDQ, op_types_to_quantize=["Conv"],
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True)
            s = session(int8, 1)
            rows.append(("ONNX Runtime, convolutions int8 (static, per channel), 1 thread",
                         _time(lambda: s.run(None, first)), diff(s.run(None, first))))
            with torch.inference_mode():
                agree = np.mean([np.argmax(s.run(None, feed(e))[0]) == np.argmax(module(*e)[0].numpy())
                                 for e in examples])
    finally:
        torch.set_num_threads(saved)
    lines = ["## Runtimes compared: the emotion networks on one 2-second window, batch 1\n",
             f"Model: the bundled model's {meta.arch.members} network(s), "
             + ("a window as it comes in a speech segment: the log-mel of its one new 0.5-s chunk through the conv "
                "stack, then the heads over that and the conv stack's output for its earlier chunks (computed "
                "before, as the product keeps them)" if cf else "normalised log-mel in")
             + "; outputs compared with torch eager (largest absolute difference over emotion log-probabilities, "
             "gender, V/A/D).\n",
             "| runtime | median ms | largest difference from torch |", "|---|---|---|"]
    for name, ms, d in rows:
        lines.append(f"| {name} | {ms:.2f} | {d:.1e} |")
    lines.append(f"\nThe int8 row quantises every convolution of the one graph above, calibrated on {len(examples)} real "
                 f"clips; its top class agrees with torch's on {agree:.0%} of them. "
                 + ("The product runs a chunked window as two graphs (the conv stack with its log-mel front end, then "
                    "the heads), which costs more than the one graph above; a model file with int8 ranges for its conv "
                    "stack (model/export.py) runs the convolutions after the first in int8, which is its difference "
                    "from torch (the model card gives what that changes in accuracy). " if cf else "")
                 + f"{REPEATS} repeats after {WARMUP} warm-up runs.\n")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(run())
