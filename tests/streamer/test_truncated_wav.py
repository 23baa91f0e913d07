"""A WAV file cut short (its header declares more audio than it holds) is reported, not analysed
silently as if complete: `ser analyze` says so and fails, `ser batch` records the call as failed,
and reading it for evaluation or training refuses it."""

import json

import numpy as np
import pytest
import soundfile as sf

from model.audio import load_mono_16k, wav_missing_fraction
from model.errors import AudioError
from ser.cli import main


@pytest.fixture()
def cut_wav(tmp_path, speech_16k):
    whole = tmp_path / "whole.wav"
    # a call: the customer (right) answers the agent (left) 3 s later
    sf.write(str(whole), np.stack([speech_16k, np.roll(speech_16k, 3 * 16000)], axis=1), 16000, subtype="PCM_16")
    raw = whole.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(raw[: len(raw) // 2])
    return whole, cut


def test_missing_fraction_of_a_cut_wav(cut_wav, speech_paths):
    whole, cut = cut_wav
    assert wav_missing_fraction(whole) is None
    assert wav_missing_fraction(cut) == pytest.approx(0.5, abs=0.01)
    assert wav_missing_fraction(speech_paths[0]) is None  # FLAC: not a WAV
    with pytest.raises(AudioError, match="truncated"):
        load_mono_16k(cut)


def test_ser_analyze_reports_a_cut_wav_and_keeps_what_it_read(cut_wav, tmp_path, capsys):
    _, cut = cut_wav
    out = tmp_path / "out"
    code = main(["analyze", str(cut), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code != 0 and "truncated" in err and "Traceback" not in err
    lines = (out / "cut.jsonl").read_text().splitlines()
    assert any(json.loads(x).get("type") == "result" for x in lines)  # results up to the cut are kept


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_a_cut_wav_as_a_document_says_where_the_analysis_stopped(cut_wav, tmp_path, capsys, fmt):
    """The document records that its analysis stopped, and where: a JSON document in its
    "analysis", a CSV in a last row of kind "stopped"; no journal is left beside it."""
    import csv

    _, cut = cut_wav
    out = tmp_path / "out"
    assert main(["analyze", str(cut), "--out", str(out), "--format", fmt, "--quiet"]) != 0
    assert "truncated" in capsys.readouterr().err
    assert not (out / f"cut.{fmt}.partial.jsonl").exists()
    if fmt == "json":
        analysis = json.loads((out / "cut.json").read_text())["analysis"]
        assert analysis["state"] == "stopped" and 0 < analysis["analysed_until_s"] < 10
    else:
        with open(out / "cut.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        last = rows[-1]
        assert last["kind"] == "stopped" and last["track"] == "" and last["start_s"] == last["end_s"], last
        assert 0 < float(last["start_s"]) < 10  # where the results end (the end record keeps milliseconds)
        assert float(last["start_s"]) >= max(float(r["end_s"]) for r in rows[:-1]) - 0.001
        assert last["settings"].startswith("the analysis stopped at ") and "is not analysed" in last["settings"]
        assert [r["kind"] for r in rows[:-1]] and {r["kind"] for r in rows[:-1]} <= {"window", "utterance"}


def test_ser_batch_records_a_cut_wav_as_failed(cut_wav, tmp_path, capsys, monkeypatch):
    import streamer.batch.report as report

    overview = []  # the report's charts count the cut call with what was analysed, as its table does
    draw = report.overview_png
    monkeypatch.setattr(report, "overview_png", lambda *a: overview.append(a) or draw(*a))
    whole, cut = cut_wav
    calls = tmp_path / "calls"
    calls.mkdir()
    whole.rename(calls / "whole.wav")
    cut.rename(calls / "cut.wav")
    code = main(["batch", str(calls), "--out", str(tmp_path / "report"), "--workers", "1", "--quiet"])
    assert code != 0
    rows = (tmp_path / "report" / "calls.csv").read_text()
    assert "truncated" in rows
    failed = [line for line in rows.splitlines() if line.startswith("cut")]
    assert failed and "failed" in failed[0]
    (_shares, arousal, *_), = overview
    assert len(arousal) == 2  # the customer of each call, the cut one too


@pytest.fixture()
def cut_ogg(tmp_path, speech_16k):
    """An Ogg Vorbis file and a copy cut short, at half its bytes and exactly at a page boundary (an
    Ogg file holds no length in a header: libsndfile reads either copy as a complete, shorter file)."""
    whole = tmp_path / "whole.ogg"
    sf.write(str(whole), np.tile(speech_16k, 3), 16000, format="OGG", subtype="VORBIS")
    raw = whole.read_bytes()
    cut = tmp_path / "cut.ogg"
    cut.write_bytes(raw[: len(raw) // 2])
    at_page = tmp_path / "at_page.ogg"
    at_page.write_bytes(raw[: raw.rfind(b"OggS")])  # every page but the last, which holds the end mark
    return whole, cut, at_page


def test_an_ogg_file_cut_short_is_told_from_a_complete_one(cut_ogg, cut_wav):
    from model.audio import ogg_is_cut

    whole, cut, at_page = cut_ogg
    assert not ogg_is_cut(whole) and ogg_is_cut(cut) and ogg_is_cut(at_page)
    assert not ogg_is_cut(cut_wav[1])  # not an Ogg file
    assert sf.info(str(cut)).frames < sf.info(str(whole)).frames  # what libsndfile says: complete, shorter
    load_mono_16k(whole)
    for damaged in (cut, at_page):
        with pytest.raises(AudioError, match="end-of-stream mark"):
            load_mono_16k(damaged)


def test_ser_analyze_reports_a_cut_ogg_and_keeps_what_it_read(cut_ogg, tmp_path, capsys):
    whole, cut, _ = cut_ogg
    out = tmp_path / "out"
    assert main(["analyze", str(whole), "--out", str(out), "--quiet"]) == 0
    code = main(["analyze", str(cut), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code != 0 and "cut.ogg: the Ogg file ends after" in err and "truncated" in err and "Traceback" not in err
    lines = (out / "cut.jsonl").read_text().splitlines()
    assert any(json.loads(x).get("type") == "result" for x in lines)  # results up to the cut are kept
