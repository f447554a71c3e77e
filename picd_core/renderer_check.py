"""Tell a corrupt text layer from a machine that renders glyphs differently.

When the glyph rendered from a file's text layer does not match the checksum the encoder stored, either the text layer
(or the checksum) is not what the encoder wrote, or this machine's renderer differs from the specification's (another
font file, FreeType or Pillow build). The second is tested directly: a reference layout that exercises every printable
ASCII and Latin-1 character, upscaling, downscaling, clipping and overlaps is rendered here and compared with its pinned
digest. If this machine renders the reference exactly, the mismatch is the file's fault.
"""

from __future__ import annotations

import hashlib
import warnings
from functools import lru_cache

from .errors import BitstreamError, GlyphMismatchError
from .layout import TextLayout, Word

_ASCII = "".join(chr(c) for c in range(0x21, 0x7F))
_LATIN1 = "".join(chr(c) for c in range(0xA1, 0x100) if c != 0xAD)
REFERENCE_LAYOUT = TextLayout.from_lines([
    [Word(_ASCII[:47], 2, 2, 500, 22), Word(_ASCII[47:], 2, 26, 500, 22)],
    [Word(_LATIN1[:48], 2, 52, 520, 20), Word(_LATIN1[48:], 2, 74, 520, 20)],
    [Word("PICD", 10, 100, 300, 120), Word("glyph", 200, 160, 150, 48), Word("x", 500, 200, 60, 60)],
    [Word("Grüße 123 $4.50", 4, 230, 90, 9), Word("tiny", 100, 232, 7, 5), Word(" ", 120, 232, 20, 8)],
])
REFERENCE_SIZE = (530, 250)
# sha256 of render_glyph(REFERENCE_LAYOUT, *REFERENCE_SIZE) by a conforming renderer; changes with RENDERER_VERSION.
REFERENCE_SHA256 = "97844b9fa213238175de679921178c9d6152134d55f72d89cf7b871ec5fb7984"
DRIFT_MESSAGE = "this machine renders a different glyph image from the encoder's (another font file or Pillow build)"


@lru_cache(maxsize=1)
def renderer_matches_reference() -> bool:
    """True when this machine's glyph renderer reproduces the reference render bit for bit (checked once)."""
    from .glyph import render_glyph

    glyph = render_glyph(REFERENCE_LAYOUT, *REFERENCE_SIZE)
    return hashlib.sha256(glyph.tobytes()).hexdigest() == REFERENCE_SHA256


def glyph_checksum_mismatch(uses_glyph: bool) -> None:
    """Raise (or warn) for a glyph that does not match the file's checksum, blaming the file or the machine."""
    if renderer_matches_reference():
        raise BitstreamError(
            "the text layer does not match its glyph checksum: the file is corrupt (this machine's glyph renderer "
            "passes its reference check)"
        )
    if uses_glyph:
        raise GlyphMismatchError(f"{DRIFT_MESSAGE}; the glyph-conditioned image layer cannot be decoded exactly")
    warnings.warn(DRIFT_MESSAGE + "; the image layer is unaffected", RuntimeWarning, stacklevel=3)
