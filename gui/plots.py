"""The plot stack: per track a lane of level and spectrogram plots and one plot per model head
(emotion, gender, V/A/D and any further head the model file declares), all on one shared,
scrolling time axis with a playhead. Fed from :class:`gui.history.TrackHistory`."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui

from gui.colors import (
    ESTIMATED_TIP,
    GENDER_COLOR,
    LEVEL_COLOR,
    SPEECH_SHADE,
    VAD_COLOR,
    label_color,
)
from gui.history import (
    SILENCE_DB,
    SPEC_COLUMN_S,
    SPEC_LOG_MIN,
    SPEC_LOG_STEP,
    SpectrogramMaker,
    TrackHistory,
    head_layout,
)
from model.features import FeatureConfig
from streamer.summary import time_text

PLOT_BACKGROUND = (20, 20, 24)  # the plots' background (RGB), also under an exported image's title
SPEC_RANGE_DB = 80.0  # the spectrogram's fixed colour scale: this many dB below a full-scale sine, up to it
COLORBAR_LABEL = "dB (0 = full-scale sine)"
COLORBAR_TICKS_PX = 70  # a colour bar shorter than this labels its ends only
NATS_PER_DB = np.log(10.0) / 10.0  # power in natural-log units per dB
# Categorical plots keep their data in [0, 1] and above it the top-class band, so that it covers no curve.
BAND_Y = (1.04, 1.14)
# Each plot's caption sits in its top-right corner, in room kept free above the plot's data: the
# y range grows by the caption's height in pixels (plus this gap), whatever the plot's height, so
# that in the two-lane view's short plots too no caption covers a curve.
CAPTION_GAP_PX = 3
# Marker labels (pauses, settings changes) this close in time stand at different heights in the level
# plot, these fractions of the line's length from its bottom, in turn.
MARKER_CROWD_S = 8.0
MARKER_LABEL_POSITIONS = (0.55, 0.85, 0.25)
CAPTION_Z = 1  # captions and the pointer's readout are the view box's own children, over its contents
CAPTION_NAME_CHARS = 24  # a lane name longer than this is shortened in the plots' captions
CAPTION_FALLBACK_PX = 18  # a caption's height before its text item exists
AXIS_LABEL_MARGIN_PX = 4  # a left-axis title shows where the plot is this much taller than it is long
CAPTION_MARGIN_PX = 6  # room a caption leaves on each side (the text item's own padding included)
SPARSE_TICKS_PX = 60  # a plot whose data has fewer pixels than this labels only its ends and middle
NOT_ANALYSED_ROW_PX = 30  # a lane not analysed keeps one row this high, for the caption that says why
MIN_PLOT_PX = 40  # the least height of a plot: the window scrolls the stack rather than squash it below
QWIDGETSIZE_MAX = (1 << 24) - 1  # Qt's "no maximum" for sizes
AXIS_TICK_LENGTH = -5  # pyqtgraph's default (ticks drawn inward)
BAND_TIP = ("The band above the curves: the top emotion of each analysed moment (solid where the model is "
            "confident, striped where it is unsure)")
# A plot of many class curves (the emotions) gets more height than the others: its row stretches this
# many times as much where the window has room to spare, and it prefers this much more where not.
MANY_CLASSES_ROW_STRETCH = 2
MANY_CLASSES_PREFERRED = 1.5
BAND_ROWS = 6  # rows of the band's image: an uncertain stretch shows every other one (stripes)
VAD_STYLES = (QtCore.Qt.PenStyle.SolidLine, QtCore.Qt.PenStyle.DashLine, QtCore.Qt.PenStyle.DotLine)
# Emotion curves whose colour is close to another class's in a thin line (the palette has no nearer
# free colour): sky-blue disgust beside blue sad, orange surprised beside yellow happy. Dashed, in
# the curves and the colour key alike; the others are solid.
DASHED_CLASSES = frozenset({"disgust", "surprised"})
MAX_SPEC_COLUMNS = 800  # columns sent to the image per redraw; more than a plot has pixels for
AXIS_WIDTH = 52  # fixed left-axis width so every plot's time axis lines up
DEFAULT_SPAN_S = 30.0
LEGEND_COLUMNS = 11  # one key row for the usual outputs (8 classes, V/A/D) in a wide window ...
NARROW_LEGEND_COLUMNS = 4  # ... two rows in a narrow one, so that it never runs past the plot's edge
NARROW_PLOT_PX = 900
CURVE_WIDTH = 1  # wider pens take the slow path of the raster engine and halve the frame rate
# Curves get the visible stretch of their series plus this fraction of the view's span on each side,
# so that scrolling or zooming within it needs no new data (see Lane.update_data).
CURVE_MARGIN = 0.1
SAMPLES_PER_PX = 5.0  # decimate curves to about this many min/max runs per pixel (pyqtgraph's auto downsampling)
LEVEL_GAP_S = 0.1  # level values are 20 ms apart; a wider step means audio was skipped
START_HINT = ("Open an audio file (Ctrl+O) or a saved session (Ctrl+Shift+O),<br>"
              "or press Listen to analyse the microphone.")
NO_AUDIO_INPUT_HINT = ("Open an audio file (Ctrl+O) or a saved session (Ctrl+Shift+O).<br>"
                       "Microphones cannot be listed: Listen (Ctrl+L) says why.")
NO_MICROPHONE_HINT = ("Open an audio file (Ctrl+O) or a saved session (Ctrl+Shift+O).<br>"
                      "No microphone was found: connect one and press ↻ beside the list to listen.")
GAP_TOLERANCE_S = 0.05  # windows that do not overlap or touch mark a pause in speech


def clock_tick_strings(axis, values, scale, spacing) -> list[str]:
    """Tick labels of the time axis: seconds under a minute, then m:ss (h:mm:ss from an hour on), as
    the crosshair and the panel write times (:func:`streamer.summary.time_text`), with tenths where
    the ticks are closer than a second. pyqtgraph's own labels switch to kiloseconds ("ks") on long
    recordings."""
    if not any(abs(v) >= 60 for v in values):
        return pg.AxisItem.tickStrings(axis, values, scale, spacing)
    decimals = 1 if spacing < 1 else 0
    out = []
    for v in values:
        sign, total = ("-" if v < 0 else ""), round(abs(v), decimals)
        if total < 60:  # a view across the first minute: 40, 50, 1:00, 1:10
            out.append(f"{sign}{total:.{decimals}f}")
            continue
        hours, minutes, seconds = int(total // 3600), int(total % 3600 // 60), total % 60
        sec = f"{seconds:04.1f}" if decimals else f"{int(round(seconds)):02d}"
        out.append(f"{sign}{hours}:{minutes:02d}:{sec}" if hours else f"{sign}{int(total // 60)}:{sec}")
    return out


class Lane:
    """The plots of one track: level, spectrogram, then one plot per model head (a categorical head
    as class probabilities, a two-class one as the first class's probability, a regression head as
    one line per value), in the order the model file declares them."""

    def __init__(self, layout: pg.GraphicsLayout, row: int, track: int, name: str, heads):
        self.track = track
        self.name = name
        self.heads = head_layout(heads)
        self.labels = next((outputs for n, _, outputs in self.heads if n == "emotion"), [])
        self.analysed = True  # (before the plots are built: their captions and axis titles say it)
        self.not_analysed_why = ""  # what the lane says of why it is not analysed (set_analysed)
        self.no_audio_why = ""  # why a session shown has no audio for the level and spectrogram (set_no_audio)
        self.captions: dict[pg.PlotItem, pg.TextItem] = {}
        self._caption_texts: dict[pg.PlotItem, str] = {}  # each caption whole (shown shortened when narrow)
        self._caption_compact: dict[pg.PlotItem, str] = {}  # ... and as a short plot shows it
        self.version = -1
        self.result_version = -1
        self._spec_key = None
        self.level_plot = layout.addPlot(row=row, col=0)
        self.spec_plot = layout.addPlot(row=row + 1, col=0)
        self.head_plots: dict[str, pg.PlotItem] = {}
        self.band: pg.ImageItem | None = None  # the top-class band of the emotion plot
        self.head_curves: dict[str, dict[str, pg.PlotDataItem]] = {}
        self.sources = {str(h["name"]): str(h.get("source", "")) for h in heads if isinstance(h, dict)}
        self._grid = layout.layout  # the Qt grid under the plots: rows of a lane not analysed are folded
        self._plot_rows: dict[pg.PlotItem, int] = {}  # each model plot's row of the grid
        self._many_classes: set[pg.PlotItem] = set()  # the plots that get more height (the emotions')
        for i, (head, kind, outputs) in enumerate(self.heads):
            self.head_plots[head] = layout.addPlot(row=row + 2 + i, col=0)
            self._plot_rows[self.head_plots[head]] = row + 2 + i
            if kind == "categorical" and len(outputs) > 2:
                # The emotion plot, the product's main output, gets more of the height than the others:
                # with every row alike, two lanes on a laptop left its eight curves 25 pixels. Its row
                # stretches more where there is room to spare, and where there is not (every plot below
                # its preferred height) it keeps more, as a larger preferred height gives.
                self._grid.setRowStretchFactor(row + 2 + i, MANY_CLASSES_ROW_STRETCH)
                plot = self.head_plots[head]
                plot.setPreferredHeight(plot.preferredHeight() * MANY_CLASSES_PREFERRED)
                self._many_classes.add(plot)
        self.plots = [self.level_plot, self.spec_plot, *self.head_plots.values()]
        for p in self.plots:
            p.getAxis("left").setWidth(AXIS_WIDTH)
            p.showAxis("bottom", False)
            p.setMenuEnabled(False)
            p.hideButtons()
            p.vb.setMouseEnabled(x=True, y=False)

        # Each plot keeps a margin above its data for its caption (titles would cost a row per plot).
        self._room: dict[pg.PlotItem, tuple[float, float]] = {}
        self._axis_labels: dict[pg.PlotItem, str] = {}  # each plot's left-axis title (shown where it fits)
        self._ticks: dict[pg.PlotItem, list] = {}
        self._keep_caption_room(self.level_plot, SILENCE_DB, 0.0)  # no level goes above 0 dBFS
        self._set_ticks(self.level_plot, [(v, f"{v:g}") for v in range(int(SILENCE_DB), 1, 20)])
        self._axis_label(self.level_plot, "dBFS")
        # Speech shading is an image of the visible stretch (MAX_SPEC_COLUMNS columns), not a filled
        # curve: fill paths over long histories are slow to build and paint.
        self.speech_image = pg.ImageItem()
        self.speech_image.setLookupTable(np.array([[0, 0, 0, 0], list(SPEECH_SHADE)], dtype=np.ubyte))
        self.speech_image.setZValue(-10)
        self.level_plot.addItem(self.speech_image)
        # The curves' data is clipped to the view and decimated here, not by pyqtgraph's clip-to-view
        # and auto downsampling: those redo it for every curve on every change of the view, which is
        # every frame while the view scrolls (see update_data).
        self.level_curve = self.level_plot.plot(pen=pg.mkPen(LEVEL_COLOR, width=1))
        self._fed: dict[str, tuple] = {}  # per series: what its curves were last given (see _needs_feed)
        self._result_series = None  # (result_version, x, {head: values}) of the result curves

        self.spec_image = pg.ImageItem()
        cmap = pg.colormap.get("viridis")
        self.spec_image.setColorMap(cmap)
        self.spec_plot.addItem(self.spec_image)
        # A fixed dB scale (relative to a full-scale sine), the same in every lane and at every time,
        # with its colour bar in the layout's second column (which every row shares, so the plots'
        # time axes stay aligned).
        top = _full_scale_step()
        self.spec_levels = (top - SPEC_RANGE_DB * NATS_PER_DB / SPEC_LOG_STEP, top)
        self.colorbar = pg.ColorBarItem(values=(-SPEC_RANGE_DB, 0.0), colorMap=cmap, interactive=False, width=10,
                                        label=COLORBAR_LABEL)
        layout.addItem(self.colorbar, row=row + 1, col=1)
        self.colorbar.setToolTip(f"Spectrogram colours: {COLORBAR_LABEL}")
        self.spec_plot.vb.sigResized.connect(lambda _vb: self._fit_colorbar_label())
        self._axis_label(self.spec_plot, "mel")
        self._set_bands(FeatureConfig().n_mels)  # then the model's bands

        for head, kind, outputs in self.heads:
            self._build_head(head, kind, outputs)
        self.playheads = []
        self.crosshairs = []
        self.marker_lines: list[pg.InfiniteLine] = []
        self._marker_times: list[tuple[float, float]] = []  # the labelled markers: time, label height
        for p in self.plots:
            line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(255, 255, 255, 160, width=1))
            p.addItem(line, ignoreBounds=True)
            self.playheads.append(line)
            cross = pg.InfiniteLine(angle=90, movable=False,
                                    pen=pg.mkPen(255, 255, 255, 90, width=1, style=QtCore.Qt.PenStyle.DotLine))
            cross.setVisible(False)
            p.addItem(cross, ignoreBounds=True)
            self.crosshairs.append(cross)
        self.readout = pg.TextItem(color=(230, 230, 230), fill=pg.mkBrush(10, 10, 14, 245), anchor=(0, 0))
        self.readout.setZValue(CAPTION_Z + 1)
        self.readout.setVisible(False)
        self._readout_x = 0.0
        for p in self.plots:
            p.vb.sigRangeChanged.connect(lambda vb, _r, _c=None: self._place_readout(vb))
        self.dimensions_source = self.sources.get("dimensions", "derived-from-category")
        self.set_name(name)
        self.fit_heights()

    def _build_head(self, head: str, kind: str, outputs: list[str]) -> None:
        plot = self.head_plots[head]
        self._keep_caption_room(plot, -0.02, 1.02)
        curves: dict[str, pg.PlotDataItem] = {}
        if kind == "categorical" and len(outputs) == 2:  # one line: the first class's probability
            # The axis runs from the second class (0) to the first (1): e.g. male at the bottom, female at the top.
            plot.getAxis("left").setTicks([[(0.0, outputs[1]), (0.5, ""), (1.0, outputs[0])]])
            plot.addLine(y=0.5, pen=pg.mkPen(120, 120, 120, style=QtCore.Qt.PenStyle.DashLine))
            color = GENDER_COLOR if head == "gender" else label_color(outputs[0])
            curves[outputs[0]] = plot.plot(pen=pg.mkPen(color, width=CURVE_WIDTH))
        else:
            categorical = kind == "categorical"
            self._axis_label(plot, "p" if categorical else _initials(outputs))
            if not categorical:
                self._keep_caption_room(plot, 0.0, 1.02)
                self._set_ticks(plot, [(0.0, "0"), (0.5, "0.5"), (1.0, "1")])
            if categorical:
                self._keep_caption_room(plot, 0.0, BAND_Y[1])  # the curves, and the top-class band above them
                self._set_ticks(plot, [(0.0, "0"), (0.5, "0.5"), (1.0, "1")])
                if head == "emotion":
                    self.band = pg.ImageItem()
                    self.band.setZValue(5)
                    plot.addItem(self.band)
                    plot.setToolTip(BAND_TIP + "; click an entry of the colour key above the lanes to hide or "
                                    "show that class in every lane")
            if categorical and head != "emotion":
                plot.setToolTip(f"Click an entry of the colour key above the lanes to hide or show that {head} "
                                "class in every lane")
            for i, o in enumerate(outputs):
                if categorical:
                    style = QtCore.Qt.PenStyle.DashLine if o in DASHED_CLASSES else QtCore.Qt.PenStyle.SolidLine
                    pen = pg.mkPen(label_color(o), width=CURVE_WIDTH, style=style)
                else:  # one light colour, told apart by line style: no emotion class shares it
                    pen = pg.mkPen(VAD_COLOR, width=CURVE_WIDTH, style=VAD_STYLES[i % len(VAD_STYLES)])
                curves[o] = plot.plot(pen=pen, name=o)
        self.head_curves[head] = curves

    # The built-in heads by name, for the side panel and tests.
    @property
    def emotion_plot(self) -> pg.PlotItem | None:
        return self.head_plots.get("emotion")

    @property
    def emotion_curves(self) -> dict[str, pg.PlotDataItem]:
        return self.head_curves.get("emotion", {})

    @property
    def dimensions_plot(self) -> pg.PlotItem | None:
        return self.head_plots.get("dimensions")

    @property
    def dimensions_curves(self) -> dict[str, pg.PlotDataItem]:
        return self.head_curves.get("dimensions", {})

    @property
    def gender_plot(self) -> pg.PlotItem | None:
        return self.head_plots.get("gender")

    @property
    def gender_curve(self) -> pg.PlotDataItem | None:
        return next(iter(self.head_curves.get("gender", {}).values()), None)

    def set_name(self, name: str) -> None:
        self.name = name
        self._level_caption()
        self._spec_caption()
        for head, kind, outputs in self.heads:
            self._head_caption(head, kind, outputs)
        if not self.analysed:  # its first model plot says why, under the new name
            self.set_analysed(False, self.not_analysed_why)

    def set_no_audio(self, why: str) -> None:
        """The audio's plots stay empty (a saved session without its recording) and say ``why`` (""
        again: they show audio)."""
        self.no_audio_why = why
        self._level_caption()
        self._spec_caption()
        if getattr(self, "colorbar", None) is not None:
            self.colorbar.setVisible(not why)  # no spectrogram: no scale for its colours either

    def _spec_caption(self) -> None:
        if self.no_audio_why:
            self._set_caption(self.spec_plot, f"{self.caption_name}: no spectrogram ({self.no_audio_why})", "no spectrogram")
        else:
            self._set_caption(self.spec_plot, f"{self.caption_name}: log-mel spectrogram", "log-mel")

    def set_analysed(self, analysed: bool, why: str = "") -> None:
        """A lane that is shown but not analysed (the agent's, in the call-centre view) says so on
        each of its model plots, and its crosshair readout where it has no result."""
        self.analysed = analysed
        self.not_analysed_why = why
        self._level_caption()
        for i, (head, kind, outputs) in enumerate(self.heads):
            self._head_caption(head, kind, outputs)
            if not analysed:
                self._set_caption(self.head_plots[head], f"{self.caption_name}: not analysed{why}",
                                  f"{self.caption_name}: not analysed")
            # Not analysed, the model plots would stay empty: the first keeps one line for the caption
            # that says why, the others fold away, and the analysed lanes get the room.
            folded = not analysed and i > 0
            # Folded to no height rather than hidden: the colour key's entries are the first lane's
            # curves, and a hidden plot's curves would show in the key as hidden.
            plot = self.head_plots[head]
            plot.getAxis("left").setStyle(showValues=analysed, tickLength=AXIS_TICK_LENGTH if analysed else 0)
            self._fit_axis_label(plot)  # (shown only where the lane is analysed)
            # A folded plot draws nothing: its axis line, its line at 0.5, its caption's box and its
            # playhead showed as dots, a dashed line and dark strips across the lane that is not
            # analysed. (Transparent rather than hidden, for the colour key as above.)
            # The first one's axis too: its ticks, of length 0, showed as dots beside the caption. They
            # are drawn in the background's colour (pyqtgraph gives each tick its own alpha, so a
            # transparent or empty pen still drew them).
            axis = plot.getAxis("left")
            if analysed:  # (again: Settings' "Analyse the agent's channel too" while it listens)
                axis.setPen()  # no argument: the theme's (None would be no pen at all)
                axis.setTickPen()  # no argument: as the axis line
            else:
                axis.setPen(pg.mkPen(0, 0, 0, 0))
                axis.setTickPen(pg.mkPen(PLOT_BACKGROUND))
            plot.vb.setOpacity(0.0 if folded else 1.0)
        self.fit_heights()

    def fit_heights(self) -> None:
        """Each plot's least height: MIN_PLOT_PX (MANY_CLASSES_PREFERRED times it for the emotions'),
        and the time axis's height where the plot shows it (the window scrolls the stack rather than
        squash the plots below this: PlotStack.minimum_plots_height). In a lane not analysed, its
        model plots' rows are fixed: the first one caption line high, the others folded to nothing
        (each with the time axis's height, where it shows it)."""
        heads = list(self.head_plots.values())
        for plot in self.plots:
            axis = _time_axis_px(plot)
            if self.analysed or plot not in heads:
                plot.setMinimumHeight(MIN_PLOT_PX * (MANY_CLASSES_PREFERRED if plot in self._many_classes else 1) + axis)
                low, high = 0, QWIDGETSIZE_MAX
            else:
                low = high = (NOT_ANALYSED_ROW_PX if plot is heads[0] else 0) + axis
                plot.setMinimumHeight(low)
            if plot in heads:
                row = self._plot_rows[plot]
                self._grid.setRowMinimumHeight(row, low)
                self._grid.setRowMaximumHeight(row, high)

    @property
    def caption_name(self) -> str:
        """The lane's name as its plots' captions give it: a long one shortened (it covered the
        curves); the side panel and the tooltips give it whole."""
        name = self.name
        return name if len(name) <= CAPTION_NAME_CHARS else name[:CAPTION_NAME_CHARS - 1].rstrip() + "…"

    def _level_caption(self) -> None:
        # A lane not analysed gets no voice activity, so nothing is shaded in it.
        shaded = ", speech shaded" if self.analysed else ""
        if self.no_audio_why:
            self._set_caption(self.level_plot, f"{self.caption_name}: no level ({self.no_audio_why}){shaded}",
                              f"{self.caption_name}: no level")
        else:  # (the lane's name kept once, on its first plot)
            self._set_caption(self.level_plot, f"{self.caption_name}: level{shaded}", f"{self.caption_name}: level")

    def _head_caption(self, head: str, kind: str, outputs: list[str]) -> None:
        if kind == "categorical":
            text = f"{head}, P({outputs[0]})" if len(outputs) == 2 else f"{head} probabilities"
        else:
            source = self.dimensions_source if head == "dimensions" else self.sources.get(head, "")
            estimated = " (estimated from emotion categories)" if source == "derived-from-category" else ""
            text = " / ".join(outputs) + estimated
            self.head_plots[head].setToolTip(ESTIMATED_TIP if estimated else "")
        compact = (_initials(outputs) if kind != "categorical" else
                   "emotions" if head == "emotion" and len(outputs) != 2 else head)
        if not self.analysed:
            text = compact = "not analysed"
        self._set_caption(self.head_plots[head], f"{self.caption_name}: {text}", compact)

    def add_marker(self, at_s: float, text: str) -> None:
        """A dashed line at ``at_s`` through the lane, labelled ``text`` in the level plot. Labels of
        markers close together (a pause, then a settings change) stand at different heights, so that
        one does not print over the other; a label stands on the side of its line towards the middle of
        the view, so that a marker near the right edge (live, the newest) is not cut off."""
        used = [pos for t, pos in self._marker_times if abs(t - at_s) < MARKER_CROWD_S]
        free = [pos for pos in MARKER_LABEL_POSITIONS if pos not in used]
        position = free[0] if free else MARKER_LABEL_POSITIONS[len(used) % len(MARKER_LABEL_POSITIONS)]
        self._marker_times.append((at_s, position))
        # The curves break there (_cuts): drawn again.
        self.version = self.result_version = -1
        self._fed.clear()
        for p in self.plots:
            label = text if p is self.level_plot else None
            line = pg.InfiniteLine(pos=at_s, angle=90, movable=False, label=label,
                                   labelOpts={"position": position, "color": (255, 200, 120), "fill": (0, 0, 0, 150),
                                              "anchors": [(0, 0.5), (1, 0.5)]},
                                   pen=pg.mkPen(255, 200, 120, 170, width=1, style=QtCore.Qt.PenStyle.DashLine))
            p.addItem(line, ignoreBounds=True)
            self.marker_lines.append(line)

    @property
    def _cuts(self) -> list[float]:
        """The markers' times, in order: the engine starts afresh at a pause or a settings change, and
        the axis leaves a pause out, so the curves break there rather than join the last result before
        it to the first after it (see _curve_layout)."""
        return sorted(t for t, _ in self._marker_times)

    def _set_caption(self, plot: pg.PlotItem, text: str, compact: str | None = None) -> None:
        """A small caption in the plot's top-right corner: titles would cost a row per plot. In a plot
        too short for a caption above its data, ``compact`` in its place (it covers less of the data)."""
        item = self.captions.get(plot)
        if item is None:
            item = pg.TextItem(color=(200, 200, 200), fill=pg.mkBrush(0, 0, 0, 120), anchor=(1, 0))
            item.setParentItem(plot.vb)
            item.setZValue(CAPTION_Z)  # over the plot's lines (playhead, crosshair, markers), under the readout
            plot.vb.sigResized.connect(lambda vb, it=item, p=plot: (it.setPos(vb.width() - 2, 0),
                                                                     self._fit_caption_text(p)))
            item.setPos(plot.vb.width() - 2, 0)
            self.captions[plot] = item
        self._caption_texts[plot] = text
        self._caption_compact[plot] = compact or text
        self._fit_caption_text(plot)
        if plot in self._room:
            self._fit_caption_room(plot)

    def _axis_label(self, plot: pg.PlotItem, text: str) -> None:
        """The plot's left-axis title, shown where the plot is tall enough for it (in two short lanes,
        "dBFS" and "mel" ran into each other); the axis's tooltip gives it always."""
        plot.setLabel("left", text)
        plot.getAxis("left").setToolTip(text)
        if plot not in self._axis_labels:
            plot.vb.sigResized.connect(lambda _vb, p=plot: self._fit_axis_label(p))
        self._axis_labels[plot] = text
        self._fit_axis_label(plot)

    def _fit_axis_label(self, plot: pg.PlotItem) -> None:
        text = self._axis_labels.get(plot)
        if text is None:
            return
        axis = plot.getAxis("left")
        fits = QtGui.QFontMetricsF(axis.label.font()).horizontalAdvance(text) + AXIS_LABEL_MARGIN_PX <= plot.vb.height()
        show = fits and (self.analysed or plot in (self.level_plot, self.spec_plot))
        if axis.labelText and show != axis.label.isVisible():
            axis.showLabel(show)

    def _fit_colorbar_label(self) -> None:
        """The colour bar's label along its length, or "dB" where the bar is shorter than the label
        (in a small window it ran into the next lane's bar); the bar's tooltip says it whole."""
        axis = self.colorbar.getAxis("left")  # where a vertical ColorBarItem puts its label
        metrics = QtGui.QFontMetricsF(axis.label.font())
        height = self.spec_plot.vb.height()
        text = COLORBAR_LABEL if metrics.horizontalAdvance(COLORBAR_LABEL) <= height else "dB"
        if axis.labelText != text:
            axis.setLabel(text)
        # Its scale: every 20 dB, or its ends only where five labels would run into each other.
        ends = height < COLORBAR_TICKS_PX
        if ends != getattr(self, "_colorbar_ends", False):
            self._colorbar_ends = ends
            self.colorbar.axis.setTicks([[(v, f"{v:g}") for v in (-SPEC_RANGE_DB, 0.0)]] if ends else None)

    def _fit_caption_text(self, plot: pg.PlotItem) -> None:
        """The caption as it fits the plot's width: whole, else without its explanation in brackets,
        else cut short with an ellipsis (in a narrow window a long caption ran off the plot's left
        edge, "tomer: valence / arousal ..."). :meth:`caption` gives the whole text."""
        item, text = self.captions[plot], self._caption_texts[plot]
        if plot.vb.height() < 2 * (item.boundingRect().height() + CAPTION_GAP_PX):  # (no room above the data)
            text = self._caption_compact.get(plot, text)
        room = plot.vb.width() - 2 * CAPTION_MARGIN_PX
        metrics = QtGui.QFontMetricsF(item.textItem.font())
        if room > 0 and metrics.horizontalAdvance(text) > room:
            short = text.split(" (", 1)[0]
            text = short if metrics.horizontalAdvance(short) <= room else metrics.elidedText(
                short, QtCore.Qt.TextElideMode.ElideRight, room)
        if item.toPlainText() != text:
            item.setText(text)

    def _keep_caption_room(self, plot: pg.PlotItem, bottom: float, top: float) -> None:
        """Show ``plot`` from ``bottom`` to ``top`` (its data) plus room above for its caption."""
        if plot not in self._room:
            plot.vb.sigResized.connect(lambda _vb, p=plot: self._fit_caption_room(p))
        self._room[plot] = (bottom, top)
        self._fit_caption_room(plot)

    def _fit_caption_room(self, plot: pg.PlotItem) -> None:
        bottom, top = self._room[plot]
        item = self.captions.get(plot)
        caption_px = (item.boundingRect().height() if item is not None else CAPTION_FALLBACK_PX) + CAPTION_GAP_PX
        data_px = max(plot.vb.height() - caption_px, caption_px)  # a plot too short for both: half and half
        plot.setYRange(bottom, top + (top - bottom) * caption_px / data_px, padding=0)
        self._show_ticks(plot, data_px)

    def _set_ticks(self, plot: pg.PlotItem, ticks: list[tuple[float, str]]) -> None:
        """The plot's left-axis labels; a short plot shows only the first, middle and last of them."""
        self._ticks[plot] = ticks
        self._show_ticks(plot, plot.vb.height())

    def _show_ticks(self, plot: pg.PlotItem, data_px: float) -> None:
        ticks = self._ticks.get(plot)
        if ticks is None:
            return
        if data_px < SPARSE_TICKS_PX and len(ticks) > 3:  # the ends, and the middle if there is one
            ticks = [ticks[0], ticks[len(ticks) // 2], ticks[-1]] if len(ticks) % 2 else [ticks[0], ticks[-1]]
        if data_px < SPARSE_TICKS_PX / 2 and len(ticks) > 2:
            ticks = [ticks[0], ticks[-1]]
        plot.getAxis("left").setTicks([ticks])

    def caption(self, plot: pg.PlotItem) -> str:
        """The plot's caption, whole (a narrow plot shows it shortened)."""
        return self._caption_texts.get(plot, "")

    def set_dimensions_source(self, source: str) -> None:
        self.dimensions_source = source
        for head, kind, outputs in self.heads:
            if head == "dimensions":
                self._head_caption(head, kind, outputs)

    def set_label_visible(self, label: str, visible: bool) -> None:
        """Show or hide the curve of an output (an emotion class, a V/A/D value ...) in this lane."""
        for head, kind, outputs in self.heads:
            if (kind != "categorical" or len(outputs) > 2) and label in self.head_curves[head]:
                self.head_curves[head][label].setVisible(visible)

    def keyed_curves(self) -> list[tuple[str, pg.PlotDataItem]]:
        """The curves the colour key names: every class of the multi-class heads and every value of
        the regression heads (two-class heads are one line, named by their axis)."""
        return [(o, curve) for head, kind, outputs in self.heads if kind != "categorical" or len(outputs) > 2
                for o, curve in self.head_curves[head].items()]

    def update_data(self, history: TrackHistory, x0: float, x1: float) -> None:
        """Push the history's curves to the plot items (only when the history changed, or the view
        left the stretch the curves were given or zoomed enough to change their decimation)."""
        width_px = float(self.level_plot.vb.width())
        lvl = history.level.view()
        step = _downsample_step(lvl[:, 0], x0, x1, width_px)
        if self._needs_feed("level", history.version, x0, x1, step):
            i0, i1, lo, hi = _stretch(lvl[:, 0], x0, x1, step)
            t, db = _break_gaps(lvl[i0:i1, 0], lvl[i0:i1, 1], self._cuts)
            t, db = _peak_decimate(t, db[:, None], step)
            self.level_curve.setData(t, db[:, 0], connect="finite")
            self._fed["level"] = (history.version, step, lo, hi)
        if history.version == self.version and self._result_series is not None:
            # Nothing new: only the view can ask for another stretch of the result curves.
            self._feed_results(history.result_version, x0, x1, width_px)
            return
        self.version = history.version
        if history.result_version != self.result_version:
            self.result_version = history.result_version
            t, idx = _curve_layout(history.results.view(), self._cuts)
            values = {head: _take(history.head(head, smoothed=True), idx) for head, _, _ in self.heads}
            self._result_series = (history.result_version, t, values)
        self._feed_results(history.result_version, x0, x1, width_px)
        if history.dimensions_source != self.dimensions_source:
            self.set_dimensions_source(history.dimensions_source)

    def _needs_feed(self, series: str, version: int, x0: float, x1: float, step: int) -> bool:
        """Whether the curves of ``series`` need new data: their series changed, the view [x0, x1] left
        the stretch they were given, or its decimation step changed."""
        fed = self._fed.get(series)
        return fed is None or fed[:2] != (version, step) or x0 < fed[2] or x1 > fed[3]

    def _feed_results(self, version: int, x0: float, x1: float, width_px: float) -> None:
        """Give the result curves the stretch of the results around the view, decimated like the level."""
        _, t, values = self._result_series
        step = _downsample_step(t, x0, x1, width_px)
        if not self._needs_feed("results", version, x0, x1, step):
            return
        i0, i1, lo, hi = _stretch(t, x0, x1, step)
        for head, _, outputs in self.heads:
            x, ys = _peak_decimate(t[i0:i1], values[head][i0:i1], step)
            curves = self.head_curves[head]
            for i, o in enumerate(outputs):
                if o in curves and i < ys.shape[1]:
                    curves[o].setData(x, ys[:, i], connect="finite")
        self._fed["results"] = (version, step, lo, hi)

    def update_visible(self, history: TrackHistory, x0: float, x1: float) -> None:
        """Redraw the images that depend on the visible range: speech shading and spectrogram."""
        # Redraw when the view or the data moved by at least one image column: a zoomed-out view
        # then redraws its images about once per column of new audio instead of every frame.
        col_s = max((x1 - x0) / MAX_SPEC_COLUMNS, 1e-3)
        speech = history.speech.view()
        speech_end = float(speech[-1, 1]) if len(speech) else 0.0
        spec_t = history.spec_times.view()
        spec_end = float(spec_t[-1, 0]) if len(spec_t) else 0.0  # audio can arrive after the results (a reopened analysis)
        key = (round(x0 / col_s), round(x1 / col_s), int(history.end_s / col_s), int(speech_end / col_s),
               int(spec_end / col_s), len(history.segments), len(history.not_speech), history.spec_version,
               history.result_version)
        if key == self._spec_key:
            return
        self._spec_key = key
        if x1 > x0:
            mask = history.speech_mask(x0, x1, MAX_SPEC_COLUMNS)
            self.speech_image.setImage(mask[:, None], autoLevels=False, levels=(0, 1))
            self.speech_image.setRect(QtCore.QRectF(x0, SILENCE_DB, x1 - x0, -SILENCE_DB))
            self._update_band(history, x0, x1)
        self._update_spectrogram(history, x0, x1)

    def _update_band(self, history: TrackHistory, x0: float, x1: float) -> None:
        """Colour each column of the visible stretch by the top emotion of the window result shown
        there (striped where uncertain, empty where nothing was analysed)."""
        if self.band is None:
            return
        self.band.setImage(top_class_band(*top_class_colors(history, x0, x1, MAX_SPEC_COLUMNS, self.labels)),
                           autoLevels=False)
        self.band.setRect(QtCore.QRectF(x0, BAND_Y[0], x1 - x0, BAND_Y[1] - BAND_Y[0]))

    def _update_spectrogram(self, history: TrackHistory, x0: float, x1: float) -> None:
        """Show the visible part of the spectrogram, decimated to at most MAX_SPEC_COLUMNS columns."""
        times = history.spec_times.view()[:, 0]
        if not len(times):
            self.spec_image.clear()
            return
        i0 = int(np.searchsorted(times, x0 - SPEC_COLUMN_S))
        i1 = int(np.searchsorted(times, x1 + SPEC_COLUMN_S))
        if i1 <= i0:
            self.spec_image.clear()
            return
        cols = history.spec.view()[i0:i1]
        if times[i1 - 1] - times[i0] > (len(cols) + 1) * SPEC_COLUMN_S:
            self._update_spectrogram_with_gaps(history, times[i0:i1], cols, x0, x1)
            return
        step = max(1, int(np.ceil(len(cols) / MAX_SPEC_COLUMNS)))
        n_cols = len(cols)
        if step > 1:
            n = n_cols // step * step
            parts = [cols[:n].reshape(-1, step, cols.shape[1]).max(axis=1)] if n else []
            if n < n_cols:  # the newest columns form a last, partial group: keep them visible
                parts.append(cols[n:].max(axis=0, keepdims=True))
            cols = np.concatenate(parts)
        self.spec_image.setImage(cols, autoLevels=False, levels=self.spec_levels)
        t0 = float(times[i0])
        span = n_cols * SPEC_COLUMN_S
        self.spec_image.setRect(QtCore.QRectF(t0, 0, span, cols.shape[1]))
        self._set_bands(cols.shape[1])

    def _update_spectrogram_with_gaps(self, history: TrackHistory, times: np.ndarray, cols: np.ndarray,
                                      x0: float, x1: float) -> None:
        """The visible columns placed on an even time grid, for histories with holes (a replay that
        seeked forward skipped audio): unanalysed time stays empty instead of being squeezed out."""
        n_grid = max(1, min(MAX_SPEC_COLUMNS, int(np.ceil((x1 - x0) / SPEC_COLUMN_S))))
        col_w = (x1 - x0) / n_grid
        idx = ((times - x0) / col_w).astype(int)
        keep = (idx >= 0) & (idx < n_grid)
        # Columns no audio reached stay NaN, which the image leaves transparent: not analysed, not silence.
        grid = np.full((n_grid, cols.shape[1]), np.nan, dtype=np.float32)
        grid[idx[keep]] = cols[keep]
        self.spec_image.setImage(grid, autoLevels=False, levels=self.spec_levels)
        self.spec_image.setRect(QtCore.QRectF(x0, 0, x1 - x0, cols.shape[1]))
        self._set_bands(cols.shape[1])

    def _set_bands(self, n_bands: int) -> None:
        """The spectrogram's height in mel bands: the model's (its FeatureConfig), once known."""
        if n_bands != getattr(self, "_n_bands", None):
            self._n_bands = n_bands
            self._keep_caption_room(self.spec_plot, 0.0, float(n_bands))
            self._set_ticks(self.spec_plot, [(v, str(v)) for v in range(0, n_bands + 1, 20)])

    def set_position(self, t_s: float) -> None:
        for line in self.playheads:
            line.setValue(t_s)

    def show_crosshair(self, t_s: float | None) -> None:
        for line in self.crosshairs:
            line.setVisible(t_s is not None)
            if t_s is not None:
                line.setValue(t_s)
        if t_s is None:
            self.readout.setVisible(False)

    def show_readout(self, plot: pg.PlotItem, x: float, y: float, text: str) -> None:
        """The readout beside the pointer in ``plot`` (``y`` is where the pointer is; the text hangs
        from the plot's top)."""
        # On the view box itself, in its pixels, above the captions (which are above the plot's lines).
        if self.readout.parentItem() is not plot.vb:
            if self.readout.scene() is not None:
                self.readout.scene().removeItem(self.readout)
            self.readout.setParentItem(plot.vb)
        (vx0, vx1), (_vy0, vy1) = plot.vb.viewRange()
        right = x > vx0 + 0.6 * (vx1 - vx0)
        # From the top of the plot down, on the pointer's side: a short plot then cuts off the last
        # lines rather than the time.
        self.readout.setAnchor((1.0 if right else 0.0, 0.0))
        self.readout.setText(text)
        self._readout_x = x
        self._place_readout(plot.vb)
        self.readout.setVisible(True)

    def _place_readout(self, vb) -> None:
        """The readout at its time's place in ``vb`` (again when the view scrolls under it)."""
        if self.readout.parentItem() is vb:
            self.readout.setPos(vb.mapFromView(QtCore.QPointF(self._readout_x, vb.viewRange()[1][1])))


def _time_axis_px(plot: pg.PlotItem) -> float:
    """The height of the time axis under ``plot`` where it shows it (the last plot of the last lane), else 0."""
    axis = plot.getAxis("bottom")
    return axis.minimumHeight() if axis.isVisible() else 0.0


def _curve_layout(rows: np.ndarray, cuts: Sequence[float] = ()) -> tuple[np.ndarray, np.ndarray]:
    """Where to draw the result curves: per run of overlapping windows (one speech stretch), a
    point at each window's middle, extended flat to the run's first start and last end, then a
    break (y NaN; x stays finite and sorted for clip-to-view) before the next run, so curves do
    not bridge silences and a lone window shows.

    Args:
        rows: ``(n, >=2)`` result rows of (mid time, end time).
        cuts: times where a run ends whether or not its windows touch (a live pause, which the time
            axis leaves out, or a settings change: the analysis starts afresh there).

    Returns:
        (x, index into rows or -1 for a break).
    """
    n = len(rows)
    if n == 0:
        return np.zeros(0), np.zeros(0, dtype=int)
    mid, end = rows[:, 0], rows[:, 1]
    start = 2 * mid - end
    breaks = np.nonzero(start[1:] > end[:-1] + GAP_TOLERANCE_S)[0] + 1
    cut_at = np.searchsorted(mid, np.asarray(cuts, dtype=float))  # first result after each cut
    breaks = np.union1d(breaks, cut_at[(cut_at > 0) & (cut_at < n)]).astype(int)
    firsts = np.concatenate([[0], breaks])
    lasts = np.concatenate([breaks - 1, [n - 1]])
    xs, idx = [], []
    for a, b in zip(firsts, lasts, strict=True):
        xs += [start[a:a + 1], mid[a:b + 1], end[b:b + 1], end[b:b + 1]]
        idx += [[a], np.arange(a, b + 1), [b], [-1]]
    return np.concatenate(xs), np.concatenate(idx).astype(int)


@functools.cache
def _full_scale_step() -> float:
    """The quantised spectrogram value of a full-scale sine: the top of every lane's fixed scale
    (computed once, not for every lane)."""
    return (SpectrogramMaker().full_scale() - SPEC_LOG_MIN) / SPEC_LOG_STEP


def _initials(outputs: list[str]) -> str:
    """A regression head's outputs by their initials, as its axis and short caption name it: "V/A/D"."""
    return "/".join(o[:1].upper() for o in outputs)


def readout_text(history: TrackHistory, t_s: float, heads, not_analysed: str | None = None) -> str:
    """What the crosshair says at ``t_s``: the time, then the window result shown there (top classes,
    the two-class heads as the likelier class, the regression heads' values), or that none was (and
    why, in a lane that is ``not_analysed``: the agent's channel said "no speech" over speech)."""
    lines = [time_text(t_s)]
    rows = history.results.view()
    found, covered = history.covering(np.array([t_s]), GAP_TOLERANCE_S)
    if not covered[0]:
        return "\n".join(lines + [not_analysed or "not analysed here (no speech, or not reached yet)"])
    i = int(found[0])
    for name, kind, outputs in heads:
        values = history.head(name)[i]
        if not np.isfinite(values).any():
            continue
        if kind == "categorical" and len(outputs) > 2:
            order = np.argsort(-np.nan_to_num(values, nan=-1.0))[:3]
            lines.append(", ".join(f"{outputs[k]} {values[k]:.0%}" for k in order))
        elif kind == "categorical":
            k = int(np.nanargmax(values))
            lines.append(f"{name}: {outputs[k]} {values[k]:.0%}")
        else:
            lines.append("  ".join(f"{o[:1].upper()} {v:.2f}" for o, v in zip(outputs, values, strict=True)))
    if len(history.uncertain) == len(rows) and history.uncertain.view()[i, 0] > 0.5:
        lines.append("(uncertain)")
    return "\n".join(lines)


def top_class_colors(history: TrackHistory, x0: float, x1: float, n: int,
                     labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """At ``n`` evenly spaced times over [x0, x1): ``(n, 4)`` RGBA colours of the top emotion of the
    window result shown there (the one whose middle is the last at or before it, within its
    window), transparent where none covers it; and ``(n,)`` whether that result is uncertain."""
    out, unsure = np.zeros((n, 4), np.ubyte), np.zeros(n, bool)
    rows = history.results.view()
    probs = history.probabilities()
    if not len(rows) or not labels or probs.shape[1] != len(labels):
        return out, unsure
    t = x0 + (np.arange(n) + 0.5) * (x1 - x0) / max(n, 1)
    idx, covered = history.covering(t, GAP_TOLERANCE_S)
    table = np.array([(*label_color(lab), 255) for lab in labels], np.ubyte)
    top = np.nan_to_num(probs, nan=-1.0).argmax(axis=1)
    uncertain = history.uncertain.view()[:, 0] > 0.5 if len(history.uncertain) == len(rows) else np.zeros(len(rows), bool)
    out[covered] = table[top[idx[covered]]]
    unsure[covered] = uncertain[idx[covered]]
    return out, unsure


def top_class_band(colors: np.ndarray, unsure: np.ndarray) -> np.ndarray:
    """The band's image, ``(n, BAND_ROWS, 4)``: each column in its top class's colour, solid where
    the result is confident and striped (every other row empty) where it is uncertain, so that
    "unsure" is told apart from every class by its pattern, not by a shade of grey."""
    image = np.repeat(colors[:, None, :], BAND_ROWS, axis=1)
    image[np.ix_(unsure, np.arange(1, BAND_ROWS, 2))] = 0
    return image


def _break_gaps(t: np.ndarray, db: np.ndarray, cuts: Sequence[float] = ()) -> tuple[np.ndarray, np.ndarray]:
    """Level curve with a break (y NaN) across stretches with no audio (display events the window
    dropped under load): nothing is known there, which is not the same as silence. It breaks at
    ``cuts`` too (live pauses, which the time axis leaves out)."""
    gaps = np.nonzero(np.diff(t) > LEVEL_GAP_S)[0]
    cut_at = np.searchsorted(t, np.asarray(cuts, dtype=float))
    gaps = np.union1d(gaps, cut_at[(cut_at > 0) & (cut_at < len(t))] - 1).astype(int)
    if not len(gaps):
        return t, db
    at = gaps + 1
    return np.insert(t, at, t[gaps] + 1e-3), np.insert(db, at, np.nan)


def _downsample_step(t: np.ndarray, x0: float, x1: float, width_px: float) -> int:
    """How many samples of the series at times ``t`` to draw as one min/max pair when [x0, x1] spans
    ``width_px`` pixels: about SAMPLES_PER_PX pairs per pixel, as pyqtgraph's auto downsampling
    (which presumes evenly spaced samples, as this does)."""
    if len(t) < 2 or width_px <= 0:
        return 1
    dt = float(t[-1] - t[0]) / (len(t) - 1)
    if dt <= 0:
        return 1
    return max(1, int((x1 - x0) / dt / (width_px * SAMPLES_PER_PX)))


def _stretch(t: np.ndarray, x0: float, x1: float, step: int) -> tuple[int, int, float, float]:
    """The samples of sorted times ``t`` to give a curve for the view [x0, x1]: the view plus
    CURVE_MARGIN of its span each side, and one sample beyond, so lines run on past the plot's edges.
    The first index is a multiple of ``step``, so the decimated runs stay put while the view scrolls.

    Returns:
        (first index, end index, start and end of the time range this covers).
    """
    margin = CURVE_MARGIN * (x1 - x0)
    lo, hi = x0 - margin, x1 + margin
    i0, i1 = np.searchsorted(t, [lo, hi])
    i0, i1 = max(0, int(i0) - 1), min(len(t), int(i1) + 1)
    return i0 - i0 % step, i1, lo, hi


def _peak_decimate(t: np.ndarray, ys: np.ndarray, step: int) -> tuple[np.ndarray, np.ndarray]:
    """pyqtgraph's "peak" downsampling of the columns of ``ys`` (n, k): per run of ``step`` samples,
    its maximum then its minimum, both at the run's middle time (a NaN in a run keeps the curve's
    break). The last run may be shorter: the newest values stay visible."""
    if step <= 1 or len(t) == 0:
        return t, ys
    starts = np.arange(0, len(t), step)
    x = np.repeat(t[np.minimum(starts + step // 2, len(t) - 1)], 2)
    y = np.empty((2 * len(starts), ys.shape[1]), dtype=ys.dtype)
    y[0::2] = np.maximum.reduceat(ys, starts, axis=0)
    y[1::2] = np.minimum.reduceat(ys, starts, axis=0)
    return x, y


def _take(values: np.ndarray, idx: np.ndarray) -> np.ndarray:
    out = values[np.clip(idx, 0, None)].astype(np.float64)
    out[idx < 0] = np.nan
    return out


class PlotStack(pg.GraphicsLayoutWidget):
    """All lanes, X-linked. Clicking a plot asks to seek there; panning stops following."""

    sig_seek_requested = QtCore.Signal(float)
    follow_changed = QtCore.Signal(bool)

    def __init__(self, parent=None):
        super().__init__(parent=parent)
        self.setBackground(PLOT_BACKGROUND)
        self.lanes: dict[int, Lane] = {}
        self.heads: list = []  # the model's declared heads (see gui.history.head_layout)
        self.labels: list[str] = []
        self.hidden_labels: set[str] = set()
        self.span_s = DEFAULT_SPAN_S
        self.follow = True
        self.position_s = 0.0
        self._master = None
        self._setting_range = False
        self._applied = None
        self._hint = None
        self.hint_text = START_HINT  # what the empty canvas says (the window: NO_MICROPHONE_HINT without one)
        self._histories: dict[int, TrackHistory] = {}
        self.key: pg.LegendItem | None = None  # the colour key above the lanes (outside every plot)
        self.markers: list[tuple[float, str]] = []  # live pauses and settings changes: (where on the axis, what)
        self.scene().sigMouseClicked.connect(self._on_click)
        self.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self._show_hint()

    def _show_hint(self) -> None:
        """What to do, on the empty canvas of a first start."""
        self._hint = self.ci.addLabel(self.hint_text, color=(170, 170, 170), size="12pt")

    def set_hint(self, text: str) -> None:
        """Change what the empty canvas says (shown at once when it is empty)."""
        self.hint_text = text
        if self._hint is not None:
            self._hint.setText(text, color=(170, 170, 170), size="12pt")

    def set_heads(self, heads) -> None:
        """The model's declared heads (``ModelMeta.heads``, or its emotion labels): one plot each."""
        heads = list(heads)
        if heads != self.heads:
            self.heads = heads
            self.labels = next((o for n, _, o in head_layout(heads) if n == "emotion"), [])
            self.clear_lanes()

    def clear_lanes(self) -> None:
        self.ci.clear()
        self.lanes = {}
        self.key = None
        self._master = None
        self.markers = []
        self._show_hint()

    def add_marker(self, at_s: float, text: str) -> None:
        """Mark a moment of the session in every lane: where live audio was paused (the time axis
        leaves the pause out) or where the analysis settings changed."""
        self.markers.append((at_s, text))
        for lane in self.lanes.values():
            lane.add_marker(at_s, text)

    def _make_key(self, lane: Lane) -> None:
        """One colour key for all lanes, in its own row above them, so that no legend covers data.
        A click on an entry hides or shows that curve in every lane."""
        self.key = pg.LegendItem(labelTextSize="8pt", brush=pg.mkBrush(0, 0, 0, 0), colCount=LEGEND_COLUMNS)
        self.ci.addItem(self.key, row=0, col=0)
        for name, curve in lane.keyed_curves():
            self.key.addItem(curve, name)
        for sample, _label in self.key.items:
            sample.sigClicked.connect(self._on_legend_clicked)
        self._fit_key()

    def _fit_key(self, width: int | None = None) -> None:
        if self.key is None:
            return
        width = self.width() if width is None else width
        columns = NARROW_LEGEND_COLUMNS if width < NARROW_PLOT_PX else LEGEND_COLUMNS
        columns = min(columns, max(1, len(self.key.items)))
        if self.key.columnCount != columns:
            self.key.setColumnCount(columns)

    def ensure_lane(self, track: int, name: str) -> Lane:
        if track in self.lanes:
            return self.lanes[track]
        if self._hint is not None:
            self.ci.removeItem(self._hint)
            self._hint = None
        self._applied = None
        lane = Lane(self.ci, 1 + (2 + len(head_layout(self.heads))) * len(self.lanes), track, name, self.heads)
        if self.key is None:
            self._make_key(lane)
        if self._master is None:
            self._master = lane.level_plot
            self._master.vb.sigRangeChangedManually.connect(self._on_manual_range)
        for p in lane.plots:
            if p is not self._master:
                p.setXLink(self._master)
                p.vb.sigRangeChangedManually.connect(self._on_manual_range)
        for label in self.hidden_labels:
            lane.set_label_visible(label, False)
        for at_s, text in self.markers:
            lane.add_marker(at_s, text)
        self.lanes[track] = lane
        self._update_bottom_axis()
        self._apply_range()
        return lane

    def _update_bottom_axis(self) -> None:
        lanes = [self.lanes[k] for k in sorted(self.lanes)]
        for lane in lanes:
            for p in lane.plots:
                p.showAxis("bottom", False)
                # A hidden time axis would still re-typeset its unit label on every scroll.
                for name in ("top", "bottom"):
                    p.getAxis(name).enableAutoSIPrefix(False)
        if lanes:
            bottom = lanes[-1].plots[-1]
            bottom.showAxis("bottom", True)
            axis = bottom.getAxis("bottom")
            if not isinstance(axis.tickStrings, functools.partial):
                axis.tickStrings = functools.partial(clock_tick_strings, axis)
            bottom.setLabel("bottom", "time (s; m:ss from a minute, h:mm:ss from an hour)")
        for lane in lanes:  # the plot with the time axis keeps its least height above the axis (folded, too)
            lane.fit_heights()

    def set_no_audio(self, why: str) -> None:
        """Every lane's audio plots say why they are empty (:meth:`Lane.set_no_audio`)."""
        for lane in self.lanes.values():
            lane.set_no_audio(why)

    def set_lane_name(self, track: int, name: str) -> None:
        if track in self.lanes:
            self.lanes[track].set_name(name)

    def set_label_visible(self, label: str, visible: bool) -> None:
        """Show or hide an emotion class in every lane (and in lanes made later)."""
        (self.hidden_labels.discard if visible else self.hidden_labels.add)(label)
        for lane in self.lanes.values():
            lane.set_label_visible(label, visible)

    def _on_legend_clicked(self, item) -> None:
        self.set_label_visible(item.name(), item.isVisible())

    def set_follow(self, follow: bool) -> None:
        self._applied = None
        if follow != self.follow:
            self.follow = follow
            self.follow_changed.emit(follow)
        if follow:
            self._apply_range()

    def set_position(self, t_s: float) -> None:
        if t_s == self.position_s and self._applied == (self.follow, self.span_s):
            return  # nothing moved: an idle window must not repaint 30 times a second
        self.position_s = t_s
        self._applied = (self.follow, self.span_s)
        for lane in self.lanes.values():
            lane.set_position(t_s)
        if self.follow:
            self._apply_range()

    def look_at(self, t_s: float) -> None:
        """Stop following and centre the view on ``t_s`` (from 0 s at the earliest: no negative times)."""
        self.set_follow(False)
        if self._master is not None:
            self._setting_range = True
            x0 = max(0.0, t_s - self.span_s / 2)
            self._master.setXRange(x0, x0 + self.span_s, padding=0)
            self._setting_range = False

    def show_all(self, end_s: float) -> None:
        """Stop following and show the whole recording (used when a replay ends)."""
        self.set_follow(False)
        if self._master is not None:
            self._setting_range = True
            self._master.setXRange(0, max(end_s, 1.0), padding=0.01)
            self._setting_range = False

    def _apply_range(self) -> None:
        if self._master is None:
            return
        x1 = max(self.position_s, self.span_s)
        self._setting_range = True
        self._master.setXRange(x1 - self.span_s, x1, padding=0)
        self._setting_range = False

    def x_range(self) -> tuple[float, float]:
        if self._master is None:
            return 0.0, self.span_s
        x0, x1 = self._master.vb.viewRange()[0]
        return float(x0), float(x1)

    def minimum_plots_height(self) -> int:
        """The height below which the plots become unreadable (MIN_PLOT_PX each, a lane not analysed
        its two audio plots and one caption row), with the colour key and the time axis as laid out: the window's
        scroll area keeps the stack at least this high, and scrolls, in a small window (at 800 x 500 a
        user trial found two lanes' plots about 10 pixels high, their tick labels on top of each other)."""
        if not self.lanes:
            return 0
        least = self.ci.effectiveSizeHint(QtCore.Qt.SizeHint.MinimumSize).height()  # the plots' minimums laid out
        return int(math.ceil(least)) + 2 * self.frameWidth()

    def refresh(self, histories: dict[int, TrackHistory]) -> None:
        """Redraw lanes whose history changed and the visible spectrogram."""
        if (least := self.minimum_plots_height()) != self.minimumHeight():
            self.setMinimumHeight(least)  # lanes came, went or folded
        self._histories = histories
        x0, x1 = self.x_range()
        for track, hist in histories.items():
            lane = self.lanes.get(track)
            if lane is None:
                continue
            lane.update_data(hist, x0, x1)
            lane.update_visible(hist, x0, x1)

    def invalidate(self) -> None:
        """Force a redraw of every lane on the next refresh (smoothing changed)."""
        for lane in self.lanes.values():
            lane.version = lane.result_version = -1
            lane._fed.clear()

    def _on_manual_range(self, *_args) -> None:
        if not self._setting_range:
            self.set_follow(False)

    def seek_at_scene_pos(self, pos: QtCore.QPointF) -> float | None:
        """Time under a scene position if it is inside a plot, else None."""
        for lane in self.lanes.values():
            for p in lane.plots:
                if p.vb.sceneBoundingRect().contains(pos):
                    return max(0.0, float(p.vb.mapSceneToView(pos).x()))
        return None

    def _on_mouse_moved(self, pos: QtCore.QPointF) -> None:
        """A crosshair through every lane at the pointer's time, and a readout of the result there."""
        for lane in self.lanes.values():
            for p in lane.plots:
                if p.vb.sceneBoundingRect().contains(pos):
                    pt = p.vb.mapSceneToView(pos)
                    t = max(0.0, float(pt.x()))
                    for other in self.lanes.values():
                        other.show_crosshair(t)
                        if other is not lane:
                            other.readout.setVisible(False)
                    history = self._histories.get(lane.track)
                    if history is not None:
                        why = None if lane.analysed else f"not analysed{lane.not_analysed_why}"
                        lane.show_readout(p, float(pt.x()), float(pt.y()), readout_text(history, t, lane.heads, why))
                    return
        for lane in self.lanes.values():
            lane.show_crosshair(None)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        # The key's columns first: the resize lays the plots out, and a key still as wide as before
        # would hold them wider than the widget (their right part cut off under the side panel).
        if getattr(self, "key", None) is not None:  # Qt resizes the widget before __init__ ends
            self._fit_key(event.size().width())
        super().resizeEvent(event)

    def wheelEvent(self, event) -> None:  # noqa: N802 - Qt override
        """Over a plot the wheel zooms in time; elsewhere (the colour key, the axes) it is left to the
        window's scroll area, which scrolls the lanes of a small window."""
        if any(isinstance(item, pg.ViewBox) for item in self.items(event.position().toPoint())):
            super().wheelEvent(event)
        else:
            event.ignore()

    def leaveEvent(self, event) -> None:  # noqa: N802 - Qt override
        for lane in self.lanes.values():
            lane.show_crosshair(None)
        super().leaveEvent(event)

    def _on_click(self, ev) -> None:
        if ev.isAccepted() or ev.double() or ev.button() != QtCore.Qt.MouseButton.LeftButton:
            return  # a legend entry took it, or not a plain left click
        t = self.seek_at_scene_pos(ev.scenePos())
        if t is not None:
            self.sig_seek_requested.emit(t)
