"""Classical image-layer codecs from Pillow: JPEG, WebP and AVIF (where this Pillow build has them)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, features

from ..errors import BitstreamError
from ..limits import check_image_size, check_pillow_payload
from .base import ImageCodec, register_codec


class PillowCodec(ImageCodec):
    pil_format = ""
    save_options: dict = {}

    def encode(self, image: np.ndarray, quality: int, glyph: np.ndarray | None = None) -> bytes:
        return self._save(image, quality, self.save_options)

    def _save(self, image: np.ndarray, quality: int, options: dict) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, format=self.pil_format, quality=quality, **options)
        return buf.getvalue()

    def decode(self, data: bytes, width: int, height: int, quality: int, glyph: np.ndarray | None = None) -> np.ndarray:
        check_image_size(width, height, what=f"{self.name} image layer")
        try:
            with Image.open(io.BytesIO(data), formats=[self.pil_format]) as im:
                # Format, size and frames are read from the headers; libjpeg/libwebp/libavif decode only after.
                check_pillow_payload(im, self.name, self.pil_format, width, height)
                im.load()
                arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
        except BitstreamError:
            raise
        except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError... on corrupt data
            raise BitstreamError(f"{self.name} image layer is corrupt ({exc.__class__.__name__}: {exc})") from None
        if arr.shape[:2] != (height, width):
            raise BitstreamError(f"{self.name} image layer is {arr.shape[1]}x{arr.shape[0]}, header says {width}x{height}")
        return arr


class JpegCodec(PillowCodec):
    name = "jpeg"
    description = "JPEG (libjpeg via Pillow), 4:2:0, optimised Huffman tables"
    pil_format = "JPEG"
    quality_range = (1, 95)
    default_quality = 10
    save_options = {"optimize": True, "subsampling": 2}


class WebpCodec(PillowCodec):
    name = "webp"
    description = "WebP lossy (libwebp via Pillow), slowest/best method"
    pil_format = "WEBP"
    quality_range = (0, 100)
    default_quality = 10
    save_options = {"method": 6}


class AvifCodec(PillowCodec):
    name = "avif"
    # 4:4:4 measured better than 4:2:0 on real screenshots at every rate (coloured text and UI edges), speed 4 better
    # than 6 (bench/screen_rd.py, docs/screens.md); AOM's tune=ssim saves 10.4 % (BD-rate, PSNR) on kodim01-06 and
    # 3.6 % on six real screenshots and reaches lower rates. The payload is self-describing: older files still decode.
    description = "AVIF (libavif/AOM via Pillow), speed 4, 4:4:4, tune ssim"
    pil_format = "AVIF"
    quality_range = (0, 100)
    default_quality = 20
    save_options = {"speed": 4, "subsampling": "4:4:4", "advanced": {"tune": "ssim"}}
    _advanced_ok: bool | None = None  # None: not tried yet in this process

    def encode(self, image: np.ndarray, quality: int, glyph: np.ndarray | None = None) -> bytes:
        if AvifCodec._advanced_ok is not False:
            try:
                data = self._save(image, quality, self.save_options)
                AvifCodec._advanced_ok = True
                return data
            except (ValueError, OSError):
                if AvifCodec._advanced_ok:  # the option worked before: this is another failure
                    raise
                AvifCodec._advanced_ok = False  # an AVIF encoder without AOM's options (rav1e, SVT): plain settings
        return self._save(image, quality, {k: v for k, v in self.save_options.items() if k != "advanced"})


def _needs(feature: str, what: str):
    def reason() -> str | None:
        return None if features.check(feature) else f"this Pillow build has no {what} support (pip install -U pillow)"

    return reason


# Priorities = the default order, by measurement (README "Choosing the image codec"; bench/codec_rd.py,
# bench/overfit_kodak.py, bench/screen_rd.py): AVIF 4:4:4 has the best rate–distortion on Kodak and on real
# screenshots among the codecs that encode in well under a second; WebP where Pillow lacks AVIF.
register_codec("avif", AvifCodec, _needs("avif", "AVIF"), priority=10)
register_codec("webp", WebpCodec, _needs("webp", "WebP"), priority=20)
register_codec("jpeg", JpegCodec, _needs("jpg", "JPEG"), priority=30)
