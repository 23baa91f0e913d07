"""Batch outputs for people: a timeline plot per call, the table of all calls (CSV and Parquet) and a
self-contained HTML report (plots embedded as base64 PNGs, no external files or scripts).

Plots are drawn on matplotlib's Agg canvas directly (no pyplot: no global state, safe in any worker).
"""

from __future__ import annotations

import base64
import csv
import html
import io
import math
import os
from pathlib import Path

from model.audio import TELEPHONE_RATE_HZ, band_edge_khz, narrowband_message
from model.errors import OutputPathError
from model.files import atomic_write, atomic_writer
from model.labels import label_color
from model.times import tenths
from streamer.batch.summary import ANGER_LABEL
from streamer.config import MIN_CONFIDENT_SPEECH_S, SAMPLE_RATE_HZ
from streamer.session import csv_values, ended_unreported
from streamer.summary import (
    BUILT_IN_HEADS,
    clock_text,
    count_text,
    left_out_text,
    pause_length_text,
    span_text,
    time_text,
)

PLOT_DPI = 80
PNG_COMPRESS_LEVEL = 1
TIMELINE_WIDTH_IN = 10.0
LANE_HEIGHT_IN = 1.5
SEGMENT_COLOR = "#dddddd"
BAND_Y = (1.04, 0.1)  # the top-emotion band of a timeline lane: its bottom and height, above arousal and valence
BAND_TOP = 1.16
UNCERTAIN_RGB = (1.0, 1.0, 1.0)  # white, hatched: apart from the grey of speech and of neutral
UNCERTAIN_EDGE_RGB = (0.45, 0.45, 0.45)
UNCERTAIN_HATCH = "////"
TITLE_ROW_IN = 0.22  # the timeline's title has a row of its own above the key (they overlapped)
CAPTION_LINE_IN = 0.14  # the timeline caption's second line
DEFAULT_HOP_S = 0.5  # a band cell's width when a lane has a single window
AROUSAL_COLOR = "#d62728"
VALENCE_COLOR = "#1f77b4"
ANGER_MARK_COLOR = "#000000"
PAUSE_COLOR = "#b06000"  # a live session's pauses (the app's marker colour, darker for white paper)
# Anger is called out (the timeline's mark, the report's "angry moments") only where it was the
# likelier reading: a window's anger probability at least this.
ANGER_MARK_MIN = 0.5
SECONDS_PER_HOUR = 3600.0
GAP_TOLERANCE_S = 0.01  # result times are rounded; windows closer than this count as touching

# Columns of the table of all calls, before the per-label shares; one row per analysed speaker of each
# call, and one row per failed call (speaker columns empty).
TABLE_COLUMNS = (
    ("call_id", "string"), ("path", "string"), ("status", "string"), ("error", "string"),
    ("duration_s", "float64"), ("speaker", "string"), ("channel", "int64"), ("speech_s", "float64"),
    ("n_segments", "int64"), ("n_utterances", "int64"), ("top_emotion", "string"), ("uncertain_s", "float64"),
    ("mean_valence", "float64"),
    ("mean_arousal", "float64"), ("mean_dominance", "float64"), ("negative_valence_share", "float64"),
    ("peak_arousal", "float64"), ("peak_arousal_s", "float64"), ("peak_anger", "float64"),
    ("peak_anger_s", "float64"), ("channels_analysed", "string"), ("channels_not_analysed", "string"),
    ("key", "string"), ("notes", "string"), ("sample_rate_hz", "int64"),
)
# Columns added since, after the per-label shares and further heads' columns: a table's earlier
# columns keep their places for readers that go by position.
LATER_COLUMNS = (("analysed_s", "float64"),)


def _figure(width_in: float, height_in: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=PLOT_DPI)
    FigureCanvasAgg(fig)
    return fig


_GLYPHS: set[int] | None = None


def _drawable(text: str) -> str:
    """``text`` as the plots' font can draw it: characters it has no glyph for (Tamil, Chinese ...
    in a file's name) become "?" instead of empty boxes and a warning per character; the HTML
    report and the tables give the name in full."""
    global _GLYPHS
    if text.isascii():
        return text
    if _GLYPHS is None:
        from matplotlib import font_manager
        from matplotlib.ft2font import FT2Font

        _GLYPHS = set(FT2Font(font_manager.findfont(font_manager.FontProperties())).get_charmap())
    return "".join(ch if ord(ch) in _GLYPHS else "?" for ch in text)


def _png(fig) -> bytes:
    buf = io.BytesIO()
    # No metadata: the same results give the same bytes, wherever they were drawn. Light compression:
    # zlib's default level took as long as drawing the plot, for files only ~10% smaller.
    fig.savefig(buf, format="png", metadata={"Software": None}, pil_kwargs={"compress_level": PNG_COMPRESS_LEVEL})
    return buf.getvalue()


def timeline_series(wins, cuts=()) -> tuple[list[float], list[float], list[float]]:
    """Window middles, arousal and valence of a track's window results (in time order), with NaN
    between speech segments so that the lines break across the pauses: the windows of one segment
    overlap, and a window that starts after the previous one ended begins the next segment. They
    break at ``cuts`` too: a live session's pauses, which its time axis leaves out."""
    xs, ar, va = [], [], []
    prev_end = prev_mid = None
    for r in wins:
        mid = (r.start_s + r.end_s) / 2
        cut = prev_mid is not None and any(prev_mid < c <= mid for c in cuts)
        prev_mid = mid
        if prev_end is not None and (r.start_s > prev_end + GAP_TOLERANCE_S or cut):
            xs.append(math.nan)
            ar.append(math.nan)
            va.append(math.nan)
        prev_end = r.end_s if prev_end is None else max(prev_end, r.end_s)
        xs.append(mid)
        ar.append(r.arousal)
        va.append(r.valence)
    return xs, ar, va


