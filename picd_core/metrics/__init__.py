"""Metrics: text accuracy and image fidelity."""

from .text import word_accuracy
from .image import bits_per_pixel, psnr

__all__ = ["bits_per_pixel", "psnr", "word_accuracy"]
