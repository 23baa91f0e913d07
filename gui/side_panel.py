"""Side panel: per track its name, the current emotion with its top 3 as bars, the
valence-arousal plane with a fading trail, and a session summary."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from gui.colors import ESTIMATED_TIP, label_color, text_color
from gui.history import TrackHistory
from model.times import time_text
from streamer.config import MIN_CONFIDENT_SPEECH_S
from streamer.summary import count_text, span_text

TRAIL_POINTS = 40  # recent results shown on the valence-arousal plane
TOP_K = 3
VA_MAX_HEIGHT = 200
VA_MIN_HEIGHT = 170
TOP_LABEL_GROWTH = 8  # points added to the top emotion's label ...
TOP_LABEL_GROWTH_COMPACT = 3  # ... and with several lanes
VA_PADDING, VA_PADDING_COMPACT = 0.02, 0.08  # of the 0-1 range, below and above (the compact plot is short)
VA_COMPACT_HEIGHT = 105  # with several lanes: each lane's section fits a 900-pixel window

UNCERTAIN_GREY = (140, 140, 140)  # an uncertain result is shown in grey, not in its class colour
# The playhead (live: the newest audio) this long past the last result's window: no speech since, and
# the result is shown in grey, with how long ago it was (results come every hop while speech goes on).
STALE_AFTER_S = 2.0
# Voice activity this recent counts as someone speaking now (the gaps between words are shorter).
SPEAKING_GAP_S = 0.5
NO_RESULT = "no result"  # the lane's current result where the playhead has none (short: it is shown large)
# The valence-arousal quadrants, clockwise from the top left.
QUADRANTS = ("tense", "excited", "sad", "calm")  # short: the panel is narrow



class LanePanel(QtWidgets.QGroupBox):
    """The side-panel section of one track."""

    def __init__(self, track: int, name: str, parent=None):
        super().__init__(parent)
        self.track = track
        self.version = -1
        self._shown_top: list = []  # top labels and the uncertain flag last shown
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        self.name_edit = QtWidgets.QLineEdit(name)
        self.name_edit.setToolTip("Name of this lane (editable)")
        layout.addWidget(self.name_edit)

        self.current_label = QtWidgets.QLabel("–")
        font = self.current_label.font()
        self._label_size = font.pointSize()
        font.setPointSize(self._label_size + TOP_LABEL_GROWTH)
        font.setBold(True)
        self.current_label.setFont(font)
        self.current_label.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.current_label.setWordWrap(True)  # a long label must not widen the panel
        layout.addWidget(self.current_label)
        # Which window the heading is (in a pause it is the last one before the playhead), beside the
        # last utterance's verdict below, which may differ.
        self.current_time = QtWidgets.QLabel("")
        self.current_time.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        # Wrapped: "window ...; speech from ..., its first result at ..." is wider than the panel, and a
        # label that does not wrap widens the panel past the window's edge.
        self.current_time.setWordWrap(True)
        self.current_time.setStyleSheet(f"color: rgb{UNCERTAIN_GREY};")
        layout.addWidget(self.current_time)

        grid = QtWidgets.QGridLayout()
        self.top_names: list[QtWidgets.QLabel] = []
        self.top_bars: list[QtWidgets.QProgressBar] = []
        self.top_values: list[QtWidgets.QLabel] = []  # the percentages, beside the bars (on a fill they were unreadable)
        for i in range(TOP_K):
            name_label = QtWidgets.QLabel("")
            bar = QtWidgets.QProgressBar()
            bar.setRange(0, 100)
            bar.setValue(0)
            bar.setTextVisible(False)
            bar.setMaximumHeight(16)
            value = QtWidgets.QLabel("")
            value.setAlignment(QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter)
            value.setMinimumWidth(value.fontMetrics().horizontalAdvance("100%") + 4)
            grid.addWidget(name_label, i, 0)
            grid.addWidget(bar, i, 1)
            grid.addWidget(value, i, 2)
            self.top_names.append(name_label)
            self.top_bars.append(bar)
            self.top_values.append(value)
        layout.addLayout(grid)
        self._show_no_result()

        self.va_plot = pg.PlotWidget()
        self.va_plot.setBackground((20, 20, 24))
        self.va_plot.setMinimumHeight(VA_MIN_HEIGHT)
        self.va_plot.setMaximumHeight(VA_MAX_HEIGHT)
        self.va_plot.setXRange(0, 1, padding=0.02)
        self.va_plot.setYRange(0, 1, padding=VA_PADDING)
        self.va_plot.setMouseEnabled(x=False, y=False)
        self.va_plot.hideButtons()
        self.va_plot.setMenuEnabled(False)
        self.va_plot.setLabel("bottom", "valence")
        self.va_plot.setLabel("left", "arousal")
        for axis in ("bottom", "left"):  # three labels fit the compact plot of the two-lane view too
            self.va_plot.getAxis(axis).setTicks([[(0.0, "0"), (0.5, "0.5"), (1.0, "1")]])
        self.va_plot.addLine(x=0.5, pen=pg.mkPen(90, 90, 90))
        self.va_plot.addLine(y=0.5, pen=pg.mkPen(90, 90, 90))
        for (x, y, anchor), text in zip(((0.02, 0.98, (0, 0)), (0.98, 0.98, (1, 0)), (0.02, 0.02, (0, 1)),
                                         (0.98, 0.02, (1, 1))), QUADRANTS, strict=True):
            item = pg.TextItem(text, color=(130, 130, 130), anchor=anchor)
            item.setPos(x, y)
            self.va_plot.addItem(item)
        self.va_trail = pg.ScatterPlotItem(size=7, pen=None)
        self.va_plot.addItem(self.va_trail)
        layout.addWidget(self.va_plot)

        self.summary_label = QtWidgets.QLabel("No speech analysed yet.")
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextFormat(QtCore.Qt.TextFormat.RichText)
        layout.addWidget(self.summary_label)
        self.set_dimensions_source("derived-from-category")

    @property
    def name(self) -> str:
        return self.name_edit.text().strip() or f"Track {self.track + 1}"

    compact = False

    def set_dimensions_source(self, source: str) -> None:
        if source == getattr(self, "_va_source", None):
            return
        self._va_source = source
        estimated = source == "derived-from-category"
        title = f"valence-arousal{' (estimated)' if estimated else ''}"
        tip = ESTIMATED_TIP if estimated else "Valence and arousal of the results up to the playhead"
        # A compact plot (several lanes) keeps its title in the tooltip: the room goes to the dots.
        self.va_plot.setTitle(None if self.compact else title, size="8pt")
        self.va_plot.setToolTip(f"{title}: {tip}" if self.compact else tip)

    @staticmethod
    def _speech_after(history: TrackHistory, last: float, now: float) -> tuple[float | None, float]:
        """Speech after the end of the shown result's window (``last``), up to ``now``: (where the
        speech under ``now`` began, None without, or ``last`` when it is the shown result's own speech
        going on; where the last speech before ``now`` ended, ``last`` without any). A segment enters
        the history when it closes, so speech still open (live) is read from the voice-activity flags
        after the last closed segment. Rows are in time order and found by bisection: this runs every
        frame, for every lane."""
        quiet_from = last
        if len(history.segments):
            segs = history.segments.view()
            lo = int(np.searchsorted(segs[:, 1], last, side="right"))  # segments ending after last ...
            hi = int(np.searchsorted(segs[:, 0], now, side="right"))  # ... and starting by now
            if hi > lo:
                start, stop = float(segs[hi - 1, 0]), float(segs[hi - 1, 1])
                if stop > now:
                    return max(start, last), last
                quiet_from = max(last, float(segs[lo:hi, 1].max()))
        if len(history.speech):
            flags = history.speech.view()
            lo, hi = (int(k) for k in np.searchsorted(flags[:, 0], [quiet_from, now], side="right"))
            voiced = np.flatnonzero(flags[lo:hi, 2] > 0)
            if len(voiced):
                if flags[lo + int(voiced[-1]), 1] >= now - SPEAKING_GAP_S:  # speaking still
                    return float(flags[lo + int(voiced[0]), 0]), quiet_from
                quiet_from = max(quiet_from, float(flags[lo + int(voiced[-1]), 1]))
        return None, quiet_from

    def update_from(self, history: TrackHistory, position_s: float | None = None, analysed_s: float = np.inf) -> None:
        """Show the result under the playhead (``position_s``; None: the newest), the trail up to it
        and the session summary. Analysed to ``analysed_s`` (a recording's analysis under way): the time
        after it is not said to be without speech."""
        if not self.analysed:
            return
        i = history.index_at(position_s if position_s is not None else np.inf)
        heard = [u for u in history.utterances if position_s is None or u.end_s <= position_s + 1e-6]
        since = None  # seconds without speech after the result shown (None: within its speech)
        pending = None  # what is said of the speech under the playhead, when it has no result yet
        if i is not None:
            now = history.end_s if position_s is None else position_s
            last = history.result_span(i)[1]
            if now <= analysed_s and now - last >= STALE_AFTER_S:
                # Speech after the result's window (a segment's first result is shown from the middle
                # of its first window): the playhead in it is not "without speech", nor is the time up
                # to its end.
                speaking, quiet_from = self._speech_after(history, last, now)
                if speaking is not None and speaking > last:
                    pending = f"speech from {time_text(speaking)}, without a result so far"
                    if i + 1 < len(history.results) and history.result_span(i + 1)[0] >= speaking - 0.05:
                        mid = float(history.result_times()[i + 1])
                        pending = f"speech from {time_text(speaking)}, its first result at {time_text(mid)}"
                elif speaking is None and now - quiet_from >= STALE_AFTER_S:
                    since = int(now - quiet_from)
        key = (history.result_version, i, len(heard), len(history.segments), len(history.not_speech), since, pending)
        if key == self.version:
            return  # only results, the playhead's result and segments (the summary) change what this panel shows
        self.version = key
        if i is not None and history.labels:
            probs = history.probabilities()[i]
            uncertain = bool(history.uncertain.view()[i, 0])
            order = np.argsort(-np.nan_to_num(probs, nan=-1.0))[:TOP_K]
            ranked = [(history.labels[k], float(probs[k])) for k in order]
            names = [lab for lab, _ in ranked]
            stale = since is not None or pending is not None
            shown = [*names, uncertain, since is not None, pending is not None]
            if shown != self._shown_top:
                # Style sheets re-polish widgets: set them only when the ranking changes.
                self._shown_top = shown
                r, g, b = (UNCERTAIN_GREY if uncertain or stale else text_color(names[0]))
                self.current_label.setText(f"{names[0]} (uncertain)" if uncertain else names[0])
                self.current_label.setToolTip(
                    "The model's confidence is below its calibrated threshold, or the window holds less than "
                    f"{MIN_CONFIDENT_SPEECH_S:g} s of speech: this emotion may well be wrong."
                    if uncertain else "The last speech's result: no speech since its window." if since is not None
                    else "The last result before the playhead: the speech under it has none of its own so far (a "
                         "speech's first result is shown from the middle of its first window; windows with too "
                         "little speech in them get none)." if pending is not None
                    else "")
                self.current_label.setStyleSheet(f"color: rgb({r},{g},{b});")
                for k in range(TOP_K):
                    lab = names[k] if k < len(names) else ""
                    self.top_names[k].setText(lab)
                    r, g, b = label_color(lab) if lab else (80, 80, 80)
                    self.top_bars[k].setStyleSheet(f"QProgressBar::chunk {{ background: rgb({r},{g},{b}); }}")
            start, end = history.result_span(i)
            when = f"window {span_text(start, end)}" + (
                f"; no speech for {since} s" if since is not None
                else f"; {pending}" if pending is not None else "")
            if self.current_time.text() != when:
                self.current_time.setText(when)
            for k in range(TOP_K):
                percent = int(round(100 * ranked[k][1])) if k < len(ranked) else 0
                self.top_bars[k].setValue(percent)
                self.top_values[k].setText(f"{percent}%" if k < len(ranked) else "")
            self._show_bars(True)
        else:
            self._show_no_result()
        self.set_dimensions_source(history.dimensions_source)
        end = 0 if i is None else i + 1  # the trail ends at the playhead's result
        dims = history.dimensions(smoothed=True)[max(0, end - TRAIL_POINTS):end]
        probs = history.probabilities(smoothed=True)[max(0, end - TRAIL_POINTS):end]
        ok = np.isfinite(dims[:, 0]) & np.isfinite(dims[:, 1]) if len(dims) else np.zeros(0, bool)
        dims = dims[ok]
        if len(dims):
            n = len(dims)
            alphas = np.linspace(30, 255, n).astype(int)  # older points fade out
            # Each dot in its top class's colour, as in the plots and the panel.
            tops = [history.labels[i] for i in np.nan_to_num(probs[ok], nan=0.0).argmax(axis=1)] \
                if probs.shape[1] else [""] * n
            brushes = [pg.mkBrush(*(label_color(t) if t else (255, 200, 60)), int(a)) for t, a in zip(tops, alphas)]
            sizes = np.full(n, 7.0)
            sizes[-1] = 14.0
            self.va_trail.setData(x=dims[:, 0], y=dims[:, 1], brush=brushes, size=sizes)
        else:
            self.va_trail.clear()
        s = history.summary()
        if s.utterances:
            rows = "".join(
                f"<tr><td style='color: rgb{text_color(lab)}'>{lab}</td><td align='right'>{share:.0%}</td></tr>"
                for lab, share in sorted(s.shares.items(), key=lambda kv: -kv[1]) if share > 0
            )
            last = ""
            # The engine's verdict on the last whole speech segment up to the playhead (not one the
            # background analysis reached ahead of it).
            if heard:
                u = heard[-1]
                last = (f"<br>Last utterance ({span_text(u.start_s, u.end_s)}): "
                        f"<span style='color: rgb{text_color(u.top_label)}'>{u.top_label}</span> "
                        f"{u.probabilities[u.top_label]:.0%}" + (" (uncertain)" if u.uncertain else ""))
            unsure = f", {s.uncertain_s:.1f} s uncertain (not in the shares)" if s.uncertain_s > 0 else ""
            head = f"<b>Session</b>: speech {s.speech_s:.1f} s, {count_text(s.utterances, 'utterance')}{unsure}"
            if rows:  # the shares right under the sentence they belong to
                self.summary_label.setText(f"{head}; emotion shares of the utterance time:<table>{rows}</table>"
                                           f"{last[len('<br>'):]}")
            else:  # every utterance uncertain: no shares to show
                self.summary_label.setText(f"{head}; no emotion shares (every utterance uncertain).{last}")
        elif s.analysed_windows:
            self.summary_label.setText(f"<b>Session</b>: speech {s.speech_s:.1f} s, {s.analysed_windows} windows; "
                                       "shares follow once the first utterance ends.")
        else:  # (so far, live or while a file is analysed)
            left_out = (f"{s.not_speech_s:.1f} s of sound left out as not speech ({s.not_speech})"
                        if s.not_speech_s else "")
            speech = f"speech {s.speech_s:.1f} s, no window analysed" if s.speech_s or not left_out else "no speech"
            self.summary_label.setText(f"<b>Session</b>: {'; '.join(p for p in (speech, left_out) if p)}.")


    analysed = True

    def set_compact(self, compact: bool) -> None:
        """Several lanes share the panel (the call-centre view): a smaller valence-arousal plot, so
        that every lane's section fits without scrolling."""
        self.compact = compact
        font = self.current_label.font()
        font.setPointSize(self._label_size + (TOP_LABEL_GROWTH_COMPACT if compact else TOP_LABEL_GROWTH))
        self.current_label.setFont(font)
        self.va_plot.setMinimumHeight(VA_COMPACT_HEIGHT if compact else VA_MIN_HEIGHT)
        self.va_plot.setMaximumHeight(VA_COMPACT_HEIGHT if compact else VA_MAX_HEIGHT)
        # room above 1 for the tick label's upper half (cut off in the compact plot)
        self.va_plot.setYRange(0, 1, padding=VA_PADDING_COMPACT if compact else VA_PADDING)
        self._va_source = None  # the title is set again (or left out) on the next update

    def _show_no_result(self) -> None:
        """No result where the playhead is: say so, and hide the bars (empty ones would read as 0 %
        of something)."""
        self._shown_top = []
        self.current_label.setText(NO_RESULT)
        self.current_time.setText("")
        self.current_label.setStyleSheet(f"color: rgb{UNCERTAIN_GREY};")
        for k in range(TOP_K):
            self.top_names[k].setText("")
            self.top_bars[k].setValue(0)
            self.top_values[k].setText("")
        self._show_bars(False)

    def _show_bars(self, shown: bool) -> None:
        """The top-3 bars with a result; without one they are hidden, and in an analysed lane their
        room is kept (nothing jumps when the first result comes)."""
        for w in (*self.top_names, *self.top_bars, *self.top_values):
            policy = w.sizePolicy()
            if policy.retainSizeWhenHidden() != self.analysed:
                policy.setRetainSizeWhenHidden(self.analysed)
                w.setSizePolicy(policy)
            w.setVisible(shown and self.analysed)

    def set_analysed(self, analysed: bool, note: str = "") -> None:
        """A lane shown but not analysed (the agent's in the call-centre view) keeps only its name and
        says why: no bars, no valence-arousal plot (room for the analysed lanes)."""
        self.analysed = analysed
        for w in (self.current_label, self.current_time, self.va_plot):  # no stale "window ..." left above
            w.setVisible(analysed)
        self._show_bars(analysed and bool(self._shown_top))
        if not analysed:
            self.summary_label.setText(f"<b>Not analysed</b>{note}")
        self.version = -1


class SidePanel(QtWidgets.QScrollArea):
    """One :class:`LanePanel` per track, stacked."""

    lane_name_changed = QtCore.Signal(int, str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWidgetResizable(True)
        # Its lanes' panels fit its width (their text wraps): no sideways scrolling, and room for the
        # vertical scroll bar that two lanes in a small window bring.
        self.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        bar = self.style().pixelMetric(QtWidgets.QStyle.PixelMetric.PM_ScrollBarExtent)
        self.setMinimumWidth(280 + bar)
        body = QtWidgets.QWidget()
        self._layout = QtWidgets.QVBoxLayout(body)
        self._layout.addStretch(1)
        self.setWidget(body)
        self.panels: dict[int, LanePanel] = {}

    def ensure_lane(self, track: int, name: str) -> LanePanel:
        if track not in self.panels:
            panel = LanePanel(track, name)
            panel.name_edit.editingFinished.connect(lambda p=panel: self.lane_name_changed.emit(p.track, p.name))
            # Enter ends the edit and gives the keys back to the window (Space pauses again).
            panel.name_edit.returnPressed.connect(panel.name_edit.clearFocus)
            self._layout.insertWidget(self._layout.count() - 1, panel)
            self.panels[track] = panel
            for p in self.panels.values():
                p.set_compact(len(self.panels) > 1)
        return self.panels[track]

    def clear_lanes(self) -> None:
        for panel in self.panels.values():
            panel.setParent(None)
            panel.deleteLater()
        self.panels = {}

    def refresh(self, histories: dict[int, TrackHistory], position_s: float | None = None,
                analysed_s: float = np.inf) -> None:
        """Update each lane's section for the playhead at ``position_s`` (None: the newest results);
        ``analysed_s``: how far a recording's analysis has got (past it, no result is no silence)."""
        for track, hist in histories.items():
            if track in self.panels:
                self.panels[track].update_from(hist, position_s, analysed_s)
