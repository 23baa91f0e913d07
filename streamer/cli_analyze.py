"""The work behind ``ser analyze`` (argument parsing lives in :mod:`streamer.commands`)."""

from __future__ import annotations

import glob
import os
import shlex
import sys
from pathlib import Path

from model.errors import OutputPathError, SERError, Terminated
from model.files import check_output_dir, fitted_name
from streamer.analyze import analyze_file
from streamer.commands import FORMATS, agent_names, check_not_all_agents, is_agent
from streamer.config import EngineConfig, analysis_window, crosstalk_setting
from streamer.errors import ConfigError, SessionError, TrackNamesError
from streamer.session import being_written, end_record, export_csv, export_json, is_session_file, session_head_tail
from streamer.sources import FileSource, check_track_names
from streamer.summary import count_text, summarize, time_text

EXIT_SOME_FAILED = 1
PROGRESS_MIN_S = 60.0  # files at least this long get a progress bar
FAST_BATCH_WINDOWS = 16  # windows per model call as fast as possible, unless --batch says otherwise
REALTIME_BATCH_WINDOWS = 4  # with --realtime
# Beside a CSV or JSON output while its file is analysed: every result as it happens (a session file).
JOURNAL_SUFFIX = ".partial.jsonl"


def _once_each(files: list[str]) -> list[str]:
    """The files in order, each once: a file given twice (by the same or another path) is analysed
    once, and a note says so."""
    seen: dict[Path, str] = {}
    out = []
    for name in files:
        try:
            key = Path(name).resolve()
        except OSError:
            key = Path(name).absolute()
        if key in seen:
            print(f"ser analyze: note: {name} is {seen[key]} given again; it is analysed once.", file=sys.stderr)
            continue
        seen[key] = name
        out.append(name)
    return out


def _result_stems(files: list[str]) -> dict[str, str]:
    """Each input's result name before its ending: the input's stem; its whole name when another
    input shares the stem (``clip.wav``, ``clip.flac``: ``clip.wav.csv``, ``clip.flac.csv``); led by
    its folder's name when another input in another folder has the same name (``a/x.wav``,
    ``b/x.wav``: ``a__x.csv``, ``b__x.csv``), so that results of different recordings do not look
    like reruns (``x-2.csv``)."""
    names_of_stem: dict[str, set[str]] = {}
    folders_of_name: dict[str, set[str]] = {}
    for f in files:
        p = Path(f)
        names_of_stem.setdefault(p.stem.lower(), set()).add(p.name.lower())
        folders_of_name.setdefault(p.name.lower(), set()).add(os.path.abspath(p.parent))
    leads = {name: _distinct_folders(folders) for name, folders in folders_of_name.items() if len(folders) > 1}
    stems = {}
    for f in files:
        p = Path(f)
        stem = p.name if len(names_of_stem[p.stem.lower()]) > 1 else p.stem
        lead = leads.get(p.name.lower(), {}).get(os.path.abspath(p.parent))
        stems[f] = f"{lead}__{stem}" if lead else stem
    return stems


def _distinct_folders(folders: set[str]) -> dict[str, str]:
    """The folders' trailing parts, with ``__`` between their folders, at the smallest depth at which
    no two are alike: ``a/day1`` and ``b/day1`` give ``a__day1`` and ``b__day1`` (``day1`` alone
    would leave the two results told apart only by a rerun's number)."""
    parts = {f: Path(f).parts[1:] for f in folders}  # without the root
    for k in range(1, max(len(p) for p in parts.values()) + 1):
        leads = {f: "__".join(p[-k:]) for f, p in parts.items()}
        if len({lead.lower() for lead in leads.values()}) == len(leads):
            return leads
    return {f: "__".join(p) for f, p in parts.items()}


