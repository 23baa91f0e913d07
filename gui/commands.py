"""``ser gui``: argparse only; Qt is imported when the command runs."""

from __future__ import annotations

import argparse

from gui.paths import sessions_folder


def _speed(text: str) -> float:
    if text in ("max", "fast"):
        return 0.0
    try:
        value = float(text.rstrip("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a speed: give a number from 0.5 to 8 (e.g. 2 or 2x), or 'max'") from None
    if not (value == 0 or 0.5 <= value <= 8.0):
        raise argparse.ArgumentTypeError("speed must be between 0.5 and 8 (or 'max')")
    return value


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "gui", help="open the desktop analyzer (live microphone, file replay, sessions, call-centre view)",
        description="Desktop analyzer. Defaults are given in each option's help (interactive runs "
                    "remember the last model, speed, channels and settings).",
    )
    p.add_argument("--model", help="model file (.safetensors) or 'default' (default: the last one used, else 'default')")
    p.add_argument("--replay", metavar="FILE", help="replay this audio file on start (default: none, choose in the window)")
    p.add_argument("--speed", type=_speed, help="replay speed, 0.5 to 8, or 'max' (as fast as possible); default: last used, else 1")
    p.add_argument("--snapshot", metavar="PNG", help="when the replay ends, save a PNG of the window")
    p.add_argument("--exit-when-done", action="store_true", help="quit when the replay ends (after --snapshot); such runs ignore remembered settings")
    p.add_argument("--channels", choices=("mix", "split"),
                   help="stereo files: mix down, or split into two call-centre lanes (default: last used, else mix)")
    p.add_argument("--session", metavar="FILE",
                   help=f"save the session to FILE (default: a new file in {sessions_folder()}, where every "
                        "analysis is saved and File > Sessions lists them); without --replay, open this saved session")
    p.set_defaults(func=run)


def run(args) -> int:
    from gui.app import run_gui

    return run_gui(args)
