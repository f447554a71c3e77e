"""The text is text: replace or redact words of a text layer, before encoding or after decoding.

Before encoding, edited words are always removed from the image layer and redrawn, so their original pixels never
enter the file. After decoding, a word the encoder left in the image layer is first covered with its surrounding
colour and then drawn anew. A redacted word becomes a run of FULL BLOCKs, drawn as a solid box.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from .errors import InvalidInputError
from .layout import TextLayout
from .text_render import REDACTION_CHAR

# Named redaction patterns. A word is redacted when a pattern (named or a regular expression) occurs anywhere in it.
REDACT_PATTERNS: dict[str, str] = {
    "email": r"[\w.+-]+@[\w-]+(\.[\w-]+)+",
    "digits": r"[\d][\d.,:/-]*",  # digit runs: numbers, dates, times, amounts, phone numbers
    "url": r"(https?://|www\.)\S+",
}


def _compile(pattern: str) -> re.Pattern[str]:
    source = REDACT_PATTERNS.get(pattern, pattern)
    try:
        return re.compile(source)
    except re.error as exc:
        raise InvalidInputError(
            f"redaction pattern {pattern!r} is neither one of {sorted(REDACT_PATTERNS)} nor a valid regular "
            f"expression ({exc})") from None


@dataclass(frozen=True)
class TextEdit:
    """Word replacements (exact whole words, old → new; new may be empty to delete) and redaction patterns."""

    replacements: dict[str, str] = field(default_factory=dict)
    redact: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for old, new in self.replacements.items():
            if not old or any(c.isspace() for c in old + new):
                raise InvalidInputError(f"a replacement maps one word to one word (no spaces), got {old!r} -> {new!r}")
        object.__setattr__(self, "redact", tuple(self.redact))
        for pattern in self.redact:
            _compile(pattern)

    @classmethod
    def parse(cls, replacements: list[str] | None = None, redact: list[str] | None = None) -> "TextEdit":
        """From command-line style strings: 'OLD=NEW' replacements and pattern names or regular expressions."""
        mapping = {}
        for item in replacements or []:
            if "=" not in item:
                raise InvalidInputError(f"a replacement is written OLD=NEW, got {item!r}")
            old, new = item.split("=", 1)
            mapping[old] = new
        return cls(mapping, tuple(redact or ()))

    def __bool__(self) -> bool:
        return bool(self.replacements or self.redact)

    def apply(self, layout: TextLayout) -> dict[int, str]:
        """The new text of every word this edit changes, by index in layout.words."""
        patterns = [_compile(p) for p in self.redact]
        changed: dict[int, str] = {}
        for i, word in enumerate(layout.words):
            text = self.replacements.get(word.text, word.text)
            if text and any(p.search(text) for p in patterns):
                text = REDACTION_CHAR * max(1, len(text))
            if text != word.text:
                changed[i] = text
        return changed

    @staticmethod
    def edited_layout(layout: TextLayout, texts: dict[int, str]) -> TextLayout:
        """The layout with the given word texts swapped in (styles and boxes kept)."""
        order = iter(range(len(layout)))
        return layout.map_words(lambda w: replace(w, text=texts.get(next(order), w.text)))
