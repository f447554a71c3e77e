"""Rate–distortion training of GlyphELIC: natural crops + generated screens (with their glyphs), R + λ·255²·MSE.

Runs on CPU at toy scale and on GPU for real. Checkpoints are safetensors (model, and trainer state with the
optimiser moments); --resume continues from the last one.
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..data import generate_screen, image_files
from ..errors import InvalidInputError
from ..glyph import render_glyph
from ..images import load_image
from .checkpoint import save_model
from .elic import GlyphELIC, ElicConfig


@dataclass
class TrainConfig:
    steps: int = 2000
    batch_size: int = 8
    crop: int = 128
    lr: float = 2e-4
    aux_lr: float = 1e-3
    screen_fraction: float = 0.5
    screen_pool: int = 48
    screen_refresh: int = 500  # regenerate the screen pool every this many steps
    checkpoint_every: int = 250
    seed: int = 0
    device: str = "cpu"
    grad_clip: float = 1.0

    def __post_init__(self) -> None:
        if self.crop % 64 or self.crop < 64:
            raise InvalidInputError(f"crop must be a positive multiple of 64, got {self.crop}")
        if self.steps < 1 or self.batch_size < 1:
            raise InvalidInputError("steps and batch size must be positive")


GAIN_LR_SCALE = 10.0


class CropSampler:
    """Random native-scale crops from natural images (blank glyph) and generated screens (their own glyph)."""

    def __init__(self, natural_dirs: list[Path], cfg: TrainConfig, rng: random.Random):
        self.cfg, self.rng = cfg, rng
        self.natural = [load_image(p) for d in natural_dirs for p in image_files(d)]
        self.natural = [im for im in self.natural if min(im.shape[:2]) >= cfg.crop]
        self.photo_dirs = natural_dirs
        self.screens: list[tuple[np.ndarray, np.ndarray]] = []
        self.refresh(0)

    def refresh(self, generation: int) -> None:
        self.screens = []
        for i in range(self.cfg.screen_pool):
            seed = 10_000_000 + generation * self.cfg.screen_pool + i + self.cfg.seed * 1_000_003
            width, height = self.rng.choice([(640, 480), (800, 600), (1024, 640)])
            screen = generate_screen(seed, width, height, photo_dir=self.photo_dirs[0] if self.photo_dirs else None)
            self.screens.append((screen.image, render_glyph(screen.layout, width, height)))

    def sample(self) -> tuple[np.ndarray, np.ndarray]:
        c = self.cfg.crop
        if self.screens and (not self.natural or self.rng.random() < self.cfg.screen_fraction):
            image, glyph = self.rng.choice(self.screens)
        else:
            image = self.rng.choice(self.natural)
            glyph = None
        y = self.rng.randint(0, image.shape[0] - c)
        x = self.rng.randint(0, image.shape[1] - c)
        crop = image[y : y + c, x : x + c]
        gcrop = glyph[y : y + c, x : x + c] if glyph is not None else np.full((c, c), 255, np.uint8)
        if glyph is None and self.rng.random() < 0.5:  # flips only for photos: text is never mirrored
            crop, gcrop = crop[:, ::-1], gcrop[:, ::-1]
        return np.ascontiguousarray(crop), np.ascontiguousarray(gcrop)

    def batch(self, device: str) -> tuple[torch.Tensor, torch.Tensor]:
        crops, glyphs = zip(*(self.sample() for _ in range(self.cfg.batch_size)))
        x = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float().div_(255)
        g = torch.from_numpy(np.stack(glyphs))[:, None].float().div_(255)
        return x.to(device), g.to(device)


def rd_loss(model: GlyphELIC, x: torch.Tensor, glyph: torch.Tensor, rate: torch.Tensor) -> dict:
    out = model(x, glyph, rate)
    num_pixels = x.shape[2] * x.shape[3]
    bits = [-torch.log2(out["likelihoods"][k]).flatten(1).sum(1) for k in ("y", "z")]
    bpp = (bits[0] + bits[1]) / num_pixels
    mse = (out["x_hat"] - x).pow(2).flatten(1).mean(1)
    lambdas = torch.tensor(model.cfg.lambdas, device=x.device)[rate]
    loss = (lambdas * 255**2 * mse + bpp).mean()
    return {"loss": loss, "bpp": bpp.detach(), "mse": mse.detach()}


def _optimizer_state(optimizer: torch.optim.Optimizer, names: dict[int, str], prefix: str) -> dict[str, torch.Tensor]:
    flat = {}
    for pid, state in optimizer.state_dict()["state"].items():
        for key, value in state.items():
            flat[f"{prefix}.{names[pid]}.{key}"] = value.detach().cpu().reshape(-1) if key == "step" else value.detach().cpu()
    return flat


def _load_optimizer_state(optimizer: torch.optim.Optimizer, names: dict[int, str], prefix: str, flat: dict) -> None:
    sd = optimizer.state_dict()
    for pid, name in names.items():
        entry = {}
        for key in ("step", "exp_avg", "exp_avg_sq"):
            t = flat.get(f"{prefix}.{name}.{key}")
            if t is not None:
                entry[key] = t.reshape(()) if key == "step" else t
        if entry:
            sd["state"][pid] = entry
    optimizer.load_state_dict(sd)


def train(out_dir: str | Path, natural_dirs: list[Path], model_cfg: ElicConfig | None = None,
          cfg: TrainConfig | None = None, resume: bool = False,
          log: Callable[[str], None] = print) -> Path:
    """Train (or resume) and return the path of the last model checkpoint."""
    from safetensors.torch import load_file, save_file

    cfg = cfg or TrainConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model_path, state_path = out / "model.safetensors", out / "trainer_state.safetensors"
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    if resume and model_path.is_file():
        from .checkpoint import load_model

        model = load_model(model_path).train()
        meta = json.loads((out / "trainer.json").read_text())
        step = int(meta["step"])
        rng.setstate(tuple(meta["rng"][:1]) + (tuple(meta["rng"][1]),) + tuple(meta["rng"][2:]))
        log(f"resuming from step {step}")
    else:
        model, step = GlyphELIC(model_cfg or ElicConfig()).train(), 0
    model.to(cfg.device)
    named = dict(model.named_parameters())
    gain_names = [n for n in named if n in ("gain", "inverse_gain")]
    main_params = {n: p for n, p in named.items() if not n.endswith(".quantiles") and n not in gain_names}
    main_params.update({n: named[n] for n in gain_names})  # last, in their own group
    aux_params = {n: p for n, p in named.items() if n.endswith(".quantiles")}
    # Gain vectors must move by factors, not by lr-sized steps: they learn 10x faster.
    optimizer = torch.optim.Adam([
        {"params": [p for n, p in main_params.items() if n not in gain_names], "lr_scale": 1.0},
        {"params": [named[n] for n in gain_names], "lr_scale": GAIN_LR_SCALE},
    ], lr=cfg.lr)
    aux_optimizer = torch.optim.Adam(aux_params.values(), lr=cfg.aux_lr)
    main_names = dict(enumerate(main_params))
    aux_names = dict(enumerate(aux_params))
    if resume and state_path.is_file():
        flat = load_file(str(state_path))
        _load_optimizer_state(optimizer, main_names, "main", flat)
        _load_optimizer_state(aux_optimizer, aux_names, "aux", flat)
    sampler = CropSampler(natural_dirs, cfg, rng)
    history: list[dict] = []
    start = time.perf_counter()
    window: list[tuple[float, float, float]] = []
    while step < cfg.steps:
        # cosine decay to 10 % of the base rate over the run
        lr = cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / cfg.steps)))
        for group in optimizer.param_groups:
            group["lr"] = lr * group["lr_scale"]
        if step and step % cfg.screen_refresh == 0:
            sampler.refresh(step // cfg.screen_refresh)
        x, g = sampler.batch(cfg.device)
        rate = torch.randint(0, model.cfg.num_rates, (x.shape[0],), device=cfg.device)
        result = rd_loss(model, x, g, rate)
        optimizer.zero_grad(set_to_none=True)
        result["loss"].backward()
        torch.nn.utils.clip_grad_norm_(main_params.values(), cfg.grad_clip)
        optimizer.step()
        aux = model.aux_loss()
        aux_optimizer.zero_grad(set_to_none=True)
        aux.backward()
        aux_optimizer.step()
        step += 1
        psnr = float((10 * torch.log10(1 / result["mse"].clamp_min(1e-10))).mean())
        window.append((float(result["loss"].detach()), float(result["bpp"].mean()), psnr))
        if step % 50 == 0 or step == cfg.steps:
            loss, bpp, p = (sum(v[i] for v in window) / len(window) for i in range(3))
            history.append({"step": step, "loss": loss, "bpp": bpp, "psnr": p})
            log(f"step {step}/{cfg.steps} loss {loss:.4f} bpp {bpp:.4f} psnr {p:.2f} lr {lr:.2e} "
                f"({time.perf_counter() - start:.0f} s)")
            window = []
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            save_model(model, model_path, {"train_config": asdict(cfg), "step": step})
            flat = _optimizer_state(optimizer, main_names, "main")
            flat.update(_optimizer_state(aux_optimizer, aux_names, "aux"))
            save_file(flat, str(state_path))
            state = rng.getstate()
            (out / "trainer.json").write_text(json.dumps({"step": step, "rng": [state[0], list(state[1]), state[2]]}))
            with open(out / "history.jsonl", "a") as f:
                for h in history:
                    f.write(json.dumps(h) + "\n")
            history = []
    return model_path
