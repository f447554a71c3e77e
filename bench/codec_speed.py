"""Encode/decode time and peak memory of the learned codec vs image size, on this machine's CPU (or --device).

Each size runs in a fresh process so that peak RSS is that size's own. Codec only (no OCR, no container).

    python bench/codec_speed.py [--sizes 512x512,1920x1080,3840x2160] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time
import numpy as np, torch
sys.path.insert(0, {root!r})
if {threads}:
    torch.set_num_threads({threads})
from picd_core.data import generate_screen
from picd_core.glyph import render_glyph
from picd_core.image_codecs import get_codec
from picd_core.pipeline import _pad
w, h = {w}, {h}
screen = generate_screen(1, min(w, 1920), min(h, 1200))
image = np.tile(screen.image, (-(-h // screen.image.shape[0]), -(-w // screen.image.shape[1]), 1))[:h, :w]
codec = get_codec("mlic")
padded = _pad(image, 64, "edge")
glyph = np.full(padded.shape[:2], 255, np.uint8)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
codec.encode(padded[:64, :64], 2, glyph[:64, :64])  # warm-up (lazy float64 copy, allocator)
t0 = time.perf_counter(); data = codec.encode(padded, {level}, glyph); t1 = time.perf_counter()
out = codec.decode(data, padded.shape[1], padded.shape[0], {level}, glyph); t2 = time.perf_counter()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"size": f"{{w}}x{{h}}", "bytes": len(data), "bpp": 8 * len(data) / (w * h),
                  "encode_s": t1 - t0, "decode_s": t2 - t1, "peak_rss_mb": peak / 1024, "rss_before_mb": base / 1024,
                  "threads": torch.get_num_threads()}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="512x512,1920x1080,3840x2160")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--level", type=int, default=2)
    args = parser.parse_args()
    for size in args.sizes.split(","):
        w, h = (int(v) for v in size.lower().split("x"))
        code = CHILD.format(root=str(ROOT), w=w, h=h, threads=args.threads, level=args.level)
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if proc.returncode:
            print(f"{size}: failed: {proc.stderr.strip().splitlines()[-1]}")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"{r['size']:>10}: encode {r['encode_s']:.2f} s, decode {r['decode_s']:.2f} s, peak RSS "
              f"{r['peak_rss_mb']:.0f} MB, {r['bytes']} B ({r['bpp']:.4f} bpp), {r['threads']} threads", flush=True)


if __name__ == "__main__":
    main()
