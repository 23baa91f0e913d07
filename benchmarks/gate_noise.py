"""How much speech in noise the speech gate keeps, and how much noise it lets through
(streamer/speechgate.py).

``python -m benchmarks.gate_noise [DATA]``: speech clips of RAVDESS, EmoDB and BAVED (DATA: the folder
holding ravdess/, emodb/ and baved/; default ../shared/data), each with a second of silence on either
side, alone and with white, pink or brown noise at 20, 15, 10 and 5 dB below the clip's speech (its
RMS over the samples above 2 % of its peak, within the speech's bounds). Each is analysed by the engine
with the gate and without it; an analysis window is a speech window when at least 1 s of it lies
within the clean clip's speech, a noise-only window when less than 0.25 s does. Printed: the speech
windows the gate keeps of those it is given, and the noise-only windows it lets through. Then the
generated non-speech sounds of streamer/testsignals.py (3 seeds, at -20 and -35 dBFS) and the three
noises alone (-30 dBFS): every window they get is one the gate let through. The model does not
matter for these counts (only the gate decides which windows get a result); the default model is used.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from model.audio import load_mono_16k, speech_bounds
from model.runtime import load_predictor
from streamer import EngineConfig, WindowResult, analyze_waveform
from streamer.testsignals import NON_SPEECH, RATE, T, level

CLIPS = {"ravdess": ("ravdess/Actor_*/*.flac", 60), "emodb": ("emodb/*.flac", 40), "baved": ("baved/*.flac", 40)}
NOISES = ("white", "pink", "brown")
SNRS_DB = (20, 15, 10, 5)
SPEECH_S = 1.0  # a window with this much of the clip's speech in it is a speech window
NOISE_ONLY_S = 0.25  # ... one with less than this, a noise-only window


def noise(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """White, pink (power falling 3 dB an octave) or brown (6 dB an octave) noise."""
    w = rng.standard_normal(n)
    if kind == "white":
        return w
    f = np.fft.rfftfreq(n, 1 / RATE)
    f[0] = f[1]
    return np.fft.irfft(np.fft.rfft(w) / (np.sqrt(f) if kind == "pink" else f), n)


def _windows(predictor, x: np.ndarray, gate: bool, span: tuple[float, float] | None = None):
    events = analyze_waveform(x.astype(np.float32), predictor, EngineConfig(emit_audio=False, speech_gate=gate))
    windows = [e for e in events if isinstance(e, WindowResult) and e.kind == "window"]
    if span is None:
        return len(windows)
    inside = [max(0.0, min(w.end_s, span[1]) - max(w.start_s, span[0])) for w in windows]
    return sum(o >= SPEECH_S for o in inside), sum(o < NOISE_ONLY_S for o in inside)


def run(data: Path) -> str:
    predictor = load_predictor("default", device="cpu")
    rng = np.random.default_rng(0)
    pad = np.zeros(RATE, np.float32)
    rows = ["| corpus | noise | SNR dB | speech windows kept | noise-only windows let through |", "|---|---|---|---|---|"]
    for corpus, (pattern, count) in CLIPS.items():
        paths = sorted(data.glob(pattern))
        clips = [load_mono_16k(p) for p in paths[::max(1, len(paths) // count)][:count]]
        for kind in ("none", *NOISES):
            for snr in (None,) if kind == "none" else SNRS_DB:
                kept = given = passed = noise_only = 0
                for x in clips:
                    a, b = speech_bounds(x)
                    speech = x[a:b][np.abs(x[a:b]) > 0.02 * np.abs(x[a:b]).max()]
                    y = np.concatenate([pad, x, pad]).astype(np.float64)
                    if snr is not None:
                        n = noise(kind, len(y), rng)
                        y = y + n * np.sqrt(np.mean(speech ** 2) / np.mean(n ** 2)) / 10 ** (snr / 20)
                        y = y / max(1.0, np.abs(y).max() * 1.01)
                    span = (1.0 + a / RATE, 1.0 + b / RATE)
                    k, p = _windows(predictor, y, True, span)
                    g, q = _windows(predictor, y, False, span)
                    kept, given, passed, noise_only = kept + k, given + g, passed + p, noise_only + q
                rows.append(f"| {corpus} | {kind} | {'-' if snr is None else snr} | {kept}/{given} "
                            f"({kept / max(given, 1):.1%}) | {passed}/{noise_only} |")
                print(rows[-1], file=sys.stderr, flush=True)
    through = given = 0
    for make in NON_SPEECH.values():
        for seed in range(3):
            for db in (-20.0, -35.0):
                hiss = 1e-3 * np.random.default_rng(seed + 10).standard_normal(len(T))
                y = np.concatenate([pad, level(make(np.random.default_rng(seed)) + hiss, db), pad])
                through, given = through + _windows(predictor, y, True), given + _windows(predictor, y, False)
    for kind in NOISES:
        for seed in range(3):
            y = np.concatenate([pad, level(noise(kind, len(T), np.random.default_rng(seed)), -30.0), pad])
            through, given = through + _windows(predictor, y, True), given + _windows(predictor, y, False)
    return "\n".join(rows) + f"\n\nGenerated non-speech sounds and noises: {through} of {given} windows let through.\n"


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared" / "data"
    print(run(root))
