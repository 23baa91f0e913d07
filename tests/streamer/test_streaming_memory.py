"""Bounded memory on a long file generated on the fly: buffers do not grow with the file's length,
including through one very long speech segment."""

from __future__ import annotations

import tracemalloc

import numpy as np
import soundfile as sf
from streamer_helpers import SAMPLE_RATE_HZ, StubPredictor

from streamer import Engine, EngineConfig, FileSource, SpeechSegment

LONG_FILE_S = 600  # ten minutes
NOISE_SPEECH_S = 120  # webrtcvad calls loud noise speech: one two-minute segment
NOISE_LEVEL = 0.1
CHUNK_S = 10
MAX_TRACED_FRACTION = 0.25  # peak Python-side memory as a share of the decoded file
RUN_TIMEOUT_S = 240.0


def _write_long_file(path, speech: np.ndarray) -> None:
    """Speech with silences, then a long stretch of 'speech' (noise), then speech again; written in chunks."""
    rng = np.random.default_rng(0)
    chunk = CHUNK_S * SAMPLE_RATE_HZ
    noise_start, noise_end = LONG_FILE_S // 3, LONG_FILE_S // 3 + NOISE_SPEECH_S
    with sf.SoundFile(str(path), "w", SAMPLE_RATE_HZ, 1, subtype="PCM_16") as f:
        for i in range(LONG_FILE_S // CHUNK_S):
            t = i * CHUNK_S
            if noise_start <= t < noise_end:
                f.write((rng.standard_normal(chunk) * NOISE_LEVEL).astype(np.float32))
            else:
                f.write(np.resize(np.roll(speech, -(i * chunk) % len(speech)), chunk))


def test_long_file_uses_bounded_memory(speech_16k, tmp_path):
    path = tmp_path / "long.wav"
    _write_long_file(path, speech_16k)
    decoded_bytes = LONG_FILE_S * SAMPLE_RATE_HZ * np.dtype(np.float32).itemsize
    predictor = StubPredictor()
    engine = Engine(predictor, EngineConfig(emit_audio=False))
    segments = 0
    longest = 0.0
    tracemalloc.start()
    try:
        engine.start(FileSource(path))
        pipeline = engine._pipelines[0]
        capacity = pipeline._audio.capacity
        while not engine.wait(0.05):
            for e in engine.poll():  # consume, as a GUI or a file writer does
                if isinstance(e, SpeechSegment):
                    segments += 1
                    longest = max(longest, e.duration_s)
        engine.stop()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert engine.stats.samples_processed[0] == LONG_FILE_S * SAMPLE_RATE_HZ
    assert longest >= NOISE_SPEECH_S - 1 and segments > LONG_FILE_S / 10
    assert predictor.windows > NOISE_SPEECH_S / EngineConfig().hop_s
    assert pipeline._audio.capacity == capacity, "the sample history grew"
    assert len(pipeline._arrivals) < 100
    assert peak < MAX_TRACED_FRACTION * decoded_bytes, f"peak {peak / 1e6:.1f} MB"
