"""The learned codec with the weights shipped in picd_core/weights (the default image-layer codec)."""

import json

import numpy as np
import pytest

pytest.importorskip("torch")

from picd_core.image_codecs import available_codecs, default_codec_name, get_codec  # noqa: E402
from picd_core.images import load_image  # noqa: E402
from picd_core.layout import TextLayout  # noqa: E402
from picd_core.metrics import bits_per_pixel, psnr  # noqa: E402
from picd_core.mlic.checkpoint import sha256_file  # noqa: E402
from picd_core.mlic.codec import MANIFEST, WEIGHTS_DIR, read_manifest  # noqa: E402
from picd_core.pipeline import decode_picd, encode_image  # noqa: E402
from tests.test_cli import SAMPLE  # noqa: E402


def test_manifest_lists_verified_weights_within_budget():
    manifest = read_manifest()
    assert manifest["default"] in manifest["models"]
    total = 0
    for name, entry in manifest["models"].items():
        path = WEIGHTS_DIR / entry["file"]
        assert path.is_file(), name
        assert sha256_file(path) == entry["sha256"]
        assert {"recipe", "measured", "rate_levels", "lambdas"} <= set(entry) and entry["measured"]["kodak"]["points"]
        total += path.stat().st_size
    assert total <= 20 * 1024 * 1024
    assert json.loads(MANIFEST.read_text()) == manifest


def test_the_default_codec_is_the_measured_best_not_mlic():
    # README "Choosing the image codec": AVIF beats mlic (+411 % BD-rate on Kodak 01-06) and the overfitted codec.
    codecs = available_codecs()
    assert codecs["mlic"] is None
    assert default_codec_name() == ("avif" if codecs["avif"] is None else "webp")
    assert list(codecs).index("mlic") > list(codecs).index("jpeg")


def test_sample_screen_at_every_rate_level():
    image = load_image(SAMPLE)
    layout = TextLayout.from_json(SAMPLE.with_suffix(".json").read_text())
    codec = get_codec("mlic")
    lo, hi = codec.quality_range
    rates, quality = [], []
    for level in range(lo, hi + 1):
        picd = encode_image(image, mode="screen", codec="mlic", quality=level, layout=layout).picd
        decoded = decode_picd(picd).image
        rates.append(bits_per_pixel(len(picd.to_bytes()), picd.width, picd.height))
        quality.append(psnr(image, decoded))
    assert all(a < b for a, b in zip(rates, rates[1:])), rates  # every level spends more bits
    assert quality[-1] > quality[0] + 2, quality  # and buys quality with them
    assert rates[0] < 0.1 and quality[-1] > 25


def test_natural_image_round_trip_is_deterministic():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:200, 0:300]
    image = np.clip(np.stack([xx, yy, xx + yy], 2) * 0.6 + rng.normal(0, 8, (200, 300, 3)), 0, 255).astype(np.uint8)
    picd = encode_image(image, mode="natural", codec="mlic", quality=3).picd
    assert (picd.padded_width, picd.padded_height) == (320, 256)
    a, b = decode_picd(picd).image, decode_picd(picd).image
    assert a.shape == image.shape and np.array_equal(a, b)
    assert encode_image(image, mode="natural", codec="mlic", quality=3).picd.to_bytes() == picd.to_bytes()
