"""A second speech check after the voice-activity detector: is this window speech at all?

webrtcvad answers "is there sound that could be voice", and passes steady noise, hum, tones and
much music. The emotion model answers anyway, with confident nonsense. This gate rejects windows
whose sound lacks what all speech has, measured on the window's own samples (so streaming equals
offline):

- **syllabic modulation**: speech switches between syllables, pauses and consonants several times a
  second, so the level of its 10-ms frames in the speech band (300-3400 Hz) varies by many dB. Noise,
  hum, dial and hold tones and sustained music are steady: their frame levels vary by a few dB.
  Noise a few dB below the speech fills the whole band and narrows its spread, while speech's power
  gathers in the band's lower part (300-1000 Hz), where it still stands well above white or pink
  noise: that part's spread counts too where its share of the band's power spreads as speech's does
  in noise (3-8.5 dB), not as a siren's or a whistled tune's, whose power moves between the parts
  (far more), nor as a melody's that keeps to the part (less). A steady line that lasts the whole
  window (a whine, a tone, mains hum's harmonics) fills the pauses too: where the window has such
  lines, holding at least MIN_STEADY_SHARE of its power, the spread is measured again on the power
  above each bin's floor (_under_steady_lines), and the flatness on the bins besides the lines (typing
  or rain over a whine is noise still). Of the 2,799 windows of speech of 3,421 clips (RAVDESS speech
  and song, EmoDB, BAVED) the gate kept, with a 1-kHz tone 5 dB below the speech, 83.0 % before and
  93.8 % now; with a 440-Hz tone 10 dB below 75.4 -> 95.7 %; with 50-Hz hum as loud as the speech
  (harmonics to 2 kHz) 90.7 -> 96.2 %, 60-Hz (to 2.3 kHz) 86.0 -> 97.4 %; hum with harmonics to
  3.8 kHz fills more of the band and gains less (50 Hz 90.1 -> 91.9 %, 60 Hz 84.7 -> 94.2 %). Of the
  generated everyday sounds (below), engine sounds passed in 36.3 % of their windows instead of
  34.7 %, a swept pad 32.6 instead of 32.3 %, and the other 23 families as before.
- **not a pure tone**: dial tones put all their energy in one or two narrow spectral lines (a
  backstop: steady and cadenced tones already fail the first test, as their silent gaps in a
  recording are digital silence or far below speech level).
- **not white or pink noise**: a noise spectrum is flat (spectral flatness near 1 in the speech band).
- **not held notes**: speech's formants and voicing move all the time, so the shape of its band
  spectrum changes from one 10-ms frame to the frame 20 ms later; a melody of plucked or struck
  notes (a piano, a music box) keeps each note's harmonics where they are while it fades. Its frame
  levels spread as widely as speech's (the fades), so the first test let it through.
- **not steady lines**: a ringing, busy or keypad tone's spectral line, or a held note's, stays put,
  while a voice's pitch and formants move its lines. Line noise defeats the tests before: it spreads a
  tone's energy below MAX_TONE_SHARE, and its random changes, between a tone's lines and in the gaps
  between beeps, lift the flux to about 5 dB. The line drift looks at the window's loud frames (within
  LINE_RANGE_DB of the loudest) by their prominent peaks, those LINE_PROMINENCE_DB or more above the
  frame's median bin: a frame with none (noise, as in the gaps between beeps) takes no part; one with
  more than MAX_TONE_LINES (a voice's harmonics, in a vowel held for a second too, or over a steady
  tone) counts as moving, and MIN_RICH_FRAMES of them at any level make the window a voice's (so a
  beep louder than the words around it is not taken for a tone on a line); in one with a line or two,
  the strongest is followed over 50, 100 and 200 ms (200 ms: five periods of the 25-Hz beat of a 400 +
  425 + 450 Hz ringing tone; 100 ms of the 40 and 50-Hz beats of 440 + 480 and 400 + 450 Hz), and the
  drift is the least of the lags' medians. Measured (benchmarks/RESULTS.md): of 7,745 2-s windows of
  speech that passed the tests before (RAVDESS speech and song, EmoDB and BAVED, clean, through a
  telephone line, GSM, MP3, or with white noise 5 dB below), none is rejected; with a steady 1-kHz
  tone 15-25 dB below the speech none of 8,288, with a vowel drawn out to 1.2 s none of 12,625
  (73 of 12,864, 0.6 %, with white noise 10 dB below), with a keypad, call-waiting or recording beep of
  0.1-0.5 s up to 12 dB louder than the words none of 32,293. Ringing, busy, keypad, fax and modem tones with white or pink noise 10-20 dB below
  them (the noise measured against their loud part) pass in none of their windows, but for ringing
  tones of 400 + 450 Hz and 400 + 425 + 450 Hz with pink noise 10 dB below (21 % and 24 %; one frame does
  not resolve their lines, and the noise moves their joint peak); with noise 5 dB below, many pass (a
  440 + 480 Hz ringing tone 16-40 %, the 400 + 450 Hz one 71-81 %). A melody of notes with a few
  harmonics counts as rich and passes in noise as it did before.

A segment whose windows the gate rejects in part (a loud recording's background noise, which
webrtcvad takes for speech, running on between words) is cut (streamer/pipeline.py): the stretches
it let through are speech, each with its utterance result; the rejected stretches are segments marked
as not speech, with the reason, so that speech time and emotion shares count speech only. A segment
with no window to judge (shorter than a window, or too little speech in each: the few frames the
VAD flags where a tone starts or stops, or a short word) is judged on its own sound by the tone test
only (GateReading.tonal_reason), as a single vowel is as steady as a hum: the edges of a busy or
dual tone are then not counted as speech, and of 1,253 segments of short excerpts (0.3-1 s) of RAVDESS
speech and song, EmoDB and BAVED, none changed.

The thresholds were set on generated noise, tones and music-like signals against speech windows of
RAVDESS speech and song, EmoDB and BAVED. Measured on 2-s windows (analysis windows of the audible
part of each clip): RAVDESS speech and song 100 % kept, EmoDB 99.3 %, BAVED 99.7 %; through a telephone
line (300-3400 Hz, mu-law) 100 %; speech in noise: below;
white and pink noise, tones, mains hum, ringing, busy (480+620 Hz) and dial (350+440 Hz) tones and
sustained chords 0 % kept, a
synthetic plucked melody with bass ("hold music") 0 % (its frame levels spread 5-8 dB, speech's
15-45 dB). A melody of notes of 0.4 s, each fading over the next (as a piano's), passed the first
three tests in every window; the fourth keeps none of it, clean, 30 dB above white noise or through
a mu-law telephone codec (its flux at most 0.12 dB against a threshold of 0.4), and leaves the speech
results above as they were (flux of the 2-s windows: RAVDESS speech 1.7-6.7 dB, song 1.0-6.3, EmoDB
2.3-7.6, BAVED 0.67-7.4; with white noise at 20-5 dB SNR 3.6-6.3, through the telephone line 3.1-6.5,
with reverberation of 0.5 and 1.2 s 3.4-5.4). The same melody 20 dB above noise passes (flux about
1-2 dB), and so does most of a chord whose pitch wavers (5-Hz vibrato). Real music with singing or strong rhythm will
pass some windows: this is a gate against steady and tonal sound, not a music detector.

Speech in noise (``python -m benchmarks.gate_noise``: 60 RAVDESS, 40 EmoDB and 40 BAVED clips, white,
pink or brown noise at an SNR against each clip's speech; the engine's analysis windows with at least
1 s of speech in them). With the band's spread alone the gate kept 79 / 30 / 43 % of them (RAVDESS /
EmoDB / BAVED) at 5 dB SNR of white noise and 100 / 79 / 86 % at 10 dB; with the lower part too, 99 /
77 / 90 % and 100 / 92 / 98 %; pink noise at 5 dB 91 / 64 / 67 % then 91 / 81 / 82 %, at 10 dB 99 /
91 / 94 % then 100 / 93 / 98 %; from 15 dB on and in brown noise 97-100 % both ways. Windows of noise
alone beside the speech (less than 0.25 s of it) were let through 15 times in 89 before, 16 after
(most of them at 5 dB, where the VAD passes much noise). The generated sounds above, a siren and a
whistled tune in noise and the three noises alone: none of 567 windows (their widest spread: steady
noise 2.1-3.7 dB, against 10). Of 33 families of further generated everyday sounds
(benchmarks/RESULTS.md), footsteps, amplitude-modulated noise and knocks gained 3-15 points of
windows let through (the band's spread alone let each through in part already), two others 1-2
points, the rest less than 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SAMPLE_RATE_HZ = 16000
FRAME = 160  # 10 ms
N_FFT = 512
BAND_HZ = (300.0, 3400.0)
# The band's lower part, whose frame levels the modulation also looks at (see GateReading.modulation_db),
# and how far its share of the band's power spreads for that: speech in noise alternates with the
# noise in it, which moves the share by some dB; sound whose power moves between the parts (a siren,
# a whistled tune) moves it by more, and sound that keeps to the part (a melody in it) by less.
LOW_PART_HZ = (300.0, 1000.0)
LOW_SHARE_SPREAD_DB = (3.0, 8.5)
# Thresholds (see the module docstring).
MIN_MODULATION_DB = 10.0  # spread (10th to 90th percentile) of frame levels in the speech band
# Speech over a steady tone or hum: the modulation is measured again without the window's steady lines
# (see _under_steady_lines) where bins' floors (10th percentile over the frames) stand this far above
# the median bin's floor and hold at least MIN_STEADY_SHARE of the band's mean power.
STEADY_LINE_DB = 15.0
MIN_STEADY_SHARE = 0.1
RESIDUAL_RANGE_DB = 30.0  # what is left without the lines counts from this far below the median frame's power
MAX_TONE_SHARE = 0.995  # share of band energy around the 3 strongest spectral lines (each ±PEAK_BINS bins)
PEAK_BINS = 2  # a Hann-windowed line spreads over about 3 bins
MAX_FLATNESS = 0.75  # spectral flatness of the mean band spectrum
MIN_FLUX_DB = 0.4  # median change of the band spectrum's shape over 20 ms (see GateReading.flux_db)
FLUX_LAG = 2  # frames between the spectra compared
FLUX_RANGE_DB = 30.0  # frames this far below the window's loudest do not count toward the flux
MIN_FLUX_FRAMES = 10  # fewer frame pairs than this: the flux is not judged
SHAPE_RANGE_DB = 35.0  # the depth of a frame's spectrum the flux looks at (see _shape)
SILENT_FRAME_DB = -80.0  # frames below this band level in dBFS (digital silence) do not count toward the modulation
# The line drift (see GateReading.line_drift_hz and _line_drift): frames within LINE_RANGE_DB of the
# window's loudest, pairs of them LINE_LAGS frames apart (10 ms each; 50, 100 and 200 ms hold whole
# periods of the beats of two- and three-line ringing tones, whose lines one 32-ms frame does not
# resolve; a lag of 20 ms took speech's drift lower), judged with at least MIN_LINE_PAIRS pairs at a lag.
LINE_RANGE_DB = 10.0
LINE_LAGS = (5, 10, 20)
MIN_LINE_PAIRS = 5
MIN_LINE_DRIFT_HZ = 1.6
LINE_PROMINENCE_DB = 15.0  # a peak this far above its frame's median bin is a line (see _line_drift)
MAX_TONE_LINES = 2  # a loud frame with more prominent peaks than this is harmonic-rich: a voice's
MIN_RICH_FRAMES = 10  # a window with this many harmonic-rich frames (0.1 s) holds a voice
# The thresholds hold for this much sound: a shorter window is judged on the stretch of its speech
# segment that ends with it and is this long (or the segment from its start), since one second of
# speech can hold a sustained vowel whose frames vary by less than MIN_MODULATION_DB.
CONTEXT_S = 2.0


@dataclass(frozen=True)
class GateReading:
    # The spread of the frame levels in the speech band, or in its lower part (LOW_PART_HZ) where that
    # is wider and the part's share of the band's power spreads as speech's does in noise
    # (LOW_SHARE_SPREAD_DB): noise fills the whole band and narrows the band's spread, while speech's
    # power gathers in the lower part, where it stands further above white or pink noise (module
    # docstring). A tone or a melody that moves in and out of the part (a siren, a whistled tune)
    # changes its share by far more, and is not judged on the part.
    modulation_db: float
    tone_share: float
    flatness: float
    # The median change of the band spectrum's shape (its dB levels less their mean, at most
    # SHAPE_RANGE_DB deep) from each loud frame to the frame 20 ms later, mean over the bins: speech's
    # formants and voicing move all the time (0.67-7.6 dB, module docstring), a held note keeps its
    # harmonics where they are while it fades (a piano-like melody 0-0.12, a pure tone 0).
    flux_db: float = float("inf")
    # How far the line of the loud frames with one or two prominent lines moves (Hz; median over pairs
    # of loud frames, frames rich in lines counting as 99 Hz, the least over LINE_LAGS; inf when too
    # few frames take part; 99 where the window holds a voice's harmonics; see _line_drift): most tones
    # with line noise 10 dB below drift by 1.3 Hz or less (the module docstring says which drift more),
    # speech by more than the threshold in all but a few windows in a thousand (module docstring).
    line_drift_hz: float = float("inf")

    @property
    def speech_like(self) -> bool:
        return (self.modulation_db >= MIN_MODULATION_DB and self.tone_share <= MAX_TONE_SHARE
                and self.flatness <= MAX_FLATNESS and self.flux_db >= MIN_FLUX_DB
                and self.line_drift_hz >= MIN_LINE_DRIFT_HZ)

    @property
    def reason(self) -> str:
        if self.modulation_db < MIN_MODULATION_DB:
            return "steady sound (noise, hum, a tone or sustained music)"
        if self.tone_share > MAX_TONE_SHARE:
            return "a tone"
        if self.flatness > MAX_FLATNESS:
            return "noise"
        if self.flux_db < MIN_FLUX_DB:
            return "held notes (music)"
        if self.line_drift_hz < MIN_LINE_DRIFT_HZ:
            return "steady tones (a ringing or busy tone, or music)"
        return "speech"

    @property
    def tonal_reason(self) -> str | None:
        """"a tone" when nearly all the sound is in a few spectral lines, else None: what a stretch too
        short to show syllables is judged by (speech's level spread and spectral changes need longer
        than a short word to show, and a word over a steady tone has that tone's steady line)."""
        return "a tone" if self.tone_share > MAX_TONE_SHARE else None


# float64, and so the windowed frames: numpy's FFT of float32 frames is several times slower once a
# call has more than a few dozen frames (numpy 2.4: 960 against 180 us for a 2-s window's 197 frames).
_WINDOW = np.hanning(N_FFT)
# Power of a full-scale sine's line in the windowed FFT: band levels are in dB relative to it (dBFS).
_FULL_SCALE = float((_WINDOW.sum() / 2) ** 2)
_SHAPE_FLOOR = 1e-12 * _FULL_SCALE  # -120 dBFS: empty bins of digital silence
_DB_PER_NEPER = 10 / np.log(10)  # power
_FREQS = np.fft.rfftfreq(N_FFT, 1 / SAMPLE_RATE_HZ)
_BAND = (_FREQS >= BAND_HZ[0]) & (_FREQS <= BAND_HZ[1])
_BIN_HZ = SAMPLE_RATE_HZ / N_FFT
_LINE_PROMINENCE = 10 ** (LINE_PROMINENCE_DB / 10)
_BAND_BINS = slice(int(np.argmax(_BAND)), int(len(_BAND) - np.argmax(_BAND[::-1])))  # the same bins, as a slice
_N_BAND_BINS = _BAND_BINS.stop - _BAND_BINS.start
# Where the band's lower part and the rest start among the band's bins (np.add.reduceat's indices).
_PART_STARTS = np.array([0, int(np.searchsorted(_FREQS[_BAND_BINS], LOW_PART_HZ[1]))])


@dataclass
class GateFrames:
    """The band spectra of the latest window the gate measured in one speech segment. The next
    window of the segment starts a whole number of 10-ms frames later (the engine's hop is 50
    frames), so the frames the two windows share are taken from here instead of transformed
    again: the same numbers, as each frame's spectrum depends only on its own samples."""

    start: int | None = None  # position of the first frame, in samples on the caller's clock
    band: np.ndarray | None = field(default=None, repr=False)  # (frames, bins) band power
    flux: np.ndarray | None = field(default=None, repr=False)  # (frames,) each frame's change (_changes)
    kinds: np.ndarray | None = field(default=None, repr=False)  # (frames,) each frame's kind (_kinds)
    lines: np.ndarray | None = field(default=None, repr=False)  # (frames,) each frame's strongest peak (_kinds)


# Frames transformed per FFT call. A whole 2-s window's 197 frames at once make float64 arrays of
# 0.8 MB (the windowed frames, then their spectra); in steps of 32 the working set stays small and
# the same numbers came 3 times faster (1.10 -> 0.36 ms for 197 frames, benchmarks/RESULTS.md). Steps
# of 64, which take a window's 50 new frames in one call, made the gate slower per window (590
# against 426 us) though a loop of FFTs alone ran faster.
_STEP_FRAMES = 32


def _band_power(x: np.ndarray, first: int, n: int) -> np.ndarray:
    """Band power spectra of frames ``first`` to ``n - 1`` of ``x`` (frame j starts at ``FRAME * j``)."""
    # The frames as a strided view of x (numpy's array constructor: 0.5 us, where
    # sliding_window_view's checks took 10 us a call, and this runs for every window).
    x = np.ascontiguousarray(x)
    frames = np.ndarray((max(0, n - first), N_FFT), x.dtype, x, FRAME * first * x.itemsize,
                        (FRAME * x.itemsize, x.itemsize))
    out = np.empty((len(frames), _N_BAND_BINS))
    for i in range(0, len(frames), _STEP_FRAMES):
        spectrum = np.fft.rfft(frames[i:i + _STEP_FRAMES] * _WINDOW, axis=1)[:, _BAND_BINS]
        np.add(spectrum.real ** 2, spectrum.imag ** 2, out=out[i:i + _STEP_FRAMES])
    return out


def measure(x: np.ndarray, start: int | None = None, frames: GateFrames | None = None) -> GateReading:
    """The gate's five measurements of a mono 16 kHz window. With ``frames`` (the segment's
    :class:`GateFrames`) and the window's ``start`` sample, frames shared with the segment's previous
    window are reused and this window's are kept for the next."""
    x = np.asarray(x, dtype=np.float32)
    n = (len(x) - N_FFT) // FRAME + 1
    if n < 4:
        return GateReading(float("inf"), 0.0, 0.0)  # too short to judge: let the model decide
    reuse, reuse_flux = np.zeros((0, _N_BAND_BINS), np.float64), np.zeros(0)
    reuse_kinds, reuse_lines = np.zeros(0, np.int8), np.zeros(0, np.intp)
    if frames is not None and frames.band is not None and start is not None and frames.start is not None:
        offset, rest = divmod(start - frames.start, FRAME)
        if offset >= 0 and rest == 0:
            reuse, reuse_flux = frames.band[offset:offset + n], frames.flux[offset:offset + n]
            reuse_kinds, reuse_lines = frames.kinds[offset:offset + n], frames.lines[offset:offset + n]
    if len(reuse) < n:
        band = np.concatenate([reuse, _band_power(x, len(reuse), n)])
        flux = np.concatenate([reuse_flux, _changes(band, len(reuse))])
        new_kinds, new_lines = _kinds(band[len(reuse):])
        kinds, lines = np.concatenate([reuse_kinds, new_kinds]), np.concatenate([reuse_lines, new_lines])
    else:
        band, flux, kinds, lines = reuse, reuse_flux, reuse_kinds, reuse_lines
    if frames is not None and start is not None:
        frames.start, frames.band, frames.flux, frames.kinds, frames.lines = start, band, flux, kinds, lines
    # Each frame's power in the band, in its lower part, and that part's share of it, as levels (dB).
    powers = np.empty((n, 3))
    np.add.reduceat(band, _PART_STARTS, axis=1, out=powers[:, 1:])
    powers[:, 0] = powers[:, 1] + powers[:, 2]
    levels = np.empty((n, 3))
    levels[:, :2] = 10 * np.log10(powers[:, :2] / _FULL_SCALE + 1e-20)  # (the upper part's own level is not needed)
    level = levels[:, 0]
    audible = level > SILENT_FRAME_DB
    if audible.sum() < 4:
        return GateReading(float("inf"), 0.0, 0.0)
    levels[:, 2] = levels[:, 1] - level
    low, high = spread_percentiles(levels[audible])
    modulation = float(high[0] - low[0])
    if LOW_SHARE_SPREAD_DB[0] <= high[2] - low[2] <= LOW_SHARE_SPREAD_DB[1]:  # speech, and noise between it
        modulation = max(modulation, float(high[1] - low[1]))
    apart = None  # the bins besides the window's steady lines, where its modulation was measured without them
    if modulation < MIN_MODULATION_DB:  # steady: perhaps speech over a tone or hum that fills its pauses
        below_lines, apart = _under_steady_lines(band[audible])
        if below_lines > modulation:
            modulation = below_lines
        else:
            apart = None
    mean = band[audible].mean(axis=0) + 1e-20
    tone = float(_line_energy(mean) / mean.sum())
    flatness = _flatness(mean)
    if apart is not None:  # judged without the lines, the rest is judged without them too: noise such
        flatness = max(flatness, _flatness(mean[apart]))  # as typing or rain over a whine is still noise
    return GateReading(modulation, tone, flatness, _flux(flux, level, audible), _line_drift(band, kinds, lines, level, audible))


_STEADY_LINE = 10 ** (STEADY_LINE_DB / 10)
_FLOOR_FRACTION = np.array([0.1])


def _flatness(spectrum: np.ndarray) -> float:
    """Spectral flatness: the geometric mean of the power over its arithmetic mean (1 for white noise)."""
    return float(np.exp(np.mean(np.log(spectrum))) / np.mean(spectrum))


def _under_steady_lines(band: np.ndarray) -> tuple[float, np.ndarray | None]:
    """The modulation of what a window holds besides its steady lines (a whine, a tone, mains hum's
    harmonics), 0 where it has none. A line that lasts the whole window fills the pauses between
    words, and the frame levels of speech over a 1-kHz tone 5 dB below it spread by less than
    MIN_MODULATION_DB in about one window in six. Each bin's floor is its 10th percentile over the
    frames; where bins' floors stand STEADY_LINE_DB above the median bin's and they and their
    neighbours hold MIN_STEADY_SHARE of the band's mean power, each frame's level is taken from its
    power above the floors (at least RESIDUAL_RANGE_DB below the median frame's power, so that a tone
    alone, with next to nothing above its floor, reads steady), and the spread of those levels returned,
    with the bins that are not the lines' (None without lines): what :func:`measure` judges the
    flatness of as well (typing, rain or applause over a whine is noise still)."""
    floor = percentiles(band, _FLOOR_FRACTION)[0]
    lines = floor > np.partition(floor, len(floor) // 2)[len(floor) // 2] * _STEADY_LINE
    if not lines.any():
        return 0.0, None
    near = lines.copy()  # a line spreads over its neighbouring bins
    near[1:] |= lines[:-1]
    near[:-1] |= lines[1:]
    total = band.sum(axis=1)
    if floor[near].sum() < MIN_STEADY_SHARE * total.mean() or near.all():
        return 0.0, None
    residual = np.maximum(band - floor, 0.0).sum(axis=1)
    residual += np.median(total) * 10 ** (-RESIDUAL_RANGE_DB / 10) + 1e-30
    low, high = spread_percentiles(10 * np.log10(residual))
    return float(high - low), ~near


def _changes(band: np.ndarray, first: int) -> np.ndarray:
    """For frames ``first`` on of ``band``: the mean change over the bins of the spectrum's shape
    (:func:`_shape`) from the frame FLUX_LAG before (NaN for the first FLUX_LAG frames). A frame's
    value depends on its own and that frame's samples only, so a segment's windows share them."""
    shape = _shape(band[max(0, first - FLUX_LAG):])
    change = np.abs(shape[FLUX_LAG:] - shape[:-FLUX_LAG]).mean(axis=1, dtype=np.float64) * _DB_PER_NEPER
    missing = len(band) - first - len(change)  # frames without one FLUX_LAG before them
    return np.concatenate([np.full(missing, np.nan), change]) if missing else change


def _shape(band: np.ndarray) -> np.ndarray:
    """Each frame's band spectrum in nepers of power less its mean over the bins: its shape, whatever its level.
    Bins more than SHAPE_RANGE_DB below the frame's strongest count as that: noise between a note's
    harmonics changes at random from frame to frame, and would read as change (at 60 dB deep, a piano
    melody 40 dB above white noise passed in half of its windows; at 35, one 30 dB above it passes in
    none)."""
    # In nepers and float32 (natural logarithms of float32 are several times faster than log10 of
    # float64: 0.05 against 0.25-0.47 ms for a window's 197 frames); _changes gives dB.
    shape = np.log(band.astype(np.float32) + np.float32(_SHAPE_FLOOR))
    np.maximum(shape, shape.max(axis=1, keepdims=True) - np.float32(SHAPE_RANGE_DB / _DB_PER_NEPER), out=shape)
    shape -= shape.mean(axis=1, keepdims=True)
    return shape


def _flux(flux: np.ndarray, level: np.ndarray, audible: np.ndarray) -> float:
    """:attr:`GateReading.flux_db` of a window from its frames' changes (:func:`_changes`; inf when too
    few frames are loud). Only changes between two of the window's own loud frames count."""
    loud = audible & (level > level.max() - FLUX_RANGE_DB)
    values = flux[FLUX_LAG:][loud[FLUX_LAG:] & loud[:-FLUX_LAG]]
    n = len(values)
    if n < MIN_FLUX_FRAMES:
        return float("inf")
    return float(percentiles(values, _MEDIAN)[0])


_AROUND = np.arange(-2, 3)  # the bins around a line that its next position and interpolation look at


def _kinds(band: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each frame's kind for :func:`_line_drift` (0 flat, 1 tonal, 2 rich) and its strongest peak (a bin
    two or more inside the band). Both depend on the frame's own samples only, so a segment's windows
    share them."""
    inner = band[:, 1:-1]
    middle = inner[:, 1:-1]
    peak = (middle >= inner[:, :-2]) & (middle >= inner[:, 2:])
    floor = np.partition(band, band.shape[1] // 2, axis=1)[:, band.shape[1] // 2]
    prominent = peak & (middle >= floor[:, None] * _LINE_PROMINENCE)
    strongest = np.argmax(middle * peak, axis=1)
    kinds = np.where(prominent.sum(axis=1) > MAX_TONE_LINES, 2,
                     prominent[np.arange(len(band)), strongest]).astype(np.int8)
    return kinds, 2 + strongest


def _line_drift(band: np.ndarray, kinds: np.ndarray, lines: np.ndarray, level: np.ndarray,
                audible: np.ndarray) -> float:
    """:attr:`GateReading.line_drift_hz` of a window. Each frame is one of three kinds (:func:`_kinds`), by
    its prominent peaks (local maxima of the band spectrum at least LINE_PROMINENCE_DB above the frame's
    median bin, two bins or more inside the band):
    - **flat**, when its strongest peak is not prominent: noise, such as the noise in the gaps between
      a tone's beeps; it takes no part;
    - **rich**, with more than MAX_TONE_LINES prominent peaks: a voice's harmonics (a held vowel too,
      or speech over a steady tone);
    - **tonal**, with one or a few prominent lines.
    A window with at least MIN_RICH_FRAMES rich frames at any level holds a voice: its drift is 99 Hz
    (a beep in speech, louder than the words, is not a tone on a line). Otherwise pairs of loud frames
    of the same kind LINE_LAGS apart are judged: a rich pair counts as moving (99 Hz); in a tonal
    pair the first frame's strongest peak is the line, and in the second the line is the strongest of
    the three bins around it, or none if that bin is not a peak (99 Hz); the line moved by as much as
    the power-weighted centre of the five bins around the first frame's line moved. (A parabola's
    vertex through the top three bins, used before, is ill-conditioned on a flat top: two lines a bin
    or two apart, as in a 400 + 450 Hz ringing tone, merge into one, and with line noise its vertex
    wandered by 2-5 Hz.) The drift is the least over the lags of the median over their pairs, of a lag
    with at least MIN_LINE_PAIRS pairs."""
    if np.count_nonzero(kinds[audible] == 2) >= MIN_RICH_FRAMES:
        return 99.0
    loud = audible & (level > level[audible].max() - LINE_RANGE_DB)
    kind = kinds * loud  # 0: not loud, or flat; 1: tonal; 2: rich
    starts, rich = [], []
    for lag in LINE_LAGS:
        i = np.flatnonzero((kind[:-lag] == kind[lag:]) & (kind[lag:] > 0))  # loud, of the same kind, not flat
        tonal = kind[i] == 1
        starts.append(i[tonal])
        rich.append(len(i) - int(tonal.sum()))
    counts = [len(t) for t in starts]
    if all(m + r < MIN_LINE_PAIRS for m, r in zip(counts, rich)):
        return float("inf")
    i = np.concatenate(starts)
    drift = np.zeros(0)
    if len(i):
        n_bins = band.shape[1]
        # The five bins around the line in both frames of each pair, in one gather from the flat array.
        at = np.concatenate([i * n_bins + lines[i], (i + np.repeat(LINE_LAGS, counts)) * n_bins + lines[i]])
        near = band.reshape(-1)[at[:, None] + _AROUND] + _SHAPE_FLOOR
        here, there = near[:len(i)], near[len(i):]
        c = 1 + np.argmax(there[:, 1:4], axis=1)
        flat = there.reshape(-1)
        top = np.arange(0, flat.size, 5) + c
        a, b, e = flat[top - 1], flat[top], flat[top + 1]
        moved = (there @ _AROUND) / there.sum(axis=1) - (here @ _AROUND) / here.sum(axis=1)
        drift = np.where((b >= a) & (b >= e), np.abs(moved) * _BIN_HZ, 99.0)
    best, at = float("inf"), 0
    for m, r in zip(counts, rich):
        if m + r >= MIN_LINE_PAIRS:
            best = min(best, float(percentiles(np.concatenate([drift[at:at + m], np.full(r, 99.0)]), _MEDIAN)[0]))
        at += m
    return best


_SPREAD = np.array([10.0, 90.0]) / 100  # the percentiles whose distance is the modulation
_MEDIAN = np.array([0.5])


def spread_percentiles(values: np.ndarray) -> np.ndarray:
    """The 10th and 90th percentiles of ``values`` (float64, not empty; of each column of a 2-D
    array): the same numbers as ``np.percentile(values, [10, 90], axis=0)``."""
    return percentiles(values, _SPREAD)


def percentiles(values: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """The percentiles ``fractions`` (0-1) of ``values`` (not empty; along its first axis): the
    same numbers as ``np.percentile(values, 100 * fractions, axis=0)`` (its default linear
    interpolation, reproduced step by step), at less than half its cost per window."""
    n = len(values)
    virtual = (n - 1) * fractions
    below = np.floor(virtual).astype(np.intp)
    above = np.minimum(below + 1, n - 1)
    gamma = virtual - below
    ordered = np.partition(values, np.unique(np.concatenate([below, above])), axis=0)
    a, b = ordered[below], ordered[above]
    diff = b - a
    if values.ndim > 1:
        gamma = gamma.reshape(-1, *([1] * (values.ndim - 1)))
    return np.where(gamma >= 0.5, b - diff * (1 - gamma), a + diff * gamma)


def _line_energy(spectrum: np.ndarray, lines: int = 3) -> float:
    """Energy within ±PEAK_BINS bins of the ``lines`` strongest spectral peaks."""
    s = spectrum.copy()
    total = 0.0
    for _ in range(lines):
        k = int(np.argmax(s))
        lo, hi = max(0, k - PEAK_BINS), min(len(s), k + PEAK_BINS + 1)
        total += float(s[lo:hi].sum())
        s[lo:hi] = 0.0
    return total


def speech_like(x: np.ndarray, start: int | None = None, frames: GateFrames | None = None) -> bool:
    """Whether a window sounds like speech at all (see the module docstring; ``start`` and
    ``frames`` as for :func:`measure`)."""
    return measure(x, start, frames).speech_like
