"""Where datasets live: $PICD_DATA_DIR, else a `shared/data` folder beside the checkout."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import InvalidInputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


def data_dir() -> Path | None:
    """The data root, or None if neither $PICD_DATA_DIR nor ../shared/data exists."""
    env = os.environ.get("PICD_DATA_DIR")
    if env:
        return Path(env)
    candidate = Path(__file__).resolve().parents[3] / "shared" / "data"
    return candidate if candidate.is_dir() else None


def image_files(folder: str | Path, recursive: bool = True) -> list[Path]:
    """Sorted image files under a folder (sorted so that seeded sampling is reproducible)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InvalidInputError(f"image folder not found: {folder} (set PICD_DATA_DIR or pass a folder)")
    pattern = "**/*" if recursive else "*"
    return sorted(p for p in folder.glob(pattern) if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def natural_images_dir() -> Path | None:
    """The natural training images (data root's train_natural/), or None when there is none."""
    root = data_dir()
    folder = root / "train_natural" if root is not None else None
    return folder if folder is not None and folder.is_dir() else None
