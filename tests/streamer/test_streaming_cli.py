"""``ser analyze`` and ``ser devices`` through the real dispatcher."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from streamer_helpers import REPO_ROOT, SAMPLE_RATE_HZ, subprocess_env, write_audio

from ser.cli import main
from streamer import DeviceError, SessionStore

EXIT_SOME_FAILED = 1
EXIT_USER_ERROR = 2
CLI_TIMEOUT_S = 120


@pytest.fixture
def inputs(speech_16k, speech_paths, tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    return {"good": [str(speech_paths[0]), str(write_audio(tmp_path / "speech.wav", speech_16k))],
            "bad": [str(tmp_path / "missing.wav"), str(empty)]}


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "json"])
def test_analyze_writes_one_file_per_input_and_skips_bad_ones(inputs, tiny_model_path, tmp_path, capsys, fmt):
    out = tmp_path / "out"
    files = [inputs["good"][0], *inputs["bad"], inputs["good"][1]]
    status = main(["analyze", *files, "--out", str(out), "--format", fmt, "--model", str(tiny_model_path),
                   "--device", "cpu"])
    captured = capsys.readouterr()
    assert status == EXIT_SOME_FAILED
    assert "missing.wav: file not found" in captured.err and "empty.wav: the file is empty (0 bytes)" in captured.err
    assert "2 of 4 files failed" in captured.err
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted([f"03-01-01-01-01-01-01.{fmt}", f"speech.{fmt}"])
    assert captured.out.count("mix: speech") == 2 and "top emotion by share of speech time:" in captured.out
    result = out / f"speech.{fmt}"
    if fmt == "jsonl":
        session = SessionStore.open(result)
        assert len(session.segments) == 4 and session.ended is not None
    elif fmt == "csv":
        rows = list(csv.DictReader(result.read_text().splitlines()))
        assert {r["kind"] for r in rows} == {"window", "utterance"}
    else:
        doc = json.loads(result.read_text())
        assert len(doc["segments"]) == 4 and doc["metadata"]["engine"]["tracks"] == ["mix"]


def test_a_file_given_twice_is_analysed_once(inputs, tiny_model_path, tmp_path, capsys):
    good = Path(inputs["good"][1])
    again = str(good.parent / "." / good.name)  # the same file by another path
    out = tmp_path / "out"
    assert main(["analyze", str(good), again, "--out", str(out), "--model", str(tiny_model_path), "--quiet"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["speech.jsonl"]
    assert f"note: {again} is {good} given again; it is analysed once." in capsys.readouterr().err


def test_analyze_all_good_split_and_realtime(speech_16k, tiny_model_path, tmp_path, capsys):
    n = int(3.4 * SAMPLE_RATE_HZ)
    stereo = np.stack([speech_16k[:n], speech_16k[n:2 * n]], axis=1)
    call = write_audio(tmp_path / "call.wav", stereo)
    status = main(["analyze", str(call), "--out", str(tmp_path), "--channels", "split", "--names", "Agent,Customer",
                   "--realtime", "--speed", "8", "--window", "1.5", "--hop", "0.25", "--vad", "3",
                   "--model", str(tiny_model_path), "--device", "cpu", "--analyse-agent"])
    out = capsys.readouterr().out
    assert status == 0
    assert "Agent: speech" in out and "Customer: speech" in out
    session = SessionStore.open(tmp_path / "call.jsonl")
    settings = session.metadata["engine"]["settings"]
    assert (settings["window_s"], settings["hop_s"], settings["vad_aggressiveness"]) == (1.5, 0.25, 3)
    assert {r.track_name for r in session.results} == {"Agent", "Customer"}

    # Without --analyse-agent the employee's track is left out, as in ser batch and the app (its
    # name in any letter case).
    assert main(["analyze", str(call), "--out", str(tmp_path / "lower"), "--channels", "split",
                 "--names", "agent,customer", "--model", str(tiny_model_path), "--device", "cpu"]) == 0
    assert "not analysing agent" in capsys.readouterr().err
    assert main(["analyze", str(call), "--out", str(tmp_path / "us"), "--channels", "split",  # as ser batch spells it too
                 "--names", "agent,customer", "--model", str(tiny_model_path), "--analyze-agent", "--quiet"]) == 0
    assert {r.track_name for r in SessionStore.open(tmp_path / "us" / "call.jsonl").results} == {"agent", "customer"}
    assert main(["analyze", str(call), "--out", str(tmp_path / "none"), "--channels", "split", "--names", "Agent,Boss",
                 "--agent-name", "Agent,Boss", "--model", str(tiny_model_path), "--device", "cpu"]) == 2
    assert "no channel would be analysed" in capsys.readouterr().err  # names that leave nothing: refused
    assert not (tmp_path / "none").exists()
    assert main(["analyze", str(call), "--out", str(tmp_path / "customer"), "--channels", "split",
                 "--names", "Agent,Customer", "--model", str(tiny_model_path), "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    assert "Agent: not analysed (employee channel)" in captured.out and "Customer: speech" in captured.out
    assert "not analysing Agent" in captured.err and "AI Act" in captured.err
    session = SessionStore.open(tmp_path / "customer" / "call.jsonl")
    assert {r.track_name for r in session.results} == {"Customer"}
    assert session.metadata["engine"]["settings"]["skip_tracks"] == [0]
    assert "every channel is analysed" not in captured.err  # named: no note
    # A mono file given two names fails for that, with no word of a channel left out before it.
    mono = tmp_path / "mono.wav"
    sf.write(mono, sf.read(call)[0][:, 0], sf.info(str(call)).samplerate)
    assert main(["analyze", str(mono), "--out", str(tmp_path / "mono"), "--channels", "split",
                 "--names", "Agent,Customer", "--model", str(tiny_model_path), "--device", "cpu"]) != 0
    err = capsys.readouterr().err
    assert "2 track names given" in err and "not analysing" not in err
    from streamer.batch.report import session_report  # the app's HTML export of such a session

    text = session_report(tmp_path / "customer" / "call.jsonl", tmp_path / "report.html").read_text()
    assert "Analysed: Customer. Not analysed: Agent" in text and "no speech found" not in text
    assert "<td>3.4 s</td>" in text  # the recording's length, not where its last speech ended

    # Unnamed channels are all analysed, with a note on how to leave an agent's out.
    assert main(["analyze", str(call), "--out", str(tmp_path / "unnamed"), "--channels", "split",
                 "--model", str(tiny_model_path), "--device", "cpu"]) == 0
    assert "every channel is analysed (named ch1, ch2, ...)" in capsys.readouterr().err
    # Named, none as the agent: every channel is analysed, and said so, with how to leave one out.
    assert main(["analyze", str(call), "--out", str(tmp_path / "others"), "--channels", "split",
                 "--names", "Left,Right", "--model", str(tiny_model_path), "--device", "cpu"]) == 0
    assert ("ser analyze: note: none of the track names (Left, Right) is the agent's (Agent), so every channel is "
            "analysed. If one holds an employee's voice, name it Agent (or give its name with --agent-name)"
            in capsys.readouterr().err)
    assert {r.track_name for r in SessionStore.open(tmp_path / "others" / "call.jsonl").results} == {"Left", "Right"}
    # Said before the first file the names fit, not before one they do not (a mono file fails on them);
    # one name (a mono file's) gets the mono note, not advice that would make its only track the agent's.
    assert main(["analyze", str(mono), "--out", str(tmp_path / "others-mono"), "--channels", "split",
                 "--names", "Left,Right", "--model", str(tiny_model_path), "--device", "cpu"]) != 0
    assert "none of the track names" not in capsys.readouterr().err
    assert main(["analyze", str(mono), "--out", str(tmp_path / "others-mono"), "--channels", "split",
                 "--names", "Customer", "--model", str(tiny_model_path), "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    assert "none of the track names" not in err and "has one channel" in err
    for quiet in (["--analyse-agent"], ["--quiet"], ["--agent-name", "Left"]):  # asked for, silenced, or named
        assert main(["analyze", str(call), "--out", str(tmp_path / "others"), "--channels", "split",
                     "--names", "Left,Right", "--model", str(tiny_model_path), "--device", "cpu", *quiet]) == 0
        assert "none of the track names" not in capsys.readouterr().err


def test_analyze_user_errors_exit_2(speech_paths, tiny_model_path, tmp_path, capsys):
    assert main(["analyze", str(speech_paths[0]), "--speed", "2", "--model", str(tiny_model_path)]) == EXIT_USER_ERROR
    assert "--speed only applies with --realtime" in capsys.readouterr().err
    assert main(["analyze", str(speech_paths[0]), "--model", str(tmp_path / "none.safetensors")]) == EXIT_USER_ERROR
    assert "model file not found" in capsys.readouterr().err
    assert main(["analyze", str(speech_paths[0]), "--hop", "3", "--model", str(tiny_model_path)]) == EXIT_USER_ERROR
    assert "--hop (3 s) must not exceed the model's window (2 s)" in capsys.readouterr().err
    for flag in ("--hop", "--window"):  # 0 is refused, not taken as "the model's"
        assert main(["analyze", str(speech_paths[0]), flag, "0", "--model", str(tiny_model_path)]) == EXIT_USER_ERROR
        assert f"{flag} must be a positive number of seconds, got 0" in capsys.readouterr().err
    assert main(["analyze", str(speech_paths[0]), "--window", "0.01", "--hop", "0.01",
                 "--model", str(tiny_model_path)]) == EXIT_USER_ERROR
    assert "--window (0.01 s) is shorter than the model can analyse" in capsys.readouterr().err
    assert main(["analyze", str(speech_paths[0]), "--crosstalk", "-5", "--model", str(tiny_model_path)]) == EXIT_USER_ERROR
    assert "--crosstalk must be a number of dB (0 turns it off), got -5" in capsys.readouterr().err
    assert main(["analyze", str(speech_paths[0]), "--names", "A,B", "--model", str(tiny_model_path)]) == EXIT_USER_ERROR


def test_devices_without_devices_or_portaudio(monkeypatch, capsys):
    import streamer.portaudio as portaudio
    import streamer.sources as sources

    def no_portaudio():
        raise DeviceError("cannot use audio devices: the PortAudio library is not available (test).")

    with monkeypatch.context() as m:
        m.setattr(sources, "list_input_devices", lambda: [])
        assert main(["devices"]) == EXIT_USER_ERROR
        assert "no audio input devices found" in capsys.readouterr().err
    with monkeypatch.context() as m:
        m.setattr(portaudio, "import_sounddevice", no_portaudio)
        assert main(["devices"]) == EXIT_USER_ERROR
        assert "PortAudio library is not available" in capsys.readouterr().err


def test_analyze_imports_neither_qt_nor_portaudio(speech_paths, tiny_model_path, tmp_path):
    code = ("import sys; from ser.cli import main; "
            f"status = main(['analyze', {str(speech_paths[0])!r}, '--out', {str(tmp_path)!r}, "
            f"'--model', {str(tiny_model_path)!r}, '--quiet']); "
            "bad = [m for m in ('sounddevice', 'PySide6', 'pyqtgraph') if m in sys.modules]; "
            "sys.exit(status or len(bad))")
    proc = subprocess.run([sys.executable, "-c", code], env=subprocess_env(), cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=CLI_TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr


def test_analyze_keeps_only_the_windows_its_summary_reads(speech_16k, predictor, tmp_path):
    """``ser analyze`` does not keep every window result in memory (keep_windows=False): the
    utterances and the windows holding a peak stay, and the summary is the one of all results."""
    from streamer import analyze_file
    from streamer.events import WindowResult
    from streamer.session import SessionStore
    from streamer.summary import summarize

    stereo = np.stack([speech_16k, speech_16k[::-1].copy()], axis=1)
    wav = write_audio(tmp_path / "call.wav", stereo)
    full = analyze_file(wav, predictor, channels="split", session_path=tmp_path / "full.jsonl")
    lean = analyze_file(wav, predictor, channels="split", session_path=tmp_path / "lean.jsonl", keep_windows=False)
    windows = [r for r in full.results if r.kind == "window"]
    kept = [r for r in lean.results if r.kind == "window"]
    assert len(windows) > 4 * len(full.track_names) and 0 < len(kept) < len(windows)
    def key(r):  # what a result says (its latency differs from run to run)
        return r.track, r.kind, r.start_s, r.end_s, r.heads

    assert [key(r) for r in lean.results if r.kind != "window"] == [key(r) for r in full.results
                                                                     if r.kind != "window"]
    heads = full.metadata["model"]["heads"]
    lines = [s.line() for s in summarize(full.track_names, full.segments, full.results, heads)]
    assert [s.line() for s in summarize(lean.track_names, lean.segments, lean.results, heads)] == lines
    assert [s.peaks for s in summarize(lean.track_names, lean.segments, lean.results, heads)] == \
        [s.peaks for s in summarize(full.track_names, full.segments, full.results, heads)]
    saved = [r for r in SessionStore.open(tmp_path / "lean.jsonl").results if isinstance(r, WindowResult)]
    assert len(saved) == len(full.results)  # the session file has every result


def test_the_windows_kept_for_peaks_are_those_the_summary_reads():
    """keep_windows=False keeps, per output, the window holding its peak as summarize reads it: the
    emotion head's from windows whose emotion is not uncertain (it kept an uncertain window's, and
    lost the window that held the summary's peak)."""
    from streamer.analyze import AnalysisResult
    from streamer.events import SpeechSegment, WindowResult
    from streamer.summary import summarize

    def r(a, angry, uncertain=False, kind="window"):
        return WindowResult.built_in(0, a, a + 2.0, {"angry": angry, "neutral": 1 - angry}, valence=1 - angry,
                                     arousal=angry, dominance=angry, kind=kind, uncertain=uncertain)

    # (no other output peaks in the first window: only its anger keeps it)
    windows = [r(0.0, 0.6), r(0.5, 0.95, uncertain=True), r(1.0, 0.05)]
    utterance = r(0.0, 0.5, kind="utterance")
    lean = AnalysisResult("x.wav", ["mix"])
    for w in windows:
        lean._keep_peaks(w)
    lean.results = [utterance]
    lean._finish_peaks()
    segments = [SpeechSegment(0, "mix", 0.0, 3.0)]
    (full,) = summarize(["mix"], segments, [*windows, utterance])
    (kept,) = summarize(["mix"], segments, lean.results)
    assert kept.peaks == full.peaks and full.peaks["emotion"]["angry"] == {"value": 0.6, "start_s": 0.0}
    assert full.peaks["dimensions"]["arousal"]["start_s"] == 0.5  # V/A/D from every window


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl"])
def test_an_interrupt_that_comes_as_the_file_finishes_says_the_results_are_complete(
        speech_paths, tiny_model_path, tmp_path, capsys, monkeypatch, fmt):
    """Ctrl+C after the engine analysed the whole file (its end record says complete): the message says
    so, not that the analysis stopped; a CSV keeps no journal it no longer needs."""
    import streamer.cli_analyze as cli

    real = cli.analyze_file

    def finishes_then_interrupted(*args, **kwargs):
        real(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "analyze_file", finishes_then_interrupted)
    out = tmp_path / f"r.{fmt}"
    assert main(["analyze", str(speech_paths[0]), "--out", str(out), "--model", str(tiny_model_path),
                 "--quiet"]) == 130
    err = capsys.readouterr().err
    assert "had been analysed to its end" in err and "results are complete in" in err and "stopped" not in err, err
    assert out.is_file() and not list(tmp_path.glob("*.partial.jsonl"))
    if fmt == "json":
        assert json.loads(out.read_text())["analysis"]["state"] == "complete"


