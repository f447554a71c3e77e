"""A/B of one redraw switch on real screens: the same text layers coded with a module-level switch off and on.

    python bench/redraw_ab.py --switch picd_core.redraw:SMOOTH_RENDER --screens 8 --qualities 0 10

Per screen and AVIF quality: bytes, PSNR, redrawn words, and (for the smooth switch) how many of them are smooth,
then the totals: bytes change, mean PSNR change and the encode-time ratio. OCR runs once per screen (its layout is
given to both encodes), so only the redraw changes.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from picd_core import decode_picd, encode_image  # noqa: E402
from picd_core.data import data_dir  # noqa: E402
from picd_core.images import load_image  # noqa: E402
from picd_core.metrics.image import psnr  # noqa: E402
from picd_core.ocr import extract_layout  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--switch", default="picd_core.redraw:SMOOTH_RENDER", help="module:NAME of a boolean switch")
    ap.add_argument("--screens", type=int, default=8, help="first N files of screens_real")
    ap.add_argument("--qualities", type=int, nargs="+", default=[0, 10], help="AVIF qualities")
    args = ap.parse_args()
    module_name, _, name = args.switch.partition(":")
    module = importlib.import_module(module_name)
    original = getattr(module, name, None)
    if not isinstance(original, bool):
        sys.exit(f"{args.switch} is not a boolean switch")
    root = data_dir()
    if root is None:
        sys.exit("no data directory: set PICD_DATA_DIR to the folder holding screens_real/")
    rows = []
    for path in sorted((root / "screens_real").glob("*.png"))[: args.screens]:
        image = load_image(path)
        layout = extract_layout(image)
        for quality in args.qualities:
            row = {}
            for on in (False, True):
                setattr(module, name, on)
                t0 = time.perf_counter()
                result = encode_image(image, mode="screen", codec="avif", quality=quality, layout=layout)
                seconds = time.perf_counter() - t0
                redrawn = result.layout.redrawn
                row[on] = (len(result.picd.to_bytes()), psnr(image, decode_picd(result.picd).image), len(redrawn),
                           sum(w.style.smooth for w in redrawn), seconds)
            rows.append(row)
            print(f"{path.stem[:26]:26s} q{quality:<3d} " + "  ".join(
                f"{'on ' if on else 'off'} {b:6d} B {p:5.2f} dB {n:3d} redrawn ({s} smooth) {t:5.1f} s"
                for on, (b, p, n, s, t) in row.items()), flush=True)
    setattr(module, name, original)
    off, on = (sum(r[k][0] for r in rows) for k in (False, True))
    print(f"{args.switch} on vs off, {len(rows)} encodes: bytes {100 * (on / off - 1):+.1f} %, "
          f"PSNR {np.mean([r[True][1] - r[False][1] for r in rows]):+.2f} dB, encode time "
          f"{sum(r[True][4] for r in rows) / sum(r[False][4] for r in rows):.2f}x")


if __name__ == "__main__":
    main()
