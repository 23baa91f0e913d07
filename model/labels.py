"""The canonical emotion taxonomy and the category -> valence/arousal/dominance table.

Every corpus recipe maps its own codes onto these names; a training config chooses a subset.
"""

from __future__ import annotations

# Canonical label names, shared by all corpora.
CANONICAL_LABELS = (
    "neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised",
    "excited", "frustrated", "other",
)

RAVDESS_LABELS = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")

# Pleasure (valence), arousal, dominance in [-1, 1] for emotion terms, after the table of
# Russell & Mehrabian (1977), "Evidence for a three-factor theory of emotions", Journal of
# Research in Personality 11:273-294 (anger, disgust, fear, happiness, sadness, surprise as they
# are commonly tabulated). "neutral" is the origin by definition; "calm" takes the value of
# "relaxed" from the same family of tables.
PAD_TABLE: dict[str, tuple[float, float, float]] = {
    "neutral": (0.0, 0.0, 0.0),
    "calm": (0.68, -0.46, 0.06),
    "happy": (0.81, 0.51, 0.46),
    "sad": (-0.63, -0.27, -0.33),
    "angry": (-0.51, 0.59, 0.25),
    "fearful": (-0.64, 0.60, -0.43),
    "disgust": (-0.60, 0.35, 0.11),
    "surprised": (0.40, 0.67, -0.13),
}

# Arousal is scaled by the acted intensity before mapping to [0, 1]: weaker portrayals sit
# closer to the neutral point, stronger ones further out.
INTENSITY_AROUSAL_SCALE = {"normal": 0.8, "strong": 1.2}


def derived_dimensions(label: str, intensity: str | None = None) -> tuple[float, float, float] | None:
    """Valence, arousal, dominance in [0, 1] derived from a category (None if not in the table)."""
    if label not in PAD_TABLE:
        return None
    p, a, d = PAD_TABLE[label]
    a = max(-1.0, min(1.0, a * INTENSITY_AROUSAL_SCALE.get(intensity or "normal", 1.0)))
    return ((p + 1) / 2, (a + 1) / 2, (d + 1) / 2)


# Display colours, one per label, the same in the app and the reports (a class keeps its colour across
# runs and models). The eight classes of the bundled model take the Okabe-Ito palette (Okabe and Ito,
# "Color Universal Design", 2008), which stays distinguishable with the common colour-vision
# deficiencies; its black is a light grey, readable on the app's dark background and on white.
LABEL_COLORS: dict[str, tuple[int, int, int]] = {
    "neutral": (170, 170, 170),
    "calm": (0, 158, 115),  # bluish green
    "happy": (240, 228, 66),  # yellow
    "sad": (0, 114, 178),  # blue
    "angry": (213, 94, 0),  # vermillion
    "fearful": (204, 121, 167),  # reddish purple
    "disgust": (86, 180, 233),  # sky blue
    "surprised": (230, 159, 0),  # orange
    "excited": (240, 90, 170),
    "frustrated": (150, 90, 50),
    "other": (200, 200, 200),
}

# For labels outside the canonical set; picked by a stable hash of the name, not by order.
_FALLBACK = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
             (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]


def label_color(label: str) -> tuple[int, int, int]:
    """The display colour of an emotion label."""
    if label in LABEL_COLORS:
        return LABEL_COLORS[label]
    return _FALLBACK[sum(label.encode()) % len(_FALLBACK)]
