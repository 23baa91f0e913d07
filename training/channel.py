"""Channel augmentation: what microphones, rooms, phone lines and codecs do to speech.

Each training crop may pass through, in the order the real world applies them:

1. **reverberation**: convolution with a room impulse response from a bank simulated once per run
   with pyroomacoustics (shoebox rooms of random size and absorption, random source and microphone
   positions);
2. **random EQ**: three peaking filters of random centre, width and gain (a microphone's or a
   loudspeaker's colouring), as RBJ biquads run by scipy;
3. **a codec or a phone line**, one of: the telephone band (300-3400 Hz band-pass, 8 kHz) with
   G.711 mu-law or GSM 06.10, or MP3. Opus (in CODECS) is 4x slower per crop than MP3 and not drawn. Every codec is the real encoder and
   decoder of libsndfile (through soundfile), not an imitation.

Additive noise and gain stay in :class:`training.data.Augmenter`. Everything is seeded by the
augmenter's generator, so runs are reproducible.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from model.audio import SAMPLE_RATE_HZ, resample

TELEPHONE_RATE_HZ = 8000
TELEPHONE_BAND_HZ = (300.0, 3400.0)
# (container, subtype, sample rate) of each codec, all encoded and decoded by libsndfile.
CODECS = {
    "mulaw": ("WAV", "ULAW", TELEPHONE_RATE_HZ),
    "gsm": ("WAV", "GSM610", TELEPHONE_RATE_HZ),
    "mp3": ("MP3", "MPEG_LAYER_III", SAMPLE_RATE_HZ),
    "opus": ("OGG", "OPUS", SAMPLE_RATE_HZ),
}
TELEPHONE_CODECS = ("mulaw", "gsm")


@dataclass(frozen=True)
class ChannelConfig:
    """Channel augmentation settings (probabilities per training crop)."""

    reverb_prob: float = 0.0
    rir_bank_size: int = 48  # room impulse responses simulated at the start of a run
    rt60_s_range: tuple[float, float] = (0.15, 0.9)  # reverberation time of the simulated rooms
    eq_prob: float = 0.0
    eq_gain_db: float = 8.0  # peaking filters boost or cut by up to this much
    telephone_prob: float = 0.0  # telephone band + mu-law or GSM
    codec_prob: float = 0.0  # wide-band MP3

    @property
    def active(self) -> bool:
        return any(p > 0 for p in (self.reverb_prob, self.eq_prob, self.telephone_prob, self.codec_prob))


def simulate_rir_bank(n: int, rt60_s_range: tuple[float, float], rng: np.random.Generator) -> list[np.ndarray]:
    """``n`` room impulse responses at 16 kHz, normalised to a unit direct path."""
    import pyroomacoustics as pra

    bank = []
    while len(bank) < n:
        room_dim = rng.uniform([3.0, 3.0, 2.4], [10.0, 8.0, 4.0])
        rt60 = rng.uniform(*rt60_s_range)
        try:
            absorption, max_order = pra.inverse_sabine(rt60, room_dim)
        except ValueError:  # a room too small for this reverberation time
            continue
        room = pra.ShoeBox(room_dim, fs=SAMPLE_RATE_HZ, materials=pra.Material(absorption),
                           max_order=min(max_order, 12))
        margin = 0.5
        src = rng.uniform(margin, room_dim - margin)
        mic = rng.uniform(margin, room_dim - margin)
        room.add_source(src)
        room.add_microphone(mic)
        room.compute_rir()
        rir = np.asarray(room.rir[0][0], dtype=np.float32)
        peak = int(np.argmax(np.abs(rir)))
        rir = rir[max(0, peak - 16):]  # start just before the direct path: no added delay
        rir = rir[: int(SAMPLE_RATE_HZ * min(1.0, rt60 * 1.2))]
        bank.append(rir / (np.abs(rir).max() + 1e-9))
    return bank


def peaking_sos(fc_hz: float, q: float, gain_db: float, fs: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """One RBJ peaking-EQ biquad as a second-order section."""
    a = 10 ** (gain_db / 40)
    w0 = 2 * np.pi * fc_hz / fs
    alpha = np.sin(w0) / (2 * q)
    b = np.array([1 + alpha * a, -2 * np.cos(w0), 1 - alpha * a])
    den = np.array([1 + alpha / a, -2 * np.cos(w0), 1 - alpha / a])
    return np.concatenate([b / den[0], den / den[0]])[None, :]


def codec_roundtrip(x: np.ndarray, codec: str) -> np.ndarray:
    """``x`` (16 kHz) encoded and decoded by a real codec, back at 16 kHz and the same length."""
    import soundfile as sf

    container, subtype, rate = CODECS[codec]
    y = resample(x, SAMPLE_RATE_HZ, rate) if rate != SAMPLE_RATE_HZ else x
    buf = io.BytesIO()
    sf.write(buf, np.clip(y, -1.0, 1.0), rate, format=container, subtype=subtype)
    buf.seek(0)
    z, _ = sf.read(buf, dtype="float32")
    if rate != SAMPLE_RATE_HZ:
        z = resample(z, rate, SAMPLE_RATE_HZ)
    if len(z) < len(x):
        z = np.pad(z, (0, len(x) - len(z)))
    return z[: len(x)].astype(np.float32)


DEGRADATIONS = ("telephone", "gsm", "mp3")


def degrade(x: np.ndarray, kind: str) -> np.ndarray:
    """A fixed channel for evaluation: ``telephone`` (300-3400 Hz band, 8 kHz, G.711 mu-law),
    ``gsm`` (the same band with GSM 06.10) or ``mp3`` (libsndfile's MP3 encoder at 16 kHz)."""
    from scipy import signal

    if kind == "mp3":
        return codec_roundtrip(x, "mp3")
    if kind not in ("telephone", "gsm"):
        raise ValueError(f"unknown degradation {kind!r}; choose one of {', '.join(DEGRADATIONS)}")
    sos = signal.butter(4, TELEPHONE_BAND_HZ, btype="bandpass", fs=TELEPHONE_RATE_HZ, output="sos")
    y = signal.sosfilt(sos, resample(x, SAMPLE_RATE_HZ, TELEPHONE_RATE_HZ)).astype(np.float32)
    y = resample(y, TELEPHONE_RATE_HZ, SAMPLE_RATE_HZ)[: len(x)]
    return codec_roundtrip(np.pad(y, (0, max(0, len(x) - len(y)))), "mulaw" if kind == "telephone" else "gsm")


class ChannelAugmenter:
    """Applies :class:`ChannelConfig` to training crops (16 kHz float32)."""

    def __init__(self, config: ChannelConfig, rng: np.random.Generator):
        from scipy import signal

        self.config = config
        self.rng = rng
        self._signal = signal
        self.rirs = simulate_rir_bank(config.rir_bank_size, config.rt60_s_range, rng) if config.reverb_prob > 0 else []
        self._telephone_sos = signal.butter(4, TELEPHONE_BAND_HZ, btype="bandpass", fs=TELEPHONE_RATE_HZ,
                                            output="sos")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        c, rng, signal = self.config, self.rng, self._signal
        level = float(np.sqrt(np.mean(x ** 2))) + 1e-9
        if self.rirs and rng.random() < c.reverb_prob:
            rir = self.rirs[int(rng.integers(len(self.rirs)))]
            x = signal.fftconvolve(x, rir)[: len(x)].astype(np.float32)
        if rng.random() < c.eq_prob:
            sos = np.concatenate([
                peaking_sos(float(np.exp(rng.uniform(np.log(100), np.log(6000)))), float(rng.uniform(0.5, 2.0)),
                            float(rng.uniform(-c.eq_gain_db, c.eq_gain_db)))
                for _ in range(3)])
            x = signal.sosfilt(sos, x).astype(np.float32)
        u = rng.random()
        if u < c.telephone_prob:
            y = resample(x, SAMPLE_RATE_HZ, TELEPHONE_RATE_HZ)
            y = signal.sosfilt(self._telephone_sos, y).astype(np.float32)
            y = self._fit(y, level)
            codec = TELEPHONE_CODECS[int(rng.integers(len(TELEPHONE_CODECS)))]
            x = codec_roundtrip(resample(y, TELEPHONE_RATE_HZ, SAMPLE_RATE_HZ)[: len(x)], codec)
        elif u < c.telephone_prob + c.codec_prob:
            x = codec_roundtrip(self._fit(x, level), "mp3")
        return self._fit(x, level)

    @staticmethod
    def _fit(x: np.ndarray, level: float) -> np.ndarray:
        """Back to the input's RMS level (the filters and rooms change it), within [-1, 1]."""
        out = x * (level / (float(np.sqrt(np.mean(x ** 2))) + 1e-9))
        return np.clip(out, -1.0, 1.0).astype(np.float32)
