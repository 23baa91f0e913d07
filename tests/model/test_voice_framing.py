"""The voice graph's input framing (model/runtime.voice_partials), pinned bit for bit: each partial's
STFT frames are the level-normalised window's samples at the encoder's hop, centred with reflect
padding, and a batch's partials framed in place equal the ones framed alone."""

from __future__ import annotations

import numpy as np
import pytest

from model.arch import (
    VOICE_HOP,
    VOICE_LEVEL_DBFS,
    VOICE_N_FFT,
    VOICE_PARTIAL_FRAMES,
    VOICE_PARTIAL_STEP,
    VOICE_SILENCE_RMS,
)
from model.runtime import voice_partial_count, voice_partials

LENGTHS = [150, 200, 201, 202, 300, 400, 1000, 16000, 25440, 25600, 25601, 32000, 38400, 40000, 48000, 64000]


def reference_partials(window: np.ndarray) -> np.ndarray:
    """The framing written out plainly, one frame at a time."""
    x = window.astype(np.float32)
    x = x - np.float32(x.mean(dtype=np.float32))
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float32), dtype=np.float32)))
    x *= np.float32(10 ** (VOICE_LEVEL_DBFS / 20) / max(rms, VOICE_SILENCE_RMS))
    half = VOICE_N_FFT // 2
    padded = np.pad(x, half, mode="reflect" if len(x) > half else "constant")
    n_frames = 1 + len(x) // VOICE_HOP
    count = voice_partial_count(len(x))
    out = np.zeros((count, VOICE_PARTIAL_FRAMES, VOICE_N_FFT), np.float32)
    for k in range(count):
        for j in range(VOICE_PARTIAL_FRAMES):
            i = k * VOICE_PARTIAL_STEP + j  # the frame's index in the window
            if i < n_frames:
                out[k, j] = padded[i * VOICE_HOP:i * VOICE_HOP + VOICE_N_FFT]
    return out


@pytest.mark.parametrize("n", LENGTHS)
def test_partials_equal_the_plain_framing(n):
    window = (np.random.default_rng(n).standard_normal(n) * 0.05 + 0.01).astype(np.float32)
    got = voice_partials(window.copy())
    assert got.dtype == np.float32 and got.shape[0] == voice_partial_count(n)
    assert np.array_equal(got, reference_partials(window))
    assert np.array_equal(voice_partials(np.repeat(window, 2)[::2]), got)  # the same samples, not contiguous


def test_a_batch_framed_in_place_equals_each_window_alone():
    rng = np.random.default_rng(0)
    windows = [(rng.standard_normal(n) * 0.1).astype(np.float32) for n in (32000, 1000, 48000, 25601)]
    counts = [voice_partial_count(len(w)) for w in windows]
    batch = np.full((sum(counts) + 1, VOICE_PARTIAL_FRAMES, VOICE_N_FFT), np.nan, np.float32)
    k = 0
    for w, c in zip(windows, counts, strict=True):
        returned = voice_partials(w.copy(), batch[k:k + c])
        assert np.shares_memory(returned, batch)
        k += c
    k = 0
    for w, c in zip(windows, counts, strict=True):
        assert np.array_equal(batch[k:k + c], voice_partials(w.copy()))
        k += c
    assert np.isnan(batch[-1]).all()  # nothing written past the batch's partials
