"""Virtual microphone end to end: a private PulseAudio null sink, real speech played into it with
``paplay``, the microphone source picks it up and results arrive at the right times."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from streamer_helpers import REPO_ROOT, SAMPLE_RATE_HZ, subprocess_env, write_audio

from streamer import SpeechSegment, WindowResult, analyze_waveform

LEAD_SILENCE_S = 0.5  # paplay loses the first ~25 ms of a file; start with silence
GAP_S = 1.0
TAIL_SILENCE_S = 1.0
TIME_TOLERANCE_S = 0.5  # server and device buffering between paplay and the microphone clock
DURATION_TOLERANCE_S = 0.3
CLIENT_TIMEOUT_S = 120


def test_virtual_microphone_end_to_end(pulse_server, speech_paths, predictor, tiny_model_path, tmp_path):
    from model.audio import load_mono_16k

    def silence(s):
        return np.zeros(int(s * SAMPLE_RATE_HZ), np.float32)

    audio = np.concatenate([silence(LEAD_SILENCE_S), load_mono_16k(speech_paths[0]), silence(GAP_S),
                            load_mono_16k(speech_paths[3]), silence(TAIL_SILENCE_S)])
    wav = write_audio(tmp_path / "play.wav", audio, subtype="PCM_16")
    expected = [e for e in analyze_waveform(audio, predictor) if isinstance(e, SpeechSegment)]
    assert len(expected) == 2

    out = tmp_path / "mic.json"
    proc = subprocess.run([sys.executable, str(Path(__file__).with_name("mic_client.py")), str(tiny_model_path),
                           str(wav), str(out)], env=subprocess_env(pulse_server.env), cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=CLIENT_TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(out.read_text())
    assert any("pulse" in name for name in got["devices"])
    assert got["paplay_status"] == 0
    events = got["events"]
    assert not [e for e in events if e["type"] == "error"], events
    segments = [SpeechSegment.from_dict(e) for e in events if e["type"] == "segment"]
    assert len(segments) == len(expected), (segments, expected)
    for seg, ref in zip(segments, expected, strict=True):
        assert abs(seg.start_s - (got["clock_at_play"] + ref.start_s)) < TIME_TOLERANCE_S, (seg, ref, got["clock_at_play"])
        assert abs(seg.duration_s - ref.duration_s) < DURATION_TOLERANCE_S, (seg, ref)
    results = [WindowResult.from_dict(e) for e in events if e["type"] == "result"]
    utterances = [r for r in results if r.kind == "utterance"]
    assert len(utterances) == len(segments)
    for r in results:
        assert set(r.probabilities) == set(predictor.labels)
        assert abs(sum(r.probabilities.values()) - 1.0) < 1e-4
        assert r.latency_ms >= 0.0
    assert got["stats"]["dropped_blocks"] == 0


def test_ser_devices_lists_the_virtual_microphone(pulse_server):
    proc = subprocess.run([sys.executable, "-m", "ser.cli", "devices"], env=subprocess_env(pulse_server.env),
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=CLIENT_TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr
    assert "pulse" in proc.stdout


def test_device_lost_mid_stream_becomes_an_error_event(pulse_server, tiny_model_path, tmp_path):
    """The sound server dies under a running microphone (as an unplugged device): the engine reports
    a fatal error event naming the device, keeps what it had, and stops cleanly."""
    out = tmp_path / "unplug.json"
    proc = subprocess.run([sys.executable, str(Path(__file__).with_name("mic_client.py")), str(tiny_model_path),
                           "-", str(out), str(pulse_server.pid)], env=subprocess_env(pulse_server.env),
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=CLIENT_TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(out.read_text())
    errors = [e for e in got["events"] if e["type"] == "error"]
    assert len(errors) == 1 and errors[0]["fatal"], got["events"]
    assert "'pulse'" in errors[0]["message"] and "unplugged" in errors[0]["message"]
    assert got["events"][-1]["type"] == "finished"
    assert got["finished_by_itself"] and got["stop_s"] < 1.0


def test_a_sound_server_started_after_the_program_is_found_when_the_devices_are_listed_again(pulse_daemon):
    """PortAudio reads the devices once, when it starts: a microphone plugged in (or a sound server
    started) later stayed unseen, and the app's ↻ found nothing until it was restarted. A rescan
    lists it; while a stream is open the rescan is refused (it would end the stream)."""
    daemon = pulse_daemon
    with subprocess.Popen([sys.executable, str(Path(__file__).with_name("device_client.py"))],
                          env=subprocess_env(daemon.env), cwd=REPO_ROOT, stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as client:
        try:
            first = json.loads(client.stdout.readline() or "{}")
            assert first.get("first") is not None and "pulse" not in first["first"], (first, client.stderr.read())
            daemon.start()
            client.stdin.write("started\n")
            client.stdin.flush()
            report = json.loads(client.stdout.readline() or "{}")
            assert client.wait(timeout=CLIENT_TIMEOUT_S) == 0, client.stderr.read()
        finally:
            if client.poll() is None:
                client.kill()
    assert "pulse" not in report["again"]  # what PortAudio read when it started
    assert "pulse" in report["rescanned"], report
    assert report["refused_while_open"] and report["stream_still_active"] and report["done_once_closed"], report
