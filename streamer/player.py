"""Playing a recording's sound from any position, apart from its analysis.

The app analyses a recording in the background at full speed and lets its user listen from the
playhead: :class:`FilePlayer` reads the file in real time from a position on a thread of its own
and plays it through an :class:`streamer.monitor.AudioMonitor` (at 1x only, as the monitor plays).
A missing or failing output device never stops anything: it becomes a notice. :class:`BlockReader`
reads a recording on its own thread too, for its display alone.
"""

from __future__ import annotations

import threading
from collections import deque

from streamer.errors import SERError
from streamer.sources import FileSource

JOIN_TIMEOUT_S = 2.0
SOUND_NOTICE_END = "The replay goes on without sound."  # how FileSource's sound-output notices end


class SourceThread:
    """Reads a :class:`FileSource` to its end (or :meth:`stop`) on a thread of its own, handing each
    block to :meth:`on_block`: what the app does with a recording apart from its analysis (play its
    sound, read it again for display). ``finished`` turns true when the thread ends; ``error`` holds
    what went wrong, for the caller to report."""

    name = "source-reader"

    def __init__(self, source: FileSource):
        self.source = source
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: str | None = None
        self.finished = False

    def start(self) -> None:
        self.source.open()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def on_block(self, block) -> None:
        """One block read (the reading thread calls it)."""

    def on_file_error(self, exc: SERError) -> None:
        """A problem of the file itself (truncated ...)."""
        self.error = str(exc)

    def _run(self) -> None:
        try:
            for block in self.source.blocks(self._stop):
                self.on_block(block)
        except SERError as exc:
            self.on_file_error(exc)
        except Exception as exc:  # noqa: BLE001 - reading apart from the analysis must never take the app down
            self.error = f"{self.name} failed ({exc!r})."
        finally:
            self.finished = True
            self.source.close()

    def stop(self) -> None:
        """End the thread (waiting at most JOIN_TIMEOUT_S)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(JOIN_TIMEOUT_S)


class BlockReader(SourceThread):
    """Reads a file source as fast as it is taken (:meth:`take`), at most ``max_blocks`` ahead: the
    app reads a recording again this way for its level and spectrogram alone."""

    name = "reading the recording for display"

    def __init__(self, source: FileSource, max_blocks: int = 2000):
        super().__init__(source)
        self.max_blocks = max_blocks
        self.queue: deque = deque()

    def on_block(self, block) -> None:
        while len(self.queue) >= self.max_blocks and not self._stop.is_set():
            self._stop.wait(0.01)
        self.queue.append(block)

    def take(self, max_blocks: int) -> list:
        out = []
        while self.queue and len(out) < max_blocks:
            out.append(self.queue.popleft())
        return out


class FilePlayer(SourceThread):
    """Plays ``path`` from ``start_s`` until the end or :meth:`stop`.

    Args:
        path: The recording.
        start_s: Where to start, in seconds.
        channels: ``mix`` or ``split`` (what the source reads; the sound is the file's own channels).
        device: Output device: None for the default, an index, or (part of) a device name.
    """

    name = "sound output"

    def __init__(self, path: str, start_s: float = 0.0, channels: str = "mix", device: int | str | None = None):
        # The source plays what it reads; the blocks themselves are not needed here.
        super().__init__(FileSource(str(path), pace="realtime", speed=1.0, start_s=start_s, channels=channels,
                                    monitor=True, monitor_device=device))

    def on_file_error(self, exc: SERError) -> None:
        pass  # a problem of the file itself (truncated ...): the analysis reports it, once

    def stop(self) -> None:
        """Silence at once and end the thread."""
        self.source.silence()
        super().stop()

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
            out.append(f"{self.error} The replay goes on without sound.")
            self.error = None
        return out

    def stats(self) -> dict[str, int]:
        return self.source.monitor_stats()
