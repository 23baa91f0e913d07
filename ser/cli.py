"""``ser`` entry point. Each package registers its subcommands in a light ``commands`` module
(argparse only); the work is imported when a subcommand runs, so ``ser analyze`` never imports
Qt and ``ser gui`` never imports the training code."""

from __future__ import annotations

import argparse
import importlib
import sys

# Packages that contribute subcommands, in the order they appear in --help.
COMMAND_MODULES = ("training.commands", "streamer.commands", "streamer.batch.commands", "gui.commands")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ser",
        description="Speech-emotion analyzer: live monitoring, file analysis, training and evaluation.",
    )
    parser.add_argument("--version", action=_VersionAction, nargs=0, default=argparse.SUPPRESS,
                        help="show the program's version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def _terminate_like_interrupt() -> None:
    """SIGTERM (``kill``, ``timeout``, a service or container stop) ends a command the way Ctrl+C
    does: outputs are closed, worker processes stopped, and the command says it was interrupted.
    The first signal stops the command; a second one while it stops (an impatient Ctrl+C) is let
    go, so that the stop finishes writing what it writes: breaking off there left threads inside
    ONNX Runtime as the interpreter ended, which aborted the process ("terminate called without an
    active exception", status 134). A third ends the process at once. A signal the command was
    started to ignore stays ignored."""
    import os
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return

    import atexit

    from model.errors import Terminated

    state = {"first": None, "more": 0}
    stops = (signal.SIGTERM, signal.SIGINT)

    def ignore_at_exit() -> None:
        # Once stopping, Python's own shutdown (after its threads are joined) would give the signals
        # their default action back: a second one then killed the process by that signal, its
        # status not the one its message gave.
        for sig in stops:
            signal.signal(sig, signal.SIG_IGN)

    def handler(signum, frame):
        if state["first"] is None:
            state["first"] = signum
            atexit.register(ignore_at_exit)
            raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt
        state["more"] += 1
        if state["more"] >= 2:
            os._exit(128 + state["first"])

    for sig in stops:
        if signal.getsignal(sig) is not signal.SIG_IGN:
            signal.signal(sig, handler)


class _VersionAction(argparse.Action):
    """``--version``, looked up only when asked for (reading the installed metadata costs every other
    command about 20 ms of start-up)."""

    def __call__(self, parser, namespace, values, option_string=None):
        from model.meta import package_version

        print(f"{parser.prog} {package_version()}")
        parser.exit()


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # Ctrl+C while the command's modules were still loading: nothing to close yet
        print("ser: interrupted", file=sys.stderr)
        return 130


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # name the subcommand's own options, not the top level's
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        sub.choices.get(args.command, parser).error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command is None:  # bare `ser`: say what there is
        parser.print_help()
        return 2
    from model.errors import SERError, Terminated

    if args.command != "gui":  # the app has its own shutdown on window close
        _terminate_like_interrupt()
    try:
        return int(args.func(args) or 0)
    except SERError as exc:
        print(f"ser {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # Ctrl+C, or SIGTERM (Terminated)
        terminated = isinstance(exc, Terminated)
        if not getattr(exc, "reported", False):  # a command may have said more already
            print(f"ser {args.command}: {'terminated' if terminated else 'interrupted'}", file=sys.stderr)
        return 143 if terminated else 130
    except BrokenPipeError:  # output piped into e.g. `head`, which closed early
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        if exc.filename is None:
            raise
        # A file or folder the command had to read or write (a path it did not check first).
        print(f"ser {args.command}: error: {exc.filename}: {exc.strerror or exc}; check the path and its "
              "permissions.", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
