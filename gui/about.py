"""Help > About and Help > Keyboard shortcuts: what the app is, the model it runs (what it learnt
from, under which licence, and how accurate it was on speakers and corpora it never heard), where
sessions are kept, and every key.

Accuracy comes from the files beside the model, never from this code: the model file's stored
speaker-held-out cross-validation, shown only beside the cross-corpus figures of its accuracy report
(``<model>_suite.json``, written by ``ser eval --suite --out``) when that report is of this model."""

from __future__ import annotations

import html
import json
import math
import re
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

EU_NOTE = ("Inferring the emotions of people at work is prohibited in the EU (AI Act, Art. 5(1)(f)): the "
           "call-centre view analyses the customer's channel only, unless Settings says otherwise where "
           "that is lawful.")
CORPUS_NAMES = {"ravdess": "RAVDESS speech", "ravdess-song": "RAVDESS song", "iemocap": "IEMOCAP",
                "emodb": "EmoDB", "baved": "BAVED"}  # as the corpora call themselves
# Toolbar texts that say too little on their own in the list of keys.
SHORTCUT_NAMES = {"Play": "Play, pause or resume", "Pause": "Play, pause or resume", "Resume": "Play, pause or resume",
                  "−5 s": "Seek back 5 s", "+5 s": "Seek forward 5 s", "Slower": "Slower replay",
                  "Faster": "Faster replay", "Sound": "Sound on or off (replay at 1x)", "Listen": "Listen to the microphone",
                  "Sessions": "Saved sessions"}


def suite_path(model_path: str | Path) -> Path:
    """Where a model file's accuracy report lies: ``default.safetensors`` -> ``default_suite.json``."""
    path = Path(model_path)
    return path.with_name(f"{path.stem}_suite.json")


def _share(value) -> str | None:
    """A share as "61.2 %", or None when it is not a number (not measured: None, NaN)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return f"{100 * value:.1f} %"


def _gender(value) -> str:
    share = _share(value)
    return f", gender {share}" if share else ""


def _corpus_of(split) -> str:
    """The corpus a cross-validation's split names ("... cross-validation on ravdess; ...")."""
    name = str(split).split(";")[0].rsplit(" on ", 1)[-1].strip() if " on " in str(split) else ""
    return CORPUS_NAMES.get(name, name) or "the corpus it learnt from"


def accuracy_lines(model_path: str | Path, stored_cv: dict | None, n_labels: int = 8) -> list[str]:
    """The model's accuracy in sentences: its stored speaker-held-out cross-validation beside EmoDB
    and BAVED from the report beside it, or why there is none. The report counts only if it holds
    the same cross-validation as the model file (a model trained again keeps the old report's name);
    a figure the report lacks is left out, never guessed."""
    report = suite_path(model_path)
    again = f"'ser eval --suite --out {report.name}' measures it on corpora it never learnt from."
    try:
        suite = json.loads(report.read_text())
    except FileNotFoundError:
        return [f"No accuracy report beside the model file ({report.name}): {again}"]
    except (OSError, ValueError) as exc:
        return [f"The accuracy report beside the model file ({report.name}) cannot be read ({exc}): {again}"]
    if not isinstance(stored_cv, dict) or not stored_cv:
        return [f"The model file stores no speaker-held-out result of its own, so the report beside it "
                f"({report.name}) cannot be told to be of this model: its figures are not shown."]
    if not isinstance(suite, dict) or suite.get("ravdess_cv") != stored_cv:
        return [f"The accuracy report beside the model file ({report.name}) is of another model (it was "
                f"trained again since): {again}"]
    try:
        cv, em, bv = suite["ravdess_cv"], suite["emodb"], suite["baved"]
        figures = _figures(cv["unweighted_accuracy"]["mean"], em["ua_full"], em["ua_restricted"],
                           bv["arousal_level_spearman"])
        if figures is None:
            raise ValueError("a figure is missing")
        ua, em_full, em_shared, rho = figures
        count = f"{n_labels} emotions" if n_labels else "emotions"
        chance = f" (chance {100 / n_labels:.1f} %)" if n_labels else ""
        held_out = (f"Speakers it never heard, in the corpus it learnt from ({_corpus_of(cv.get('split'))}, "
                    f"{str(cv.get('split', 'speaker-held-out')).split(';')[0].rsplit(' on ', 1)[0]}): {count} {ua} unweighted "
                    f"accuracy{chance}{_gender((cv.get('gender_accuracy') or {}).get('mean'))}.")
        through = f", its clips through {suite['degraded']}" if suite.get("degraded") else ""
        cross = (f"Corpora it never learnt from, other languages and recordings{through}: EmoDB (German, "
                 f"{len(em['speakers'])} speakers) {em_full} unweighted accuracy choosing among its "
                 f"{len(em['labels'])} emotions, {em_shared} among the {len(em['classes'])} EmoDB also has"
                 f"{_gender(em.get('gender_accuracy'))}; BAVED (Arabic, {len(bv['speakers'])} speakers) arousal "
                 f"follows the acted level with a Spearman correlation of {rho:.2f}{_gender(bv.get('gender_accuracy'))}.")
    except Exception:  # noqa: BLE001 - a report written by hand or by another version: say so, never crash
        return [f"The accuracy report beside the model file ({report.name}) lacks figures or holds odd ones: "
                f"{again}"]
    from model.runtime import RUNTIME_NAMES

    runtime = suite.get("runtime")
    runtime = (RUNTIME_NAMES.get(runtime, runtime) + (", as the app runs it" if runtime == "onnx" else "")
               if isinstance(runtime, str) else None)
    return [held_out, cross, *_adapted_line(cv, em, bv),
            "All three are acted speech. Through a simulated telephone line it did worse (the model card gives the "
            f"figures); natural conversation was not measured{f'. Measured with {runtime}' if runtime else ''}."]


