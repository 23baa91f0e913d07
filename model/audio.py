"""Audio helpers shared by training and streaming: reading, checking, resampling, trimming.

Inside the product audio is mono float32 in [-1, 1] at 16 kHz with shape ``(n_samples,)``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import soundfile as sf
import soxr

from model.errors import AudioError
from model.times import time_text

SAMPLE_RATE_HZ = 16000
MIN_SAMPLE_RATE_HZ = 8000
TELEPHONE_RATE_HZ = 8000  # a telephone line's audio (narrowband: nothing above 4 kHz)
# Audio formats this program reads (libsndfile through soundfile), by file ending.
AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif", ".au", ".w64",
                            ".caf", ".rf64"})
# Audio formats libsndfile (through soundfile) does not read: compressed formats of phones, browsers
# and media players. Files in them are refused with a conversion hint rather than a decoder error.
UNSUPPORTED_AUDIO_SUFFIXES = frozenset({".m4a", ".aac", ".mp4", ".m4b", ".wma", ".webm", ".amr", ".3gp", ".mka"})


def unsupported_format_message(path: str | os.PathLike) -> str:
    stem = os.path.splitext(os.path.basename(path))[0]
    return (f"{path}: the {os.path.splitext(str(path))[1].lower()} format is not supported (this program reads WAV, "
            f"FLAC, OGG/Opus, MP3, AIFF and other formats of libsndfile). Convert it first, e.g. "
            f"ffmpeg -i {os.path.basename(path)} {stem}.wav")


# Below this peak level (dBFS) a recording is so quiet that speech in it may go unnoticed.
VERY_QUIET_PEAK_DBFS = -40.0
VERY_QUIET_PEAK = 10 ** (VERY_QUIET_PEAK_DBFS / 20)  # the same as a sample's magnitude


# A recording with more than CLIPPED_SHARE of its samples at full scale (CLIPPED_LEVEL and above) is
# reported as clipped. Loud speech recorded well reaches full scale in a few samples at most; a trial's
# recording driven into clipping had 5 % of them there, and its emotions moved.
CLIPPED_LEVEL = 0.999  # of the format's full scale (FULL_SCALE)
CLIPPED_SHARE = 0.001
# The largest value a format's samples decode to, where it is not 1 (to the sample below it for
# PCM's positive side): telephone recordings are mostly mu-law or A-law.
FULL_SCALE = {"ULAW": 32124 / 32768, "ALAW": 32256 / 32768, "PCM_U8": 127 / 128}
# A-law (G.711, common in call recordings) has no code for zero: silence decodes to +-8 of 32768
# (-72 dBFS), a hiss the voice-activity detector took for speech, so that pauses ended no segment
# (an 8-kHz A-law call's 32 s read as one segment, 12 as 16-bit PCM). Its two smallest codes are read
# as zero, as a mu-law file's silence is (mu-law has a zero): a change of at most 8 of 32768.
ALAW_ZERO = 8.5 / 32768


def _where(path: str | os.PathLike, channel: str | None) -> str:
    """The file, and the channel when one channel of several is meant: "call.wav (Customer channel)"."""
    return f"{path} ({channel} channel)" if channel else str(path)


def clipped_message(path: str | os.PathLike, share: float, channel: str | None = None) -> str:
    return (f"{_where(path, channel)}: {share:.1%} of the samples are at full scale (clipped): the recording "
            "level was too high, and emotions read from distorted speech are less reliable. Record at a lower level.")


def live_clipping_message(device: str, share: float, seconds: float, channel: str | None = None) -> str:
    """A microphone whose input clips (said while it is listened to, once a session)."""
    return (f"{_where(f'Microphone {device}', channel)}: {share:.1%} of the samples of its last {seconds:.0f} s of "
            "sound are at full scale (clipped): the input level is too high, and emotions read from distorted "
            "speech are less reliable. Lower the input level in the system's sound settings.")


LIVE_SILENT_TEXT = "held no sound at all"  # how live_quiet_message's notes are told (is_live_quiet_message)
LIVE_QUIET_TEXT = "if someone has been speaking, the input level is very low"


def live_quiet_message(device: str, peak: float, seconds: float, channel: str | None = None) -> str:
    """A microphone whose input has stayed silent or very quiet since it was opened (said once while
    it is listened to): ``peak`` is its loudest sample less its DC offset over ``seconds``."""
    where = _where(f"Microphone {device}", channel)
    if peak <= 0:
        return (f"{where}: its first {seconds:.0f} s {LIVE_SILENT_TEXT} (every sample the same, as a muted input "
                "gives): the input is probably muted, or not the one in use. Check its mute switch and the "
                "system's sound settings, or choose another microphone.")
    return (f"{where}: its sound has stayed below {20 * np.log10(peak):.0f} dBFS for its first {seconds:.0f} s: "
            f"{LIVE_QUIET_TEXT} and speech this quiet may not be found. Raise it in the system's sound settings.")


def is_live_quiet_message(message: str) -> bool:
    """A note of :func:`live_quiet_message` (which holds only until sound comes in)."""
    return message.startswith("Microphone ") and (LIVE_SILENT_TEXT in message or LIVE_QUIET_TEXT in message)


LIVE_SOUND_BACK_TEXT = "sound came in at"  # how live_sound_back_message's notes are told


def live_sound_back_message(device: str, at_s: float, channel: str | None = None) -> str:
    """Sound came in on a live input that :func:`live_quiet_message` said was silent or very quiet
    (unmuted, or its level raised), ``at_s`` seconds into the session: that note no longer holds."""
    return (f"{_where(f'Microphone {device}', channel)}: {LIVE_SOUND_BACK_TEXT} {at_s:.1f} s; the note that it "
            "was silent or very quiet no longer holds from there on.")


def is_live_sound_back_message(message: str) -> bool:
    return message.startswith("Microphone ") and f": {LIVE_SOUND_BACK_TEXT} " in message


def very_quiet_message(path: str | os.PathLike, peak: float, raw_peak: float | None = None,
                       channel: str | None = None) -> str:
    """``peak``: the loudest sample less the recording's DC offset; ``raw_peak``: as it is;
    ``channel``: the channel's name when it is one of several analysed apart."""
    where, what = _where(path, channel), "this channel" if channel else "the recording"
    if peak <= 0 and not raw_peak:
        return (f"{where}: {what} is digital silence (every sample is zero): there is nothing to analyse. "
                "Check that the right input or channel was recorded.")
    if peak <= 0:
        return (f"{where}: {what} holds no sound (every sample has the same value, a DC offset): there is "
                "nothing to analyse. Check that the right input or channel was recorded.")
    return (f"{where}: very quiet {'channel' if channel else 'recording'} (its sound peaks at "
            f"{20 * np.log10(peak):.0f} dBFS); speech this quiet may not be found. Raise the recording level or "
            "the microphone gain.")