def band_hop(wins, hop_s: float = DEFAULT_HOP_S) -> float:
    """The width of a window's cell in the timeline's emotion band: the hop, the step most windows of
    one speech run have from a window to the next one it overlaps (between runs the steps are
    anything: with one window per turn, the most common step was the turns', and the band covered
    the silences between them); ``hop_s``, the analysis's hop, when no two windows overlap. ``wins``:
    one track's window results in time order."""
    steps = [round(b.start_s - a.start_s, 3) for a, b in zip(wins, wins[1:]) if a.start_s < b.start_s < a.end_s]
    return max(set(steps), key=steps.count) if steps else hop_s


TICK_STEPS_S = (10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)  # of a time axis in m:ss
MAX_TICKS = 12


def _tick(v: float) -> str:
    """A tick of a time axis as the app writes it: seconds under a minute, then m:ss (h:mm:ss)."""
    if v < 0:
        return ""
    return f"{v:g}" if v < 60 else clock_text(v).rsplit(".", 1)[0]


def _time_axis(ax, end_s: float) -> bool:
    """From a minute on, the timeline's time axis as the app's: seconds under a minute, m:ss from
    there (h:mm:ss from an hour), with ticks on whole steps (10 s, 1 min, 5 min ...); True when it is."""
    if end_s < 60:
        return False
    from matplotlib.ticker import FuncFormatter, MultipleLocator

    step = next((s for s in TICK_STEPS_S if end_s / s <= MAX_TICKS), TICK_STEPS_S[-1])
    ax.xaxis.set_major_locator(MultipleLocator(step))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: _tick(v)))
    return True


def timeline_png(call_id: str, duration_s: float, tracks: list[str], segments, results,
                 pauses: list[tuple[float, float]] = (), hop_s: float = DEFAULT_HOP_S) -> bytes:
    """One lane per analysed track: speech shaded, arousal and valence per window, the angriest moment
    marked, and a live session's ``pauses`` (where on its axis, how long) as labelled dotted lines."""
    n = max(1, len(tracks))
    height_in = LANE_HEIGHT_IN * n + 0.75 + CAPTION_LINE_IN + TITLE_ROW_IN
    fig = _figure(TIMELINE_WIDTH_IN, height_in)
    axes = fig.subplots(n, 1, sharex=True, squeeze=False)[:, 0]
    end = max([duration_s] + [r.end_s for r in results] + [1.0])
    shown: dict[str, tuple] = {}  # the emotions the band shows, for the key
    for t, ax in enumerate(axes):
        ax.set_ylim(0, BAND_TOP)
        ax.set_yticks([0, 0.5, 1])
        ax.set_xlim(0, end)
        ax.set_ylabel(_drawable(tracks[t]) if t < len(tracks) else "", fontsize=9)
        ax.tick_params(labelsize=8)
        for g in segments:
            if g.track == t and not g.not_speech:  # sound the speech gate left out is not speech
                ax.axvspan(g.start_s, g.end_s, color=SEGMENT_COLOR, lw=0)
        wins = sorted((r for r in results if r.track == t and r.kind == "window"), key=lambda r: r.start_s)
        xs, ar, va = timeline_series(wins, [at for at, _ in pauses])
        for at, paused_s in pauses:
            ax.axvline(at, color=PAUSE_COLOR, ls=":", lw=1.0, zorder=3)  # over the emotion band's white
            if t == 0:
                ax.text(at, BAND_Y[0] - 0.02, f" paused {paused_s:.0f} s", color=PAUSE_COLOR, fontsize=7,
                        ha="left", va="top")
        if wins:  # the top emotion of each window, in the app's colours, in a band above the curves
            hop = band_hop(wins, hop_s)
            spans, colours, unsure = [], [], []
            for r in wins:
                label = max(r.probabilities, key=r.probabilities.get) if r.probabilities else None
                # centred on its window, a hop wide, and never past the window itself (a call shorter
                # than a hop has one short window: its cell ended past the recording's end)
                a, b = max(r.start_s, (r.start_s + r.end_s - hop) / 2), min(r.end_s, (r.start_s + r.end_s + hop) / 2)
                span = (a, b - a)
                if r.uncertain or label is None:
                    unsure.append(span)
                else:
                    spans.append(span)
                    colours.append(shown.setdefault(label, tuple(c / 255 for c in label_color(label))))
            # On white, not on the grey of speech, where white cells did not show.
            ax.axhspan(BAND_Y[0], BAND_Y[0] + BAND_Y[1], color="white", lw=0)
            if spans:
                ax.broken_barh(spans, BAND_Y, facecolors=colours, edgecolors=colours, lw=0.4)
            if unsure:
                ax.broken_barh(unsure, BAND_Y, facecolors=UNCERTAIN_RGB, edgecolors=UNCERTAIN_EDGE_RGB, lw=0.4,
                               hatch=UNCERTAIN_HATCH)
        if xs:
            # Markers too: a short speech run has a single window, which a line alone would not show.
            ax.plot(xs, ar, color=AROUSAL_COLOR, lw=1.2, marker="o", ms=2.5, label="arousal")
            ax.plot(xs, va, color=VALENCE_COLOR, lw=1.2, marker="o", ms=2.5, label="valence")
            angry = [r for r in wins if not r.uncertain and r.probabilities.get(ANGER_LABEL, 0.0) >= ANGER_MARK_MIN]
            if angry:
                top = max(angry, key=lambda r: r.probabilities[ANGER_LABEL])
                # at the window's start, the time the table and the text give for the peak
                ax.axvline(top.start_s, color=ANGER_MARK_COLOR, ls="--", lw=0.8)
        if not tracks:
            ax.text(0.5, 0.5, "no channel analysed", ha="center", va="center", transform=ax.transAxes)
    from matplotlib.patches import Patch

    handles, _ = axes[0].get_legend_handles_labels()
    handles += [Patch(color=rgb, label=label) for label, rgb in shown.items()]
    if handles:  # above the first lane, where it covers no data
        axes[0].legend(handles=handles, loc="lower right", bbox_to_anchor=(1.0, 1.0), borderaxespad=0.1, fontsize=7,
                       ncol=len(handles), frameon=False, handlelength=1.2, columnspacing=0.8)
    clock = _time_axis(axes[-1], end)
    unit = ("s; m:ss from a minute, h:mm:ss from an hour" if end >= 3600 else "s; m:ss from a minute") if clock else "s"
    # Two lines: as one, the caption ran past the figure's right edge with the longer time units.
    axes[-1].set_xlabel(f"time ({unit}); grey: speech; top band: each window's top emotion (hatched: uncertain)\n"
                        f"dashed: start of the angriest window not uncertain (if anger reached {ANGER_MARK_MIN:.0%})",
                        fontsize=8)
    left = 0.8 / TIMELINE_WIDTH_IN
    fig.text(left, 1 - 0.04 / height_in, _drawable(call_id), fontsize=9, ha="left", va="top")
    _fixed_margins(fig, height_in, top_in=0.3 + TITLE_ROW_IN, bottom_in=0.45 + CAPTION_LINE_IN)
    return _png(fig)


