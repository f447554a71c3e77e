import random

import pytest

from picd_core.container import MAGIC, PicdFile
from picd_core.errors import BitstreamError, InvalidInputError, UnsupportedBitstreamError
from picd_core.layout import TextLayout, Word
from picd_core.text_layer import encode_text_layer


def _sample(**overrides) -> PicdFile:
    fields = dict(
        mode="screen", width=123, height=45, padded_width=128, padded_height=64, image_codec="webp",
        image_quality=7, image_layer=bytes(range(200)),
        text_layer=encode_text_layer(TextLayout.from_lines([[Word("hi", 1, 2, 10, 8)]])), glyph_crc=0xDEADBEEF,
    )
    fields.update(overrides)
    return PicdFile(**fields)


def test_round_trip_and_sizes():
    picd = _sample()
    data = picd.to_bytes()
    assert data.startswith(MAGIC)
    assert PicdFile.from_bytes(data) == picd
    sizes = picd.layer_sizes()
    assert sizes["total"] == len(data) == sizes["text"] + sizes["image"] + sizes["container"]
    assert sizes["container"] < 60
    natural = _sample(mode="natural", text_layer=None, glyph_crc=None)
    assert PicdFile.from_bytes(natural.to_bytes()) == natural


def test_truncation_at_every_byte_is_a_typed_error():
    data = _sample().to_bytes()
    for cut in range(len(data)):
        with pytest.raises(BitstreamError):
            PicdFile.from_bytes(data[:cut])


def test_random_bit_flips_are_detected():
    data = _sample().to_bytes()
    rng = random.Random(0)
    for _ in range(3000):
        corrupt = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            corrupt[rng.randrange(len(corrupt))] ^= 1 << rng.randrange(8)
        if bytes(corrupt) == data:
            continue
        with pytest.raises(BitstreamError):
            PicdFile.from_bytes(bytes(corrupt))


def test_appended_garbage_and_other_files_are_rejected():
    data = _sample().to_bytes()
    with pytest.raises(BitstreamError, match="unexpected bytes"):
        PicdFile.from_bytes(data + b"\x00")
    with pytest.raises(BitstreamError, match="not a .picd"):
        PicdFile.from_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))


def test_newer_version_and_unknown_critical_section_are_unsupported():
    data = bytearray(_sample().to_bytes())
    data[4] = 99
    with pytest.raises(UnsupportedBitstreamError, match="upgrade"):
        PicdFile.from_bytes(bytes(data))


def test_unknown_ancillary_section_is_skipped():
    import struct
    import zlib

    data = bytearray(_sample().to_bytes())
    data[5] += 1  # one more section
    extra = bytes([0xF0, 3]) + b"abc"
    data += extra + struct.pack("<I", zlib.crc32(extra))
    assert PicdFile.from_bytes(bytes(data)) == _sample()
    critical = bytes([0x70, 3]) + b"abc"
    data = bytearray(_sample().to_bytes())
    data[5] += 1
    data += critical + struct.pack("<I", zlib.crc32(critical))
    with pytest.raises(UnsupportedBitstreamError):
        PicdFile.from_bytes(bytes(data))


def test_invalid_headers_are_refused_when_writing():
    with pytest.raises(InvalidInputError):
        _sample(mode="poster")
    with pytest.raises(InvalidInputError):
        _sample(padded_width=100)
    with pytest.raises(InvalidInputError):
        _sample(mode="natural")  # natural files carry no text layer


def test_save_is_atomic_and_load_checks(tmp_path):
    path = tmp_path / "a.picd"
    _sample().save(path)
    assert PicdFile.load(path) == _sample()
    assert not list(tmp_path.glob("*.partial"))
    with pytest.raises(InvalidInputError, match="not found"):
        PicdFile.load(tmp_path / "missing.picd")
    with pytest.raises(InvalidInputError, match="folder does not exist"):
        _sample().save(tmp_path / "nope" / "a.picd")