def _out_path(out_dir: Path, stem: str, fmt: str, taken: set[Path]) -> Path:
    """``out_dir/<stem>.<fmt>``, numbered when that is taken in this run or exists from an earlier
    one (results are never overwritten). A CSV or JSON document's name is taken too while a journal
    of it (``<file>.partial.jsonl``) is there: another run's analysing now, or one left by a run
    that did not finish, which is kept and pointed out (a new document beside an older run's
    journal would pass for its pair). A name too long for a file name keeps the stem's start and a
    suffix (:func:`model.files.fitted_name`)."""

    def named(n: int) -> Path:
        return out_dir / fitted_name(stem, f".{fmt}" if n == 1 else f"-{n}.{fmt}")

    documents: dict[Path, Path] = {}  # a journal left by a run that did not finish -> its document's name

    def free(candidate: Path) -> bool:
        if candidate in taken or candidate.exists():
            return False
        if fmt == "jsonl":
            return True
        # Journals of this name: a run's analysing now (streamer.session.being_written), or left.
        leftover = _journals(candidate, writing=False)
        documents.update((j, candidate) for j in leftover)
        return not leftover and not _journals(candidate, writing=True)

    path = named(1)
    n = 2
    while not free(path):
        path = named(n)
        n += 1
    if fmt != "jsonl":
        left = list(documents)
        how, unless = "", ""
    else:  # session files of earlier runs of this name that have no end record (killed, not running)
        earlier = [named(1), *sorted(out_dir.glob(f"{glob.escape(stem)}-*.{fmt}"))]
        unfinished = {p: being_written(p) for p in earlier if p != path and p not in taken and p.is_file()
                      and _unfinished(p)}
        left = [p for p, writing in unfinished.items() if not writing]
        unknown = None in unfinished.values()  # no locks to ask (Windows): maybe still running
        how, unless = "no end record; ", "; unless another run is still writing" if unknown else ""
    if left:
        which = (f"{left[0]} is left from a run" if len(left) == 1 else
                 f"{', '.join(str(p) for p in left[:-1])} and {left[-1]} are left from runs")
        # One journal: exported to its document's name (free: this run takes the next), quoted for a shell.
        export = (f"ser session {shlex.quote(str(left[0]))} {shlex.quote(str(documents[left[0]]))}"
                  if len(documents) == 1 else "ser session FILE OUT.csv")
        print(f"ser analyze: note: {which} that did not finish ({how}its results so far: export with {export}, "
              f"open with ser gui --session, or delete{unless}); kept, and this run writes {path.name}.",
              file=sys.stderr)
    taken.add(path)
    return path


def _journal_stem(document: Path) -> str:
    """The start of a document's journal names: the document's name, or, when a journal's name would be
    longer than a file name can be, its start and a suffix made from the whole name (fitted_name)."""
    return fitted_name(document.name, ".partial-99.jsonl")[:-len(".partial-99.jsonl")]


def _journals(document: Path, writing: bool) -> list[Path]:
    """The journals beside a CSV or JSON document (``<file>.partial.jsonl``, ``.partial-2.jsonl``
    ...) that a run is writing now (``writing``), or that runs which did not finish left."""
    stem = _journal_stem(document)
    found = [document.with_name(stem + JOURNAL_SUFFIX),
             *sorted(document.parent.glob(f"{glob.escape(stem)}.partial-*.jsonl"))]
    return [j for j in found if j.exists() and bool(being_written(j)) == writing]


def _unfinished(session_file: Path) -> bool:
    """A session file without its end record (the run writing it was killed), read from its end."""
    try:
        return end_record(session_head_tail(session_file)[1]) is None
    except OSError:
        return False


def _journal_path(out_path: Path) -> Path:
    """Where a CSV or JSON document's results go until it is written: ``<file>.partial.jsonl``, or
    ``<file>.partial-2.jsonl`` ... when an earlier run that did not finish left that one."""
    stem = _journal_stem(out_path)
    journal = out_path.with_name(stem + JOURNAL_SUFFIX)
    n = 2
    while journal.exists():
        journal = out_path.with_name(f"{stem}.partial-{n}.jsonl")
        n += 1
    return journal


