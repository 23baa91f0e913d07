"""Live analysis in the window from a virtual microphone (a private PulseAudio daemon)."""

from __future__ import annotations

import re

import numpy as np
from gui_clients import run_gui_client

from streamer.summary import clock_text


def test_live_microphone_fills_the_window_pauses_and_resumes(pulse_server, speech_paths, tiny_model_path, tmp_path):
    import soundfile as sf

    from model.audio import load_mono_16k

    gap = np.zeros(8000, np.float32)
    audio = np.concatenate([gap, load_mono_16k(speech_paths[0]), gap, load_mono_16k(speech_paths[3]), gap])
    wav = tmp_path / "play.wav"
    sf.write(wav, audio, 16000, subtype="PCM_16")
    got = run_gui_client("gui_mic_client.py", [tiny_model_path, wav, tmp_path / "gui_mic.json"], pulse_server)
    assert got["started"] and got["errors"] == [], got["errors"]
    assert got["paplay_status"] == 0
    played_s = len(audio) / 16000
    assert got["level_points"] * 0.02 >= played_s and got["level_max_db"] > -40
    assert got["spec_columns"] * 0.02 >= played_s
    assert len(got["segments"]) >= 2 and got["results"] >= 2 and got["curve_points"] >= got["results"]
    assert got["segments"][0][0] >= got["clock_at_play"] - 0.3  # speech found where it was played
    assert got["lane_title"].startswith("Microphone")
    # Renamed while listening: the results before the rename and after it (the resume too) carry the
    # new name; the call-centre lanes' names the user keeps are not changed by it.
    assert got["renamed_title"].startswith("Dana") and got["stored_names"] == ["Dana"]
    assert got["own_names"][:2] == ["Agent", "Customer"]
    assert got["state_listening"] == "listening"
    assert got["live_nice"] == 0  # live analysis keeps its priority: it must keep up with the microphone
    assert got["state_paused"] == "paused" and got["state"].startswith("stopped")
    assert got["split_started"] and got["split_errors"] == got["errors"]
    assert got["split_lanes"] == 2 and got["split_channels"] == 2
    assert got["resumed_to"] > got["paused_at"] + 0.3 and got["level_monotonic"]  # the time axis went on
    # Looking back live (a click on the slider or a plot): the view there (never at negative times),
    # and the slider, the time, the plots' cursor and the panel at the time looked at, not at the
    # newest audio (a trial saw the handle at the end, "0:42.0 / 0:42.0", and the newest result).
    looked = got["looked"]
    assert not got["follow_after_look"] and got["look_range"][0] >= 0.0
    assert got["look_range"][0] <= looked["at"] <= got["look_range"][1]
    assert abs(looked["slider_ms"] / 1000 - looked["at"]) < 0.01 and abs(looked["cursor"] - looked["at"]) < 0.01
    assert looked["time"].startswith(clock_text(looked["at"])), looked
    span = re.match(r"window ([0-9.]+)-([0-9.]+) s", looked["panel_time"])  # (the session is under a minute)
    assert span and float(span[1]) <= looked["at"] <= float(span[2]), looked
    assert got["after_look"] >= got["resumed_to"]  # seeking back did not stop or rewind the live analysis
    assert got["session_text"].count('"type": "result"') >= got["results"]
    # After the resume the engine's clock continues the axis: the session's new results lie after the
    # pause, where the window shows them, not back at 0.
    assert got["paplay_after_status"] == 0
    after = got["session_result_starts"][got["results_at_pause"]:]
    assert after and min(after) >= got["paused_at"] - 1e-6, (after, got["paused_at"])
    assert max(got["history_result_ends"]) > got["paused_at"]
