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


MS_SSIM_MIN_SIDE = 161


def ms_ssim(reference: np.ndarray, decoded: np.ndarray) -> float:
    """MS-SSIM (RGB, data range 255) via pytorch-msssim; images need sides ≥ 161 px (5 scales, 11-px window)."""
    try:
        import torch
        from pytorch_msssim import ms_ssim as _ms_ssim
    except ImportError:
        raise InvalidInputError("MS-SSIM needs torch and pytorch-msssim: pip install 'picd[codec,dev]'") from None
    if reference.shape != decoded.shape:
        raise InvalidInputError(f"images differ in shape: {reference.shape} vs {decoded.shape}")
    if min(reference.shape[:2]) < MS_SSIM_MIN_SIDE:
        raise InvalidInputError(f"MS-SSIM needs images of at least {MS_SSIM_MIN_SIDE} px on each side, got "
                                f"{reference.shape[1]}x{reference.shape[0]}")
    a = torch.from_numpy(np.array(reference)).permute(2, 0, 1)[None].double()
    b = torch.from_numpy(np.array(decoded)).permute(2, 0, 1)[None].double()
    return float(_ms_ssim(a, b, data_range=255.0))