def _interrupted_at(analyze_file, seconds: float):
    """``analyze_file`` as if Ctrl+C came once its progress reached ``seconds`` of the recording."""

    def interrupted(*args, **kwargs):
        told = kwargs["progress"]

        def progress(done_s):
            told(done_s)
            if done_s >= seconds:
                raise KeyboardInterrupt

        return analyze_file(*args, **{**kwargs, "progress": progress})

    return interrupted


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_an_interrupted_analysis_prints_the_summary_of_its_results_so_far(
        speech_paths, tiny_model_path, tmp_path, capsys, monkeypatch, fmt):
    """Ctrl+C part-way: each track's summary of what was analysed, as at the end of a run, under the
    file's name with how far it got, in the times the rest of the output uses (m:ss from a minute)."""
    import streamer.cli_analyze as cli
    from model.audio import load_mono_16k

    speech = np.concatenate([np.concatenate([load_mono_16k(p), np.zeros(8000, np.float32)]) for p in speech_paths] * 8)
    src = tmp_path / "long.wav"
    sf.write(src, speech, 16000)
    assert len(speech) / 16000 > 60
    monkeypatch.setattr(cli, "analyze_file", _interrupted_at(cli.analyze_file, 60.0))
    out = tmp_path / f"r.{fmt}"
    assert main(["analyze", str(src), "--out", str(out), "--model", str(tiny_model_path)]) == 130
    captured = capsys.readouterr()
    head, line = captured.out.splitlines()[-2:]
    assert re.fullmatch(rf"{re.escape(str(src))} \(interrupted after \d:\d\d\.\d of 3:0\d\.\d\) -> {re.escape(str(out))}",
                        head), captured.out
    assert line.startswith("  mix: speech ") and "segments" in line
    assert re.search(r"interrupted: .* after \d:\d\d\.\d of 3:0\d\.\d", captured.err), captured.err


