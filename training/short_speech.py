"""How much speech a result needs: the experiment behind the model card's "Results on little speech"
and the engine's ``MIN_CONFIDENT_SPEECH_S`` (streamer/config.py).

Each clip of a development corpus is cut to ``L`` seconds from the middle of its audible part, for
each length asked for, and predicted alone as one window. Scored per length: unweighted accuracy
restricted to the corpus's classes (as ``ser eval --suite`` scores clips), the share of results the
model's calibrated threshold marks uncertain, and how often the confident and the uncertain results
were right (restricted argmax). Clips with less audible speech than ``L`` are cut around their
middle; clips shorter than ``L`` are left out.

Measured on EmoDB (a development set: measured, never trained on) with the bundled model::

    python -m training.short_speech --data DATA   # DATA holds emodb/
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from model.errors import SERError

SAMPLE_RATE_HZ = 16000
LENGTHS_S = (0.25, 0.4, 0.6, 0.8, 1.0, 1.5, 2.0)


def crop(wave: np.ndarray, seconds: float) -> np.ndarray | None:
    """``seconds`` from the middle of the clip's audible part (around the clip's middle when that
    is shorter), or None when the clip is shorter."""
    from model.audio import speech_bounds

    n = int(round(seconds * SAMPLE_RATE_HZ))
    if len(wave) < n:
        return None
    a, b = speech_bounds(wave, SAMPLE_RATE_HZ)
    mid = (a + b) // 2 if b - a >= n else len(wave) // 2
    start = min(max(0, mid - n // 2), len(wave) - n)
    return wave[start:start + n]


def measure(predictor, entries, waves, lengths=LENGTHS_S) -> list[dict]:
    labels = list(predictor.labels)
    index = {lab: i for i, lab in enumerate(labels)}
    kept = [(index[e.label], w) for e, w in zip(entries, waves, strict=True) if e.label in index]
    present = sorted({y for y, _ in kept})
    rows = []
    for length in lengths:
        right, unsure, ys = [], [], []
        for y, w in kept:
            piece = crop(w, length)
            if piece is None:
                continue
            p = predictor.predict(piece.astype(np.float32), SAMPLE_RATE_HZ)
            right.append(present[int(np.argmax(p.probabilities[present]))] == y)
            unsure.append(bool(p.uncertain))
            ys.append(y)
        right_a, unsure_a, ys_a = np.array(right), np.array(unsure), np.array(ys)
        recalls = [float(right_a[ys_a == c].mean()) for c in present if (ys_a == c).any()]
        rows.append({"length_s": length, "n": len(ys), "ua_restricted": float(np.mean(recalls)) if recalls else None,
                     "uncertain_share": float(unsure_a.mean()) if len(ys) else None,
                     "right_confident": float(right_a[~unsure_a].mean()) if (~unsure_a).any() else None,
                     "right_uncertain": float(right_a[unsure_a].mean()) if unsure_a.any() else None})
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.short_speech", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, type=Path, help="a folder holding emodb/")
    p.add_argument("--model", default="default")
    p.add_argument("--lengths", nargs="+", type=float, default=list(LENGTHS_S), help="seconds of speech per window")
    p.add_argument("--out", type=Path, help="also write the results as JSON here")
    args = p.parse_args(argv)
    from model.runtime import load_predictor
    from training.data import ClipBank
    from training.recipes import load_corpus

    try:
        predictor = load_predictor(args.model, device="cpu")
        entries, _ = load_corpus("emodb", args.data / "emodb")
        bank = ClipBank(entries, list(predictor.labels))
    except SERError as exc:
        print(f"short_speech: {exc}", file=sys.stderr)
        return 1
    rows = measure(predictor, bank.entries, bank.waves[1.0], args.lengths)

    def pct(v):
        return "-" if v is None else f"{100 * v:.1f} %"

    print("| speech in the window | clips | UA restricted | uncertain | confident results right | uncertain results right |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['length_s']:g} s | {r['n']} | {pct(r['ua_restricted'])} | {pct(r['uncertain_share'])} | "
              f"{pct(r['right_confident'])} | {pct(r['right_uncertain'])} |")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
