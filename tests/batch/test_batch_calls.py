"""Batch of generated stereo calls: summaries against the result files, channels, table, report, reruns."""

from __future__ import annotations

import base64
import html
import re
import shutil
import threading

import pyarrow.parquet as pq
import pytest
from batch_helpers import assert_close, load

from ser.cli import main
from streamer.batch.runner import run_batch
from streamer.batch.settings import BatchSettings

SEGMENT_SLACK_S = 0.6  # VAD padding before and hangover after a clip
NEUTRAL_VALENCE = 0.5


def _dur(r: dict) -> float:
    return r["end_s"] - r["start_s"]


def test_summary_numbers_match_the_result_files(local_run, calls):
    out = local_run["out"]
    assert local_run["run"].analysed == len(calls["calls"]) and local_run["run"].failed == 0
    for call_id in calls["calls"]:
        doc = load(out / "calls" / call_id / "results.json")
        summ = load(out / "calls" / call_id / "summary.json")
        assert [s["track_name"] for s in summ["speakers"]] == ["Customer"]
        for sp in summ["speakers"]:
            name = sp["track_name"]
            segs = [s for s in doc["segments"] if s["track_name"] == name]
            utts = [r for r in doc["results"] if r["track_name"] == name and r["kind"] == "utterance"]
            wins = [r for r in doc["results"] if r["track_name"] == name and r["kind"] == "window"]
            assert segs and utts and wins
            total = sum(_dur(r) for r in utts)
            assert sp["speech_s"] == pytest.approx(sum(_dur(s) for s in segs))
            assert sp["n_segments"] == len(segs) and sp["n_utterances"] == len(utts)
            labels = {r["top_label"] for r in utts}
            assert sp["emotion_shares"] == pytest.approx(
                {lab: sum(_dur(r) for r in utts if r["top_label"] == lab) / total for lab in labels})
            assert sp["mean_arousal"] == pytest.approx(sum(_dur(r) * r["heads"]["dimensions"]["arousal"] for r in utts) / total)
            assert sp["mean_valence"] == pytest.approx(sum(_dur(r) * r["heads"]["dimensions"]["valence"] for r in utts) / total)
            assert sp["negative_valence_share"] == pytest.approx(
                sum(_dur(r) for r in utts if r["heads"]["dimensions"]["valence"] < NEUTRAL_VALENCE) / total)
            peak = max(wins, key=lambda r: r["heads"]["dimensions"]["arousal"])
            assert (sp["peak_arousal"], sp["peak_arousal_s"]) == (peak["heads"]["dimensions"]["arousal"], peak["start_s"])
            # anger, an emotion reading, from the windows whose emotion is not uncertain
            sure = [r for r in wins if not r.get("uncertain")]
            angry = max(sure, key=lambda r: r["heads"]["emotion"]["angry"])
            assert (sp["peak_anger"], sp["peak_anger_s"]) == (angry["heads"]["emotion"]["angry"], angry["start_s"])
            for key, score, among in (("top_anger", lambda r: r["heads"]["emotion"]["angry"], sure),
                                      ("top_arousal", lambda r: r["heads"]["dimensions"]["arousal"], wins)):
                moments = sp[key]
                assert moments and [m["score"] for m in moments] == sorted((m["score"] for m in moments), reverse=True)
                assert moments[0]["score"] == max(score(r) for r in among)
                for i, a in enumerate(moments):  # distinct moments, each a real window with its own score
                    assert any(r["start_s"] == a["start_s"] and score(r) == a["score"] for r in among)
                    assert all(a["end_s"] <= b["start_s"] or b["end_s"] <= a["start_s"] for b in moments[i + 1:])


def test_speech_is_found_where_each_party_speaks(local_run, calls):
    for call_id, info in calls["calls"].items():
        doc = load(local_run["out"] / "calls" / call_id / "results.json")
        clips = info["intervals"]["Customer"]
        for s in doc["segments"]:
            assert any(a - SEGMENT_SLACK_S <= s["start_s"] and s["end_s"] <= b + SEGMENT_SLACK_S for a, b in clips), \
                f"{call_id}: segment {s} is not where the customer speaks"
        for a, b in clips:
            assert any(s["start_s"] < b and a < s["end_s"] for s in doc["segments"]), f"{call_id}: clip {a}-{b} missed"


def test_agent_channel_is_not_analysed_without_the_option(local_run, calls):
    out = local_run["out"]
    for call_id in calls["calls"]:
        doc = load(out / "calls" / call_id / "results.json")
        assert {r["track_name"] for r in doc["results"]} == {"Customer"}
        assert {s["track_name"] for s in doc["segments"]} == {"Customer"}
        assert doc["metadata"]["tracks_not_analysed"] == ["Agent"]
        summ = load(out / "calls" / call_id / "summary.json")
        assert summ["channels_analysed"] == ["Customer"] and summ["channels_not_analysed"] == ["Agent"]
    statement = "Not analysed: Agent (employee channel; needs --analyse-agent)."
    assert statement in summ["channel_statement"]
    assert statement in (out / "report.html").read_text()
    assert statement in load(out / "batch.json")["channel_statement"]


