"""Colours and templates: Graphite's colour names, its default colour list, and the
built-in templates (graphite-web's built-in defaults, the classic black look of its
graphTemplates.conf example, and two modern palettes of our own)."""
from dataclasses import dataclass
from types import MappingProxyType

from webapp.errors import InputError

# Graphite's colour names (glyph.py colorAliases), as 0-255 RGB.
COLOR_ALIASES = MappingProxyType({
    "black": (0, 0, 0),
    "white": (255, 255, 255),
    "blue": (100, 100, 255),
    "green": (0, 200, 0),
    "red": (200, 0, 50),
    "yellow": (255, 255, 0),
    "orange": (255, 165, 0),
    "purple": (200, 100, 255),
    "brown": (150, 100, 50),
    "cyan": (0, 255, 255),
    "aqua": (0, 150, 150),
    "gray": (175, 175, 175),
    "grey": (175, 175, 175),
    "magenta": (255, 0, 255),
    "pink": (255, 100, 100),
    "gold": (200, 200, 0),
    "rose": (200, 150, 200),
    "darkblue": (0, 0, 255),
    "darkgreen": (0, 255, 0),
    "darkred": (255, 0, 0),
    "darkgray": (111, 111, 111),
    "darkgrey": (111, 111, 111),
})

GRAPHITE_COLOR_LIST = ("blue", "green", "red", "purple", "brown", "yellow", "aqua", "grey",
                       "magenta", "pink", "gold", "rose")

# A modern qualitative palette (Tableau 10 order), readable on light and dark grounds.
MODERN_COLOR_LIST = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948",
                     "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")


@dataclass(frozen=True)
class Template:
    """The look a graph starts from; request parameters override each part."""

    background: str
    foreground: str
    major_line: str
    minor_line: str
    colors: tuple
    font_name: str = "Sans"
    font_size: float = 10.0
    font_bold: bool = False
    font_italic: bool = False
    grid_alpha: float = 1.0


TEMPLATES = MappingProxyType({
    # graphite-web 1.1's built-in defaults (no graphTemplates.conf).
    "default": Template("white", "black", "rose", "grey", GRAPHITE_COLOR_LIST),
    "plain": Template("white", "black", "rose", "grey", GRAPHITE_COLOR_LIST),
    # The black look of graphite-web's graphTemplates.conf example.
    "classic": Template("black", "white", "white", "grey", GRAPHITE_COLOR_LIST),
    "noc": Template("black", "white", "white", "grey",
                    ("blue", "green", "red", "yellow", "purple", "brown", "aqua", "grey",
                     "magenta", "pink", "gold", "rose")),
    # Ours: calm light and dark looks with a modern palette.
    "modern": Template("#ffffff", "#3c4043", "#dadce0", "#f1f3f4", MODERN_COLOR_LIST,
                       font_name="DejaVu Sans"),
    "modern-dark": Template("#1e2127", "#c9ccd1", "#3a3f47", "#2a2e35", MODERN_COLOR_LIST,
                            font_name="DejaVu Sans"),
})


def parse_color(value, alpha=1.0):
    """Graphite's colour syntax -> (r, g, b, a) floats in 0..1.

    Accepts a name from COLOR_ALIASES, `RRGGBB` or `RRGGBBAA` hex with an optional
    leading `#` or `%23`, or an (r, g, b) tuple of 0-255 ints. The hex alpha, when
    present, replaces `alpha`.
    """
    if isinstance(value, tuple) and len(value) == 3:
        return _rgba(value, alpha)
    text = str(value).strip()
    lowered = text.lower()
    if lowered in COLOR_ALIASES:
        return _rgba(COLOR_ALIASES[lowered], alpha)
    for prefix in ("#", "%23"):
        if text.startswith(prefix):
            text = text[len(prefix):]
    if len(text) not in (6, 8) or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise InputError(f"invalid colour {value!r}: use a name such as 'blue' or hex RRGGBB[AA]")
    rgb = tuple(int(text[i:i + 2], 16) for i in (0, 2, 4))
    if len(text) == 8:
        alpha = int(text[6:8], 16) / 255.0
    return _rgba(rgb, alpha)


def _rgba(rgb, alpha):
    r, g, b = (c / 255.0 for c in rgb)
    return (r, g, b, float(alpha))
