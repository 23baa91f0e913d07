"""``ser session``: a session file (``ser analyze``'s, the app's, or the journal a killed run left)
exported to CSV, JSON or the HTML report, as the app's File > Export does."""

from __future__ import annotations

from pathlib import Path

from model.audio import AUDIO_SUFFIXES
from model.errors import OutputPathError
from model.files import check_output_dir
from streamer.errors import ConfigError
from streamer.session import (
    ANALYSIS_COMPLETE,
    SessionStore,
    analysis_state,
    being_written,
    is_live,
    is_session_file,
    live_ending,
)
from streamer.summary import count_text, time_text

FORMATS = {".csv": "csv", ".json": "json", ".html": "html", ".htm": "html"}


def _json_document(path: Path) -> bool:
    """Whether ``path`` begins as a JSON document does (the app's or ser analyze's JSON export, which
    SessionStore opens too); what it holds, SessionStore checks."""
    try:
        with open(path, "rb") as f:
            return f.read(64).lstrip().startswith(b"{")
    except OSError:
        return False


def run_session(args) -> int:
    src, out = Path(args.session).expanduser(), Path(args.out).expanduser()
    fmt = FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise ConfigError(f"{out}: give a file ending in .csv (one row per result), .json (the whole session) or "
                          ".html (its report): the ending chooses the format.")
    if out.exists():
        raise ConfigError(f"{out}: exists; give another name (ser session does not overwrite).")
    if src.is_dir():
        raise ConfigError(f"{src}: is a folder; give a session file (.jsonl).")
    if src.is_file() and src.stat().st_size == 0:  # (said before any guess from its name)
        raise ConfigError(f"{src}: is empty (0 bytes): not a session file. Session files are the .jsonl files "
                          "ser analyze and the app write, or a JSON export.")
    if src.is_file() and src.suffix.lower() in AUDIO_SUFFIXES and not is_session_file(src):
        raise ConfigError(f"{src}: is a recording, not a session file. Analyse it with: ser analyze {src} --out "
                          "FOLDER (--format csv or json for those formats); ser session exports the session files "
                          "that ser analyze and the app write.")
    if src.is_file() and not (is_session_file(src) or _json_document(src)):
        raise ConfigError(f"{src}: not a session file (its first line is not a session's metadata record). "
                          "Session files are the .jsonl files ser analyze and the app write, or a JSON export.")
    store = SessionStore.open(src)  # (a missing or damaged file: its own error, before anything is made)
    try:
        check_output_dir(out.parent, "export")
    except OutputPathError as exc:
        raise ConfigError(str(exc)) from None
    from streamer.batch.report import export_session

    export_session(src, out, fmt, store)  # as the app's File > Export, from the session read once
    state = analysis_state(store.ended, store.segments, store.results)
    line = f"{src} -> {out}: {count_text(len(store.results), 'result')}"
    until = time_text(state["analysed_until_s"] or 0.0)
    live = is_live(store.metadata)  # listening ends when it is stopped: no recording to reach the end of
    writing = being_written(src) if store.ended is None else False
    ended_by = (store.ended or {}).get("ended_by")
    doing = "listening" if live else "a running analysis"
    if store.exported_running:  # a JSON export made while its session was being written
        line += (f"; the JSON export was made while the session was still being written ({doing}): its results "
                 f"up to {until} into the {'session' if live else 'recording'}")
    elif writing:
        line += (f"; the session is still being written ({doing}): its "
                 f"results so far, up to {until} into the {'session' if live else 'recording'}")
    elif live and store.ended is None:  # a killed app's session (or, where locks cannot be asked, a running one)
        line += (f"; the session has no end record ({'still being written, or ' if writing is None else ''}the "
                 f"program was killed or crashed while it listened): its results go up to {until}")
    elif live and (how := live_ending(ended_by)):  # stopped by an error (a microphone lost)
        line += f"; listening ended {how} at {until}"
    elif not live and state["state"] != ANALYSIS_COMPLETE:  # a killed run's journal, or a stopped analysis
        line += f"; the analysis did not finish ({state['state']}): its results go up to {until} into the recording"
    print(line + ".")
    return 0
