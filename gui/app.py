"""Starts the Qt application for ``ser gui`` and handles replay/snapshot/exit-when-done."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from gui.main_window import WINDOW_PX, MainWindow
from gui.settings import GuiSettings, load_settings
from gui.transport import IDLE

SNAPSHOT_SETTLE_MS = 200  # let the last redraw land before grabbing the window
NOTHING_TO_REPLAY_EXIT = 1
SIGNAL_POLL_MS = 200  # how soon a signal is acted on: Python runs its handlers only between Qt's events


def create_app() -> QtWidgets.QApplication:
    app = QtWidgets.QApplication.instance()
    if app is None:
        app = QtWidgets.QApplication(sys.argv[:1])
    from gui.paths import APPLICATION, ORGANIZATION

    app.setApplicationName(APPLICATION)
    app.setOrganizationName(ORGANIZATION)
    return app


NO_DISPLAY_EXIT = 1


def no_display_reason() -> str | None:
    """Why a window cannot open here, or None: on Linux, Qt's desktop platforms need a display
    (DISPLAY for X11, WAYLAND_DISPLAY for Wayland); without one Qt aborts with advice on missing
    packages and reinstalling, which sends the user the wrong way. QT_QPA_PLATFORM naming another
    platform (offscreen, vnc, eglfs ...) needs none."""
    import os

    if not sys.platform.startswith("linux"):
        return None
    x11, wayland = bool(os.environ.get("DISPLAY")), bool(os.environ.get("WAYLAND_DISPLAY"))
    # QT_QPA_PLATFORM: one platform or a ";" list Qt tries in turn, each maybe with ":options".
    wanted = [p.split(":", 1)[0].strip().lower() for p in os.environ.get("QT_QPA_PLATFORM", "").split(";")]
    for platform in wanted:
        if platform in ("", "xcb") and x11 or platform in ("", "wayland", "wayland-egl") and wayland:
            return None
        if platform not in ("", "xcb", "wayland", "wayland-egl"):  # offscreen, vnc, eglfs ...: no display needed
            return None
    if x11 or wayland:  # a display, but not of the platform asked for
        needs, instead = ("WAYLAND_DISPLAY", "xcb") if x11 else ("DISPLAY", "wayland")
        return (f"QT_QPA_PLATFORM={os.environ.get('QT_QPA_PLATFORM')} needs {needs}, which is not set: unset "
                f"QT_QPA_PLATFORM, or set it to {instead}")
    return ("no display to open the window on (neither DISPLAY nor WAYLAND_DISPLAY is set): run it in a desktop "
            "session, or over ssh -X; ser analyze and ser batch work without one (and ser gui --snapshot or "
            "--exit-when-done with QT_QPA_PLATFORM=offscreen)")


def run_gui(args) -> int:
    """Open the window; with ``--replay`` replay a file, optionally snapshot and exit at the end."""
    import pyqtgraph as pg

    reason = no_display_reason()
    if reason:
        print(f"ser gui: {reason}.", file=sys.stderr)
        return NO_DISPLAY_EXIT
    replay = getattr(args, "replay", None)
    if replay and not Path(replay).is_file() and (args.snapshot or args.exit_when_done):
        # Scripted: said on the command line (the window's own message speaks of its Open dialog).
        from model.audio import not_a_file_reason

        print(f"ser gui: {replay}: {not_a_file_reason(replay)}; give --replay an existing audio file (WAV, FLAC, "
              "OGG).", file=sys.stderr)
        return NOTHING_TO_REPLAY_EXIT
    if args.snapshot:
        from model.files import check_output_file

        check_output_file(args.snapshot, "snapshot")
    app = create_app()
    pg.setConfigOptions(antialias=False)  # antialiasing halves the frame rate of long curves
    session = getattr(args, "session", None)
    store = None
    settings = GuiSettings()
    if not args.exit_when_done:
        # Interactive runs start where the last one left off; scripted runs (snapshots, tests) do not
        # depend on what someone clicked earlier.
        store = QtCore.QSettings(QtCore.QSettings.Format.IniFormat, QtCore.QSettings.Scope.UserScope,
                                 "speech-emotion-analyzer", "ser")
        settings = load_settings(store, settings)
    explicit = {"model_path": args.model, "speed": args.speed, "channels": args.channels}
    settings = settings.replace(**{k: v for k, v in explicit.items() if v is not None})
    window = MainWindow(settings, session_path=session if replay else None, store=store)
    if args.snapshot:  # an image of a fixed size, whatever screen (or none) the run has
        window.resize(*WINDOW_PX)
    window.scripted = bool(args.exit_when_done or args.snapshot)  # nobody to answer a question
    window.show()
    status = {"code": 0}

    def finish() -> None:
        if args.snapshot:
            if not window.save_snapshot(args.snapshot):
                print(f"ser gui: could not write {args.snapshot}", file=sys.stderr)
                status["code"] = 1
            else:
                print(f"ser gui: wrote {args.snapshot}")
        if args.exit_when_done:
            window.close()
            app.quit()

    def on_done() -> None:
        if window.errors:
            notices = set(window.notices)  # said about the audio (digital silence, a quiet channel): no failure
            for e in window.errors:
                print(f"ser gui: {'note: ' if e in notices else ''}{e}", file=sys.stderr)
            if any(e not in notices for e in window.errors):
                status["code"] = 1
        QtCore.QTimer.singleShot(SNAPSHOT_SETTLE_MS, finish)

    replay_failed = False
    if replay:
        if window.scripted:  # the replay's end ends a scripted run; in a window, files opened later end too
            window.sig_replay_finished.connect(on_done)
        if not window.open_file(replay):
            status["code"] = NOTHING_TO_REPLAY_EXIT
            replay_failed = True
            QtCore.QTimer.singleShot(SNAPSHOT_SETTLE_MS, on_done)
    elif session:
        # Scripted runs cannot answer a question: a damaged session is reported, not opened in part.
        window.open_session(session, salvage=False if (args.snapshot or args.exit_when_done) else None)
        if args.snapshot or args.exit_when_done:
            QtCore.QTimer.singleShot(SNAPSHOT_SETTLE_MS, on_done)
    elif args.exit_when_done:
        QtCore.QTimer.singleShot(SNAPSHOT_SETTLE_MS, on_done)
    else:  # an interactive start with nothing asked for: a session the last run left open is pointed out
        window.notice_interrupted_session()
    poll = _close_on_signals(window, app, status)
    app.exec()
    poll.stop()
    if replay_failed and not window.scripted and window.mode != IDLE and status["code"] == NOTHING_TO_REPLAY_EXIT:
        # In a window, only a --replay that could not be opened sets the exit status (the window said
        # why), and only while nothing else was opened: once the user went on to another recording, a
        # session or the microphone, a normal quit is a normal exit.
        status["code"] = 0
    return status["code"]


def _close_on_signals(window: MainWindow, app: QtWidgets.QApplication, status: dict) -> QtCore.QTimer:
    """SIGTERM (``kill``, a logout, a service stop), SIGHUP (its terminal closed) and SIGINT (Ctrl+C in
    it) close the window as File > Quit does: the session being analysed or listened to ends with
    its last results and its end record, and the settings are kept. They used to end the program
    at once (Ctrl+C with a traceback), and the next start said the session had been killed. Nobody
    is asked anything then (the program is being stopped); the exit status is 128 + the signal's
    number, as a shell gives it. A second signal while it closes ends it at once (every result is
    in its session file already; only the end record would be missing). A signal the program was
    started to ignore stays ignored (``nohup ser gui`` outlives its terminal). A timer lets Python
    run the handler while Qt waits for events. Returns that timer."""
    import os
    import signal

    def handler(signum, frame) -> None:
        if status.get("signal"):
            os._exit(128 + signum)  # closing did not end it: the user insists
        status["signal"] = signum
        status["code"] = 128 + signum
        window.scripted = True  # no question (records only in memory go as a scripted run lets them)
        QtCore.QTimer.singleShot(0, lambda: (window.close(), app.quit()))

    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        if signal.getsignal(sig) is not signal.SIG_IGN:
            signal.signal(sig, handler)
    poll = QtCore.QTimer()
    poll.timeout.connect(lambda: None)
    poll.start(SIGNAL_POLL_MS)
    return poll
