"""The playhead of the app, without Qt: what is playing, where, and how fast.

A recording is a document: its analysis runs in the background at full speed while the playhead
moves at the chosen speed, and seeking, pausing and replaying move only the playhead: nothing
computed is discarded. :class:`Transport` keeps that state and its rules; the window asks it where
the playhead is and tells it what happened (a tick of wall time, a click, the analysis's progress).

Modes: ``idle`` (nothing loaded), ``file`` (a recording: its analysis and its audio), ``session``
(a saved session: its results; its recording too when the file is still there) and ``mic`` (live:
the playhead is the newest audio, and seeking only looks back).
"""

from __future__ import annotations

from dataclasses import dataclass

IDLE, FILE, SESSION, MIC = "idle", "file", "session", "mic"
MODES = (IDLE, FILE, SESSION, MIC)
END_MARGIN_S = 0.05  # a seek this close to the end counts as the end


@dataclass
class Transport:
    mode: str = IDLE
    position_s: float = 0.0
    duration_s: float = 0.0  # the recording's length (0: unknown or live)
    speed: float = 1.0  # playback speed of a recording (0: as fast as the analysis; live audio is always 1x)
    playing: bool = False
    analysed_s: float = 0.0  # how far the analysis has got on the recording's time axis
    analysis_done: bool = False
    has_audio: bool = False  # a session whose recording is there plays like a file
    at_end: bool = False  # the playhead reached the end of the recording and stopped there

    # -- what is loaded ----------------------------------------------------------------------
    def load(self, mode: str, duration_s: float = 0.0, has_audio: bool = False, analysed_s: float = 0.0,
             analysis_done: bool = False) -> None:
        """A new document: the playhead at 0, stopped; a live source plays at once."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        self.mode, self.duration_s = mode, max(0.0, float(duration_s))
        self.has_audio = has_audio or mode == FILE
        self.analysed_s, self.analysis_done = float(analysed_s), bool(analysis_done)
        self.position_s, self.at_end = 0.0, False
        self.playing = mode == MIC

    @property
    def playable(self) -> bool:
        """Play can do something: a recording (a file, or a session whose file is there) or live audio."""
        return self.mode in (FILE, MIC) or (self.mode == SESSION and self.has_audio)

    @property
    def end_s(self) -> float:
        """Where the playhead stops: the recording's end (or, not knowing it, where the analysis ended)."""
        if self.duration_s > 0:
            return self.duration_s
        return self.analysed_s if self.analysis_done else float("inf")

    # -- the user's actions ------------------------------------------------------------------
    def play(self) -> bool:
        """Start the playhead; at the end, from the start again. False when there is nothing to play."""
        if not self.playable:
            return False
        if self.mode != MIC and (self.at_end or self.position_s >= self.end_s - END_MARGIN_S):
            self.position_s = 0.0
        self.at_end = False
        self.playing = True
        return True

    def pause(self) -> None:
        self.playing = False

    def toggle(self) -> bool:
        """Space: pause when playing, else play. Returns whether it is playing now."""
        if self.playing:
            self.pause()
            return False
        return self.play()

    def seek(self, t_s: float) -> float:
        """Move the playhead (a recording only; live audio cannot be skipped). Playing goes on from there."""
        if self.mode in (IDLE, MIC):
            return self.position_s
        end = self.end_s if self.end_s != float("inf") else max(self.analysed_s, 0.0)
        self.position_s = min(max(0.0, float(t_s)), end)
        self.at_end = False
        return self.position_s

    def set_speed(self, speed: float) -> None:
        if speed < 0:
            raise ValueError("the playback speed cannot be negative")
        self.speed = float(speed)

    # -- what happened -----------------------------------------------------------------------
    def analysis_progress(self, analysed_s: float, done: bool = False) -> None:
        self.analysed_s = max(self.analysed_s, float(analysed_s))
        self.analysis_done = self.analysis_done or done

    def live_progress(self, newest_s: float) -> None:
        """Live audio: the playhead is the newest audio heard."""
        if self.mode == MIC:
            self.position_s = max(self.position_s, float(newest_s))
            self.duration_s = self.position_s

    def advance(self, wall_s: float) -> float:
        """``wall_s`` seconds of wall-clock time passed: move a playing playhead at its speed. It
        stops at the recording's end (``at_end``); it waits at the analysis's edge while the
        analysis is behind (a slow machine at 8x), so it never shows what is not analysed yet
        as if it had been."""
        if not self.playing or self.mode in (IDLE, MIC):
            return self.position_s
        if self.speed == 0:  # as fast as the analysis: the playhead is its edge
            target = self.end_s if self.analysis_done or self.mode != FILE else max(self.position_s, self.analysed_s)
        else:
            target = self.position_s + max(0.0, wall_s) * self.speed
        if not self.analysis_done and self.mode == FILE:
            # Not past what is analysed, and not at the end before the analysis is (its last results
            # may still come).
            target = min(target, max(self.position_s, self.analysed_s), max(self.position_s, self.end_s - 1e-3))
        if target >= self.end_s:
            target, self.playing, self.at_end = self.end_s, False, True
        self.position_s = target
        return self.position_s
