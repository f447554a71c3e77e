"""Data: the synthetic screen generator (exact ground-truth text) and dataset locations."""

from .paths import data_dir, image_files, natural_images_dir
from .screens import SCREEN_KINDS, GeneratedScreen, generate_screen

__all__ = ["SCREEN_KINDS", "GeneratedScreen", "data_dir", "generate_screen", "image_files", "natural_images_dir"]
