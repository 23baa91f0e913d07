"""Playing a recording's sound from any position, apart from its analysis.

The app analyses a recording in the background at full speed and lets its user listen from the
playhead: :class:`FilePlayer` reads the file in real time from a position on a thread of its own
and plays it through an :class:`streamer.monitor.AudioMonitor` (at 1x only, as the monitor plays).
A missing or failing output device never stops anything: it becomes a notice.
"""

from __future__ import annotations

import threading

from streamer.errors import SERError
from streamer.sources import FileSource

JOIN_TIMEOUT_S = 2.0
SOUND_NOTICE_END = "The replay goes on without sound."  # how FileSource's sound-output notices end


class FilePlayer:
    """Plays ``path`` from ``start_s`` until the end or :meth:`stop`.

    Args:
        path: The recording.
        start_s: Where to start, in seconds.
        channels: ``mix`` or ``split`` (what the source reads; the sound is the file's own channels).
        device: Output device: None for the default, an index, or (part of) a device name.
    """

    def __init__(self, path: str, start_s: float = 0.0, channels: str = "mix", device: int | str | None = None):
        self.source = FileSource(str(path), pace="realtime", speed=1.0, start_s=start_s, channels=channels,
                                 monitor=True, monitor_device=device)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: str | None = None
        self.finished = False

    def start(self) -> None:
        self.source.open()
        self._thread = threading.Thread(target=self._run, name="sound-player", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for _ in self.source.blocks(self._stop):
                pass  # the source plays what it reads; the blocks themselves are not needed here
        except SERError:
            pass  # a problem of the file itself (truncated ...): the analysis reports it, once
        except Exception as exc:  # noqa: BLE001 - sound must never take the app down
            self.error = f"sound output failed ({exc!r}); the replay goes on without sound."
        finally:
            self.finished = True
            self.source.close()

    def stop(self) -> None:
        """Silence at once and end the thread."""
        self._stop.set()
        self.source.silence()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(JOIN_TIMEOUT_S)

    @property
    def notices(self) -> list[str]:
        """The sound output's problems (no device, a failing one), each said once; what the source
        notices about the file itself the analysis says already."""
        out = []
        while self.source.notices:
            note = self.source.notices.popleft()
            if note.endswith(SOUND_NOTICE_END):
                out.append(note)
        if self.error:
            out.append(self.error)
            self.error = None
        return out

    def stats(self) -> dict[str, int]:
        return self.source.monitor_stats()