def export_session(session_path: str | os.PathLike, out_path: str | os.PathLike, fmt: str, store=None) -> Path:
    """A session file exported, as the app's File > Export and ``ser session`` do: "csv" (one row per
    result, through the session store), "json" (the whole session) or "html" (its report).
    ``store``: the session already opened (a :class:`SessionStore` of it), not read again."""
    if fmt == "html":
        return session_report(Path(session_path), Path(out_path), store)
    if fmt not in ("csv", "json"):
        raise ValueError(f"unknown export format {fmt!r}")
    from streamer.session import SessionStore

    if store is None:
        store = SessionStore.open(Path(session_path))
    return Path(store.export_csv(out_path) if fmt == "csv" else store.export_json(out_path))


def session_report(session_path: Path, out_path: Path, store=None) -> Path:
    """The report ``ser batch`` writes, for one session (a recording or a live session of the app):
    per analysed speaker (track) its summary, and the session's timeline. Tracks the session left
    out (``skip_tracks``: the agent's, in the call-centre view) are named as not analysed.
    ``store``: the session already opened, not read again."""
    from streamer.batch.summary import analysed_view, call_summary
    from streamer.player import SOUND_NOTICE_END
    from streamer.session import (
        ANALYSIS_COMPLETE,
        ANALYSIS_STOPPED,
        ANALYSIS_UNFINISHED,
        SessionStore,
        analysis_state,
        export_failure,
        is_live,
        settings_text,
        skipped_tracks,
    )

    if store is None:
        store = SessionStore.open(Path(session_path))
    meta = store.metadata or {}
    engine = meta.get("engine") or {}
    names = list(meta.get("track_names") or engine.get("tracks") or [])
    used = sorted({r.track for r in store.results} | {s.track for s in store.segments})
    n_tracks = max([len(names), *(t + 1 for t in used)])
    names = names + [f"track {t + 1}" for t in range(len(names), n_tracks)]
    skipped = skipped_tracks(meta) if n_tracks > 1 else set()
    kept = [t for t in range(n_tracks) if t not in skipped]
    segments, results = analysed_view(kept, store.segments, store.results)
    analysed = [names[t] for t in kept]
    not_analysed = [names[t] for t in sorted(skipped) if t < n_tracks]
    said = analysed
    source = engine.get("source") or {}
    if source.get("channels") == "mix" and len(names) == 1 and analysed:  # one track, named "mix"
        channels = source.get("n_channels")
        said = ["its one channel" if channels == 1 else
                f"its {channels} channels mixed to one track" if isinstance(channels, int) else "its channels mixed to one track"]
    statement = (f"Analysed: {', '.join(said) or 'none'}."
                 + (f" Not analysed: {', '.join(not_analysed)} (the employee channel"
                    + (", and the channels left out with it" if len(not_analysed) > 1 else "") + ")."
                    if not_analysed else ""))
    progress = analysis_state(store.ended, store.segments, store.results)
    until = progress["analysed_until_s"]
    ends = [r.end_s for r in results] + [s.end_s for s in segments]
    # What was analysed: the whole recording when complete (its length, not where the last speech
    # ended), else as far as the analysis got.
    recorded = (engine.get("source") or {}).get("duration_s")
    if progress["state"] == ANALYSIS_COMPLETE and isinstance(recorded, (int, float)):
        duration = float(recorded)
    else:
        duration = until if until is not None else (max(ends) if ends else 0.0)
    model = engine.get("model") or {}
    summary = call_summary(analysed, not_analysed, segments, results, duration, statement, names, model.get("heads"))
    # What was said while it was analysed (the recording's level, a damaged file, a failure); ser
    # batch's results.json keeps its notes in the metadata
    notices = meta.get("notices") if isinstance(meta.get("notices"), list) else []
    summary["notes"] = list(dict.fromkeys(str(m) for m in [*store.errors, *notices]
                                          if m and not str(m).endswith(SOUND_NOTICE_END)))  # not the sound output's
    recording = meta.get("path") or (engine.get("source") or {}).get("path")  # the app's, or ser analyze's
    call_id = Path(str(recording or session_path)).name
    live = is_live(meta)  # the app's live session: no recording, the session file names it
    ended_by = (progress.get("ended") or {}).get("ended_by")  # the app's: what ended it when its user did not
    if store.exported_running:  # a JSON export made while its session was being written
        state = ("live audio, exported while still listening" if live else
                 "not finished when exported (a JSON export made while it was still being analysed)")
    elif live:  # listening ends when someone stops it, or on an error (the microphone lost)
        state = {ANALYSIS_UNFINISHED: "not finished (the session has no end record: still listening, or the "
                                      "program was closed, killed or its disk filled up)"}.get(
            progress["state"], "live audio, listening ended by itself, with no error reported"
            if ended_unreported(ended_by) else
            f"live audio, listening ended on an error: {ended_by.strip().rstrip('.')}"  # (no brackets: the report's own go round it)
            if isinstance(ended_by, str) and ended_by.strip() else "live audio, listened to until stopped")
    else:
        state = {ANALYSIS_COMPLETE: "complete, to the end of the recording",
                 ANALYSIS_UNFINISHED: "not finished (the session has no end record: still being analysed, or the "
                                      "program was killed)"}.get(progress["state"],
                                                                 "stopped before the end of the recording")
    if progress["state"] != ANALYSIS_COMPLETE and until is not None:
        state += f", analysed up to {time_text(until)}"
    pauses = [p for p in meta.get("pauses") or [] if isinstance(p, dict)]
    if pauses:  # the time axis leaves them out: say where they were
        state += ("; listening paused " + ", ".join(f"at {time_text(float(p['at_s']))} for {pause_length_text(float(p['paused_s']))}"
                                                     for p in pauses) + " (the times leave the pauses out)")
    calls = [{"call_id": call_id, "status": "done", "path": str(recording or session_path),
              "duration_s": duration, "summary": summary}]
    ended = {ANALYSIS_STOPPED: "stopped", ANALYSIS_UNFINISHED: "not finished"}.get(progress["state"])
    if not live and ended and until is not None and isinstance(recorded, (int, float)):
        # its length column: what was analysed, of how much (it said the analysed part alone)
        calls[0]["length_text"] = f"{_t(duration)} of {_t(recorded)}, {ended}"
    settings = engine.get("settings") or {}
    key = meta.get("analysis_key") if isinstance(meta.get("analysis_key"), dict) else {}
    info = {"model": str(model.get("path", "?")), "model_sha256": str(key.get("model_sha256", "")),
            "channel_statement": f"{statement} Analysis: {state}.",
            "settings_text": settings_text(settings)}
    history = meta.get("settings_history")
    if isinstance(history, list) and len(history) > 1:  # changed within the session: each with where it applies
        left_out = {tuple((h.get("settings") or {}).get("skip_tracks") or []) for h in history}

        def channels(h: dict) -> str:  # said only when the channels analysed changed too
            skip = (h.get("settings") or {}).get("skip_tracks") or []
            if len(left_out) < 2:
                return ""
            return (f", channels left out: {', '.join(names[t] if t < len(names) else str(t + 1) for t in skip)}"
                    if skip else ", every channel analysed")

        info["settings_text"] = "; ".join(
            f"{settings_text(h.get('settings') or {})}{channels(h)} from {time_text(float(h.get('from_s') or 0.0))}"
            for h in history)
    hop = settings.get("hop_s")
    png = timeline_png(call_id, duration, analysed, segments, results,
                       [(float(p["at_s"]), float(p["paused_s"])) for p in pauses],
                       float(hop) if isinstance(hop, (int, float)) and hop > 0 else DEFAULT_HOP_S)
    try:
        return write_report(Path(out_path).parent, calls, info, lambda _cid: png, path=Path(out_path),
                            title=f"Session report: {call_id}" + (" (live audio)" if live else ""),
                            noun="session" if live else "recording")
    except OutputPathError as exc:
        raise export_failure(out_path, "HTML report", exc) from exc


