"""Display constants shared by the plots and the side panel: fixed colours per emotion label (a
class keeps its colour across runs and models) and the texts that explain what is shown.

The emotion colours (model/labels.py, where the HTML reports take them too) are the Okabe-Ito
palette for the bundled model's eight classes."""

from __future__ import annotations

from model.labels import LABEL_COLORS, label_color  # noqa: F401 - the app's colours are the reports' too

VAD_COLOR = (235, 235, 235)  # valence, arousal, dominance: told apart by line style (solid, dashed, dotted)
GENDER_COLOR = (210, 210, 210)  # neutral grey-white: no emotion class has it
LEVEL_COLOR = (90, 200, 255)
SPEECH_SHADE = (255, 220, 90, 70)


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
