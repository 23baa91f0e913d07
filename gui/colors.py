"""Display constants shared by the plots and the side panel: fixed colours per emotion label (a
class keeps its colour across runs and models) and the texts that explain what is shown.

The eight classes of the bundled model take the Okabe-Ito palette (Okabe and Ito, "Color Universal
Design", 2008), which stays distinguishable with the common colour-vision deficiencies; its black
is a light grey here, for the dark background."""

from __future__ import annotations

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

VAD_COLOR = (235, 235, 235)  # valence, arousal, dominance: told apart by line style (solid, dashed, dotted)
GENDER_COLOR = (210, 210, 210)  # neutral grey-white: no emotion class has it
LEVEL_COLOR = (90, 200, 255)
SPEECH_SHADE = (255, 220, 90, 70)


def label_color(label: str) -> tuple[int, int, int]:
    """The display colour of an emotion label."""
    if label in LABEL_COLORS:
        return LABEL_COLORS[label]
    return _FALLBACK[sum(label.encode()) % len(_FALLBACK)]


def text_color(label: str, background: tuple[int, int, int] = (239, 239, 239)) -> tuple[int, int, int]:
    """The label's colour for text on a light ``background`` (the side panel's): darkened, hue kept,
    until it stands out from it by a contrast ratio of at least 4.5 (WCAG's for normal text): the
    palette's yellow, orange and light blue are made for the plots' dark background."""
    def luminance(rgb):
        def channel(c):
            c /= 255
            return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
        r, g, b = (channel(c) for c in rgb)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    rgb, bg = label_color(label), luminance(background)
    for _ in range(40):
        if (bg + 0.05) / (luminance(rgb) + 0.05) >= 4.5:
            break
        rgb = tuple(int(c * 0.9) for c in rgb)
    return rgb


ESTIMATED_TIP = ("Valence, arousal and dominance are estimated from the emotion categories: the model learnt them "
                 "from targets derived from each training clip's category, not from people's ratings.")
