"""Which words the decoder redraws: a word-by-word rate–distortion test (encoder side, screen mode).

PICD's rate argument is H(X, Z) = H(Z) + H(X | Z): the image layer should carry only what the text layer does not. A word
the decoder can redraw well is removed from the image layer (`background.harmonic_fill`) and drawn back in its fitted
style (`text_style`); a word it cannot (an icon OCR misread, an unusual font, a low-confidence reading) stays in the
image layer untouched. The test: redraw a word only where its redraw's squared error is below the error the image layer
itself leaves in that box at the chosen rate. Removing a word also saves image-layer bits, so the test is conservative.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from .background import harmonic_fill, word_mask
from .layout import TextLayout, Word, WordStyle
from .text_style import WordFit, build_palette, fit_smooth, fit_word, redraw_error

# Tesseract words below this confidence are never redrawn (their text is too often wrong); given layouts (no
# confidence) are trusted.
REDRAW_MIN_CONFIDENCE = 60.0
# A line is set in the font that fits its words best together (`_line_fonts`): up to LINE_CANDIDATES fonts are tried,
# and a word keeps a font of its own only where it lowers the word's error by the factor LINE_GAIN.
LINE_CANDIDATES = 3
LINE_GAIN = 0.8
# Whether words may be drawn smooth (quarter-pixel placement, `text_style.fit_smooth`) where that fits better; off only
# to measure what it buys (docs/screens.md).
SMOOTH_RENDER = True


@dataclass
class RedrawPlan:
    layout: TextLayout  # styled: redrawn words carry their style
    background: np.ndarray  # uint8 [H, W, 3]: the image with the redrawn words removed
    candidates: int  # words that were tried
    redraw_error: float  # summed squared error of the redrawn words' boxes (as fitted)
    keep_error: float  # what the image layer leaves in those boxes at this rate
    # seconds spent: "fill" (harmonic fills), "probe" (the image codec run to price the redraw), "style" (font,
    # size, colour and placement fits and the redraw-vs-keep test)
    timings: dict[str, float] = field(default_factory=dict)


def _box_error(a: np.ndarray, b: np.ndarray, region: tuple[int, int, int, int]) -> float:
    x0, y0, x1, y1 = region
    d = a[y0:y1, x0:x1].astype(np.float64) - b[y0:y1, x0:x1].astype(np.float64)
    return float((d * d).sum())


def redraw_candidate(word: Word) -> bool:
    """Whether the encoder tries to redraw this word at all (large enough, confident enough)."""
    return word.w >= 2 and word.h >= 4 and (word.confidence is None or word.confidence >= REDRAW_MIN_CONFIDENCE)


Coder = Callable[[np.ndarray, int], tuple[int, np.ndarray]]  # (image, quality) -> (bytes, decoded image)


def _line_fonts(image: np.ndarray, background: np.ndarray, layout: TextLayout,
                fits: dict[int, WordFit | None]) -> None:
    """One font per line: a line's words are set in one face on screens, but a word fitted alone often picks another
    (a bold face for one word, a near-metric family for the next), which reads as ransom-note text and costs style
    bits. Each line takes the candidate font (its words' own best fonts, at most LINE_CANDIDATES of the commonest)
    with the least summed error over its words; a word keeps a font of its own only where that lowers its error by
    LINE_GAIN (a bold word in a regular line)."""
    index = 0
    for line in layout.lines:
        ids = [index + k for k in range(len(line.words)) if fits.get(index + k) is not None]
        index += len(line.words)
        if len(ids) < 2:
            continue
        area = Counter()
        for i in ids:
            area[fits[i].style.font] += layout.words[i].w * layout.words[i].h
        candidates = [font for font, _ in area.most_common(LINE_CANDIDATES)]
        per_font: dict[int, dict[int, WordFit | None]] = {}
        for font in candidates:
            per_font[font] = {i: fits[i] if fits[i].style.font == font
                              else fit_word(image, background, layout.words[i], fonts=(font,)) for i in ids}

        def line_error(font: int) -> float:
            return sum(f.error if f is not None else fits[i].error / LINE_GAIN for i, f in per_font[font].items())

        best = min(candidates, key=line_error)
        for i in ids:
            alt = per_font[best][i]
            if alt is not None and fits[i].error >= LINE_GAIN * alt.error:
                fits[i] = alt


def plan_redraw(image: np.ndarray, layout: TextLayout, code: Coder, quality: int, neighbour_quality: int | None,
                forced: frozenset[int] = frozenset(), texts: dict[int, str] | None = None,
                test_all: bool = True) -> RedrawPlan:
    """Decide word by word whether to redraw, coding with `code` at `quality` (the image layer's codec).

    The test is Lagrangian: redraw when D_redraw < D_keep + λ·ΔR, where D_keep is the squared error the image layer
    leaves in the word's box, λ the codec's squared error per bit at this rate (measured against
    `neighbour_quality`; None: distortion only), and ΔR the bits the removed box saves (the measured saving of
    removing every candidate, shared by area).

    `forced` word indices (edited or redacted words) are always removed and redrawn. `texts` maps word indices to the
    text to transmit when it differs from the one read from the pixels (edits): styles are fitted to what the pixels
    show, then the new text is drawn in that style. Without `test_all` only the forced words are removed.
    """
    height, width = image.shape[:2]
    words = layout.words
    tried = [i for i, w in enumerate(words) if i in forced or (test_all and redraw_candidate(w))]
    timings = {"fill": 0.0, "probe": 0.0, "style": 0.0}
    clock = time.perf_counter()

    def spent(stage: str) -> None:  # time since the last call goes to `stage`
        nonlocal clock
        now = time.perf_counter()
        timings[stage] += now - clock
        clock = now

    removed = word_mask([words[i] for i in tried], width, height)
    first = harmonic_fill(image, removed)
    spent("fill")
    kept_bytes, kept = code(image, quality)
    rate_credit = 0.0  # λ·ΔR per removed pixel
    if neighbour_quality is not None and tried:
        other_bytes, other = code(image, neighbour_quality)
        slope = (_box_error(image, kept, (0, 0, width, height)) - _box_error(image, other, (0, 0, width, height)))
        if other_bytes != kept_bytes:
            lam = max(0.0, slope / ((other_bytes - kept_bytes) * 8))
            saved_bits = max(0, kept_bytes - code(first, quality)[0]) * 8
            rate_credit = lam * saved_bits / max(1, int(removed.sum()))
    spent("probe")
    fits = {i: fit_word(image, first, words[i]) for i in tried}
    _line_fonts(image, first, layout, fits)
    if SMOOTH_RENDER:
        fits = {i: fit_smooth(image, first, words[i], f) if f is not None else None for i, f in fits.items()}
    fitted = [i for i in tried if fits[i] is not None]
    palette, assign = build_palette([fits[i].style.color for i in fitted], [words[i].w * words[i].h for i in fitted])
    chosen: dict[int, WordStyle] = {}
    redraw_total = keep_total = 0.0
    for i, k in zip(fitted, assign):
        style = replace(fits[i].style, color=palette[k])
        d_redraw = redraw_error(image, first, words[i], style, fits[i].region)
        d_keep = _box_error(image, kept, fits[i].region)
        x0, y0, x1, y1 = fits[i].region
        if i in forced or d_redraw < d_keep + rate_credit * (x1 - x0) * (y1 - y0):
            chosen[i] = style
            redraw_total += d_redraw
            keep_total += d_keep
    for i in forced:  # an edited word no font could draw (e.g. now empty) is still removed
        chosen.setdefault(i, WordStyle(0, (0, 0, 0)))
    texts = texts or {}
    order = iter(range(len(words)))  # map_words visits words in layout order

    def restyle(word: Word) -> Word | None:
        i = next(order)
        text = texts.get(i, word.text)
        if i in forced and not text:
            return None  # a deleted word: removed from the image, nothing to draw
        return replace(word, text=text, style=chosen.get(i))

    styled = layout.map_words(restyle, styled=True)
    spent("style")
    background = harmonic_fill(image, word_mask([words[i] for i in chosen], width, height))
    spent("fill")
    return RedrawPlan(styled, background, len(tried), redraw_total, keep_total, timings)
