import dataclasses
import warnings

import numpy as np
import pytest

from picd_core.container import PicdFile
from picd_core.data import data_dir
from picd_core.errors import BitstreamError, InvalidInputError, PicdError
from picd_core.images import load_image
from picd_core.layout import TextLayout, Word
from picd_core.metrics import psnr
from picd_core.pipeline import decode_picd, encode_image
from tests.conftest import needs_tesseract


def test_screen_round_trip_with_given_layout(screen):
    result = encode_image(screen.image, mode="screen", codec="webp", quality=30, layout=screen.layout)
    picd = PicdFile.from_bytes(result.picd.to_bytes())
    decoded = decode_picd(picd, render="none")
    assert decoded.layout.unstyled() == screen.layout  # the text layer is lossless (texts and boxes)
    assert decoded.image.shape == screen.image.shape
    glyph_render = decode_picd(picd, render="glyph")
    assert psnr(screen.image, glyph_render.image) > 20  # the image layer alone lacks the redrawn words
    assert (glyph_render.image_layer == decoded.image).all()
    assert not (glyph_render.image == decoded.image).all()


def test_natural_mode_has_no_text_layer(screen):
    result = encode_image(screen.image, mode="natural", codec="jpeg", quality=50)
    assert result.picd.text_layer is None and result.glyph is None
    decoded = decode_picd(PicdFile.from_bytes(result.picd.to_bytes()), render="glyph")
    assert len(decoded.layout) == 0 and decoded.image.shape == screen.image.shape


def test_auto_mode_uses_a_given_layout(screen):
    assert all(w.confidence is None for w in screen.layout.words)  # ground truth carries no OCR confidences
    result = encode_image(screen.image, mode="auto", codec="webp", layout=screen.layout)
    assert result.picd.mode == "screen" and "ocr" not in result.timings
    assert decode_picd(result.picd).layout.unstyled() == screen.layout
    assert encode_image(screen.image, mode="auto", codec="webp", layout=TextLayout()).picd.mode == "natural"


@needs_tesseract
def test_auto_mode_picks_screen_for_screens(screen):
    assert encode_image(screen.image, mode="auto", codec="webp").picd.mode == "screen"


@needs_tesseract
def test_auto_mode_picks_natural_for_photos():
    root = data_dir()
    if root is None or not (root / "kodak").is_dir():
        pytest.skip("Kodak images are not available (set PICD_DATA_DIR)")
    for name in ("kodim01.png", "kodim23.png"):
        assert encode_image(load_image(root / "kodak" / name), mode="auto", codec="webp").picd.mode == "natural"


def test_glyph_drift_is_detected(screen, monkeypatch):
    from picd_core import renderer_check

    result = encode_image(screen.image, mode="screen", codec="webp", layout=screen.layout)
    drifted = PicdFile(**{**result.picd.__dict__, "glyph_crc": result.picd.glyph_crc ^ 1})
    # This machine renders the reference exactly, so a mismatch is the file's fault.
    assert renderer_check.renderer_matches_reference()
    with pytest.raises(BitstreamError, match="corrupt"):
        decode_picd(drifted)
    # A machine whose renderer fails the reference check is told so instead.
    monkeypatch.setattr(renderer_check, "renderer_matches_reference", lambda: False)
    with pytest.warns(RuntimeWarning, match="different glyph"):
        decode_picd(drifted)  # Pillow codecs do not condition on the glyph: a warning, not an error


def test_bad_inputs(screen):
    with pytest.raises(InvalidInputError, match="mode"):
        encode_image(screen.image, mode="poster")
    assert encode_image(np.zeros((4, 4)), mode="natural").picd.width == 4  # a 2-D array is a grey image
    with pytest.raises(InvalidInputError, match="expected an image"):
        encode_image("not an image", mode="natural")
    with pytest.raises(InvalidInputError, match="NaN"):
        encode_image(np.full((4, 4, 3), np.nan), mode="natural")
    outside = TextLayout.from_lines([[Word("far", 5000, 5000, 10, 10)]])
    with pytest.raises(InvalidInputError, match="outside"):
        encode_image(screen.image, mode="screen", layout=outside)
    with pytest.raises(InvalidInputError, match="render"):
        decode_picd(encode_image(screen.image, mode="natural").picd, render="oil-paint")


def _flip_inside(picd: PicdFile, layer: str, rng) -> PicdFile:
    """One bit flipped inside a layer's payload, re-serialised: the container CRCs are recomputed, so the file
    passes the container and the corruption reaches the layer's own decoder."""
    payload = bytearray(getattr(picd, layer))
    payload[int(rng.integers(len(payload)))] ^= 1 << int(rng.integers(8))
    return PicdFile.from_bytes(dataclasses.replace(picd, **{layer: bytes(payload)}).to_bytes())


@pytest.mark.parametrize("codec, flips", [("webp", 60), ("mlic", 15)])
def test_corruption_inside_a_layer_reaches_its_decoder_and_is_typed(screen, codec, flips):
    if codec == "mlic":
        pytest.importorskip("torch")
    crop = screen.image[:128, :192].copy()
    layout = TextLayout.from_lines([[w for w in screen.layout.words if w.x + w.w <= 192 and w.y + w.h <= 128]])
    assert len(layout)
    picd = encode_image(crop, mode="screen", codec=codec, layout=layout).picd
    rng = np.random.default_rng(0)
    refused = {"text_layer": 0, "image_layer": 0}
    for layer in refused:
        for _ in range(flips):
            corrupt = _flip_inside(picd, layer, rng)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # a Pillow codec only warns about a changed glyph
                    assert decode_picd(corrupt).image.shape == crop.shape
            except PicdError:  # BitstreamError from the layer decoder, or GlyphMismatchError for glyph codecs
                refused[layer] += 1
    # Measured (seed 0): webp refuses 15/40 text and 7/40 image flips, the rest decode to some image; mlic's
    # symbol checksum refuses every image-layer flip, and its glyph check most text-layer flips.
    assert refused["text_layer"] > 0 and refused["image_layer"] > 0, refused
    if codec == "mlic":
        assert refused["image_layer"] == flips, refused


def test_corrupt_files_never_escape_as_untyped_errors(screen):
    data = encode_image(screen.image, mode="screen", codec="webp", layout=screen.layout).picd.to_bytes()
    rng = np.random.default_rng(0)
    for _ in range(200):
        corrupt = bytearray(data)
        corrupt[int(rng.integers(len(corrupt)))] ^= 1 << int(rng.integers(8))
        with pytest.raises(BitstreamError):  # the container CRC catches every flip of the file's bytes
            PicdFile.from_bytes(bytes(corrupt))
    with pytest.raises(BitstreamError):
        decode_picd(PicdFile.from_bytes(data[:-3]))
