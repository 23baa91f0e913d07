"""How soon, and how surely, a call analysed mixed is found to take turns (streamer.sources.TurnTaking),
and what the check costs per block.

``python -m benchmarks.turn_taking``: the batch benchmark's generated calls (RAVDESS clips of two
speakers taking turns, one per channel, 8 kHz), each side leaking into the other at -25, -20 and
-15 dB (12 ms later) under noise at -55 dBFS, written as G.711 mu-law as a telephone recording is;
for each, whether the file's note came and after how much of the call. Then the check's time on a
2-s block of a 44.1-kHz stereo file (best of 5 runs). Needs the RAVDESS folder under shared/data
(as the batch benchmark does). RESULTS.md keeps its figures by hand.
"""

from __future__ import annotations

import tempfile
import threading
import timeit
from pathlib import Path

import numpy as np
import soundfile as sf

from benchmarks.bench_batch import make_calls
from streamer.sources import FileSource, TurnTaking

N_CALLS = 12
LEAKS_DB = (None, -25.0, -20.0, -15.0)
NOISE_DBFS = -55.0
LEAK_DELAY_S = 0.012


def _with_leak(audio: np.ndarray, rate: int, leak_db: float | None, rng) -> np.ndarray:
    if leak_db is None:
        return audio
    gain, delay = 10 ** (leak_db / 20), int(LEAK_DELAY_S * rate)
    a, b = audio[:, 0], audio[:, 1]
    out = np.stack([a + gain * np.roll(b, delay), b + gain * np.roll(a, delay)], axis=1)
    return (out + rng.normal(0, 10 ** (NOISE_DBFS / 20), out.shape)).astype(np.float32)


def found_after(path: Path) -> float | None:
    """Seconds of the call read when its note came (None: it did not)."""
    source = FileSource(str(path), channels="mix", block_frames=sf.info(str(path)).samplerate // 2)
    source.open()
    for block in source.blocks(threading.Event()):
        if any("take turns" in n for n in source.notices):
            return (block.start + len(block.data)) / 16000
    return None


def main() -> None:
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_calls(folder, N_CALLS)
        calls = sorted(folder.glob("*.wav"))
        print("| each side leaks into the other at | found | after (s) |\n|---|---|---|")
        for leak in LEAKS_DB:
            times = []
            for call in calls:
                audio, rate = sf.read(str(call), dtype="float32")
                variant = folder / "variant.wav"
                sf.write(str(variant), _with_leak(audio, rate, leak, rng), rate, subtype="ULAW")
                times.append(found_after(variant))
            found = [t for t in times if t is not None]
            span = f"{min(found):.0f}-{max(found):.0f}" if found else "-"
            print(f"| {'no leak' if leak is None else f'{leak:g} dB'} | {len(found)}/{len(calls)} | {span} |")
    block = (0.1 * np.random.default_rng(0).standard_normal((88200, 2))).astype(np.float32)

    def feed() -> None:
        check = TurnTaking(2, 44100)
        check.feed(block)

    best = min(timeit.repeat(feed, number=20, repeat=5)) / 20
    print(f"\nthe check on a 2-s block of 44.1-kHz stereo: {best * 1000:.2f} ms")


if __name__ == "__main__":
    main()