def test_an_analysis_interrupted_before_any_speech_says_none_was_found_in_the_part_analysed(
        speech_paths, tiny_model_path, tmp_path, capsys, monkeypatch):
    """Ctrl+C before the first word: "no speech found" would say it of the whole recording; the line
    says it of the part analysed, and how long that was."""
    import streamer.cli_analyze as cli
    from model.audio import load_mono_16k

    src = tmp_path / "late.wav"
    sf.write(src, np.concatenate([np.zeros(16000 * 120, np.float32), load_mono_16k(speech_paths[0])]), 16000)
    real = cli.analyze_file
    monkeypatch.setattr(cli, "analyze_file", _interrupted_at(real, 5.0))
    # In real time (at 8x), so that the stop comes in the silence however busy the machine is.
    assert main(["analyze", str(src), "--out", str(tmp_path / "r.csv"), "--model", str(tiny_model_path),
                 "--realtime", "--speed", "8"]) == 130
    line = capsys.readouterr().out.splitlines()[-1]
    assert re.fullmatch(r"  mix: no speech in the (\d+\.\d s|\d:\d\d\.\d) analysed", line), line
    monkeypatch.setattr(cli, "analyze_file", real)
    assert main(["analyze", str(src), "--out", str(tmp_path / "whole.csv"), "--model", str(tiny_model_path)]) == 0
    assert "no speech" not in capsys.readouterr().out  # the word after the silence is found