def twin_channels_message(where: str, first: str, second: str, analysed: Sequence[str], n_channels: int,
                          live: bool = False) -> str:
    """The channels ``first`` and ``second`` (in the file's order) hold the same sound, one maybe louder
    than the other: a channel analysed on its own (``analysed``: those of the two that are) has every
    voice in it, not one speaker's (a mono recording saved as stereo, a mono microphone given as two
    channels)."""
    mono = f"a mono microphone given as {n_channels} channels" if live else \
        f"a mono recording saved as {n_channels} channels"
    which = "each has" if len(analysed) > 1 else f"the {analysed[0]} channel has"
    return (f"{where}: the {first} and {second} channels hold the same sound ({mono}?), so {which} every voice "
            "in it, a call's agent's too, not one speaker's: its results are those of the whole conversation. "
            "Splitting channels separates speakers only when each channel holds one.")


def agent_twin_refusal(where: str, twin_pairs: Sequence[tuple[int, int]], analysed: Sequence[int],
                       names: Sequence[str], errors: Sequence[str] = ()) -> str | None:
    """Why a call is refused, or None: a channel left out (the agent's) and an analysed one held the
    same sound (``twin_pairs``, the source's), so the customer's channel has the agent's voice in it
    too, and its results would be the agent's as much (``ser batch`` and ``ser analyze --channels
    split`` with an agent named keep none). ``errors``: what else went wrong reading it (a file cut
    short)."""
    pairs = [(a, b) for a, b in twin_pairs if (a in analysed) != (b in analysed)]
    if not pairs:
        return None
    a, b = sorted(pairs[0])
    also = f" Also: {'; '.join(errors)}" if errors else ""
    return (f"{where}: its {names[a]} and {names[b]} channels hold the same sound (a mono recording saved as "
            f"{len(names)} channels?), so both parties are mixed in each, the agent's voice in the customer's "
            "channel; no results are kept. --analyse-agent analyses such recordings where that is lawful (with "
            f"--channels mix: their channels are one).{also}")