def _out_target(args) -> tuple[Path, str | None]:
    """Where results go: (the folder, the one result file's name or None), and ``args.format``
    settled. ``--out`` names a result file when it ends in a format's suffix and is not a folder;
    that needs a single input, and its ending gives the format unless ``--format`` says the same."""
    try:
        out = Path(args.out).expanduser()
    except RuntimeError:  # ~name of a user this system does not know
        raise ConfigError(f"--out {args.out}: no such user's home folder; give the folder's path.") from None
    if str(args.out).endswith(("/", os.sep)):  # DIR/: a folder, whatever its name
        args.format = args.format or "jsonl"
        return out, None
    ending = out.suffix.lower().lstrip(".")
    if ending.isalpha() and ending not in FORMATS and not out.exists():  # res.txt: a file meant, not a folder
        raise ConfigError(f"--out {out}: .{ending} is not a result format ({', '.join(FORMATS)}); name the file "
                          f".{' or .'.join(FORMATS)}, or give a folder (a new folder's name without an ending; "
                          "an existing folder is used whatever its name).")
    if ending not in FORMATS or out.is_dir():
        args.format = args.format or "jsonl"
        return out, None
    if len(args.files) != 1:
        raise ConfigError(f"--out {out}: names one result file, but {len(args.files)} input files are given; "
                          "give a folder for their result files.")
    if args.format not in (None, ending):
        raise ConfigError(f"--out {out} ends in .{ending}, but --format is {args.format}; "
                          f"name the file .{args.format} or leave --format out.")
    args.format = ending
    return out.parent, out.stem


def _duration_s(path: Path) -> float | None:
    from model.audio import audio_info

    try:
        return float(audio_info(path).duration)
    except Exception:  # noqa: BLE001 - the engine reports unreadable files with a proper message
        return None


