"""Pixel-fidelity metrics on uint8 RGB images."""

from __future__ import annotations

import math

import numpy as np

from ..errors import InvalidInputError


def psnr(reference: np.ndarray, decoded: np.ndarray) -> float:
    """PSNR in dB over all RGB channels (infinite for identical images)."""
    if reference.shape != decoded.shape:
        raise InvalidInputError(f"images differ in shape: {reference.shape} vs {decoded.shape}")
    mse = float(np.mean((reference.astype(np.float64) - decoded.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def bits_per_pixel(num_bytes: int, width: int, height: int) -> float:
    return 8.0 * num_bytes / (width * height)
