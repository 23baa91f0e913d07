"""Help > About and Help > Keyboard shortcuts: what the app is, the model it runs (what it learnt
from, under which licence, and how accurate it was on speakers and corpora it never heard), where
sessions are kept, and every key.

Accuracy comes from the files beside the model, never from this code: the model file's stored
speaker-held-out cross-validation, shown only beside the cross-corpus figures of its accuracy report
(``<model>_suite.json``, written by ``ser eval --suite --out``) when that report is of this model."""

from __future__ import annotations

import html
import json
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

EU_NOTE = ("Inferring the emotions of people at work is prohibited in the EU (AI Act, Art. 5(1)(f)): the "
           "call-centre view analyses the customer's channel only, unless Settings says otherwise where "
           "that is lawful.")
CHANCE_8 = 1 / 8  # an 8-way answer by chance
CORPUS_NAMES = {"ravdess": "RAVDESS speech", "ravdess-song": "RAVDESS song", "iemocap": "IEMOCAP",
                "emodb": "EmoDB", "baved": "BAVED"}  # as the corpora call themselves
# Toolbar texts that say too little on their own in the list of keys.
SHORTCUT_NAMES = {"Play": "Play, pause or resume", "Pause": "Play, pause or resume", "Resume": "Play, pause or resume",
                  "−5 s": "Seek back 5 s", "+5 s": "Seek forward 5 s", "Slower": "Slower replay",
                  "Faster": "Faster replay", "Sound": "Sound on or off (replay at 1x)", "Listen": "Listen to the microphone",
                  "Sessions": "Saved sessions"}
RUNTIME_NAMES = {"onnx": "ONNX Runtime, as the app runs it", "torch": "torch"}


def suite_path(model_path: str | Path) -> Path:
    """Where a model file's accuracy report lies: ``default.safetensors`` -> ``default_suite.json``."""
    path = Path(model_path)
    return path.with_name(f"{path.stem}_suite.json")


def accuracy_lines(model_path: str | Path, stored_cv: dict | None) -> list[str]:
    """The model's accuracy in sentences: its stored RAVDESS cross-validation beside EmoDB and BAVED
    from the report beside it, or why there is none. The report counts only if it holds the same
    cross-validation as the model file (a model trained again keeps the old report's name)."""
    report = suite_path(model_path)
    try:
        suite = json.loads(report.read_text())
    except FileNotFoundError:
        return [f"No accuracy report beside the model file ({report.name}): 'ser eval --suite --out "
                f"{report.name}' measures it on corpora it never learnt from."]
    except (OSError, ValueError) as exc:
        return [f"The accuracy report beside the model file ({report.name}) cannot be read ({exc})."]
    if not isinstance(suite, dict) or not stored_cv or suite.get("ravdess_cv") != stored_cv:
        return [f"The accuracy report beside the model file ({report.name}) is of another model (it was "
                f"trained again since): 'ser eval --suite --out {report.name}' measures this one."]
    lines = []
    try:
        cv, em, bv = suite["ravdess_cv"], suite["emodb"], suite["baved"]
        lines.append(f"Speakers it never heard, in the corpus it learnt from (RAVDESS, {cv['split'].split(';')[0]}): "
                     f"8 emotions {100 * cv['unweighted_accuracy']['mean']:.1f} % unweighted accuracy (chance "
                     f"{100 * CHANCE_8:.1f} %), gender {100 * cv['gender_accuracy']['mean']:.1f} %.")
        lines.append(f"Corpora it never learnt from, other languages and recordings: EmoDB (German, "
                     f"{len(em['speakers'])} speakers) {100 * em['ua_full']:.1f} % unweighted accuracy choosing "
                     f"among its {len(em['labels'])} emotions, {100 * em['ua_restricted']:.1f} % among the "
                     f"{len(em['classes'])} EmoDB also has, gender {100 * em['gender_accuracy']:.1f} %; "
                     f"BAVED (Arabic, {len(bv['speakers'])} speakers) arousal follows the acted level with a "
                     f"Spearman correlation of {bv['arousal_level_spearman']:.2f}, gender "
                     f"{100 * bv['gender_accuracy']:.1f} %.")
    except (KeyError, TypeError, ZeroDivisionError):
        return [f"The accuracy report beside the model file ({report.name}) lacks figures; 'ser eval --suite "
                f"--out {report.name}' writes it again."]
    runtime = RUNTIME_NAMES.get(suite.get("runtime"), suite.get("runtime"))
    lines.append("All three are acted speech. Through a simulated telephone line it did worse (the model card "
                 "gives the figures); natural conversation was not measured"
                 f"{f'. Measured with {runtime}' if runtime else ''}.")
    return lines


