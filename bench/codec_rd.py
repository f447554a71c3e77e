"""Rate–distortion of the image-layer codecs on Kodak (natural mode: no text layer, blank glyph).

Rates are total .picd bytes (container included) over pixels. Prints bpp / PSNR / MS-SSIM per rate for the learned
codec and for JPEG, WebP and AVIF over quality sweeps, then BD-rate (PSNR) of each against the anchor (AVIF).

    python bench/codec_rd.py [--data DIR] [--limit N] [--codecs mlic,jpeg,webp,avif] [--anchor avif] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from picd_core.container import PicdFile  # noqa: E402
from picd_core.data import data_dir, image_files  # noqa: E402
from picd_core.image_codecs import get_codec  # noqa: E402
from picd_core.images import load_image  # noqa: E402
from picd_core.metrics import bits_per_pixel, psnr  # noqa: E402
from picd_core.metrics.bd import bd_rate  # noqa: E402
from picd_core.metrics.image import ms_ssim  # noqa: E402
from picd_core.pipeline import decode_picd, encode_image  # noqa: E402

SWEEPS = {"jpeg": [2, 5, 10, 20, 35, 55], "webp": [0, 5, 15, 30, 50, 75], "avif": [2, 10, 20, 35, 50, 65]}


def curve(images, codec: str, qualities) -> list[dict]:
    points = []
    for q in qualities:
        bpp, p, m, tenc, tdec = [], [], [], [], []
        for image in images:
            t0 = time.perf_counter()
            picd = encode_image(image, mode="natural", codec=codec, quality=q).picd
            data = picd.to_bytes()
            t1 = time.perf_counter()
            decoded = decode_picd(PicdFile.from_bytes(data)).image
            t2 = time.perf_counter()
            bpp.append(bits_per_pixel(len(data), image.shape[1], image.shape[0]))
            p.append(psnr(image, decoded))
            m.append(ms_ssim(image, decoded))
            tenc.append(t1 - t0)
            tdec.append(t2 - t1)
        mean = statistics.mean
        points.append({"quality": q, "bpp": mean(bpp), "psnr": mean(p), "ms_ssim": mean(m),
                       "encode_s": mean(tenc), "decode_s": mean(tdec)})
        print(f"{codec:<6} q={q:<3} bpp {mean(bpp):.4f}  PSNR {mean(p):6.2f}  MS-SSIM {mean(m):.4f}  "
              f"enc {mean(tenc):.2f} s  dec {mean(tdec):.2f} s", flush=True)
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None, help="image folder (default: $PICD_DATA_DIR/kodak)")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--codecs", default="mlic,jpeg,webp,avif")
    parser.add_argument("--anchor", default="avif", help="BD-rates of every other codec against this one")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    folder = Path(args.data) if args.data else (data_dir() or Path(".")) / "kodak"
    images = [load_image(p) for p in image_files(folder)][: args.limit]
    print(f"{len(images)} images from {folder}")
    results = {}
    for codec in args.codecs.split(","):
        qualities = SWEEPS.get(codec) or list(range(get_codec(codec).quality_range[0], get_codec(codec).quality_range[1] + 1))
        results[codec] = curve(images, codec, qualities)
    anchor = results.get(args.anchor)
    for other in [c for c in results if c != args.anchor] if anchor else []:
        ours = results[other]
        try:
            value = bd_rate([p["bpp"] for p in anchor], [p["psnr"] for p in anchor],
                            [p["bpp"] for p in ours], [p["psnr"] for p in ours])
            print(f"BD-rate (PSNR) {other} vs {args.anchor}: {value:+.1f} %")
        except Exception as exc:
            print(f"BD-rate {other} vs {args.anchor}: {exc}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
