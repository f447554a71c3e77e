"""Instance guidance on a tiny SD-architecture model: losses with and without guidance at the same seed, time per
step (unguided / full DPS / cheap), peak memory. Each configuration runs in a fresh process (its own peak RSS, or
peak CUDA memory with --device cuda).

The backbone has random weights (picd_core.diffusion.tiny), so the *images* mean nothing; what is measured is the
mechanics: how far each guidance mode moves the losses it optimises, and what it costs relative to a plain step.

    python bench/diffusion_guidance.py [--size 256] [--steps 10] [--weight 50] [--device cpu] [--model DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time
import numpy as np, torch
sys.path.insert(0, {root!r})
from picd_core.data import generate_screen
from picd_core.diffusion.diffusers_backend import DiffusersBackbone
from picd_core.diffusion.guidance import GuidanceConfig
from picd_core.diffusion.recognizer import load_recognizer
from picd_core.diffusion.render import RenderConfig, make_guidance, pad_layers, render_diffusion
from picd_core.glyph import render_glyph
from picd_core.layout import TextLayout
from picd_core.mlic.codec import builtin_codec
from picd_core.pipeline import decode_picd, encode_image

size, device = {size}, {device!r}
screen = generate_screen(21, max(480, size), max(320, size), kind="document")
crop = screen.image[:size, :size].copy()
picd = encode_image(crop, mode="screen", codec="mlic", quality=1).picd
dec = decode_picd(picd)
codec = builtin_codec(device)
backbone = DiffusersBackbone.load({model!r}, device=device)
recognizer = load_recognizer(device=device)
w_rc, w_ocr = {rc}, {ocr}
cfg = RenderConfig(steps={steps}, seed=0, denoise=0.6,
                   guidance=GuidanceConfig(recompression_weight=w_rc, ocr_weight=w_ocr, mode={mode!r}))
if device.startswith("cuda"):
    torch.cuda.reset_peak_memory_stats()
t0 = time.perf_counter()
result = render_diffusion(backbone, dec.image_layer, dec.layout, dec.glyph, cfg, codec=codec, quality=1,
                          recognizer=recognizer)
seconds = time.perf_counter() - t0
# Final losses of the rendered image, measured the same way for every configuration.
target = pad_layers(dec.image_layer, None)[0].to(device)
judge, _ = make_guidance(GuidanceConfig(ocr_start=0.0), target, None, dec.layout, codec, 1, recognizer, 1)
img = pad_layers(result.image, None)[0].to(device)
with torch.no_grad():
    rc = float(judge.term("recompression").loss(img))
    ocr = float(judge.term("ocr").loss(img)) if len(dec.layout) else float("nan")
mse = float(((result.image.astype(np.float64) - dec.image_layer) ** 2).mean())
peak = (torch.cuda.max_memory_allocated() / 2**20) if device.startswith("cuda") else \
    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"seconds": seconds, "per_step": seconds / {steps}, "recompression": rc, "ocr": ocr,
                  "mse_to_xbar": mse, "peak_mib": peak, "words": len(dec.layout)}}))
"""


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--weight", type=float, default=50.0, help="ζ for both losses (tiny random models need large ζ)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--model", default=None, help="diffusers folder (default: a freshly built tiny model)")
    p.add_argument("--sd15-shaped", action="store_true",
                   help="build the default model with SD 1.5's UNet and VAE architecture (random weights)")
    args = p.parse_args()
    model = args.model
    if model is None:
        sys.path.insert(0, str(ROOT))
        from picd_core.diffusion.tiny import build_tiny_sd

        model = str(build_tiny_sd(Path(tempfile.mkdtemp()) / "tiny_sd", sd15_shaped=args.sd15_shaped))
    configs = [("unguided", 0.0, 0.0, "full"), ("recompression, full", args.weight, 0.0, "full"),
               ("recompression + OCR, full", args.weight, args.weight, "full"),
               ("recompression + OCR, cheap", args.weight, args.weight, "cheap")]
    rows = []
    for name, rc, ocr, mode in configs:
        code = CHILD.format(root=str(ROOT), size=args.size, device=args.device, model=model, rc=rc, ocr=ocr,
                            mode=mode, steps=args.steps)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append((name, row))
    base = rows[0][1]["per_step"]
    shape = "SD 1.5-shaped" if args.sd15_shaped else ("given" if args.model else "tiny")
    print(f"{shape} model, size {args.size}², {args.steps} steps, denoise 0.6, ζ={args.weight}, device {args.device}, "
          f"{rows[0][1]['words']} words")
    print(f"{'configuration':<28} {'s/step':>7} {'×plain':>7} {'recomp.':>8} {'OCR CTC':>8} {'MSE→X̄':>8} {'peak MiB':>9}")
    for name, r in rows:
        print(f"{name:<28} {r['per_step']:7.2f} {r['per_step'] / base:7.2f} {r['recompression']:8.3f} "
              f"{r['ocr']:8.3f} {r['mse_to_xbar']:8.1f} {r['peak_mib']:9.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
