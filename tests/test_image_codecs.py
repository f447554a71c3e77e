import numpy as np
import pytest

from picd_core.errors import BitstreamError, InvalidInputError, UnsupportedBitstreamError
from picd_core.image_codecs import available_codecs, default_codec_name, get_codec
from picd_core.metrics import psnr

AVAILABLE = [name for name, reason in available_codecs().items() if reason is None]


@pytest.fixture(scope="module")
def photo_like():
    yy, xx = np.mgrid[0:128, 0:192]  # multiples of 64: what every codec accepts unpadded
    img = np.stack([xx * 1.3, yy * 1.9, (xx + yy) * 0.8], axis=2)
    img[40:80, 60:140] = (200, 30, 60)  # an object with edges
    return img.astype(np.uint8)


@pytest.mark.parametrize("name", AVAILABLE)
def test_round_trip_and_rate_control(name, photo_like):
    codec = get_codec(name)
    lo, hi = codec.quality_range
    small = codec.encode(photo_like, lo)
    large = codec.encode(photo_like, hi)
    assert len(small) < len(large)
    decoded = codec.decode(large, 192, 128, hi)
    assert decoded.shape == (128, 192, 3) and decoded.dtype == np.uint8
    # The CPU-trained learned codec is far weaker than libwebp/libavif at their top qualities (see the manifest).
    assert psnr(photo_like, decoded) > (20 if name == "mlic" else 30)
    with pytest.raises(BitstreamError):
        codec.decode(large[: len(large) // 2], 192, 128, hi)
    with pytest.raises(BitstreamError):
        codec.decode(large, 64, 64, hi)  # size disagrees with the header


def test_mlic_refuses_unpadded_images_clearly():
    if "mlic" not in AVAILABLE:
        pytest.skip("learned codec not available")
    with pytest.raises(InvalidInputError, match="multiples of 64"):
        get_codec("mlic").encode(np.zeros((100, 100, 3), np.uint8), 1)


def test_registry_lookups():
    assert {"jpeg", "webp"} <= set(AVAILABLE)
    assert default_codec_name() in AVAILABLE
    with pytest.raises(UnsupportedBitstreamError, match="picd codecs"):
        get_codec("h266")
    with pytest.raises(InvalidInputError, match="quality"):
        get_codec("jpeg").check_quality(500)
    assert get_codec("jpeg").check_quality(None) == get_codec("jpeg").default_quality


def test_the_default_is_the_measured_best_codec_that_encodes_fast_enough():
    """picd_core/image_codecs/measured.json records BD-rates vs AVIF per mode (with the commands that measured them);
    the registry's default must be the best there among codecs whose encode time a user accepts."""
    import json
    from pathlib import Path

    import picd_core.image_codecs as ic

    record = json.loads((Path(ic.__file__).parent / "measured.json").read_text(encoding="utf-8"))
    limit = record["accepted_encode_seconds_per_megapixel"]
    for mode in ("natural", "screen"):
        entry = record[mode]
        assert entry["command"] and entry["data"]
        # None: the curves do not overlap in quality (the codec never reaches AVIF's quality range), i.e. worse
        fast = {c: float("inf") if bd is None else bd for c, bd in entry["bd_rate_psnr_percent_vs_avif"].items()
                if entry["encode_seconds_per_megapixel"][c] <= limit and c in AVAILABLE}
        assert default_codec_name() == min(fast, key=fast.get), mode


@pytest.mark.skipif("avif" not in available_codecs(), reason="this Pillow build has no AVIF")
def test_avif_without_aom_options_falls_back_to_plain_settings(monkeypatch, photo_like):
    from PIL import Image

    from picd_core.image_codecs.pillow_codecs import AvifCodec

    original = Image.Image.save

    def no_advanced(self, fp, format=None, **params):  # an AVIF encoder (rav1e, SVT) that knows no AOM options
        if params.get("advanced"):
            raise ValueError("Invalid codec-specific option")
        return original(self, fp, format, **params)

    monkeypatch.setattr(Image.Image, "save", no_advanced)
    monkeypatch.setattr(AvifCodec, "_advanced_ok", None)
    codec = AvifCodec()
    image = photo_like[:64, :64]
    data = codec.encode(image, 30)
    assert AvifCodec._advanced_ok is False
    assert psnr(image, codec.decode(data, 64, 64, 30)) > 25
