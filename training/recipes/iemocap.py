"""IEMOCAP recipe: ``IEMOCAP_full_release/Session1..5`` -> manifest entries.

Reads the consensus category and the mean valence/activation/dominance ratings from the top-level
``dialog/EmoEvaluation/*.txt`` files (the ``Categorical/``, ``Attribute/`` and ``Self-evaluation/``
subfolders hold per-evaluator files and are ignored), the speaker's gender from the turn id and the
audio from ``sentences/wav/<dialog>/<turn>.wav``. Facts about the format:
``/work/shared/docs/IEMOCAP_FORMAT.md``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

from training.manifest import ManifestEntry, Skipped

CORPUS = "iemocap"
LICENCE = "IEMOCAP licence (USC SAIL), research use only, not redistributable"
RELEASE_DIR = "IEMOCAP_full_release"
SESSIONS = tuple(f"Session{i}" for i in range(1, 6))

# Consensus codes -> canonical labels (model.labels.CANONICAL_LABELS); xxx means no majority.
CODE_LABELS: dict[str, str | None] = {
    "neu": "neutral", "hap": "happy", "sad": "sad", "ang": "angry", "sur": "surprised",
    "fea": "fearful", "dis": "disgust", "fru": "frustrated", "exc": "excited", "oth": "other", "xxx": None,
}

# Label sets a training config can choose, in the order the model's outputs use.
# "8class" is the original design's set (anger, excited, fear, frustration, happiness, neutral,
# sadness, surprise); "4class" is the common benchmark set with excited merged into happy.
LABEL_SETS: dict[str, tuple[str, ...]] = {
    "8class": ("angry", "excited", "fearful", "frustrated", "happy", "neutral", "sad", "surprised"),
    "4class": ("neutral", "happy", "angry", "sad"),
}
LABEL_MERGES: dict[str, dict[str, str]] = {"4class": {"excited": "happy"}}

# First line of a turn's block: "[6.2901 - 8.2357]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[2.5000, 2.5000, 2.5000]".
# Whitespace is matched loosely because copies of the corpus differ in tabs versus spaces.
TURN_LINE = re.compile(
    r"^\[\s*(?P<start>[\d.]+)\s*-\s*(?P<end>[\d.]+)\s*\]\s+(?P<turn>\S+)\s+(?P<code>\w+)\s+"
    r"\[\s*(?P<v>[-\d.]+)\s*,\s*(?P<a>[-\d.]+)\s*,\s*(?P<d>[-\d.]+)\s*\]\s*$"
)
# Turn ids: Ses01F_impro01_F000, Ses01F_script01_1_M012. The letter after "Ses01" names the actor
# wearing motion-capture markers; the speaker is the letter of the last part.
TURN_ID = re.compile(r"^Ses(?P<session>\d\d)[FM]_.+_(?P<speaker>[FM])\d+$")
GENDERS = {"F": "female", "M": "male"}
RATING_MIN, RATING_MAX = 1.0, 5.0


@dataclass(frozen=True)
class Turn:
    """One parsed first line of an EmoEvaluation block."""

    turn_id: str
    code: str
    vad_1to5: tuple[float, float, float]
    source: str  # "file:line", for reports


def find_release(root: str | os.PathLike) -> Path:
    """The ``IEMOCAP_full_release`` folder, given it or its parent. Raises SERError when absent."""
    root = Path(root).expanduser()
    for candidate in (root, root / RELEASE_DIR):
        if any((candidate / s).is_dir() for s in SESSIONS):
            return candidate
    from model.errors import SERError

    raise SERError(f"{root}: no IEMOCAP Session1..Session5 folders found. "
                   f"Pass the {RELEASE_DIR} folder (or the folder that holds it).")


def parse_evaluation(path: Path) -> tuple[list[Turn], list[Skipped]]:
    """Turns of one EmoEvaluation file; lines that look like a turn but do not parse are reported."""
    turns, problems = [], []
    text = path.read_text(encoding="utf-8", errors="replace")
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.startswith("["):
            continue  # header (%), evaluator lines (C-, A-) and blank separators
        m = TURN_LINE.match(line.strip())
        if m is None:
            problems.append(Skipped(f"{path}:{n}", "label line does not follow the EmoEvaluation format"))
            continue
        dims = (float(m["v"]), float(m["a"]), float(m["d"]))
        turns.append(Turn(m["turn"], m["code"].lower(), dims, f"{path}:{n}"))
    return turns, problems


def scale_rating(x: float) -> float:
    """A 1-5 rating to [0, 1]; clipped because a few averaged ratings fall just outside the scale."""
    return min(1.0, max(0.0, (x - RATING_MIN) / (RATING_MAX - RATING_MIN)))


def map_label(code: str, label_set: str) -> str | None:
    """The canonical label of a consensus code in ``label_set``, or None when the turn is dropped."""
    label = CODE_LABELS.get(code)
    label = LABEL_MERGES.get(label_set, {}).get(label, label)
    return label if label in LABEL_SETS[label_set] else None


def build_manifest(root: str | os.PathLike, label_set: str = "4class",
                   corpus: str = CORPUS) -> tuple[list[ManifestEntry], list[Skipped]]:
    """Scan an IEMOCAP release.

    Args:
        root: The ``IEMOCAP_full_release`` folder or its parent.
        label_set: ``"4class"`` or ``"8class"`` (see ``LABEL_SETS``).
        corpus: Name written into each entry.

    Returns:
        Entries sorted by utterance id, and what was skipped and why: missing sessions, unparsable
        lines, turns without a wav or with unreadable audio first, then turns dropped because their
        label (xxx, oth, or outside the set) is not used; ``report_skipped`` counts them by reason.
    """
    if label_set not in LABEL_SETS:
        raise ValueError(f"unknown IEMOCAP label set {label_set!r}; choose one of {sorted(LABEL_SETS)}")
    release = find_release(root)
    entries: list[ManifestEntry] = []
    problems: list[Skipped] = []
    dropped: list[Skipped] = []
    seen: set[str] = set()
    for session_dir in SESSIONS:
        session_path = release / session_dir
        if not session_path.is_dir():
            problems.append(Skipped(str(session_path), "session folder missing"))
            continue
        # Top level only: the subfolders hold per-evaluator files in other formats. Names starting
        # with "." are AppleDouble files from macOS copies, not label files.
        label_files = sorted(p for p in (session_path / "dialog" / "EmoEvaluation").glob("*.txt")
                             if p.is_file() and not p.name.startswith("."))
        if not label_files:
            problems.append(Skipped(str(session_path / "dialog" / "EmoEvaluation"), "no label files"))
        for label_file in label_files:
            turns, bad_lines = parse_evaluation(label_file)
            problems += bad_lines
            for turn in turns:
                m = TURN_ID.match(turn.turn_id)
                if m is None:
                    problems.append(Skipped(turn.source, f"turn id {turn.turn_id!r} does not name a session and speaker"))
                    continue
                if turn.turn_id in seen:
                    problems.append(Skipped(turn.source, f"turn {turn.turn_id} listed twice"))
                    continue
                seen.add(turn.turn_id)
                label = map_label(turn.code, label_set)
                if label is None:
                    name = "no majority" if turn.code == "xxx" else CODE_LABELS.get(turn.code, "unknown code")
                    dropped.append(Skipped(turn.turn_id, f"label {turn.code!r} ({name}) not used in {label_set}"))
                    continue
                dialog = turn.turn_id.rsplit("_", 1)[0]
                wav = session_path / "sentences" / "wav" / dialog / f"{turn.turn_id}.wav"
                if not wav.is_file():
                    problems.append(Skipped(str(wav), "no wav for this labelled turn"))
                    continue
                try:
                    info = sf.info(str(wav))
                except (sf.LibsndfileError, RuntimeError, OSError) as exc:
                    problems.append(Skipped(str(wav), f"unreadable audio: {exc}"))
                    continue
                if info.frames == 0:
                    problems.append(Skipped(str(wav), "empty audio file"))
                    continue
                session = f"Ses{m['session']}"
                v, a, d = (scale_rating(x) for x in turn.vad_1to5)
                entries.append(ManifestEntry(
                    path=str(wav.resolve()), corpus=corpus, speaker=f"{session}_{m['speaker']}",
                    gender=GENDERS[m["speaker"]], label=label, duration_s=round(info.frames / info.samplerate, 4),
                    utterance_id=turn.turn_id, valence=v, arousal=a, dominance=d,
                    dimensions_source="human-ratings", session=session,
                ))
    entries.sort(key=lambda e: e.utterance_id)
    return entries, problems + dropped
