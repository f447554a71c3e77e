"""Image conversion and I/O. Internally an image is a uint8 array [H, W, 3] (RGB)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InvalidInputError
from .limits import check_image_size

def to_rgb_array(image: np.ndarray | Image.Image) -> np.ndarray:
    """Accept a PIL image, a uint8 array [H,W,3|4|1] / [H,W], or a float array in [0,1]; return uint8 [H,W,3]."""
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()
    if not isinstance(image, np.ndarray):
        raise InvalidInputError(f"expected an image (PIL.Image or numpy array), got {type(image).__name__}")
    arr = image
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise InvalidInputError(f"expected an image array [H, W, 3], got shape {tuple(image.shape)}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise InvalidInputError(f"image is empty: shape {tuple(image.shape)}")
    if arr.dtype != np.uint8:
        if not np.issubdtype(arr.dtype, np.floating):
            raise InvalidInputError(f"image arrays must be uint8 or float in [0, 1], got {arr.dtype}")
        if not np.all(np.isfinite(arr)):
            raise InvalidInputError("image contains NaN or infinite values")
        arr = np.clip(np.rint(arr * 255.0), 0, 255).astype(np.uint8)
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif arr.shape[2] == 4:
        arr = arr[:, :, :3]
    return np.ascontiguousarray(arr)


def load_image(path: str | Path) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"image file not found: {path}")
    try:
        with Image.open(path) as opened:
            # The header's size, before decoding: a 100-byte PNG may claim 10^5 x 10^5 pixels.
            check_image_size(*opened.size, encoding=True)
            opened.load()  # animated GIF/APNG/WebP: the first frame
            im = ImageOps.exif_transpose(opened)  # camera JPEGs store the rotation in EXIF
            if im.mode in ("I", "I;16", "I;16B", "I;16L"):  # 16-bit grey: scale to 8 bits, not clip
                wide = np.asarray(im).astype(np.int64).clip(0, 65535)
                return to_rgb_array(((wide + 128) // 257).astype(np.uint8))
            if im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
                # Composite transparency on white (screenshots with alpha are UI on light backgrounds).
                rgba = im.convert("RGBA")
                bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                return to_rgb_array(Image.alpha_composite(bg, rgba))
            return to_rgb_array(im)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, SyntaxError, ValueError) as exc:
        if isinstance(exc, InvalidInputError):
            raise
        raise InvalidInputError(f"cannot read {path} as an image ({exc}); give a PNG, JPEG or WebP file") from None


def save_image(image: np.ndarray, path: str | Path) -> None:
    """Save losslessly when the suffix allows (PNG recommended)."""
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise InvalidInputError(f"output folder does not exist: {path.parent}")
    try:
        Image.fromarray(to_rgb_array(image)).save(path)
    except (ValueError, KeyError) as exc:
        raise InvalidInputError(f"cannot save {path}: {exc}; use a .png suffix") from None
