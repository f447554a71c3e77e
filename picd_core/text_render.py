"""Styled text render: draw the redrawn words of a styled layout over the decoded image layer.

Each word is drawn natively (hinted, as screens draw text; glyph shapes are never stretched) in its font class and
colour, at the integer size that best fits its box plus the encoder's correction, centred in the box plus an offset;
or, where the encoder found it closer, *smooth*: at 4× that size and box-filtered, which places and sizes it to a
quarter pixel, as anti-aliased screen text often sits. Everything a pixel depends on is integer or a bundled,
hash-checked font, and compositing is integer arithmetic, so the render is bit-identical on every machine. The
encoder fits styles with the same `word_coverage`, so what it measured is what the decoder draws.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw

from .errors import InvalidInputError
from .fonts import load_font
from .limits import check_patch_size
from .images import to_rgb_array
from .layout import TextLayout, Word, WordStyle

REDACTION_CHAR = "\u2588"  # a word made only of FULL BLOCKs is drawn as a solid box (redaction)
_SIZE_PROBE = 64  # the size at which a word's ink box is measured to guess its fitting size
_MAX_SIZE = 512
OVERSAMPLE = 4  # a smooth word is drawn at 4× its size and box-filtered down: quarter-pixel placement and size


def is_redacted(text: str) -> bool:
    return bool(text) and set(text) == {REDACTION_CHAR}


@lru_cache(maxsize=65536)
def _ink_box(font: int, text: str, size: int) -> tuple[int, int, int, int]:
    return load_font(font, size).getbbox(text)


@lru_cache(maxsize=1024)
def fitting_size(font: int, text: str, w: int, h: int) -> int:
    """The integer pixel size at which the word's ink box best matches a w×h box (ties: the smaller size).

    Words are drawn natively at an integer size, hinted as screens draw text, never resampled: that is what makes
    a redraw match real screen text.
    """
    x0, y0, x1, y1 = _ink_box(font, text, _SIZE_PROBE)
    if x1 <= x0 or y1 <= y0:
        return _SIZE_PROBE
    guess = (_SIZE_PROBE * (w + h) + (x1 - x0 + y1 - y0) // 2) // (x1 - x0 + y1 - y0)
    best, best_cost = 1, None
    for size in range(max(1, guess - 3), min(_MAX_SIZE, guess + 3) + 1):
        bx0, by0, bx1, by1 = _ink_box(font, text, size)
        cost = abs(bx1 - bx0 - w) + abs(by1 - by0 - h)
        if best_cost is None or cost < best_cost:
            best, best_cost = size, cost
    return best


@lru_cache(maxsize=2048)
def _ink_patch(font: int, text: str, size: int) -> np.ndarray | None:
    """uint8 ink coverage (255 = ink) of the word drawn at `size`, cropped to its ink box; None without ink."""
    x0, y0, x1, y1 = _ink_box(font, text, size)
    if x1 <= x0 or y1 <= y0:
        return None
    check_patch_size(text, x1 - x0, y1 - y0)  # a corrupt layer's huge word is refused before it is allocated
    patch = Image.new("L", (x1 - x0, y1 - y0), 0)
    ImageDraw.Draw(patch).text((-x0, -y0), text, fill=255, font=load_font(font, size))
    return np.asarray(patch)


def smooth_patch(font: int, text: str, size: int, size_quarter: int, phase_x: int,
                 phase_y: int) -> np.ndarray | None:
    """uint8 coverage of a word drawn smooth: rendered at OVERSAMPLE·size + size_quarter, its ink box placed
    (phase_x, phase_y) big pixels into a zero canvas one pixel (OVERSAMPLE big pixels) larger than the ink's own,
    then box-filtered OVERSAMPLE×OVERSAMPLE with rounding — integer arithmetic, so identical on every machine."""
    big = _ink_patch(font, text, OVERSAMPLE * size + size_quarter)
    if big is None:
        return None
    bh, bw = big.shape
    th, tw = -(-bh // OVERSAMPLE) + 1, -(-bw // OVERSAMPLE) + 1
    canvas = np.zeros((OVERSAMPLE * th, OVERSAMPLE * tw), dtype=np.uint16)
    canvas[phase_y : phase_y + bh, phase_x : phase_x + bw] = big
    summed = canvas.reshape(th, OVERSAMPLE, tw, OVERSAMPLE).sum(axis=(1, 3), dtype=np.uint16)
    return ((summed + OVERSAMPLE * OVERSAMPLE // 2) // (OVERSAMPLE * OVERSAMPLE)).astype(np.uint8)


def word_coverage(text: str, w: int, h: int, style: WordStyle) -> tuple[int, int, np.ndarray] | None:
    """Ink coverage of a word drawn for a w×h box: (x offset, y offset from the box's corner, uint8 [th, tw]).

    The word is drawn at its fitting size plus the style's size correction, its ink box centred on the box and moved
    by the style's offset (a smooth style: at 4× and box-filtered, the ink a further phase quarters right and down).
    None when the word has no ink.
    """
    if w < 1 or h < 1:
        return None
    if is_redacted(text):
        return 0, 0, np.full((h, w), 255, dtype=np.uint8)
    size = min(_MAX_SIZE, max(1, fitting_size(style.font, text, w, h) + style.size_delta))
    if style.smooth:
        patch = smooth_patch(style.font, text, size, style.size_quarter, style.phase_x, style.phase_y)
        if patch is None:
            return None
        th, tw = patch.shape[0] - 1, patch.shape[1] - 1  # the ink's own extent, without the phase margin
    else:
        patch = _ink_patch(style.font, text, size)
        if patch is None:
            return None
        th, tw = patch.shape
    return (w - tw) // 2 + style.dx, (h - th) // 2 + style.dy, patch


def composite_word(canvas: np.ndarray, word: Word, style: WordStyle) -> None:
    """Draw one word into a uint8 [H, W, 3] canvas in place: out = (bg·(255−a) + colour·a) / 255, rounded."""
    height, width = canvas.shape[:2]
    fitted = word_coverage(word.text, word.w, word.h, style)
    if fitted is None:
        return
    dx, dy, alpha = fitted
    x0, y0 = word.x + dx, word.y + dy
    cx0, cy0 = max(x0, 0), max(y0, 0)
    cx1, cy1 = min(x0 + alpha.shape[1], width), min(y0 + alpha.shape[0], height)
    if cx1 <= cx0 or cy1 <= cy0:
        return
    a = alpha[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0, None].astype(np.int32)
    region = canvas[cy0:cy1, cx0:cx1].astype(np.int32)
    canvas[cy0:cy1, cx0:cx1] = (region * (255 - a) + np.array(style.color, dtype=np.int32) * a + 127) // 255


def _ink_color_from(image: np.ndarray, word: Word) -> tuple[int, int, int]:
    """For a word the encoder left in the image layer (no style): the colour that differs most from its surround."""
    height, width = image.shape[:2]
    x0, y0, x1, y1 = word.x, word.y, min(word.x + word.w, width), min(word.y + word.h, height)
    box = image[y0:y1, x0:x1].reshape(-1, 3).astype(np.int32)
    if not len(box):
        return (0, 0, 0)
    background = np.median(box, axis=0)
    distance = np.abs(box - background).sum(axis=1)
    far = box[distance >= np.quantile(distance, 0.95)]
    return tuple(int(v) for v in np.rint(far.mean(axis=0)))


def _cover_with_surround(canvas: np.ndarray, word: Word) -> None:
    """Paint a word's box with the median colour of the 2-pixel ring around it (hides what the image layer kept)."""
    height, width = canvas.shape[:2]
    x0, y0, x1, y1 = word.x, word.y, min(word.x + word.w, width), min(word.y + word.h, height)
    bx0, by0, bx1, by1 = max(x0 - 2, 0), max(y0 - 2, 0), min(x1 + 2, width), min(y1 + 2, height)
    ring = canvas[by0:by1, bx0:bx1].copy()
    mask = np.ones(ring.shape[:2], dtype=bool)
    mask[y0 - by0 : y1 - by0, x0 - bx0 : x1 - bx0] = False
    if mask.any():
        canvas[y0:y1, x0:x1] = np.median(ring[mask], axis=0).astype(canvas.dtype)


def render_text(image_layer: np.ndarray, layout: TextLayout, edited: frozenset[int] = frozenset()) -> np.ndarray:
    """Composite the styled layout's redrawn words over the decoded image layer (uint8 [H, W, 3]).

    `edited` holds indices (in layout.words order) of words changed after encoding that the image layer still shows:
    their box is first covered with the surrounding colour, then the new text is drawn in the ink colour found there.
    """
    if not layout.styled:
        raise InvalidInputError("render_text needs a styled text layout (text-layer format 2)")
    canvas = to_rgb_array(image_layer).copy()
    for i, word in enumerate(layout.words):
        if word.style is not None:
            composite_word(canvas, word, word.style)
        elif i in edited:
            color = _ink_color_from(canvas, word)
            _cover_with_surround(canvas, word)
            composite_word(canvas, word, WordStyle(0, color))
    return canvas


def preview_text(layout: TextLayout, width: int, height: int,
                 background: tuple[int, int, int] = (255, 255, 255)) -> np.ndarray:
    """The styled text alone on a plain background (what the Glyph Render node shows beside the conditioning glyph).

    Words without a style are drawn in black in the first font class, so unstyled layouts preview too.
    """
    if width < 1 or height < 1:
        raise InvalidInputError(f"preview size must be positive, got {width}x{height}")
    canvas = np.empty((height, width, 3), dtype=np.uint8)
    canvas[:] = background
    for word in layout.words:
        composite_word(canvas, word, word.style or WordStyle(0, (0, 0, 0)))
    return canvas
