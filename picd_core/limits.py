"""Resource limits: what a PICD encoder accepts and a decoder agrees to decode (docs/bitstream.md, "Decoder limits").

Every check here runs before the allocation or the native call it protects, and raises a typed error that names the
limit: `FileLimitError` (a BitstreamError) for a file, `InputLimitError` (an InvalidInputError) for encoder input. The
encoder applies the same limits, so every file PICD writes is one PICD decodes.

Two kinds of limit. Absolute ones cap memory and time whatever the file says (image size, words, characters per word,
glyph work, mlic tile size). Real-size ones tie the work a file may ask for to the bytes it actually holds, so a tiny
file cannot claim a huge decode: each word needs geometry bits, the glyph's characters are bounded by the text layer's
length, and the mlic hyper-latent needs a minimum number of bits per 64×64 block.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Iterable, Sequence

from .errors import BitstreamError, InvalidInputError, PicdError

if TYPE_CHECKING:
    from .layout import TextLayout

# Image size. 2^26 px (8192², or 8000×8000) keeps decode + glyph + direct text render under ~2 GB; larger images
# should be coded as tiles of at most this size. MAX_SIDE bounds very thin images the same way.
MAX_SIDE = 16384
MAX_PIXELS = 1 << 26
# Text layer. No screen holds more words than this; a word longer than MAX_WORD_CHARS is not a word (its 256-px
# patch alone would be 12+ Mpx).
MAX_WORDS = 1 << 16
MAX_WORD_CHARS = 256
# The decompressed string payload (a 4 MiB cap stops a few-byte lzma/brotli bomb from allocating more).
MAX_TEXT_PAYLOAD_BYTES = 4 << 20
# Glyph work. Rendering costs ~0.7 ms per character (each is drawn at 256 px, then resized), so the total number of
# characters is capped, absolutely and per byte of coded text layer; the resized boxes may cover the image a few times.
MAX_GLYPH_CHARS = 1 << 17
GLYPH_CHARS_FREE = 2048
GLYPH_CHARS_PER_BYTE = 16
GLYPH_BOX_COVERAGE = 4
GLYPH_BOX_FREE_PIXELS = 1 << 22
# One glyph patch (a word at 256 px before it is resized) may not exceed this; MAX_WORD_CHARS wide characters fit.
MAX_PATCH_PIXELS = MAX_WORD_CHARS * 256 * 256
# Each word codes at least 4 symbols (x or gap, width, dy, dh): exp-Golomb codes of at least one bit each (files
# before range coding; range-coded ones: one adaptive decision each, text_layer passes that bound).
MIN_GEOMETRY_BITS_PER_WORD = 4
# The learned codec: tiles above 2048² need more than 2.5 GB for the synthesis transform.
MAX_MLIC_TILE = 2048


class LimitError(PicdError):
    """Input exceeds one of PICD's resource limits; `limit` names it (a constant of picd_core.limits)."""

    def __init__(self, message: str, limit: str) -> None:
        super().__init__(message)
        self.limit = limit


class FileLimitError(LimitError, BitstreamError):
    """A file asks for more than the decoder's limits allow (corrupt, or written by something other than PICD)."""


class InputLimitError(LimitError, InvalidInputError):
    """An image or layout given to the encoder exceeds the limits every PICD decoder applies."""


def _fail(encoding: bool, message: str, limit: str) -> LimitError:
    if encoding:
        return InputLimitError(message, limit)
    return FileLimitError(message + " (corrupt file, or not written by PICD)", limit)


def check_image_size(width: int, height: int, encoding: bool = False, what: str = "image") -> None:
    """Width and height within MAX_SIDE and their product within MAX_PIXELS."""
    if width < 1 or height < 1:
        raise _fail(encoding, f"{what} size {width}x{height} is empty", "MAX_SIDE")
    if width > MAX_SIDE or height > MAX_SIDE:
        hint = "; split it into tiles" if encoding else ""
        raise _fail(encoding, f"{what} is {width}x{height}; sides are limited to {MAX_SIDE}{hint}", "MAX_SIDE")
    if width * height > MAX_PIXELS:
        hint = "; split it into tiles" if encoding else ""
        raise _fail(encoding, f"{what} is {width}x{height} = {width * height} pixels; the limit is {MAX_PIXELS} "
                              f"({math.isqrt(MAX_PIXELS)}²){hint}", "MAX_PIXELS")


