"""Session store: read back exactly what was written, torn last lines, a killed writer, exports."""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from streamer_helpers import REPO_ROOT, subprocess_env

from streamer import (
    Engine,
    EngineConfig,
    FileSource,
    SessionError,
    SessionStore,
    SpeechSegment,
    WindowResult,
    export_csv,
    export_json,
)
from streamer.session import CSV_DECIMALS, analysis_state

KILL_AFTER_SEGMENTS = 2
REPLAY_SPEED = 2.0
WRITER_TIMEOUT_S = 60.0
POLL_S = 0.05


@pytest.fixture(scope="module")
def written_session(speech_wav, predictor, tmp_path_factory):
    """A session written by the engine from a fast file replay, and the events it emitted."""
    path = tmp_path_factory.mktemp("session") / "s.jsonl"
    session = SessionStore.create(path, {"who": "test", "nested": {"a": [1, 2]}}, keep_records=True)
    engine = Engine(predictor, EngineConfig(emit_audio=False), session=session)
    engine.start(FileSource(speech_wav))
    assert engine.wait(WRITER_TIMEOUT_S)
    engine.stop()
    return path, engine.poll(), session


def test_writer_keeps_records_in_the_file_only_by_default(tmp_path):
    session = SessionStore.create(tmp_path / "s.jsonl", {"who": "test"})
    segment = SpeechSegment(0, "mix", 1.0, 2.5)
    session.append(segment)
    assert session.segments == []  # memory stays flat over long sessions
    session.export_json(tmp_path / "live.json")  # a running session exports what its file holds
    assert json.loads((tmp_path / "live.json").read_text())["segments"] == [segment.to_dict()]
    session.close()
    assert SessionStore.open(tmp_path / "s.jsonl").segments == [segment]


def test_reopen_gives_back_exactly_what_was_written(written_session):
    path, events, session = written_session
    reopened = SessionStore.open(path)
    assert reopened.results == [e for e in events if isinstance(e, WindowResult)]
    assert reopened.results == session.results and reopened.segments == session.segments
    assert reopened.metadata == session.metadata
    assert reopened.metadata["nested"] == {"a": [1, 2]}
    engine_meta = reopened.metadata["engine"]
    assert engine_meta["settings"]["window_s"] == EngineConfig().window_s
    assert engine_meta["source"]["path"].endswith("speech.wav") and engine_meta["model"]["labels"]
    assert reopened.ended is not None and reopened.ended["stats"]["utterances"] == 4


def test_torn_last_line_is_ignored_but_a_corrupt_middle_line_is_an_error(written_session, tmp_path):
    path, _, session = written_session
    text = path.read_text()
    torn = tmp_path / "torn.jsonl"
    last_result = text.rindex('{"track"')
    torn.write_text(text[: last_result + 25])  # killed in the middle of writing a result
    reopened = SessionStore.open(torn)
    assert reopened.results == session.results[:-1] and reopened.ended is None
    bad = tmp_path / "bad.jsonl"
    lines = text.splitlines(keepends=True)
    bad.write_text("".join(lines[:2] + ["{not json\n"] + lines[2:]))
    with pytest.raises(SessionError, match="line 3 is damaged"):
        SessionStore.open(bad)
    other = tmp_path / "other.jsonl"
    other.write_text('{"hello": 1}\n')
    with pytest.raises(SessionError, match="not a session file"):
        SessionStore.open(other)
    with pytest.raises(SessionError, match="not found"):
        SessionStore.open(tmp_path / "missing.jsonl")
    with pytest.raises(SessionError, match="already exists"):
        SessionStore.create(path)


def test_a_damaged_session_opens_up_to_its_damage_and_says_what_was_left_out(written_session, tmp_path):
    from streamer import CorruptSessionError

    path, _, session = written_session
    lines = path.read_text().splitlines(keepends=True)
    cut = next(i for i, ln in enumerate(lines) if '"type": "result"' in ln) + 3  # after a few results
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(lines[:cut] + ["\x00\x00garbage\n"] + lines[cut:]))
    with pytest.raises(CorruptSessionError) as info:
        SessionStore.open(bad)
    before = SessionStore.open(path)
    kept = [r for r in before.results][: info.value.kept]
    assert info.value.line == cut + 1 and info.value.lost_lines == len(lines) - cut + 1
    assert 0 < info.value.kept < len(before.results)
    msg = str(info.value)
    assert f"line {cut + 1} is damaged" in msg and f"{info.value.kept} results before it" in msg
    salvaged = SessionStore.open(bad, salvage=True)
    assert salvaged.results == kept and salvaged.ended is None
    assert salvaged.salvaged == {"damaged_line": cut + 1, "lines_left_out": len(lines) - cut + 1,
                                 "results_kept": len(kept), "kept_until_s": max(r.end_s for r in kept)}
    assert SessionStore.open(path).salvaged is None


def test_exports(written_session, tmp_path):
    path, _, session = written_session
    rows = list(csv.DictReader(export_csv(path, tmp_path / "s.csv").read_text().splitlines()))
    assert len(rows) == len(session.results)
    first = session.results[0]
    # CSV values are the results' own, to CSV_DECIMALS places (no float noise like 7.3245000000000005).
    assert float(rows[0]["start_s"]) == round(first.start_s, CSV_DECIMALS) and rows[0]["top_label"] == first.top_label
    for label, p in first.probabilities.items():
        assert rows[0][f"p_{label}"] == repr(round(p, CSV_DECIMALS))
    doc = json.loads(export_json(path, tmp_path / "s.json").read_text())
    assert [WindowResult.from_dict(r) for r in doc["results"]] == session.results
    assert len(doc["segments"]) == len(session.segments) and doc["metadata"]["who"] == "test"
    # The JSON export opens back as the session it came from (the app and exports read it too).
    back, original = SessionStore.open(tmp_path / "s.json"), SessionStore.open(path)
    assert back.results == original.results and back.segments == original.segments
    assert back.metadata == original.metadata and back.ended == original.ended
    assert export_csv(tmp_path / "s.json", tmp_path / "again.csv").read_text() == (tmp_path / "s.csv").read_text()
    # A document with a state but no end record (ser batch's results.json before it wrote one) ends as its state says.
    doc["analysis"] = {"state": "complete", "analysed_until_s": 4.5, "ended": None}
    (tmp_path / "batch.json").write_text(json.dumps(doc))
    back = SessionStore.open(tmp_path / "batch.json")
    assert analysis_state(back.ended, back.segments, back.results) == {
        "state": "complete", "analysed_until_s": 4.5, "ended": {"analysis": "complete", "analysed_until_s": 4.5}}
    (tmp_path / "other.json").write_text(json.dumps({"metadata": {"format": "something else"}, "results": []}))
    with pytest.raises(SessionError, match="not a session file of this program"):
        SessionStore.open(tmp_path / "other.json")
    # A recording or a CSV export opened as a session: what to do with it instead.
    (tmp_path / "call.wav").write_bytes(b"RIFF....WAVE")
    with pytest.raises(SessionError, match=r"a recording, not a session file.*ser gui --replay FILE"):
        SessionStore.open(tmp_path / "call.wav")
    (tmp_path / "talk.csv").write_text("track,kind\n0,window\n")
    with pytest.raises(SessionError, match=r"a CSV export, which cannot be opened again.*\(\.jsonl\)"):
        SessionStore.open(tmp_path / "talk.csv")


