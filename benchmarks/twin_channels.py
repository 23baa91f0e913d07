"""What the check for channels that hold the same sound costs per block (streamer.sources.TwinChannels).

``python -m benchmarks.twin_channels``: best of 5 runs on 2-s blocks of 44.1 kHz audio, for a stereo
file whose channels stay alike (compared every block), the block where they first differ (compared
once), 64 channels of digital silence (compared every block) and 64 different channels (once).
RESULTS.md keeps its figures by hand beside those of the version before.
"""

from __future__ import annotations

import timeit

import numpy as np

from streamer.sources import TwinChannels

RATE = 44100


def cases() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    voice = (0.2 * rng.standard_normal(2 * RATE)).astype(np.float32)
    other = (0.2 * rng.standard_normal(2 * RATE)).astype(np.float32)
    return {
        "stereo, the same sound (each block)": np.stack([voice, voice], axis=1),
        "stereo, the block where they first differ": np.stack([voice, other], axis=1),
        "64 channels of digital silence (each block)": np.zeros((2 * RATE, 64), np.float32),
        "64 channels, each its own sound (first block)":
            (0.1 * rng.standard_normal((2 * RATE, 64))).astype(np.float32),
    }


def block_ms(data: np.ndarray) -> float:
    """Best of 5: a new check fed one block (the first block's cost, or each block's while alike)."""
    analysed = [0, 1] if data.shape[1] == 2 else None
    number = 200 if data.shape[1] == 2 else 3

    def one() -> None:
        TwinChannels(data.shape[1], analysed, RATE).feed(data)

    return min(timeit.repeat(one, number=number, repeat=5)) / number * 1000


def main() -> None:
    for name, data in cases().items():
        print(f"{name}: {block_ms(data):.2f} ms per 2-s block")


if __name__ == "__main__":
    main()
