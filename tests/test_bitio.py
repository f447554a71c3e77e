import pytest
from hypothesis import given, strategies as st

from picd_core.bitio import (BitReader, BitWriter, exp_golomb_length, read_varint, signed_to_unsigned,
                             unsigned_to_signed, write_varint)
from picd_core.errors import BitstreamError


def test_exp_golomb_known_codes():
    # EG0: 0 -> 1, 1 -> 010, 2 -> 011, 3 -> 00100
    w = BitWriter()
    for v in (0, 1, 2, 3):
        w.write_eg(v, 0)
    assert w.bit_length == 1 + 3 + 3 + 5
    assert w.getvalue() == bytes([0b10100110, 0b01000000])
    assert [signed_to_unsigned(s) for s in (0, 1, -1, 2, -2)] == [0, 1, 2, 3, 4]


@given(st.lists(st.tuples(st.integers(-(1 << 40), 1 << 40), st.integers(0, 7)), max_size=200))
def test_signed_exp_golomb_round_trip(pairs):
    w = BitWriter()
    for value, order in pairs:
        w.write_seg(value, order)
    expected_bits = sum(exp_golomb_length(signed_to_unsigned(v), k) for v, k in pairs)
    assert w.bit_length == expected_bits
    r = BitReader(w.getvalue())
    assert [r.read_seg(k) for _, k in pairs] == [v for v, _ in pairs]


@given(st.integers(0, (1 << 64) - 1))
def test_varint_round_trip(value):
    out = bytearray()
    write_varint(out, value)
    assert read_varint(bytes(out), 0) == (value, len(out))
    assert unsigned_to_signed(signed_to_unsigned(value)) == value


def test_reader_errors_are_typed():
    with pytest.raises(BitstreamError):
        BitReader(b"\x00" * 20).read_eg(0)  # an endless zero prefix
    with pytest.raises(BitstreamError):
        BitReader(b"").read_bits(1)
    with pytest.raises(BitstreamError):
        read_varint(b"\x80\x80", 0)
