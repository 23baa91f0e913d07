"""Run as a subprocess by the replay-sound tests, with PULSE_SERVER set before PortAudio loads.

Usage: monitor_client.py MODEL WAV OUT_JSON MONITOR_DEVICE RECORD_WAV [STOP_AFTER_S]. Replays WAV at
1x with the sound monitor on (MONITOR_DEVICE ``-`` for the default output) while ``parecord`` records
the default sink's monitor into RECORD_WAV; lists the server's sink inputs half-way; with STOP_AFTER_S
stops the engine once that much audio was analysed (as a pause or seek does); writes the engine's
events and stats as JSON.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

TIMEOUT_S = 60.0
POLL_S = 0.02
RECORD_SETTLE_S = 0.3  # parecord must be connected before the replay starts
RECORD_TAIL_S = 0.5  # device and server buffers after the replay ends
LIST_AFTER_S = 1.5  # when to look at the server's sink inputs
RECORD_RATE_HZ = 16000
SAMPLE_RATE_HZ = 16000


def main() -> int:
    model_path, wav, out, device, record = sys.argv[1:6]
    stop_after = int(float(sys.argv[6]) * SAMPLE_RATE_HZ) if len(sys.argv) > 6 else None
    from model.predictor import Predictor
    from streamer import Engine, EngineConfig, FileSource

    recorder = subprocess.Popen(["parecord", "--device=vspk.monitor", f"--rate={RECORD_RATE_HZ}", "--channels=1",
                                 "--format=float32le", "--file-format=wav", record])
    time.sleep(RECORD_SETTLE_S)
    engine = Engine(Predictor.load(model_path, device="cpu"), EngineConfig(emit_audio=False))
    source = FileSource(wav, pace="realtime", monitor=True, monitor_device=None if device == "-" else device)
    t0 = time.monotonic()
    engine.start(source)
    events = []
    sink_inputs = None
    stopped_at = None
    while not engine.wait(POLL_S):
        events += engine.poll()
        if stop_after is not None and engine.stats.samples_processed.get(0, 0) >= stop_after:
            engine.stop()
            stopped_at = engine.stats.samples_processed[0]
            break
        if sink_inputs is None and time.monotonic() - t0 > LIST_AFTER_S:
            sink_inputs = subprocess.run(["pactl", "list", "sink-inputs"], capture_output=True, text=True).stdout
        if time.monotonic() - t0 > TIMEOUT_S:
            raise SystemExit(f"the replay did not finish: {[e.to_dict() for e in events]}")
    replay_s = time.monotonic() - t0
    engine.stop()
    events += engine.poll()
    time.sleep(RECORD_TAIL_S)
    recorder.send_signal(signal.SIGINT)  # parecord writes the WAV header's length on exit
    recorder.wait(TIMEOUT_S)
    with open(out, "w") as f:
        json.dump({"events": [e.to_dict() for e in events], "stats": engine.stats.to_dict(), "replay_s": replay_s,
                   "sink_inputs": sink_inputs or "", "monitor_rate_hz": source.monitor_stats().get("monitor_rate_hz", 0),
                   "recorder_status": recorder.returncode, "stopped_at": stopped_at}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
