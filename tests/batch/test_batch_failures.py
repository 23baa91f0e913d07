"""Bad files in a batch: each is recorded with its error, the others are done, the exit status says so."""

from __future__ import annotations

import csv
import shutil

import numpy as np
import pytest
import soundfile as sf
from batch_helpers import load

from ser.cli import main

GOOD = ("call_a.wav", "call_b.wav")
BAD = {"broken.wav": "cannot read this audio file", "cut.flac": "truncated", "mono.wav": "it is mono",
       "six.wav": "6 channels, but --names gives 2 (Agent, Customer)"}


def test_bad_files_are_recorded_and_do_not_stop_the_batch(calls, tiny_model_path, tmp_path, capsys):
    src = tmp_path / "calls"
    src.mkdir()
    for name in GOOD:
        shutil.copy(calls["calls"][name]["path"], src / name)
    (src / "broken.wav").write_bytes(np.random.default_rng(0).bytes(5000))  # not audio at all
    stereo, rate = sf.read(str(src / "call_a.wav"), dtype="float32")
    sf.write(str(src / "full.flac"), stereo, rate, format="FLAC")
    data = (src / "full.flac").read_bytes()
    (src / "full.flac").unlink()
    (src / "cut.flac").write_bytes(data[: len(data) * 2 // 3])  # the end of the file is missing
    sf.write(str(src / "mono.wav"), stereo[:, 1], rate)  # both parties on one channel: cannot be split
    sf.write(str(src / "six.wav"), np.repeat(stereo[:, :1], 6, axis=1), rate)  # 6 channels for 2 names
    out = tmp_path / "out"
    args = ["batch", str(src), "--out", str(out), "--model", str(tiny_model_path), "--workers", "2", "--quiet"]

    assert main(args) == 1
    err = capsys.readouterr().err
    info = load(out / "batch.json")
    assert (info["analysed"], info["failed"]) == (len(GOOD), len(BAD))
    for name in GOOD:
        assert (out / "calls" / name / "done.json").is_file()
    for name, message in BAD.items():
        rec = load(out / "calls" / name / "failed.json")
        assert message in rec["error"] and name in rec["error"], rec["error"]
        assert not (out / "calls" / name / "done.json").exists()  # partial results are not a finished call
        assert f"{name}: " in err
        assert f"{name}: {src}" not in err  # the file is named once, not twice
    # The truncated call analysed as far as its data goes: those results are kept, marked as stopped
    # there, and open like a stopped session; a done call's results open as complete.
    cut = load(out / "calls" / "cut.flac" / "failed.json")
    partial = load(out / "calls" / "cut.flac" / "results.json")
    assert cut["partial_results"] == "results.json" and cut["analysed_until_s"] > 0
    assert partial["analysis"]["state"] == "stopped" and partial["results"] and partial["segments"]
    assert max(r["end_s"] for r in partial["results"]) <= cut["analysed_until_s"] + 1e-6
    assert "kept in" in cut["error"] and "kept in" in rows_error(out, "cut.flac")
    assert analysis_state_of(out / "calls" / "cut.flac" / "results.json")["state"] == "stopped"
    assert analysis_state_of(out / "calls" / GOOD[0] / "results.json")["state"] == "complete"
    assert analysis_state_of(out / "calls" / GOOD[0] / "results.json")["analysed_until_s"] > 0
    with open(out / "calls.csv", newline="") as f:  # the table shows what was analysed of it
        cut_rows = [r for r in csv.DictReader(f) if r["call_id"] == "cut.flac"]
    assert [r["status"] for r in cut_rows] == ["failed"] and cut_rows[0]["speaker"] == "Customer"
    assert 0 < float(cut_rows[0]["speech_s"]) <= cut["analysed_until_s"]
    length = cut_rows[0]["duration_s"]  # the file's frames over its rate, to the millisecond
    assert length and len(length.partition(".")[2]) <= 3, length
    # How much of it the results cover, beside what its header declares.
    assert float(cut_rows[0]["analysed_s"]) == pytest.approx(cut["analysed_until_s"], abs=1e-3)
    assert float(cut_rows[0]["analysed_s"]) < float(length)
    assert load(out / "calls" / "cut.flac" / "summary.json")["analysed_until_s"] == cut["analysed_until_s"]
    for name in ("broken.wav", "mono.wav", "six.wav"):  # nothing analysed: nothing kept
        assert not (out / "calls" / name / "results.json").exists() and "partial_results" not in load(
            out / "calls" / name / "failed.json")
    with open(out / "calls.csv", newline="") as f:
        rows = {r["call_id"]: r for r in csv.DictReader(f)}
    assert {c: r["status"] for c, r in rows.items()} == {**dict.fromkeys(GOOD, "done"), **dict.fromkeys(BAD, "failed")}
    assert all(rows[c]["analysed_s"] == rows[c]["duration_s"] for c in GOOD)
    assert all(rows[c]["analysed_s"] == "" for c in ("broken.wav", "mono.wav", "six.wav"))
    assert BAD["mono.wav"] in rows["mono.wav"]["error"]
    report = (out / "report.html").read_text()
    assert "Failed calls" in report and all(f"<b>{name}</b>" in report for name in BAD)
    # Each failed call's path once: the list gives it, its error goes on without it.
    failed_list = report.split("<h2>Failed calls</h2>")[1].split("</ul>")[0]
    assert all(failed_list.count(str(rows[name]["path"])) == 1 for name in BAD), failed_list
    # The report's table lists what was analysed of the call cut short, as the CSV does.
    assert (f"<tr><td><a href='#cut.flac'>cut.flac</a></td><td><span class='failed'>{cut['analysed_until_s']:.1f} s of "
            in report)
    assert "(1 of them analysed up to where it broke off)" in report
    assert (out / "calls" / "cut.flac" / "timeline.png").read_bytes().startswith(b"\x89PNG")  # of the part analysed
    assert "<h3 id='cut.flac'>" in report and "where it broke off (see Failed calls)" in report
    for name in ("broken.wav", "mono.wav", "six.wav"):
        assert not (out / "calls" / name / "timeline.png").exists() and f"<h3 id='{name}'>" not in report

    assert main(args) == 1  # failed calls are retried, done ones skipped
    info = load(out / "batch.json")
    assert (info["analysed"], info["skipped"], info["failed"]) == (0, len(GOOD), len(BAD))
    assert info["audio_s"] == pytest.approx(cut["analysed_until_s"])  # the retry analysed its first part again


def rows_error(out, call_id: str) -> str:
    with open(out / "calls.csv", newline="") as f:
        return next(r["error"] for r in csv.DictReader(f) if r["call_id"] == call_id)


def analysis_state_of(path):
    from streamer.session import SessionStore, analysis_state

    store = SessionStore.open(path)
    return analysis_state(store.ended, store.segments, store.results)


def test_a_listed_file_that_is_not_there_is_said_as_ser_analyze_says_it(calls, tiny_model_path, tmp_path, capsys):
    listing = tmp_path / "calls.txt"
    listing.write_text(f"{calls['calls']['call_a.wav']['path']}\n{tmp_path / 'gone.wav'}\n")
    out = tmp_path / "out"
    assert main(["batch", str(listing), "--out", str(out), "--model", str(tiny_model_path), "--workers", "1",
                 "--quiet"]) == 1
    rec = load(out / "calls" / "gone.wav" / "failed.json")
    assert rec["error"] == f"{tmp_path / 'gone.wav'}: file not found."
    assert "gone.wav: " in capsys.readouterr().err


@pytest.mark.parametrize("bad", [["--workers", "0"], ["--model", "missing.safetensors"], ["--scheduler", "foo"],
                                 ["--scheduler", "localhost:8786x"], ["--scheduler", "tcp://127.0.0.1:9"],
                                 ["--scheduler", "tcp://127.0.0.1:9", "--workers", "3"]])
def test_a_refused_batch_leaves_no_output_folder(bad, tiny_model_path, tmp_path, capsys):
    """A run refused for its options made its output folder (with calls/ in it) before saying so. A
    mistyped scheduler address, or one where nothing answers, is refused at once (dask's client waited
    30 s, then held the program 60 s more and printed a traceback); so is --workers with --scheduler."""
    src = tmp_path / "in"
    src.mkdir()
    (src / "call.wav").write_bytes(b"x")
    out = tmp_path / "out"
    args = ["batch", str(src), "--out", str(out), "--model", str(tiny_model_path), "--quiet", *bad]
    assert main(args) == 2
    assert "error" in capsys.readouterr().err and not out.exists()


def test_a_batch_whose_calls_all_failed_has_a_report_without_empty_tables(tiny_model_path, tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    (src / "empty.wav").write_bytes(b"")
    (src / "text.wav").write_text("not audio")
    out = tmp_path / "out"
    assert main(["batch", str(src), "--out", str(out), "--model", str(tiny_model_path), "--workers", "1",
                 "--quiet"]) == 1
    html = (out / "report.html").read_text()
    assert "No call analysed." in html and "<h2>Failed calls</h2>" in html
    assert "<table" not in html and "<h2>Per call</h2>" not in html and "<h2>Calls</h2>" not in html


def test_a_second_batch_on_a_folder_being_written_is_refused(calls, tiny_model_path, tmp_path, capsys):
    """Two runs on one output folder both analysed every call and both wrote the table and report."""
    from streamer.batch.store import BatchStore

    src = tmp_path / "calls"
    src.mkdir()
    shutil.copy(calls["calls"][GOOD[0]]["path"], src / GOOD[0])
    out = tmp_path / "out"
    other = BatchStore(out)
    other.hold()  # a run writing there now (its lock, as another process would hold it)
    args = ["batch", str(src), "--out", str(out), "--model", str(tiny_model_path), "--workers", "1", "--quiet"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"{out}: another ser batch is writing its results there now; wait for it to end, or give this one " \
           "another --out." in err
    assert not any((out / "calls").iterdir()) and not (out / "report.html").exists()
    other.release()
    (out / ".tmp-99999-calls.csv").write_text("track")  # left by a run killed while it wrote the table
    assert main(args) == 0 and (out / "report.html").exists()
    assert not list(out.glob(".tmp-*"))  # the folder held, what a killed run left beside the table is gone
    assert main(args) == 0  # the lock of the run before was released


def test_a_disk_that_fills_says_which_calls_are_kept_and_how_to_go_on(calls, tiny_model_path, tmp_path, capsys,
                                                                     monkeypatch):
    """The output disk fills while a call's files or the report are written: the run stops with the
    error, says how many calls are kept and that a rerun skips them; the rerun, with room, finishes."""
    from model.errors import OutputPathError
    from streamer.batch import runner
    from streamer.batch.store import BatchStore

    src = tmp_path / "calls"
    src.mkdir()
    for name in GOOD:
        shutil.copy(calls["calls"][name]["path"], src / name)
    out = tmp_path / "out"
    args = ["batch", str(src), "--out", str(out), "--model", str(tiny_model_path), "--workers", "1", "--quiet"]
    real_done, done = BatchStore.write_done, []

    def full_after_one(self, *a, **k):
        if done:
            raise OutputPathError(f"{out}/calls/x/done.json: cannot write (No space left on device); is the disk full?")
        done.append(1)
        return real_done(self, *a, **k)

    monkeypatch.setattr(BatchStore, "write_done", full_after_one)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and f"The 1 call finished so far is kept under {out / 'calls'}" in err
    assert "run the same command again once there is room: it skips finished calls" in err

    def no_room(*a, **k):
        raise OutputPathError(f"{out}/report.html: cannot write (No space left on device); is the disk full?")

    monkeypatch.setattr(BatchStore, "write_done", real_done)
    monkeypatch.setattr(runner, "write_report", no_room)
    assert main(args) == 2
    assert "The 2 calls finished so far are kept" in capsys.readouterr().err
    monkeypatch.undo()
    assert main(args) == 0 and (out / "report.html").exists()


def test_names_with_mixed_channels_are_refused_and_a_run_without_results_names_no_channels(tiny_model_path, tmp_path,
                                                                                          capsys):
    src = tmp_path / "in"
    src.mkdir()
    (src / "text.wav").write_text("not audio")
    out = tmp_path / "out"
    common = ["--model", str(tiny_model_path), "--workers", "1"]
    assert main(["batch", str(src), "--out", str(out), "--channels", "mix", "--analyse-agent", "--names", "A,B",
                 *common]) == 2
    assert "--names only applies with --channels split" in capsys.readouterr().err
    assert main(["batch", str(src), "--out", str(out), *common]) == 1  # its one call failed
    said = capsys.readouterr().out
    assert "0 analysed" in said and "Analysed:" not in said  # nothing was analysed, of any channel


def test_copies_of_a_recording_and_broken_links_are_said(calls, tiny_model_path, tmp_path, capsys):
    """Identical files under different names were each analysed and shown as separate calls without a
    word (links to one file already got a note); a link to a file that is not there was skipped silently."""
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    shutil.copy(calls["calls"][GOOD[0]]["path"], src / "a.wav")
    shutil.copy(calls["calls"][GOOD[0]]["path"], src / "sub" / "copy of a.wav")
    shutil.copy(calls["calls"][GOOD[1]]["path"], src / "b.wav")
    (src / "gone.wav").symlink_to(tmp_path / "nowhere.wav")
    out = tmp_path / "out"
    assert main(["batch", str(src), "--out", str(out), "--model", str(tiny_model_path), "--workers", "1",
                 "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "1 link to a file that is not there (gone.wav) not analysed." in err
    assert "1 recording is in the input more than once, as identical files: a.wav = sub/copy of a.wav." in err
    assert "b.wav" not in err.split("identical files:")[1]


def test_a_rerun_with_every_call_done_needs_no_scheduler(calls, tiny_model_path, tmp_path, capsys):
    """A batch run again into its folder with every call done has nothing for a scheduler to do: it
    was refused when the scheduler did not answer. A call left to analyse still needs it."""
    import shutil

    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(calls["calls"]["call_a.wav"]["path"], src / "a.wav")
    out = tmp_path / "out"
    base = ["batch", str(src), "--out", str(out), "--model", str(tiny_model_path), "--quiet"]
    assert main([*base, "--workers", "1"]) == 0
    capsys.readouterr()
    assert main([*base, "--scheduler", "tcp://127.0.0.1:9"]) == 0
    err = capsys.readouterr().err
    assert "does not answer, but every call was analysed before: nothing is left to run" in err
    assert load(out / "batch.json")["skipped"] == 1
    shutil.copy(calls["calls"]["call_a.wav"]["path"], src / "b.wav")
    (src / "b.wav").write_bytes((src / "b.wav").read_bytes()[:-3200])  # another recording
    assert main([*base, "--scheduler", "tcp://127.0.0.1:9"]) == 2
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in capsys.readouterr().err
    assert not (out / "calls" / "b.wav").exists()
