"""The text layout Z: words with pixel boxes, grouped into lines, in reading order."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

from .errors import InvalidInputError


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

    def __post_init__(self) -> None:
        for name in ("x", "y", "w", "h"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise InvalidInputError(f"Word.{name} must be an int, got {type(value).__name__}")
        if self.x < 0 or self.y < 0 or self.w < 0 or self.h < 0:
            raise InvalidInputError(f"word box must be non-negative, got {(self.x, self.y, self.w, self.h)}")
        if not isinstance(self.text, str):
            raise InvalidInputError(f"Word.text must be a str, got {type(self.text).__name__}")

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
    """The text layer of an image: lines in reading order. Equality ignores confidences."""

    lines: tuple[Line, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "lines", tuple(self.lines))

    @classmethod
    def from_lines(cls, lines: Iterable[Iterable[Word]]) -> "TextLayout":
        return cls(tuple(Line(tuple(words)) for words in lines))

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
        return {
            "lines": [
                [
                    {"text": w.text, "x": w.x, "y": w.y, "w": w.w, "h": w.h,
                     **({"confidence": round(w.confidence, 2)} if w.confidence is not None else {})}
                    for w in line.words
                ]
                for line in self.lines
            ]
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TextLayout":
        try:
            return cls.from_lines(
                [
                    Word(str(d["text"]), int(d["x"]), int(d["y"]), int(d["w"]), int(d["h"]), d.get("confidence"))
                    for d in line
                ]
                for line in data["lines"]
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
