"""Figure: 1:1 crops of real screenshots — original, plain AVIF, PICD — at the same (or fewer) bytes for PICD.

For each screen, PICD is coded to `--bpp` with rate control (picd_core.pipeline.encode_to_size); plain AVIF (Pillow,
the settings of PICD's own AVIF layer: 4:4:4, speed 4, tune=ssim) gets the largest quality whose file is no larger than PICD's file, or its smallest
file when even that is larger (then the caption says so). Writes a PNG and prints the numbers in the captions.

    python bench/screen_crops.py -o docs/figures/screen_crops.png [--bpp 0.1]
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from picd_core.data import data_dir  # noqa: E402
from picd_core.image_codecs.pillow_codecs import AvifCodec  # noqa: E402
from picd_core.images import load_image  # noqa: E402
from picd_core.metrics.image import psnr  # noqa: E402
from picd_core.ocr import extract_layout  # noqa: E402
from picd_core.pipeline import decode_picd, encode_to_size  # noqa: E402

# (file stem, crop box x, y, w, h): text-heavy regions of three kinds of screen
CROPS = (
    ("16_copyq-settings-tags", 0, 0, 420, 150),
    ("05_wezterm-vim-rust", 120, 140, 420, 150),
    ("04_wezterm-command-palette", 200, 120, 420, 150),
)


def plain_avif_at_most(image: np.ndarray, max_bytes: int) -> tuple[int, int, np.ndarray]:
    best = None
    for q in range(0, 101, 2):
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, format="AVIF", quality=q, **AvifCodec.save_options)
        if best is None or buf.tell() <= max_bytes:
            best = (q, buf.tell(), np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")))
        if buf.tell() > max_bytes:
            break
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--bpp", type=float, default=0.1)
    args = ap.parse_args()
    root = data_dir() / "screens_real"
    rows = []
    for stem, x, y, w, h in CROPS:
        image = load_image(root / f"{stem}.png")
        H, W = image.shape[:2]
        layout = extract_layout(image)
        result = encode_to_size(image, int(args.bpp * W * H / 8), mode="screen", codec="avif", layout=layout)
        n = len(result.picd.to_bytes())
        ours = decode_picd(result.picd).image
        q, m, plain = plain_avif_at_most(image, n)
        captions = [f"original {W}x{H}",
                    f"plain AVIF q{q}: {m * 8 / (W * H):.3f} bpp, {psnr(image, plain):.1f} dB"
                    + (" (its smallest file)" if m > n else ""),
                    f"PICD: {n * 8 / (W * H):.3f} bpp, {psnr(image, ours):.1f} dB, {len(result.layout.redrawn)} words "
                    f"redrawn, image layer 1/{result.picd.image_scale}"]
        print(f"{stem}: " + " | ".join(captions))
        tiles = [a[y : y + h, x : x + w] for a in (image, plain, ours)]
        rows.append((tiles, captions))
    pad, cap = 6, 16
    tw = max(t.shape[1] for tiles, _ in rows for t in tiles)
    th = max(t.shape[0] for tiles, _ in rows for t in tiles)
    sheet = Image.new("RGB", (3 * (tw + pad) + pad, len(rows) * (th + cap + pad) + pad), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for r, (tiles, captions) in enumerate(rows):
        for c, (tile, caption) in enumerate(zip(tiles, captions)):
            ox, oy = pad + c * (tw + pad), pad + r * (th + cap + pad)
            draw.text((ox, oy), caption, fill=(0, 0, 0))
            sheet.paste(Image.fromarray(tile), (ox, oy + cap))
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.output)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