def check_padded_size(width: int, height: int, padded_width: int, padded_height: int, multiple: int,
                      codec: str) -> None:
    """The padded size must be the image size rounded up to the codec's multiple: the encoder pads exactly so."""
    want_w, want_h = width + (-width % multiple), height + (-height % multiple)
    if (padded_width, padded_height) != (want_w, want_h):
        raise BitstreamError(
            f"padded size {padded_width}x{padded_height} is not {width}x{height} rounded up to {codec}'s multiple of "
            f"{multiple} ({want_w}x{want_h}) (corrupt header)"
        )


def check_text_payload(raw: bytes, geometry_bytes: int, min_bits_per_word: float = MIN_GEOMETRY_BITS_PER_WORD) -> None:
    """Word count of a decompressed string payload from its separators, before it is split into strings."""
    if len(raw) > MAX_TEXT_PAYLOAD_BYTES:
        raise FileLimitError(f"text payload is {len(raw)} bytes; the limit is {MAX_TEXT_PAYLOAD_BYTES}",
                             "MAX_TEXT_PAYLOAD_BYTES")
    words = raw.count(b" ") + raw.count(b"\n") + 1 if raw else 0  # an upper bound: escaped empty lines hold none
    if words > MAX_WORDS:
        raise FileLimitError(f"text layer has {words} words; the limit is {MAX_WORDS}", "MAX_WORDS")
    lines = raw.count(b"\n") + 1 if raw else 0
    if (words - lines) * min_bits_per_word > geometry_bytes * 8:
        raise BitstreamError(f"text layer has {words} words but only {geometry_bytes} bytes of geometry, too few "
                             "for that many boxes (corrupt)")


def check_text_structure(strings: Sequence[Sequence[str]], geometry_bytes: int,
                         min_bits_per_word: float = MIN_GEOMETRY_BITS_PER_WORD) -> None:
    """Word count and word lengths of the parsed strings, before any Word is built or geometry read."""
    words = sum(len(line) for line in strings)
    if words > MAX_WORDS:
        raise FileLimitError(f"text layer has {words} words; the limit is {MAX_WORDS}", "MAX_WORDS")
    if words * min_bits_per_word > geometry_bytes * 8:
        raise BitstreamError(f"text layer has {words} words but only {geometry_bytes} bytes of geometry, too few "
                             "for that many boxes (corrupt)")
    for line in strings:
        for text in line:
            if len(text) > MAX_WORD_CHARS:
                raise FileLimitError(f"text layer has a word of {len(text)} characters; the limit is "
                                     f"{MAX_WORD_CHARS}", "MAX_WORD_CHARS")


def check_layout(layout: "TextLayout", width: int, height: int, encoding: bool = True) -> None:
    """Everything the decoder checks on a layout: word count, word length, boxes inside the image, glyph work."""
    words = layout.words
    if len(words) > MAX_WORDS:
        raise _fail(encoding, f"text layout has {len(words)} words; the limit is {MAX_WORDS}", "MAX_WORDS")
    for word in words:
        if len(word.text) > MAX_WORD_CHARS:
            raise _fail(encoding, f"word {word.text[:20]!r}… has {len(word.text)} characters; the limit is "
                                  f"{MAX_WORD_CHARS}", "MAX_WORD_CHARS")
    payload = sum(len(word.text.encode("utf-8", "surrogatepass")) + 1 for word in words)
    if 2 * payload > MAX_TEXT_PAYLOAD_BYTES:  # escaping at most doubles it
        raise _fail(encoding, f"text layout holds {payload} bytes of text; the limit is "
                              f"{MAX_TEXT_PAYLOAD_BYTES // 2}", "MAX_TEXT_PAYLOAD_BYTES")
    if not layout.bounds_fit(width, height):
        if encoding:
            raise InvalidInputError(f"the text layout has boxes outside the {width}x{height} image")
        raise BitstreamError("text layer has boxes outside the image (corrupt)")
    check_glyph_work(words, width, height, encoding=encoding)


def glyph_char_budget(coded_bytes: int | None) -> int:
    """Characters the glyph may draw for a text layer of `coded_bytes` bytes (None: the absolute cap only)."""
    if coded_bytes is None:
        return MAX_GLYPH_CHARS
    return min(MAX_GLYPH_CHARS, GLYPH_CHARS_FREE + GLYPH_CHARS_PER_BYTE * coded_bytes)


