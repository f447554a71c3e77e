"""Lossless coding of the text layout Z (PICD_SPEC §2).

Stream layout (byte-aligned parts, then one symbol stream):

    u8      (string coder id << 4) | flags          flags bit0: strings are escaped
    varint  length of the string payload
    bytes   string payload (coded by the coder named above)
    stream  the geometry symbols, then (flags bit1, format 2) the style stream: a colour palette, then per word a
            redraw bit and, for redrawn words, its font class and colour (each "same as the previous redrawn word"
            in one decision when it is), its corrections and (flags bit2) a smooth-render bit with its
            quarter-pixel size and phases. With flags bit3 (what this encoder writes) the stream is range-coded
            with adaptive contexts (`range_coder`); without it (older files, still read) it is MSB-first bits
            with a 3-bit exp-Golomb order per geometry field first.

The string payload comes first because it alone fixes the structure (lines split on '\\n', words on ' '), and the
geometry coder uses each word's character count to predict its width. Geometry is integer-only so that encoder and
decoder predict bit-identically.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .bitio import BitReader, read_varint, write_varint
from .errors import BitstreamError, InvalidInputError
from .fonts import FONT_CLASSES, FONT_ID_BITS
from .layout import Line, TextLayout, Word, WordStyle
from .limits import MIN_GEOMETRY_BITS_PER_WORD, check_text_payload, check_text_structure
from .range_coder import MIN_DECISION_BITS, RangeDecoder, RangeEncoder
from . import text_coders

FLAG_ESCAPED = 0x01
FLAG_STYLED = 0x02
FLAG_SMOOTH = 0x04  # styled layers whose words may be drawn smooth: a render-mode bit per redrawn word
FLAG_RANGE_CODED = 0x08  # geometry and styles are range-coded (without it: exp-Golomb bits, files before it)
_KNOWN_FLAGS = FLAG_ESCAPED | FLAG_STYLED | FLAG_SMOOTH | FLAG_RANGE_CODED
_MAX_PALETTE = 1 << 12
ORDER_BITS = 3  # exp-Golomb order of each geometry field (files without range coding)
# Geometry fields in stream order.
FIELDS = ("line_gap", "line_height", "line_x", "word_gap", "word_width", "word_dy", "word_dh")
# Prior for the width predictor: a character is about 0.55 line-heights wide (Latin fonts), as a fraction.
_WIDTH_PRIOR = (55, 100)
_GAP_PRIOR = (30, 100)


# ---------------------------------------------------------------- strings

_ESCAPES = {"\\": "\\\\", " ": "\\s", "\n": "\\n"}


def _needs_escape(layout: TextLayout) -> bool:
    return any(
        not line.words or any(not w.text or any(ch in w.text for ch in " \n\\") for w in line.words)
        for line in layout.lines
    )


def _escape_word(text: str) -> str:
    if not text:
        return "\\e"
    return "".join(_ESCAPES.get(ch, ch) for ch in text)


def _unescape_word(token: str) -> str:
    if token == "\\e":
        return ""
    out, i = [], 0
    while i < len(token):
        ch = token[i]
        if ch == "\\":
            if i + 1 >= len(token):
                raise BitstreamError("dangling escape in text payload (corrupt)")
            nxt = token[i + 1]
            mapped = {"\\": "\\", "s": " ", "n": "\n"}.get(nxt)
            if mapped is None:
                raise BitstreamError(f"unknown escape \\{nxt} in text payload (corrupt)")
            out.append(mapped)
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _strings_payload(layout: TextLayout, escaped: bool) -> str:
    if not escaped:
        return "\n".join(" ".join(w.text for w in line.words) for line in layout.lines)
    return "\n".join(
        " ".join(_escape_word(w.text) for w in line.words) if line.words else "\\0" for line in layout.lines
    )


def _parse_strings(payload: str, escaped: bool) -> list[list[str]]:
    if payload == "":
        return []
    lines = payload.split("\n")
    if not escaped:
        return [line.split(" ") for line in lines]
    return [[] if line == "\\0" else [_unescape_word(tok) for tok in line.split(" ")] for line in lines]


# ---------------------------------------------------------------- geometry model


def _median_low(values: list[int]) -> int:
    ordered = sorted(values)
    return ordered[(len(ordered) - 1) // 2]


class _GeometryModel:
    """Integer predictors shared by encoder and decoder. Feed it the true values as they are coded."""

    def __init__(self) -> None:
        self.prev_line_bottom = 0
        self.prev_line_h = 0
        self.prev_line_x = 0
        self.width_num, self.width_den = _WIDTH_PRIOR  # running width / (chars · line height)
        self.gap_num, self.gap_den = _GAP_PRIOR  # running gap / line height

    def predict_width(self, n_chars: int, line_h: int) -> int:
        den = self.width_den
        return (n_chars * line_h * self.width_num + den // 2) // den

    def predict_gap(self, line_h: int) -> int:
        den = self.gap_den
        return (line_h * self.gap_num + den // 2) // den

    def learn_width(self, width: int, n_chars: int, line_h: int) -> None:
        if n_chars and line_h:
            self.width_num += width
            self.width_den += n_chars * line_h

    def learn_gap(self, gap: int, line_h: int) -> None:
        if line_h:
            self.gap_num += max(gap, 0)
            self.gap_den += line_h

    def end_line(self, line_y: int, line_h: int, line_x: int) -> None:
        self.prev_line_bottom = line_y + line_h
        self.prev_line_h = line_h
        self.prev_line_x = line_x


def _geometry_symbols(layout: TextLayout) -> list[tuple[int, int]]:
    """(field index, signed residual) in stream order."""
    model = _GeometryModel()
    idx = {name: i for i, name in enumerate(FIELDS)}
    symbols: list[tuple[int, int]] = []
    for line in layout.lines:
        if not line.words:
            continue
        line_y = _median_low([w.y for w in line.words])
        line_h = _median_low([w.h for w in line.words])
        symbols.append((idx["line_gap"], line_y - model.prev_line_bottom))
        symbols.append((idx["line_height"], line_h - model.prev_line_h))
        prev: Word | None = None
        for word in line.words:
            if prev is None:
                symbols.append((idx["line_x"], word.x - model.prev_line_x))
            else:
                gap = word.x - (prev.x + prev.w)
                symbols.append((idx["word_gap"], gap - model.predict_gap(line_h)))
                model.learn_gap(gap, line_h)
            n_chars = len(word.text)
            symbols.append((idx["word_width"], word.w - model.predict_width(n_chars, line_h)))
            model.learn_width(word.w, n_chars, line_h)
            symbols.append((idx["word_dy"], word.y - line_y))
            symbols.append((idx["word_dh"], word.h - line_h))
            prev = word
        model.end_line(line_y, line_h, line.words[0].x)
    return symbols


class _ExpGolombReader:
    """The symbol reader of text layers written before range coding: the same calls as RangeDecoder, read as
    MSB-first bits — exp-Golomb codes (each geometry field with its own order), fixed-width fields, single bits."""

    def __init__(self, data: bytes) -> None:
        self._bits = BitReader(data)
        self._size = len(data)
        self._orders = {name: self._bits.read_bits(ORDER_BITS) for name in FIELDS}

    def bit(self, ctx: object) -> int:
        return self._bits.read_bits(1)

    def direct(self, nbits: int) -> int:
        return self._bits.read_bits(nbits)

    def tree(self, ctx: object, nbits: int) -> int:
        return self._bits.read_bits(nbits)

    def uint(self, ctx: object) -> int:
        return self._bits.read_eg(0)

    def sint(self, ctx: object) -> int:
        return self._bits.read_seg(self._orders.get(ctx, 0))

    @property
    def at_end(self) -> bool:
        return self._bits.byte_position == self._size


# ---------------------------------------------------------------- style stream


def _palette(layout: TextLayout) -> list[tuple[int, int, int]]:
    """Colours of the redrawn words in order of first use."""
    seen: dict[tuple[int, int, int], None] = {}
    for word in layout.redrawn:
        seen.setdefault(word.style.color, None)
    return list(seen)


def _index_bits(n: int) -> int:
    return max(0, (n - 1).bit_length())


def _has_smooth(layout: TextLayout) -> bool:
    return any(word.style.smooth for word in layout.redrawn)


def _write_styles(out: RangeEncoder, layout: TextLayout) -> None:
    palette = _palette(layout)
    if len(palette) > _MAX_PALETTE:
        raise InvalidInputError(f"the text layer can carry at most {_MAX_PALETTE} word colours, got {len(palette)}")
    out.uint("palette_size", len(palette))
    for r, g, b in palette:
        out.direct((r << 16) | (g << 8) | b, 24)
    index = {c: i for i, c in enumerate(palette)}
    smooth_bits = _has_smooth(layout)
    prev: WordStyle | None = None
    prev_redrawn = 2  # context: whether the previous word was redrawn (2: first word)
    for word in layout.words:
        style = word.style
        out.bit(("redrawn", prev_redrawn), style is not None)
        prev_redrawn = int(style is not None)
        if style is None:
            continue
        same_font = prev is not None and style.font == prev.font
        out.bit("same_font", same_font)
        if not same_font:
            out.tree("font", style.font, FONT_ID_BITS)
        if len(palette) > 1:
            same_color = prev is not None and style.color == prev.color
            out.bit("same_color", same_color)
            if not same_color:
                out.tree("color", index[style.color], _index_bits(len(palette)))
        for name in ("size_delta", "dx", "dy"):
            out.sint(name, getattr(style, name))
        if smooth_bits:
            out.bit("smooth", style.smooth)
            if style.smooth:
                out.tree("size_quarter", style.size_quarter + 2, 2)
                out.tree("phase_x", style.phase_x, 2)
                out.tree("phase_y", style.phase_y, 2)
        prev = style


def _read_styles(symbols: RangeDecoder | _ExpGolombReader, n_words: int,
                 smooth_bits: bool) -> list[WordStyle | None]:
    n_colors = symbols.uint("palette_size")
    if n_colors > _MAX_PALETTE or n_colors > n_words:
        raise BitstreamError(f"text layer claims {n_colors} word colours (corrupt)")
    palette = []
    for _ in range(n_colors):
        v = symbols.direct(24)
        palette.append(((v >> 16) & 255, (v >> 8) & 255, v & 255))
    styles: list[WordStyle | None] = []
    prev: WordStyle | None = None
    prev_redrawn = 2
    for _ in range(n_words):
        redrawn = symbols.bit(("redrawn", prev_redrawn))
        prev_redrawn = redrawn
        if not redrawn:
            styles.append(None)
            continue
        if symbols.bit("same_font"):
            if prev is None:
                raise BitstreamError("text layer repeats the style of no word (corrupt)")
            font = prev.font
        else:
            font = symbols.tree("font", FONT_ID_BITS)
            if font >= len(FONT_CLASSES):
                raise BitstreamError(f"text layer names font class {font}, unknown to this PICD (corrupt or newer)")
        if not palette:
            raise BitstreamError("a redrawn word has no colour (corrupt)")
        if len(palette) == 1:
            color = palette[0]
        elif symbols.bit("same_color"):
            if prev is None:
                raise BitstreamError("text layer repeats the colour of no word (corrupt)")
            color = prev.color
        else:
            i = symbols.tree("color", _index_bits(len(palette)))
            if i >= len(palette):
                raise BitstreamError("text layer names a colour outside its palette (corrupt)")
            color = palette[i]
        corrections = [symbols.sint(name) for name in ("size_delta", "dx", "dy")]
        if any(abs(v) > 64 for v in corrections):
            raise BitstreamError("text layer has an out-of-range size or offset correction (corrupt)")
        smooth = {}
        if smooth_bits and symbols.bit("smooth"):
            smooth = {"smooth": True, "size_quarter": symbols.tree("size_quarter", 2) - 2,
                      "phase_x": symbols.tree("phase_x", 2), "phase_y": symbols.tree("phase_y", 2)}
            if smooth["size_quarter"] > 1:
                raise BitstreamError("text layer has an out-of-range quarter-size correction (corrupt)")
        prev = WordStyle(font, color, *corrections, **smooth)
        styles.append(prev)
    return styles


# ---------------------------------------------------------------- public API


@dataclass(frozen=True)
class TextLayerStats:
    total_bytes: int
    string_bytes: int
    geometry_bytes: int  # positions, and (format 2) the style stream
    coder: str
    words: int
    style_bits: int = 0  # bits of the style stream alone (palette, redraw flags, fonts, colours), as coded now
    redrawn_words: int = 0


def encode_text_layer(layout: TextLayout, string_coder: str | None = None) -> bytes:
    """Code a layout losslessly (texts, integer boxes and, for styled layouts, the styles; confidences are dropped)."""
    if not isinstance(layout, TextLayout):
        raise InvalidInputError(f"encode_text_layer needs a TextLayout, got {type(layout).__name__}")
    if not layout.styled and layout.redrawn:
        raise InvalidInputError("a layout whose words carry styles must be marked styled=True")
    escaped = _needs_escape(layout)
    raw = _strings_payload(layout, escaped).encode("utf-8", "surrogatepass")
    coder_id, payload = text_coders.encode_best(raw, only=string_coder)
    flags = FLAG_RANGE_CODED | (FLAG_ESCAPED if escaped else 0) | (FLAG_STYLED if layout.styled else 0)
    if layout.styled and _has_smooth(layout):
        flags |= FLAG_SMOOTH
    out = bytearray([(coder_id << 4) | flags])
    write_varint(out, len(payload))
    out += payload
    return bytes(out) + _code_stream(layout)[0].finish()


def _code_stream(layout: TextLayout) -> tuple[RangeEncoder, float]:
    """The range-coded geometry and style stream, and the ideal cost of its style part in bits."""
    stream = RangeEncoder()
    for field, value in _geometry_symbols(layout):
        stream.sint(FIELDS[field], value)
    geometry_bits = stream.cost_bits
    if layout.styled:
        _write_styles(stream, layout)
    return stream, stream.cost_bits - geometry_bits


def decode_text_layer(data: bytes) -> TextLayout:
    """Inverse of encode_text_layer. Raises BitstreamError on truncated or corrupt input."""
    if not data:
        raise BitstreamError("text layer is empty (truncated)")
    coder_id, flags = data[0] >> 4, data[0] & 0x0F
    if flags & ~_KNOWN_FLAGS:
        raise BitstreamError(f"text layer has unknown flags {flags:#x} (corrupt or newer format)")
    length, pos = read_varint(data, 1, "text payload length")
    if pos + length > len(data):
        raise BitstreamError("text payload runs past the end of the text layer (truncated)")
    raw = text_coders.decode(coder_id, data[pos : pos + length])
    range_coded = bool(flags & FLAG_RANGE_CODED)
    # The fewest bits a word's geometry can take: four symbols, each one adaptive decision when range-coded.
    min_bits = 4 * MIN_DECISION_BITS if range_coded else MIN_GEOMETRY_BITS_PER_WORD
    check_text_payload(raw, len(data) - pos - length, min_bits)
    try:
        strings = _parse_strings(raw.decode("utf-8", "surrogatepass"), bool(flags & FLAG_ESCAPED))
    except UnicodeDecodeError:
        raise BitstreamError("text payload is not valid UTF-8 (corrupt)") from None
    # Word count and lengths against the limits and the geometry's real size, before any Word is built.
    check_text_structure(strings, len(data) - pos - length, min_bits)
    stream = data[pos + length :]
    symbols = RangeDecoder(stream) if range_coded else _ExpGolombReader(stream)
    read = symbols.sint

    model = _GeometryModel()
    lines: list[Line] = []
    for texts in strings:
        if not texts:
            lines.append(Line(()))
            continue
        line_y = model.prev_line_bottom + read("line_gap")
        line_h = model.prev_line_h + read("line_height")
        words: list[Word] = []
        for text in texts:
            if not words:
                x = model.prev_line_x + read("line_x")
            else:
                prev = words[-1]
                gap = model.predict_gap(line_h) + read("word_gap")
                model.learn_gap(gap, line_h)
                x = prev.x + prev.w + gap
            w = model.predict_width(len(text), line_h) + read("word_width")
            model.learn_width(w, len(text), line_h)
            y = line_y + read("word_dy")
            h = line_h + read("word_dh")
            if min(x, y, w, h) < 0:
                raise BitstreamError("text layer decodes to a negative box (corrupt)")
            words.append(Word(text, x, y, w, h))
        model.end_line(line_y, line_h, words[0].x)
        lines.append(Line(tuple(words)))
    styled = bool(flags & FLAG_STYLED)
    if flags & FLAG_SMOOTH and not styled:
        raise BitstreamError("text layer has smooth words but no styles (corrupt)")
    if styled:
        styles = iter(_read_styles(symbols, sum(len(line.words) for line in lines), bool(flags & FLAG_SMOOTH)))
        lines = [Line(tuple(replace(w, style=next(styles)) for w in line.words)) for line in lines]
    if not symbols.at_end:
        raise BitstreamError("text layer has trailing bytes after the geometry (corrupt)")
    return TextLayout(tuple(lines), styled)


def text_layer_stats(layout: TextLayout, data: bytes) -> TextLayerStats:
    length, pos = read_varint(data, 1)
    style_bits = round(_code_stream(layout)[1]) if layout.styled else 0
    return TextLayerStats(
        total_bytes=len(data),
        string_bytes=pos + length,
        geometry_bytes=len(data) - pos - length,
        coder=text_coders.TEXT_CODERS[data[0] >> 4].name,
        words=len(layout),
        style_bits=style_bits,
        redrawn_words=len(layout.redrawn),
    )
