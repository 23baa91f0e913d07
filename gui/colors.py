"""Display constants shared by the plots and the side panel: fixed colours per emotion label (a
class keeps its colour across runs and models) and the texts that explain what is shown."""

from __future__ import annotations

LABEL_COLORS: dict[str, tuple[int, int, int]] = {
    "neutral": (150, 150, 150),
    "calm": (64, 180, 170),
    "happy": (240, 200, 40),
    "sad": (60, 110, 220),
    "angry": (220, 50, 50),
    "fearful": (150, 80, 200),
    "disgust": (120, 150, 40),
    "surprised": (250, 140, 30),
    "excited": (240, 90, 170),
    "frustrated": (150, 90, 50),
    "other": (200, 200, 200),
}

# For labels outside the canonical set; picked by a stable hash of the name, not by order.
_FALLBACK = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
             (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]

VAD_COLORS = {"valence": (46, 204, 113), "arousal": (231, 76, 60), "dominance": (52, 152, 219)}
GENDER_COLOR = (210, 210, 210)  # neutral grey-white: no emotion class has it
LEVEL_COLOR = (90, 200, 255)
SPEECH_SHADE = (255, 220, 90, 70)


def label_color(label: str) -> tuple[int, int, int]:
    """The display colour of an emotion label."""
    if label in LABEL_COLORS:
        return LABEL_COLORS[label]
    return _FALLBACK[sum(label.encode()) % len(_FALLBACK)]


ESTIMATED_TIP = ("Valence, arousal and dominance are estimated from the emotion categories: the model learnt them "
                 "from targets derived from each training clip's category, not from people's ratings.")
