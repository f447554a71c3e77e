"""Sweep the overfitted codec's fit constants on Kodak crops, scored against plain AVIF on the same crop.

Per image and quality: one fit with the given constants (module attributes of picd_core.overfit.fit, e.g.
LATENT_LEARNING_RATE=0.3), its exact decode's bpp and PSNR, and the PSNR gap to AVIF (Pillow, speed 4, 4:4:4) at the
same bpp (interpolated over log rate); the mean gap is the figure to compare settings by.

    python bench/overfit_fit_sweep.py [--imgs kodim04,kodim23] [--crop 384 (0: whole image)] [--q 1 5] [--it 300]
                                      [--set LATENT_LEARNING_RATE=0.3 NOISE_SHARE=0.5] [--tag NAME]
"""

import sys, time, json, io
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import numpy as np, torch
from PIL import Image
from picd_core.images import load_image
from picd_core.overfit import fit as F
from picd_core.overfit.codec import lambda_for, config_for, exact_decode_image
from picd_core.metrics import psnr
from picd_core.data import data_dir
import argparse
p = argparse.ArgumentParser()
p.add_argument("--imgs", default="kodim04,kodim23"); p.add_argument("--crop", type=int, default=384)
p.add_argument("--q", type=int, nargs="+", default=[1, 5]); p.add_argument("--it", type=int, default=300)
p.add_argument("--set", nargs="*", default=[]); p.add_argument("--tag", default="")
a = p.parse_args()
for kv in a.set:
    k, v = kv.split("=")
    if not hasattr(F, k):
        sys.exit(f"picd_core.overfit.fit has no constant {k}")
    setattr(F, k, float(v))
torch.set_num_threads(2)
def avif_curve(img):
    pts=[]
    for q in range(4, 80, 6):
        b=io.BytesIO(); Image.fromarray(img).save(b,format="AVIF",quality=q,speed=4,subsampling="4:4:4")
        d=np.asarray(Image.open(io.BytesIO(b.getvalue())).convert("RGB"))
        pts.append((np.log(len(b.getvalue())*8/(img.shape[0]*img.shape[1])), psnr(img,d)))
    return np.array(sorted(pts))
deltas=[]; rows=[]
for name in a.imgs.split(","):
    img = load_image(str(data_dir() / "kodak" / f"{name}.png"))
    h, w = img.shape[:2]; c = a.crop
    img = np.ascontiguousarray(img[(h-c)//2:(h+c)//2, (w-c)//2:(w+c)//2]) if c else img
    av = avif_curve(img)
    for q in a.q:
        t = time.time()
        r = F.fit(img, lambda_for(q), config_for(q, False), a.it, seed=0)
        pix = exact_decode_image(r.decoder, r.latents, None)
        with torch.no_grad():
            lb = float(F._rate_bits(r.decoder, r.latents, [None]*len(r.latents), exact=True))
        pb = F.parameter_bits(r.parameter_ints); n = img.shape[0]*img.shape[1]
        bpp = (lb+pb)/n; ps = psnr(img, pix)
        ref = float(np.interp(np.log(bpp), av[:,0], av[:,1]))
        deltas.append(ps-ref); rows.append((name, q, round(bpp,4), round(ps,2), round(ps-ref,2), round(time.time()-t,1)))
print(json.dumps({"tag": a.tag, "set": a.set, "it": a.it, "mean_dpsnr_vs_avif": round(float(np.mean(deltas)),3), "rows": rows}), flush=True)
