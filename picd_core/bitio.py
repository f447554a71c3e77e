"""MSB-first bit I/O, exponential-Golomb codes (EG-k) and LEB128 varints."""

from __future__ import annotations

from .errors import BitstreamError

# A code longer than this cannot come from a valid stream; stops a corrupt run of zeros early.
_MAX_EG_PREFIX = 64


def signed_to_unsigned(value: int) -> int:
    """H.264 mapping 0, 1, -1, 2, -2, ... -> 0, 1, 2, 3, 4, ..."""
    return 2 * value - 1 if value > 0 else -2 * value


def unsigned_to_signed(code: int) -> int:
    return (code + 1) // 2 if code & 1 else -(code // 2)


def exp_golomb_length(value: int, order: int) -> int:
    """Bits EG-order takes for an unsigned value (used to pick the best order without writing)."""
    v = value + (1 << order)
    return 2 * (v.bit_length() - 1) - order + 1


class BitWriter:
    def __init__(self) -> None:
        self._out = bytearray()
        self._acc = 0
        self._nbits = 0

    def write_bits(self, value: int, nbits: int) -> None:
        if nbits == 0:
            return
        if value < 0 or value >> nbits:
            raise ValueError(f"{value} does not fit in {nbits} bits")
        self._acc = (self._acc << nbits) | value
        self._nbits += nbits
        while self._nbits >= 8:
            self._nbits -= 8
            self._out.append((self._acc >> self._nbits) & 0xFF)
        self._acc &= (1 << self._nbits) - 1

    def write_eg(self, value: int, order: int) -> None:
        """Unsigned exp-Golomb of the given order."""
        if value < 0:
            raise ValueError(f"EG codes take unsigned values, got {value}")
        v = value + (1 << order)
        b = v.bit_length() - 1
        self.write_bits(0, b - order)
        self.write_bits(v, b + 1)

    def write_seg(self, value: int, order: int) -> None:
        """Signed exp-Golomb (H.264 mapping)."""
        self.write_eg(signed_to_unsigned(value), order)

    @property
    def bit_length(self) -> int:
        return len(self._out) * 8 + self._nbits

    def getvalue(self) -> bytes:
        """The bytes written so far, zero-padded to a whole byte."""
        if self._nbits:
            return bytes(self._out) + bytes([(self._acc << (8 - self._nbits)) & 0xFF])
        return bytes(self._out)


class BitReader:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0  # in bits

    def read_bits(self, nbits: int) -> int:
        end = self._pos + nbits
        if end > len(self._data) * 8:
            raise BitstreamError("bit stream ends early (truncated or corrupt text layer)")
        value = 0
        pos = self._pos
        while pos < end:
            byte = self._data[pos >> 3]
            take = min(8 - (pos & 7), end - pos)
            shift = 8 - (pos & 7) - take
            value = (value << take) | ((byte >> shift) & ((1 << take) - 1))
            pos += take
        self._pos = end
        return value

    def read_eg(self, order: int) -> int:
        zeros = 0
        while self.read_bits(1) == 0:
            zeros += 1
            if zeros > _MAX_EG_PREFIX:
                raise BitstreamError("invalid exp-Golomb code (corrupt text layer)")
        b = zeros + order
        v = (1 << b) | self.read_bits(b)
        return v - (1 << order)

    def read_seg(self, order: int) -> int:
        return unsigned_to_signed(self.read_eg(order))

    @property
    def byte_position(self) -> int:
        """Position rounded up to the next whole byte (where a byte-aligned payload would start)."""
        return (self._pos + 7) // 8


def write_varint(out: bytearray, value: int) -> None:
    """Unsigned LEB128."""
    if value < 0:
        raise ValueError(f"varint takes unsigned values, got {value}")
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return


def read_varint(data: bytes, pos: int, what: str = "varint") -> tuple[int, int]:
    """Read an unsigned LEB128 at pos; returns (value, new_pos). At most 10 bytes (64 bits)."""
    value = 0
    for i in range(10):
        if pos >= len(data):
            raise BitstreamError(f"file ends inside {what} (truncated)")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, pos
    raise BitstreamError(f"{what} is longer than 10 bytes (corrupt)")