# How a note that a recording's channels take turns ends: what to do, on the command line
# (split_advice), and in the app (gui/main_window.py gives one of these in its place).
SPLIT_ADVICE_START = "To analyse each side apart"
SPLIT_ADVICE_IN_APP = f"{SPLIT_ADVICE_START}, choose Channels: Call centre."
SPLIT_ADVICE_IN_SESSION = f"{SPLIT_ADVICE_START}, open the recording (File > Open file) with Channels: Call centre."
TURN_TAKING = " channels take turns"  # a part only that note has


def split_advice(n_channels: int) -> str:
    """How ser analyze analyses each channel of a call apart, one name per channel in channel order."""
    if n_channels == 2:
        return (f"{SPLIT_ADVICE_START}: ser analyze --channels split --names Agent,Customer, the names in channel "
                "order (the agent's channel is then left out, as ser batch does).")
    names = ",".join(["Agent", "Customer", *(f"ch{i}" for i in range(3, n_channels + 1))])
    return (f"{SPLIT_ADVICE_START}: ser analyze --channels split --names with one name per channel, in channel "
            f"order, e.g. {names} (a channel named Agent is then left out, as ser batch does).")


def in_app_split_advice(message: str, session: bool = False) -> str:
    """``message`` with the command line's advice to split channels in the app's words: choose Call
    centre, or, in a session (whose Channels setting analyses nothing again), open the recording so."""
    at = message.find(f"{SPLIT_ADVICE_START}: ser analyze")
    if at < 0:
        return message
    return message[:at] + (SPLIT_ADVICE_IN_SESSION if session else SPLIT_ADVICE_IN_APP)


def turn_taking_message(where: str, n_channels: int) -> str:
    """The channels of a recording analysed mixed take turns, one sounding while the others are silent,
    as a call recorded one side per channel does: mixed, every voice (the agent's too) makes one
    track of results, which read like one speaker's."""
    others = "other is" if n_channels == 2 else "others are"
    return (f"{where}: its{TURN_TAKING}, one sounding while the {others} silent, as a call recorded one side per "
            "channel does. Mixed into one track, all its voices are analysed as one speaker (a call's agent "
            f"too). {split_advice(n_channels)}")


def band_edge_khz(rate: float) -> str:
    """The highest frequency audio at ``rate`` holds, in kHz to a tenth ("4", "5.5")."""
    return f"{rate / 2000:.1f}".removesuffix(".0")


def narrowband_message(where: str, rate: int, live: bool = False) -> str:
    """Audio below 16 kHz (a telephone recording at 8 kHz, a headset in its call mode) holds none of the
    upper band the model hears: its results are less reliable, and the user should know it."""
    band = " (telephone band)" if rate <= TELEPHONE_RATE_HZ else ""
    return (f"{where}: {'runs' if live else 'recorded'} at {rate} Hz, so nothing above {band_edge_khz(rate)} kHz is in "
            f"{'its sound' if live else 'it'}{band}. The model learnt from {SAMPLE_RATE_HZ // 1000}-kHz "
            "studio speech and was less accurate through a simulated telephone line (the model card gives the "
            "figures): read its emotions with more caution.")


EIGHT_BIT_SUBTYPES = ("PCM_U8", "PCM_S8")  # linear 8-bit PCM (A-law and mu-law are companded: not these)


def eight_bit_message(where: str) -> str:
    """Linear 8-bit samples round every value to one of 256 steps: noise about 53 dB below a full-scale
    peak (the step over the square root of 12), as loud as quiet speech's pauses and breaths, where
    16-bit audio has it 101 dB down. Quiet speech then changes in what is found as speech and in
    how it is read: three recordings of eight RAVDESS utterances 1 s apart, peaking at -24 dBFS, gave
    22.6-23.1 s of speech instead of 15.9-18.9 s in 16 bits (the pauses taken for speech), 7.8-14.8 s
    of it uncertain instead of 0-1.9 s, and one woman's voice 61 % female instead of 92 %."""
    return (f"{where}: stored with 8-bit samples, whose rounding adds noise about 53 dB below full scale: where "
            "the speech is quiet, what is found as speech and how it is read can change (pauses taken for speech, "
            "results uncertain). Analyse the 16-bit (or better) original where there is one.")