def _fixed_margins(fig, height_in: float, top_in: float = 0.3, bottom_in: float = 0.45) -> None:
    # Fixed margins in inches: tight_layout would measure every text and cost more than the drawing.
    fig.subplots_adjust(left=0.8 / TIMELINE_WIDTH_IN, right=1 - 0.15 / TIMELINE_WIDTH_IN,
                        bottom=bottom_in / height_in, top=1 - top_in / height_in, hspace=0.15)


def overview_png(shares: dict[str, float], call_arousal: list[float], noun: str = "call",
                 speakers: list[tuple[str, float]] | None = None) -> bytes:
    """The overview: emotion shares of all analysed speech, each in its emotion's colour (the app's),
    beside the spread of calls' mean arousal (a batch) or each speaker's mean arousal (one recording
    or session, ``noun`` other than "call", with ``speakers`` as (name, mean arousal))."""
    fig = _figure(TIMELINE_WIDTH_IN, 3.0)
    ax1, ax2 = fig.subplots(1, 2)
    labels = sorted(shares, key=lambda k: -shares[k])[::-1]
    ax1.barh(labels, [shares[k] * 100 for k in labels],
             color=[tuple(c / 255 for c in label_color(k)) for k in labels], edgecolor="#666666", linewidth=0.5)
    ax1.set_xlabel("share of speech time with a confident emotion (%)", fontsize=8)
    ax1.set_title("emotions over the batch" if noun == "call" else f"emotions over the {noun}", fontsize=9)
    if noun == "call":
        # bars apart, each edged: adjacent bins of one call each read as one wide bar of one call
        ax2.hist(call_arousal, bins=20, range=(0, 1), color=AROUSAL_COLOR, edgecolor="white", linewidth=0.8,
                 rwidth=0.9)
        from matplotlib.ticker import MaxNLocator

        ax2.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts of calls: no 0.25 ticks
        ax2.set_ylabel("calls", fontsize=8)
        ax2.set_xlabel("mean arousal per call and speaker", fontsize=8)
        ax2.set_title("arousal across calls", fontsize=9)
    else:
        named = [(name, a) for name, a in (speakers or []) if a is not None][::-1]
        ax2.barh([name for name, _ in named], [a for _, a in named], color=AROUSAL_COLOR, height=0.5)
        ax2.set_xlim(0, 1)
        ax2.set_ylim(-0.75, max(len(named), 2) - 0.25)  # one or two speakers: bars of a sensible height
        ax2.set_xlabel("mean arousal (0 calm to 1 excited)", fontsize=8)
        ax2.set_title("arousal per speaker", fontsize=9)
    for ax in (ax1, ax2):
        ax.tick_params(labelsize=8)
    fig.tight_layout()
    return _png(fig)