def cv_encoder_note(meta) -> str | None:
    """A model file whose voice encoder was replaced after its cross-validation
    (``python -m training.voice_distill install``) keeps that cross-validation: say that its
    speaker-held-out figure is of the encoder it had then. None for any other file."""
    training = getattr(meta, "training", None)
    voice = training.get("voice_encoder") if isinstance(training, dict) else None
    then = voice.get("cross_validation_and_calibration_measured_with") if isinstance(voice, dict) else None
    hidden = then.get("voice_hidden") if isinstance(then, dict) else None
    arch = getattr(meta, "arch", None)
    if not isinstance(hidden, list) or arch is None or tuple(hidden) == tuple(arch.voice_hidden):
        return None
    return ("That speaker-held-out figure, and the calibration of the probabilities, were measured with the voice "
            "encoder the model had before its present, lighter one (the corpora it never learnt from are measured "
            "with the present one; the model card gives both encoders' figures).")


def _figures(ua, em_full, em_shared, rho) -> tuple[str, str, str, float] | None:
    """The three corpora's figures as the text gives them (RAVDESS and EmoDB's two shares, BAVED's
    Spearman correlation), or None when one of them is not a number."""
    shares = _share(ua), _share(em_full), _share(em_shared)
    if not all(shares) or not isinstance(rho, (int, float)) or not math.isfinite(rho):
        return None
    return (*shares, rho)


def _adapted_line(cv: dict, em: dict, bv: dict) -> list[str]:
    """The same three figures with speaker adaptation, the app's default (Settings), when the report
    holds all of them; nothing otherwise."""
    try:
        figures = _figures(cv["speaker_adapted"]["unweighted_accuracy"]["mean"], em["adapted"]["ua_full"],
                           em["adapted"]["ua_restricted"], bv["adapted"]["arousal_level_spearman"])
    except (KeyError, TypeError):
        return []
    if figures is None:
        return []
    ua, em_full, em_shared, rho = figures
    return [f"With speaker adaptation, the app's default (each lane judged against its speaker's own average "
            f"once about 10 s of speech are analysed): {ua} on the speakers it never heard, EmoDB {em_full} and "
            f"{em_shared}, BAVED {rho:.2f}."]


def _non_commercial(licence: str) -> bool:
    """Whether a licence's name says non-commercial (CC BY-NC, BY-NC-SA, BY-NC-ND)."""
    return re.search(r"\bNC\b", licence.replace("-", " ")) is not None


def about_html(version: str, model_path: str | None, meta, runtime: str, sessions: str | Path) -> str:
    """The About text. ``meta``: the model's metadata (None when no model could be read)."""
    e = html.escape
    labels = list(getattr(meta, "labels", None) or [])
    what = f"Emotions ({len(labels)} categories)" if labels else "Emotions"
    parts = [f"<h3>Speech emotion analyzer {e(version)}</h3>",
             f"<p>{what}, the speaker's gender, and valence, arousal and dominance, from speech: live from a "
             "microphone, from recordings, and per side of a call.</p>"]
    if meta is None or model_path is None:
        parts.append("<p><b>Model</b>: none could be read; choose a model file in Settings.</p>")
    else:
        parts.append(f"<p><b>Model</b>: {e(Path(model_path).name)} ({e(str(model_path))}), run by {e(runtime)}.</p>")
        listed = getattr(meta, "corpora", None)
        corpora = [c for c in listed if isinstance(c, dict)] if isinstance(listed, (list, tuple)) else []
        if corpora:
            def speakers(c) -> str:
                n = c.get("speakers")
                return f"{len(n)} speakers, " if isinstance(n, (list, tuple)) else ""

            learnt = "; ".join(f"{e(CORPUS_NAMES.get(str(c.get('name')), str(c.get('name', '?'))))} "
                               f"({speakers(c)}licence {e(str(c.get('licence') or 'not stated'))})" for c in corpora)
            nc = any(_non_commercial(str(c.get("licence") or "")) for c in corpora)
            parts.append(f"<p><b>It learnt from</b>: {learnt}."
                         + (" Its weights carry the licence of what it learnt from: not for commercial use."
                            if nc else "") + "</p>")
        metrics = getattr(meta, "metrics", None)
        stored = metrics.get("cross_validation") if isinstance(metrics, dict) else None
        accuracy = accuracy_lines(model_path, stored, len(labels))
        note = cv_encoder_note(meta)
        if note and accuracy and accuracy[0].startswith("Speakers it never heard"):
            accuracy.insert(1, note)
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
    """A non-modal dialog holding rich ``text`` (selectable, links open), with a Close button; one of
    each ``name``: asked for again, the open one comes to the front with the text as it is now."""
    open_one = parent.findChild(QtWidgets.QDialog, name)
    if open_one is not None and open_one.isVisible():
        open_one.findChild(QtWidgets.QLabel).setText(text)
        open_one.raise_()
        open_one.activateWindow()
        return open_one
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
