"""Time and peak memory of every stage vs image size: OCR, text layer, glyph, image codec, rendering.

Each size runs in a fresh process (its own peak RSS). Images are generated screens (tiled beyond 1920×1200), so OCR
and the text layer see realistic text density.

    python bench/speed.py [--sizes 512x384,1024x768,1920x1080] [--codec mlic] [--quality 2] [--threads N]
                          [--diffusion-model DIR --steps 4]   # adds the diffusion render stage
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
from picd_core.glyph import render_glyph, composite_text
from picd_core.image_codecs import get_codec
from picd_core.ocr import extract_layout
from picd_core.pipeline import _pad
from picd_core.text_layer import decode_text_layer, encode_text_layer
w, h = {w}, {h}
screen = generate_screen(1, max(480, min(w, 1920)), max(320, min(h, 1200)))
image = np.tile(screen.image, (-(-h // screen.image.shape[0]), -(-w // screen.image.shape[1]), 1))[:h, :w].copy()
t = {{}}
def timed(name, fn):
    t0 = time.perf_counter(); out = fn(); t[name] = time.perf_counter() - t0; return out
layout = timed("ocr", lambda: extract_layout(image))
bits = timed("text_encode", lambda: encode_text_layer(layout))
timed("text_decode", lambda: decode_text_layer(bits))
glyph = timed("glyph", lambda: render_glyph(layout, w, h))
codec = get_codec({codec!r})
m = codec.size_multiple
padded, gpad = _pad(image, m, "edge"), _pad(glyph, m, "edge")
data = timed("codec_encode", lambda: codec.encode(padded, {quality}, gpad if codec.uses_glyph else None))
decoded = timed("codec_decode", lambda: codec.decode(data, padded.shape[1], padded.shape[0], {quality},
                                                     gpad if codec.uses_glyph else None))[:h, :w]
timed("render_glyph", lambda: composite_text(decoded, layout, glyph))
if {model!r}:
    from picd_core.diffusion.diffusers_backend import DiffusersBackbone
    from picd_core.diffusion.guidance import GuidanceConfig
    from picd_core.diffusion.render import RenderConfig, render_diffusion
    backbone = DiffusersBackbone.load({model!r})
    cfg = RenderConfig(steps={steps}, guidance=GuidanceConfig(ocr_weight=0.0))
    timed("render_diffusion", lambda: render_diffusion(backbone, decoded, layout, glyph, cfg,
                                                       codec=codec, quality={quality}))
t["words"] = len(layout); t["bytes"] = len(data) + len(bits)
t["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(t))
"""


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="512x384,1024x768,1920x1080")
    p.add_argument("--codec", default="mlic")
    p.add_argument("--quality", type=int, default=2)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--diffusion-model", default="")
    p.add_argument("--steps", type=int, default=4)
    args = p.parse_args()
    stages = ["ocr", "text_encode", "text_decode", "glyph", "codec_encode", "codec_decode", "render_glyph"]
    if args.diffusion_model:
        stages.append("render_diffusion")
    print(f"codec {args.codec} q={args.quality}; seconds per stage, peak RSS of the whole process")
    print(f"{'size':>10} {'Mpx':>5} {'words':>6} " + " ".join(f"{s:>13}" for s in stages) + f" {'peak MiB':>9}")
    for size in args.sizes.split(","):
        w, h = (int(v) for v in size.split("x"))
        code = CHILD.format(root=str(ROOT), w=w, h=h, codec=args.codec, quality=args.quality, threads=args.threads,
                            model=args.diffusion_model, steps=args.steps)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{size:>10} {w * h / 1e6:5.2f} {r['words']:6d} " + " ".join(f"{r[s]:13.3f}" for s in stages)
              + f" {r['peak_mib']:9.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