class NativeStderr:
    """Collects what the C decoders under soundfile print on the process's standard error (libmpg123
    reports each damaged MP3 frame there) instead of letting it reach the user's terminal line by
    line; :meth:`summary` turns it into one sentence. Used around reads of MP3 files only: while it
    is active, everything written to file descriptor 2 by the process is collected."""

    def __init__(self, active: bool = True):
        self.active = active
        self.lines: list[str] = []
        self._saved: int | None = None
        self._tmp = None

    def __enter__(self) -> NativeStderr:
        if self.active:
            import sys
            import tempfile

            sys.stderr.flush()
            self._tmp = tempfile.TemporaryFile()
            self._saved = os.dup(2)
            os.dup2(self._tmp.fileno(), 2)
        return self

    def __exit__(self, *exc) -> None:
        if self._saved is None:
            return
        os.dup2(self._saved, 2)
        os.close(self._saved)
        self._saved = None
        self._tmp.seek(0)
        self.lines += [ln for ln in self._tmp.read().decode("utf-8", "replace").splitlines() if ln.strip()]
        self._tmp.close()

    def summary(self, path: str | os.PathLike) -> str | None:
        if not self.lines:
            return None
        # (no count: libmpg123 writes several lines about one damaged frame, and more when it resyncs)
        return (f"{path}: the MP3 decoder reported damaged frames and skipped them; if the results look wrong, "
                "re-encode the file (e.g. with ffmpeg) or use the original recording.")


def is_mp3(path: str | os.PathLike) -> bool:
    return str(path).lower().endswith((".mp3", ".mpga", ".mp2"))


def audio_info(path: str | os.PathLike):
    """soundfile's ``info`` of a file, with what the MP3 decoder prints meanwhile (e.g. "Warning: Xing
    stream size off by more than 1%" for a file cut short) kept from the user's terminal: its
    reading says what is wrong, in the product's words. Raises as ``soundfile.info``."""
    with NativeStderr(is_mp3(path)):
        return sf.info(str(path))


MP3_HEAD_BYTES = 4096  # read for an MP3's Xing/Info header
MP3_TAG_WITHIN = 200  # the header lies this near the first frame's start
MP3_CUT_SHARE = 0.01  # an MP3 short of the bytes its header declares by more than this share is cut
WAV_UNKNOWN_SIZES = (0, 0xFFFFFFFF)  # data sizes written by streaming recorders (and RF64): not checkable
MAX_RIFF_CHUNKS = 64


def wav_missing_fraction(path: str | os.PathLike) -> float | None:
    """For a WAV file whose header declares more audio than the file holds (a copy or download cut
    short), the fraction of the declared audio that is missing; None for complete WAV files and for
    every other format. libsndfile silently reads what is there, so this is checked apart."""
    sizes = _wav_data_sizes(path)
    if sizes is None:
        return None
    declared, available = sizes
    if declared in WAV_UNKNOWN_SIZES or declared <= available:
        return None
    return 1.0 - max(available, 0) / declared


def wav_length_unwritten(path: str | os.PathLike) -> bool:
    """Whether a WAV file's header declares no audio (a data size of 0) while the file holds some: its
    recorder has not written the length yet (still recording, or stopped before it finished the file)."""
    sizes = _wav_data_sizes(path)
    return sizes is not None and sizes[0] == 0 and sizes[1] > 0


def wav_unfinished_message(path, seconds: float) -> str:
    return (f"{path}: its header gives no length, as a recording still being written has (or one whose recorder "
            f"stopped before finishing the file); the {time_text(seconds)} it held when read were analysed. If it "
            "was still being recorded, analyse it again once the recording has ended.")


def no_samples_message(path) -> str:
    """The error for a file read as holding no audio: a WAV whose header gives no length while its
    data follows (a recorder that has not finished the file) says so."""
    if wav_length_unwritten(path):
        return (f"{path}: its header gives no length (0 bytes of audio), as a recording still being written has, or "
                "one whose recorder stopped before finishing the file; the audio after the header cannot be read. "
                "Analyse it once the recording has ended (its recorder then writes the length).")
    return f"{path}: the file holds no audio samples."


def _wav_data_sizes(path: str | os.PathLike) -> tuple[int, int] | None:
    """A WAV file's data chunk: (the size its header declares, the bytes after its header); None for
    other formats."""
    import struct

    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            pos = 12
            for _ in range(MAX_RIFF_CHUNKS):
                f.seek(pos)
                chunk = f.read(8)
                if len(chunk) < 8:
                    return None
                cid, csize = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                if cid == b"data":
                    return csize, size - (pos + 8)
                pos += 8 + csize + (csize & 1)
    except OSError:
        return None
    return None


OGG_TAIL_BYTES = 1 << 17  # an Ogg page is at most 65,307 bytes: the last one starts within this