def check_glyph_work(words: Iterable, width: int, height: int, coded_bytes: int | None = None,
                     encoding: bool = False) -> None:
    """Total characters to render and total resized box area, computed from the layout alone (nothing is drawn)."""
    chars = area = 0
    for word in words:
        if len(word.text) > MAX_WORD_CHARS:
            raise _fail(encoding, f"a word has {len(word.text)} characters; the limit is {MAX_WORD_CHARS}",
                        "MAX_WORD_CHARS")
        if word.w >= 1 and word.h >= 1 and word.x < width and word.y < height:
            chars += len(word.text)
            area += min(word.w, width - word.x) * min(word.h, height - word.y)
    budget = glyph_char_budget(coded_bytes)
    if chars > budget:
        per = "" if coded_bytes is None else f" for a {coded_bytes}-byte text layer"
        raise _fail(encoding, f"the glyph would draw {chars} characters; the limit is {budget}{per}",
                    "MAX_GLYPH_CHARS" if budget == MAX_GLYPH_CHARS else "GLYPH_CHARS_PER_BYTE")
    max_area = GLYPH_BOX_COVERAGE * width * height + GLYPH_BOX_FREE_PIXELS
    if area > max_area:
        raise _fail(encoding, f"the word boxes cover {area} pixels, more than {GLYPH_BOX_COVERAGE}× the "
                              f"{width}x{height} image", "GLYPH_BOX_COVERAGE")


def check_patch_size(text: str, width: int, height: int) -> None:
    """A word's 256-px patch, before it is allocated (Pillow would raise DecompressionBombError far later)."""
    if width * height > MAX_PATCH_PIXELS:
        raise FileLimitError(f"word of {len(text)} characters renders to a {width}x{height} patch; the limit is "
                             f"{MAX_PATCH_PIXELS} pixels", "MAX_PATCH_PIXELS")


# ---------------------------------------------------------------- the learned codec's rANS streams


def check_mlic_tile(tile: int) -> None:
    if not 64 <= tile <= MAX_MLIC_TILE:
        raise FileLimitError(f"mlic tile size {tile} is outside 64..{MAX_MLIC_TILE}", "MAX_MLIC_TILE")


def min_bits_per_position(cdf: Sequence[Sequence[int]], cdf_lengths: Sequence[int], precision: int = 16) -> float:
    """Fewest bits any rANS stream spends per position when every channel codes its likeliest symbol."""
    total = 0.0
    for row, length in zip(cdf, cdf_lengths):
        best = max(row[i + 1] - row[i] for i in range(length - 1))
        total += math.log2((1 << precision) / best)
    return total


def check_rans_claim(string: bytes, positions: int, bits_per_position: float, what: str) -> None:
    """A stream coding `positions` positions holds at least positions × bits_per_position bits.

    rANS spends log2(2^16 / frequency) bits per symbol, so no valid stream is shorter; 64 bits cover the final state.
    """
    if positions * bits_per_position > len(string) * 8 + 64:
        raise BitstreamError(f"{what} is {len(string)} bytes, too short for the {positions} positions the header "
                             "claims (corrupt header or truncated layer)")


def rans_padded(string: bytes, symbols: int) -> bytes:
    """The stream followed by zeros, so CompressAI's rANS decoder never reads past its buffer.

    Its decoder has no end check: each symbol reads at most one 32-bit word, more for the rare escape-coded symbols,
    so a corrupt or short stream for many symbols walks off the heap (the 65472x8192 SIGSEGV). Zeros after the end
    leave a valid stream's decoding unchanged.
    """
    return bytes(string) + bytes(8 * symbols + 16 * len(string) + 4096)


# ---------------------------------------------------------------- Pillow payloads


def check_pillow_payload(image, codec: str, pil_format: str, width: int, height: int) -> None:
    """An opened (not yet decoded) Pillow image: its format, size and frame count must be what the codec writes."""
    if image.format != pil_format:
        raise BitstreamError(f"{codec} image layer holds a {image.format} image (corrupt)")
    if image.size != (width, height):
        raise BitstreamError(f"{codec} image layer is {image.size[0]}x{image.size[1]}, header says {width}x{height} "
                             "(corrupt)")
    if getattr(image, "n_frames", 1) != 1:
        raise BitstreamError(f"{codec} image layer is animated (corrupt)")
    if pil_format == "JPEG" and (image.info.get("progressive") or image.info.get("progression")):
        # PICD writes baseline JPEG; a progressive one can hold thousands of scans, each a pass over the image.
        raise BitstreamError("jpeg image layer is progressive; PICD writes baseline JPEG (corrupt)")