def _fast_threads(model: str) -> int:
    """Threads of each model computation as fast as possible: every core, or half of them for a
    model with voice-emotion heads, whose voice encoder runs in a thread of its own beside the
    networks (the engine's voice thread)."""
    from model.meta import read_meta, resolve_model_path

    cores = os.cpu_count() or 1
    try:
        arch = read_meta(resolve_model_path(model)).arch
    except (SERError, OSError):
        return cores  # loading the model says what is wrong with it
    return max(1, cores // 2) if arch.voice_gender and arch.voice_emotion else cores


def _channel_count(path: Path) -> int | None:
    """The file's channels as its header gives them (None when it cannot be read: its analysis says why)."""
    from model.audio import audio_info

    try:
        return int(audio_info(path).channels)
    except Exception:  # noqa: BLE001 - any failure is the analysis's to report, in its words
        return None


def run_analyze(args) -> int:
    """Analyse every file; bad files are reported and skipped. Returns the exit status."""
    from model.runtime import load_predictor

    args.files = _once_each(args.files)
    names = [n.strip() for n in args.names.split(",")] if args.names else None
    if names and args.channels != "split":
        raise ConfigError("--names only applies with --channels split.")
    if names:
        check_track_names(names)
    out_dir, out_stem = _out_target(args)  # before the model loads: a wrong --out fails at once
    if args.speed is not None and not args.realtime:
        raise ConfigError("--speed only applies with --realtime (as fast as possible has no speed to set).")
    args.speed = 1.0 if args.speed is None else args.speed
    if not args.speed > 0:
        raise ConfigError(f"--speed must be positive, got {args.speed}.")
    agents = agent_names(args.agent_name)
    skip = tuple(i for i, n in enumerate(names or []) if is_agent(n, agents) and not args.analyse_agent)
    if not args.analyse_agent:
        check_not_all_agents(names, agents)
    if args.threads < 0 or (args.batch is not None and args.batch < 1):
        raise ConfigError("--threads must be 0 or more and --batch 1 or more.")
    # As fast as possible, the model may take every core and larger batches; in real time, one
    # thread and small batches keep the latency low and leave the machine to its user.
    threads = args.threads or (1 if args.realtime else _fast_threads(args.model))
    batch = args.batch if args.batch is not None else (REALTIME_BATCH_WINDOWS if args.realtime else FAST_BATCH_WINDOWS)
    predictor = load_predictor(args.model, device=args.device, runtime=args.runtime, threads=threads)
    window_s, hop_s = analysis_window(args.window, args.hop, predictor.window_s, predictor.hop_s,
                                      predictor.min_samples / predictor.sample_rate)
    config = EngineConfig(window_s=window_s, hop_s=hop_s,
                          vad_aggressiveness=args.vad, device=args.device, emit_audio=False,
                          inference_threads=threads, max_batch_windows=batch, speaker_adaptation=not args.no_adapt,
                          skip_tracks=skip, crosstalk_db=crosstalk_setting(args.crosstalk))
    if args.channels == "split" and not names and not args.quiet:
        print("ser analyze: note: every channel is analysed (named ch1, ch2, ...). For a call recording, name "
              "them, e.g. --names Agent,Customer: the agent's channel is then left out, as ser batch does.",
              file=sys.stderr)
    # Said before the first file whose channels the names fit (said before all, a mono file's failure read
    # as if a channel had been left out).
    skip_note = (f"ser analyze: not analysing {', '.join(names[i] for i in skip)} (employee channel: inferring the "
                 "emotions of people at work is prohibited in the EU, AI Act Art. 5(1)(f); --analyse-agent analyses "
                 "it where that is lawful).") if skip else None
    if (args.channels == "split" and names and len(names) > 1 and not skip and not args.analyse_agent
            and not args.quiet):
        # Named, but none as the agent's (ser batch refuses such names): every voice is analysed. (With
        # one name, a mono file's, its own note says what a mono call holds.)
        said = f" ({', '.join(agents)})" if agents else ""
        how = f"name it {agents[0]} (or give its name with --agent-name)" if agents else "give its name with --agent-name"
        skip_note = (f"ser analyze: note: none of the track names ({', '.join(names)}) is the agent's{said}, so "
                     f"every channel is analysed. If one holds an employee's voice, {how}: it is then left out, as "
                     "ser batch does.")
    created = not out_dir.exists()
    try:  # made if needed, and tried: a file, a read-only disk or folder fails here, not at the first file
        out_dir = check_output_dir(out_dir, "result files")  # "~" expanded, as it is checked
    except OutputPathError as exc:
        raise ConfigError(str(exc)) from None
    taken: set[Path] = set()
    failed = 0
    stems = _result_stems(args.files)
    for i, name in enumerate(args.files):
        src = Path(name)
        if src.is_file() and is_session_file(src):  # a killed run's journal, given to be analysed again
            print(f"ser analyze: {src}: a session file (the results of an analysis), not audio. Export it with "
                  f"'ser session {src} OUT.csv' (or .json, .html), or open it in the app: ser gui --session {src}",
                  file=sys.stderr)
            failed += 1
            continue
        out_path = _out_path(out_dir, out_stem or stems[name], args.format, taken)
        channels = _channel_count(src) if args.channels == "split" and src.is_file() else None
        if skip_note and channels == len(names):
            print(skip_note, file=sys.stderr)
            skip_note = None
        mono = (f" {src} has one channel: in a call recorded in mono every voice is in it, the agent's too, so it "
                "cannot be split into agent and customer (ser batch refuses such calls; --channels mix analyses it "
                "whole, where analysing every voice in it is lawful).") if channels == 1 else ""
        if mono and names and len(names) == 1:  # analysed: said before it
            print(f"ser analyze: note:{mono}", file=sys.stderr)
        try:
            res = _analyze_one(src, out_path, predictor, config, args, names, skip)
        except KeyboardInterrupt:
            if rest := args.files[i + 1:]:
                print(f"ser analyze: not analysed ({count_text(len(rest), 'file')}): {', '.join(rest)}.",
                      file=sys.stderr)
            raise
        except SERError as exc:
            hint = (f" To analyse the files in it, give them (e.g. {src}/*.wav), or use 'ser batch {src}' for a "
                    "folder of calls." if src.is_dir() else mono if isinstance(exc, TrackNamesError) else "")
            print(f"ser analyze: {exc}{hint}", file=sys.stderr)
            failed += 1
            continue
        for msg in res.notices:
            print(f"ser analyze: note: {msg}", file=sys.stderr)
        if not args.quiet:
            dur = time_text(res.duration_s) if res.duration_s is not None else "unknown length"
            if res.errors:  # the header's length, and how much of it could be read
                dur = f"{dur} by its header, {time_text(res.analysed_until_s)} of it read"  # as the error says where
            print(f"{src} ({dur}) -> {out_path}", flush=True)
            _print_summary(res.track_names, res.segments, res.results, res.metadata, skip)
        if res.errors:
            failed += 1
            for msg in res.errors:
                print(f"ser analyze: {msg} (partial results written to {out_path})", file=sys.stderr)
    if created and not any(out_dir.iterdir()):
        out_dir.rmdir()  # every input failed before writing anything: leave no empty folder behind
    if failed:
        print(f"ser analyze: {failed} of {count_text(len(args.files), 'file')} failed.",
              file=sys.stderr)
    return EXIT_SOME_FAILED if failed else 0


def _print_summary(track_names: list[str], segments, results, metadata: dict, skip: tuple[int, ...],
                   stopped_at: float | None = None) -> None:
    """Each track's summary line, as ``ser analyze`` prints it under a file's name; ``stopped_at``:
    where an interrupted analysis stopped (a track with no speech yet has none in that part, which
    says nothing of the rest)."""
    for s in summarize(track_names, segments, results, (metadata.get("model") or {}).get("heads")):
        line = f"{s.track_name}: not analysed (employee channel)" if s.track in skip else s.line()
        head = f"{s.track_name}: no speech"
        if stopped_at is not None and s.track not in skip and not s.n_segments and line.startswith(head):
            rest = line[len(head):]  # " found", or what was left out as not speech
            line = f"{head} in the {time_text(stopped_at)} analysed{'' if rest == ' found' else rest}"
        print(f"  {line}", flush=True)


def _report_interrupt(exc: KeyboardInterrupt, src: Path, out_path: Path, session_file: Path,
                      summary: tuple[int, ...] | None = None) -> None:
    """Say, once, how far the analysis of ``src`` got before Ctrl+C or SIGTERM and where its results
    are (``session_file``: the session the engine closed on the way out, whose end record says), and
    with ``summary`` (the tracks not analysed) each track's summary of the results so far, as a run
    to the end gives it. An interrupt that came as the analysis reached the end of the file is said
    to have left complete results."""
    from streamer.session import ANALYSIS_COMPLETE, SessionStore, analysis_state

    try:
        store = SessionStore.open(session_file)
        state = analysis_state(store.ended, store.segments, store.results)
        until, complete = state["analysed_until_s"], state["state"] == ANALYSIS_COMPLETE
        engine = store.metadata.get("engine") or {}
        total = engine.get("source", {}).get("duration_s")
        ended = store.ended is not None
    except SERError:
        store = until = total = None
        engine = {}
        complete = ended = False
    word = "terminated" if isinstance(exc, Terminated) else "interrupted"
    exc.reported = True  # ser's main says nothing more
    if summary is not None and (tracks := engine.get("tracks")):
        of = "" if total is None else f" of {time_text(total)}"
        print(f"{src} ({word} after {time_text(until or 0.0)}{of}) -> {out_path}", flush=True)
        _print_summary(list(tracks), store.segments, store.results, engine, summary,
                       None if complete else until or 0.0)
    if complete:
        print(f"ser analyze: {word}: {src} had been analysed to its end"
              + ("" if until is None else f" ({time_text(until)})") + f"; its results are complete in {out_path}.",
              file=sys.stderr)
        return
    how_far = "" if until is None else f" after {time_text(until)}" + ("" if total is None else f" of {time_text(total)}")
    if not ended and session_file == out_path:  # its end record could not be written (a full disk)
        marked = f"; {session_file} could not record that the analysis stopped (is the disk full?)"
    elif out_path.suffix == ".csv":
        marked = "; its last row, of kind \"stopped\", says where the analysis stopped"
    else:
        marked = "; the file marks the analysis as stopped"
    print(f"ser analyze: {word}: {src}{how_far}; the results so far are in {out_path}{marked}.", file=sys.stderr)


def _refuse_twins_on_stop(exc: KeyboardInterrupt, src: Path, source, skip: tuple[int, ...], files: list[Path]) -> None:
    """Ctrl+C or SIGTERM: a call whose analysed channel held the same sound as the agent's in all that
    was read is refused as it is at the file's end (model.audio.agent_twin_refusal): its results so
    far are the agent's as much as the customer's, and ``files`` (the results, the journal) are
    removed; ``exc`` is then said. Nothing happens otherwise."""
    refusal = _twin_refusal(src, source.twins_so_far(), list(source.track_names), skip)
    if refusal is None:
        return
    for path in files:
        path.unlink(missing_ok=True)
    word = "terminated" if isinstance(exc, Terminated) else "interrupted"
    print(f"ser analyze: {word}: {refusal}", file=sys.stderr)
    exc.reported = True  # ser's main says nothing more


def _twin_refusal(src: Path, pairs, names: list[str], skip: tuple[int, ...], errors=()) -> str | None:
    """model.audio.agent_twin_refusal for ``src``'s tracks ``names``, of which ``skip`` are not analysed."""
    from model.audio import agent_twin_refusal

    analysed = [t for t in range(len(names)) if t not in skip]
    return agent_twin_refusal(str(src), pairs, analysed, names, errors)


def _kept_in(journal: Path) -> str:
    """Where a CSV or JSON's results are when the document could not be written (a full disk)."""
    return (f"are kept in {journal} (a session file: the app opens it, and `ser analyze` can be run again once "
            "there is room).")


def _analyze_one(src: Path, out_path: Path, predictor, config: EngineConfig, args, names,
                 skip: tuple[int, ...] = ()):
    """Analyse one file into ``out_path`` (``skip``: the tracks not analysed). Returns the analysis."""
    bar = None
    duration = None if args.quiet else _duration_s(src)
    if duration is not None and duration >= PROGRESS_MIN_S:
        from tqdm import tqdm

        bar = tqdm(total=round(duration, 1), unit="s", desc=src.name, leave=False, disable=None,
                   bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s audio [{elapsed}<{remaining}]")

    def progress(done_s: float) -> None:
        if bar is not None:
            bar.update(min(done_s, bar.total) - bar.n)

    # The session file holds every result; only what the summary reads stays in memory. The source is
    # made here so that a stop can ask it what its channels held so far (_refuse_twins_on_stop).
    source = FileSource(src, pace="realtime" if args.realtime else "fast", speed=args.speed, channels=args.channels,
                        track_names=names)
    kwargs = dict(source=source, progress=progress, keep_windows=False)
    try:
        if args.format == "jsonl":
            try:
                res = analyze_file(src, predictor, config, session_path=out_path, **kwargs)
            except KeyboardInterrupt as exc:
                _refuse_twins_on_stop(exc, src, source, skip, [out_path])
                if out_path.is_file():  # stopped before the session file was made: ser's main says it
                    _report_interrupt(exc, src, out_path, out_path, None if args.quiet else skip)
                raise
        else:
            # CSV and JSON are whole documents, written at the end; until then every result goes to
            # a journal (a session file) beside them, so a kill loses nothing and Ctrl+C or SIGTERM
            # still writes the document from what was analysed.
            journal = _journal_path(out_path)
            try:
                res = analyze_file(src, predictor, config, session_path=journal, **kwargs)
            except SessionError as exc:  # writing the journal failed
                if not journal.is_file():
                    raise
                # Writing failed part-way (a full disk): the journal keeps what was analysed; the
                # document cannot be written either, so say where the results are, by the name asked for.
                raise SERError(f"{out_path}: not written: {exc} The results analysed until then "
                               f"{_kept_in(journal)}") from exc
            except KeyboardInterrupt as exc:
                _refuse_twins_on_stop(exc, src, source, skip, [journal, out_path])
                if journal.is_file():
                    (export_csv if args.format == "csv" else export_json)(journal, out_path)
                    _report_interrupt(exc, src, out_path, journal, None if args.quiet else skip)
                    journal.unlink()  # the document says how far the analysis got
                raise
            # The document is made from the journal whether the run ended or was stopped, so both
            # give the same document (metadata as a session file keeps it: under "engine").
            try:
                (export_csv if args.format == "csv" else export_json)(journal, out_path)
            except SERError as exc:  # a full disk: the journal holds every result
                raise SERError(f"{exc} The results {_kept_in(journal)}") from exc
            journal.unlink(missing_ok=True)  # the document says how far the analysis got
    finally:
        if bar is not None:
            bar.close()
    if refusal := _twin_refusal(src, res.twin_pairs, res.track_names, skip, res.errors):
        # A mono recording saved as stereo: the customer's channel is the agent's too. Its results are
        # the agent's as much as the customer's: none are kept, as ser batch keeps none of such a call.
        from model.errors import AudioError

        out_path.unlink(missing_ok=True)
        raise AudioError(refusal)
    return res
