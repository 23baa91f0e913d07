"""Bad and unusual inputs: missing, empty, not audio, truncated, 8 kHz, too low a rate, 6 channels."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import soundfile as sf
import soxr
from streamer_helpers import SAMPLE_RATE_HZ, write_audio

from streamer import AudioError, ConfigError, FileSource, SpeechSegment, analyze_file, analyze_waveform

TELEPHONE_RATE_HZ = 8000
TOO_LOW_RATE_HZ = 4000
SIX_CHANNELS = 6
TIME_TOLERANCE_S = 0.1


def test_missing_file(tmp_path, stub_predictor):
    with pytest.raises(AudioError, match="not found"):
        analyze_file(tmp_path / "nope.wav", stub_predictor)


def test_empty_file(tmp_path, stub_predictor):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(AudioError, match="is empty"):
        analyze_file(path, stub_predictor)


def test_file_without_samples(tmp_path, stub_predictor):
    path = write_audio(tmp_path / "zero.wav", np.zeros(0, np.float32))
    with pytest.raises(AudioError, match="no audio samples"):
        analyze_file(path, stub_predictor)


def test_a_header_with_an_absurd_channel_count_is_called_damaged(speech_16k, tmp_path, stub_predictor):
    """A WAV whose channel count was overwritten with 300 read as 0.1 s of noise: 'no speech found'."""
    import struct

    path = write_audio(tmp_path / "badchan.wav", speech_16k)
    data = bytearray(path.read_bytes())
    data[22:24] = struct.pack("<H", 300)  # the fmt chunk's channel count
    path.write_bytes(bytes(data))
    with pytest.raises(AudioError, match="badchan.wav: its header says 300 channels.*damaged"):
        analyze_file(path, stub_predictor)


def test_not_an_audio_file(tmp_path, stub_predictor):
    path = tmp_path / "notes.wav"
    path.write_text("this is not audio\n" * 100)
    with pytest.raises(AudioError, match="notes.wav: cannot read"):
        analyze_file(path, stub_predictor)


def test_truncated_flac_reports_where_it_failed_and_keeps_results(speech_16k, tmp_path, stub_predictor):
    path = write_audio(tmp_path / "cut.flac", speech_16k, format="FLAC")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    res = analyze_file(path, stub_predictor)
    assert len(res.errors) == 1 and "cut.flac" in res.errors[0] and "truncated" in res.errors[0]
    assert res.segments, "the speech before the cut is still analysed"


def test_a_flac_damaged_mid_file_is_read_around_the_damage_at_its_own_times(speech_16k, tmp_path):
    """A decoding error used to lose the whole block it happened in and the rest of the file. The
    block is read again in small steps up to the damage, reading goes on where the decoder reads
    again, and the stretch between is silence: every other sample is the file's, at its own time."""
    x = np.tile(speech_16k, 2)
    path = write_audio(tmp_path / "damaged.flac", x, format="FLAC")
    data = bytearray(path.read_bytes())
    data[len(data) // 2:len(data) // 2 + 3000] = bytes(3000)
    path.write_bytes(bytes(data))
    with sf.SoundFile(str(path)) as f, pytest.raises(sf.LibsndfileError):  # what a plain read does
        f.read(dtype="float32")
    src = FileSource(path, pace="fast", block_frames=32000)
    audio = np.concatenate([b.data[:, 0] for b in src.blocks(threading.Event())])
    assert len(audio) == len(x)
    (note,) = [n for n in src.notices if "could not be decoded" in n]
    a, b = (int(round(float(t) * SAMPLE_RATE_HZ)) for t in note.split(" at ")[1].split(" s.")[0].split("-"))
    step = int(0.05 * SAMPLE_RATE_HZ)  # the note's times are to 0.1 s
    assert 0 < b - a < 1.5 * SAMPLE_RATE_HZ  # the 3,000 bytes cost about 0.1 s of FLAC, read around in steps
    assert np.abs(audio[:a - step] - x[:a - step]).max() < 1e-4  # the file's samples up to the damage ...
    assert np.all(audio[a + step:b - step] == 0.0)  # ... silence ...
    assert np.abs(audio[b + step:] - x[b + step:]).max() < 1e-4  # ... and the file's again, at their own times
    assert "approximate" not in note


def test_a_recording_still_being_written_is_not_called_complete(speech_16k, tmp_path, stub_predictor):
    """A file that grows while it is read (a recorder still writing it) was analysed up to the length
    it had when opened and reported complete; the rest went unanalysed until someone noticed."""
    path = write_audio(tmp_path / "recording.wav", speech_16k, subtype="PCM_16")
    src = FileSource(path, pace="fast", block_frames=16000)
    src.open()
    with open(path, "ab") as f:  # the recorder appends more audio meanwhile
        f.write(bytes(64000))
    with pytest.raises(AudioError, match=r"recording.wav: the file grew while it was read .* Analyse it again"):
        for _ in src.blocks(threading.Event()):
            pass
    assert not analyze_file(path, stub_predictor).errors  # once it stopped growing: read as it is


def test_truncated_wav_is_analysed_as_far_as_it_goes(speech_16k, tmp_path, stub_predictor):
    path = write_audio(tmp_path / "cut.wav", speech_16k, subtype="PCM_16")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    res = analyze_file(path, stub_predictor)
    # What the file holds is analysed, and the run says that the file is incomplete.
    assert len(res.errors) == 1 and "truncated" in res.errors[0]
    assert res.segments and max(s.end_s for s in res.segments) <= len(speech_16k) / 2 / SAMPLE_RATE_HZ + 0.5


@pytest.mark.parametrize("rate, start_s", [(16000, 0.0), (44100, 0.0), (16000, 1.5)])
def test_non_finite_samples_are_read_as_silence_and_the_rest_is_analysed(speech_16k, tmp_path, stub_predictor, rate,
                                                                          start_s):
    """A float file with NaN from 5.3 s to 6.3 s: a note gives where, the stretch is silence, and the
    speech after it is analysed (the analysis used to stop at the first bad sample)."""
    x = soxr.resample(speech_16k, SAMPLE_RATE_HZ, rate).astype(np.float32) if rate != SAMPLE_RATE_HZ else speech_16k.copy()
    x = np.concatenate([x, x])
    x[int(5.3 * rate):int(6.3 * rate)] = np.nan
    x[int(6.0 * rate)] = np.inf
    path = tmp_path / "nan.wav"
    sf.write(str(path), x, rate, subtype="FLOAT")
    res = analyze_file(path, stub_predictor, start_s=start_s)
    assert res.errors == []
    assert [n for n in res.notices if "not numbers" in n] == [
        f"{path}: {int(6.3 * rate) - int(5.3 * rate)} samples between 5.3 s and 6.3 s are not numbers (NaN or "
        "infinite): the file is damaged there. They were read as silence; the rest of the file is analysed."]
    assert res.analysed_until_s == pytest.approx(len(x) / rate, abs=0.01)
    assert max(s.end_s for s in res.segments) > len(x) / rate - 1.5  # speech after the damage is analysed


def test_non_finite_samples_of_one_channel_leave_the_other_as_it_is(speech_16k, tmp_path):
    x = np.stack([speech_16k, speech_16k[::-1]], axis=1).astype(np.float32)
    x[16000:16001, 1] = np.nan
    path = tmp_path / "one_nan.wav"
    sf.write(str(path), x, SAMPLE_RATE_HZ, subtype="FLOAT")
    src = FileSource(path, pace="fast", channels="split")
    got = np.concatenate([b.data for b in src.blocks(threading.Event())])
    assert np.array_equal(got[:, 0], x[:, 0]) and got[16000, 1] == 0.0
    assert np.array_equal(np.delete(got[:, 1], 16000), np.delete(x[:, 1], 16000))
    assert any("1 sample at 1.0 s is not a number" in n for n in src.notices), src.notices


def test_damaged_mp3_frames_are_skipped_and_the_rest_is_analysed(speech_16k, tmp_path, stub_predictor):
    """Zeroed bytes in an MP3 make libsndfile's read fail there (the analysis stopped); its decoder
    goes on after them by itself. The rest is analysed, and the note says how much audio is missing,
    and so how early the times of what follows come: measured here against the intact file."""
    x = np.tile(np.concatenate([speech_16k, np.zeros(4000, np.float32)]), 4)
    intact = write_audio(tmp_path / "intact.mp3", x, format="MP3")
    reference = sf.read(str(intact), dtype="float32")[0]
    path = tmp_path / "talk.mp3"
    data = bytearray(intact.read_bytes())
    data[len(data) * 2 // 5:len(data) * 2 // 5 + 4000] = bytes(4000)
    path.write_bytes(bytes(data))
    with sf.SoundFile(str(path)) as f, pytest.raises(sf.LibsndfileError):  # what a plain read does
        f.read(dtype="float32")
    res = analyze_file(path, stub_predictor)
    assert res.errors == []  # the file was read to its end: no "cut short" error either
    (note,) = [n for n in res.notices if "could not be decoded" in n]
    assert note.startswith(f"{path}: damaged audio could not be decoded at ") and "the decoder went on after it" in note
    lost = float(note.split("about ")[1].split(" s of audio are missing")[0])
    assert f"the times of what follows are about {lost:.1f} s early" in note and lost > 0.2
    src = FileSource(path, pace="fast")
    audio = np.concatenate([b.data[:, 0] for b in src.blocks(threading.Event())])
    late = slice(len(reference) - 3 * SAMPLE_RATE_HZ, len(reference) - 2 * SAMPLE_RATE_HZ)
    shifts = range(-int(2 * lost * SAMPLE_RATE_HZ), SAMPLE_RATE_HZ // 10, 8)
    best = max(shifts, key=lambda k: float(np.dot(audio[late.start + k:late.stop + k], reference[late])))
    assert best / SAMPLE_RATE_HZ == pytest.approx(-lost, abs=0.1)  # as early as the note says
    assert max(s.end_s for s in res.segments) > len(reference) / SAMPLE_RATE_HZ - lost - 2.0  # speech after it


@pytest.mark.parametrize("case", ["decoder stops", "cut short too"])
def test_a_damaged_mp3_the_decoder_does_not_read_to_its_end_is_not_called_complete(case, speech_16k, tmp_path,
                                                                                    stub_predictor):
    """Two ways an MP3 met damage and was not read to its end: the decoder stopped at the damage (zeros
    from 80 % of the file to its end), or it went on but the file is also cut short. Both ran as
    complete, the missing audio all put at the damage (a review); both end with an error that says
    where reading stopped, as a file cut short does."""
    x = np.tile(np.concatenate([speech_16k, np.zeros(4000, np.float32)]), 6)
    path = write_audio(tmp_path / "talk.mp3", x, format="MP3")
    data = bytearray(path.read_bytes())
    at, size = (len(data) * 4 // 5, len(data)) if case == "decoder stops" else (len(data) * 2 // 5, 4000)
    data[at:at + size] = bytes(len(data[at:at + size]))
    if case == "cut short too":
        data = data[:len(data) * 7 // 10]
    path.write_bytes(bytes(data))
    res = analyze_file(path, stub_predictor)
    assert len(res.errors) == 1, (res.errors, res.notices)  # not complete: where reading stopped is said
    assert ("decoding stopped after" if case == "cut short too" else "reading failed after") in res.errors[0]
    notes = [n for n in res.notices if "could not be decoded" in n]
    if case == "decoder stops":
        assert notes == []  # the error says where it stopped
    else:
        assert len(notes) == 1 and "How much audio is missing there is not known" in notes[0]
        assert "s of audio are missing" not in notes[0]


@pytest.mark.parametrize("subtype", ["VORBIS", "OPUS"])
def test_an_ogg_file_damaged_in_the_middle_is_not_called_cut_short(subtype, speech_16k, tmp_path, stub_predictor):
    """Its decoder skips damage by itself, and the file, read to its proper end, came up short of its
    declared length: the run ended with "decoding stopped ... cut short?", which it was not."""
    x = np.tile(np.concatenate([speech_16k, np.zeros(4000, np.float32)]), 4)
    path = tmp_path / f"talk_{subtype.lower()}.ogg"
    sf.write(str(path), x, SAMPLE_RATE_HZ, format="OGG", subtype=subtype)
    data = bytearray(path.read_bytes())
    data[len(data) // 2:len(data) // 2 + 3000] = bytes(3000)
    path.write_bytes(bytes(data))
    res = analyze_file(path, stub_predictor)
    assert res.errors == [], res.errors
    (note,) = [n for n in res.notices if "could not be decoded" in n]
    assert note.startswith(f"{path}: about ") and "it is damaged somewhere" in note and "the file ends properly" in note
    path.write_bytes(bytes(data[:len(data) * 3 // 4]))  # cut short as well: said so, as before
    assert len(errors := analyze_file(path, stub_predictor).errors) == 1 and "ends after" in errors[0], errors


def test_the_damage_met_before_an_error_is_still_said(speech_16k, tmp_path, stub_predictor):
    """A FLAC damaged in the middle and cut short: the run ends on the cut, and the stretch read as
    silence on the way is said too (the error used to be raised before the notes were made)."""
    x = np.tile(speech_16k, 4)
    path = write_audio(tmp_path / "both.flac", x, format="FLAC")
    data = bytearray(path.read_bytes())
    data[len(data) // 3:len(data) // 3 + 3000] = bytes(3000)
    path.write_bytes(bytes(data[:len(data) * 7 // 10]))
    res = analyze_file(path, stub_predictor)
    assert len(res.errors) == 1 and "both.flac: reading failed after" in res.errors[0], res.errors
    assert any("could not be decoded at" in n for n in res.notices), res.notices


def test_a_flac_damaged_over_more_than_the_longest_step_is_read_after_it(speech_16k, tmp_path, monkeypatch):
    """Damage longer than the last step of the ladder (30 s) with readable audio left before the end:
    the last place before the end is tried too (the readable end was lost)."""
    from streamer import sources

    x = np.tile(speech_16k, 4)
    path = write_audio(tmp_path / "long_damage.flac", x, format="FLAC")
    data = bytearray(path.read_bytes())
    data[len(data) // 5:len(data) * 3 // 5] = bytes(len(data) * 2 // 5)  # 40 % of it, in the middle
    path.write_bytes(bytes(data))
    monkeypatch.setattr(sources, "SKIP_DAMAGE_S", (0.05, 0.1))  # a ladder shorter than the damage (a short file)
    src = FileSource(path, pace="fast", block_frames=16000)
    audio = np.concatenate([b.data[:, 0] for b in src.blocks(threading.Event())])
    assert len(audio) == len(x)
    (note,) = [n for n in src.notices if "could not be decoded" in n]
    b = float(note.split(" at ")[1].split(" s.")[0].split("-")[1])
    assert b < len(x) / SAMPLE_RATE_HZ - 0.5  # the audio after the damage was read ...
    tail = slice(int((b + 0.1) * SAMPLE_RATE_HZ), len(x))
    assert np.abs(audio[tail] - x[tail]).max() < 1e-4  # ... at its own times


def test_mp3_whose_decoding_stops_early_is_reported_and_keeps_results(speech_16k, tmp_path, stub_predictor):
    """libsndfile's MP3 decoder can stop at damage without an error: the file is then analysed as far
    as it decodes, and the run says that the rest is damaged or missing."""
    path = write_audio(tmp_path / "talk.mp3", speech_16k, format="MP3")
    assert not analyze_file(path, stub_predictor).errors  # intact: no complaint
    data = bytearray(path.read_bytes())
    for pos in range(len(data) // 2, len(data) // 2 + 600, 7):
        data[pos] ^= 0x5A
    path.write_bytes(bytes(data))
    with sf.SoundFile(str(path)) as f:  # the damage stops the decoder well before the declared end
        assert len(f.read(dtype="float32")) < f.frames * 0.9
    res = analyze_file(path, stub_predictor)
    assert len(res.errors) == 1 and "talk.mp3: decoding stopped after" in res.errors[0]
    assert "damaged or missing" in res.errors[0]
    assert res.segments, "the speech before the damage is still analysed"


def test_telephone_rate_is_resampled_and_keeps_file_times(speech_16k, tmp_path, stub_predictor):
    narrow = soxr.resample(speech_16k, SAMPLE_RATE_HZ, TELEPHONE_RATE_HZ)
    path = write_audio(tmp_path / "call8k.wav", narrow, TELEPHONE_RATE_HZ)
    res = analyze_file(path, stub_predictor)
    assert not res.errors
    reference = [e for e in analyze_waveform(soxr.resample(narrow, TELEPHONE_RATE_HZ, SAMPLE_RATE_HZ), stub_predictor)
                 if isinstance(e, SpeechSegment)]
    assert len(res.segments) == len(reference) > 0
    for a, b in zip(res.segments, reference, strict=True):
        assert abs(a.start_s - b.start_s) < TIME_TOLERANCE_S and abs(a.end_s - b.end_s) < TIME_TOLERANCE_S


def test_too_low_a_rate_is_refused(tmp_path, stub_predictor):
    path = write_audio(tmp_path / "low.wav", np.zeros(TOO_LOW_RATE_HZ, np.float32), TOO_LOW_RATE_HZ)
    with pytest.raises(AudioError, match="4000 Hz is too low"):
        analyze_file(path, stub_predictor)


def test_six_channel_file_mixes_or_splits(speech_16k, tmp_path, stub_predictor):
    n = len(speech_16k)
    multi = np.zeros((n, SIX_CHANNELS), np.float32)
    multi[:, 2] = speech_16k  # speech on the third channel only
    path = write_audio(tmp_path / "surround.wav", multi, subtype="FLOAT")
    mixed = analyze_file(path, stub_predictor)
    assert mixed.track_names == ["mix"] and not mixed.errors
    split = analyze_file(path, stub_predictor, channels="split")
    assert split.track_names == [f"ch{i + 1}" for i in range(SIX_CHANNELS)]
    assert {s.track_name for s in split.segments} == {"ch3"}
    with pytest.raises(ConfigError, match="2 track names"):
        FileSource(path, channels="split", track_names=["Agent", "Customer"]).open()


def test_start_offset_keeps_file_times(speech_wav, speech_16k, stub_predictor):
    start_s = 3.0
    full = [s for s in analyze_file(speech_wav, stub_predictor).segments if s.start_s >= start_s]
    later = analyze_file(speech_wav, stub_predictor, start_s=start_s).segments
    assert len(later) == len(full) > 0
    for a, b in zip(later, full, strict=True):
        # Ends agree; a fresh VAD adapts to the level for a moment, so a start can come a little later.
        assert abs(a.end_s - b.end_s) < TIME_TOLERANCE_S
        assert b.start_s - TIME_TOLERANCE_S < a.start_s < b.end_s
    src = FileSource(speech_wav, start_s=start_s)
    src.open()
    assert src.start_sample == int(start_s * SAMPLE_RATE_HZ)
    assert abs(src.total_s - (len(speech_16k) / SAMPLE_RATE_HZ - start_s)) < 1e-6
    src.close()
    info = sf.info(str(speech_wav))
    with pytest.raises(AudioError, match="beyond the end"):
        FileSource(speech_wav, start_s=info.duration + 1).open()


def test_a_file_is_opened_once_per_analysis(speech_wav, stub_predictor, monkeypatch):
    """analyze_file opens the file early (a bad file is refused before anything is created); the
    engine's start finds it open instead of opening it a second time."""
    opened = []
    real = sf.SoundFile
    monkeypatch.setattr(sf, "SoundFile", lambda *a, **k: opened.append(a) or real(*a, **k))
    result = analyze_file(speech_wav, stub_predictor)
    assert result.results and len(opened) == 1
    source = FileSource(speech_wav)
    source.open()
    first = source._file
    source.open()
    assert source._file is first
    source.close()


@pytest.mark.parametrize(("name", "subtype"), [("speech.flac", "PCM_16"), ("speech.wav", "FLOAT")])
def test_file_blocks_read_every_sample_in_order(speech_16k, tmp_path, name, subtype):
    """The file source reads with libsndfile directly (no seek per block): the blocks are the file's
    samples, in order, for FLAC and WAV, stereo, at an offset; and the same through soundfile's own
    read when its internals are not there."""
    from streamer.sources import read_frames

    stereo = np.stack([speech_16k, -0.5 * speech_16k], axis=1)
    path = write_audio(tmp_path / name, stereo, subtype=subtype)
    expected, _ = sf.read(str(path), dtype="float32", always_2d=True)
    block = 4000

    class Plain:  # a file object without soundfile's internals: only its public interface
        def __init__(self, f):
            self.f, self.channels, self.closed = f, f.channels, False

        def read(self, **kwargs):
            return self.f.read(**kwargs)

    def read_all(start: int, wrap=lambda f: f) -> np.ndarray:
        with sf.SoundFile(str(path)) as f:
            f.seek(start)
            parts = []
            while len(part := read_frames(wrap(f), block)) == block:
                parts.append(part)
            assert f.tell() == f.frames  # the position advanced with the reads
            return np.concatenate([*parts, part])

    direct = read_all(1234)
    assert direct.dtype == np.float32 and np.array_equal(direct, expected[1234:])
    assert np.array_equal(read_all(0, Plain), expected)


def test_channels_that_hold_the_same_sound_are_pointed_out_when_split(speech_16k, tmp_path):
    """A mono recording saved as stereo, analysed as a call: the customer's channel has every voice in
    it, the agent's too, and nothing said so (a trial found a mono microphone shown as two lanes)."""
    from streamer.sources import FileSource

    other = np.roll(speech_16k, SAMPLE_RATE_HZ // 3) * 0.5

    def notes(left, right, channels="split", analysed=None, subtype="PCM_16"):
        path = write_audio(tmp_path / "call.wav", np.stack([left, right], axis=1).astype(np.float32), subtype=subtype)
        src = FileSource(path, channels=channels, track_names=["Agent", "Customer"] if channels == "split" else None)
        src.open()
        src.analysed_tracks = analysed
        for _ in src.blocks(threading.Event()):
            pass
        return [n for n in src.notices if "the same sound" in n]

    twin = notes(speech_16k, speech_16k, analysed=[1])
    assert twin == [f"{tmp_path / 'call.wav'}: the Agent and Customer channels hold the same sound (a mono recording "
                    "saved as 2 channels?), so the Customer channel has every voice in it, a call's agent's too, not "
                    "one speaker's: its "
                    "results are those of the whole conversation. Splitting channels separates speakers only when "
                    "each channel holds one."]  # no advice ser batch would refuse (mixed needs --analyse-agent)
    both = notes(speech_16k, speech_16k, analysed=[0, 1])  # both analysed: said once, of the pair
    assert len(both) == 1 and "so each has every voice in it" in both[0]
    # One louder than the other, or with its sign turned: the same sound (a trial's 0.9, 0.7, 0.5 got no note).
    for gain in (0.99, 0.7, 0.5, -1.0):
        assert notes(speech_16k, gain * speech_16k, analysed=[1]), gain
        assert notes(speech_16k, gain * speech_16k, analysed=[1], subtype="FLOAT"), gain
    # A quiet recording and its copy 20 dB lower: the quieter one's rounding, times the gain, is no difference.
    assert notes(0.1 * speech_16k, 0.01 * speech_16k, analysed=[1])
    assert not notes(speech_16k, other, analysed=[1])  # one speaker per channel
    # The agent's voice leaking into the customer's channel, delayed and fainter, beside the customer's own.
    leak = 0.1 * np.roll(speech_16k, 40) + other
    assert not notes(speech_16k, leak, analysed=[1])
    assert not notes(speech_16k, speech_16k, channels="mix")  # mixed: nothing claims one speaker per channel
    silent = np.zeros_like(speech_16k)
    assert not notes(silent, silent, analysed=[1])  # no sound: the level note says so, not this one
    # A DC offset is no sound: two channels that hold the same offset and nothing else are not twins.
    assert not notes(silent + 0.05, silent + 0.05, analysed=[1])
    # ... and one under the same voice changes nothing.
    assert notes(speech_16k + 0.05, speech_16k + 0.05, analysed=[1])
    # A silent analysed channel is the other one times 0 but not the other way round: a beep in both,
    # the rest of the sound in one only, is no twin, whatever the block the beep falls in.
    beep = np.zeros_like(speech_16k)
    beep[:800] = 0.3 * np.sin(2 * np.pi * 1000 * np.arange(800) / SAMPLE_RATE_HZ)
    for start_s in (0.05, 3.0):  # the rest in the beep's block, or in blocks after it only
        later = np.arange(len(beep)) >= int(start_s * SAMPLE_RATE_HZ)
        assert not notes(beep, beep + speech_16k * later, analysed=[0]), start_s
    assert not notes(beep, beep, analysed=[0])  # 50 ms of shared sound says nothing of a recording


def test_a_call_analysed_mixed_is_pointed_out_as_soon_as_its_channels_take_turns(speech_16k, tmp_path):
    """A stereo call (one side per channel) analysed mixed, the default of ser analyze and the app's
    Mixed: both voices made one track of results, and nothing said so. Said once, while the analysis
    goes on; never of a mono recording saved as stereo, one voice on two microphones, a stereo file
    with one channel silent, or a call analysed split."""
    from model.audio import split_advice
    from streamer.sources import FileSource

    half = len(speech_16k) // 2
    quiet = np.zeros(half, np.float32)
    # The agent speaks, then the customer, and again.
    first = np.concatenate([speech_16k[:half], quiet, speech_16k[half:2 * half], quiet])
    second = np.concatenate([quiet, speech_16k[half:2 * half], quiet, speech_16k[:half]])

    def notes(left, right, channels="mix"):
        path = write_audio(tmp_path / "call.wav", np.stack([left, right], axis=1).astype(np.float32))
        src = FileSource(path, channels=channels, block_frames=SAMPLE_RATE_HZ // 2)
        src.open()
        said_at = None
        for i, _ in enumerate(src.blocks(threading.Event())):
            if said_at is None and any("take turns" in n for n in src.notices):
                said_at = i
        return [n for n in src.notices if "take turns" in n], said_at

    said, at = notes(first, second)
    assert said == [f"{tmp_path / 'call.wav'}: its channels take turns, one sounding while the other is silent, as "
                    "a call recorded one side per channel does. Mixed into one track, all its voices are analysed "
                    f"as one speaker (a call's agent too). {split_advice(2)}"]
    assert "--names Agent,Customer, the names in channel order" in said[0]
    # Three channels: three names (two were refused: "2 track names given but it has 3 channels").
    path = write_audio(tmp_path / "meeting.wav", np.stack([first, second, 0.0 * first], axis=1).astype(np.float32))
    src = FileSource(path, channels="mix")
    src.open()
    for _ in src.blocks(threading.Event()):
        pass
    said3 = [n for n in src.notices if "take turns" in n]
    assert len(said3) == 1 and "while the others are silent" in said3[0] and said3[0].endswith(split_advice(3))
    assert "one name per channel, in channel order, e.g. Agent,Customer,ch3 " in said3[0]
    assert at is not None and at < len(first) / SAMPLE_RATE_HZ / 0.5 / 2  # in the call's first half
    # Each voice leaking into the other's channel 30 dB down, a hum under both: still turns.
    hum = 0.002 * np.sin(2 * np.pi * 50 * np.arange(len(first)) / SAMPLE_RATE_HZ)
    assert notes(first + 0.03 * np.roll(second, 80) + hum, second + 0.03 * np.roll(first, 80) + hum)[0]
    assert notes(first + 0.5, second - 0.2)[0]  # DC offsets are no sound
    assert not notes(first, second, channels="split")[0]  # split: nothing mixed
    speech = np.concatenate([speech_16k, speech_16k])
    assert not notes(speech, 0.3 * speech)[0]  # a mono recording saved as stereo, one side quieter
    # One voice on two microphones: delayed, filtered and 6 dB down on the far one.
    far = 0.5 * np.convolve(np.roll(speech, 37), np.ones(4) / 4, mode="same")
    assert not notes(speech, far)[0]
    assert not notes(speech, np.zeros_like(speech))[0]  # one channel silent: no turns
    # One voice, and on the other channel (an input without a microphone) a hum or a hiss, which sounds
    # alone in every pause of the voice, steadily: no turns (following the advice, the voice would
    # have been the agent's, left out, and the hum analysed).
    t = np.arange(len(speech)) / SAMPLE_RATE_HZ
    for other in (0.02 * np.sin(2 * np.pi * 50 * t), 0.004 * np.random.default_rng(0).standard_normal(len(speech))):
        assert not notes(speech, other)[0]
    # Two talkers recorded in stereo in one room: each louder on its side, by 6 dB only. No turns either.
    a, b = first, second  # the call's two voices ...
    assert not notes(a + 0.5 * np.roll(b, 20), 0.5 * np.roll(a, 20) + b)[0]  # ... each on both microphones
    # The same two voices 15 dB apart on their sides (a call's echo): turns.
    leak = 10 ** (-15 / 20)
    assert notes(a + leak * np.roll(b, 200), leak * np.roll(a, 200) + b)[0]


def test_a_recording_below_16_khz_is_pointed_out_as_its_analysis_starts(speech_16k, tmp_path):
    """A telephone recording at 8 kHz holds nothing above 4 kHz, where the model listens: said once,
    before the analysis' first block (the level notes come at its end); 16 kHz and more: nothing."""
    import soxr

    from streamer.sources import FileSource

    def notes(rate: int) -> list[str]:
        audio = soxr.resample(speech_16k, SAMPLE_RATE_HZ, rate) if rate != SAMPLE_RATE_HZ else speech_16k
        path = write_audio(tmp_path / f"call{rate}.wav", audio.astype(np.float32), rate=rate)
        src = FileSource(path)
        src.open()
        return [n for n in src.notices if "The model learnt from 16-kHz" in n]

    assert notes(8000) == [f"{tmp_path / 'call8000.wav'}: recorded at 8000 Hz, so nothing above 4 kHz is in it "
                           "(telephone band). The model learnt from 16-kHz studio speech and was less accurate "
                           "through a simulated telephone line (the model card gives the figures): read its "
                           "emotions with more caution."]
    assert "nothing above 5.5 kHz is in it. The model" in notes(11025)[0]  # not a telephone's band: not called one
    assert not notes(16000) and not notes(44100)


def test_a_recording_in_8_bit_samples_is_pointed_out(speech_16k, tmp_path):
    """Linear 8-bit samples carry rounding noise about 53 dB below full scale, loud enough to change
    what quiet speech is found and read as: said as the analysis starts. 16 bits, A-law and mu-law
    (companded 8 bits, whose steps follow the level) are not."""
    import soundfile as sf

    from streamer.sources import FileSource

    def notes(subtype: str, suffix: str = ".wav") -> list[str]:
        path = tmp_path / f"speech_{subtype}{suffix}"
        sf.write(str(path), speech_16k * np.float32(0.1), SAMPLE_RATE_HZ, subtype=subtype)
        src = FileSource(path)
        src.open()
        return [n for n in src.notices if "8-bit samples" in n]

    # WAV holds unsigned 8-bit samples, AIFF signed ones.
    for subtype, suffix in (("PCM_U8", ".wav"), ("PCM_S8", ".aiff")):
        assert notes(subtype, suffix) == [
            f"{tmp_path / f'speech_{subtype}{suffix}'}: stored with 8-bit samples, whose rounding adds noise about "
            "53 dB below full scale: where the speech is quiet, what is found as speech and how it is read can change "
            "(pauses taken for speech, results uncertain). Analyse the 16-bit (or better) original where there is "
            "one."]
    assert not notes("PCM_16") and not notes("ALAW") and not notes("ULAW") and not notes("FLOAT")


def _fake_microphone(audio: np.ndarray, said: str, channels: str = "mix", names=None,
                     analysed=None) -> tuple[list[str], float | None]:
    """A MicrophoneSource fed ``audio`` (frames, channels) in 0.1-s callbacks, as a device would, and
    read to its end: its notices holding ``said``, and how far into the audio the first came."""
    import queue as _queue

    from streamer import MicrophoneSource

    src = MicrophoneSource(device="fake", channels=channels, stall_timeout_s=60.0)

    class Stream:
        active = True

        def start(self):
            pass

    src._stream = Stream()
    src.rate, src.n_channels, src.device_name = SAMPLE_RATE_HZ, audio.shape[1], "USB Mic"
    src.track_names, src.analysed_tracks = names or ["Speech"], analysed
    src._queue = _queue.Queue()
    block = SAMPLE_RATE_HZ // 10
    for i in range(0, len(audio) - block + 1, block):
        src._callback(audio[i:i + block], block, None, type("S", (), {"input_overflow": False})())
    stop, said_at = threading.Event(), None
    blocks = src.blocks(stop)
    for k in range(len(audio) // block):
        next(blocks)
        if said_at is None and any(said in n for n in src.notices):
            said_at = (k + 1) * block / SAMPLE_RATE_HZ
    stop.set()
    return [n for n in src.notices if said in n], said_at


def test_a_clipping_microphone_is_said_to_clip_while_it_is_listened_to(speech_16k):
    """A file's clipping is said at its end, from the whole file; a microphone was said nothing of, so
    a user monitoring an input driven into clipping read emotions of distorted speech unwarned."""
    from streamer.sources import MIC_CLIP_MIN_SOUND_S, MIC_CLIP_WINDOW_S

    def run(audio: np.ndarray, channels: str = "mix", names=None, analysed=None) -> tuple[list[str], float | None]:
        return _fake_microphone(audio, "clipped", channels, names, analysed)

    speech = np.tile(speech_16k, 4)[: int((MIC_CLIP_WINDOW_S + 4) * SAMPLE_RATE_HZ)]
    loud = np.clip(speech * (0.9 / np.abs(speech).max()) * 4, -1.0, 1.0).astype(np.float32)  # driven 12 dB over
    said, at = run(loud[:, None])
    assert said == [said[0]] and said[0].startswith("Microphone USB Mic: ") and "Lower the input level" in said[0]
    # As soon as it is known (2 s of its sound, its pauses not counted), long before the window's end.
    assert MIC_CLIP_MIN_SOUND_S <= at < MIC_CLIP_WINDOW_S / 2
    clean = (speech * (0.9 / np.abs(speech).max())).astype(np.float32)
    assert run(clean[:, None]) == ([], None)
    # In the call-centre view, the analysed channel's: the customer's clipping is said, the agent's not.
    said, _ = run(np.stack([clean, loud], axis=1), "split", ["Agent", "Customer"], [1])
    assert len(said) == 1 and said[0].startswith("Microphone USB Mic (Customer channel): ")
    assert run(np.stack([loud, clean], axis=1), "split", ["Agent", "Customer"], [1]) == ([], None)


def test_a_microphone_whose_channels_are_one_is_pointed_out_once(monkeypatch):
    """A mono microphone that its sound server gives as two channels, in the call-centre view: said after
    a few seconds of sound, once; a real two-channel device is said nothing of."""
    import queue as _queue

    from streamer import MicrophoneSource
    from streamer.sources import MIC_TWIN_CHECK_S

    def run(stereo: np.ndarray, check_twins: bool = True) -> list[str]:
        src = MicrophoneSource(device="fake", channels="split", stall_timeout_s=60.0, check_twins=check_twins)

        class Stream:
            active = True

            def start(self):
                pass

        src._stream = Stream()
        src.rate, src.n_channels, src.device_name = SAMPLE_RATE_HZ, 2, "USB Mic"
        src.track_names = ["Agent", "Customer"]
        src.analysed_tracks = [1]
        src._queue = _queue.Queue()
        block = SAMPLE_RATE_HZ // 10
        for i in range(0, len(stereo) - block + 1, block):
            src._callback(stereo[i:i + block], block, None, type("S", (), {"input_overflow": False})())
        stop = threading.Event()
        blocks = src.blocks(stop)
        for _ in range(len(stereo) // block):
            next(blocks)
        stop.set()
        checked.append(src.twins_checked)
        return [n for n in src.notices if "the same sound" in n]

    checked: list[bool] = []  # per run, whether a resume in its session would compare the channels again
    seconds = int(MIC_TWIN_CHECK_S) + 2
    rng = np.random.default_rng(0)
    voice = (0.2 * rng.standard_normal(seconds * SAMPLE_RATE_HZ)).astype(np.float32)
    said = run(np.stack([voice, voice], axis=1))
    assert said == [said[0]] and said[0].startswith("Microphone USB Mic: the Agent and Customer channels hold the "
                                                    "same sound (a mono microphone given as 2 channels?)")
    assert checked == [True]  # compared: a resume of the session leaves it
    assert not run(np.stack([voice, np.roll(voice, 100)], axis=1)) and checked[-1]
    # A microphone that reports an offset before anyone speaks: not twins for it (an offset is no sound).
    offset = np.full((seconds * SAMPLE_RATE_HZ, 2), 0.05, np.float32)
    assert not run(offset) and not checked[-1]  # nothing heard yet: a resume compares them
    # A resumed session whose channels were compared already: said once in the session, not at each resume.
    assert not run(np.stack([voice, voice], axis=1), check_twins=False)


def test_a_muted_or_very_quiet_microphone_is_said_while_it_is_listened_to(speech_16k):
    """A muted microphone showed nothing happening and said nothing; a file's quiet note comes at its end."""
    from streamer.sources import MIC_QUIET_S

    def run(audio: np.ndarray, channels: str = "mix", names=None, analysed=None) -> tuple[list[str], float | None]:
        return _fake_microphone(audio, "first 30 s", channels, names, analysed)

    n = int((MIC_QUIET_S + 2) * SAMPLE_RATE_HZ)
    speech = np.tile(speech_16k, int(n / len(speech_16k)) + 1)[:n]
    said, at = run(np.zeros((n, 1), np.float32))
    assert said == ["Microphone USB Mic: its first 30 s held no sound at all (every sample the same, as a muted "
                    "input gives): the input is probably muted, or not the one in use. Check its mute switch and the "
                    "system's sound settings, or choose another microphone."]
    assert at == pytest.approx(MIC_QUIET_S, abs=0.11)
    faint = (speech * (10 ** (-50 / 20) / np.abs(speech).max()) + 0.01).astype(np.float32)  # -50 dBFS, a DC offset
    said, _ = run(faint[:, None])
    assert len(said) == 1 and "its sound has stayed below -50 dBFS for its first 30 s" in said[0]
    normal = (speech * (0.3 / np.abs(speech).max())).astype(np.float32)
    assert run(normal[:, None]) == ([], None)
    # In the call-centre view, per analysed channel: a muted customer beside a talking agent is said.
    said, _ = run(np.stack([normal, np.zeros(n, np.float32)], axis=1), "split", ["Agent", "Customer"], [1])
    assert len(said) == 1 and said[0].startswith("Microphone USB Mic (Customer channel): its first 30 s held no sound")
    assert run(np.stack([np.zeros(n, np.float32), normal], axis=1), "split", ["Agent", "Customer"], [1]) == ([], None)


def test_an_a_law_call_has_its_pauses(speech_paths, tmp_path, stub_predictor):
    """A-law (G.711) has no code for zero: silence decodes to +-8 of 32768, a hiss the voice-activity
    detector took for speech, and an 8-kHz A-law call of utterances 0.3 s apart read as one segment.
    Its smallest codes are read as zero: the segments are those of the same call as 16-bit PCM."""
    from model.audio import load_mono_16k

    gap = np.zeros(int(0.3 * SAMPLE_RATE_HZ), np.float32)
    call = np.concatenate([part for p in speech_paths[:6] for part in (load_mono_16k(p), gap)])
    call = soxr.resample(call, SAMPLE_RATE_HZ, 8000).astype(np.float32)
    found = {}
    for subtype in ("PCM_16", "ALAW", "ULAW"):
        path = tmp_path / f"call_{subtype}.wav"
        sf.write(str(path), call, 8000, subtype=subtype)
        found[subtype] = [(round(s.start_s, 1), round(s.end_s, 1))
                          for s in analyze_file(path, stub_predictor).segments if not s.not_speech]
    def longest(spans):
        return max(e - s for s, e in spans)

    # Pauses of 0.3 s are near what ends a segment, so a codec's noise decides some of them either way.
    assert len(found["PCM_16"]) >= 4 and longest(found["PCM_16"]) < 5.0
    for subtype in ("ALAW", "ULAW"):
        assert abs(len(found[subtype]) - len(found["PCM_16"])) <= 1 and longest(found[subtype]) < 5.0, found
    src = FileSource(tmp_path / "call_ALAW.wav", pace="fast")
    audio = np.concatenate([b.data[:, 0] for b in src.blocks(threading.Event())])
    assert np.count_nonzero(audio == 0.0) > 0.1 * len(audio)  # its silences are silent


def test_a_wav_whose_recorder_has_not_written_its_length_gets_a_note(speech_16k, tmp_path, stub_predictor):
    """A WAV still being recorded (its header's data size still 0) was analysed as far as it went and
    called complete without a word; it is analysed the same, with a note that says so."""
    import struct

    path = write_audio(tmp_path / "open.wav", speech_16k, subtype="PCM_16")
    assert not any("no length" in n for n in analyze_file(path, stub_predictor).notices)
    raw = bytearray(path.read_bytes())
    at = raw.index(b"data") + 4
    raw[at:at + 4] = struct.pack("<I", 0)  # as libsndfile writes a WAV's header until it closes the file
    raw[4:8] = struct.pack("<I", 8)
    path.write_bytes(bytes(raw))
    res = analyze_file(path, stub_predictor)
    assert not res.errors and res.segments
    assert any("open.wav: its header gives no length" in n and "analyse it again once the recording has ended" in n
               for n in res.notices)
    raw[4:8] = struct.pack("<I", 0)  # another recorder's unfinished header, which libsndfile reads as empty
    path.write_bytes(bytes(raw))
    with pytest.raises(AudioError, match="open.wav: its header gives no length .* Analyse it once the recording"):
        analyze_file(path, stub_predictor)


def test_a_microphone_said_to_be_silent_says_when_sound_comes_in(speech_16k):
    """The note that the first 30 s held no sound stayed in the session, its report and the reopened
    session after the user unmuted and spoke: sound coming in later is said too, with when."""
    from streamer.sources import MIC_QUIET_S

    n = int((MIC_QUIET_S + 4) * SAMPLE_RATE_HZ)
    audio = np.zeros((n, 1), np.float32)
    speech = (speech_16k[:2 * SAMPLE_RATE_HZ] * (0.3 / np.abs(speech_16k).max())).astype(np.float32)
    at = int((MIC_QUIET_S + 1) * SAMPLE_RATE_HZ)
    audio[at:at + len(speech), 0] = speech
    said, _ = _fake_microphone(audio, "Microphone USB Mic")
    assert len(said) == 2 and "held no sound at all" in said[0]
    assert said[1].startswith("Microphone USB Mic: sound came in at ") and "no longer holds" in said[1]
    first = np.flatnonzero(np.abs(audio[:, 0]) >= 0.01)[0] / SAMPLE_RATE_HZ  # where it gets louder than -40 dBFS
    assert float(said[1].split(" at ")[1].split(" s;")[0]) == pytest.approx(first, abs=0.11)
    # per channel in the call-centre view: the customer's channel, by its name
    stereo = np.concatenate([np.zeros((n, 1), np.float32), audio], axis=1)
    said, _ = _fake_microphone(stereo, "Customer channel", "split", ["Agent", "Customer"], [1])
    assert len(said) == 2 and said[1].startswith("Microphone USB Mic (Customer channel): sound came in at ")
    # no sound ever: said once, nothing more
    assert len(_fake_microphone(np.zeros((n, 1), np.float32), "Microphone USB Mic")[0]) == 1


def test_a_files_notes_do_not_depend_on_the_length_read_at_once(tmp_path, speech_16k):
    """The level, twin-channel and turn-taking checks judge the file in pieces of exactly
    CHECK_BLOCK_S whatever the lengths read: a quiet copy of the agent in a 16-bit customer channel, a
    clipped channel, a DC offset and a call whose sides take turns get the same notes in reads of 2
    and 8 s (as fast as possible, before and now), 0.5 s, 0.37 s (off the pieces' grid) and 0.02 s (as
    in real time). In 8-s pieces the copy's gain, fitted over longer stretches, had made it the
    agent's twin."""
    import soundfile as sf

    from streamer.sources import FileSource

    unit = speech_16k / np.abs(speech_16k).max()
    half = len(unit) // 2
    silent = np.zeros(half, np.float32)
    files = {
        "copy.wav": np.stack([unit * 0.5, unit * 10 ** (-62 / 20)], axis=1),
        "clipped.wav": np.stack([np.clip(unit * 8, -1, 1) + 0.02, unit * 0.5], axis=1),
        "turns.wav": np.stack([np.concatenate([unit[:half], silent]), np.concatenate([silent, unit[:half]])], axis=1),
    }
    for name, data in files.items():
        path = tmp_path / name
        sf.write(str(path), data.astype(np.float32), SAMPLE_RATE_HZ, subtype="PCM_16")
        said = []
        for seconds in (2.0, 8.0, 0.5, 0.37, 0.02):
            for channels in ("mix", "split"):
                src = FileSource(path, channels=channels, track_names=["Agent", "Customer"] if channels == "split" else None,
                                 block_frames=int(seconds * SAMPLE_RATE_HZ))
                src.open()
                for _ in src.blocks(threading.Event()):
                    pass
                said.append((channels, list(src.notices), list(src.twin_pairs)))
        assert all(said[k:k + 2] == said[:2] for k in range(2, len(said), 2)), name
        assert any(notes for _, notes, _ in said), name  # each file has something to say
