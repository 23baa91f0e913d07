"""A tiny synthetic IEMOCAP tree in the layout and label-file format of the real release.

The real corpus is licensed, so tests build this instead. Every turn is listed in ``TURNS`` so
tests can state what the recipe must find without reading the files back.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

SAMPLE_RATE_HZ = 16000
HEADER = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]"


@dataclass(frozen=True)
class Turn:
    """One turn of the fixture: its id, consensus code, mean V/A/D (1-5) and whether it has a wav."""

    turn_id: str
    code: str
    vad: tuple[float, float, float]
    duration_s: float = 0.5
    has_wav: bool = True

    @property
    def dialog(self) -> str:
        return self.turn_id.rsplit("_", 1)[0]

    @property
    def session_dir(self) -> str:
        return f"Session{int(self.turn_id[3:5])}"


# Session 1 has an improvised dialog with the female actor wearing markers (Ses01F) where the
# male actor speaks too, and a scripted dialog whose id has an extra "_1" part.
TURNS: tuple[Turn, ...] = (
    Turn("Ses01F_impro01_F000", "neu", (2.5, 2.5, 2.5), 0.6),
    Turn("Ses01F_impro01_M000", "ang", (1.5, 4.0, 4.5), 0.8),
    Turn("Ses01F_impro01_F001", "xxx", (2.0, 3.0, 3.0), 0.4),
    Turn("Ses01F_impro01_M001", "fru", (2.0, 3.5, 3.5), 0.5),
    Turn("Ses01F_script01_1_F000", "hap", (4.5, 3.5, 3.0), 0.7),
    Turn("Ses01F_script01_1_M000", "exc", (4.0, 4.5, 3.5), 0.9),
    Turn("Ses01F_script01_1_F001", "sad", (1.0, 1.5, 2.0), 1.0),
    Turn("Ses01F_script01_1_M001", "neu", (3.0, 2.0, 2.5), 0.3, has_wav=False),
    Turn("Ses02M_impro02_M000", "sur", (3.5, 4.0, 3.0), 0.5),
    Turn("Ses02M_impro02_F000", "fea", (1.5, 4.0, 1.5), 0.6),
    Turn("Ses02M_impro02_M001", "oth", (3.0, 3.0, 3.0), 0.4),
    Turn("Ses02M_impro02_F001", "dis", (1.5, 3.0, 3.0), 0.5),
    Turn("Ses02M_impro02_M002", "hap", (4.0, 3.0, 3.0), 0.5),
    Turn("Ses02M_impro02_F002", "neu", (3.0, 2.0, 3.0), 0.5),
    Turn("Ses03F_impro03_F000", "exc", (4.5, 5.0, 4.0), 0.5),
    Turn("Ses03F_impro03_M000", "sad", (2.0, 2.0, 2.0), 0.5),
    Turn("Ses04M_impro04_M000", "ang", (1.0, 5.0, 5.0), 0.5),
    Turn("Ses04M_impro04_F000", "neu", (3.0, 3.0, 3.0), 0.5),
    Turn("Ses05F_impro05_F000", "hap", (5.0, 4.0, 3.5), 0.5),
    Turn("Ses05F_impro05_M000", "neu", (2.5, 2.0, 2.5), 0.5),
)

# Subfolders of EmoEvaluation that the recipe must ignore. Their files use the first-line format
# of the top-level files on purpose, so a recipe that reads them finds turns that do not exist.
DECOY_DIRS = ("Categorical", "Attribute", "Self-evaluation")
DECOY_TURN_ID = "Ses01F_impro01_F099"

EVALUATOR_WORDS = {
    "neu": "Neutral", "hap": "Happiness", "sad": "Sadness", "ang": "Anger", "sur": "Surprise",
    "fea": "Fear", "dis": "Disgust", "fru": "Frustration", "exc": "Excited", "oth": "Other", "xxx": "Neutral",
}


def _block(turn: Turn, start_s: float) -> str:
    """One turn's block: the tab-separated first line, evaluator votes and ratings."""
    v, a, d = turn.vad
    word = EVALUATOR_WORDS[turn.code]
    # Actors' self-assessments carry the speaker letter (F1 or M1), annotators E1..E6.
    self_id = f"{turn.turn_id.rsplit('_', 1)[1][0]}1"
    lines = [
        f"[{start_s:.4f} - {start_s + turn.duration_s:.4f}]\t{turn.turn_id}\t{turn.code}\t[{v:.4f}, {a:.4f}, {d:.4f}]",
        f"C-E2:\t{word};\t()",
        f"C-E3:\t{word}; Other;\t(curious)",
        f"C-{self_id}:\tNeutral;\t()",
        f"A-E3:\tval {round(v)}; act {round(a)}; dom  {round(d)};\t()",
        f"A-{self_id}:\tval 3; act 2; dom  1;\t()",
    ]
    return "\n".join(lines) + "\n"


def _tone(duration_s: float, seed: int) -> np.ndarray:
    """A quiet tone plus noise; the content does not matter, only that it is valid 16 kHz audio."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(duration_s * SAMPLE_RATE_HZ)) / SAMPLE_RATE_HZ
    x = 0.2 * np.sin(2 * np.pi * (150 + 20 * seed) * t) + 0.02 * rng.standard_normal(t.size)
    return x.astype(np.float32)


def make_iemocap_tree(tmp_path: Path) -> Path:
    """Write the fixture under ``tmp_path`` and return its ``IEMOCAP_full_release`` folder."""
    root = Path(tmp_path) / "IEMOCAP_full_release"
    dialogs: dict[tuple[str, str], list[Turn]] = {}
    for turn in TURNS:
        dialogs.setdefault((turn.session_dir, turn.dialog), []).append(turn)

    for seed, ((session_dir, dialog), turns) in enumerate(sorted(dialogs.items())):
        dialog_dir = root / session_dir / "dialog"
        emo_dir = dialog_dir / "EmoEvaluation"
        for sub in DECOY_DIRS:
            (emo_dir / sub).mkdir(parents=True, exist_ok=True)
            (emo_dir / sub / f"{dialog}_e1_cat.txt").write_text(
                f"[1.0000 - 2.0000]\t{DECOY_TURN_ID}\tang\t[1.0000, 5.0000, 5.0000]\n", encoding="utf-8"
            )
        (dialog_dir / "transcriptions").mkdir(parents=True, exist_ok=True)

        blocks, transcript, start_s = [], [], 1.0
        for i, turn in enumerate(turns):
            blocks.append(_block(turn, start_s))
            transcript.append(f"{turn.turn_id} [{start_s:08.4f}-{start_s + turn.duration_s:08.4f}]: Hello there.")
            start_s += turn.duration_s + 0.25
            if turn.has_wav:
                wav = root / session_dir / "sentences" / "wav" / dialog / f"{turn.turn_id}.wav"
                wav.parent.mkdir(parents=True, exist_ok=True)
                sf.write(wav, _tone(turn.duration_s, seed * 10 + i), SAMPLE_RATE_HZ, subtype="PCM_16")
        # The real files: header, blank line, then blocks each followed by a blank line.
        (emo_dir / f"{dialog}.txt").write_text(HEADER + "\n\n" + "\n".join(blocks) + "\n", encoding="utf-8")
        (dialog_dir / "transcriptions" / f"{dialog}.txt").write_text("\n".join(transcript) + "\n", encoding="utf-8")
        # Copies made on macOS carry AppleDouble files next to the real ones; they are not text.
        (emo_dir / f"._{dialog}.txt").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        ")
    return root
