"""Training recipes for the renderer: the PICD adaptor and the screen-content LoRA (diffusers + accelerate + peft).

Conditions come from our own layers: X̄ is the glyph-conditioned codec's reconstruction of the crop (its
differentiable forward, identical in value to a real decode up to float rounding, at a random rate), the glyph is
rendered from the ground-truth layout of generated screens, and the prompt is built from the words in the crop.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..data.paths import image_files
from ..data.screens import generate_screen
from ..errors import InvalidInputError
from ..glyph import render_glyph
from ..images import load_image
from ..layout import TextLayout
from .adaptor import AdaptorConfig, PicdAdaptor
from .prompt import domain_prompt


@dataclass
class RenderTrainConfig:
    model: str  # diffusers folder (or HF id) of the SD backbone
    output: str  # .safetensors to write (adaptor or LoRA)
    target: str = "adaptor"  # "adaptor" or "lora"
    steps: int = 1000
    batch_size: int = 4
    crop: int = 512  # pixels; a multiple of 64
    lr: float = 5e-5
    weight_decay: float = 1e-2
    grad_clip: float = 1.0
    seed: int = 0
    natural_dir: str | None = None  # natural images mixed in (blank glyph, empty prompt)
    screen_fraction: float = 0.7
    glyph_dropout: float = 0.15  # blank the glyph and prompt on this fraction of screens (one adaptor, both modes)
    prompt_dropout: float = 0.1
    screen_pool: int = 16
    codec_weights: str | None = None  # GlyphELIC weights for X̄; None = the shipped ones
    lora_rank: int = 256
    lora_alpha: float | None = None
    adaptor_channels: list[int] | None = None  # None = StableSR-sized for the backbone
    mixed_precision: str = "no"  # accelerate: "no", "bf16", "fp16"
    log_every: int = 10

    def __post_init__(self) -> None:
        if self.target not in ("adaptor", "lora"):
            raise InvalidInputError("target must be 'adaptor' or 'lora'")
        if self.crop % 64:
            raise InvalidInputError("crop must be a multiple of 64")


class ConditionSampler:
    """Random crops with their glyph and prompt: generated screens (exact text) and natural photos."""

    def __init__(self, cfg: RenderTrainConfig, rng: random.Random):
        self.cfg, self.rng = cfg, rng
        files = image_files(cfg.natural_dir) if cfg.natural_dir else []
        self.natural = [im for im in (load_image(p) for p in files) if min(im.shape[:2]) >= cfg.crop]
        size = max(cfg.crop, 256)
        self.screens = []
        for i in range(cfg.screen_pool):
            screen = generate_screen(20_000_000 + cfg.seed * 1_000_003 + i, max(480, 2 * size), max(320, size + 64))
            glyph = render_glyph(screen.layout, screen.image.shape[1], screen.image.shape[0])
            self.screens.append((screen.image, glyph, screen.layout))

    def sample(self) -> tuple[np.ndarray, np.ndarray, str]:
        c = self.cfg.crop
        use_screen = not self.natural or self.rng.random() < self.cfg.screen_fraction
        if use_screen:
            image, glyph, layout = self.rng.choice(self.screens)
        else:
            image, glyph, layout = self.rng.choice(self.natural), None, TextLayout()
        y, x = self.rng.randint(0, image.shape[0] - c), self.rng.randint(0, image.shape[1] - c)
        crop = np.ascontiguousarray(image[y:y + c, x:x + c])
        words = [w for w in layout.words if w.x >= x and w.y >= y and w.x + w.w <= x + c and w.y + w.h <= y + c]
        prompt = domain_prompt(TextLayout.from_lines([words])) if words else ""
        gcrop = glyph[y:y + c, x:x + c] if glyph is not None else np.full((c, c), 255, np.uint8)
        if use_screen and self.rng.random() < self.cfg.glyph_dropout:
            gcrop, prompt = np.full((c, c), 255, np.uint8), ""
        if self.rng.random() < self.cfg.prompt_dropout:
            prompt = ""
        return crop, np.ascontiguousarray(gcrop), prompt

    def batch(self, n: int) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
        crops, glyphs, prompts = zip(*(self.sample() for _ in range(n)))
        x = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float().div(255)
        g = torch.from_numpy(np.stack(glyphs))[:, None].float().div(255)
        return x, g, list(prompts)


def train_render(cfg: RenderTrainConfig, progress: Callable[[str], None] | None = None) -> dict:
    """Train the adaptor (backbone frozen) or the LoRA (UNet LoRA only) with the ε/v-prediction loss."""
    from accelerate import Accelerator

    from ..mlic.codec import builtin_codec
    from ..mlic.checkpoint import load_model
    from .diffusers_backend import DiffusersBackbone
    from .lora import add_lora, save_lora

    say = progress or (lambda _m: None)
    accelerator = Accelerator(mixed_precision=cfg.mixed_precision, cpu=not torch.cuda.is_available())
    device = accelerator.device
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    backbone = DiffusersBackbone.load(cfg.model, device=str(device))
    codec = load_model(cfg.codec_weights, device=str(device)) if cfg.codec_weights else builtin_codec(str(device)).model
    codec.eval().requires_grad_(False)
    rates = codec.cfg.num_rates
    unet = backbone.unet
    hooks = None
    if cfg.target == "adaptor":
        uc = unet.config
        extra = {"encoder_channels": cfg.adaptor_channels} if cfg.adaptor_channels else {}
        adaptor = PicdAdaptor(AdaptorConfig.for_unet(list(uc.block_out_channels), uc.layers_per_block, **extra))
        adaptor.to(device).train()
        params = list(adaptor.parameters())
        from .diffusers_backend import AdaptorHooks

        hooks = AdaptorHooks(adaptor, backbone.resnets())
    else:
        add_lora(unet, cfg.lora_rank, cfg.lora_alpha)
        unet.train()
        params = [p for p in unet.parameters() if p.requires_grad]
        adaptor = None
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    trained = adaptor if adaptor is not None else unet
    trained, optimizer = accelerator.prepare(trained, optimizer)
    sampler = ConditionSampler(cfg, rng)
    alphas = backbone.schedule.alphas_cumprod.float().to(device)
    losses: list[float] = []
    t0 = time.perf_counter()
    for step in range(1, cfg.steps + 1):
        x, glyph, prompts = sampler.batch(cfg.batch_size)
        x, glyph = x.to(device), glyph.to(device)
        with torch.no_grad():
            rate = torch.randint(0, rates, (x.shape[0],), device=device)
            x_bar = codec(x, glyph, rate)["x_hat"].clamp(0, 1)
            latents = backbone.encode_image(x).float()
            context = torch.cat([backbone.encode_prompt(p) for p in prompts])
            cond_latent = backbone.encode_image(x_bar).float() if adaptor is not None else None
        t = torch.randint(0, len(alphas), (x.shape[0],), device=device)
        noise = torch.randn_like(latents)
        a = alphas[t].sqrt()[:, None, None, None]
        s = (1 - alphas[t]).sqrt()[:, None, None, None]
        noisy = a * latents + s * noise
        target = noise if backbone.prediction_type == "epsilon" else a * noise - s * latents
        with accelerator.autocast():
            if adaptor is not None:
                hooks.features = accelerator.unwrap_model(trained).features(x_bar, t, glyph, cond_latent)
            pred = unet(noisy, t, encoder_hidden_states=context).sample
            if hooks is not None:
                hooks.features = None
            loss = F.mse_loss(pred.float(), target)
        accelerator.backward(loss)
        if cfg.grad_clip:
            accelerator.clip_grad_norm_(params, cfg.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        if step % cfg.log_every == 0 or step == cfg.steps:
            say(f"step {step}/{cfg.steps} loss {np.mean(losses[-cfg.log_every:]):.4f} "
                f"({time.perf_counter() - t0:.0f} s)")
    meta = {"train_config": json.dumps(asdict(cfg)), "steps": str(cfg.steps)}
    output = Path(cfg.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    if adaptor is not None:
        hooks.remove()
        accelerator.unwrap_model(trained).save_pretrained(output, extra_metadata={"steps": cfg.steps})
    else:
        save_lora(unet, output, metadata=meta)
    return {"losses": losses, "seconds": time.perf_counter() - t0, "output": str(output)}
