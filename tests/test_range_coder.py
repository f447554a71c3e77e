"""The text layer's adaptive binary range coder: exact round trips, exact consumption, errors on truncation."""

import hashlib
import random

import pytest

from picd_core.errors import BitstreamError
from picd_core.range_coder import MIN_DECISION_BITS, RangeDecoder, RangeEncoder


def _random_ops(rng: random.Random, n: int) -> list[tuple]:
    ops = []
    for _ in range(n):
        kind = rng.randrange(5)
        if kind == 0:
            ops.append(("bit", rng.choice("ab"), int(rng.random() < 0.9)))
        elif kind == 1:
            ops.append(("direct", rng.getrandbits(24), 24))
        elif kind == 2:
            ops.append(("uint", "u", int(rng.expovariate(0.05))))
        elif kind == 3:
            ops.append(("sint", ("s", rng.randrange(2)), int(rng.gauss(0, 4))))
        else:
            ops.append(("tree", "t", rng.randrange(32), 5))
    return ops


def _encode(ops: list[tuple]) -> tuple[bytes, float]:
    enc = RangeEncoder()
    for op in ops:
        if op[0] == "direct":
            enc.direct(op[1], op[2])
        elif op[0] == "tree":
            enc.tree(op[1], op[2], op[3])
        else:
            getattr(enc, op[0])(op[1], op[2])
    return enc.finish(), enc.cost_bits


def _decode(data: bytes, ops: list[tuple]) -> tuple[list, RangeDecoder]:
    dec = RangeDecoder(data)
    out = []
    for op in ops:
        if op[0] == "direct":
            out.append(dec.direct(op[2]))
        elif op[0] == "tree":
            out.append(dec.tree(op[1], op[3]))
        else:
            out.append(getattr(dec, op[0])(op[1]))
    return out, dec


def test_random_streams_round_trip_and_are_read_to_the_last_byte():
    rng = random.Random(7)
    for _ in range(200):
        ops = _random_ops(rng, rng.randrange(0, 300))
        data, cost = _encode(ops)
        values, dec = _decode(data, ops)
        assert values == [op[2] if op[0] != "direct" else op[1] for op in ops]
        assert dec.at_end
        # the coded size is the ideal cost plus at most the flush and rounding
        assert cost - 8 <= 8 * len(data) <= cost + 8 * 6


def test_a_truncated_stream_is_a_bitstream_error():
    rng = random.Random(3)
    ops = _random_ops(rng, 200)
    data, _ = _encode(ops)
    for cut in range(1, len(data)):
        with pytest.raises(BitstreamError):
            _decode(data[:cut], ops)


def test_an_empty_stream_holds_nothing_and_reading_it_fails():
    assert RangeEncoder().finish() == b""
    dec = RangeDecoder(b"")
    assert dec.at_end
    with pytest.raises(BitstreamError):
        dec.bit("x")


def test_a_certain_decision_still_costs_its_minimum():
    """The layout limits count on it: a stream cannot claim more decisions than its bytes can hold."""
    enc = RangeEncoder()
    for _ in range(50000):
        enc.bit("always", 0)
    assert 8 * len(enc.finish()) >= 50000 * MIN_DECISION_BITS
    assert MIN_DECISION_BITS > 0.02


def test_coded_bytes_are_pinned():
    """The coder is bitstream format: any change to its arithmetic or adaptation changes every new file."""
    data, _ = _encode(_random_ops(random.Random(11), 400))
    assert hashlib.sha256(data).hexdigest() == "fb741e5a1a77af32c103ea3e6f1a70a6e792e4fbf0e6d444de0dd26255a20c4a"
