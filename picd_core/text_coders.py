"""Lossless coders for the UTF-8 string payload of the text layer.

The text-layer encoder runs every available coder and keeps the smallest output, writing the coder's id into
the stream (one byte). Ids are part of the bitstream format: never renumber them.
"""

from __future__ import annotations

import lzma
import zlib
from dataclasses import dataclass
from typing import Callable

from .bitio import read_varint, write_varint
from .errors import BitstreamError, UnsupportedBitstreamError
from .limits import MAX_TEXT_PAYLOAD_BYTES

# A 1 MiB dictionary: text layers are far smaller, and the 64 MiB default costs ~50 ms to allocate per call.
_LZMA_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME, "dict_size": 1 << 20}]
_PPMD_ORDERS = (3, 4, 5, 6, 8, 12)
_PPMD_MEMORY = 16 << 20
# A decoded payload larger than this is refused: no text layer is that large, and a corrupt length could ask for GBs.
MAX_PAYLOAD_BYTES = MAX_TEXT_PAYLOAD_BYTES


@dataclass(frozen=True)
class TextCoder:
    id: int
    name: str
    encode: Callable[[bytes], bytes]
    decode: Callable[[bytes], bytes]
    available: bool = True


def _deflate_encode(data: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -15, 9)
    return c.compress(data) + c.flush()


def _deflate_decode(data: bytes) -> bytes:
    d = zlib.decompressobj(-15)
    out = d.decompress(data, MAX_PAYLOAD_BYTES)
    if d.unconsumed_tail or not d.eof:
        raise BitstreamError("deflate text payload is truncated or corrupt")
    return out


def _lzma_encode(data: bytes) -> bytes:
    return lzma.compress(data, format=lzma.FORMAT_RAW, filters=_LZMA_FILTERS)


def _lzma_decode(data: bytes) -> bytes:
    d = lzma.LZMADecompressor(format=lzma.FORMAT_RAW, filters=_LZMA_FILTERS)
    out = d.decompress(data, MAX_PAYLOAD_BYTES)
    if not d.eof:
        raise BitstreamError("lzma text payload is truncated or corrupt")
    return out


try:
    import brotli as _brotli
except ImportError:  # optional: the coder is simply not a candidate
    _brotli = None


def _brotli_encode(data: bytes) -> bytes:
    return _brotli.compress(data, mode=_brotli.MODE_TEXT, quality=11)


def _brotli_decode(data: bytes) -> bytes:
    # Streamed with an output cap: a few bytes of brotli can expand to gigabytes.
    dec = _brotli.Decompressor()
    out = dec.process(data, output_buffer_limit=MAX_PAYLOAD_BYTES + 1)
    if len(out) <= MAX_PAYLOAD_BYTES and not dec.is_finished():
        raise BitstreamError("brotli text payload is truncated or corrupt")
    if len(out) > MAX_PAYLOAD_BYTES:
        raise BitstreamError("brotli text payload is larger than any text layer")
    return out


try:
    import pyppmd as _pyppmd
except ImportError:
    _pyppmd = None


def _ppmd_encode_order(data: bytes, order: int) -> bytes:
    enc = _pyppmd.Ppmd8Encoder(order, _PPMD_MEMORY, restore_method=_pyppmd.PPMD8_RESTORE_METHOD_RESTART)
    body = enc.encode(data) + enc.flush(endmark=False)
    head = bytearray([order])
    write_varint(head, len(data))
    return bytes(head) + body


def _ppmd_encode(data: bytes) -> bytes:
    """PPMd var. I; the model order is searched per payload (short texts prefer low orders)."""
    return min((_ppmd_encode_order(data, order) for order in _PPMD_ORDERS), key=len)


def _ppmd_decode(data: bytes) -> bytes:
    if not data:
        raise BitstreamError("ppmd text payload is empty (truncated)")
    order = data[0]
    if not 2 <= order <= 64:
        raise BitstreamError(f"ppmd model order {order} is invalid (corrupt text layer)")
    length, pos = read_varint(data, 1, "ppmd payload length")
    if length > MAX_PAYLOAD_BYTES:
        raise BitstreamError("ppmd payload length is larger than any text layer (corrupt)")
    dec = _pyppmd.Ppmd8Decoder(order, _PPMD_MEMORY, restore_method=_pyppmd.PPMD8_RESTORE_METHOD_RESTART)
    out = dec.decode(data[pos:], length)
    if len(out) != length:
        raise BitstreamError("ppmd text payload is truncated or corrupt")
    return out


TEXT_CODERS: dict[int, TextCoder] = {
    c.id: c
    for c in (
        TextCoder(0, "raw", lambda b: b, lambda b: b),
        TextCoder(1, "deflate", _deflate_encode, _deflate_decode),
        TextCoder(2, "lzma", _lzma_encode, _lzma_decode),
        TextCoder(3, "brotli", _brotli_encode, _brotli_decode, available=_brotli is not None),
        TextCoder(4, "ppmd", _ppmd_encode, _ppmd_decode, available=_pyppmd is not None),
    )
}


def coder_by_name(name: str) -> TextCoder:
    for coder in TEXT_CODERS.values():
        if coder.name == name:
            if not coder.available:
                raise UnsupportedBitstreamError(f"text coder {name!r} needs a package that is not installed")
            return coder
    names = ", ".join(c.name for c in TEXT_CODERS.values())
    raise UnsupportedBitstreamError(f"unknown text coder {name!r}; choose one of: {names}")


def encode_best(data: bytes, only: str | None = None) -> tuple[int, bytes]:
    """Encode with every available coder (or just `only`) and return (coder id, payload) of the smallest."""
    candidates = [coder_by_name(only)] if only else [c for c in TEXT_CODERS.values() if c.available]
    return min(((c.id, c.encode(data)) for c in candidates), key=lambda item: (len(item[1]), item[0]))


# pyppmd raises SystemError (not only ValueError) on some corrupt streams, so it is listed on purpose.
_CORRUPT_ERRORS = (zlib.error, lzma.LZMAError, ValueError, EOFError, RuntimeError, SystemError) + (
    (_brotli.error,) if _brotli is not None else ())


def decode(coder_id: int, payload: bytes) -> bytes:
    coder = TEXT_CODERS.get(coder_id)
    if coder is None:
        raise UnsupportedBitstreamError(f"text layer uses coder id {coder_id}, unknown to this PICD version")
    if not coder.available:
        raise UnsupportedBitstreamError(
            f"text layer is coded with {coder.name!r}; install its package (pip install picd) to decode it"
        )
    try:
        return coder.decode(payload)
    except _CORRUPT_ERRORS as err:  # what the C libraries raise on corrupt input; anything else is a bug
        raise BitstreamError(f"{coder.name} text payload is corrupt ({err.__class__.__name__}: {err})") from err
