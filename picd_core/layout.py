"""The text layout Z: words with pixel boxes, grouped into lines, in reading order."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

from .errors import InvalidInputError


# What a screen-mode text layer holds: every OCR'd word (searchable, editable, the diffusion renderer's guidance) or
# only the words the decoder redraws (the others stay in the image layer; their text costs bits and buys no pixels).
TEXT_SCOPES = ("all", "redrawn")


# WordStyle fields beyond font and colour, as they appear in a layout's JSON (omitted when zero / False).
STYLE_CORRECTIONS = ("size_delta", "dx", "dy", "smooth", "size_quarter", "phase_x", "phase_y")


@dataclass(frozen=True)
class WordStyle:
    """How a word is redrawn over the image layer: a bundled font class (picd_core.fonts), an sRGB colour, and small
    corrections the encoder measured: pixel size relative to the size that best fits the box, and an offset.

    A word carries a style only when the encoder removed it from the image layer and the decoder must draw it.
    """

    font: int
    color: tuple[int, int, int]
    size_delta: int = 0
    dx: int = 0
    dy: int = 0
    # Smooth render (text_render.smooth_patch): drawn at 4× and box-filtered, so placed to a quarter pixel
    # (phase_x, phase_y: 0..3 quarters right of / below the integer offset) and sized to a quarter pixel
    # (size_quarter: −2..1 quarters added to the size). Real screens' anti-aliased text sits between pixels.
    smooth: bool = False
    size_quarter: int = 0
    phase_x: int = 0
    phase_y: int = 0

    def __post_init__(self) -> None:
        from .fonts import FONT_CLASSES

        if not isinstance(self.font, int) or not 0 <= self.font < len(FONT_CLASSES):
            raise InvalidInputError(f"font class must be 0..{len(FONT_CLASSES) - 1}, got {self.font!r}")
        color = tuple(self.color)
        if len(color) != 3 or any(not isinstance(c, int) or not 0 <= c <= 255 for c in color):
            raise InvalidInputError(f"colour must be three ints 0..255, got {self.color!r}")
        object.__setattr__(self, "color", color)
        for name in ("size_delta", "dx", "dy"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or abs(value) > 64:
                raise InvalidInputError(f"WordStyle.{name} must be an int in -64..64, got {value!r}")
        if not isinstance(self.smooth, bool):
            raise InvalidInputError(f"WordStyle.smooth must be a bool, got {self.smooth!r}")
        for name, low, high in (("size_quarter", -2, 1), ("phase_x", 0, 3), ("phase_y", 0, 3)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise InvalidInputError(f"WordStyle.{name} must be an int in {low}..{high}, got {value!r}")
            if value and not self.smooth:
                raise InvalidInputError(f"WordStyle.{name} is set but the style is not smooth (set smooth=True)")


@dataclass(frozen=True)
class Word:
    """One recognised word. Box in pixels of the original image: (x, y) top-left, w×h size."""

    text: str
    x: int
    y: int
    w: int
    h: int
    # OCR confidence in [0, 100]; not transmitted, so decoded layouts carry None.
    confidence: float | None = field(default=None, compare=False)
    # Set when the word is redrawn by the decoder (its pixels were removed from the image layer); None: left in it.
    style: WordStyle | None = None

    def __post_init__(self) -> None:
        for name in ("x", "y", "w", "h"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise InvalidInputError(f"Word.{name} must be an int, got {type(value).__name__}")
        if self.x < 0 or self.y < 0 or self.w < 0 or self.h < 0:
            raise InvalidInputError(f"word box must be non-negative, got {(self.x, self.y, self.w, self.h)}")
        if not isinstance(self.text, str):
            raise InvalidInputError(f"Word.text must be a str, got {type(self.text).__name__}")
        if self.style is not None and not isinstance(self.style, WordStyle):
            raise InvalidInputError(f"Word.style must be a WordStyle or None, got {type(self.style).__name__}")

    @property
    def box(self) -> tuple[int, int, int, int]:
        return (self.x, self.y, self.w, self.h)


@dataclass(frozen=True)
class Line:
    """Words on one text line, left to right."""

    words: tuple[Word, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "words", tuple(self.words))

    @property
    def text(self) -> str:
        return " ".join(word.text for word in self.words)


@dataclass(frozen=True)
class TextLayout:
    """The text layer of an image: lines in reading order. Equality ignores confidences.

    `styled` layouts (text-layer format 2) say word by word whether the decoder redraws the word (Word.style) or the
    image layer kept it; unstyled ones (format 1, or hand-made) carry positions only.
    """

    lines: tuple[Line, ...] = ()
    styled: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "lines", tuple(self.lines))

    @classmethod
    def from_lines(cls, lines: Iterable[Iterable[Word]], styled: bool = False) -> "TextLayout":
        return cls(tuple(Line(tuple(words)) for words in lines), styled)

    def map_words(self, fn: Callable[[Word], Word | None], styled: bool | None = None) -> "TextLayout":
        """A copy with every word replaced by fn(word); words for which fn returns None are dropped."""
        lines = []
        for line in self.lines:
            words = [new for new in (fn(w) for w in line.words) if new is not None]
            if words or not line.words:
                lines.append(words)
        return TextLayout.from_lines(lines, self.styled if styled is None else styled)

    def unstyled(self) -> "TextLayout":
        """Texts and boxes only (what format 1 carries): styles and redraw decisions dropped."""
        from dataclasses import replace

        return self.map_words(lambda w: replace(w, style=None), styled=False)

    def only_redrawn(self) -> "TextLayout":
        """The words the decoder redraws (those with a style): the text layer of text scope "redrawn"."""
        return self.map_words(lambda w: w if w.style is not None else None, styled=True)

    @property
    def redrawn(self) -> list[Word]:
        return [w for w in self.words if w.style is not None]

    @property
    def words(self) -> list[Word]:
        return [word for line in self.lines for word in line.words]

    def __iter__(self) -> Iterator[Word]:
        return iter(self.words)

    def __len__(self) -> int:
        return sum(len(line.words) for line in self.lines)

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    def bounds_fit(self, width: int, height: int) -> bool:
        """True when every box lies inside a width×height image."""
        return all(w.x + w.w <= width and w.y + w.h <= height for w in self.words)

    def to_dict(self) -> dict[str, Any]:
        def word(w: Word) -> dict[str, Any]:
            d: dict[str, Any] = {"text": w.text, "x": w.x, "y": w.y, "w": w.w, "h": w.h}
            if w.confidence is not None:
                d["confidence"] = round(w.confidence, 2)
            if w.style is not None:
                from .fonts import FONT_CLASSES

                d["font"] = FONT_CLASSES[w.style.font].name
                d["color"] = "#%02x%02x%02x" % w.style.color
                for name in STYLE_CORRECTIONS:
                    if getattr(w.style, name):
                        d[name] = getattr(w.style, name)
            return d

        out: dict[str, Any] = {"lines": [[word(w) for w in line.words] for line in self.lines]}
        if self.styled:
            out["styled"] = True
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TextLayout":
        def style(d: dict[str, Any]) -> WordStyle | None:
            if "font" not in d and "color" not in d:
                return None
            from .fonts import font_id

            color = str(d["color"]).lstrip("#")
            if len(color) != 6:
                raise ValueError(f"colour {d['color']!r} is not #rrggbb")
            corrections = {name: int(d.get(name, 0)) for name in STYLE_CORRECTIONS if name != "smooth"}
            return WordStyle(font_id(str(d["font"])), tuple(int(color[i : i + 2], 16) for i in (0, 2, 4)),
                             smooth=bool(d.get("smooth", False)), **corrections)

        try:
            return cls.from_lines(
                (
                    [
                        Word(str(d["text"]), int(d["x"]), int(d["y"]), int(d["w"]), int(d["h"]), d.get("confidence"),
                             style(d))
                        for d in line
                    ]
                    for line in data["lines"]
                ),
                bool(data.get("styled", False)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInputError(
                f"not a PICD text layout ({exc}); expected {{'lines': [[{{'text','x','y','w','h'}}, ...], ...]}}"
            ) from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> "TextLayout":
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"text layout JSON is malformed: {exc}") from None
