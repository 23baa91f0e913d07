"""``ser analyze``, ``ser session`` and ``ser devices``: argument parsing only; the engine, the model and PortAudio
are imported when a command runs."""

from __future__ import annotations

from model.clihelp import DefaultsFormatter
from streamer.config import CROSSTALK_DB, CROSSTALK_HELP, WINDOW_HELP

Formatter = DefaultsFormatter
FORMATS = ("jsonl", "csv", "json")


def agent_names(text: str | None) -> tuple[str, ...]:
    """The track names of employees that ``--agent-name`` gives, comma-separated (``ser analyze`` and
    ``ser batch``)."""
    return tuple(n.strip() for n in (text or "").split(",") if n.strip())


def is_agent(name: str, agents) -> bool:
    """Whether the track ``name`` is one of the employees' ``agents`` (``--agent-name``), in any
    letter case: ``--names agent,customer`` names the agent as ``Agent`` does."""
    return name.casefold() in {a.casefold() for a in agents}


def check_not_all_agents(names, agents) -> None:
    """Refuse track names that are all employees' (``--agent-name``): no channel would be analysed,
    which is a mistake in the names (``ser analyze`` and ``ser batch``, without ``--analyse-agent``)."""
    if names and all(is_agent(n, agents) for n in names):
        from streamer.errors import ConfigError  # here: the streamer package imports the engine

        raise ConfigError(f"every track name ({','.join(names)}) is an agent's (--agent-name {','.join(agents)}), "
                          "so no channel would be analysed. Name the customer's channel, e.g. --names Agent,Customer.")


def register(sub) -> None:
    p = sub.add_parser("analyze", formatter_class=Formatter, help="analyse audio files on the streaming engine",
                       description="Find speech in each file and predict emotion, gender and valence/arousal/"
                                   "dominance per window and per utterance. Writes one result file per input "
                                   "and prints a summary per input and track.")
    p.add_argument("files", nargs="+", metavar="FILE", help="audio files (WAV, FLAC, OGG, MP3 ...)")
    p.add_argument("--out", default=".",
                   help="folder for the result files; with one input, a file name ending in .jsonl, .csv or "
                        ".json names its result file (and its format)")
    p.add_argument("--format", default=None, choices=FORMATS,
                   help="result file format: jsonl (a session file), csv (one row per result) or json "
                        "(default: the --out file's ending, else jsonl)")
    p.add_argument("--window", type=float, default=None,
                   help=WINDOW_HELP)
    p.add_argument("--hop", type=float, default=None,
                   help="hop between windows in seconds (default: the model's, 0.5 s for the bundled one)")
    p.add_argument("--vad", type=int, default=2, choices=range(4), metavar="0-3",
                   help="voice-activity aggressiveness: 0 keeps the most audio, 3 the least")
    p.add_argument("--channels", default="mix", choices=("mix", "split"),
                   help="mix all channels to one track, or analyse each channel as its own track")
    p.add_argument("--names", help="with --channels split: comma-separated track names, e.g. Agent,Customer "
                                   "(default: ch1, ch2 ...)")
    p.add_argument("--agent-name", default="Agent",
                   help="with --channels split: the track name(s) of employees, comma-separated; their tracks are not "
                        "analysed unless --analyse-agent (inferring the emotions of people at work is prohibited in "
                        "the EU, AI Act Art. 5(1)(f))")
    p.add_argument("--crosstalk", type=float, default=CROSSTALK_DB, metavar="DB", help=CROSSTALK_HELP)
    p.add_argument("--analyse-agent", "--analyze-agent", action="store_true", dest="analyse_agent",
                   help="with --channels split: analyse the employees' tracks too (only where this is lawful)")
    p.add_argument("--realtime", action="store_true", help="replay at real-time pace instead of as fast as possible")
    p.add_argument("--speed", type=float, default=None, help="with --realtime: replay speed factor (default: 1)")
    p.add_argument("--model", default="default", help="model file, or 'default' for the bundled model")
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda")
    p.add_argument("--runtime", default="auto", choices=("auto", "onnx", "torch"),
                   help="auto: ONNX Runtime on the CPU when the model has its .onnx export beside it, torch for "
                        "CUDA; torch needs the training flavour installed")
    p.add_argument("--threads", type=int, default=0,
                   help="CPU threads for each model computation; 0 chooses: as fast as possible, half of the cores "
                        "for the networks and half for the voice encoder beside them; with --realtime, one thread")
    p.add_argument("--batch", type=int, default=None,
                   help="windows run through the model at once (default: 16 as fast as possible, 4 with --realtime)")
    p.add_argument("--no-adapt", action="store_true",
                   help="do not adapt to each speaker: by default, once about 10 s of a track's speech has been "
                        "analysed, each window is judged against that speaker's own average (models trained for it)")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    p.set_defaults(func=cmd_analyze)

    p = sub.add_parser("session", formatter_class=Formatter,
                       help="export a session file to CSV, JSON or an HTML report",
                       description="Export a session file, as the app's File > Export does: the .jsonl file ser "
                                   "analyze writes (with --format jsonl, or beside a CSV or JSON result as "
                                   "FILE.partial.jsonl until it is written: what a killed run leaves), or one the "
                                   "app saved (File > Sessions lists them).")
    p.add_argument("session", metavar="SESSION", help="the session file (.jsonl)")
    p.add_argument("out", metavar="OUT", help="the file to write; its ending chooses the format: .csv (one row per "
                                              "result), .json (the whole session) or .html (its report)")
    p.set_defaults(func=cmd_session)

    p = sub.add_parser("devices", formatter_class=Formatter, help="list audio input devices",
                       description="List the input devices PortAudio sees, with their channels and default rates.")
    p.set_defaults(func=cmd_devices)


def cmd_analyze(args) -> int:
    from streamer.cli_analyze import run_analyze

    return run_analyze(args)


def cmd_session(args) -> int:
    from streamer.cli_session import run_session

    return run_session(args)


def cmd_devices(args) -> int:
    from streamer.errors import DeviceError
    from streamer.sources import list_input_devices

    devices = list_input_devices()
    if not devices:
        raise DeviceError("no audio input devices found. Plug in a microphone, or check that the sound server "
                          "(PulseAudio/PipeWire) is running and this user may use it.")
    print(f"{'index':>5}  {'ch':>3}  {'rate':>7}  {'host API':<12} name")
    for d in devices:
        mark = " (default)" if d.is_default else ""
        print(f"{d.index:>5}  {d.max_input_channels:>3}  {d.default_samplerate:>7.0f}  {d.hostapi:<12} {d.name}{mark}")
    return 0
