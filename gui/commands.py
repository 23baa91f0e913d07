"""``ser gui``: argparse only; Qt is imported when the command runs."""

from __future__ import annotations

import argparse


def _speed(text: str) -> float:
    if text in ("max", "fast"):
        return 0.0
    value = float(text.rstrip("x"))
    if not (value == 0 or 0.5 <= value <= 8.0):
        raise argparse.ArgumentTypeError("speed must be between 0.5 and 8 (or 'max')")
    return value


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "gui", help="open the desktop analyzer (live microphone, file replay, sessions, call-centre view)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--model", default="default", help="model file (.safetensors) or 'default'")
    p.add_argument("--replay", metavar="FILE", help="replay this audio file on start")
    p.add_argument("--speed", type=_speed, default=1.0, help="replay speed, 0.5 to 8, or 'max' (as fast as possible)")
    p.add_argument("--snapshot", metavar="PNG", help="when the replay ends, save a PNG of the window")
    p.add_argument("--exit-when-done", action="store_true", help="quit when the replay ends (after --snapshot)")
    p.add_argument("--channels", choices=("mix", "split"), default="mix",
                   help="stereo files: mix down, or split into two call-centre lanes")
    p.add_argument("--session", metavar="FILE",
                   help="save the session to FILE (default: a new file in the app data folder); "
                        "without --replay, open this saved session")
    p.set_defaults(func=run)


def run(args) -> int:
    from gui.app import run_gui

    return run_gui(args)
