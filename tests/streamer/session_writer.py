"""Run as a subprocess by the kill test: replays a file in real time into a session until killed.

Usage: session_writer.py MODEL AUDIO SESSION_PATH SPEED
"""

from __future__ import annotations

import sys
import time

POLL_S = 0.05


def main() -> int:
    model_path, audio, session_path, speed = sys.argv[1:5]
    from model.predictor import Predictor
    from streamer import Engine, EngineConfig, FileSource, SessionStore

    session = SessionStore.create(session_path, {"test": "killed writer"})
    engine = Engine(Predictor.load(model_path, device="cpu"), EngineConfig(emit_audio=False), session=session)
    engine.start(FileSource(audio, pace="realtime", speed=float(speed)))
    print("started", flush=True)
    while not engine.wait(POLL_S):
        engine.poll()
        time.sleep(POLL_S)
    engine.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
