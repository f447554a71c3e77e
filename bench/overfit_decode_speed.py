"""Decode time of the overfitted codec on every Kodak image, one torch thread, beside its MAC/pixel.

The decoder's work is set by the image size and the decoder configuration (the quality picks it), not by how long the
encoder fitted: each image is therefore fitted briefly (--iterations) and its file decoded --repeats times (the best
time is kept: one decode on a shared 2-core machine varies by ±30 %). The entropy decoder's share depends a little
on the latents, so bench/overfit_kodak.py's decode times of full fits are the check on these.

    python bench/overfit_decode_speed.py [--qualities 1,7] [--iterations 20] [--repeats 3] [--images kodim01,...]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from picd_core.data import data_dir  # noqa: E402
from picd_core.images import load_image  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--qualities", default="1,7", help="7 and 8 have the widest decoder, 1 and 2 the narrowest")
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--images", default=",".join(f"kodim{i:02d}" for i in range(1, 25)))
    args = ap.parse_args()

    import torch

    from picd_core.overfit.codec import OverfitCodec, config_for
    from picd_core.overfit.model import macs_per_pixel

    qualities = [int(q) for q in args.qualities.split(",")]
    times: dict[int, list[float]] = {q: [] for q in qualities}
    print(f"{'image':9} {'q':>2} {'size':>9} {'dec s':>6} {'MAC/px':>7}")
    for name in args.images.split(","):
        image = load_image(str(data_dir() / "kodak" / f"{name}.png"))
        h, w = image.shape[:2]
        for q in qualities:
            torch.set_num_threads(2)
            data = OverfitCodec(iterations=args.iterations).encode(image, q)
            torch.set_num_threads(1)
            best = float("inf")
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                OverfitCodec().decode(data, w, h, q)
                best = min(best, time.perf_counter() - t0)
            times[q].append(best)
            print(f"{name:9} {q:2d} {w:4d}x{h:<4d} {best:6.3f} {macs_per_pixel(config_for(q, False)):7.0f}", flush=True)
    for q in qualities:
        print(f"quality {q}: decode mean {statistics.mean(times[q]):.3f} s, max {max(times[q]):.3f} s "
              f"over {len(times[q])} images (1 thread)")


if __name__ == "__main__":
    main()