# ---------------------------------------------------------------------- table of all calls
def _other_head_columns(sp: dict) -> dict:
    """A speaker's columns for the model's heads beyond emotion, gender and V/A/D (which have their
    own columns above): ``mean_HEAD_NAME``, ``peak_HEAD_NAME`` and ``peak_HEAD_NAME_s``."""
    out = {}
    for head, values in (sp.get("means") or {}).items():
        if head in BUILT_IN_HEADS:
            continue
        peaks = (sp.get("peaks") or {}).get(head, {})
        for name, v in values.items():
            out[f"mean_{head}_{name}"] = v
            peak = peaks.get(name) or {}
            out[f"peak_{head}_{name}"], out[f"peak_{head}_{name}_s"] = peak.get("value"), peak.get("start_s")
    return out


def _ms(seconds):
    """Seconds to the millisecond for the table (a file's length is its frames over its rate: 14.999937)."""
    return round(float(seconds), 3) if isinstance(seconds, (int, float)) else seconds


# A call a stopped batch did not get to (or whose analysis the stop broke off): its status in the
# table and report written when a batch is stopped (Ctrl+C, SIGTERM); the next run analyses it.
NOT_ANALYSED = "not_analysed"
NOT_ANALYSED_TEXT = "not analysed: the batch was stopped before this call was finished; run the same command again"


def _analysed_s(call: dict) -> float | None:
    """How much of a call's recording its results cover: all of it when done, up to where it broke
    off when it failed part-way (its ``duration_s`` is what its header declared), None without results."""
    if call["status"] == "done":
        return call.get("duration_s")
    until = (call.get("summary") or {}).get("analysed_until_s")
    return until if isinstance(until, (int, float)) else None


def table_rows(calls: list[dict], model_labels: list[str] | None = None) -> tuple[list[dict], list[str], list[str]]:
    """Rows of the table, the emotion labels (``share_<label>`` columns: the model's, in its order,
    so tables of different batches line up; then any other label the summaries hold) and the
    columns of further model heads (``mean_HEAD_NAME`` ...)."""
    labels: list[str] = list(model_labels or [])
    others: list[str] = []
    for c in calls:
        for sp in (c.get("summary") or {}).get("speakers", []):
            labels += [k for k in sp.get("emotion_shares", {}) if k not in labels]
            others += [k for k in _other_head_columns(sp) if k not in others]
    rows = []
    for c in calls:
        summ = c.get("summary") or {}
        common = {"call_id": c["call_id"], "path": c["path"], "status": c["status"], "error": c.get("error", ""),
                  "duration_s": _ms(c.get("duration_s")), "analysed_s": _ms(_analysed_s(c)), "key": c.get("key", ""),
                  # below 16 kHz (a telephone's 8000): the model is less sure there (the report says so)
                  "sample_rate_hz": summ.get("sample_rate_hz") if isinstance(summ.get("sample_rate_hz"), int) else None,
                  "notes": " ".join(summ.get("notes") or []),
                  "channels_analysed": ",".join(summ.get("channels_analysed", [])),
                  "channels_not_analysed": ",".join(summ.get("channels_not_analysed", []))}
        speakers = summ.get("speakers", [])
        if not speakers:
            rows.append({**common, **{f"share_{lab}": None for lab in labels}})
            continue
        for sp in speakers:
            shares = sp.get("emotion_shares", {})
            rows.append({**common, "speaker": sp["track_name"], "channel": sp.get("channel"),
                         "speech_s": sp["speech_s"], "n_segments": sp["n_segments"], "n_utterances": sp["n_utterances"],
                         "top_emotion": max(shares, key=shares.get) if shares else None,
                         "uncertain_s": sp.get("uncertain_s", 0.0),
                         "mean_valence": sp["mean_valence"], "mean_arousal": sp["mean_arousal"],
                         "mean_dominance": sp["dominance"], "negative_valence_share": sp["negative_valence_share"],
                         "peak_arousal": sp["peak_arousal"], "peak_arousal_s": sp["peak_arousal_s"],
                         "peak_anger": sp["peak_anger"], "peak_anger_s": sp["peak_anger_s"],
                         # no speech: no shares at all (not a share of 0 for every emotion)
                         **{f"share_{lab}": shares.get(lab, 0.0) if shares else None for lab in labels},
                         **_other_head_columns(sp)})
    return rows, labels, others


