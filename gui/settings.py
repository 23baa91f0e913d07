"""Analyzer settings (typed, units in the names) and the dialog that edits them."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from PySide6 import QtCore, QtWidgets

from model.meta import DEFAULT_ANALYSIS
from streamer.config import MIN_CONFIDENT_SPEECH_S

SPEEDS = (0.5, 1.0, 2.0, 4.0, 8.0)


@dataclass(frozen=True)
class GuiSettings:
    """What the user can set. Engine settings are passed on to the engine's config."""

    model_path: str = "default"
    # Analysis window and hop; None: what the model file says it was trained for (ModelMeta.analysis).
    window_s: float | None = None
    hop_s: float | None = None
    vad_aggressiveness: int = 2
    smoothing: float = 0.0  # exponential smoothing of displayed curves, 0 = raw
    view_span_s: float = 30.0
    speed: float = 1.0  # replay speed; 0 means as fast as possible
    channels: str = "mix"  # "mix" or "split" (call-centre lanes)
    sound: bool = False  # play file replays through the sound output (at 1x only)
    sound_device: str = ""  # output device name or index; empty for the system default
    speaker_adaptation: bool = True  # centre each lane on its speaker's own average after ~10 s of speech
    # Call-centre view: analyse the agent's channel too. Off by default: in the EU, inferring the emotions of
    # employees at work is prohibited (AI Act, Art. 5(1)(f)); the agent's lane is shown, not analysed.
    analyse_agent: bool = False

    def replace(self, **changes) -> GuiSettings:
        return dataclasses.replace(self, **changes)


SETTINGS_KEY = "analyzer/settings"
# 2: window and hop are None unless chosen (the model's). Version 1 saved the then-defaults 2.0 / 0.5
# for everyone; read back, those mean "the model's".
SETTINGS_VERSION = 2
TRACK_NAMES_KEY = "analyzer/track_names"  # written by earlier versions; removed when read


def load_settings(store: QtCore.QSettings, base: GuiSettings) -> GuiSettings:
    """Settings saved by an earlier run (``base`` where nothing usable was saved). Lane names are not
    settings: a name typed for one call (often a person's) belongs to that call's session only. Names
    that earlier versions saved here for every later recording are removed from the store."""
    if store.contains(TRACK_NAMES_KEY):
        store.remove(TRACK_NAMES_KEY)
        store.sync()
    try:
        saved = json.loads(str(store.value(SETTINGS_KEY, "{}")))
    except (TypeError, ValueError):
        return base  # a damaged settings file must not stop the app
    known = {f.name for f in dataclasses.fields(GuiSettings)}
    changes = {k: v for k, v in saved.items() if k in known} if isinstance(saved, dict) else {}
    if isinstance(saved, dict) and saved.get("settings_version", 1) < 2:
        if changes.get("window_s") == 2.0 and changes.get("hop_s") == 0.5:
            changes["window_s"] = changes["hop_s"] = None
    try:
        return base.replace(**changes)
    except TypeError:
        return base


def save_settings(store: QtCore.QSettings, settings: GuiSettings) -> None:
    store.setValue(SETTINGS_KEY, json.dumps({**dataclasses.asdict(settings), "settings_version": SETTINGS_VERSION}))
    store.sync()


