"""Sweep the overfitted codec's fit constants on Kodak crops, scored against plain AVIF on the same crop.

Per image and quality: one fit with the given constants (module attributes of picd_core.overfit.fit, e.g.
LATENT_LEARNING_RATE=0.3), its exact decode's bpp and PSNR, and the PSNR gap to AVIF (Pillow, speed 4, 4:4:4) at the
same bpp (interpolated over log rate); the mean gap is the figure to compare settings by (docs/overfit.md).

    python bench/overfit_fit_sweep.py [--imgs kodim04,kodim23] [--crop 384 (0: whole image)] [--q 1 5] [--it 300]
                                      [--set LATENT_LEARNING_RATE=0.3 NOISE_SHARE=0.5] [--tag NAME]
                                      [--synthesis-width W] [--arm-width W]

--synthesis-width / --arm-width replace the widths codec.config_for gives each quality (the decoder's size is part of
the format, so these are architecture experiments, not fit constants).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from picd_core.data import data_dir  # noqa: E402
from picd_core.images import load_image  # noqa: E402
from picd_core.metrics import psnr  # noqa: E402
from overfit_kodak import pillow_point  # noqa: E402  (bench/ is on the path when a bench script runs)

AVIF_QUALITIES = range(4, 80, 6)


def centre_crop(image: np.ndarray, size: int) -> np.ndarray:
    if not size:
        return image
    h, w = image.shape[:2]
    return np.ascontiguousarray(image[(h - size) // 2 : (h + size) // 2, (w - size) // 2 : (w + size) // 2])


def avif_curve(image: np.ndarray) -> np.ndarray:
    """[(log bpp, PSNR)] of plain AVIF 4:4:4 over a quality sweep (overfit_kodak's settings), sorted by rate."""
    points = [pillow_point(image, "avif", quality) for quality in AVIF_QUALITIES]
    return np.array(sorted((np.log(bpp), db) for bpp, db in points))


def overfit_point(image: np.ndarray, quality: int, iterations: int, widths: dict | None = None) -> tuple[float, float]:
    """(bpp, PSNR) of one fit: latent bits under the exact-mode ARM plus the parameters' coded size. `widths`
    (synthesis_width / arm_width) replace config_for's."""
    import dataclasses

    import torch

    from picd_core.overfit import fit as fitting
    from picd_core.overfit.codec import config_for, exact_decode_image, lambda_for

    cfg = dataclasses.replace(config_for(quality, False), **(widths or {}))
    result = fitting.fit(image, lambda_for(quality), cfg, iterations, seed=0)
    pixels = exact_decode_image(result.decoder, result.latents, None)
    with torch.no_grad():
        latent_bits = float(fitting._rate_bits(result.decoder, result.latents, [None] * len(result.latents), True))
    bits = latent_bits + fitting.parameter_bits(result.parameter_ints)
    return bits / (image.shape[0] * image.shape[1]), psnr(image, pixels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--imgs", default="kodim04,kodim23")
    parser.add_argument("--crop", type=int, default=384, help="centre crop size in pixels (0: the whole image)")
    parser.add_argument("--q", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--it", type=int, default=300, help="fit iterations")
    parser.add_argument("--set", nargs="*", default=[], help="NAME=VALUE constants of picd_core.overfit.fit")
    parser.add_argument("--tag", default="")
    parser.add_argument("--synthesis-width", type=int, default=None)
    parser.add_argument("--arm-width", type=int, default=None)
    args = parser.parse_args()

    import torch

    from picd_core.overfit import fit as fitting

    for item in args.set:
        name, _, value = item.partition("=")
        if not hasattr(fitting, name) or not value:
            sys.exit(f"--set {item}: picd_core.overfit.fit has no constant {name!r} (give NAME=VALUE)")
        setattr(fitting, name, float(value))
    widths = {k: v for k, v in (("synthesis_width", args.synthesis_width), ("arm_width", args.arm_width)) if v}
    torch.set_num_threads(2)
    gaps, rows = [], []
    for name in args.imgs.split(","):
        image = centre_crop(load_image(str(data_dir() / "kodak" / f"{name}.png")), args.crop)
        avif = avif_curve(image)
        for quality in args.q:
            t0 = time.perf_counter()
            bpp, quality_db = overfit_point(image, quality, args.it, widths)
            gap = quality_db - float(np.interp(np.log(bpp), avif[:, 0], avif[:, 1]))
            gaps.append(gap)
            rows.append((name, quality, round(bpp, 4), round(quality_db, 2), round(gap, 2),
                         round(time.perf_counter() - t0, 1)))
    print(json.dumps({"tag": args.tag, "set": args.set, "widths": widths, "it": args.it, "crop": args.crop,
                      "mean_dpsnr_vs_avif": round(float(np.mean(gaps)), 3),
                      "rows [image, quality, bpp, PSNR, gap to AVIF dB, fit s]": rows}))


if __name__ == "__main__":
    main()
