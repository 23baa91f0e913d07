"""Run as a subprocess by the device-rescan test, with PULSE_SERVER set before PortAudio loads, its
sound server not yet started. Prints the input devices as JSON lines: as PortAudio first sees them,
then (after a line on standard input: the server has started) as listed again without and with a
rescan, and whether a rescan is refused while a stream is open and leaves that stream running."""

from __future__ import annotations

import json
import sys
import time


def main() -> int:
    from streamer import list_input_devices, portaudio

    def names(rescan: bool = False) -> list[str]:
        return [d.name for d in list_input_devices(rescan=rescan)]

    print(json.dumps({"first": names()}), flush=True)
    sys.stdin.readline()  # the sound server is running now
    report = {"again": names(), "rescanned": names(rescan=True)}
    if "pulse" in report["rescanned"]:
        sd = portaudio.import_sounddevice()
        stream = sd.InputStream(device="pulse", channels=1, samplerate=16000)
        portaudio.opened(stream)
        stream.start()
        report["refused_while_open"] = not portaudio.rescan_devices(sd)
        time.sleep(0.2)
        report["stream_still_active"] = bool(stream.active)
        stream.stop()
        stream.close()
        report["done_once_closed"] = portaudio.rescan_devices(sd)
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
