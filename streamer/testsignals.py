"""Generated sounds that are not speech, for the speech gate's tests and its noise benchmark
(``python -m benchmarks.gate_noise``): noise, tones, hum, telephone signals, a chord and
music-like melodies, 6 s each at 16 kHz (float64, unscaled; :func:`level` scales them)."""

from __future__ import annotations

import numpy as np

RATE = 16000
T = np.arange(RATE * 6) / RATE


def level(x, db=-20.0):
    """``x`` scaled to an RMS level of ``db`` dBFS, as float32."""
    return (x / np.sqrt(np.mean(x ** 2)) * 10 ** (db / 20)).astype(np.float32)


def _melody(rng):
    x = np.zeros_like(T)
    for i, f in enumerate(rng.uniform(200, 800, 24)):
        seg = (T >= i * 0.25) & (T < (i + 1) * 0.25)
        x[seg] = sum(np.sin(2 * np.pi * f * k * T[seg]) / k for k in range(1, 5)) * np.exp(-3 * (T[seg] - i * 0.25))
    return x + 0.3 * np.sin(2 * np.pi * 110 * T)


def _piano(rng):
    """Notes of 0.4 s that fade as a plucked or struck string does: their frame levels spread as
    widely as speech's, so only the held harmonics (the flux) tell them from it."""
    x = np.zeros_like(T)
    n = int(0.4 * RATE)
    tt = np.arange(n) / RATE
    for i in range(len(T) // n):
        f = rng.choice([262, 294, 330, 349, 392, 440, 494, 523])
        x[i * n:(i + 1) * n] = np.exp(-4 * tt) * sum(np.sin(2 * np.pi * f * k * tt) / k for k in range(1, 5))
    return x


def _piano_in_noise(rng):
    """The same 30 dB above white noise: hold music in a call (the noise between the harmonics changes
    at random from frame to frame, and must not read as speech's changing spectrum)."""
    x = _piano(rng)
    return x + rng.standard_normal(len(x)) * np.sqrt(np.mean(x ** 2)) * 10 ** (-30 / 20)


def _piano_mu_law(rng):
    """The same through a telephone codec (G.711 mu-law, 8 bits)."""
    x = _piano(rng)
    x = x / np.abs(x).max() * 0.5
    c = np.round(np.sign(x) * np.log1p(255 * np.abs(x)) / np.log1p(255) * 127) / 127
    return np.sign(c) * np.expm1(np.abs(c) * np.log1p(255)) / 255


def _siren(rng):
    """A yelp siren (600-1300 Hz, a sweep every 0.3 s, odd harmonics) with white noise 20 dB below:
    its power moves between the speech band's parts while the band's level stays put."""
    f = 950 + 350 * (2 * ((T / 0.3) % 1) - 1)
    phase = 2 * np.pi * np.cumsum(f) / RATE
    x = sum(np.sin(k * phase) / k for k in (1, 3, 5))
    return x + rng.standard_normal(len(T)) * np.sqrt(np.mean(x ** 2)) * 10 ** (-20 / 20)


def _whistled_tune(rng):
    """Whistled notes of 0.35 s between 784 and 2093 Hz, gliding, with pink-ish room noise 20 dB below."""
    notes = rng.choice([784, 880, 988, 1047, 1175, 1319, 1397, 1568, 1760, 2093], int(len(T) / (0.35 * RATE)) + 1)
    f = np.repeat(notes, int(0.35 * RATE))[:len(T)].astype(float)
    f = np.convolve(f, np.ones(160) / 160, mode="same")
    x = np.sin(2 * np.pi * np.cumsum(f * (1 + 0.01 * np.sin(2 * np.pi * 5 * T))) / RATE)
    noise = np.cumsum(rng.standard_normal(len(T))) * 0.02 + rng.standard_normal(len(T))
    noise -= noise.mean()
    return x + noise / np.sqrt(np.mean(noise ** 2)) * np.sqrt(np.mean(x ** 2)) * 10 ** (-20 / 20)


def _line_noise(x, rng, below_db):
    """``x`` with white noise ``below_db`` dB below its loud part (a telephone line's hiss)."""
    loud = x[np.abs(x) > 0.1 * np.abs(x).max()]
    return x + rng.standard_normal(len(x)) * np.sqrt(np.mean(loud ** 2)) * 10 ** (-below_db / 20)


def _three_line_ring():
    """A ringing tone of 400, 425 and 450 Hz (beating at 25 Hz, a period of 40 ms), on 0.4 s, off 0.2 s,
    on 0.4 s, off 2 s."""
    on = ((T % 3) < 0.4) | (((T % 3) >= 0.6) & ((T % 3) < 1.0))
    return sum(np.sin(2 * np.pi * f * T) for f in (400, 425, 450)) * on


def _key_tones(rng):
    """Keypad tones (DTMF: a low and a high line) as a caller presses keys, 80-250 ms each with gaps
    of 150-600 ms, with line noise 20 dB below."""
    low, high = (697, 770, 852, 941), (1209, 1336, 1477)
    x = np.zeros_like(T)
    t = 0.1
    while t < T[-1]:
        on = rng.uniform(0.08, 0.25)
        seg = (T >= t) & (T < t + on)
        x[seg] = np.sin(2 * np.pi * rng.choice(low) * T[seg]) + 0.9 * np.sin(2 * np.pi * rng.choice(high) * T[seg])
        t += on + rng.uniform(0.15, 0.6)
    return _line_noise(x, rng, 20)


NON_SPEECH = {
    "white noise": lambda rng: rng.standard_normal(len(T)),
    "tone 440 Hz": lambda rng: np.sin(2 * np.pi * 440 * T),
    "mains hum": lambda rng: sum(np.sin(2 * np.pi * 50 * k * T) / k for k in range(1, 8)),
    "ringing tone": lambda rng: (np.sin(2 * np.pi * 440 * T) + np.sin(2 * np.pi * 480 * T)) * ((T % 3) < 1),
    "busy tone": lambda rng: (np.sin(2 * np.pi * 480 * T) + np.sin(2 * np.pi * 620 * T)) * ((T % 1) < 0.5),
    "dial tone": lambda rng: np.sin(2 * np.pi * 350 * T) + np.sin(2 * np.pi * 440 * T),
    "chord": lambda rng: sum(np.sin(2 * np.pi * 220 * r * T) for r in (1, 1.25, 1.5, 2)),
    "hold music": _melody,
    "piano melody": _piano,
    "piano melody in noise": _piano_in_noise,
    "piano melody, mu-law": _piano_mu_law,
    "siren in noise": _siren,
    "whistled tune in noise": _whistled_tune,
    # A noisy line lifts the tone share below MAX_TONE_SHARE and the flux above MIN_FLUX_DB (the noise
    # between the beeps and between a tone's lines changes at random); the line drift still holds them.
    "ringing tone, line noise 10 dB below": lambda rng: _line_noise(NON_SPEECH["ringing tone"](rng), rng, 10),
    "busy tone, line noise 10 dB below": lambda rng: _line_noise(NON_SPEECH["busy tone"](rng), rng, 10),
    "ringing tone of three lines, line noise 20 dB below": lambda rng: _line_noise(_three_line_ring(), rng, 20),
    "keypad tones in line noise": _key_tones,
}
