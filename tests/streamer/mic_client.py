"""Run as a subprocess by the virtual-microphone test, with PULSE_SERVER set before PortAudio loads.

Usage: mic_client.py MODEL WAV OUT_JSON [SERVER_PID]. Listens on the ``pulse`` input device, plays
WAV into the default sink with ``paplay`` once audio flows, stops the engine and writes the events as
JSON. With SERVER_PID (and WAV ``-``) it kills the sound server instead of playing, as if the device
were unplugged, and waits for the engine's error event.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

SETTLE_S = 0.5  # audio must flow this long before playing, so the clock is running
TAIL_S = 1.0  # keep listening after paplay ends (device and server buffers)
TIMEOUT_S = 30.0
STALL_TIMEOUT_S = 2.0
POLL_S = 0.02
SAMPLE_RATE_HZ = 16000


def main() -> int:
    model_path, wav, out = sys.argv[1:4]
    server_pid = int(sys.argv[4]) if len(sys.argv) > 4 else None
    from model.predictor import Predictor
    from streamer import Engine, EngineConfig, MicrophoneSource, list_input_devices

    devices = [d.name for d in list_input_devices()]
    engine = Engine(Predictor.load(model_path, device="cpu"), EngineConfig(emit_audio=False))
    source = MicrophoneSource(device="pulse", stall_timeout_s=STALL_TIMEOUT_S)
    engine.start(source)
    events = []
    deadline = time.monotonic() + TIMEOUT_S
    while engine.stats.samples_processed.get(0, 0) < SETTLE_S * SAMPLE_RATE_HZ:
        events += engine.poll()
        if time.monotonic() > deadline or not engine.running:
            raise SystemExit(f"no audio from the pulse device: {[e.to_dict() for e in events]}")
        time.sleep(POLL_S)
    clock_at_play = engine.stats.samples_processed[0] / SAMPLE_RATE_HZ
    if server_pid is not None:
        return unplug(engine, server_pid, events, out)
    player = subprocess.Popen(["paplay", wav])
    while player.poll() is None:
        events += engine.poll()
        time.sleep(POLL_S)
    end = time.monotonic() + TAIL_S
    while time.monotonic() < end:
        events += engine.poll()
        time.sleep(POLL_S)
    engine.stop()
    events += engine.poll()
    with open(out, "w") as f:
        json.dump({"devices": devices, "rate": source.rate, "clock_at_play": clock_at_play,
                   "paplay_status": player.returncode, "stats": engine.stats.to_dict(),
                   "events": [e.to_dict() for e in events]}, f)
    return 0


def unplug(engine, server_pid: int, events: list, out: str) -> int:
    os.kill(server_pid, signal.SIGKILL)
    deadline = time.monotonic() + TIMEOUT_S
    while not any(e.to_dict()["type"] == "finished" for e in events) and time.monotonic() < deadline:
        events += engine.poll()
        time.sleep(POLL_S)
    finished_by_itself = engine.wait(TIMEOUT_S)  # the worker ended on the error, before stop()
    t = time.monotonic()
    engine.stop()
    stop_s = time.monotonic() - t
    events += engine.poll()
    with open(out, "w") as f:
        json.dump({"finished_by_itself": finished_by_itself, "stop_s": stop_s, "events": [e.to_dict() for e in events]}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
