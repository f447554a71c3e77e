"""Plain AVIF (Pillow) settings against each other: BD-rate (PSNR, pchip over Pareto points) of each variant against
AOM's default tuning, on real screenshots and Kodak. Behind the avif codec's settings (picd_core/image_codecs).

    python bench/avif_settings.py [--real 6] [--kodak 6]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from picd_core.data import data_dir  # noqa: E402
from picd_core.images import load_image  # noqa: E402
from picd_core.metrics.image import psnr  # noqa: E402
from screen_rd import bd_vs  # noqa: E402

QUALITIES = (0, 10, 25, 45, 65, 80)
BASE = {"speed": 4, "subsampling": "4:4:4"}
VARIANTS = {"default tuning": {}, "tune=ssim": {"advanced": {"tune": "ssim"}}}


def curve(image: np.ndarray, options: dict) -> tuple[list[tuple[float, float]], float]:
    h, w = image.shape[:2]
    points, seconds = [], 0.0
    for q in QUALITIES:
        buf = io.BytesIO()
        t0 = time.perf_counter()
        Image.fromarray(image).save(buf, format="AVIF", quality=q, **BASE, **options)
        seconds += time.perf_counter() - t0
        decoded = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
        points.append((buf.tell() * 8 / (w * h), psnr(image, decoded)))
    return points, seconds / len(QUALITIES) / (w * h / 1e6)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--real", type=int, default=6, help="every 5th real screenshot, this many")
    ap.add_argument("--kodak", type=int, default=6, help="kodim01.. this many")
    args = ap.parse_args()
    root = data_dir()
    groups = {"real screenshots": sorted((root / "screens_real").glob("*.png"))[1::5][: args.real],
              "Kodak": sorted((root / "kodak").glob("*.png"))[: args.kodak]}
    for group, files in groups.items():
        bds: dict[str, list[float]] = {v: [] for v in VARIANTS}
        for path in files:
            image = load_image(path)
            curves = {}
            for name, options in VARIANTS.items():
                curves[name], s_per_mp = curve(image, options)
                bd = bd_vs(curves["default tuning"], curves[name])
                if bd is not None:
                    bds[name].append(bd)
                print(f"{group[:6]} {path.stem[:28]:28s} {name:15s} lowest {curves[name][0][0]:.3f} bpp "
                      f"{curves[name][0][1]:.2f} dB, {s_per_mp:.2f} s/MP, BD vs default "
                      f"{'n/a' if bd is None else f'{bd:+.1f}%'}", flush=True)
        for name, values in bds.items():
            if values:
                print(f"{group}: {name} mean BD-rate vs default tuning {statistics.mean(values):+.1f}% "
                      f"over {len(values)} images")


if __name__ == "__main__":
    main()