def test_the_model_never_sees_the_agent_channel(calls, tiny_model_path, tmp_path, monkeypatch):
    from model.inference import InferenceBase as Predictor  # both runtimes

    seen = []
    original = Predictor.predict_batch

    def counting(self, waveforms, *args, **kwargs):
        seen.append(len(waveforms))
        return original(self, waveforms, *args, **kwargs)

    monkeypatch.setattr(Predictor, "predict_batch", counting)
    one = tmp_path / "one"
    one.mkdir()
    shutil.copy(calls["calls"]["call_a.wav"]["path"], one / "call_a.wav")
    run_batch(one, tmp_path / "out", BatchSettings(model=str(tiny_model_path)), workers=1, progress=False)
    doc = load(tmp_path / "out" / "calls" / "call_a.wav" / "results.json")
    assert sum(seen) == sum(r["kind"] == "window" for r in doc["results"])  # customer windows only


def test_analyse_agent_analyses_both_channels(calls, tiny_model_path, tmp_path):
    run = run_batch(calls["dir"], tmp_path, BatchSettings(model=str(tiny_model_path), analyse_agent=True),
                    workers=1, progress=False)
    assert run.analysed == len(calls["calls"])
    for call_id, info in calls["calls"].items():
        doc = load(tmp_path / "calls" / call_id / "results.json")
        summ = load(tmp_path / "calls" / call_id / "summary.json")
        assert [s["track_name"] for s in summ["speakers"]] == ["Agent", "Customer"]
        assert [s["channel"] for s in summ["speakers"]] == [1, 2]
        for s in doc["segments"]:  # the left channel is the agent's, the right the customer's
            clips = info["intervals"][s["track_name"]]
            assert any(a - SEGMENT_SLACK_S <= s["start_s"] and s["end_s"] <= b + SEGMENT_SLACK_S for a, b in clips)
    assert "agent channel was analysed because --analyse-agent was given" in summ["channel_statement"]


