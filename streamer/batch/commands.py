"""``ser batch``: argument parsing only; the engine, the model, dask and pyarrow are imported when it runs."""

from __future__ import annotations

from model.clihelp import DefaultsFormatter
from streamer.commands import agent_names
from streamer.config import CROSSTALK_DB, CROSSTALK_HELP, WINDOW_HELP

Formatter = DefaultsFormatter
NAMES_DEFAULT = "Agent,Customer"


def register(sub) -> None:
    p = sub.add_parser(
        "batch", formatter_class=Formatter, help="analyse a folder of call recordings (local pool or Dask cluster)",
        description="Analyse every recording of a folder (or of a list file) on the streaming engine: per call a "
                    "results file, a summary and a timeline; a table of all calls (CSV, Parquet) and an HTML "
                    "report. Reruns skip calls already done. Responsible use: with --channels split only the "
                    "customer channel is analysed; in the EU, inferring the emotions of employees at work is "
                    "prohibited (AI Act, Art. 5(1)(f)), so analysing agents needs --analyse-agent.")
    p.add_argument("input", metavar="INPUT_DIR_OR_LIST",
                   help="folder of recordings (searched recursively) or a text file with one path per line "
                        "(relative paths in it are read from the list file's folder)")
    p.add_argument("--out", required=True, help="output folder (results, summaries, calls.csv/.parquet, report.html)")
    p.add_argument("--channels", default="split", choices=("split", "mix"),
                   help="split: one track per channel (stereo call recordings); mix: all channels as one track "
                        "(includes the agent, so it needs --analyse-agent)")
    p.add_argument("--names", default=None,
                   help=f"with --channels split: the track names in channel order (default: {NAMES_DEFAULT})")
    p.add_argument("--agent-name", default="Agent", help="the track name(s) of employees, comma-separated")
    p.add_argument("--analyse-agent", "--analyze-agent", action="store_true", dest="analyse_agent",
                   help="also analyse the agent's channel: only where lawful (not for employees in the EU)")
    p.add_argument("--workers", type=int, default=None,
                   help="local worker processes (default: one per core); 1 runs in this process; not with "
                        "--scheduler, whose cluster's workers run the calls")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on a Dask distributed cluster (e.g. tcp://host:8786); workers must see the input "
                        "paths and the model file at the same paths")
    p.add_argument("--model", default="default", help="model file, or 'default' for the bundled model")
    p.add_argument("--window", type=float, default=None,
                   help=WINDOW_HELP)
    p.add_argument("--hop", type=float, default=None,
                   help="hop between windows in seconds (default: the model's, 0.5 s for the bundled one)")
    p.add_argument("--vad", type=int, default=2, choices=range(4), metavar="0-3",
                   help="voice-activity aggressiveness: 0 keeps the most audio, 3 the least")
    p.add_argument("--crosstalk", type=float, default=CROSSTALK_DB, metavar="DB", help=CROSSTALK_HELP)
    p.add_argument("--device", default="cpu", help="device of the workers: cpu (ONNX Runtime), cuda (torch) or auto")
    p.add_argument("--no-adapt", action="store_true",
                   help="do not adapt to each speaker: by default, once about 10 s of a track's speech has been "
                        "analysed, each window is judged against that speaker's own average (models trained for it)")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no closing summary")
    p.set_defaults(func=cmd_batch)


def cmd_batch(args) -> int:
    from model.runtime import check_device
    from streamer.batch.runner import run_batch
    from streamer.batch.settings import BatchSettings
    from streamer.errors import ConfigError

    check_device(args.device)  # refuse a device that is not here once, before any worker starts
    if args.scheduler and args.workers is not None:
        raise ConfigError("--workers does not apply with --scheduler: the Dask cluster's workers run the calls "
                          "(start more of them there).")
    if args.channels == "mix" and args.names is not None:
        raise ConfigError("--names only applies with --channels split (mixed, a call is one track).")
    from streamer.config import analysis_window, crosstalk_setting

    model_window = (args.window, args.hop)  # both given: the model's own is not needed
    if args.window is None or args.hop is None:
        from model.meta import read_meta, resolve_model_path

        meta = read_meta(resolve_model_path(args.model))
        model_window = (meta.window_s, meta.hop_s)
    window_s, hop_s = analysis_window(args.window, args.hop, *model_window)
    settings = BatchSettings(
        model=args.model, window_s=window_s, hop_s=hop_s, vad_aggressiveness=args.vad, channels=args.channels,
        names=tuple(n.strip() for n in (args.names or NAMES_DEFAULT).split(",")),
        agent_names=agent_names(args.agent_name), analyse_agent=args.analyse_agent,
        device=args.device, speaker_adaptation=not args.no_adapt, crosstalk_db=crosstalk_setting(args.crosstalk))
    run = run_batch(args.input, args.out, settings, workers=args.workers, scheduler=args.scheduler,
                    progress=not args.quiet)
    if not args.quiet:
        print(f"ser batch: {run.line()}")
        if run.analysed or run.skipped:  # which channels the results are of (none when every call failed)
            print(f"ser batch: {settings.channel_statement()}")
        from streamer.batch.report import CHECK_NAMES, call_name, narrowband_statement, with_notes, without_speech

        def name(call: dict) -> str:  # as the report names it: its path under the input (calls.csv: path)
            return call_name(call, args.input)

        if band := narrowband_statement(run.calls, name):
            print(f"ser batch: {band}")
        noted = with_notes(run.calls, name)
        if noted:  # also those a rerun skipped, whose notes were printed when they were analysed
            print(f"ser batch: {len(noted)} {'call has notes on its' if len(noted) == 1 else 'calls have notes on their'} "
                  f"audio (clipped, very quiet, damaged, channels alike ...): {', '.join(noted[:5])}{' ...' if len(noted) > 5 else ''}; see the "
                  "notes column of the table and the report.")
        empty = without_speech(run.calls, name)
        if empty:
            print(f"ser batch: {len(empty)} analysed {'channel has' if len(empty) == 1 else 'channels have'} no "
                  f"speech: {', '.join(f'{call} ({name})' for call, name in empty[:5])}"
                  f"{' ...' if len(empty) > 5 else ''}" + (f"; {CHECK_NAMES}." if settings.channels == "split" else "."))
        print(f"ser batch: report {run.out_dir / 'report.html'}, table {run.out_dir / 'calls.csv'}")
    return run.exit_status
