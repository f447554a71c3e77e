"""Issue 11: limits before allocation, native decoders fed validated input only, corrupt vs environment, fuzzing."""

import subprocess
import sys
import warnings

import numpy as np
import pytest

from picd_core import limits
from picd_core.container import PicdFile
from picd_core.errors import BitstreamError, InvalidInputError, PicdError
from picd_core.image_codecs import available_codecs
from picd_core.layout import TextLayout, Word
from picd_core.pipeline import decode_picd, encode_image
from picd_core.testing.fuzz import build_corpus, fuzz, join_sections, split_sections
from picd_core.text_layer import decode_text_layer, encode_text_layer

needs_mlic = pytest.mark.skipif(available_codecs().get("mlic") is not None, reason="the mlic codec cannot run here")
RNG = np.random.default_rng(3)
PHOTO = RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8)


def _with_header(picd: PicdFile, width: int, height: int, pad_w: int = 0, pad_h: int = 0) -> bytes:
    return PicdFile(**{**picd.__dict__, "width": width, "height": height, "padded_width": width + pad_w,
                       "padded_height": height + pad_h}).to_bytes()


@needs_mlic
def test_huge_natural_mlic_header_is_refused_not_a_segfault():
    """The fuzzer's SIGSEGV: a 64x64 mlic file whose header claims 65472x8192 (run in a child: a crash must show)."""
    code = (
        "import numpy as np; from picd_core import encode_image, decode_picd, PicdFile\n"
        "from picd_core.errors import BitstreamError\n"
        "p = encode_image(np.full((64, 64, 3), 90, np.uint8), mode='natural', codec='mlic', quality=1).picd\n"
        "for w, h in ((65472, 8192), (2048, 2048), (8192, 8192), (128, 128)):\n"
        "    big = PicdFile(**{**p.__dict__, 'width': w, 'height': h, 'padded_width': w, 'padded_height': h})\n"
        "    try:\n"
        "        decode_picd(PicdFile.from_bytes(big.to_bytes()))\n"
        "    except BitstreamError as exc:\n"
        "        print(type(exc).__name__, exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert len(lines) == 4
    assert "FileLimitError" in lines[0] and "16384" in lines[0]
    assert "too short" in lines[1] and "too short" in lines[2]


def test_rans_padding_keeps_the_stream_and_covers_the_symbols():
    padded = limits.rans_padded(b"\x01\x02", 1000)
    assert padded[:2] == b"\x01\x02" and not any(padded[2:]) and len(padded) >= 8 * 1000


def test_image_size_limits_name_the_limit():
    with pytest.raises(limits.FileLimitError, match="16384") as info:
        limits.check_image_size(65472, 8192)
    assert info.value.limit == "MAX_SIDE" and isinstance(info.value, BitstreamError)
    with pytest.raises(limits.InputLimitError, match="tiles") as info:
        limits.check_image_size(9000, 9000, encoding=True)
    assert info.value.limit == "MAX_PIXELS" and isinstance(info.value, InvalidInputError)
    limits.check_image_size(8000, 8000, encoding=True)
    limits.check_image_size(16384, 4096)


def test_header_claims_are_checked_before_decoding():
    picd = encode_image(PHOTO, mode="natural", codec="webp").picd
    with pytest.raises(limits.FileLimitError, match="MAX|limit"):
        decode_picd(PicdFile.from_bytes(_with_header(picd, 65536, 65536)))
    with pytest.raises(BitstreamError, match="rounded up"):
        decode_picd(PicdFile.from_bytes(_with_header(picd, 64, 64, pad_w=1)))
    with pytest.raises(BitstreamError, match="header says"):  # Pillow's header read, before libwebp decodes
        decode_picd(PicdFile.from_bytes(_with_header(picd, 4000, 3000)))


def test_text_layer_limits_before_any_word_is_built():
    long_word = TextLayout.from_lines([[Word("W" * 5000, 0, 0, 10, 10)]])
    with pytest.raises(limits.FileLimitError, match="5000 characters"):
        decode_text_layer(encode_text_layer(long_word))
    million = TextLayout.from_lines([[Word("a" * 1_000_001, 0, 0, 10, 10)]])
    with pytest.raises(limits.FileLimitError):
        decode_text_layer(encode_text_layer(million))
    many = TextLayout.from_lines([[Word("a", i % 50, 0, 1, 1) for i in range(limits.MAX_WORDS + 1)]])
    with pytest.raises(limits.FileLimitError, match="words"):
        decode_text_layer(encode_text_layer(many))
    # A string payload claiming many words with next to no geometry: refused from its separators, before splitting.
    data = bytearray(encode_text_layer(TextLayout.from_lines([[Word(" ".join(["ab"] * 2000), 0, 0, 10, 10)]])))
    with pytest.raises(BitstreamError):
        decode_text_layer(bytes(data))
    with pytest.raises(limits.InputLimitError, match="characters"):
        encode_image(PHOTO, mode="screen", codec="webp", layout=long_word)


def test_glyph_work_is_bounded_by_the_text_layer_size():
    words = [Word(f"w{i:04d}" * 8, 0, 0, 60, 60) for i in range(300)]  # 12,000 characters from a small layer
    layout = TextLayout.from_lines([words])
    with pytest.raises(limits.FileLimitError, match="characters"):
        limits.check_glyph_work(layout.words, 64, 64, coded_bytes=300)
    with pytest.raises(limits.FileLimitError, match="cover"):
        limits.check_glyph_work([Word("a", 0, 0, 64, 64)] * 5000, 64, 64)


def test_corrupt_text_layer_is_a_bitstream_error_not_font_drift():
    from picd_core.data import generate_screen

    screen = generate_screen(7, 480, 320, kind="ui")
    result = encode_image(screen.image, mode="screen", codec="webp", layout=screen.layout)
    prefix, sections = split_sections(result.picd.to_bytes())
    tag, text = sections[1]
    other = encode_text_layer(TextLayout.from_lines([[Word("changed", *screen.layout.words[0].box)]]))
    corrupt = join_sections(prefix, [(t, other if t == tag else p) for t, p in sections])  # CRCs recomputed
    with pytest.raises(BitstreamError, match="corrupt") as info:
        decode_picd(PicdFile.from_bytes(corrupt))
    assert "renders" not in str(info.value)


def test_cli_reports_limits_in_one_line(tmp_path):
    picd = encode_image(PHOTO, mode="natural", codec="webp").picd
    path = tmp_path / "huge.picd"
    path.write_bytes(_with_header(picd, 65536, 65536))
    out = subprocess.run([sys.executable, "-m", "picd_core.cli", "decode", str(path), "-o", str(tmp_path / "o.png")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1 and "limit" in out.stderr


def test_fuzz_smoke_is_seeded_and_time_bounded():
    """A few hundred mutated files behind recomputed CRCs; none may crash, hang, blow memory or escape untyped."""
    corpus = build_corpus()
    report = fuzz(corpus, seed=11, cases=300, time_budget=150, time_limit=10, memory_limit=4 << 30)
    assert report.cases >= 20, report.summary()  # ~300 on an idle machine; a shared one runs fewer
    assert report.bad == 0, (report.summary(), [f[:3] for f in report.failures])


@pytest.mark.slow
def test_fuzz_long_run():
    """The long run (issue 11's figures): PICD_FUZZ_CASES cases, default 10,000."""
    import os

    cases = int(os.environ.get("PICD_FUZZ_CASES", "10000"))
    report = fuzz(build_corpus(), seed=int(os.environ.get("PICD_FUZZ_SEED", "2026")), cases=cases)
    print(report.summary())
    assert report.bad == 0, (report.summary(), [f[:3] for f in report.failures])