def write_table(out_dir: Path, calls: list[dict], model_labels: list[str] | None = None) -> tuple[Path, Path]:
    """``calls.csv`` and ``calls.parquet`` (same rows and columns; typed columns in Parquet), with a
    ``share_<label>`` column for each of ``model_labels`` whether or not a call has it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows, labels, others = table_rows(calls, model_labels)
    columns = [*TABLE_COLUMNS, *((f"share_{lab}", "float64") for lab in labels),
               *((c, "float64") for c in others), *LATER_COLUMNS]
    names = [c for c, _ in columns]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(names)
    for r in rows:
        w.writerow(csv_values(["" if r.get(c) is None else r.get(c) for c in names]))
    csv_path = atomic_write(out_dir / "calls.csv", buf.getvalue())
    types = {"string": pa.string(), "float64": pa.float64(), "int64": pa.int64()}
    schema = pa.schema([(c, types[t]) for c, t in columns])
    table = pa.Table.from_pylist([{c: r.get(c) for c in names} for r in rows], schema=schema)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    pq_path = atomic_write(out_dir / "calls.parquet", sink.getvalue().to_pybytes())
    return csv_path, pq_path


# ---------------------------------------------------------------------- HTML report
_CSS = """body{font-family:sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;text-align:left}
th{background:#f0f0f0}.failed{color:#b00}.notemark{color:#8a6d00}.note{background:#fff8d8;border:1px solid #e0c860;padding:8px}
img{max-width:100%}h2{margin-top:1.5em}"""


def _img(png: bytes, alt: str) -> str:
    if not png:
        return "<p>(no plot)</p>"
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


NO_SPEECH = "no speech found in this channel"
# What a batch of calls split into channels adds to NO_SPEECH: a silent channel may be the other party's.
CHECK_NAMES = ("if the call has speech there, check that --names gives the channels in their order (agent first "
               "by default)")


def without_speech(calls: list[dict], name=lambda call: call["call_id"]) -> list[tuple[str, str]]:
    """(call, speaker) of each analysed channel of a done call where no speech was found: a silent
    or swapped channel looks like this. ``name`` names the call (default: its id)."""
    return [(name(c), sp["track_name"]) for c in calls if c.get("status") == "done"
            for sp in (c.get("summary") or {}).get("speakers", []) if not sp.get("n_segments")]


def with_notes(calls: list[dict], name=lambda call: call["call_id"]) -> list[str]:
    """The calls whose summary has notes on their audio (clipped, very quiet ...), each as ``name``
    names it (default: its id)."""
    return [name(c) for c in calls if (c.get("summary") or {}).get("notes")]


def _narrow_rate(call: dict) -> int | None:
    """The call's sample rate when it is below 16 kHz (None when it is not, or not known)."""
    rate = (call.get("summary") or {}).get("sample_rate_hz")
    return rate if isinstance(rate, int) and not isinstance(rate, bool) and rate < SAMPLE_RATE_HZ else None


def call_name(call: dict, root: str | None) -> str:
    """A call as its user knows it: its path under the batch's input folder, or under a list file's
    folder (its file name when it lies outside it). Its id, a folder name made of that path with spaces and other characters
    replaced and, then, a suffix of its own (``call_4_spaces.wav-2f152803``), names it in calls.csv."""
    path = Path(str(call.get("path") or call["call_id"]))
    if root:
        base = Path(os.path.abspath(root))
        if not base.is_dir():  # a list file: its paths are relative to its folder (as the ids are)
            base = base.parent
        try:
            return Path(os.path.abspath(path)).relative_to(base).as_posix()
        except ValueError:  # a listed file outside the list's folder
            pass
    return path.name


def _id_text(call: dict, root: str | None) -> str:
    """What follows a call's path where its id is not its name: "; ID in calls.csv" (HTML); else ""."""
    if call_name(call, root) == call["call_id"]:
        return ""
    return f"; <code>{html.escape(call['call_id'])}</code> in calls.csv"


def narrowband_statement(calls: list[dict], name=lambda call: call["call_id"]) -> str | None:
    """What to say of the calls recorded below 16 kHz (telephone band), once for the batch: said of
    each call, the note was on every call of a call centre. None when there is none. Calls analysed
    before their summaries kept the sample rate are counted as not known. ``name`` names the calls
    listed: by their id, as calls.csv does (the report: by their path)."""
    with_summary = [c for c in calls if c.get("summary")]
    known = [c for c in with_summary if isinstance(c["summary"].get("sample_rate_hz"), int)]
    narrow = [c for c in with_summary if _narrow_rate(c) is not None]
    if not narrow:
        return None
    rates = sorted({_narrow_rate(c) for c in narrow})
    rate_text = (" and ".join(map(str, rates)) if len(rates) <= 2 else f"{rates[0]} to {rates[-1]}") + " Hz"
    total = len(with_summary)
    # Failed calls without results are not counted: "1 of 7 calls" in a batch of 9 was not explained.
    counted = "" if total == len(calls) else " with results"
    if len(narrow) == total:
        which = {1: f"The call{counted} is", 2: f"Both calls{counted} are"}.get(total, f"All {total} calls{counted} are")
    else:
        ids = ", ".join(name(c) for c in narrow[:5]) + (" ..." if len(narrow) > 5 else "")
        which = f"{len(narrow)} of the {total} calls{counted} ({ids}) {'is' if len(narrow) == 1 else 'are'}"
    unknown = total - len(known)
    unknown_text = (f" ({unknown} {'call was' if unknown == 1 else 'calls were'} analysed before the sample rate was "
                    "kept: not known)") if unknown else ""
    band = "telephone band: " if rates[-1] <= TELEPHONE_RATE_HZ else ""
    return (f"{which} recorded at {rate_text} ({band}nothing above {band_edge_khz(rates[-1])} kHz){unknown_text}. The "
            f"model learnt from {SAMPLE_RATE_HZ // 1000}-kHz studio speech and was less accurate through a simulated "
            f"telephone line (the model card gives the figures): read {'its' if len(narrow) == 1 else 'their'} "
            "emotions with more caution.")


def _f(v, fmt: str = ".2f") -> str:
    return "" if v is None else format(v, fmt)


def _t(seconds) -> str:
    """A time or length as the app writes it (19.9 s, 1:31.3, 1:02:05.3); empty when unknown."""
    return "" if not isinstance(seconds, (int, float)) else time_text(seconds)


def _error_text(call: dict) -> str:
    """A failed call's error without the path it begins with (the list names the path already)."""
    return str(call.get("error", "")).removeprefix(f"{call.get('path')}: ")


def _value_at(value, at_s) -> str:
    """A peak and when it was, e.g. "0.81 (12.5 s)"; empty when there is none, and no time for a peak
    that rounds to 0.00 (a time for anger that never was read as a moment of anger)."""
    if value is None:
        return ""
    return _f(value) if _f(value) == _f(0.0) else f"{_f(value)} ({_t(at_s)})"


def _top_emotion_html(sp: dict) -> str:
    """The table's top emotion of a speaker with speech: the emotion with the largest share of the
    speech time that is not uncertain, or, when all of it is, says so (its arousal and valence, which
    come from all of the speech, are still shown beside it)."""
    shares = sp["emotion_shares"]
    if shares:
        return html.escape(max(shares, key=shares.get))
    return ("<span class='failed' title='in every utterance the top emotion probability was under the "
            "threshold of the model'>all uncertain</span>")


def _anger_text(sp: dict) -> str:
    """The report's words on a speaker's anger: the windows where it was the likelier reading, or
    that it never was."""
    top = sp.get("top_anger") or []
    if not top:
        return ""
    angry = [m for m in top if m["score"] >= ANGER_MARK_MIN]
    if not angry:
        return (f"; anger was never the likelier reading in a window the model was sure of (highest anger "
                f"probability {top[0]['score']:.2f})")
    return f"; highest anger at {html.escape(_moments(angry))}"


def _moments(items: list[dict]) -> str:
    return ", ".join(f"{span_text(m['start_s'], m['end_s'])} ({m['score']:.2f})" for m in items)


def _dimensions_note(done: list[dict]) -> list[str]:
    # "vad_source" in summaries written before the outputs were named "dimensions" (reused by reruns).
    sources = {sp.get("dimensions_source") or sp.get("vad_source")
               for c in done for sp in c["summary"].get("speakers", [])}
    if "derived-from-category" not in sources:
        return []
    return ["<p>Valence and arousal are <b>estimated</b>: this model learnt them from emotion categories, "
            "not from people's ratings.</p>"]


def _audio_length(hours: float) -> str:
    """Hours for a batch, and under an hour the time as the rest of the report writes times (m:ss;
    "8.2 minutes" stood beside the 8:14.9 it meant, and "0.00 hours" said nothing)."""
    seconds = hours * SECONDS_PER_HOUR
    if tenths(seconds) >= 10 * SECONDS_PER_HOUR:  # an hour, or what rounds to one ("1:00:00.0")
        return f"{hours:.2f} hours"
    return time_text(seconds)


def write_report(out_dir: Path, calls: list[dict], info: dict, timeline, path: Path | None = None,
                 title: str = "Call analysis: batch report", noun: str = "call") -> Path:
    """``report.html`` (or ``path``): the batch overview, then one section per call with its timeline.

    ``timeline(call_id) -> bytes`` gives a call's PNG; the report is written call by call, so a large
    batch never holds all its plots in memory.
    """
    esc = html.escape
    no_speech = "; ".join(filter(None, (NO_SPEECH, info.get("no_speech_hint"))))
    done = [c for c in calls if c["status"] == "done"]
    not_run = [c for c in calls if c["status"] == NOT_ANALYSED]  # a stopped batch's calls it did not finish
    failed = [c for c in calls if c["status"] not in ("done", NOT_ANALYSED)]
    # Calls that broke off part-way (truncated, damaged) keep the summary of what was analysed.
    partial = [c for c in failed if (c.get("summary") or {}).get("speakers")]
    with_results = done + partial  # in the table, each in a section of its own, and in the overview
    hours = (sum(c.get("duration_s") or 0.0 for c in done)
             + sum(c["summary"].get("analysed_until_s") or 0.0 for c in partial)) / SECONDS_PER_HOUR
    weights: dict[str, float] = {}
    arousal = []
    speakers = []
    for c in with_results:  # the calls that broke off count with what was analysed, as in the table
        for sp in c["summary"].get("speakers", []):
            speakers.append((sp["track_name"], sp["mean_arousal"]))
            # Weighted by the speech time with a confident emotion (what the shares are of): long calls
            # count more, uncertain time not at all.
            confident_s = max(0.0, sp["speech_s"] - (sp.get("uncertain_s") or 0.0))
            for lab, p in sp["emotion_shares"].items():
                weights[lab] = weights.get(lab, 0.0) + p * confident_s
            if sp["mean_arousal"] is not None:
                arousal.append(sp["mean_arousal"])
    total = sum(weights.values())
    shares = {k: v / total for k, v in weights.items()} if total > 0 else {}
    root = info.get("input")  # calls are named by their path under it (call_name)
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{esc(title)}</title><style>{_CSS}</style>"
             "</head><body>", f"<h1>{esc(title)}</h1>",
             *([f"<p class='note'><b>Incomplete:</b> the batch was stopped ({esc(info['stopped'])}) before it "
                f"finished: {count_text(len(not_run), noun)} of {len(calls)} {'is' if len(not_run) == 1 else 'are'} not "
                f"analysed (listed below). Run the same command again to analyse {'it' if len(not_run) == 1 else 'them'}: "
                "it skips the calls already analysed and writes this report again, whole.</p>"] if info.get("stopped") else []),
             f"<p class='note'><b>Channels:</b> {esc(info['channel_statement'])}</p>",
             "<p>" + ("" if noun != "call" else  # a session's report: one recording, no counts
                      f"{count_text(len(calls), 'call')}: {len(done)} analysed, {len(failed)} failed"
                      + (f" ({len(partial)} of them analysed up to where {'it' if len(partial) == 1 else 'they'} "
                         "broke off)" if partial else "")
                      + (f", {len(not_run)} not analysed (the batch was stopped)" if not_run else "")
                      + ". ") + f"{_audio_length(hours)} of audio analysed. "
             f"Model: <code>{esc(info['model'])}</code>"
             + (f" (sha256 {esc(info['model_sha256'][:12])})" if info.get("model_sha256") else "") + ". "
             f"Settings: {esc(info['settings_text'])}.</p>",
             *([f"<p class='note'><b>Audio below 16 kHz:</b> {esc(band)}</p>"]
               if noun == "call" and (band := narrowband_statement(calls, lambda c: call_name(c, root))) else []),
             *_dimensions_note(done),
             "<h2>Overview</h2>", _img(overview_png(shares, arousal, noun, speakers), f"{'batch' if noun == 'call' else noun} overview") if with_results else f"<p>No {noun} analysed.</p>",
             ]
    if with_results:  # (none when every call failed: the overview says so, with no empty table or sections)
        parts += [f"<h2>{noun.capitalize()}s</h2><p class='note'>Top emotion: by share of the speech time whose emotion is not uncertain "
                  "(the uncertain column: time whose calibrated top probability is under the model's threshold, "
                  f"or resting on less than {MIN_CONFIDENT_SPEECH_S:g} s of speech). Shares and means come from whole "
                  "utterances; peaks are of single analysis windows, so a window can read angry within an utterance "
                  "read as another emotion, and anger then has a peak but no share. Arousal and valence come from all of "
                  "the speech, uncertain time included.</p>"
                  f"<table><tr><th>{noun}</th><th>duration</th><th>speaker</th><th>speech</th><th>uncertain</th><th>top emotion</th>"
                  "<th>mean arousal</th><th>peak arousal (at)</th><th>negative valence</th><th>peak anger (at)</th></tr>"]
    for c in with_results:
        call = f"<a href='#{esc(c['call_id'])}'>{esc(call_name(c, root))}</a>"
        if c["summary"].get("notes"):  # a clipped or very quiet recording: its section says what
            call += f" <a href='#{esc(c['call_id'])}' class='notemark' title='see its notes'>(note)</a>"
        if (rate := _narrow_rate(c)) is not None:  # each such row marked, not only the paragraph above
            call += (f" <a href='#{esc(c['call_id'])}' class='notemark' title='recorded at {rate} Hz: nothing above "
                     f"{band_edge_khz(rate)} kHz; read its emotions with more caution'>({rate / 1000:g} kHz)</a>")
        if c["status"] == "done":
            length = esc(c.get("length_text") or _t(c['duration_s']))
        else:  # its results up to the break (also listed under Failed calls below)
            whole = f" of {_t(c['duration_s'])}" if c.get("duration_s") is not None else ""
            length = (f"<span class='failed'>{_t(c['summary'].get('analysed_until_s') or 0.0)}{whole}, "
                      "broke off</span>")
        for sp in c["summary"].get("speakers", []):
            top = _top_emotion_html(sp)
            uncertain = sp.get("uncertain_s") or 0.0
            share_u = f" ({uncertain / sp['speech_s']:.0%})" if sp["speech_s"] > 0 else ""
            if not sp.get("n_segments"):
                # (what the speech gate left out as not speech, as ser analyze's summary says it)
                said = "; ".join(filter(None, (no_speech if c["status"] == "done" else NO_SPEECH,
                                               left_out_text(sp.get("not_speech")))))
                parts.append(f"<tr><td>{call}</td><td>{length}</td><td>{esc(sp['track_name'])}</td><td>0.0 s</td>"
                             f"<td colspan='6' class='failed'>{esc(said)}</td></tr>")
                continue
            negative = sp["negative_valence_share"]
            parts.append(
                f"<tr><td>{call}</td><td>{length}</td>"
                f"<td>{esc(sp['track_name'])}</td><td>{sp['speech_s']:.1f} s</td><td>{uncertain:.1f} s{share_u}</td>"
                f"<td>{top}</td><td>{_f(sp['mean_arousal'])}</td>"
                f"<td>{_value_at(sp['peak_arousal'], sp['peak_arousal_s'])}</td>"
                f"<td>{'' if negative is None else format(negative * 100, '.0f') + '%'}</td>"
                f"<td>{_value_at(sp['peak_anger'], sp['peak_anger_s'])}</td></tr>")
    if with_results:
        parts.append("</table>")
    if failed:
        parts.append("<h2>Failed calls</h2><ul>")
        parts += [f"<li class='failed'><b>{esc(call_name(c, root))}</b> ({esc(c['path'])}{_id_text(c, root)}): "
                  f"{esc(_error_text(c))}</li>" for c in failed]
        parts.append("</ul><p>Failed calls are retried when the batch is run again.</p>")
    if not_run:
        parts.append(f"<h2>Not analysed yet</h2><p>The batch was stopped before these {noun}s were finished; running "
                     "the same command again analyses them.</p><ul>")
        parts += [f"<li><b>{esc(call_name(c, root))}</b> ({esc(c['path'])}{_id_text(c, root)})</li>" for c in not_run]
        parts.append("</ul>")
    if with_results:
        parts.append(f"<h2>Per {noun}</h2>")
    path = Path(path) if path is not None else out_dir / "report.html"
    with atomic_writer(path) as f:
        f.write("\n".join(parts))
        for c in with_results:
            summ = c["summary"]
            length = (c.get("length_text") or _t(c['duration_s']) if c["status"] == "done" else
                      f"analysed up to {_t(summ.get('analysed_until_s') or 0.0)}, where it broke off "
                      "(see Failed calls)")
            f.write(f"\n<h3 id='{esc(c['call_id'])}'>{esc(call_name(c, root))}</h3><p>{esc(c['path'])}"
                    f"{_id_text(c, root)}, {esc(length)}. {esc(summ.get('channel_statement', ''))}</p>\n")
            f.write("".join(f"<p class='note'>Note: {esc(n)}</p>\n" for n in summ.get("notes") or []))
            if (rate := _narrow_rate(c)) is not None:
                f.write(f"<p class='note'>Note: {esc(narrowband_message(c['path'], rate))}</p>\n")
            f.write(_img(timeline(c["call_id"]), f"timeline of {c['call_id']}"))
            for sp in summ.get("speakers", []):
                if not sp.get("n_segments"):
                    f.write(f"\n<p><b>{esc(sp['track_name'])}</b>: {esc(no_speech)}.</p>")
                    continue
                f.write(f"\n<p><b>{esc(sp['track_name'])}</b>: highest arousal at {esc(_moments(sp['top_arousal']))}"
                        + _anger_text(sp)
                        + "".join(f"; mean {esc(k[5:])} {_f(v)}" for k, v in _other_head_columns(sp).items()
                                  if k.startswith("mean_")) + ".</p>")
        f.write("\n<p>Estimates of a machine-learning model: indications for review, not facts about a person.</p>"
                "</body></html>\n")
    return path
