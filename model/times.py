"""Times as the product writes them for people: the app's time axis, panel and crosshair, the
reports, the summaries and the error messages (seconds under a minute, then m:ss.s, h:mm:ss.s from an
hour on)."""

from __future__ import annotations

import math


def tenths(t_s: float) -> int:
    """A time in whole tenths of a second as ``ser analyze``, the reports and the exports write it
    (``:.1f``), from its value to the millisecond (negative times as 0): one time kept in float32
    (the app's plot history) and in float64 (an event) rounds the same way."""
    t = round(max(0.0, float(t_s)), 3) if math.isfinite(t_s) else 0.0
    return int(f"{t:.1f}".replace(".", ""))


def clock_text(t_s: float) -> str:
    """A time as a clock: m:ss.s, h:mm:ss.s from an hour on (negative times as 0; 59.96 s is 1:00.0,
    not 0:60.0)."""
    m, t = divmod(tenths(t_s), 600)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{t // 10:02d}.{t % 10}" if h else f"{m}:{t // 10:02d}.{t % 10}"


def time_text(t_s: float) -> str:
    """A point in time, or a recording's length, as the app's time axis, its panel and crosshair, and
    the reports write it: seconds under a minute ("19.9 s"), then m:ss.s ("1:31.3"), h:mm:ss.s from
    an hour on. (Amounts of speech are written in seconds everywhere: "speech 443.5 s".)"""
    t = tenths(t_s)
    return f"{t // 10}.{t % 10} s" if t < 600 else clock_text(t_s)