@pytest.mark.parametrize("second", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_a_second_signal_while_the_analysis_stops_lets_it_finish_stopping(speech_paths, tiny_model_path, tmp_path,
                                                                            capsys, monkeypatch, second):
    """Ctrl+C, then Ctrl+C (or SIGTERM) again while ser analyze writes what it analysed: breaking the
    stop off there left threads inside ONNX Runtime as Python ended, and the process aborted
    (status 134), or said "terminated". The second signal comes as the CSV is being written; the
    stop finishes, the CSV is whole, and the first signal's word and status are given."""
    import streamer.cli_analyze as cli
    from model.audio import load_mono_16k

    src = tmp_path / "long.wav"
    sf.write(src, np.concatenate([load_mono_16k(p) for p in speech_paths] * 8), 16000)
    real_analyze, real_export, sent = cli.analyze_file, cli.export_csv, []

    def first_signal_at_5_s(*args, **kwargs):
        told = kwargs["progress"]

        def progress(done_s):
            told(done_s)
            if done_s >= 5.0 and not sent:
                sent.append(signal.SIGINT)
                os.kill(os.getpid(), signal.SIGINT)  # through the command's handler, as Ctrl+C comes

        return real_analyze(*args, **{**kwargs, "progress": progress})

    def export_while_a_second_signal_comes(*args, **kwargs):
        if sent == [signal.SIGINT]:
            sent.append(second)
            os.kill(os.getpid(), second)
        return real_export(*args, **kwargs)

    monkeypatch.setattr(cli, "analyze_file", first_signal_at_5_s)
    monkeypatch.setattr(cli, "export_csv", export_while_a_second_signal_comes)
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = main(["analyze", str(src), "--out", str(tmp_path / "r.csv"), "--model", str(tiny_model_path),
                     "--realtime", "--speed", "8", "--quiet"])
    finally:
        for s, h in handlers.items():
            signal.signal(s, h)
    err = capsys.readouterr().err
    assert sent == [signal.SIGINT, second] and code == 130, (sent, code, err)
    assert err.count("interrupted") == 1 and "terminated" not in err, err
    with open(tmp_path / "r.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows[-1]["kind"] == "stopped" and rows[0]["kind"] in ("window", "utterance")


def test_a_summary_names_one_emotion_past_the_first_four_instead_of_calling_it_other():
    """"surprised 6%, other 5%" where the other was sad alone: a single class past the first four is
    named, as the app names it; two or more are summed as other."""
    from streamer.summary import TrackSummary

    five = {"calm": 0.4, "neutral": 0.25, "happy": 0.2, "surprised": 0.1, "sad": 0.05}
    common = dict(speech_s=10.0, n_segments=2, n_utterances=2, valence=0.5, arousal=0.5, dominance=0.5,
                  gender={"female": 0.5, "male": 0.5})
    line = TrackSummary(0, "mix", emotion_shares=five, **common).line()
    assert "calm 40%, neutral 25%, happy 20%, surprised 10%, sad 5%" in line and "other" not in line
    six = {**five, "sad": 0.03, "angry": 0.02}
    line = TrackSummary(0, "mix", emotion_shares=six, **common).line()
    assert "surprised 10%, other 5%" in line and "sad" not in line
    tiny = {"calm": 0.6, "neutral": 0.396, "sad": 0.004}  # a share that rounds to 0 % is not listed
    line = TrackSummary(0, "mix", emotion_shares=tiny, **common).line()
    assert "calm 60%, neutral 40%;" in line and "sad" not in line and "other" not in line


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_call_whose_channels_held_the_same_sound_is_refused_when_stopped_too(
        speech_paths, tiny_model_path, tmp_path, capsys, monkeypatch, fmt):
    """Ctrl+C part-way through a mono call saved as stereo (--channels split, the agent named): the
    customer's results so far are the agent's voice as much, so none are kept, as at the file's end;
    a real call stopped the same way keeps its results so far."""
    import streamer.cli_analyze as cli
    from model.audio import load_mono_16k

    voice = np.concatenate([np.concatenate([load_mono_16k(p), np.zeros(8000, np.float32)]) for p in speech_paths] * 3)
    other = np.roll(voice, 16000 * 7) * 0.7  # another stretch of speech: a second voice at other times
    monkeypatch.setattr(cli, "analyze_file", _interrupted_at(cli.analyze_file, 20.0))
    for name, right, refused in (("twin", voice * 0.5, True), ("call", other, False)):
        src = tmp_path / f"{name}.wav"
        sf.write(src, np.stack([voice, right], axis=1), 16000)
        out = tmp_path / f"{name}.{fmt}"
        assert main(["analyze", str(src), "--channels", "split", "--names", "Agent,Customer", "--out", str(out),
                     "--format", fmt, "--model", str(tiny_model_path), "--quiet"]) == 130
        err = capsys.readouterr().err
        if refused:
            assert "interrupted: " in err and "hold the same sound" in err and "no results are kept" in err, err
            assert not out.exists() and not list(tmp_path.glob(f"{name}*.partial.jsonl"))
        else:
            assert "same sound" not in err and out.is_file(), err