def test_session_survives_a_killed_process(speech_wav, tiny_model_path, tmp_path):
    path = tmp_path / "killed.jsonl"
    log = tmp_path / "writer.log"
    with log.open("w") as err, subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("session_writer.py")), str(tiny_model_path),
             str(speech_wav), str(path), str(REPLAY_SPEED)],
            env=subprocess_env(), cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=err) as writer:
        try:
            deadline = time.monotonic() + WRITER_TIMEOUT_S
            while True:
                text = path.read_text() if path.exists() else ""
                if text.count('"type": "segment"') >= KILL_AFTER_SEGMENTS:
                    break
                assert writer.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "the writer produced no segments"
                time.sleep(POLL_S)
            os.kill(writer.pid, signal.SIGKILL)
            writer.wait(WRITER_TIMEOUT_S)
        finally:
            if writer.poll() is None:
                writer.kill()
                writer.wait()
    assert writer.returncode == -signal.SIGKILL
    text = path.read_text()
    complete = [json.loads(line) for line in text.split("\n")[:-1] if line]
    reopened = SessionStore.open(path)
    assert reopened.ended is None, "the writer was killed before it could close the session"
    assert len(reopened.segments) >= KILL_AFTER_SEGMENTS
    assert reopened.results == [WindowResult.from_dict(r) for r in complete if r["type"] == "result"]
    assert reopened.metadata["test"] == "killed writer" and "engine" in reopened.metadata


def _result(start_s: float) -> WindowResult:
    return WindowResult(track=0, track_name="mix", kind="window", start_s=start_s, end_s=start_s + 2.0,
                        heads={"emotion": {"neutral": 1.0}, "gender": {"female": 0.5, "male": 0.5},
                               "dimensions": {"valence": 0.5, "arousal": 0.5, "dominance": 0.5}},
                        speech_ratio=1.0, latency_ms=1.0, dimensions_source="derived-from-category")