def mp3_is_cut(path: str | os.PathLike) -> bool:
    """Whether an MP3 holds fewer bytes than its Xing/Info header (written by LAME and most encoders)
    declares for its stream: cut short. False when it has no such header with a byte count."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(MP3_HEAD_BYTES)
            start = 0
            if head[:3] == b"ID3" and len(head) >= 10:  # an ID3v2 tag before the stream: its size, syncsafe
                start = 10 + ((head[6] & 0x7F) << 21 | (head[7] & 0x7F) << 14 | (head[8] & 0x7F) << 7 | (head[9] & 0x7F))
                f.seek(start)
                head = f.read(MP3_HEAD_BYTES)
    except OSError:
        return False
    for tag in (b"Xing", b"Info"):
        at = head.find(tag, 0, MP3_TAG_WITHIN)  # inside the stream's first frame
        if at >= 0 and len(head) >= at + 16:
            flags = int.from_bytes(head[at + 4:at + 8], "big")
            if not flags & 2:  # no byte count
                return False
            field = at + 8 + (4 if flags & 1 else 0)
            declared = int.from_bytes(head[field:field + 4], "big")
            return declared > 0 and size - start < declared * (1 - MP3_CUT_SHARE)
    return False


def is_ogg(path: str | os.PathLike) -> bool:
    """Whether a file is an Ogg stream (Vorbis, Opus, FLAC in Ogg), by its first bytes."""
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"OggS"
    except OSError:
        return False


def ogg_is_cut(path: str | os.PathLike) -> bool:
    """Whether an Ogg file (Vorbis, Opus, FLAC in Ogg) ends without its end-of-stream mark, or in the
    middle of a page: a copy or download cut short, or a recording still being written. libsndfile
    reads such a file as a complete, shorter one. False for every other format."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            if f.read(4) != b"OggS":
                return False
            start = max(0, size - OGG_TAIL_BYTES)
            f.seek(start)
            tail = f.read()
    except OSError:
        return False
    at = len(tail)
    while (at := tail.rfind(b"OggS", 0, at)) >= 0:
        if at + 27 <= len(tail) and tail[at + 4] == 0:  # a page header (stream structure version 0)
            n_segments = tail[at + 26]
            table = tail[at + 27:at + 27 + n_segments]
            page_end = at + 27 + n_segments + sum(table)
            if len(table) < n_segments or page_end > len(tail):
                return True  # the file ends inside its last page
            return not tail[at + 5] & 0x04  # the header type's end-of-stream flag
    return False


def ogg_cut_message(path: str | os.PathLike, available_s: float) -> str:
    return (f"{path}: the Ogg file ends after {time_text(available_s)} of audio without its end-of-stream mark; it "
            "is truncated (a copy or download cut short?) or still being written.")


def truncation_message(path: str | os.PathLike, available_s: float, missing: float) -> str:
    declared_s = available_s / max(1.0 - missing, 1e-9)
    return (f"{path}: the WAV header declares {time_text(declared_s)} of audio but the file holds only "
            f"{time_text(available_s)}; it is truncated (a copy or download cut short?).")


def not_a_file_reason(path: str | os.PathLike) -> str:
    """Why ``path``, which is not a regular file, cannot be opened as a recording: missing (a broken
    link too), a folder, or something else (a device, a pipe)."""
    if not os.path.exists(path):
        return "file not found"
    return "is a folder, not an audio file" if os.path.isdir(path) else "is not a file (a device or a pipe?)"


def check_audio_path(path: str | os.PathLike) -> None:
    """Refuse, with a message that says why, what cannot be an audio file this program reads: a
    missing path, a folder, an empty file, a format libsndfile does not read."""
    if not os.path.exists(path) or os.path.isdir(path):
        raise AudioError(f"{path}: {not_a_file_reason(path)}.")  # the app's words for them too
    if os.path.getsize(path) == 0:
        raise AudioError(f"{path}: the file is empty (0 bytes).")
    if os.path.splitext(str(path))[1].lower() in UNSUPPORTED_AUDIO_SUFFIXES:
        raise AudioError(unsupported_format_message(path))


def decoder_reason(exc: BaseException, path: str | os.PathLike) -> str:
    """What a decoder said, for the brackets of a message that names the file already: libsndfile's
    "Error opening '<path>': Format not recognised." read "(Error opening ...: Format not recognised.)."."""
    text = str(exc).strip()
    for prefix in (f"Error opening {str(path)!r}: ", f"Error opening {path!r}: "):
        text = text.removeprefix(prefix)
    return text.rstrip(" .") or type(exc).__name__