def test_mixing_channels_needs_the_explicit_option(calls, tiny_model_path, tmp_path, capsys):
    rc = main(["batch", str(calls["dir"]), "--out", str(tmp_path), "--model", str(tiny_model_path),
               "--channels", "mix", "--quiet"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "AI Act, Art. 5(1)(f)" in err and "--analyse-agent" in err
    assert not (tmp_path / "calls").exists()


def test_table_csv_and_parquet_hold_every_call(local_run, calls):
    import csv

    out = local_run["out"]
    with open(out / "calls.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    table = pq.read_table(out / "calls.parquet").to_pylist()
    assert [r["call_id"] for r in rows] == [r["call_id"] for r in table] == list(calls["calls"])
    for row, prow in zip(rows, table):
        sp = load(out / "calls" / row["call_id"] / "summary.json")["speakers"][0]
        assert row["status"] == prow["status"] == "done" and row["speaker"] == prow["speaker"] == "Customer"
        for col, val in (("speech_s", sp["speech_s"]), ("mean_arousal", sp["mean_arousal"]),
                         ("peak_arousal", sp["peak_arousal"]), ("peak_anger_s", sp["peak_anger_s"]),
                         ("negative_valence_share", sp["negative_valence_share"])):
            assert float(row[col]) == pytest.approx(val) and prow[col] == pytest.approx(val)
        for lab, share in sp["emotion_shares"].items():
            assert prow[f"share_{lab}"] == pytest.approx(share)
        assert prow["duration_s"] == pytest.approx(calls["calls"][row["call_id"]]["duration_s"], abs=5e-4)  # to the ms
    # A share column for every class of the model, in its order, whether or not a call has it, so
    # the tables of different batches line up.
    from model.meta import read_meta

    labels = read_meta(local_run["model_path"]).labels
    shares = [c for c in rows[0] if c.startswith("share_")]
    assert shares == [f"share_{lab}" for lab in labels]
    assert all(float(r[c]) == 0.0 for r in rows for c in shares if c[len("share_"):] not in
               load(out / "calls" / r["call_id"] / "summary.json")["speakers"][0]["emotion_shares"])


def test_report_is_self_contained_with_a_timeline_per_call(local_run, calls):
    text = (local_run["out"] / "report.html").read_text()
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    assert len(images) == 1 + len(calls["calls"])  # the overview, then one timeline per call
    assert all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    assert not re.search(r'(src|href)="(https?:|/|file:)', text) and "<script" not in text
    for call_id in calls["calls"]:
        assert f"id='{call_id}'" in text
    # Each speaker's uncertain time stands beside the top emotion, which counts only the rest.
    assert "<th>uncertain</th><th>top emotion</th>" in text
    for call_id in calls["calls"]:
        sp = load(local_run["out"] / "calls" / call_id / "summary.json")["speakers"][0]
        assert f"<td>{sp['uncertain_s']:.1f} s (" in text


def test_calls_below_16_khz_are_said_once_for_the_batch(local_run, calls):
    """A call centre's recordings are often all at 8 kHz: the note that such audio holds nothing above
    4 kHz, where the model listens, is said once for the batch (report and closing lines), not as a
    note in every call's summary; the table and the report mark each such call."""
    from streamer.batch.report import narrowband_statement

    summaries = {c: load(local_run["out"] / "calls" / c / "summary.json") for c in calls["calls"]}
    narrow = [c for c, info in calls["calls"].items() if info["path"].name == "call_c.wav"]
    assert [c for c, s in summaries.items() if s["sample_rate_hz"] < 16000] == narrow
    assert all(s["notes"] == [] for s in summaries.values())  # not a note of its own
    said = narrowband_statement(local_run["run"].calls)
    assert said.startswith(f"1 of the 3 calls ({narrow[0]}) is recorded at 8000 Hz (telephone band: nothing above 4 kHz)")
    text = (local_run["out"] / "report.html").read_text()
    assert text.count("<b>Audio below 16 kHz:</b>") == 1
    assert html.escape(said.replace(narrow[0], "sub/call_c.wav")) in text  # the report names calls by their path
    # ... and each such call marked where it is read: its row of the report's table, its own section
    # and its rows of the table of calls (a filter on angry customers missed that it was at 8 kHz).
    assert text.count("class='notemark' title='recorded at 8000 Hz") == 1 and text.count(">(8 kHz)</a>") == 1
    assert "recorded at 8000 Hz, so nothing above 4 kHz" in text.split(f"<h3 id='{narrow[0]}'>")[1].split("<h3")[0]
    rows = _csv_rows(local_run["out"] / "calls.csv")
    assert {r["call_id"]: r["sample_rate_hz"] for r in rows} == {c: str(s["sample_rate_hz"]) for c, s in summaries.items()}
    assert narrowband_statement([{"call_id": "x", "summary": {"sample_rate_hz": 16000}}]) is None
    assert narrowband_statement([{"call_id": "x", "summary": {"speakers": []}}]) is None  # from before: unknown
    every = [{"call_id": f"c{i}", "summary": {"sample_rate_hz": 8000}} for i in range(3)]
    assert narrowband_statement(every).startswith("All 3 calls are recorded at 8000 Hz")
    assert narrowband_statement(every[:2]).startswith("Both calls are")
    older = [{"call_id": f"old{i}", "summary": {"speakers": []}} for i in range(7)]  # a rerun over an older batch
    assert narrowband_statement([*older, *every]).startswith(
        "3 of the 10 calls (c0, c1, c2) are recorded at 8000 Hz (telephone band: nothing above 4 kHz) (7 calls were "
        "analysed before the sample rate was kept: not known).")
    # A user trial: "1 of 7 calls" in a batch of 9 calls, 2 of which failed without results.
    failed = [{"call_id": f"bad{i}", "status": "failed"} for i in range(2)]
    assert narrowband_statement([*failed, *every[:1], *older[:6]]).startswith(
        "1 of the 7 calls with results (c0) is recorded at 8000 Hz")
    assert narrowband_statement([*failed, *every]).startswith("All 3 calls with results are recorded")


def test_the_report_names_each_call_by_its_path_and_gives_its_id_where_that_differs(local_run):
    """A user trial: a call named "call 4 spaces.wav" was titled by its id, call_4_spaces.wav-2f152803,
    in the report's table and headings; its name was only in the section's text."""
    text = (local_run["out"] / "report.html").read_text()
    assert "<a href='#sub__call_c.wav'>sub/call_c.wav</a>" in text and "<a href='#call_a.wav'>call_a.wav</a>" in text
    section = text.split("<h3 id='sub__call_c.wav'>")[1].split("<h3")[0]
    assert section.startswith("sub/call_c.wav</h3>") and "; <code>sub__call_c.wav</code> in calls.csv," in section
    assert "in calls.csv" not in text.split("<h3 id='call_a.wav'>")[1].split("<h3")[0]  # its id is its name


def test_calls_of_a_list_file_are_named_by_their_path_under_its_folder(tmp_path):
    """A review: with a list file as the input, day1/call.wav and day2/call.wav were both "call.wav"."""
    from streamer.batch.report import _id_text, call_name

    listing = tmp_path / "calls.txt"
    listing.write_text("day1/call.wav\nday2/call.wav\n")
    calls = [{"call_id": f"day{i}__call.wav", "path": str(tmp_path / f"day{i}" / "call.wav")} for i in (1, 2)]
    assert [call_name(c, str(listing)) for c in calls] == ["day1/call.wav", "day2/call.wav"]
    assert _id_text(calls[0], str(listing)) == "; <code>day1__call.wav</code> in calls.csv"
    elsewhere = {"call_id": "x.wav", "path": "/elsewhere/x.wav"}
    assert call_name(elsewhere, str(listing)) == "x.wav" and _id_text(elsewhere, str(listing)) == ""


def test_the_audio_analysed_is_said_in_hours_from_what_rounds_to_an_hour():
    """Under an hour the report writes the time as everywhere else (m:ss.s); from an hour on, in hours.
    Just under an hour rounds to an hour: "1.00 hours", not "1:00:00.0" beside batches said in hours."""
    from streamer.batch.report import _audio_length

    assert _audio_length(3599.94 / 3600) == "59:59.9"
    assert _audio_length(3599.96 / 3600) == _audio_length(1.0) == "1.00 hours"
    assert _audio_length(59.96 / 3600) == "1:00.0" and _audio_length(2.5) == "2.50 hours"


def test_timeline_lines_break_between_speech_segments():
    import math
    from types import SimpleNamespace

    from streamer.batch.report import timeline_series

    def w(a, b):
        return SimpleNamespace(start_s=a, end_s=b, arousal=0.5, valence=0.5)

    # Two windows of one segment (overlapping), then a segment after a 0.5-s pause.
    xs, ar, va = timeline_series([w(0.0, 2.0), w(0.5, 2.5), w(3.0, 5.0)])
    assert xs[:2] == [1.0, 1.5] and math.isnan(xs[2]) and xs[3] == 4.0 and len(ar) == len(va) == 4
    xs, _, _ = timeline_series([w(0.0, 2.0), w(2.0, 4.0)])  # touching windows: one line
    assert xs == [1.0, 3.0]


def test_a_timeline_shows_each_windows_top_emotion_in_the_apps_colours(monkeypatch):
    from types import SimpleNamespace

    import streamer.batch.report as report
    from model.labels import label_color

    figures = []
    monkeypatch.setattr(report, "_png", lambda fig: figures.append(fig) or b"")

    def w(a, top, uncertain=False):
        probs = {"neutral": 0.1, "sad": 0.1, "angry": 0.1, top: 0.7}
        return SimpleNamespace(track=0, kind="window", start_s=a, end_s=a + 2.0, arousal=0.5, valence=0.5,
                               probabilities=probs, uncertain=uncertain)

    def cells(ax):
        """The band's cells in time order: (start, end, colour, hatched)."""
        out = []
        for c in ax.collections:
            if type(c).__name__ != "PolyCollection":
                continue
            faces = c.get_facecolor()
            for k, p in enumerate(c.get_paths()):
                e = p.get_extents()
                rgb = tuple(round(v * 255) for v in faces[k % len(faces)][:3])
                out.append((round(e.x0, 2), round(e.x1, 2), rgb, bool(c.get_hatch())))
        return sorted(out)

    results = [w(0.0, "sad"), w(0.5, "sad"), w(1.0, "angry", uncertain=True), w(1.5, "angry")]
    report.timeline_png("call", 4.0, ["Customer"], [], results)
    ax = figures[0].axes[0]
    assert cells(ax) == [(0.75, 1.25, label_color("sad"), False), (1.25, 1.75, label_color("sad"), False),
                         (1.75, 2.25, (255, 255, 255), True), (2.25, 2.75, label_color("angry"), False)]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["arousal", "valence", "sad", "angry"]
    # The title has a row of its own, above the key (they overlapped).
    title = next(t for t in figures[0].texts if t.get_text() == "call")
    assert title.get_position()[1] > ax.get_position().y1 + 0.05
    # A segment starting 0.3 s after the previous one's last window: the cells keep the hop's width.
    report.timeline_png("call", 6.0, ["Customer"], [], [*results, w(1.8, "sad")])
    band = cells(figures[-1].axes[0])
    assert len(band) == 5 and {round(b - a, 3) for a, b, _, _ in band} == {0.5}
    # A call shorter than a hop has one short window: its cell stays inside it (it reached 0.4 s).
    short = SimpleNamespace(**{**vars(w(0.0, "sad")), "end_s": 0.3})
    report.timeline_png("call", 0.3, ["Customer"], [], [short])
    assert [(a, b) for a, b, _, _ in cells(figures[-1].axes[0])] == [(0.0, 0.3)]
    # The angriest window is marked only where its emotion is not uncertain.
    def dashed(fig):
        return [ln.get_xdata()[0] for ln in fig.axes[0].get_lines() if ln.get_linestyle() == "--"]

    furious = SimpleNamespace(**{**vars(w(3.0, "angry")), "probabilities": {"angry": 0.95, "sad": 0.05}})
    report.timeline_png("call", 6.0, ["Customer"], [], [*results, furious])
    assert dashed(figures[-1]) == [3.0]  # at the window's start: the time the table gives for the peak
    report.timeline_png("call", 6.0, ["Customer"], [], [*results, SimpleNamespace(**{**vars(furious), "uncertain": True})])
    assert dashed(figures[-1]) == [1.5]  # the window at 1.5 s, angry at 0.7 and not uncertain
    assert figures[-1].axes[0].get_xlabel().splitlines()[1].startswith("dashed: start of the angriest window")
    # From a minute on, the time axis is in m:ss, as the app's.
    report.timeline_png("call", 150.0, ["Customer"], [], results)
    figures[-1].canvas.draw()
    ax = figures[-1].axes[0]
    ticks = [t.get_text() for t in ax.get_xticklabels() if 0 <= t.get_position()[0] <= ax.get_xlim()[1]]
    assert ticks[:3] == ["0", "15", "30"] and ticks[4:] == ["1:00", "1:15", "1:30", "1:45", "2:00", "2:15", "2:30"]
    assert figures[-1].axes[0].get_xlabel().startswith("time (s; m:ss from a minute)")


def test_anger_peaks_come_from_windows_whose_emotion_is_not_uncertain():
    """Anger is an emotion reading: an uncertain window's anger is no peak (it was the call's peak)."""
    from streamer.batch.summary import speaker_summary
    from streamer.events import UTTERANCE, WindowResult
    from streamer.summary import TrackSummary

    def r(a, angry, uncertain=False, kind="window"):
        return WindowResult.built_in(0, a, a + 2.0, {"angry": angry, "neutral": 1 - angry}, valence=0.4,
                                     arousal=0.3 + angry / 2, dominance=0.5, kind=kind, uncertain=uncertain)

    results = [r(0.0, 0.6), r(0.5, 0.95, uncertain=True), r(1.0, 0.2), r(0.0, 0.5, kind=UTTERANCE)]
    sp = speaker_summary(TrackSummary(0, "Customer"), results)
    assert (sp["peak_anger"], sp["peak_anger_s"]) == (0.6, 0.0)
    assert [m["start_s"] for m in sp["top_anger"]] == [0.0]
    assert (sp["peak_arousal"], sp["peak_arousal_s"]) == (pytest.approx(0.3 + 0.95 / 2), 0.5)  # V/A/D: every window
    # ... and so is the emotion head's peak that every summary carries (it came from any window).
    from streamer.events import SpeechSegment
    from streamer.summary import summarize

    (base,) = summarize(["Customer"], [SpeechSegment(0, "Customer", 0.0, 3.0)], results)
    assert base.peaks["emotion"]["angry"] == {"value": 0.6, "start_s": 0.0}
    assert base.peaks["dimensions"]["arousal"]["start_s"] == 0.5
    every = speaker_summary(TrackSummary(0, "Customer"), [r(0.0, 0.9, uncertain=True)])
    assert every["peak_anger"] is None and every["top_anger"] == [] and every["peak_arousal"] is not None


def test_a_speaker_whose_speech_is_all_uncertain_reads_so_in_the_table():
    """Not a bare dash beside a negative-valence share of 100 %, which looked like a contradiction."""
    from streamer.batch.report import _top_emotion_html

    assert _top_emotion_html({"emotion_shares": {"sad": 0.25, "angry": 0.75}}) == "angry"
    assert _top_emotion_html({"emotion_shares": {"<b>": 1.0}}) == "&lt;b&gt;"  # an extra head's label, escaped
    cell = _top_emotion_html({"emotion_shares": {}})
    assert ">all uncertain</span>" in cell and "'" not in cell.split("title='")[1].split("'>")[0]


def test_anger_is_called_out_only_where_it_was_the_likelier_reading():
    from streamer.batch.report import ANGER_MARK_MIN, _anger_text

    low = {"top_anger": [{"start_s": 7.8, "end_s": 9.8, "score": 0.16}, {"start_s": 0.0, "end_s": 1.8, "score": 0.02}]}
    assert _anger_text(low) == ("; anger was never the likelier reading in a window the model was sure of (highest "
                                "anger probability 0.16)")
    high = {"top_anger": [{"start_s": 1.0, "end_s": 3.0, "score": 0.8}, {"start_s": 5.0, "end_s": 7.0, "score": 0.2}]}
    assert _anger_text(high) == "; highest anger at 1.0-3.0 s (0.80)" and ANGER_MARK_MIN == 0.5
    assert _anger_text({"top_anger": []}) == ""


def test_rerun_skips_done_calls_and_redoes_changed_ones(local_run, calls, tiny_model_path, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(local_run["out"], out)
    src = tmp_path / "calls"
    shutil.copytree(calls["dir"], src)
    settings = BatchSettings(model=str(tiny_model_path))
    markers = {c: (out / "calls" / c / "done.json").read_bytes() for c in calls["calls"]}

    run = run_batch(src, out, settings, workers=1, progress=False)  # same content (copied files), model, settings
    assert (run.analysed, run.skipped, run.failed) == (0, len(markers), 0)
    assert {c: (out / "calls" / c / "done.json").read_bytes() for c in calls["calls"]} == markers

    data = bytearray((src / "call_b.wav").read_bytes())
    data[-100:] = b"\x01" * 100  # new content (a faint tail), same size
    (src / "call_b.wav").write_bytes(bytes(data))
    run = run_batch(src, out, settings, workers=1, progress=False)
    assert (run.analysed, run.skipped) == (1, len(markers) - 1)

    run = run_batch(src, out, BatchSettings(model=str(tiny_model_path), hop_s=1.0), workers=1, progress=False)
    assert (run.analysed, run.skipped) == (len(markers), 0)
    assert_close(load(out / "calls" / "call_a.wav" / "summary.json")["channels_analysed"], ["Customer"])


def test_a_customer_who_never_speaks_gives_an_empty_summary(tiny_model_path, tmp_path, capsys):
    import numpy as np
    import soundfile as sf
    from batch_helpers import AGENT_CLIPS

    from model.audio import load_mono_16k

    agent = load_mono_16k(AGENT_CLIPS[0])
    audio = np.zeros((len(agent) + 16000, 2), dtype=np.float32)
    audio[8000:8000 + len(agent), 0] = agent  # only the agent talks
    src = tmp_path / "calls"
    src.mkdir()
    sf.write(str(src / "silent.wav"), audio, 16000)
    run = run_batch(src, tmp_path / "out", BatchSettings(model=str(tiny_model_path)), workers=1, progress=False)
    assert (run.analysed, run.failed) == (1, 0)
    sp = load(tmp_path / "out" / "calls" / "silent.wav" / "summary.json")["speakers"][0]
    assert (sp["track_name"], sp["speech_s"], sp["n_utterances"], sp["emotion_shares"]) == ("Customer", 0.0, 0, {})
    assert sp["mean_arousal"] is None and sp["peak_arousal"] is None and sp["top_anger"] == []
    row = pq.read_table(tmp_path / "out" / "calls.parquet").to_pylist()[0]
    assert row["speech_s"] == 0.0
    assert all(v is None for k, v in row.items() if k.startswith("share_"))  # no shares, not 0 % of each
    html = (tmp_path / "out" / "report.html").read_text()
    # A silent or swapped channel says so, in the table and in the call's text, with no empty cells.
    assert html.count("no speech found in this channel") == 2 and "highest arousal at ." not in html
    assert "( s)" not in html and "<td>%</td>" not in html
    from streamer.batch.report import without_speech

    assert without_speech(run.calls) == [("silent.wav", "Customer")]
    from ser.cli import main

    capsys.readouterr()
    assert main(["batch", str(src), "--out", str(tmp_path / "out"), "--model", str(tiny_model_path),
                 "--workers", "1"]) == 0
    assert "1 analysed channel has no speech: silent.wav (Customer); if the call has speech" in capsys.readouterr().out


def test_what_is_noticed_about_a_calls_audio_is_said_and_kept(tiny_model_path, tmp_path, capsys):
    """A clipped call: `ser batch` says so as `ser analyze` does, and its summary, the table and the
    report keep it (it was only in results.json's metadata)."""
    import numpy as np
    import soundfile as sf
    from batch_helpers import AGENT_CLIPS

    from model.audio import load_mono_16k

    voice = load_mono_16k(AGENT_CLIPS[0])
    audio = np.zeros((len(voice) + 16000, 2), dtype=np.float32)
    audio[8000:8000 + len(voice), 1] = np.clip(voice / np.abs(voice).max() * 8, -1, 1)  # the customer, clipped
    src = tmp_path / "calls"
    src.mkdir()
    sf.write(str(src / "loud.wav"), audio, 16000)
    sf.write(str(src / "fine.wav"), audio * 0.1, 16000)
    assert main(["batch", str(src), "--out", str(tmp_path / "out"), "--model", str(tiny_model_path),
                 "--workers", "1"]) == 0
    first = capsys.readouterr()
    err = first.err
    assert err.count("ser batch: note: ") == 1 and "loud.wav (Customer channel): " in err and "(clipped)" in err
    notes = load(tmp_path / "out" / "calls" / "loud.wav" / "summary.json")["notes"]
    assert len(notes) == 1 and "(clipped)" in notes[0] and notes[0] in err
    assert load(tmp_path / "out" / "calls" / "fine.wav" / "summary.json")["notes"] == []
    rows = {r["call_id"]: r for r in pq.read_table(tmp_path / "out" / "calls.parquet").to_pylist()}
    assert rows["loud.wav"]["notes"] == notes[0] and rows["fine.wav"]["notes"] == ""
    html = (tmp_path / "out" / "report.html").read_text()
    assert html.count("(note)</a>") == 1 and f"Note: {notes[0]}" in html
    assert "ser batch: 1 call has notes on its audio (clipped, very quiet, damaged, channels alike ...): loud.wav;" in first.out
    # A rerun skips both calls: the note is not printed again, the closing line still points to it.
    assert main(["batch", str(src), "--out", str(tmp_path / "out"), "--model", str(tiny_model_path),
                 "--workers", "1"]) == 0
    out = capsys.readouterr()
    assert "ser batch: note:" not in out.err and "1 call has notes on its audio" in out.out


def test_a_timeline_of_a_call_named_in_another_script_draws_without_missing_glyphs():
    """The plots' font has no Tamil or Chinese: such characters are drawn as "?" (the report's text
    names the call in full), not as empty boxes with a warning per character."""
    import warnings

    from streamer.batch.report import _drawable, timeline_png

    assert _drawable("Anruf_ü.wav") == "Anruf_ü.wav" and _drawable("电话.wav") == "??.wav"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert timeline_png("தமிழ்_அழைப்பு.wav", 10.0, ["电话"], [], []).startswith(b"\x89PNG")


def test_the_run_line_counts_calls_and_says_when_nothing_was_analysed(tmp_path):
    from streamer.batch.runner import BatchRun

    one = BatchRun(tmp_path, total=1, analysed=1, audio_s=1800.0, wall_s=3.6)
    assert one.line() == "1 call: 1 analysed, 0 skipped (already done), 0 failed; 30:00.0 of audio in 3.6 s (500 h of audio per hour)"
    done = BatchRun(tmp_path, total=8, skipped=8, wall_s=0.4)
    assert done.line() == "8 calls: 0 analysed, 8 skipped (already done), 0 failed; nothing to analyse (0.4 s)"


def test_a_stop_while_a_calls_files_are_written_leaves_it_among_the_unfinished(calls, tiny_model_path, tmp_path,
                                                                              monkeypatch):
    """Ctrl+C as a finished call's files are being written: no done.json, so it is named as not
    finished (the next run analyses it again), not dropped from both lists."""
    from streamer.batch.store import BatchStore

    written = []
    write = BatchStore.write_done

    def stop_at_the_second(self, out, record):
        written.append(out.call_id)
        if len(written) == 2:
            raise KeyboardInterrupt
        write(self, out, record)

    monkeypatch.setattr(BatchStore, "write_done", stop_at_the_second)
    said = []
    with pytest.raises(KeyboardInterrupt):
        run_batch(calls["dir"], tmp_path / "out", BatchSettings(model=str(tiny_model_path)), workers=1,
                  progress=False, log=said.append)
    message = said[-1]
    assert "the 1 call finished in this run is kept" in message, message
    assert f"not finished: {written[1]}" in message, message


def test_a_stopped_batch_writes_the_table_and_report_of_what_was_done_and_a_rerun_writes_them_whole(
        calls, tiny_model_path, tmp_path, monkeypatch):
    """Ctrl+C part-way: the calls analysed so far are in calls.csv, calls.parquet and report.html at
    once, the others listed as not analysed and the report marked incomplete; the next run analyses
    only those and writes the overview whole, with no trace of the stop."""
    from streamer.batch import runner
    from streamer.summary import count_text

    out = tmp_path / "out"
    settings = BatchSettings(model=str(tiny_model_path))
    analyse = runner.analyze_call
    seen = []

    def stop_at_the_third(task):
        seen.append(task.call_id)
        if len(seen) == 3:
            raise KeyboardInterrupt
        return analyse(task)

    monkeypatch.setattr(runner, "analyze_call", stop_at_the_third)
    said = []
    with pytest.raises(KeyboardInterrupt):
        run_batch(calls["dir"], out, settings, workers=1, progress=False, log=said.append)
    n_calls = len(calls["calls"])
    assert "calls.csv, calls.parquet) and report.html there show what was analysed so far" in said[-1], said[-1]
    table = pq.read_table(out / "calls.parquet").to_pylist()
    status = {r["call_id"]: r["status"] for r in table}
    assert len(status) == n_calls
    assert sorted(c for c, s in status.items() if s == "done") == sorted(seen[:2])
    assert {s for c, s in status.items() if c not in seen[:2]} == {"not_analysed"}
    assert all(r["error"].startswith("not analysed: the batch was stopped") for r in table if r["status"] != "done")
    csv_text = (out / "calls.csv").read_text()
    assert csv_text.count(",not_analysed,") == n_calls - 2
    header = csv_text.splitlines()[0].split(",")  # a column added later goes last: the others keep their places
    assert header[-1] == "analysed_s" and header.index("share_surprised") == len(header) - 2
    report = html.unescape((out / "report.html").read_text())
    left = n_calls - 2
    assert "Incomplete:" in report, report[:2000]
    assert f"{count_text(left, 'call')} of {n_calls} {'is' if left == 1 else 'are'} not analysed" in report
    assert f"{n_calls} calls: 2 analysed, 0 failed, {n_calls - 2} not analysed (the batch was stopped)" in report
    assert "<h2>Not analysed yet</h2>" in report
    info = load(out / "batch.json")
    assert info["finished"] is None and info["stopped"] and (info["analysed"], info["not_analysed"]) == (2, n_calls - 2)

    monkeypatch.setattr(runner, "analyze_call", analyse)
    run = run_batch(calls["dir"], out, settings, workers=1, progress=False, log=said.append)
    assert (run.skipped, run.analysed, run.failed) == (2, n_calls - 2, 0)
    assert {r["status"] for r in pq.read_table(out / "calls.parquet").to_pylist()} == {"done"}
    report = (out / "report.html").read_text()
    assert "Incomplete" not in report and "Not analysed yet" not in report and "not_analysed" not in report
    assert load(out / "batch.json")["finished"]


def test_a_mixed_batch_keeps_no_note_that_its_calls_take_turns(calls, tiny_model_path, tmp_path):
    """ser batch mixes only when told to (--analyse-agent): the note ser analyze gives a mixed call whose
    channels take turns, with its advice to split them, is not for it. ser analyze on the same call says it."""
    from streamer.batch.runner import run_batch
    from streamer.batch.settings import BatchSettings
    from streamer.sources import FileSource

    call_id = sorted(calls["calls"])[0]
    path = next(p for p in calls["dir"].rglob("*") if p.is_file() and p.relative_to(calls["dir"]).as_posix().replace(
        "/", "__") == call_id)
    src = FileSource(path, channels="mix")
    src.open()
    for _ in src.blocks(threading.Event()):
        pass
    assert any("take turns" in n for n in src.notices)  # the generated call is one
    run_batch(path.parent, tmp_path, BatchSettings(model=str(tiny_model_path), channels="mix", analyse_agent=True),
              workers=1, progress=False)
    summ = load(tmp_path / "calls" / path.name / "summary.json")
    doc = load(tmp_path / "calls" / path.name / "results.json")  # (which opens in the app like a session)
    assert not any("take turns" in n for n in summ["notes"] + doc["metadata"]["notices"])


def test_a_call_whose_channels_hold_the_same_sound_is_refused_as_a_mono_call_is(calls, tiny_model_path, tmp_path):
    """A mono recording saved as stereo: its customer's channel holds the agent's voice too. It was
    analysed under "Not analysed: Agent" (a mono file is refused); now it fails as a mono call does,
    its results not kept, unless the agent's analysis is asked for."""
    import numpy as np
    import soundfile as sf

    from streamer.batch.runner import run_batch
    from streamer.batch.settings import BatchSettings

    source = next(p for p in sorted(calls["dir"].rglob("*.wav")))
    audio, rate = sf.read(source, dtype="float32")
    folder = tmp_path / "in"
    folder.mkdir()
    mono = audio.sum(axis=1) * 0.5
    sf.write(folder / "twin.wav", np.stack([mono, mono], axis=1), rate)
    sf.write(folder / "call.wav", audio, rate)  # a real two-sided call beside it
    run_batch(folder, tmp_path / "out", BatchSettings(model=str(tiny_model_path)), workers=1, progress=False)
    done = load(tmp_path / "out" / "calls" / "call.wav" / "summary.json")
    assert done["speakers"][0]["track_name"] == "Customer"
    failed = tmp_path / "out" / "calls" / "twin.wav"
    assert not (failed / "results.json").exists() and not (failed / "summary.json").exists()
    rows = {r["call_id"]: r for r in _csv_rows(tmp_path / "out" / "calls.csv")}
    assert rows["twin.wav"]["status"] == "failed" and "hold the same sound" in rows["twin.wav"]["error"]
    assert "--analyse-agent" in rows["twin.wav"]["error"] and rows["call.wav"]["status"] == "done"
    run_batch(folder, tmp_path / "out2", BatchSettings(model=str(tiny_model_path), analyse_agent=True), workers=1,
              progress=False)
    rows = {r["call_id"]: r for r in _csv_rows(tmp_path / "out2" / "calls.csv")}
    assert rows["twin.wav"]["status"] == "done"  # asked for: analysed, with its note
    notes = load(tmp_path / "out2" / "calls" / "twin.wav" / "summary.json")["notes"]
    assert any("hold the same sound" in n for n in notes)


def _csv_rows(path):
    import csv

    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_the_closing_lines_name_calls_as_the_report_does(calls, tiny_model_path, tmp_path, capsys):
    """A list file naming a call by its absolute path gave it an id made of that whole path, which
    the closing line on 8-kHz audio used ("tmp__...__call_c.wav") while the report said call_c.wav."""
    from ser.cli import main

    narrow = next(info["path"] for info in calls["calls"].values() if info["path"].name == "call_c.wav")
    wide = next(info["path"] for info in calls["calls"].values() if info["path"].name != "call_c.wav")
    listing = tmp_path / "list" / "calls.txt"
    listing.parent.mkdir()
    listing.write_text(f"{narrow}\n{wide}\n")
    capsys.readouterr()
    assert main(["batch", str(listing), "--out", str(tmp_path / "out"), "--model", str(tiny_model_path),
                 "--workers", "1"]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if "8000 Hz" in ln)
    assert "(call_c.wav)" in line and "__" not in line, line
    assert "(call_c.wav)" in (tmp_path / "out" / "report.html").read_text()


def test_a_second_stop_while_a_stopped_batch_writes_its_overview_leaves_the_earlier_one_whole(
        calls, tiny_model_path, tmp_path, monkeypatch):
    """The stopped batch's table, report and batch.json go in place together: a second Ctrl+C while
    they are made leaves an earlier run's four as they were (not a new table beside an old report
    that says the batch finished), and nothing made aside."""
    from model.files import TMP_PREFIX
    from streamer.batch import runner

    out = tmp_path / "out"
    settings = BatchSettings(model=str(tiny_model_path))
    run_batch(calls["dir"], out, settings, workers=1, progress=False, log=lambda m: None)
    before = {n: (out / n).read_bytes() for n in runner.OVERVIEW_FILES}
    extra = calls["dir"] / "later.wav"  # a call added since: the next run analyses it, and is stopped
    shutil.copy(next(p for p in calls["dir"].rglob("*.wav")), extra)
    analyse, report = runner.analyze_call, runner.write_report
    monkeypatch.setattr(runner, "analyze_call", lambda task: (_ for _ in ()).throw(KeyboardInterrupt))

    def stopped_again(*args, **kwargs):
        if kwargs.get("path") is not None and kwargs["path"].parent != out:  # the overview made aside
            raise KeyboardInterrupt
        return report(*args, **kwargs)

    monkeypatch.setattr(runner, "write_report", stopped_again)
    said = []
    try:
        with pytest.raises(KeyboardInterrupt):
            run_batch(calls["dir"], out, settings, workers=1, progress=False, log=said.append)
    finally:
        extra.unlink()
    assert {n: (out / n).read_bytes() for n in runner.OVERVIEW_FILES} == before
    assert not list(out.glob(TMP_PREFIX + "*")) and "show what was analysed so far" not in said[-1]
    assert "The table and report there are an earlier run's: they do not show this one." in said[-1]
    monkeypatch.setattr(runner, "analyze_call", analyse)
