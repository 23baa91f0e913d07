"""How often the voice encoder must run: the experiment behind the model card's "The voice encoder's
cadence, measured".

The engine runs the voice encoder on a speech segment's first window and then once per
``voice_emotion_every_s`` of the segment; the windows between reuse the last embedding, so in long
speech the voice half of a window's emotion can come from up to that long before it. Corpora of
single clips cannot show what that costs (their clips are one or two windows long), so this module
makes long speech of them: per speaker, the clips of one emotion back to back (a block of one
emotion), then the next emotion's, each clip cut to its audible part so that the speech runs on as
one long segment. The engine analyses each speaker's stream at each cadence asked for, and each
window result is scored against the emotion of the clip under the window's middle:

- unweighted accuracy restricted to the corpus's classes (as ``ser eval --suite`` scores clips),
  over all windows;
- the same over the windows whose middle lies less than ``--near`` seconds after a change of
  emotion (how quickly the output follows a change), and over the others (steady speech).

Measured on EmoDB (a development set: measured, never trained on; model card) with the bundled
model::

    python -m training.voice_cadence --data DATA --every 0.5 2 4 8   # DATA holds emodb/
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

from model.audio import SAMPLE_RATE_HZ, load_mono_16k, speech_bounds
from model.errors import SERError


def block_streams(entries, seed: int = 0) -> list[tuple[str, np.ndarray, list[tuple[int, int, str]]]]:
    """Per speaker: (speaker, the stream's samples, (start, end, label) of each clip in it). Clips
    without an emotion label are left out; the order of the emotion blocks is shuffled (seeded)."""
    rng = np.random.default_rng(seed)
    by_speaker: dict[str, dict[str, list]] = {}
    for e in entries:
        if e.label:
            by_speaker.setdefault(e.speaker, {}).setdefault(e.label, []).append(e)
    streams = []
    for speaker, groups in sorted(by_speaker.items()):
        order = sorted(groups)
        rng.shuffle(order)
        parts, spans, n = [], [], 0
        for label in order:
            for e in sorted(groups[label], key=lambda e: e.path):
                x = load_mono_16k(e.path)
                a, b = speech_bounds(x)
                parts.append(x[a:b])
                spans.append((n, n + b - a, label))
                n += b - a
        streams.append((speaker, np.concatenate(parts), spans))
    return streams


def score_windows(results, spans: list[tuple[int, int, str]], labels: list[str], present: list[str],
                  near_s: float) -> list[tuple[int, int, bool]]:
    """(true class, predicted class among ``present``, near a change) of each window result whose
    middle lies in a labelled clip; classes are indices into ``present``."""
    changes = [a for (a, _, label), (_, _, before) in zip(spans[1:], spans[:-1]) if label != before]
    idx = [labels.index(c) for c in present]
    out = []
    for r in results:
        mid = (r.start_s + r.end_s) / 2 * SAMPLE_RATE_HZ
        label = next((lab for a, b, lab in spans if a <= mid < b), None)
        if label is None:
            continue
        probs = np.array([r.heads["emotion"][lab] for lab in labels])
        near = any(0 <= mid - c < near_s * SAMPLE_RATE_HZ for c in changes)
        out.append((present.index(label), int(np.argmax(probs[idx])), near))
    return out


def unweighted_accuracy(scored: list[tuple[int, int, bool]], n_classes: int) -> float:
    """Mean per-class recall over the classes present in ``scored`` (training.metrics' UA)."""
    from training.metrics import confusion_matrix
    from training.metrics import unweighted_accuracy as ua

    return ua(confusion_matrix([s[0] for s in scored], [s[1] for s in scored], n_classes))


def measure(predictor, streams, every_s: float, near_s: float) -> dict:
    """Window accuracy of ``predictor`` on ``streams`` with the voice encoder every ``every_s``."""
    from streamer.config import EngineConfig
    from streamer.events import SpeechSegment, WindowResult
    from streamer.pipeline import analyze_waveform

    predictor.meta.arch = dataclasses.replace(predictor.meta.arch, voice_emotion_every_s=every_s)
    labels = list(predictor.labels)
    present = sorted({lab for _, _, spans in streams for *_, lab in spans}, key=labels.index)
    scored, per_speaker, segments, t0 = [], {}, [], time.perf_counter()
    for speaker, x, spans in streams:
        events = analyze_waveform(x, predictor, EngineConfig(emit_audio=False))
        segments += [e.end_s - e.start_s for e in events if isinstance(e, SpeechSegment)]
        windows = [e for e in events if isinstance(e, WindowResult) and e.kind == "window"]
        mine = score_windows(windows, spans, labels, present, near_s)
        near = [s for s in mine if s[2]]
        per_speaker[speaker] = unweighted_accuracy(near, len(present)) if near else None
        scored += mine
    near = [s for s in scored if s[2]]
    steady = [s for s in scored if not s[2]]
    return {"every_s": every_s, "windows": len(scored), "windows_near_change": len(near),
            "ua_restricted": unweighted_accuracy(scored, len(present)),
            "ua_restricted_near_change": unweighted_accuracy(near, len(present)),
            "ua_restricted_steady": unweighted_accuracy(steady, len(present)),
            "near_change_per_speaker": per_speaker, "classes": present,
            "segments": len(segments), "median_segment_s": float(np.median(segments)) if segments else 0.0,
            "seconds": round(time.perf_counter() - t0, 1)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.voice_cadence", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, type=Path, help="a folder holding emodb/")
    p.add_argument("--every", nargs="+", type=float, default=[0.5, 2.0, 4.0, 8.0],
                   help="cadences to measure, in seconds (0.5: every window at the bundled model's hop)")
    p.add_argument("--near", type=float, default=4.0, help="seconds after a change of emotion that count as near it")
    p.add_argument("--model", default="default")
    p.add_argument("--seed", type=int, default=0, help="the emotion blocks' order")
    p.add_argument("--out", type=Path, help="also write the results as JSON here")
    args = p.parse_args(argv)
    from model.runtime import OnnxPredictor
    from training.recipes.emodb import build_manifest

    try:
        predictor = OnnxPredictor.load(args.model, threads=1)
        if not predictor.voice_emotion:
            raise SERError(f"{args.model}: this model has no voice-emotion heads; the cadence changes nothing.")
        entries, _ = build_manifest(args.data / "emodb")
        streams = block_streams(entries, args.seed)
    except SERError as exc:
        print(f"voice_cadence: {exc}", file=sys.stderr)
        return 1
    print(f"{len(streams)} speakers' streams, {sum(len(s[1]) for s in streams) / SAMPLE_RATE_HZ:.0f} s of speech",
          flush=True)
    results = []
    for every in args.every:
        r = measure(predictor, streams, every, args.near)
        results.append(r)
        print(f"every {every:g} s: UA restricted {r['ua_restricted']:.3f}; within {args.near:g} s after a change "
              f"{r['ua_restricted_near_change']:.3f} ({r['windows_near_change']} windows); steady "
              f"{r['ua_restricted_steady']:.3f} ({r['windows'] - r['windows_near_change']} windows); "
              f"{r['windows']} windows in {r['segments']} segments (median {r['median_segment_s']:.0f} s); "
              f"{r['seconds']:g} s", flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
