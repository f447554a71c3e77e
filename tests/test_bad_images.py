"""Issue 11: awkward input images either encode correctly or give one clear InvalidInputError; decoding and encoding
are deterministic across threads and processes."""

import functools
import hashlib
import os
import struct
import subprocess
import sys
import threading
import zlib

import numpy as np
import pytest
from PIL import Image

from picd_core import PicdFile, decode_picd, encode_image
from picd_core.errors import InvalidInputError
from picd_core.images import load_image
from picd_core.limits import InputLimitError

RNG = np.random.default_rng(5)


def _roundtrip(path):
    rgb = load_image(path)
    decoded = decode_picd(PicdFile.from_bytes(encode_image(rgb, mode="natural", codec="webp").picd.to_bytes()))
    assert decoded.image.shape == rgb.shape
    return rgb


def test_alpha_is_composited_on_white(tmp_path):
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:4, :, 3] = 255  # top half opaque red-ish, bottom half fully transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    rgb = _roundtrip(tmp_path / "a.png")
    assert (rgb[:4] == (200, 0, 0)).all() and (rgb[4:] == 255).all()
    Image.fromarray(rgba, "RGBA").convert("LA").save(tmp_path / "la.png")
    assert (_roundtrip(tmp_path / "la.png")[4:] == 255).all()
    pal = Image.fromarray(rgba, "RGBA").convert("P")
    pal.info["transparency"] = pal.getpixel((0, 7))
    pal.save(tmp_path / "p.png", transparency=pal.getpixel((0, 7)))
    assert (_roundtrip(tmp_path / "p.png")[7] == 255).all()


def test_16_bit_is_scaled_not_clipped(tmp_path):
    grey = np.array([[0, 257 * 100, 65535]], np.uint16).repeat(3, axis=0)
    Image.fromarray(grey).save(tmp_path / "g16.png")  # a 16-bit grey PNG
    assert Image.open(tmp_path / "g16.png").mode.startswith("I")
    rgb = _roundtrip(tmp_path / "g16.png")
    assert rgb[0, :, 0].tolist() == [0, 100, 255]


def test_cmyk_jpeg_and_exif_rotation(tmp_path):
    Image.new("CMYK", (16, 8), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg")
    rgb = _roundtrip(tmp_path / "cmyk.jpg")
    assert rgb.shape == (8, 16, 3) and rgb[..., 0].mean() > 200 and rgb[..., 1].mean() < 60
    im = Image.new("RGB", (20, 10), (0, 0, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise when shown
    im.save(tmp_path / "rot.jpg", exif=exif)
    assert load_image(tmp_path / "rot.jpg").shape == (20, 10, 3)


@pytest.mark.parametrize("size", [(1, 1), (7, 3)])
def test_tiny_images_encode(size):
    w, h = size
    rgb = RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)
    for codec in ("webp", "jpeg"):
        out = decode_picd(PicdFile.from_bytes(encode_image(rgb, mode="natural", codec=codec).picd.to_bytes()))
        assert out.image.shape == (h, w, 3)


def test_8000x8000_passes_the_limits_and_larger_is_refused_clearly():
    big = np.full((8000, 8000, 3), 128, np.uint8)
    assert encode_image(big, mode="natural", codec="jpeg", quality=5).picd.width == 8000
    with pytest.raises(InputLimitError, match="tiles"):
        encode_image(np.zeros((9000, 9000, 3), np.uint8), mode="natural", codec="jpeg")


def test_animated_gif_and_apng_use_the_first_frame(tmp_path):
    frames = [Image.new("RGB", (6, 4), c) for c in ((255, 0, 0), (0, 255, 0))]
    for name in ("anim.gif", "anim.png"):
        frames[0].save(tmp_path / name, save_all=True, append_images=frames[1:], duration=100, loop=0)
        rgb = _roundtrip(tmp_path / name)
        assert rgb[0, 0, 0] > 200 and rgb[0, 0, 1] < 50


def _png_claiming(width, height):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 10)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("content, message", [
    (b"", "cannot read"),
    (b"this is a text file, not a picture\n", "cannot read"),
    (None, "cannot read"),  # truncated PNG
    (_png_claiming(100_000, 100_000), "limit|sides"),
])
def test_unreadable_files_give_one_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.png"
    if content is None:
        Image.fromarray(RNG.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(path)
        content = path.read_bytes()[:300]
    path.write_bytes(content)
    with pytest.raises(InvalidInputError, match=message) as info:
        load_image(path)
    assert "\n" not in str(info.value)


@functools.lru_cache(maxsize=None)
def _coded_screen(codec):
    from picd_core.data import generate_screen

    screen = generate_screen(9, 480, 320, kind="ui")
    first = encode_image(screen.image, mode="screen", codec=codec, layout=screen.layout).picd.to_bytes()
    assert encode_image(screen.image, mode="screen", codec=codec, layout=screen.layout).picd.to_bytes() == first
    return first


def _decoded_digest(data):
    return hashlib.sha256(decode_picd(PicdFile.from_bytes(data), render="glyph").image.tobytes()).hexdigest()


def _skip_unless_available(codec):
    from picd_core.image_codecs import available_codecs

    reason = available_codecs().get(codec)
    if reason is not None:
        pytest.skip(f"{codec} cannot run here: {reason}")


@pytest.mark.parametrize("codec", ["webp", "mlic"])
def test_encoding_repeats_and_decoding_is_identical_in_4_threads(codec):
    _skip_unless_available(codec)
    first = _coded_screen(codec)
    expected = _decoded_digest(first)
    results = []

    def work():
        results.append(_decoded_digest(first))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected] * 4


# Prints the thread count the decode ran with, then the digest of the decoded pixels.
_PROCESS_DECODE = ("import sys, hashlib, torch; torch.set_num_threads(int(sys.argv[1])); "
                   "from picd_core import PicdFile, decode_picd; "
                   "image = decode_picd(PicdFile.from_bytes(sys.stdin.buffer.read()), render='glyph').image; "
                   "print(torch.get_num_threads(), hashlib.sha256(image.tobytes()).hexdigest())")


@pytest.mark.parametrize("codec", ["webp", "mlic"])
def test_decoding_is_identical_in_processes_with_1_2_and_3_threads(codec):
    # 3 threads split elementwise work at offsets that are no multiple of the SIMD width.
    _skip_unless_available(codec)
    first = _coded_screen(codec)
    expected = _decoded_digest(first)
    for threads_n in ("1", "2", "3"):
        out = subprocess.run([sys.executable, "-c", _PROCESS_DECODE, threads_n], input=first, capture_output=True,
                             timeout=300, env={**os.environ, "OMP_NUM_THREADS": threads_n})
        assert out.returncode == 0, out.stderr[-2000:]
        assert out.stdout.decode().split() == [threads_n, expected], f"decoded with {threads_n} threads"
