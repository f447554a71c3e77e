"""Glyph Render: draw a TextLayout as a black-on-white glyph image (PICD_SPEC §3.3).

Encoder and decoder both condition on this image, so it must be bit-identical everywhere: the font file is bundled
and hash-checked, Pillow's BASIC layout engine is used (never raqm, whose presence varies), all geometry is integer,
and every word is rendered at one fixed size and resized with one fixed filter.
"""

from __future__ import annotations

import zlib
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .errors import InvalidInputError
from .fonts import load_font
from .images import to_rgb_array
from .layout import TextLayout
from .limits import check_glyph_work, check_image_size, check_patch_size

GLYPH_FONT_CLASS = 0  # DejaVu Sans in picd_core.fonts (hash-checked there)
RENDER_SIZE = 256


def _font() -> ImageFont.FreeTypeFont:
    return load_font(GLYPH_FONT_CLASS, RENDER_SIZE)


def _word_patch(text: str) -> Image.Image | None:
    """The word at RENDER_SIZE, cropped to its ink box (None for text without ink, e.g. spaces)."""
    # Only short words are cached: a cached 256-px patch of a long word holds megabytes.
    return _cached_word_patch(text) if len(text) <= _CACHED_WORD_CHARS else _draw_word_patch(text)


def _draw_word_patch(text: str) -> Image.Image | None:
    font = _font()
    x0, y0, x1, y1 = font.getbbox(text)
    if x1 <= x0 or y1 <= y0:
        return None
    check_patch_size(text, x1 - x0, y1 - y0)
    patch = Image.new("L", (x1 - x0, y1 - y0), 255)
    ImageDraw.Draw(patch).text((-x0, -y0), text, fill=0, font=font)
    return patch


_CACHED_WORD_CHARS = 16
_cached_word_patch = lru_cache(maxsize=512)(_draw_word_patch)


def render_glyph(layout: TextLayout, width: int, height: int) -> np.ndarray:
    """Glyph image as uint8 [height, width]: 255 background, 0 ink. Each word is stretched to fill its box."""
    if not isinstance(layout, TextLayout):
        raise InvalidInputError(f"render_glyph needs a TextLayout, got {type(layout).__name__}")
    if width < 1 or height < 1:
        raise InvalidInputError(f"glyph size must be positive, got {width}x{height}")
    check_image_size(width, height, encoding=True, what="glyph")
    check_glyph_work(layout.words, width, height, encoding=True)  # before the canvas or any patch is allocated
    canvas = np.full((height, width), 255, dtype=np.uint8)
    for word in layout.words:
        if word.w < 1 or word.h < 1 or word.x >= width or word.y >= height:
            continue
        patch = _word_patch(word.text)
        if patch is None:
            continue
        tile = np.asarray(patch.resize((word.w, word.h), Image.Resampling.LANCZOS))
        tile = tile[: height - word.y, : width - word.x]
        region = canvas[word.y : word.y + tile.shape[0], word.x : word.x + tile.shape[1]]
        np.minimum(region, tile, out=region)  # overlapping boxes never erase each other's ink
    return canvas


def glyph_checksum(glyph: np.ndarray) -> int:
    """CRC-32 of the glyph pixels and size; the container stores it so a decoder can detect renderer drift."""
    header = np.array(glyph.shape[:2], dtype="<u4").tobytes()
    return zlib.crc32(header + np.ascontiguousarray(glyph, dtype=np.uint8).tobytes())


def composite_text(decoded: np.ndarray, layout: TextLayout, glyph: np.ndarray) -> np.ndarray:
    """Direct text render (paper Table 3): sharp glyphs drawn over the decoded image.

    Inside each word box the colours come from the decoded image: the background is the median of the pixels around
    the box, the ink is the mean of the pixels that differ most from it. The box is refilled with the background and the
    glyph is alpha-blended on top, so blurry low-rate text is replaced rather than doubled.
    """
    image = to_rgb_array(decoded).astype(np.float32)
    height, width = image.shape[:2]
    if glyph.shape[:2] != (height, width):
        raise InvalidInputError(f"glyph is {glyph.shape[1]}x{glyph.shape[0]} but the image is {width}x{height}")
    alpha_all = 1.0 - glyph.astype(np.float32) / 255.0
    for word in layout.words:
        x0, y0 = word.x, word.y
        x1, y1 = min(word.x + word.w, width), min(word.y + word.h, height)
        if x1 <= x0 or y1 <= y0:
            continue
        bx0, by0, bx1, by1 = max(x0 - 2, 0), max(y0 - 2, 0), min(x1 + 2, width), min(y1 + 2, height)
        ring = image[by0:by1, bx0:bx1].copy()
        ring_mask = np.ones(ring.shape[:2], dtype=bool)
        ring_mask[y0 - by0 : y1 - by0, x0 - bx0 : x1 - bx0] = False
        box = image[y0:y1, x0:x1]
        background = np.median(ring[ring_mask], axis=0) if ring_mask.any() else np.median(box.reshape(-1, 3), axis=0)
        distance = np.abs(box - background).sum(axis=2).ravel()
        far = distance >= np.quantile(distance, 0.95)
        ink = box.reshape(-1, 3)[far].mean(axis=0)
        alpha = alpha_all[y0:y1, x0:x1, None]
        image[y0:y1, x0:x1] = background * (1.0 - alpha) + ink * alpha
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)