def test_a_restart_supersedes_what_was_analysed_from_there_on(tmp_path):
    """A replay that seeks back analyses a stretch again: the session keeps each stretch once."""
    path = tmp_path / "s.jsonl"
    session = SessionStore.create(path, keep_records=True)
    session.extend([SpeechSegment(0, "mix", 0.5, 3.0), _result(0.5), _result(1.0),
                    SpeechSegment(0, "mix", 4.0, 7.0), _result(4.0), _result(4.5)])
    session.restart(4.0)  # seek back to 4 s and analyse again
    session.extend([SpeechSegment(0, "mix", 4.1, 6.9), _result(4.1)])
    session.close()
    for store in (session, SessionStore.open(path)):
        assert [r.start_s for r in store.results] == [0.5, 1.0, 4.1]
        assert [s.start_s for s in store.segments] == [0.5, 4.1]
    with open(export_csv(path, tmp_path / "s.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["start_s"]) for r in rows] == [0.5, 1.0, 4.1]


def _older_format(rec: dict, version: int) -> dict:
    """A record as session format ``version`` (1 or 2) wrote it: the built-in heads as flat fields
    (probabilities, gender, valence ...); format 1 also said "vad_source" for "dimensions_source"."""
    if rec.get("type") == "metadata":
        rec["format_version"] = version
    if rec.get("type") == "result":
        heads = rec.pop("heads")
        rec.update(probabilities=heads["emotion"], gender=heads["gender"], **heads["dimensions"])
        if version == 1:
            rec["vad_source"] = rec.pop("dimensions_source")
    return rec


@pytest.mark.parametrize("version", [1, 2])
def test_sessions_of_older_formats_still_read(written_session, tmp_path, version):
    """Format 3 keeps every model output under "heads"; formats 1 and 2 wrote the built-in heads as
    flat fields, and format 1 called the source of valence/arousal/dominance "vad_source" ("vad" now
    means voice activity only). Old files read the same."""
    import json

    path, _, session = written_session
    old = tmp_path / "old.jsonl"
    old.write_text("\n".join(json.dumps(_older_format(json.loads(line), version))
                             for line in path.read_text().splitlines()) + "\n")
    assert json.loads(path.read_text().splitlines()[0])["format_version"] == 3
    reopened = SessionStore.open(old)
    assert reopened.results == SessionStore.open(path).results
    assert reopened.results and all(r.dimensions_source == session.results[0].dimensions_source
                                    for r in reopened.results)


def test_sessions_of_a_newer_format_are_refused_with_the_reason(written_session, tmp_path):
    import json

    path, _, _ = written_session
    lines = path.read_text().splitlines()
    meta = json.loads(lines[0])
    meta["format_version"] = 99
    newer = tmp_path / "newer.jsonl"
    newer.write_text("\n".join([json.dumps(meta), *lines[1:]]) + "\n")
    with pytest.raises(SessionError, match="newer version"):
        SessionStore.open(newer)


def test_salvage_numbers_count_what_opens_after_a_seek_back(written_session, tmp_path):
    """A replay that seeks back writes a restart record that drops the results it supersedes: the
    damaged-session message counts the results that really open."""
    from streamer import CorruptSessionError

    _, _, session = written_session
    results = [r for r in session.results if r.kind == "window"]
    assert len(results) >= 6
    path = tmp_path / "seek.jsonl"
    store = SessionStore.create(path, {"created_by": "test"})
    store.extend(results[:6])
    store.restart(results[2].start_s)
    store.extend(results[2:3])
    store.close()
    lines = path.read_text().splitlines(keepends=True)
    end = next(i for i, ln in enumerate(lines) if '"type": "end"' in ln)
    path.write_text("".join(lines[:end] + ["{damaged\n"] + lines[end:]))
    with pytest.raises(CorruptSessionError) as info:
        SessionStore.open(path)
    opened = SessionStore.open(path, salvage=True)
    assert len(opened.results) == 3 == info.value.kept
    assert info.value.kept_until_s == max(r.end_s for r in opened.results) == opened.salvaged["kept_until_s"]


def test_records_written_between_fsyncs_reach_the_disk_when_the_engine_is_idle(tmp_path, monkeypatch):
    """An utterance result written right after an fsync is not fsync-ed at once (a file analysed fast
    ends many segments a second); sync, which the engine calls when it waits for audio, puts
    it on the disk, and does nothing when nothing is pending."""
    import os

    import streamer.session as session_module

    store = SessionStore.create(tmp_path / "s.jsonl", {"x": 1})
    synced = []
    monkeypatch.setattr(session_module.os, "fsync", lambda fd: synced.append(fd))
    heads = {"emotion": {"neutral": 1.0}, "gender": {"female": 0.5, "male": 0.5},
             "dimensions": {"valence": 0.5, "arousal": 0.5, "dominance": 0.5}}
    result = WindowResult(track=0, track_name="mix", kind="utterance", start_s=0.0, end_s=2.0, heads=heads,
                          speech_ratio=1.0, latency_ms=1.0)
    store.append(result)  # the store was fsync-ed when it was created, just now
    assert synced == []
    store.sync()
    assert len(synced) == 1
    store.sync()
    assert len(synced) == 1
    store.close()
    assert os.path.getsize(tmp_path / "s.jsonl") > 0


def test_records_convert_as_dataclasses_asdict_would_and_stay_unchanged():
    """Session records convert to dicts without dataclasses.asdict's generic deep copy: the same
    dict, tagged with the record type, and changing it leaves the record as it was."""
    import dataclasses

    from streamer.events import SpeechSegment, WindowResult

    result = WindowResult(0, "caller", "window", 1.0, 3.0,
                          {"emotion": {"calm": 0.7, "sad": 0.3}, "gender": {"female": 0.4, "male": 0.6}}, 0.9, 12.5,
                          uncertain=True)
    segment = SpeechSegment(1, "agent", 0.5, 2.5)
    for record in (result, segment, SpeechSegment(0, "mix", 1.0, 4.0, "a tone")):
        d = record.to_dict()
        expected = {**dataclasses.asdict(record), "type": record.RECORD_TYPE}
        if expected.get("not_speech", 0) is None:  # a speech segment's record has no not_speech field
            del expected["not_speech"]
        assert {k: v for k, v in d.items() if k != "top_label"} == expected
        assert type(record).from_dict(d) == record
    d = result.to_dict()
    d["heads"]["emotion"]["calm"] = 0.0
    assert result.heads["emotion"]["calm"] == 0.7


def test_csv_has_the_models_columns_with_or_without_results(written_session, predictor, tmp_path):
    """A recording with no speech gives a CSV with the same header as one with results (the model's
    outputs come from the session's metadata), so files of one model line up in a spreadsheet."""
    import numpy as np
    import soundfile as sf

    path, _, _ = written_session
    with_results = export_csv(path, tmp_path / "speech.csv").read_text().splitlines()
    assert len(with_results) > 1
    silent = tmp_path / "silence.wav"
    sf.write(str(silent), np.zeros(32000, np.float32), 16000)
    session = SessionStore.create(tmp_path / "silence.jsonl", {})
    engine = Engine(predictor, EngineConfig(emit_audio=False), session=session)
    engine.start(FileSource(silent))
    assert engine.wait(WRITER_TIMEOUT_S)
    engine.stop()
    without = export_csv(tmp_path / "silence.jsonl", tmp_path / "silence.csv").read_text().splitlines()
    assert without == [with_results[0]]
    assert {f"p_{label}" for label in predictor.labels} <= set(without[0].split(","))


def test_a_session_names_its_recording_by_absolute_path_and_says_it_was_analysed_to_the_end(
        speech_wav, predictor, tmp_path, monkeypatch):
    """Opened later from another folder, the session still finds its recording; its end record says
    the analysis reached the recording's end, and how far that is."""
    import soundfile as sf

    monkeypatch.chdir(speech_wav.parent)
    session = SessionStore.create(tmp_path / "s.jsonl", {})
    engine = Engine(predictor, EngineConfig(emit_audio=False), session=session)
    engine.start(FileSource(speech_wav.name))  # a relative path, as typed
    assert engine.wait(WRITER_TIMEOUT_S)
    engine.stop()
    reopened = SessionStore.open(tmp_path / "s.jsonl")
    assert reopened.metadata["engine"]["source"]["path"] == str(speech_wav)
    assert reopened.ended["analysis"] == "complete"
    assert reopened.ended["analysed_until_s"] == pytest.approx(sf.info(str(speech_wav)).duration, abs=0.01)


def test_a_session_stopped_early_says_so_and_how_far_it_got(speech_wav, predictor, tmp_path):
    session = SessionStore.create(tmp_path / "s.jsonl", {})
    engine = Engine(predictor, EngineConfig(emit_audio=False), session=session)
    engine.start(FileSource(speech_wav, pace="realtime", speed=REPLAY_SPEED))
    deadline = time.monotonic() + WRITER_TIMEOUT_S
    while engine.samples_done < 16000 and time.monotonic() < deadline:  # a second of audio taken in
        time.sleep(POLL_S)
    engine.stop()
    ended = SessionStore.open(tmp_path / "s.jsonl").ended
    assert ended["analysis"] == "stopped"
    assert 1.0 <= ended["analysed_until_s"] < 10.0, ended
    doc = tmp_path / "s.json"
    export_json(tmp_path / "s.jsonl", doc)
    assert json.loads(doc.read_text())["analysis"]["state"] == "stopped"


def test_an_export_to_a_read_only_folder_says_why_and_what_to_do(written_session, tmp_path, monkeypatch):
    """The message names the export and the system's reason, not the temporary file written first."""
    import errno

    import model.files

    path = written_session[0]

    def read_only(file, *args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(file))

    for export, name in ((export_csv, "g.csv"), (export_json, "g.json")):  # a folder that is not there
        with pytest.raises(SessionError, match=r"No such file or directory\); the folder does not exist; choose"):
            export(path, tmp_path / "gone" / name)
    from streamer.batch.report import session_report

    monkeypatch.setattr(model.files, "open", read_only, raising=False)
    for export, name in ((export_csv, "g.csv"), (export_json, "g.json"), (session_report, "g.html")):
        with pytest.raises(SessionError) as caught:
            export(path, tmp_path / name)
        message = str(caught.value)
        assert message.startswith(f"{tmp_path / name}: cannot write the ") and "Read-only file system" in message
        assert message.endswith("choose another folder for it.") and ".tmp-" not in message


def test_settings_changed_within_a_session_are_recorded_with_where_they_apply(tmp_path):
    """The app's live analysis restarts with new settings in the same session: the session read back
    says which settings gave which results, and its report gives each with where it applies."""
    from streamer.batch.report import session_report

    path = tmp_path / "live.jsonl"
    session = SessionStore.create(path, {"source": "microphone"}, keep_records=True)

    def engine(hop, vad, start_s=0.0, skip=()):
        return {"engine": {"settings": {"window_s": 2.0, "hop_s": hop, "vad_aggressiveness": vad,
                                        "speaker_adaptation": True, "skip_tracks": list(skip)},
                           "source": {"kind": "MicrophoneSource", "start_s": start_s}}}

    session.update_metadata(**engine(0.5, 2))
    session.extend([SpeechSegment(0, "mix", 0.5, 3.0), _result(0.5), _result(1.0)])
    session.update_metadata(**engine(0.5, 2))  # a pause and resume: the same settings
    session.extend([_result(1.5)])
    session.update_metadata(**engine(1.0, 3, start_s=3.8))  # Settings changed while listening, at 3.8 s
    session.extend([SpeechSegment(0, "mix", 4.0, 7.0), _result(4.0)])
    session.close()
    history = SessionStore.open(path).metadata["settings_history"]
    assert [(h["from_s"], h["settings"]["hop_s"], h["settings"]["vad_aggressiveness"]) for h in history] == [
        (0.0, 0.5, 2), (3.8, 1.0, 3)]  # from where the engine started again, not where results ended (3.5 s)
    text = session_report(path, tmp_path / "live.html").read_text()
    assert "window 2.0 s, hop 0.5 s, VAD 2 from 0.0 s; window 2.0 s, hop 1.0 s, VAD 3 from 3.8 s" in text
    assert "Session report: live.jsonl (live audio)" in text and "<th>session</th>" in text  # not a "recording"
    assert "live audio, listened to until stopped" in text and "before the end of the recording" not in text
    # The CSV export says so too: a row where the new settings apply from, among the results.
    rows = list(csv.DictReader(Path(SessionStore.open(path).export_csv(tmp_path / "live.csv")).read_text().splitlines()))
    assert [(r["kind"], r["start_s"]) for r in rows] == [("window", "0.5"), ("window", "1.0"), ("window", "1.5"),
                                                          ("settings", "3.8"), ("window", "4.0")]
    assert rows[3]["settings"] == "window 2.0 s, hop 1.0 s, VAD 3, speaker adaptation on, every track analysed"
    assert rows[3]["track"] == rows[3]["top_label"] == rows[3]["paused_s"] == "" and rows[0]["settings"] == ""
    # A pause and a settings change at one moment (settings changed while paused): the pause first.
    from streamer.session import write_csv

    both = write_csv(tmp_path / "both.csv", [_result(0.5), _result(4.0)], pauses=[{"at_s": 3.8, "paused_s": 12.0}],
                     settings_changes=[{"from_s": 3.8, "settings": {"window_s": 2.0, "hop_s": 1.0,
                                                                   "vad_aggressiveness": 3}}])
    rows = list(csv.DictReader(both.read_text().splitlines()))
    assert [(r["kind"], r["start_s"], r["paused_s"], r["settings"]) for r in rows] == [
        ("window", "0.5", "", ""), ("pause", "3.8", "12.0", ""),
        ("settings", "3.8", "", "window 2.0 s, hop 1.0 s, VAD 3"),  # no channels recorded: none said
        ("window", "4.0", "", "")]
    from streamer.session import _change_text

    assert _change_text({"window_s": 2.0, "hop_s": 0.5, "vad_aggressiveness": 2, "skip_tracks": [0]}).endswith(
        "VAD 2, track 0 not analysed")  # "tracks left out: 0" read as none left out
    # The channels analysed are settings too (the agent's turned on while listening).
    calls = tmp_path / "calls.jsonl"
    store = SessionStore.create(calls, {"source": "microphone", "track_names": ["Agent", "Customer"]})
    store.update_metadata(**engine(0.5, 2, skip=[0]))
    store.extend([_result(0.5)])
    store.update_metadata(**engine(0.5, 2, start_s=9.0))
    store.close()
    assert [h["settings"]["skip_tracks"] for h in SessionStore.open(calls).metadata["settings_history"]] == [[0], []]
    text = session_report(calls, tmp_path / "calls.html").read_text()
    assert "VAD 2, channels left out: Agent from 0.0 s; window 2.0 s, hop 0.5 s, VAD 2, every channel analysed from 9.0 s" in text
    rows = list(csv.DictReader(Path(SessionStore.open(calls).export_csv(tmp_path / "calls.csv")).read_text().splitlines()))
    assert [(r["kind"], r["start_s"], r["settings"]) for r in rows] == [
        ("window", "0.5", ""), ("settings", "9.0", "window 2.0 s, hop 0.5 s, VAD 2, speaker adaptation on, every track analysed")]
    plain = SessionStore.create(tmp_path / "plain.jsonl", {})
    plain.update_metadata(**engine(0.5, 2))
    plain.close()
    assert "settings_history" not in SessionStore.open(tmp_path / "plain.jsonl").metadata


def test_a_session_started_when_its_engine_first_started(tmp_path):
    """The engine records ``started`` at each start (a live session's pauses and settings changes
    restart it): the session's own start is the first, in memory, read back and in its JSON export."""
    path = tmp_path / "live.jsonl"
    session = SessionStore.create(path, {"source": "microphone"}, keep_records=True)
    session.update_metadata(started="2026-12-03T15:53:29")
    session.extend([_result(0.5)])
    session.update_metadata(started="2026-12-03T15:55:01", engine={"settings": {"hop_s": 1.0}})
    assert session.metadata["started"] == "2026-12-03T15:53:29" and session.metadata["engine"]["settings"]["hop_s"] == 1.0
    session.close()
    assert path.read_text().count('"started"') == 2  # each start stays in the file
    reopened = SessionStore.open(path)
    assert reopened.metadata["started"] == "2026-12-03T15:53:29"
    out = reopened.export_json(tmp_path / "live.json")
    assert json.loads(Path(out).read_text())["metadata"]["started"] == "2026-12-03T15:53:29"


def test_the_overview_of_one_session_speaks_of_it_and_uses_the_emotion_colours(monkeypatch):
    """A batch's overview has calls; one recording's or live session's has its speakers."""
    import streamer.batch.report as report
    from model.labels import label_color

    figures = []
    monkeypatch.setattr(report, "_png", lambda fig: figures.append(fig) or b"")
    shares = {"angry": 0.5, "sad": 0.3, "calm": 0.2}
    report.overview_png(shares, [0.4, 0.6], "call")
    report.overview_png(shares, [0.4, 0.6], "session", [("Agent", None), ("Customer", 0.62)])
    batch, session = ([ax for ax in fig.axes] for fig in figures)
    assert [ax.get_title() for ax in batch] == ["emotions over the batch", "arousal across calls"]
    assert [ax.get_title() for ax in session] == ["emotions over the session", "arousal per speaker"]
    bars = session[0].patches
    assert [tuple(round(c * 255) for c in bar.get_facecolor()[:3]) for bar in bars] == [
        label_color(k) for k in ("calm", "sad", "angry")]  # the app's colours, largest share on top
    assert [t.get_text() for t in session[1].get_yticklabels()] == ["Customer"]  # an agent not analysed has no bar
    assert session[1].patches[0].get_width() == 0.62


def test_a_live_sessions_pauses_are_kept_where_they_were(tmp_path):
    """The time axis leaves a pause out (the results after it go on from where it paused): the
    session records where and how long, and its JSON export and report say so."""
    from streamer.batch.report import session_report

    path = tmp_path / "live.jsonl"
    session = SessionStore.create(path, {"source": "microphone"}, keep_records=True)
    session.update_metadata(engine={"source": {"kind": "MicrophoneSource", "start_s": 0.0}})
    session.extend([SpeechSegment(0, "mix", 0.5, 3.0), _result(0.5)])
    session.note_pause(3.25, 21.96)
    session.extend([SpeechSegment(0, "mix", 3.5, 6.0), _result(3.5)])
    assert session.metadata["pauses"] == [{"at_s": 3.25, "paused_s": 22.0}]
    session.close()
    reopened = SessionStore.open(path)
    assert reopened.metadata["pauses"] == [{"at_s": 3.25, "paused_s": 22.0}]
    assert [r.start_s for r in reopened.results] == [0.5, 3.5]  # nothing superseded
    exported = json.loads(Path(reopened.export_json(tmp_path / "live.json")).read_text())
    assert exported["metadata"]["pauses"] == [{"at_s": 3.25, "paused_s": 22.0}]
    text = session_report(path, tmp_path / "live.html").read_text()
    assert "listening paused at 3.2 s for 22 s (the times leave the pauses out)" in text
    rows = list(csv.DictReader(Path(reopened.export_csv(tmp_path / "live.csv")).read_text().splitlines()))
    assert [(r["kind"], r["start_s"], r["paused_s"]) for r in rows] == [
        ("window", "0.5", ""), ("pause", "3.25", "22.0"), ("window", "3.5", "")]


def test_the_timelines_emotion_band_covers_the_windows_not_the_silences_between_turns():
    """With one window per turn (a call's customer in short turns), the most common step between
    window starts was the turns' (5.6 s), and the band ran unbroken over the agent's turns."""
    from streamer.batch.report import DEFAULT_HOP_S, band_hop

    turns = [_result(s) for s in (0.0, 5.58, 11.16, 16.74, 22.32)]
    assert band_hop(turns) == DEFAULT_HOP_S
    runs = [_result(s) for s in (0.0, 0.25, 0.5, 5.58, 11.16, 11.41, 16.74)]  # another hop, and lone windows
    assert band_hop(runs) == 0.25
    assert band_hop(turns, hop_s=1.0) == 1.0  # no two windows overlap: the analysis's own hop


def test_the_timeline_breaks_its_lines_at_a_live_pause():
    """The windows before and after a pause touch on the time axis: the lines once joined them."""
    from streamer.batch.report import timeline_png, timeline_series

    wins = [_result(s) for s in (0.0, 0.5, 1.0, 3.0, 3.5)]  # 2-s windows: touching at 3.0
    xs, _, _ = timeline_series(wins)
    assert not any(math.isnan(x) for x in xs)
    xs, _, _ = timeline_series(wins, [3.0])
    assert [i for i, x in enumerate(xs) if math.isnan(x)] == [3]
    assert timeline_png("live", 6.0, ["mix"], [], wins, [(3.0, 22.0)]).startswith(b"\x89PNG")


def test_a_killed_writer_leaves_its_session_not_being_written(tmp_path):
    """The writer's lock tells a session being written from one whose writer died, however it died."""
    from streamer.session import being_written

    path = tmp_path / "s.jsonl"
    code = ("import sys, time; from streamer.session import SessionStore; "
            f"store = SessionStore.create({str(path)!r}, {{}}); print('ready', flush=True); time.sleep(60)")
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout.readline().strip() == "ready"
            assert being_written(path) is True
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            assert being_written(path) is False
        finally:
            proc.kill()
    assert being_written(tmp_path / "missing.jsonl") is None


@pytest.mark.parametrize("order", [((0,), ()), ((), (0,))])
def test_a_channel_analysed_for_part_of_a_session_is_reported_as_analysed(tmp_path, order):
    """The agent's channel turned on (or off) while listening: the session holds the agent's results,
    and its report said "Not analysed: Agent" all the same."""
    from streamer.batch.report import session_report
    from streamer.session import skipped_tracks

    path = tmp_path / "live.jsonl"
    session = SessionStore.create(path, {"source": "microphone", "track_names": ["Agent", "Customer"]},
                                  keep_records=True)
    base = {"window_s": 2.0, "hop_s": 0.5, "vad_aggressiveness": 2, "speaker_adaptation": True}
    first, then = order
    session.update_metadata(engine={"settings": {**base, "skip_tracks": list(first)},
                                    "source": {"kind": "MicrophoneSource", "start_s": 0.0}})
    session.extend([SpeechSegment(1, "Customer", 0.5, 3.0), replace(_result(0.5), track=1, track_name="Customer")])
    if not first:
        session.extend([SpeechSegment(0, "Agent", 3.5, 6.0), replace(_result(3.5), track=0, track_name="Agent")])
    session.update_metadata(engine={"settings": {**base, "skip_tracks": list(then)},
                                    "source": {"kind": "MicrophoneSource", "start_s": 8.0}})
    if not then:
        session.extend([SpeechSegment(0, "Agent", 8.5, 11.0), replace(_result(8.5), track=0, track_name="Agent")])
    session.close()
    reopened = SessionStore.open(path)
    assert skipped_tracks(reopened.metadata) == set()
    text = session_report(path, tmp_path / "live.html").read_text()
    assert "Analysed: Agent, Customer." in text and "Not analysed" not in text


@pytest.mark.parametrize("n_channels, said", [(1, "Analysed: its one channel."),
                                              (2, "Analysed: its 2 channels mixed to one track."),
                                              (None, "Analysed: its channels mixed to one track.")])
def test_a_mixed_recordings_report_says_what_its_one_track_holds(tmp_path, n_channels, said):
    """It said "Analysed: mix.", the track's internal name."""
    from streamer.batch.report import session_report

    path = tmp_path / "mixed.jsonl"
    session = SessionStore.create(path, {"source": "file", "track_names": ["mix"]}, keep_records=True)
    source = {"kind": "FileSource", "channels": "mix", **({"n_channels": n_channels} if n_channels else {})}
    session.update_metadata(engine={"settings": {"window_s": 2.0, "hop_s": 0.5}, "source": source})
    session.extend([SpeechSegment(0, "mix", 0.5, 3.0), replace(_result(0.5), track=0, track_name="mix")])
    session.close()
    text = session_report(path, tmp_path / "mixed.html").read_text()
    assert f"{said} Analysis:" in text and "Analysed: mix" not in text


def _disk(monkeypatch, torn: bool = False) -> dict:
    """Session files written through a disk that is full while the returned ``state["full"]`` says so
    (``torn``: part of the record reaches the file first)."""
    import errno

    import streamer.session

    real = streamer.session._write_all
    state = {"full": False}

    def disk(f, data):
        if state["full"]:
            if torn:
                real(f, data[:len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(f, data)

    monkeypatch.setattr(streamer.session, "_write_all", disk)
    return state


def test_a_writer_whose_disk_fills_keeps_the_rest_in_memory_and_writes_it_when_there_is_room(tmp_path, monkeypatch):
    """A write that fails part-way leaves no part of its record in the file; that record and the
    later ones are kept in memory (up to a bound, beyond which they are counted as lost), read back
    with the file by ``contents`` and exports, and written at ``close`` once the disk has room."""
    import errno

    import streamer.session

    state = _disk(monkeypatch, torn=True)  # part of a record reaches the file, then the disk is full
    path = tmp_path / "s.jsonl"
    store = SessionStore.create(path, {"source": "test"})
    store.append(_result(0.0))
    store.sync()  # on the disk
    size = path.stat().st_size
    state["full"] = True
    with pytest.raises(SessionError, match="is the disk full"):
        store.append(_result(0.5))
    assert store.failed and path.stat().st_size == size  # the torn record was cut off again
    for k in range(2, 6):
        store.append(_result(k * 0.5))  # kept, not raised again
    assert [r.start_s for r in SessionStore.open(path).results] == [0.0]
    assert [r.start_s for r in store.contents().results] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    exported = json.loads(store.export_json(tmp_path / "s.json").read_text())
    assert len(exported["results"]) == 6 and exported["analysis"]["state"] == "running"

    with pytest.raises(SessionError, match="could not be written"):
        store.close(analysis="complete")  # still full: the file keeps its whole records only
    assert path.stat().st_size == size and [r.start_s for r in store.contents().results][-1] == 2.5

    state["full"] = False
    other = SessionStore.create(tmp_path / "t.jsonl", {"source": "test"})
    state["full"] = True
    with pytest.raises(SessionError):
        other.append(_result(0.0))
    other.append(_result(0.5))
    state["full"] = False  # room again by the end
    other.close(analysis="complete")
    back = SessionStore.open(tmp_path / "t.jsonl")
    assert not other.failed and [r.start_s for r in back.results] == [0.0, 0.5] and back.ended["analysis"] == "complete"

    # Past the memory bound every later record is lost (no hole in the middle), but the end record,
    # which then says the analysis stopped where the records lost begin.
    monkeypatch.setattr(streamer.session, "UNSAVED_MAX_BYTES", 2000)
    bounded = SessionStore.create(tmp_path / "u.jsonl", {"source": "test"})  # (room again by then)
    state["full"] = True
    with pytest.raises(SessionError):
        bounded.append(_result(0.0))
    for k in range(1, 40):
        bounded.append(SpeechSegment(0, "mix", k * 0.5, k * 0.5 + 0.1) if k % 2 else _result(k * 0.5))
    kept = len(bounded.unsaved)
    assert 0 < kept < 40 and kept + bounded.unsaved_dropped == 40
    state["full"] = False
    bounded.close(analysis="complete", analysed_until_s=21.0)
    back = SessionStore.open(tmp_path / "u.jsonl")
    starts = [r.start_s for r in back.results] + [x.start_s for x in back.segments]
    assert max(starts) < bounded.dropped_from_s  # what was kept comes before what was lost
    assert back.ended["analysis"] == "stopped" and back.ended["analysed_until_s"] == bounded.dropped_from_s
    assert back.ended["records_lost"] == 40 - kept

    # Records do not come in time order (a segment and its utterance after its windows): the end says
    # the session holds what precedes the earliest record lost.
    late = SessionStore.create(tmp_path / "o.jsonl", {"source": "test"})
    state["full"] = True
    with pytest.raises(SessionError):
        late.append(_result(9.0))
    for k in range(30):
        late.append(_result(10.0 + k * 0.5))
    late.append(SpeechSegment(0, "mix", 4.0, 26.0))  # lost, and earlier than every result lost
    state["full"] = False
    late.close(analysis="complete", analysed_until_s=26.0)
    assert late.dropped_from_s == 4.0
    assert SessionStore.open(tmp_path / "o.jsonl").ended["analysed_until_s"] == 4.0

    # A write that fails after records not yet synced: they may not be on the disk either (a failed
    # write or fsync may drop them), so they are kept and written again.
    again = SessionStore.create(tmp_path / "w.jsonl", {"source": "test"})
    again.append(_result(0.0))
    again.append(_result(0.5))  # written, not yet synced
    state["full"] = True
    with pytest.raises(SessionError):
        again.append(_result(1.0))
    assert [json.loads(x)["start_s"] for x in again.unsaved] == [0.0, 0.5, 1.0]
    state["full"] = False
    again.close(analysis="complete")
    assert [r.start_s for r in SessionStore.open(tmp_path / "w.jsonl").results] == [0.0, 0.5, 1.0]

    # An fsync that fails: what was written since the last good one may not be on the disk, so it is
    # kept and written again with the rest (here: nothing lost, nothing twice).
    store = SessionStore.create(tmp_path / "f.jsonl", {"source": "test"})
    real_fsync = os.fsync
    calls = []

    def fsync_fails_once(fd):
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(errno.EIO, "Input/output error")
        return real_fsync(fd)

    monkeypatch.setattr(streamer.session.os, "fsync", fsync_fails_once)
    for k in range(6):
        store.append(_result(k * 0.5))
        if k in (1, 3):  # as the engine syncs when it waits for audio: the second fails
            if k == 3:
                with pytest.raises(SessionError, match="Input/output error"):
                    store.sync()
            else:
                store.sync()
    assert store.failed and len(store.unsaved) == 4  # the two it may have lost, and the two after
    assert [r.start_s for r in store.contents().results] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    store.close(analysis="complete")
    back = SessionStore.open(tmp_path / "f.jsonl")
    assert [r.start_s for r in back.results] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5] and back.ended["analysis"] == "complete"


def test_a_disk_full_from_the_engine_start_is_said_once_and_not_recorded(speech_wav, predictor, tmp_path, monkeypatch):
    """The disk fills before the engine's first record (its settings, at the start, or while a live
    session was paused): the engine starts all the same, says it once, and keeps every result in
    memory; the error is about the file, so it is not among the session's records. A resume of the
    session (another engine on it) does not say it again."""

    from streamer import EngineError

    state = _disk(monkeypatch)

    def run():
        events = []
        Engine(predictor, session=store, close_session=False).run(FileSource(speech_wav, pace="fast"), events.extend)
        return ([e.message for e in events if isinstance(e, EngineError)],
                [e for e in events if isinstance(e, WindowResult)])

    store = SessionStore.create(tmp_path / "s.jsonl", {"source": "test"})
    state["full"] = True
    errors, results = run()
    said = [m for m in errors if "No space left on device" in m]
    assert len(said) == 1 and "kept in memory" in said[0] and results
    held = store.contents()
    assert len(held.results) == len(results) and not any("No space" in e for e in held.errors)
    errors, more = run()  # a resume: not said again
    assert not [m for m in errors if "No space left on device" in m] and more
    state["full"] = False
    store.close(analysis="complete")
    back = SessionStore.open(tmp_path / "s.jsonl")
    assert len(back.results) == len(results) + len(more) and back.ended["analysis"] == "complete"
    with pytest.raises(SessionError, match="closed"):  # a closed session is refused, full disk or not
        Engine(predictor, session=store).start(FileSource(speech_wav, pace="fast"))


def test_a_given_session_that_lost_records_is_not_said_to_lack_nothing(speech_wav, predictor, tmp_path, monkeypatch):
    """analyze_file with a session of the caller's: the disk fills, memory keeps only part of what
    follows, then the disk has room again. The session is written, but without the records lost, so
    the run's error stays and no note says the session lacks nothing."""

    import streamer.session
    from streamer import analyze_file

    store = SessionStore.create(tmp_path / "s.jsonl", {"source": "test"})
    state = _disk(monkeypatch)
    state["full"] = True
    monkeypatch.setattr(streamer.session, "UNSAVED_MAX_BYTES", 3000)
    real_close = store.close

    def close_with_room(**info):
        state["full"] = False
        real_close(**info)

    monkeypatch.setattr(store, "close", close_with_room)
    res = analyze_file(speech_wav, predictor, session=store)
    assert store.unsaved_dropped and not store.failed  # written at the end, but not all of it
    assert any("No space left on device" in m for m in res.errors)
    assert not any("lacks nothing" in n for n in res.notices)
    assert SessionStore.open(tmp_path / "s.jsonl").ended["analysis"] == "stopped"


def _two_track_session(path: Path) -> SessionStore:
    session = SessionStore.create(path, {"source": "microphone", "track_names": ["Agent", "Customer"]},
                                  keep_records=True)
    session.update_metadata(engine={"tracks": ["Agent", "Customer"], "source": {"kind": "MicrophoneSource"}})
    session.extend([SpeechSegment(0, "Agent", 0.5, 3.0), replace(_result(0.5), track=0, track_name="Agent"),
                    SpeechSegment(1, "Customer", 0.7, 3.2), replace(_result(0.7), track=1, track_name="Customer")])
    return session


def test_tracks_renamed_while_written_carry_the_new_names_in_every_export(tmp_path):
    """The app's lanes renamed while it listens: the whole session takes the new names (the results
    before the rename and those after it that still carried the old name), in its file, its CSV, JSON
    and report, and in the Sessions list, which reads only the session's first and last lines."""
    from gui.sessions import read_session_info
    from streamer.batch.report import session_report

    path = tmp_path / "live.jsonl"
    session = _two_track_session(path)
    session.rename_tracks(["Ann", "Bob"])
    assert [r.track_name for r in session.results] == ["Ann", "Bob"]
    # a result the engine made before it heard of the new names
    session.extend([replace(_result(4.0), track=1, track_name="Customer")])
    for k in range(200):  # the rename far from the file's end
        session.append(replace(_result(5.0 + k), track=0, track_name="Ann"))
    session.close()
    reopened = SessionStore.open(path)
    assert {(r.track, r.track_name) for r in reopened.results} == {(0, "Ann"), (1, "Bob")}
    assert {(s.track, s.track_name) for s in reopened.segments} == {(0, "Ann"), (1, "Bob")}
    rows = list(csv.DictReader(Path(reopened.export_csv(tmp_path / "live.csv")).read_text().splitlines()))
    assert {r["track_name"] for r in rows} == {"Ann", "Bob"}
    exported = json.loads(Path(reopened.export_json(tmp_path / "live.json")).read_text())
    assert {r["track_name"] for r in exported["results"]} == {"Ann", "Bob"}
    assert exported["metadata"]["track_names"] == ["Ann", "Bob"]
    assert {r.track_name for r in SessionStore.open(tmp_path / "live.json").results} == {"Ann", "Bob"}
    report = session_report(path, tmp_path / "live.html").read_text()
    assert "Ann" in report and "Bob" in report and "Customer" not in report
    assert read_session_info(path).lanes == "Ann, Bob"


def test_a_saved_sessions_tracks_are_renamed_by_a_record_after_its_end(tmp_path):
    """A session no longer written takes a rename as one record after its last; a killed writer's
    torn last line (which readers leave out) goes first, so the record does not make it a damaged one."""
    from gui.sessions import read_session_info
    from streamer.session import rename_session_tracks

    path = tmp_path / "saved.jsonl"
    session = _two_track_session(path)
    session.rename_tracks(["Al", "Bo"])  # while it was written: its end record says so
    session.close()
    rename_session_tracks(path, ["Ann", "Bob"])
    rename_session_tracks(path, ["Ann", "Carol"])
    store = SessionStore.open(path)
    assert {(r.track, r.track_name) for r in store.results} == {(0, "Ann"), (1, "Carol")}
    assert store.ended is not None and store.ended["track_names"] == ["Ann", "Carol"]
    exported = json.loads(Path(store.export_json(tmp_path / "saved.json")).read_text())
    assert exported["analysis"]["ended"]["track_names"] == ["Ann", "Carol"]
    assert read_session_info(path).lanes == "Ann, Carol"

    killed = tmp_path / "killed.jsonl"  # its writer killed in the middle of a record
    lines = [ln for ln in path.read_text().splitlines(keepends=True) if '"type": "result"' in ln or '"type": "segment"'
             in ln or '"type": "metadata"' in ln]
    killed.write_text("".join(lines) + '{"type": "result", "track": 0, "st')
    rename_session_tracks(killed, ["Ann", "Bob"])
    store = SessionStore.open(killed)  # no damaged line
    assert [r.track_name for r in store.results] == ["Ann", "Bob"]
    assert killed.read_text().endswith('"tracks_renamed": true}\n')


def test_a_rename_that_cannot_be_saved_says_why(tmp_path):
    from streamer.session import rename_session_tracks

    path = tmp_path / "busy.jsonl"
    session = _two_track_session(path)
    with pytest.raises(SessionError, match="another program is writing this session"):
        rename_session_tracks(path, ["Ann", "Bob"])
    session.close()
    document = SessionStore.open(path).export_json(tmp_path / "s.json")
    with pytest.raises(SessionError, match="JSON export"):
        rename_session_tracks(document, ["Ann", "Bob"])
    with pytest.raises(SessionError, match="not found"):
        rename_session_tracks(tmp_path / "gone.jsonl", ["Ann"])
    assert SessionStore.open(document).results  # left as it was


def test_the_engine_names_its_results_as_renamed_from_then_on(speech_wav, predictor, tmp_path):
    session = SessionStore.create(tmp_path / "s.jsonl", keep_records=True)
    engine = Engine(predictor, EngineConfig(emit_audio=False), session=session)
    engine.start(FileSource(speech_wav, pace="realtime", speed=REPLAY_SPEED))
    engine.rename_tracks(["Dana"])
    assert engine.wait(WRITER_TIMEOUT_S)
    engine.stop()
    events = [e for e in engine.poll() if isinstance(e, (WindowResult, SpeechSegment))]
    assert events and {e.track_name for e in events} == {"Dana"}


def test_a_channel_turned_on_far_into_a_session_is_listed_as_analysed(tmp_path):
    """The Sessions list reads a session's first and last lines only: the agent's channel turned on
    far into it (a settings change while listening) is in neither, so the end record says which tracks
    were left out all along."""
    from gui.sessions import read_session_info

    path = tmp_path / "live.jsonl"
    session = SessionStore.create(path, {"source": "microphone", "track_names": ["Agent", "Customer"]})
    engine = {"tracks": ["Agent", "Customer"], "source": {"kind": "MicrophoneSource", "start_s": 0.0},
              "settings": {"skip_tracks": [0]}}
    session.update_metadata(engine=engine)
    for k in range(200):
        session.append(replace(_result(float(k)), track=1, track_name="Customer"))
    session.update_metadata(engine={**engine, "source": {"kind": "MicrophoneSource", "start_s": 200.0},
                                    "settings": {"skip_tracks": []}})
    for k in range(200):
        session.append(replace(_result(200.0 + k), track=k % 2, track_name=["Agent", "Customer"][k % 2]))
    session.close(analysis="stopped")
    assert read_session_info(path).lanes == "Agent, Customer"
    assert SessionStore.open(path).ended["tracks_left_out"] == []

    kept = tmp_path / "kept.jsonl"  # left out all along: said as before
    session = SessionStore.create(kept, {"source": "microphone", "track_names": ["Agent", "Customer"]})
    session.update_metadata(engine=engine)
    session.close(analysis="stopped")
    assert read_session_info(kept).lanes == "Agent, Customer (Customer analysed)"


def test_a_short_pause_is_said_alike_in_the_report_and_on_the_plot(tmp_path):
    """The plot's marker said "paused 5.7 s" and the report "for 6 s" of the same pause."""
    from gui.main_window import pause_text
    from streamer.batch.report import session_report

    path = tmp_path / "live.jsonl"
    session = SessionStore.create(path, {"source": "microphone"})
    session.extend([SpeechSegment(0, "mix", 0.5, 3.0), _result(0.5)])
    session.note_pause(3.25, 5.74)
    session.close(analysis="stopped")
    assert pause_text(5.74) == "paused 5.7 s"
    assert "listening paused at 3.2 s for 5.7 s" in session_report(path, tmp_path / "live.html").read_text()
    assert pause_text(9.96) == "paused 10 s" and pause_text(21.96) == "paused 22 s"


def test_renaming_a_saved_session_keeps_its_records_and_its_end_in_view(tmp_path, monkeypatch):
    """A last record without its newline (the file edited, or a kill just before it) is kept, not cut
    as torn; renames again replace the last rename's record, so the end record stays in the last lines
    lists read; with no file locks to ask, only a session that ended is renamed."""
    from gui.sessions import read_session_info
    from streamer import session as session_module
    from streamer.session import rename_session_tracks

    path = tmp_path / "s.jsonl"
    _two_track_session(path).close(analysis="complete", analysed_until_s=4.0)
    path.write_bytes(path.read_bytes().rstrip(b"\n"))  # the end record without its newline
    rename_session_tracks(path, ["Ann", "Bob"])
    store = SessionStore.open(path)
    assert store.ended["analysis"] == "complete" and len(store.results) == 2
    assert {r.track_name for r in store.results} == {"Ann", "Bob"}
    size = path.stat().st_size
    for k in range(200):
        rename_session_tracks(path, [f"Ann {k}", "Bob"])
    assert path.stat().st_size - size < 20  # one rename record, the last
    assert read_session_info(path).state == "complete" and read_session_info(path).lanes == "Ann 199, Bob"

    monkeypatch.setattr(session_module, "being_written", lambda p: None)  # no locks here (Windows)
    rename_session_tracks(path, ["Ann", "Carol"])  # it ended: renamed
    assert {r.track_name for r in SessionStore.open(path).results} == {"Ann", "Carol"}
    killed = tmp_path / "killed.jsonl"
    killed.write_text("".join(ln for ln in path.read_text().splitlines(keepends=True) if '"type": "end"' not in ln
                              and "tracks_renamed" not in ln))
    with pytest.raises(SessionError, match="cannot tell whether another program is writing"):
        rename_session_tracks(killed, ["Ann", "Dan"])


def test_ser_session_speaks_of_a_live_session_as_one(tmp_path, capsys):
    """Listening ends when it is stopped: a live session stopped so is not "an analysis that did not
    finish ... into the recording" (there is none); a killed app's is a session that was not closed."""
    from ser.cli import main

    def live(name: str, close: bool) -> Path:
        path = tmp_path / name
        session = SessionStore.create(path, {"source": "microphone"})
        session.update_metadata(engine={"settings": {"window_s": 2.0, "hop_s": 0.5, "vad_aggressiveness": 2},
                                        "source": {"kind": "MicrophoneSource", "start_s": 0.0}})
        session.extend([SpeechSegment(0, "mix", 0.5, 3.0), _result(0.5), _result(1.0)])
        session.close(analysis="stopped")
        if not close:  # as a kill leaves it: no end record, and nobody writing it
            lines = path.read_text().splitlines(keepends=True)
            assert json.loads(lines[-1])["type"] == "end"
            path.write_text("".join(lines[:-1]))
        return path

    assert main(["session", str(live("stopped.jsonl", True)), str(tmp_path / "a.csv")]) == 0
    line = capsys.readouterr().out
    assert "did not finish" not in line and "recording" not in line and line.rstrip().endswith("2 results."), line
    assert main(["session", str(live("killed.jsonl", False)), str(tmp_path / "b.csv")]) == 0
    line = capsys.readouterr().out
    assert "the session has no end record (the program was killed or crashed while it listened): its results go up to" in line
    assert "recording" not in line, line
    lost = live("lost.jsonl", True)  # listening ended by a lost microphone: said, in its words
    lines = lost.read_text().splitlines()
    end = json.loads(lines[-1])
    end["ended_by"] = "input device 'pulse' stopped delivering audio (unplugged or taken by another program?)."
    lost.write_text("\n".join([*lines[:-1], json.dumps(end)]) + "\n")
    assert main(["session", str(lost), str(tmp_path / "c.csv")]) == 0
    line = capsys.readouterr().out
    assert "listening ended on an error (input device 'pulse' stopped delivering audio" in line, line
    # The CSVs say it too, in a last row of kind "stopped" (the JSON export in its "analysis"); a live
    # session its user stopped has none: that was its end.
    def last(name: str) -> dict:
        return list(csv.DictReader((tmp_path / name).read_text().splitlines()))[-1]

    assert last("a.csv")["kind"] != "stopped"
    killed = last("b.csv")
    assert killed["kind"] == "stopped" and killed["settings"].startswith(
        "the session has no end record (the program was killed or crashed while it listened, or the disk filled "
        "up): its results go up to")
    lost_row = last("c.csv")
    assert lost_row["kind"] == "stopped" and lost_row["settings"].startswith(
        "listening ended on an error (input device 'pulse' stopped delivering audio (unplugged or taken by another "
        "program?)) at ")


def test_a_csv_says_how_far_a_recordings_analysis_got_when_it_was_written(tmp_path):
    """A recording's CSV ends with a row of kind "stopped" unless the analysis reached the end: still
    running (the app's export during a replay, ser session on a file being written) is said as
    such, not as a killed run; an early format's end record without a position gives the results' end."""
    path = tmp_path / "file.jsonl"
    session = SessionStore.create(path, {"source": "file"})
    session.update_metadata(engine={"settings": {"window_s": 2.0, "hop_s": 0.5, "vad_aggressiveness": 2},
                                    "source": {"kind": "FileSource", "duration_s": 60.0}})
    session.extend([SpeechSegment(0, "mix", 0.5, 3.0), _result(0.5), _result(1.0)])
    session.sync()

    def last_row(name: str) -> dict:
        out = SessionStore.open(path).export_csv(tmp_path / name)
        return list(csv.DictReader(Path(out).read_text().splitlines()))[-1]

    running = last_row("running.csv")
    assert running["kind"] == "stopped" and running["settings"].startswith("the analysis was still running when this "
                                                                            "was written: results up to 3.0 s of 1:00.0")
    session.close(analysis="stopped", analysed_until_s=30.0)
    assert last_row("stopped.csv")["settings"] == ("the analysis stopped at 30.0 s of 1:00.0: the recording after it "
                                                   "is not analysed")
    lines = path.read_text().splitlines()
    end = json.loads(lines[-1])
    end.pop("analysis"), end.pop("analysed_until_s")  # as the earliest formats wrote it
    path.write_text("\n".join([*lines[:-1], json.dumps(end)]) + "\n")
    assert last_row("old.csv")["start_s"] == "3.0"


@pytest.mark.parametrize("live", [True, False], ids=["listening", "recording"])
def test_a_json_export_made_while_its_session_was_written_is_not_called_killed(tmp_path, capsys, live):
    """The app's JSON export while it listens (or analyses a recording) says "running"; that export
    exported again with ``ser session`` says it was made while the session was being written, not
    that the program was killed (it said so before; the app's words: tests/gui)."""
    from ser.cli import main

    session = SessionStore.create(tmp_path / "s.jsonl", {"source": "microphone" if live else "file"})
    source = ({"kind": "MicrophoneSource", "start_s": 0.0} if live else
              {"kind": "FileSource", "start_s": 0.0, "duration_s": 60.0})
    session.update_metadata(engine={"settings": {"window_s": 2.0, "hop_s": 0.5, "vad_aggressiveness": 2},
                                    "source": source})
    session.extend([SpeechSegment(0, "mix", 0.5, 3.0), _result(0.5), _result(1.0)])
    session.sync()
    # As the app's File > Export makes it: the session file read back while its writer has it open.
    from streamer.batch.report import export_session

    export = export_session(session.path, tmp_path / "running.json", "json")
    assert json.loads(export.read_text())["analysis"]["state"] == "running"
    assert json.loads(session.export_json(tmp_path / "writer.json").read_text())["analysis"]["state"] == "running"
    session.close(analysis="stopped")

    assert main(["session", str(export), str(tmp_path / "again.csv")]) == 0
    line = capsys.readouterr().out
    assert "the JSON export was made while the session was still being written" in line, line
    assert "killed" not in line
    row = list(csv.DictReader((tmp_path / "again.csv").read_text().splitlines()))[-1]
    assert row["kind"] == "stopped" and "still" in row["settings"] and "when the JSON export this comes from was " \
        "made" in row["settings"] and "killed" not in row["settings"], row
    assert main(["session", str(export), str(tmp_path / "again.json")]) == 0
    assert json.loads((tmp_path / "again.json").read_text())["analysis"]["state"] == "running"  # still said
    assert main(["session", str(export), str(tmp_path / "again.html")]) == 0  # and in its report
    report = (tmp_path / "again.html").read_text()
    assert ("exported while still listening" if live else "not finished when exported") in report
    assert "killed" not in report


def test_a_live_session_that_ended_with_no_error_reported_is_not_said_to_have_ended_on_one(tmp_path, capsys):
    """The app records LIVE_ENDED_UNREPORTED when its engine stopped listening without saying why: the
    CSV, ``ser session`` and the report say it ended by itself (they said "ended on an error (The
    live analysis stopped by itself)")."""
    from ser.cli import main
    from streamer.batch.report import session_report
    from streamer.session import LIVE_ENDED_UNREPORTED

    path = tmp_path / "live.jsonl"
    session = SessionStore.create(path, {"source": "microphone"})
    session.update_metadata(engine={"settings": {"window_s": 2.0, "hop_s": 0.5, "vad_aggressiveness": 2},
                                    "source": {"kind": "MicrophoneSource", "start_s": 0.0}})
    session.extend([SpeechSegment(0, "mix", 0.5, 3.0), _result(0.5), _result(1.0)])
    session.close(analysis="stopped", analysed_until_s=4.0, ended_by=LIVE_ENDED_UNREPORTED)
    assert main(["session", str(path), str(tmp_path / "live.csv")]) == 0
    line = capsys.readouterr().out
    assert line.rstrip().endswith("; listening ended by itself, with no error reported at 4.0 s."), line
    row = list(csv.DictReader((tmp_path / "live.csv").read_text().splitlines()))[-1]
    assert row["kind"] == "stopped" and row["settings"] == "listening ended by itself, with no error reported at 4.0 s"
    report = session_report(path, tmp_path / "live.html").read_text()
    assert "live audio, listening ended by itself, with no error reported" in report and "on an error" not in report
    # Sessions of the app before these words recorded "The live analysis stopped by itself.": read as such.
    lines = path.read_text().splitlines()
    end = json.loads(lines[-1])
    end["ended_by"] = "The live analysis stopped by itself."
    path.write_text("\n".join([*lines[:-1], json.dumps(end)]) + "\n")
    assert main(["session", str(path), str(tmp_path / "old.csv")]) == 0
    assert capsys.readouterr().out.rstrip().endswith("; listening ended by itself, with no error reported at 4.0 s.")


def test_a_recordings_session_cut_off_before_its_length_still_ends_its_csv_with_a_stopped_row(tmp_path):
    """A session file cut inside its second line (the engine's metadata, with the recording's length:
    a kill as it started, a damaged disk) exported with no row saying the analysis had not finished."""
    path = tmp_path / "talk.jsonl"
    session = SessionStore.create(path, {"source": "file", "path": "/x/talk.wav"})
    session.update_metadata(engine={"settings": {"window_s": 2.0, "hop_s": 0.5}, "source": {
        "kind": "FileSource", "start_s": 0.0, "duration_s": 60.0}})
    session.close(analysis="complete")
    first, second = path.read_text().splitlines(keepends=True)[:2]
    cut = tmp_path / "cut.jsonl"
    cut.write_text(first + second[:len(second) // 2])
    rows = list(csv.DictReader(export_csv(cut, tmp_path / "cut.csv").read_text().splitlines()))
    assert rows[-1]["kind"] == "stopped" and rows[-1]["settings"] == (
        "the analysis did not finish (the run was killed or crashed) at 0.0 s: the recording after it is not analysed")
    # With an end record and no length (an early format), nothing is guessed: no row, as before.
    ended = tmp_path / "ended.jsonl"
    ended.write_text(first + json.dumps({"type": "end", "analysis": "stopped"}) + "\n")
    assert not [r for r in csv.DictReader(export_csv(ended, tmp_path / "e.csv").read_text().splitlines())
                if r["kind"] == "stopped"]


def test_a_reports_channel_without_speech_says_what_was_left_out_as_not_speech(tmp_path):
    """A tone's recording: ser analyze said "no speech; 8.0 s of sound left out as not speech: 8.0 s
    a tone", its report only "no speech found"."""
    from streamer.batch.report import session_report

    path = tmp_path / "tone.jsonl"
    session = SessionStore.create(path, {"source": "file", "path": "/x/tone.wav"})
    session.update_metadata(engine={"settings": {"window_s": 2.0, "hop_s": 0.5}, "tracks": ["mix"], "source": {
        "kind": "FileSource", "start_s": 0.0, "duration_s": 10.0}})
    session.extend([SpeechSegment(0, "mix", 1.0, 9.0, not_speech="a tone")])
    session.close(analysis="complete", analysed_until_s=10.0)
    text = session_report(path, tmp_path / "tone.html").read_text()
    assert "no speech found in this channel; 8.0 s of sound left out as not speech: 8.0 s a tone" in text