def about_html(version: str, model_path: str | None, meta, runtime: str, sessions: str | Path) -> str:
    """The About text. ``meta``: the model's metadata (None when no model could be read)."""
    e = html.escape
    parts = [f"<h3>Speech emotion analyzer {e(version)}</h3>",
             "<p>Emotions (8 categories), the speaker's gender, and valence, arousal and dominance, from "
             "speech: live from a microphone, from recordings, and per side of a call.</p>"]
    if meta is None or model_path is None:
        parts.append("<p><b>Model</b>: none could be read; choose a model file in Settings.</p>")
    else:
        parts.append(f"<p><b>Model</b>: {e(Path(model_path).name)} ({e(str(model_path))}), run by {e(runtime)}.</p>")
        corpora = [c for c in (meta.corpora or []) if isinstance(c, dict)]
        if corpora:
            learnt = "; ".join(f"{e(CORPUS_NAMES.get(str(c.get('name')), str(c.get('name', '?'))))} "
                               f"({len(c.get('speakers') or [])} speakers, licence "
                               f"{e(str(c.get('licence') or 'not stated'))})" for c in corpora)
            parts.append(f"<p><b>It learnt from</b>: {learnt}. Its weights carry the licence of what it learnt "
                         "from (CC BY-NC-SA: not for commercial use).</p>"
                         if any("NC" in str(c.get("licence", "")) for c in corpora)
                         else f"<p><b>It learnt from</b>: {learnt}.</p>")
        accuracy = accuracy_lines(model_path, (meta.metrics or {}).get("cross_validation"))
        parts.append("<p><b>Accuracy</b></p><ul>" + "".join(f"<li>{e(line)}</li>" for line in accuracy) + "</ul>")
        card = Path(__file__).resolve().parent.parent / "model" / "MODEL_CARD.md"
        if card.is_file():
            parts.append(f"<p>Model card: {e(str(card))}</p>")
    parts.append(f"<p><b>Sessions</b> (every analysis, kept as it goes): {e(str(sessions))}</p>")
    parts.append(f"<p>{e(EU_NOTE)}</p>")
    return "".join(parts)


def shortcut_rows(actions) -> list[tuple[str, str]]:
    """(what, key) for every action with a shortcut, in the order given, each key once."""
    rows, seen = [], set()
    for a in actions:
        keys = a.shortcut().toString(QtGui.QKeySequence.SequenceFormat.NativeText)
        text = a.text().replace("&", "").rstrip("…").strip()
        text = SHORTCUT_NAMES.get(text, text)
        if keys and text and keys not in seen:
            seen.add(keys)
            rows.append((text, keys))
    return rows


def show_text_dialog(parent: QtWidgets.QWidget, title: str, text: str, name: str) -> QtWidgets.QDialog:
    """A non-modal dialog holding rich ``text`` (selectable, links open), with a Close button."""
    dialog = QtWidgets.QDialog(parent)
    dialog.setObjectName(name)
    dialog.setWindowTitle(title)
    dialog.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
    layout = QtWidgets.QVBoxLayout(dialog)
    label = QtWidgets.QLabel(text)
    label.setTextFormat(QtCore.Qt.TextFormat.RichText)
    label.setWordWrap(True)
    label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextBrowserInteraction)
    label.setOpenExternalLinks(True)
    scroll = QtWidgets.QScrollArea()
    scroll.setWidget(label)
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
    layout.addWidget(scroll, 1)
    buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close)
    buttons.rejected.connect(dialog.close)
    layout.addWidget(buttons)
    dialog.resize(640, 520)
    dialog.show()
    return dialog
