import hashlib
import subprocess
import sys

import numpy as np
import pytest

from picd_core.errors import InvalidInputError
from picd_core.glyph import composite_text, glyph_checksum, render_glyph
from picd_core.layout import TextLayout, Word

LAYOUT = TextLayout.from_lines([
    [Word("PICD", 10, 12, 120, 40), Word("glyph", 140, 14, 150, 48)],
    [Word("Grüße 123 $4.50", 10, 70, 300, 30), Word("overlap", 200, 60, 120, 40)],
    [Word("x", 630, 470, 40, 40)],  # runs past the canvas: clipped, not an error
])
# Pinned: encoder and decoder condition on this image, so any change to it is a bitstream change.
PINNED_SHA256 = "7f5d3e002bb0e4e6e0f9f045de6fc9b6107121179e6e791dca098e692a2c1d4f"


def test_glyph_hash_is_pinned():
    glyph = render_glyph(LAYOUT, 640, 480)
    assert glyph.dtype == np.uint8 and glyph.shape == (480, 640)
    assert hashlib.sha256(glyph.tobytes()).hexdigest() == PINNED_SHA256


def test_glyph_identical_in_a_fresh_process():
    code = (
        "import hashlib; from picd_core.glyph import render_glyph; from picd_core.layout import TextLayout; "
        f"import sys; L = TextLayout.from_json({LAYOUT.to_json()!r}); "
        "print(hashlib.sha256(render_glyph(L, 640, 480).tobytes()).hexdigest())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == PINNED_SHA256


def test_glyph_ink_stays_inside_boxes_and_overlaps_keep_ink():
    glyph = render_glyph(LAYOUT, 640, 480)
    mask = np.zeros_like(glyph, dtype=bool)
    for w in LAYOUT.words:
        mask[w.y : w.y + w.h, w.x : w.x + w.w] = True
    assert (glyph[~mask] == 255).all()
    assert (glyph[mask] < 128).mean() > 0.1
    alone = render_glyph(TextLayout.from_lines([[LAYOUT.lines[1].words[0]]]), 640, 480)
    assert (glyph <= alone).all()  # min compositing: the overlapping word did not erase this one


def test_empty_layout_gives_blank_glyph_and_checksum_depends_on_size():
    blank = render_glyph(TextLayout(), 64, 32)
    assert (blank == 255).all()
    assert glyph_checksum(blank) != glyph_checksum(render_glyph(TextLayout(), 32, 64))


def test_bad_arguments():
    with pytest.raises(InvalidInputError):
        render_glyph(TextLayout(), 0, 10)
    with pytest.raises(InvalidInputError):
        render_glyph("text", 10, 10)


def test_composite_draws_sharp_text_with_image_colours():
    image = np.full((60, 200, 3), (20, 40, 200), np.uint8)  # blue background
    layout = TextLayout.from_lines([[Word("Hello", 10, 10, 100, 30)]])
    image[15:35, 15:100] = (250, 250, 250)  # a blurry "white text" blob
    glyph = render_glyph(layout, 200, 60)
    out = composite_text(image, layout, glyph)
    ink = glyph < 64
    assert out[ink].mean(axis=0)[2] > 200 and out[ink].mean(axis=0)[0] > 180  # ink takes the light text colour
    assert (out[~ink & (glyph == 255)][:, 2] > 150).all()  # background stays blue
    assert (out[50:, :] == image[50:, :]).all()  # outside boxes nothing changes