class SettingsDialog(QtWidgets.QDialog):
    """Edits window, hop, VAD aggressiveness, smoothing, view span, the model file and the sound output."""

    def __init__(self, settings: GuiSettings, parent=None,
                 model_window: tuple[float, float] = (DEFAULT_ANALYSIS["window_s"], DEFAULT_ANALYSIS["hop_s"])):
        """``model_window``: the current model's own window and hop, shown while the settings leave
        them to the model (None) and kept as None when they are not changed."""
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self._settings = settings
        self._model_window = model_window
        form = QtWidgets.QFormLayout(self)

        self.window_spin = QtWidgets.QDoubleSpinBox(suffix=" s", minimum=0.5, maximum=10.0, singleStep=0.25, decimals=3)
        self.window_spin.setValue(settings.window_s or model_window[0])
        self.window_spin.setToolTip(f"Length of each analysed stretch; the model was trained for {model_window[0]:g} s. "
                                    f"A window holding less than {MIN_CONFIDENT_SPEECH_S:g} s of speech is always "
                                    "marked uncertain (its utterance's result need not be)")
        self.hop_spin = QtWidgets.QDoubleSpinBox(suffix=" s", minimum=0.1, maximum=5.0, singleStep=0.1, decimals=3)
        self.hop_spin.setValue(settings.hop_s or model_window[1])
        self.hop_spin.setToolTip(f"Time between analysed windows, at most the window; the model's is {model_window[1]:g} s")
        # A hop longer than the window would leave audio unanalysed between windows.
        self.hop_spin.setMaximum(self.window_spin.value())
        self.window_spin.valueChanged.connect(lambda v: self.hop_spin.setMaximum(v))
        self.vad_spin = QtWidgets.QSpinBox(minimum=0, maximum=3)
        self.vad_spin.setValue(settings.vad_aggressiveness)
        self.vad_spin.setToolTip("0 keeps the most audio as speech, 3 the least")
        self.smooth_spin = QtWidgets.QDoubleSpinBox(minimum=0.0, maximum=0.95, singleStep=0.05)
        self.smooth_spin.setValue(settings.smoothing)
        self.smooth_spin.setToolTip("Exponential smoothing of the displayed curves (0 = none)")
        self.span_spin = QtWidgets.QDoubleSpinBox(suffix=" s", minimum=5.0, maximum=600.0, singleStep=5.0)
        self.span_spin.setValue(settings.view_span_s)

        model_row = QtWidgets.QHBoxLayout()
        self.model_edit = QtWidgets.QLineEdit(settings.model_path)
        browse = QtWidgets.QPushButton("Browse…")
        browse.clicked.connect(self._browse_model)
        model_row.addWidget(self.model_edit)
        model_row.addWidget(browse)
        self.adapt_check = QtWidgets.QCheckBox("Adapt to each speaker")
        self.adapt_check.setChecked(settings.speaker_adaptation)
        self.adapt_check.setToolTip("Once about 10 s of a lane's speech has been analysed, judge it against that "
                                    "speaker's own average voice (models trained for it; recorded in the session)")
        self.agent_check = QtWidgets.QCheckBox("Analyse the agent's channel too")
        self.agent_check.setChecked(settings.analyse_agent)
        self.agent_check.setToolTip("Call-centre view: by default the agent's lane is shown (level, spectrogram) but "
                                    "not analysed. In the EU, inferring the emotions of employees at work is "
                                    "prohibited (AI Act, Art. 5(1)(f)); turn this on only where it is lawful.")
        self.sound_device_edit = QtWidgets.QLineEdit(settings.sound_device)
        self.sound_device_edit.setPlaceholderText("system default")
        self.sound_device_edit.setToolTip("Output device for the Sound of file replays: its name (or part of it) "
                                          "or its number; empty for the system default")

        form.addRow("Window", self.window_spin)
        form.addRow("Hop", self.hop_spin)
        form.addRow("VAD aggressiveness", self.vad_spin)
        form.addRow("Curve smoothing", self.smooth_spin)
        form.addRow("Visible time span", self.span_spin)
        form.addRow("Speaker adaptation", self.adapt_check)
        form.addRow("Call-centre view", self.agent_check)
        form.addRow("Model file", model_row)
        form.addRow("Sound output", self.sound_device_edit)
        buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.StandardButton.Ok | QtWidgets.QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _browse_model(self) -> None:
        from gui.filedialogs import choose_file

        path = choose_file(self, "Model file", "", "Model files (*.safetensors)")
        if path:
            self.model_edit.setText(path)

    def values(self) -> GuiSettings:
        def chosen(value: float, current: float | None, model: float) -> float | None:
            # Unchanged: stays as it was (None keeps following the model, also a model chosen later).
            return current if abs(value - (current or model)) < 1e-9 else value

        return self._settings.replace(
            window_s=chosen(self.window_spin.value(), self._settings.window_s, self._model_window[0]),
            hop_s=chosen(self.hop_spin.value(), self._settings.hop_s, self._model_window[1]),
            vad_aggressiveness=self.vad_spin.value(),
            smoothing=self.smooth_spin.value(),
            view_span_s=self.span_spin.value(),
            model_path=self.model_edit.text().strip() or "default",
            sound_device=self.sound_device_edit.text().strip(),
            speaker_adaptation=self.adapt_check.isChecked(),
            analyse_agent=self.agent_check.isChecked(),
        )
