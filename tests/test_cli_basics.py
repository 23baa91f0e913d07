"""The `ser` entry point: its version, the command list when no command is given, and clear
refusals of compute devices that are not here (no traceback)."""

import re
import signal
from pathlib import Path

import numpy as np
import pytest

from model.times import time_text
from ser.cli import main


def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.startswith("ser ")


def test_bare_ser_lists_the_commands(capsys):
    assert main([]) == 2
    out = capsys.readouterr().out
    assert all(cmd in out for cmd in ("analyze", "batch", "eval", "train", "gui"))


@pytest.mark.parametrize("device, says", [("foo", "cpu or cuda"), ("mps", "cpu or cuda")])
def test_unknown_device_is_refused_clearly(device, says, capsys, tmp_path, speech_paths):
    assert main(["analyze", str(speech_paths[0]), "--out", str(tmp_path), "--device", device, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err


def test_cuda_without_a_gpu_is_refused_up_front(capsys, tmp_path, speech_paths):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")  # the refusal is for machines without one
    assert main(["batch", str(speech_paths[0].parent), "--out", str(tmp_path / "b"), "--device", "cuda",
                 "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("no CUDA GPU is available") == 1 and "internal error" not in err


def test_folders_and_empty_files_are_named_for_what_they_are(tmp_path, capsys, speech_paths):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    folder = tmp_path / "folder.wav"
    folder.mkdir()
    assert main(["analyze", str(empty), str(folder), "--out", str(tmp_path / "o"), "--quiet"]) != 0
    err = capsys.readouterr().err
    assert "empty (0 bytes)" in err and "is a folder" in err
    assert f"give them (e.g. {folder}/*.wav), or use 'ser batch {folder}'" in err
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    assert main(["analyze", str(speech_paths[0]), "--out", str(a_file), "--quiet"]) == 2
    assert "is a file; give a folder" in capsys.readouterr().err
    assert main(["analyze", str(speech_paths[0]), "--out", str(tmp_path / "o"), "--model", str(tmp_path),
                 "--quiet"]) == 2
    assert "is a folder; pass the model file" in capsys.readouterr().err


def test_a_session_given_to_analyze_or_session_is_named_for_what_it_is(tmp_path, capsys, speech_paths,
                                                                       tiny_model_path):
    """A user trial: the journal a killed run left, given to ser analyze, read as "cannot read this
    audio file"; and ser session refuses what it cannot export, with what to do."""
    out = tmp_path / "o"
    assert main(["analyze", str(speech_paths[0]), "--out", str(out), "--model", str(tiny_model_path), "--quiet"]) == 0
    session = out / f"{speech_paths[0].stem}.jsonl"
    assert main(["analyze", str(session), "--out", str(out), "--model", str(tiny_model_path), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert f"{session}: a session file (the results of an analysis), not audio. Export it with 'ser session" in err
    assert "cannot read" not in err and "left from a run" not in err
    assert main(["session", str(session), str(tmp_path / "s.csv")]) == 0
    assert capsys.readouterr().out.startswith(f"{session} -> {tmp_path / 's.csv'}: ")
    empty = tmp_path / "empty.wav"  # (a name a recording has: its emptiness is said first)
    empty.touch()
    for args, says in (([str(session), str(tmp_path / "s.csv")], "exists; give another name"),
                       ([str(session), str(tmp_path / "s.txt")], "give a file ending in .csv"),
                       ([str(speech_paths[0]), str(tmp_path / "t.csv")],
                        f"is a recording, not a session file. Analyse it with: ser analyze {speech_paths[0]} --out"),
                       ([str(tmp_path / "s.csv"), str(tmp_path / "t.json")], "not a session file"),
                       ([str(tmp_path / "none.jsonl"), str(tmp_path / "t.csv")], "session file not found"),
                       ([str(empty), str(tmp_path / "t.csv")], "empty.wav: is empty (0 bytes)")):
        assert main(["session", *args]) == 2, args
        assert says in capsys.readouterr().err
    assert not (tmp_path / "t.csv").exists()
    assert main(["session", str(tmp_path / "none.jsonl"), str(tmp_path / "new" / "t.csv")]) == 2
    assert not (tmp_path / "new").exists()  # nothing made for a session that is not there
    capsys.readouterr()
    assert main(["analyze", str(speech_paths[0]), "--out", str(tmp_path / "doc.json"), "--model",
                 str(tiny_model_path), "--quiet"]) == 0
    assert main(["session", str(tmp_path / "doc.json"), str(tmp_path / "doc.html")]) == 0  # a JSON export too
    assert (tmp_path / "doc.html").read_text().startswith("<!DOCTYPE html>")


def test_unknown_option_shows_the_subcommands_usage(capsys):
    with pytest.raises(SystemExit) as done:
        main(["analyze", "x.wav", "--foo"])
    err = capsys.readouterr().err
    assert done.value.code == 2 and "usage: ser analyze" in err and "--foo" in err


def test_a_rerun_never_overwrites_earlier_results(tmp_path, speech_paths, tiny_model_path):
    args = ["analyze", str(speech_paths[0]), "--out", str(tmp_path), "--model", str(tiny_model_path), "--quiet"]
    assert main(args) == 0
    first = (tmp_path / f"{speech_paths[0].stem}.jsonl").read_text()
    assert main(args) == 0
    assert (tmp_path / f"{speech_paths[0].stem}.jsonl").read_text() == first
    assert (tmp_path / f"{speech_paths[0].stem}-2.jsonl").is_file()


def test_model_files_with_inconsistent_labels_or_rate_are_refused(tmp_path, tiny_model_path):
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file

    from model.checkpoint import load_model
    from model.errors import ModelFileError

    with safe_open(str(tiny_model_path), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
        meta = json.loads(f.metadata()["ser"])

    def variant(name, **changes):
        path = tmp_path / f"{name}.safetensors"
        save_file(tensors, str(path), metadata={"ser": json.dumps({**meta, **changes})})
        return path

    cases = {
        "count": ({"labels": meta["labels"][:-1]}, "8 emotion outputs"),
        "dup": ({"labels": meta["labels"][:-1] + [meta["labels"][0]]}, "more than once"),
        "rate": ({"features": {**meta["features"], "sample_rate_hz": 8000}}, "8000 Hz"),
    }
    for name, (changes, says) in cases.items():
        with pytest.raises(ModelFileError, match=says):
            load_model(variant(name, **changes))


def test_unsupported_formats_are_named_with_a_conversion_hint(tmp_path, capsys, speech_paths, tiny_model_path):
    import shutil

    calls = tmp_path / "calls"
    calls.mkdir()
    shutil.copy(speech_paths[0], calls / "a.flac")
    (calls / "b.m4a").write_bytes(b"\x00\x00\x00\x20ftypM4A " + b"\x00" * 64)
    assert main(["analyze", str(calls / "b.m4a"), "--out", str(tmp_path / "o"), "--quiet"]) != 0
    err = capsys.readouterr().err
    assert "format is not supported" in err and "ffmpeg -i b.m4a b.wav" in err
    assert main(["batch", str(calls), "--out", str(tmp_path / "b"), "--workers", "1", "--channels", "mix",
                 "--analyse-agent", "--model", str(tiny_model_path), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "1 file not analysed" in err and "b.m4a" in err
    import json

    assert json.loads((tmp_path / "b" / "batch.json").read_text())["unsupported_format"] == [str(calls / "b.m4a")]
    # A single audio file where a folder or list is expected, and a binary non-list.
    assert main(["batch", str(calls / "a.flac"), "--out", str(tmp_path / "c"), "--quiet"]) == 2
    assert "is an audio file" in capsys.readouterr().err
    (tmp_path / "blob.bin").write_bytes(bytes(range(256)))
    assert main(["batch", str(tmp_path / "blob.bin"), "--out", str(tmp_path / "c"), "--quiet"]) == 2
    assert "is not a text file" in capsys.readouterr().err


def test_no_output_folder_is_left_when_every_input_fails(tmp_path, capsys):
    out = tmp_path / "never"
    assert main(["analyze", str(tmp_path / "missing.wav"), "--out", str(out), "--quiet"]) != 0
    assert not out.exists()


def test_unwritable_output_paths_are_refused_before_any_work(tmp_path, capsys):
    """Every option that names a file or folder to write is checked first, with a message naming it."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    bad = blocker / "sub"
    cases = [
        (["eval", "--model", "default", "--corpus", "ravdess", "--root", str(tmp_path), "--report", str(bad)],
         "evaluation plots"),
        (["eval", "--model", "default", "--suite", "--out", str(bad / "suite.json")], "JSON result"),
        (["data", "stats", "--corpus", "ravdess", "--root", str(tmp_path), "--png", str(bad / "s.png")],
         "distribution plot"),
        (["data", "manifest", "--corpus", "ravdess", "--root", str(tmp_path), "--out", str(bad / "m.jsonl")],
         "manifest"),
        (["data", "manifest", "--corpus", "ravdess", "--root", str(tmp_path), "--out", str(tmp_path)], "is a folder"),
        (["gui", "--snapshot", str(bad / "shot.png")], "snapshot"),
    ]
    for argv, says in cases:
        capsys.readouterr()
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert says in err and "Traceback" not in err, (argv, err)
        assert str(tmp_path) in err


def test_fold_list_is_checked(tmp_path, capsys):
    for folds, says in (("x", "separated by commas"), ("0", "fold 0 does not exist"), ("2,9", "fold 9")):
        assert main(["train", "--config", str(Path(__file__).resolve().parents[1] / "training" / "configs" / "ravdess8.yaml"), "--root", str(tmp_path), "--cv",
                         "--folds", folds, "--out", str(tmp_path / "out")]) == 2
        assert says in capsys.readouterr().err
        assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("names", ["Agent,Agent", ",", "Agent,"])
def test_track_names_must_be_given_and_differ(names, capsys, tmp_path):
    assert main(["analyze", str(tmp_path / "any.wav"), "--channels", "split", "--names", names,
                 "--out", str(tmp_path / "out")]) == 2
    assert "--names needs one non-empty name per channel, all different (not only in letter case)" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_truncated_wav_says_its_header_length_and_what_was_read(tmp_path, capsys, speech_16k, tiny_model_path):
    import soundfile as sf

    path = tmp_path / "cut.wav"
    sf.write(str(path), speech_16k, 16000, subtype="PCM_16")
    data = path.read_bytes()
    path.write_bytes(data[: 44 + (len(data) - 44) // 2])  # half of the samples after the header
    assert main(["analyze", str(path), "--model", str(tiny_model_path), "--out", str(tmp_path / "out")]) == 1
    captured = capsys.readouterr()
    full, half = time_text(len(speech_16k) / 16000), time_text(len(speech_16k) / 2 / 16000)
    assert f"({full} by its header, {half} of it read)" in captured.out
    assert f"the WAV header declares {full} of audio but the file holds only {half};" in captured.err


def test_times_in_file_messages_read_as_clock_times_from_a_minute_on():
    from model.audio import ogg_cut_message, truncation_message

    assert "declares 2:04:10.0 of audio but the file holds only 1:02:05.0;" in truncation_message("a.wav", 3725.0, 0.5)
    assert "declares 12.4 s of audio but the file holds only 6.2 s;" in truncation_message("a.wav", 6.2, 0.5)
    assert "ends after 1:30.0 of audio" in ogg_cut_message("a.ogg", 90.0)


def test_track_name_count_names_the_file(tmp_path, capsys, speech_16k, tiny_model_path):
    import numpy as np
    import soundfile as sf

    path = tmp_path / "two.wav"
    sf.write(str(path), np.stack([speech_16k[:32000]] * 2, axis=1), 16000)
    assert main(["analyze", str(path), "--channels", "split", "--names", "a,b,c", "--model", str(tiny_model_path),
                 "--out", str(tmp_path / "out"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert f"{path}: 3 track names given (a, b, c) but it has 2 channels" in err


def test_very_quiet_recordings_are_named_as_such(tmp_path, capsys, speech_16k, tiny_model_path):
    import numpy as np
    import soundfile as sf

    path = tmp_path / "quiet.wav"
    sf.write(str(path), (speech_16k / np.abs(speech_16k).max() * 10 ** (-60 / 20)).astype(np.float32), 16000)
    assert main(["analyze", str(path), "--model", str(tiny_model_path), "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert "very quiet recording (its sound peaks at -60 dBFS)" in err and str(path) in err
    # A DC offset is no sound: the same quiet speech riding on one is named too (it was not).
    sf.write(str(path), (speech_16k / np.abs(speech_16k).max() * 10 ** (-60 / 20) + 0.5).astype(np.float32), 16000)
    assert main(["analyze", str(path), "--model", str(tiny_model_path), "--out", str(tmp_path / "out")]) == 0
    assert "very quiet recording (its sound peaks at -60 dBFS)" in capsys.readouterr().err
    # ... also after a few ms of digital zeros (a recorder's padding), which are no step into the offset.
    quiet_dc = speech_16k / np.abs(speech_16k).max() * 10 ** (-60 / 20) + 0.5
    sf.write(str(path), np.concatenate([np.zeros(80), quiet_dc]).astype(np.float32), 16000)
    assert main(["analyze", str(path), "--model", str(tiny_model_path), "--out", str(tmp_path / "out")]) == 0
    assert "very quiet recording (its sound peaks at -60 dBFS)" in capsys.readouterr().err
    # A recording at a normal level gets no such note, nor one of clipping.
    sf.write(str(tmp_path / "normal.wav"), speech_16k, 16000)
    assert main(["analyze", str(tmp_path / "normal.wav"), "--model", str(tiny_model_path),
                 "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert "very quiet" not in err and "clipped" not in err
    # Driven into clipping: said, with the share of samples at full scale.
    loud = np.clip(speech_16k / np.abs(speech_16k).max() * 8, -1, 1).astype(np.float32)
    sf.write(str(tmp_path / "loud.wav"), loud, 16000, subtype="PCM_16")
    share = np.mean(np.abs(loud) >= 0.999)
    assert main(["analyze", str(tmp_path / "loud.wav"), "--model", str(tiny_model_path),
                 "--out", str(tmp_path / "out")]) == 0
    assert f"loud.wav: {share:.1%} of the samples are at full scale (clipped)" in capsys.readouterr().err
    # A telephone recording's mu-law tops out at 0.98: its clipping is found too.
    sf.write(str(tmp_path / "phone.wav"), loud, 16000, subtype="ULAW")
    assert main(["analyze", str(tmp_path / "phone.wav"), "--model", str(tiny_model_path),
                 "--out", str(tmp_path / "out")]) == 0
    assert "phone.wav: " in (err := capsys.readouterr().err) and "(clipped)" in err
    # A constant level is no sound, and not "every sample is zero".
    sf.write(str(tmp_path / "flat.wav"), np.full(32000, 0.3, np.float32), 16000)
    assert main(["analyze", str(tmp_path / "flat.wav"), "--model", str(tiny_model_path),
                 "--out", str(tmp_path / "out")]) == 0
    assert "holds no sound (every sample has the same value" in capsys.readouterr().err
    # ... at full scale too: no sound, and not clipped speech besides.
    sf.write(str(tmp_path / "rail.wav"), np.full(32000, 1.0, np.float32), 16000)
    assert main(["analyze", str(tmp_path / "rail.wav"), "--model", str(tiny_model_path),
                 "--out", str(tmp_path / "out")]) == 0
    assert "holds no sound" in (err := capsys.readouterr().err) and "clipped" not in err
    # A call with a dead channel stuck at the rail beside a channel of speech: that is no clipped speech.
    sf.write(str(tmp_path / "stuck.wav"), np.stack([np.ones(len(speech_16k)), speech_16k], axis=1).astype(np.float32),
             16000)
    assert main(["analyze", str(tmp_path / "stuck.wav"), "--model", str(tiny_model_path),
                 "--out", str(tmp_path / "out")]) == 0
    assert "clipped" not in capsys.readouterr().err
    # ... and speech clipped on one channel of two is clipped, its share counted on that channel.
    sf.write(str(tmp_path / "half.wav"), np.stack([np.zeros(len(loud)), loud], axis=1).astype(np.float32), 16000)
    assert main(["analyze", str(tmp_path / "half.wav"), "--model", str(tiny_model_path),
                 "--out", str(tmp_path / "out")]) == 0
    assert f"half.wav: {share:.1%} of the samples are at full scale (clipped)" in capsys.readouterr().err


def test_a_split_calls_level_notes_are_about_each_analysed_channel(tmp_path, capsys, speech_16k, tiny_model_path):
    """Channels split: each analysed channel is checked by itself and named; the agent's, not
    analysed, is not checked. (A quiet customer beside a clean agent got no note, a clipped one
    half its share, and a clipped agent a note about audio that is not analysed.)"""
    import numpy as np
    import soundfile as sf

    unit = speech_16k / np.abs(speech_16k).max()
    loud = np.clip(unit * 8, -1, 1)
    share = np.mean(np.abs(loud) >= 0.999)

    def analyse(name, agent, customer, *options):
        path = tmp_path / name
        sf.write(str(path), np.stack([agent, customer], axis=1).astype(np.float32), 16000)
        assert main(["analyze", str(path), "--channels", "split", "--names", "Agent,Customer", *options,
                     "--model", str(tiny_model_path), "--out", str(tmp_path / "out"), "--quiet"]) == 0
        return capsys.readouterr().err

    err = analyse("quiet.wav", unit * 0.5, unit * 10 ** (-62 / 20))
    assert "quiet.wav (Customer channel): very quiet channel (its sound peaks at -62 dBFS)" in err
    err = analyse("clipped.wav", np.zeros(len(unit)), loud)
    assert f"clipped.wav (Customer channel): {share:.1%} of the samples are at full scale (clipped)" in err
    assert "very quiet" not in err and "Agent channel" not in err  # the agent's silence is not analysed
    assert "clipped" not in analyse("agent.wav", loud, unit * 0.5)  # the agent's clipping: not analysed either
    err = analyse("both.wav", loud, np.ones(len(unit)), "--analyse-agent")
    assert f"both.wav (Agent channel): {share:.1%} of the samples" in err
    assert "both.wav (Customer channel): this channel holds no sound" in err


def test_mp3_decoder_complaints_become_one_note(tmp_path, capfd, speech_16k, tiny_model_path):
    """libmpg123 prints a line per damaged frame on the process's standard error; the user sees one note."""
    import soundfile as sf

    path = tmp_path / "talk.mp3"
    sf.write(str(path), speech_16k, 16000, format="MP3")
    # Intact, it decodes without a complaint (read in order: a seek per block made libmpg123 flag frames).
    assert main(["analyze", str(path), "--model", str(tiny_model_path), "--out", str(tmp_path / "clean")]) == 0
    assert "damaged frame" not in capfd.readouterr().err
    data = bytearray(path.read_bytes())
    for pos in range(len(data) // 3, len(data) // 3 + 200, 50):  # damage a few bytes of one frame's data
        data[pos] ^= 0xFF
    path.write_bytes(bytes(data))
    assert main(["analyze", str(path), "--model", str(tiny_model_path), "--out", str(tmp_path / "out")]) == 0
    err = capfd.readouterr().err
    assert "libmpg123" not in err and "error:" not in err
    assert err.count("damaged frame") == 1 and f"note: {path}: the MP3 decoder reported" in err
    # Cut short, its header is read before the analysis (the channel count, for split): libmpg123's
    # "Warning: Xing stream size off by more than 1% ..." stays off the terminal there too.
    path.write_bytes(bytes(data[:len(data) // 2]))
    assert main(["analyze", str(path), "--model", str(tiny_model_path), "--out", str(tmp_path / "cut"),
                 "--channels", "split", "--names", "Customer", "--quiet"]) == 1
    err = capfd.readouterr().err
    assert "Warning" not in err and "Xing" not in err and "decoding stopped after" in err


@pytest.mark.parametrize("command", ["analyze", "batch", "eval", "export", "train", "session"])
def test_help_gives_each_default_once_and_no_empty_ones(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for empty in ("(default: None)", "(default: False)", "(default: True)", "(default: [])"):
        assert empty not in text
    assert not re.search(r"\(default[^)]*\) \(default:", text)  # a help that gives its default gets no second one


def test_batch_refuses_a_zero_window_or_hop_in_its_own_terms(tmp_path, capsys):
    for flag in ("--hop", "--window"):
        assert main(["batch", str(tmp_path), "--out", str(tmp_path / "out"), flag, "0"]) == 2
        assert f"{flag} must be a positive number of seconds, got 0" in capsys.readouterr().err
    assert main(["batch", str(tmp_path), "--out", str(tmp_path / "out"), "--window", "1", "--hop", "2"]) == 2
    assert "--hop (2 s) must not exceed --window (1 s)" in capsys.readouterr().err


def test_out_can_name_the_result_file_of_one_input(tmp_path, capsys, speech_paths, tiny_model_path):
    """--out r.csv with one input writes that file (its ending gives the format; never overwritten);
    with several inputs, or a --format that disagrees, it is refused before anything runs."""
    import csv
    import json

    common = ["--model", str(tiny_model_path), "--quiet"]
    assert main(["analyze", str(speech_paths[0]), "--out", str(tmp_path / "r.csv"), *common]) == 0
    rows = list(csv.DictReader((tmp_path / "r.csv").read_text().splitlines()))
    assert rows and "track" in rows[0]
    assert main(["analyze", str(speech_paths[0]), "--out", str(tmp_path / "r.csv"), *common]) == 0
    assert (tmp_path / "r-2.csv").is_file()  # the first is kept
    (tmp_path / "k.csv.partial.jsonl").write_text("left")  # left by a run that was killed
    capsys.readouterr()
    assert main(["analyze", str(speech_paths[0]), "--out", str(tmp_path / "k.csv"), *common]) == 0
    # The journal left behind is kept, and pointed out with the command that exports it; its name is
    # not written (a new k.csv beside it would pass for its pair): the next one is.
    assert (tmp_path / "k-2.csv").is_file() and not (tmp_path / "k.csv").exists()
    assert (tmp_path / "k.csv.partial.jsonl").read_text() == "left"
    assert not (tmp_path / "k-2.csv.partial.jsonl").exists()  # this run's journal, removed once k-2.csv is written
    err = capsys.readouterr().err
    assert "k.csv.partial.jsonl is left from a run" in err and "this run writes k-2.csv" in err
    assert f"export with ser session {tmp_path / 'k.csv.partial.jsonl'} {tmp_path / 'k.csv'}," in err
    (tmp_path / "k-2.csv").unlink()
    (tmp_path / "k-2.csv.partial.jsonl").write_text("left too")  # a second killed run's, of the next name
    assert main(["analyze", str(speech_paths[0]), "--out", str(tmp_path / "k.csv"), *common]) == 0
    assert "k.csv.partial.jsonl and " in (err := capsys.readouterr().err) and "k-2.csv.partial.jsonl are left" in err
    assert (tmp_path / "k-3.csv").is_file() and "this run writes k-3.csv" in err
    # A session file (jsonl) that a killed run left without its end record is pointed out too.
    (tmp_path / "s.jsonl").write_text('{"type": "metadata"}\n')
    assert main(["analyze", str(speech_paths[0]), "--out", str(tmp_path / "s.jsonl"), *common]) == 0
    assert "s.jsonl is left from a run that did not finish (no end record" in capsys.readouterr().err
    assert (tmp_path / "s-2.jsonl").is_file()
    assert main(["analyze", str(speech_paths[0]), "--out", str(tmp_path / "s-2.jsonl"), *common]) == 0
    assert "did not finish" not in capsys.readouterr().err  # s-2.jsonl has its end: nothing to say
    (tmp_path / "s-3.jsonl").write_text('{"type": "metadata"}\n')  # another killed run, numbered
    assert main(["analyze", str(speech_paths[0]), "--out", str(tmp_path / "s.jsonl"), *common]) == 0
    assert "s.jsonl and " in (err := capsys.readouterr().err) and "s-3.jsonl are left from runs" in err, err
    # Another run analysing into the same name now (its journal, which it holds): this run takes
    # the next name, and the other run's journal is not called a leftover.
    from streamer.session import SessionStore

    running = SessionStore.create(tmp_path / "busy.csv.partial.jsonl", {})
    running_jsonl = SessionStore.create(tmp_path / "busy.jsonl", {})
    assert main(["analyze", str(speech_paths[0]), "--out", str(tmp_path / "busy.csv"), *common]) == 0
    assert (tmp_path / "busy-2.csv").is_file() and not (tmp_path / "busy.csv").exists()
    assert main(["analyze", str(speech_paths[0]), "--out", str(tmp_path / "busy.jsonl"), *common]) == 0
    assert (tmp_path / "busy-2.jsonl").is_file() and "did not finish" not in capsys.readouterr().err
    running.close()
    running_jsonl.close()
    # The same file twice with one named result file: analysed once, not refused.
    assert main(["analyze", str(speech_paths[0]), str(speech_paths[0]), "--out", str(tmp_path / "once.csv"),
                 *common]) == 0
    assert (tmp_path / "once.csv").is_file()
    assert main(["analyze", str(speech_paths[0]), "--out", str(tmp_path / "new" / "r.json"), "--format", "json",
                 *common]) == 0
    assert json.loads((tmp_path / "new" / "r.json").read_text())["results"]
    capsys.readouterr()
    assert main(["analyze", str(speech_paths[0]), str(speech_paths[1]), "--out", str(tmp_path / "two.csv"),
                 *common]) == 2
    assert "names one result file, but 2 input files are given" in capsys.readouterr().err
    assert main(["analyze", str(speech_paths[0]), "--out", str(tmp_path / "x.json"), "--format", "csv", *common]) == 2
    assert "ends in .json, but --format is csv" in capsys.readouterr().err
    assert main(["analyze", str(speech_paths[0]), "--out", str(tmp_path / "res.txt"), *common]) == 2
    assert "--out " in (err := capsys.readouterr().err) and ".txt is not a result format" in err
    assert not (tmp_path / "two.csv").exists() and not (tmp_path / "x.json").exists()
    assert not (tmp_path / "res.txt").exists()  # not made a folder of that name
    assert main(["analyze", str(speech_paths[0]), "--out", f"{tmp_path / 'My.Results'}/", *common]) == 0
    assert (tmp_path / "My.Results" / f"{speech_paths[0].stem}.jsonl").is_file()  # DIR/ is a folder
    (tmp_path / "dir.csv").mkdir()  # an existing folder is a folder, whatever its name
    assert main(["analyze", str(speech_paths[0]), "--out", str(tmp_path / "dir.csv"), *common]) == 0
    assert (tmp_path / "dir.csv" / f"{speech_paths[0].stem}.jsonl").is_file()


def test_a_disk_that_fills_up_keeps_what_was_analysed_and_says_where(tmp_path, capsys, speech_paths, tiny_model_path,
                                                                     monkeypatch):
    """--out r.csv when the disk fills part-way: the message names r.csv, says why and where the
    results analysed until then are (its journal, a session file); a session that cannot even be
    created leaves no empty file."""
    import errno
    import json

    import streamer.session
    from streamer.session import SessionStore

    real_write, written = streamer.session._write_all, []

    def write_until_full(f, data):  # the disk is full after three records, and stays full
        if len(written) >= 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(data)
        return real_write(f, data)

    monkeypatch.setattr(streamer.session, "_write_all", write_until_full)
    common = ["--model", str(tiny_model_path), "--quiet"]
    assert main(["analyze", str(speech_paths[0]), "--out", str(tmp_path / "r.csv"), *common]) == 1
    err = capsys.readouterr().err
    journal = tmp_path / "r.csv.partial.jsonl"
    assert f"{tmp_path / 'r.csv'}: not written" in err and "is the disk full?" in err
    assert f"kept in {journal}" in err and journal.stat().st_size > 0 and not (tmp_path / "r.csv").exists()
    assert SessionStore.open(journal).metadata  # the app opens it
    lines = journal.read_bytes().splitlines()  # the records synced before the failure, no part of another
    assert 2 <= len(lines) <= 3 and all(json.loads(line) for line in lines) and journal.read_bytes().endswith(b"\n")

    # The disk has room again before the end: what was kept in memory meanwhile goes in, nothing is
    # missing, and the run says so as a note, not as an error.
    monkeypatch.setattr(streamer.session, "_write_all", real_write)
    assert main(["analyze", str(speech_paths[0]), "--out", str(tmp_path / "whole.csv"), *common]) == 0
    full = (tmp_path / "whole.csv").read_text()
    written.clear()
    calls = []

    def full_for_a_while(f, data):  # the fourth record fails; at the end the disk has room
        calls.append(data)
        if len(calls) == 4:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(f, data)

    monkeypatch.setattr(streamer.session, "_write_all", full_for_a_while)
    capsys.readouterr()
    assert main(["analyze", str(speech_paths[0]), "--out", str(tmp_path / "later.csv"), *common]) == 0
    err = capsys.readouterr().err
    assert "writing it failed for a while" in err and "lacks nothing" in err
    def rows(text):  # all but the latency, which is a time measured
        lines = [line.split(",") for line in text.splitlines()]
        at = lines[0].index("latency_ms")
        return [line[:at] + line[at + 1:] for line in lines]

    assert len(rows(full)) > 2 and rows((tmp_path / "later.csv").read_text()) == rows(full)

    def no_room(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("streamer.session.os.fsync", no_room)
    assert main(["analyze", str(speech_paths[0]), "--out", str(tmp_path / "more"), *common]) == 1
    assert "cannot create the session file (the disk is full" in capsys.readouterr().err
    assert not list((tmp_path / "more").glob("*.jsonl"))  # no empty session file left behind


def test_inputs_that_share_a_stem_get_result_files_named_in_full(tmp_path, speech_paths, tiny_model_path):
    """clip.wav and clip.flac analysed together: clip.wav.csv and clip.flac.csv, which say which is
    which (clip.csv and clip-2.csv did not); a lone input keeps its stem."""
    import soundfile as sf

    data, rate = sf.read(str(speech_paths[0]), dtype="float32")
    sf.write(str(tmp_path / "clip.wav"), data, rate)
    sf.write(str(tmp_path / "clip.flac"), data, rate)
    sf.write(str(tmp_path / "other.wav"), data, rate)
    out = tmp_path / "out"
    assert main(["analyze", str(tmp_path / "clip.wav"), str(tmp_path / "clip.flac"), str(tmp_path / "other.wav"),
                 "--out", str(out), "--format", "csv", "--model", str(tiny_model_path), "--quiet"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["clip.flac.csv", "clip.wav.csv", "other.csv"]
    for folder in ("day1", "day2"):  # the same name in two folders: led by the folder's name, not x-2
        (tmp_path / folder).mkdir()
        sf.write(str(tmp_path / folder / "x.wav"), data, rate)
    assert main(["analyze", str(tmp_path / "day1" / "x.wav"), str(tmp_path / "day2" / "x.wav"), "--out",
                 str(tmp_path / "days"), "--model", str(tiny_model_path), "--quiet"]) == 0
    assert sorted(p.name for p in (tmp_path / "days").iterdir()) == ["day1__x.jsonl", "day2__x.jsonl"]
    for site in ("calls", "calls_copy"):  # the folders' names alike too: led by as much of the path as differs
        (tmp_path / site / "day1").mkdir(parents=True)
        sf.write(str(tmp_path / site / "day1" / "c1.wav"), data, rate)
    assert main(["analyze", str(tmp_path / "calls" / "day1" / "c1.wav"), str(tmp_path / "calls_copy" / "day1" / "c1.wav"),
                 "--out", str(tmp_path / "sites"), "--model", str(tiny_model_path), "--quiet"]) == 0
    assert sorted(p.name for p in (tmp_path / "sites").iterdir()) == ["calls__day1__c1.jsonl", "calls_copy__day1__c1.jsonl"]


def test_a_tilde_in_out_is_the_home_folder(tmp_path, speech_paths, tiny_model_path, monkeypatch):
    """--out "~/res" (quoted, or from a shell that does not expand it) writes into the home folder,
    not into a folder named "~" beside a checked, empty one."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    assert main(["analyze", str(speech_paths[0]), "--out", "~/res", "--model", str(tiny_model_path), "--quiet"]) == 0
    assert (tmp_path / "home" / "res" / f"{speech_paths[0].stem}.jsonl").is_file() and not (tmp_path / "~").exists()


def test_an_unknown_users_home_in_out_is_a_clear_error(capsys, speech_paths, tiny_model_path):
    assert main(["analyze", str(speech_paths[0]), "--out", "~nosuchuserxyz/a.csv", "--model",
                 str(tiny_model_path)]) == 2
    err = capsys.readouterr().err
    assert "no such user's home folder" in err and "Traceback" not in err


def test_a_mono_file_split_into_agent_and_customer_is_explained(tmp_path, capsys, speech_16k, tiny_model_path):
    """`--channels split --names Agent,Customer` on a mono call failed on the count of names; given
    one name, it analysed the whole call, the agent's voice included, unsaid."""
    import soundfile as sf

    path = tmp_path / "mono.wav"
    sf.write(str(path), speech_16k, 16000)
    common = ["--channels", "split", "--model", str(tiny_model_path), "--quiet"]
    assert main(["analyze", str(path), "--names", "Agent,Customer", "--out", str(tmp_path / "a"), *common]) == 1
    err = capsys.readouterr().err
    assert "2 track names given (Agent, Customer) but it has 1 channel" in err
    assert f"{path} has one channel: in a call recorded in mono every voice is in it, the agent's too" in err
    assert main(["analyze", str(path), "--names", "Customer", "--out", str(tmp_path / "b"), *common]) == 0
    assert f"note: {path} has one channel" in capsys.readouterr().err
    low = tmp_path / "low.wav"  # refused for another reason: no word of agents and customers
    sf.write(str(low), speech_16k[::4], 4000)
    assert main(["analyze", str(low), "--names", "Customer", "--out", str(tmp_path / "d"), *common]) == 1
    err = capsys.readouterr().err
    assert "sample rate 4000 Hz" in err and err.count("has one channel") == 1  # the note before it, only
    stereo = tmp_path / "stereo.wav"
    sf.write(str(stereo), np.stack([speech_16k, speech_16k[::-1]], axis=1), 16000)
    assert main(["analyze", str(stereo), "--names", "Agent,Customer", "--out", str(tmp_path / "c"), *common]) == 0
    assert "has one channel" not in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_mono_call_saved_as_stereo_keeps_no_results_when_its_agent_is_left_out(tmp_path, capsys, speech_16k,
                                                                                tiny_model_path, fmt):
    """Its customer's channel holds the agent's voice too: ``ser analyze --channels split`` with the
    agent named keeps no results of it, as ``ser batch`` keeps none (it wrote them with a note);
    ``--analyse-agent`` analyses it, with the note."""
    import soundfile as sf

    twin = tmp_path / "twin.wav"
    sf.write(str(twin), np.stack([speech_16k, 0.7 * speech_16k], axis=1), 16000)
    common = ["--channels", "split", "--names", "Agent,Customer", "--format", fmt, "--model", str(tiny_model_path),
              "--quiet"]
    out = tmp_path / "out"
    assert main(["analyze", str(twin), "--out", str(out), *common]) == 1
    err = capsys.readouterr().err
    assert (f"ser analyze: {twin}: its Agent and Customer channels hold the same sound (a mono recording saved as 2 "
            "channels?), so both parties are mixed in each, the agent's voice in the customer's channel; no results "
            "are kept. --analyse-agent analyses such recordings") in err
    assert not out.exists()  # nothing written, not even the folder made for it
    assert main(["analyze", str(twin), "--out", str(out), "--analyse-agent", *common]) == 0
    err = capsys.readouterr().err
    assert "no results are kept" not in err and "hold the same sound" in err  # analysed, and said
    assert [p.suffix for p in out.iterdir()] == [f".{fmt}"]
    # Cut short (a FLAC's decoder loses sync): refused all the same, for what was read before the break.
    flac = tmp_path / "twin.flac"
    sf.write(str(flac), np.stack([speech_16k, 0.7 * speech_16k], axis=1), 16000)
    (cut := tmp_path / "cut.flac").write_bytes(flac.read_bytes()[:int(flac.stat().st_size * 0.8)])
    assert main(["analyze", str(cut), "--out", str(tmp_path / "cut"), *common]) == 1
    err = capsys.readouterr().err
    assert "channels hold the same sound" in err and "no results are kept" in err and "Also: " in err, err
    assert not (tmp_path / "cut").exists()


def test_results_of_a_file_whose_name_is_as_long_as_a_name_can_be(tmp_path, speech_paths, tiny_model_path):
    """A 255-byte input name: its result's name (and a CSV's journal's) would be longer than a file
    name can be, so it keeps its start and a suffix; every format is written."""
    import shutil

    src = tmp_path / f"{'b' * 250}.flac"
    shutil.copy(speech_paths[0], src)
    out = tmp_path / "out"
    for fmt in ("jsonl", "csv", "json"):
        assert main(["analyze", str(src), "--out", f"{out}/", "--format", fmt, "--model", str(tiny_model_path),
                     "--quiet"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert sorted(n.rsplit(".", 1)[1] for n in names) == ["csv", "json", "jsonl"]
    assert all(n.startswith("b" * 200) and len(n) <= 255 for n in names)


def test_an_interrupt_while_the_disk_is_full_does_not_claim_the_file_says_it_stopped(tmp_path, capsys):
    """Ctrl+C while the session's disk is full: its end record is only in memory, so the message does
    not say that the file marks the analysis as stopped."""
    from streamer.cli_analyze import _report_interrupt
    from streamer.session import SessionStore

    session = tmp_path / "talk.jsonl"
    SessionStore.create(session, {"source": "test"})._file.close()  # no end record, as after a full disk
    assert not _report_interrupt(KeyboardInterrupt(), tmp_path / "talk.wav", session, session)
    err = capsys.readouterr().err
    assert "could not record that the analysis stopped (is the disk full?)" in err
    assert "marks the analysis as stopped" not in err


def test_ctrl_c_while_the_command_loads_says_interrupted_without_a_traceback(monkeypatch, capsys):
    """Ctrl+C in the first moments of a command, while its modules are still being imported (numpy,
    ONNX Runtime): one line and exit status 130, as later in the run, not Python's traceback."""
    import ser.cli

    def interrupted_import():
        raise KeyboardInterrupt

    monkeypatch.setattr(ser.cli, "build_parser", interrupted_import)
    assert ser.cli.main(["analyze", "talk.wav"]) == 130
    captured = capsys.readouterr()
    assert captured.err == "ser: interrupted\n" and captured.out == ""


def test_a_second_stop_signal_is_let_go_and_a_third_ends_the_process():
    """How ser's commands take SIGINT and SIGTERM: the first stops the command (KeyboardInterrupt, or
    Terminated for SIGTERM), a second while it stops is let go (breaking off the stop aborted the
    process when ONNX Runtime's threads were still busy), a third ends it at once, with the first's
    status."""
    import subprocess
    import sys

    script = """
import os, signal, sys, time
from ser.cli import _terminate_like_interrupt
_terminate_like_interrupt()
try:
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(1)
    print("not stopped")
except KeyboardInterrupt:
    print("stopped", flush=True)
os.kill(os.getpid(), signal.SIGTERM)  # the second: let go
time.sleep(0.2)
print("still stopping", flush=True)
os.kill(os.getpid(), signal.SIGINT)  # the third: at once
time.sleep(1)
print("not ended")
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert proc.stdout.split() == ["stopped", "still", "stopping"], (proc.stdout, proc.stderr)
    assert proc.returncode == 130, proc.stderr
