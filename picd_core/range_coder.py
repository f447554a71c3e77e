"""Adaptive binary range coding for the text layer's geometry and style streams.

The coder is the LZMA design (32-bit range, 11-bit probabilities, adaptation by 1/32 of the error after every
decision; here with larger steps for a context's first ten decisions), written from its published description. Every binary decision has a context — a name such as
"word_width" plus its position in the symbol's binarisation — whose probability adapts to the values seen, so a
layout's regularities (most words redrawn, the same font line after line, offsets near zero) cost a fraction of a
bit where exp-Golomb codes pay at least one. Integer-only: encoder and decoder agree bit for bit on every machine.

Binarisations: `uint` is an adaptive exp-Golomb code (unary length prefix, then the suffix bits, each bit with its
own context), `sint` a zero flag, a sign and `uint(|v| − 1)`, `tree` an n-bit value coded MSB first with the bits
above as context, `direct` equiprobable bits (colours).
"""

from __future__ import annotations

import math
from typing import Hashable

from .errors import BitstreamError

PROB_BITS = 11
_PROB_ONE = 1 << PROB_BITS
_ADAPT_SHIFT = 5
_TOP = 1 << 24
_MASK32 = 0xFFFFFFFF
# A probability adapts no closer to 1 than this, so every adaptive decision costs at least MIN_DECISION_BITS.
_PROB_MAX = _PROB_ONE - (1 << _ADAPT_SHIFT) + 1  # 2017: where steps of 1/32 stop (LZMA's bound)
MIN_DECISION_BITS = -math.log2(_PROB_MAX / _PROB_ONE)
_NEW = (_PROB_ONE // 2, 0)
_MAX_PREFIX = 40  # a uint with a longer length prefix cannot come from a valid stream
_FLUSH_BYTES = 4
_FAST_START = (1, 2, 2, 3, 3, 3, 4, 4, 4, 4)  # adaptation shifts of a context's first decisions, then _ADAPT_SHIFT


def _adapt(state: tuple[int, int], bit: int) -> tuple[int, int]:
    """A context's (probability of 0, decisions seen) after one decision. A new context learns fast (large steps for
    its first decisions, like a count), then settles to steps of 1/32: a text layer has only hundreds of symbols."""
    p, n = state
    shift = _FAST_START[n] if n < len(_FAST_START) else _ADAPT_SHIFT
    p = p - (p >> shift) if bit else p + ((_PROB_ONE - p) >> shift)
    return min(max(p, _PROB_ONE - _PROB_MAX), _PROB_MAX), min(n + 1, len(_FAST_START))


class RangeEncoder:
    """Writes decisions; `finish()` returns the bytes. `cost_bits` sums each decision's ideal cost (for reports)."""

    def __init__(self) -> None:
        self._low = 0
        self._range = _MASK32
        self._cache = 0
        self._pending = 1  # bytes held back while a carry may still change them (the first is the leading zero)
        self._out = bytearray()
        self._probs: dict[Hashable, tuple[int, int]] = {}
        self.cost_bits = 0.0

    def _shift_low(self) -> None:
        if self._low < 0xFF000000 or self._low > _MASK32:
            carry = self._low >> 32
            byte = self._cache
            while self._pending:
                self._out.append((byte + carry) & 0xFF)
                byte = 0xFF
                self._pending -= 1
            self._cache = (self._low >> 24) & 0xFF
        self._pending += 1
        self._low = (self._low & 0x00FFFFFF) << 8

    def _normalise(self) -> None:
        while self._range < _TOP:
            self._range <<= 8
            self._shift_low()

    def bit(self, ctx: Hashable, bit: int) -> None:
        state = self._probs.get(ctx, _NEW)
        p = state[0]
        bound = (self._range >> PROB_BITS) * p
        if bit:
            self._low += bound
            self._range -= bound
            self.cost_bits -= math.log2(1 - p / _PROB_ONE)
        else:
            self._range = bound
            self.cost_bits -= math.log2(p / _PROB_ONE)
        self._probs[ctx] = _adapt(state, bit)
        self._normalise()

    def direct(self, value: int, nbits: int) -> None:
        for k in range(nbits - 1, -1, -1):
            self._range >>= 1
            if (value >> k) & 1:
                self._low += self._range
            self._normalise()
        self.cost_bits += nbits

    def uint(self, ctx: Hashable, value: int) -> None:
        if value < 0:
            raise ValueError(f"uint codes take unsigned values, got {value}")
        length = (value + 1).bit_length() - 1
        for i in range(length):
            self.bit((ctx, "len", i), 1)
        self.bit((ctx, "len", length), 0)
        for k in range(length - 1, -1, -1):
            self.bit((ctx, "suffix", length, k), ((value + 1) >> k) & 1)

    def sint(self, ctx: Hashable, value: int) -> None:
        self.bit((ctx, "zero"), value == 0)
        if value:
            self.bit((ctx, "sign"), value < 0)
            self.uint(ctx, abs(value) - 1)

    def tree(self, ctx: Hashable, value: int, nbits: int) -> None:
        if value < 0 or value >> nbits:
            raise ValueError(f"{value} does not fit in {nbits} bits")
        node = 1
        for k in range(nbits - 1, -1, -1):
            b = (value >> k) & 1
            self.bit((ctx, node), b)
            node = 2 * node + b

    def finish(self) -> bytes:
        """The coded bytes: nothing when nothing was coded, else the flushed interval without its leading zero."""
        if self._range == _MASK32 and self._low == 0 and not self._out and self._pending == 1:
            return b""
        for _ in range(_FLUSH_BYTES + 1):
            self._shift_low()
        return bytes(self._out[1:])  # the leading byte is always zero


class RangeDecoder:
    """Reads what a RangeEncoder wrote, with the same contexts in the same order."""

    def __init__(self, data: bytes) -> None:
        if 0 < len(data) < _FLUSH_BYTES:
            raise BitstreamError("range-coded stream is shorter than its flush (truncated text layer)")
        self._data = data
        self._pos = min(_FLUSH_BYTES, len(data))
        self._code = int.from_bytes(data[:_FLUSH_BYTES], "big")
        # An empty stream holds no decisions: reading one is an error (the range is 0, so the first read fails).
        self._range = _MASK32 if data else 0
        self._probs: dict[Hashable, tuple[int, int]] = {}

    def _normalise(self) -> None:
        while self._range < _TOP:
            if self._pos >= len(self._data) or not self._range:
                raise BitstreamError("range-coded stream ends early (truncated or corrupt text layer)")
            self._range <<= 8
            self._code = ((self._code << 8) | self._data[self._pos]) & _MASK32
            self._pos += 1

    def bit(self, ctx: Hashable) -> int:
        state = self._probs.get(ctx, _NEW)
        p = state[0]
        bound = (self._range >> PROB_BITS) * p
        if self._code < bound:
            self._range = bound
            bit = 0
        else:
            self._code -= bound
            self._range -= bound
            bit = 1
        self._probs[ctx] = _adapt(state, bit)
        self._normalise()
        return bit

    def direct(self, nbits: int) -> int:
        value = 0
        for _ in range(nbits):
            self._range >>= 1
            b = int(self._code >= self._range)
            if b:
                self._code -= self._range
            value = (value << 1) | b
            self._normalise()
        return value

    def uint(self, ctx: Hashable) -> int:
        length = 0
        while self.bit((ctx, "len", length)):
            length += 1
            if length > _MAX_PREFIX:
                raise BitstreamError("invalid length prefix in a range-coded stream (corrupt text layer)")
        v = 1
        for k in range(length - 1, -1, -1):
            v = (v << 1) | self.bit((ctx, "suffix", length, k))
        return v - 1

    def sint(self, ctx: Hashable) -> int:
        if self.bit((ctx, "zero")):
            return 0
        negative = self.bit((ctx, "sign"))
        magnitude = self.uint(ctx) + 1
        return -magnitude if negative else magnitude

    def tree(self, ctx: Hashable, nbits: int) -> int:
        node = 1
        for _ in range(nbits):
            node = 2 * node + self.bit((ctx, node))
        return node - (1 << nbits)

    @property
    def at_end(self) -> bool:
        """Whether every byte was read: a valid stream is consumed exactly (trailing bytes mean corruption)."""
        return self._pos == len(self._data)