def read_audio(path: str | os.PathLike, max_s: float | None = None) -> tuple[np.ndarray, int]:
    """Read a whole file (or its first ``max_s`` seconds) as float32 ``(frames, channels)`` and its
    rate. Raises :class:`AudioError`."""
    check_audio_path(path)
    try:
        with NativeStderr(is_mp3(path)):
            if max_s is None:
                data, rate = sf.read(str(path), dtype="float32", always_2d=True)
            else:
                with sf.SoundFile(str(path)) as f:
                    rate = f.samplerate
                    data = f.read(frames=max(1, int(max_s * rate)), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as exc:
        raise AudioError(f"{path}: cannot read this audio file ({decoder_reason(exc, path)}). Is it an audio file, "
                         "and complete?") from exc
    if data.shape[0] == 0:
        raise AudioError(no_samples_message(path))
    if max_s is None:  # (what was read against what the header declares: for the whole file)
        missing = wav_missing_fraction(path)
        if missing is not None:
            raise AudioError(truncation_message(path, data.shape[0] / rate, missing))
        if ogg_is_cut(path):
            raise AudioError(ogg_cut_message(path, data.shape[0] / rate))
    if not np.isfinite(data).all():
        raise AudioError(f"{path}: the file holds NaN or infinite samples; it is corrupt.")
    return data, int(rate)


def to_mono(data: np.ndarray) -> np.ndarray:
    """Mix ``(frames, channels)`` to ``(frames,)``."""
    if data.ndim == 1:
        return data
    return data.mean(axis=1, dtype=np.float32)


def resample(x: np.ndarray, rate_in: int, rate_out: int = SAMPLE_RATE_HZ) -> np.ndarray:
    if rate_in == rate_out:
        return np.asarray(x, dtype=np.float32)
    return soxr.resample(x, rate_in, rate_out, quality="HQ").astype(np.float32, copy=False)


def load_mono_16k(path: str | os.PathLike, max_s: float | None = None) -> np.ndarray:
    """Read a file (or its first ``max_s`` seconds), mix it to mono and resample it to 16 kHz."""
    data, rate = read_audio(path, max_s)
    check_rate(rate, str(path))
    return resample(to_mono(data), rate)


def check_rate(rate: int, what: str = "audio") -> None:
    if rate < MIN_SAMPLE_RATE_HZ:
        raise AudioError(
            f"{what}: sample rate {rate} Hz is too low for speech analysis; use {MIN_SAMPLE_RATE_HZ} Hz or more."
        )


def check_waveform(x: np.ndarray, what: str = "audio") -> np.ndarray:
    """Validate a mono waveform and return it as contiguous float32."""
    x = np.asarray(x)
    if x.ndim != 1:
        raise AudioError(
            f"{what}: expected mono audio of shape (n_samples,), got shape {x.shape}; "
            "mix the channels or split them into tracks first."
        )
    if x.size == 0:
        raise AudioError(f"{what}: no audio samples.")
    kind = x.dtype.kind  # (dtype kinds, not np.issubdtype: this runs for every analysis window)
    if kind not in "fiu":
        raise AudioError(f"{what}: audio must be numeric, got {x.dtype}.")
    if kind in "iu":
        x = x.astype(np.float32) / float(np.iinfo(x.dtype).max)
    x = np.ascontiguousarray(x, dtype=np.float32)
    if not np.isfinite(x).all():
        raise AudioError(f"{what}: audio contains NaN or infinite samples.")
    return x


def speech_bounds(x: np.ndarray, rate: int = SAMPLE_RATE_HZ, threshold_db: float = -35.0,
                  frame_ms: float = 20.0, pad_s: float = 0.15) -> tuple[int, int]:
    """Sample range holding the audible part of a clip: frames within ``threshold_db`` of the
    loudest frame, padded by ``pad_s``. Returns the whole clip when nothing stands out."""
    frame = max(1, int(rate * frame_ms / 1000))
    n = len(x) // frame
    if n < 2:
        return 0, len(x)
    energy = np.square(x[: n * frame].reshape(n, frame), dtype=np.float64).mean(axis=1)
    db = 10 * np.log10(energy + 1e-12)
    active = np.flatnonzero(db > db.max() + threshold_db)
    if active.size == 0:
        return 0, len(x)
    pad = int(pad_s * rate)
    return max(0, active[0] * frame - pad), min(len(x), (active[-1] + 1) * frame + pad)
