"""The encoder of the overfitted codec: fit latents + decoder to one image, then quantise the decoder.

Loss = MSE (image in [0, 1]) + λ · bits per pixel, bits from the ARM's Laplace model of the latents. The first
NOISE_SHARE of the iterations add uniform noise to the latents (a differentiable proxy of rounding); the rest round
them with a straight-through gradient, so the decoder is tuned to the integers it will get. Adam, cosine learning
rate. Afterwards each module's weights are rounded to 2^-q with q chosen per module by the same D + λR, measured in
exact mode (what the decoder computes) with the parameters' coded size included.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from .presets import PRESETS, Preset  # noqa: F401  (re-exported)
from .model import (LATENT_LIMIT, MAX_WEIGHT_BITS, MAX_WEIGHT_INT, PHASES, OverfitConfig, OverfitDecoder, glyph_ink,
                    ink_pyramid, laplace_bits, level_shapes, phase_context, phase_values)

NOISE_SHARE = 0.7  # 0.3 / 0.5 / 0.7 / 0.8 / 0.9: mean PSNR gap to AVIF −5.68 / −5.33 / −4.80 / −4.96 / −5.44 dB
# (Kodak crops, 300 iterations; whole kodim04 −4.64 → −4.15 dB at 0.7; docs/overfit.md, "Fit schedule")
LATENT_LEARNING_RATE = 5e-2
LEARNING_RATE = 1e-2
ARM_LEARNING_RATE = 1e-2  # 3e-2: mean PSNR gap to AVIF −6.07 dB instead of −5.83 (docs/overfit.md, "Fit schedule")
# Below 1.0 each fit iteration scores the distortion on one band of this share of the image's rows (bands in a random
# order, every row once a round) and the rate on all latents: cheaper iterations, more of them in the same time. It
# does not pay (384² Kodak crops at equal fit time: whole image −3.84 dB to AVIF, half bands −4.37, quarter −3.89;
# docs/overfit.md, "Fitting on bands of rows"), so the fit sees the whole image.
FIT_ROW_SHARE = 1.0
# After the fit, the ARM alone is refitted to the rounded latents for this share of the fit's iterations (each costs
# about a third of a fit iteration: the rate term only). It changes only R: −2 to −10 % bpp at the same PSNR on Kodak
# crops (docs/overfit.md, "Fit schedule").
ARM_REFINE_SHARE = 0.3
ARM_REFINE_LEARNING_RATE = 1e-2
ARM_REFINE_STEP_COST = 0.3  # a refit step in fit iterations, at most (the rate term with its contexts took 0.09 s
# of a 0.29 s iteration on 512×768, 2 cores; the refit builds the contexts once): for the ETA
# Measured on a 128² crop of kodim23 at 300 iterations, qualities 3 and 6 (latent bpp / PSNR): latents at 1e-2 with
# noise for 75 % of the fit 0.13 / 24.2 and 0.31 / 23.7; latents at 6e-2, noise for 30 % 0.21 / 27.3 and 0.93 / 31.5.
# Decoder weights at 4e-2 made the rate explode (256² crop: 1.02 bpp at 22.5 dB vs 0.30 bpp at 22.2 dB).
# Parameter groups quantised together (one step 2^-q each), in bitstream order.
MODULE_GROUPS = ("upsampler", "synthesis", "arm")
WEIGHT_BITS_CANDIDATES = tuple(range(5, MAX_WEIGHT_BITS + 1))


Progress = Callable[[int, int, float, float], None]  # (iteration, total, loss, seconds left)


def group_parameters(decoder: OverfitDecoder) -> list[list[tuple[str, torch.nn.Parameter]]]:
    named = dict(decoder.named_parameters())
    return [[(n, p) for n, p in named.items() if n.split(".")[0] == g] for g in MODULE_GROUPS]


@dataclass
class FitResult:
    decoder: OverfitDecoder        # float64, weights on their 2^-q grids
    latents: list[torch.Tensor]    # integer-valued float64 grids, finest first
    weight_bits: list[int]         # q per module group
    parameter_ints: list[np.ndarray]
    loss_history: list[float]
    seconds: float
    ink: torch.Tensor | None = None  # exact-mode glyph ink the decoder will use (set by the codec)


def _rate_bits(decoder: OverfitDecoder, latents: list[torch.Tensor], inks: list, exact: bool) -> torch.Tensor:
    """Bits of all latents under the ARM. Every context reads only coded values, so all levels and phases are one
    batch here (the decoder needs them in order; the encoder has them all)."""
    return _arm_bits(decoder, *_arm_inputs(latents, inks), exact)


def _arm_inputs(latents: list[torch.Tensor], inks: list) -> tuple[torch.Tensor, torch.Tensor]:
    """Every latent's ARM context and value, all levels and phases in one batch."""
    contexts, values = [], []
    for l in range(len(latents)):
        parent = latents[l + 1] if l + 1 < len(latents) else None
        for phase in range(len(PHASES)):
            contexts.append(phase_context(latents[l], parent, inks[l], phase))
            values.append(phase_values(latents[l], phase))
    return torch.cat(contexts), torch.cat(values)


def _arm_bits(decoder: OverfitDecoder, contexts: torch.Tensor, values: torch.Tensor, exact: bool) -> torch.Tensor:
    mu, log_scale = decoder.arm(contexts, exact)
    return laplace_bits(values, mu, log_scale).sum()


def fit(image: np.ndarray, lam: float, cfg: OverfitConfig, iterations: int, glyph: np.ndarray | None = None,
        seed: int = 0, device: str = "cpu", progress: Progress | None = None) -> FitResult:
    """Fit one image (uint8 [H, W, 3]); returns the quantised decoder and integer latents (on the CPU)."""
    # Hosts such as ComfyUI run nodes under inference mode; the fit needs autograd whatever the caller's mode.
    with torch.inference_mode(False), torch.enable_grad():
        return _fit(image, lam, cfg, iterations, glyph, seed, device, progress)


def _fit(image, lam, cfg, iterations, glyph, seed, device, progress) -> FitResult:
    t_start = time.perf_counter()
    gen = torch.Generator(device="cpu").manual_seed(seed)
    torch.manual_seed(seed)
    h, w = image.shape[:2]
    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float().div(255).to(device)
    ink = None
    if glyph is not None and cfg.glyph_channels:
        ink = glyph_ink(glyph).float().to(device)
    shapes = level_shapes(h, w, cfg.levels)
    inks = ink_pyramid(ink, shapes, exact=False)
    decoder = OverfitDecoder(cfg).to(device)
    latents = [torch.zeros(s, device=device, requires_grad=True) for s in shapes]
    arm = list(decoder.arm.parameters())
    rest = [p for n, p in decoder.named_parameters() if not n.startswith("arm.")]
    opt = torch.optim.Adam([{"params": rest, "base": LEARNING_RATE}, {"params": arm, "base": ARM_LEARNING_RATE},
                            {"params": latents, "base": LATENT_LEARNING_RATE}], lr=LEARNING_RATE)
    pixels = h * w
    history: list[float] = []
    noise_until = int(iterations * NOISE_SHARE)
    refine_steps = int(iterations * ARM_REFINE_SHARE)
    count = max(1, round(1 / FIT_ROW_SHARE)) if FIT_ROW_SHARE < 1 else 1
    bands = [(h * i // count, h * (i + 1) // count) for i in range(count)] if count > 1 and h >= 2 * count else None
    order: list[int] = []
    for it in range(iterations):
        decay = 0.5 * (1 + math.cos(math.pi * it / iterations))
        for group in opt.param_groups:
            group["lr"] = group["base"] * max(decay, 1e-3)
        if it < noise_until:
            coded = [g + (torch.rand(g.shape, generator=gen) - 0.5).to(device) for g in latents]
        else:
            coded = [g + (torch.round(g) - g).detach() for g in latents]
        if bands is None:
            mse = torch.mean((decoder.reconstruct(coded, ink) - x) ** 2)
        else:
            if not order:
                order = torch.randperm(len(bands), generator=gen).tolist()
            a, b = bands[order.pop()]
            mse = torch.mean((decoder.reconstruct_rows(coded, ink, a, b) - x[:, :, a:b]) ** 2)
        bits = _rate_bits(decoder, coded, inks, exact=False)
        loss = mse + lam * bits / pixels
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            for g in latents:
                g.clamp_(-LATENT_LIMIT + 1, LATENT_LIMIT - 1)
        history.append(float(loss.detach()))
        if progress is not None and (it % 10 == 0 or it == iterations - 1):
            elapsed = time.perf_counter() - t_start
            left = iterations - it - 1 + refine_steps * ARM_REFINE_STEP_COST  # the ARM refit runs after the last
            progress(it + 1, iterations, history[-1], elapsed / (it + 1) * left)
    _refine_arm(decoder, [torch.round(g.detach()) for g in latents], inks, refine_steps)
    q_latents = [torch.round(g.detach()).double().cpu() for g in latents]
    result = quantise_decoder(decoder.cpu(), q_latents, image, glyph, lam)
    result.loss_history = history
    result.seconds = time.perf_counter() - t_start
    return result


def _refine_arm(decoder: OverfitDecoder, latents: list[torch.Tensor], inks: list, steps: int) -> None:
    """Refit the ARM alone to the final integer latents (Adam from a fresh state, cosine learning rate): during the
    fit it chases moving latents, and on fixed latents of kodim04 it ends 29 % above the rate a refitted ARM reaches."""
    opt = torch.optim.Adam(decoder.arm.parameters(), lr=ARM_REFINE_LEARNING_RATE)
    contexts, values = _arm_inputs(latents, inks)  # the latents are fixed: their contexts are built once
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = ARM_REFINE_LEARNING_RATE * max(0.5 * (1 + math.cos(math.pi * step / steps)), 1e-3)
        bits = _arm_bits(decoder, contexts, values, exact=False)
        opt.zero_grad(set_to_none=True)
        bits.backward()
        opt.step()


def quantised_copy(decoder: OverfitDecoder, weight_bits: list[int]) -> tuple[OverfitDecoder, list[np.ndarray]]:
    """A float64 copy whose parameters are integers × 2^-q (q per module group), and those integers."""
    exact = OverfitDecoder(decoder.cfg).double()
    exact.load_state_dict({k: v.double() for k, v in decoder.state_dict().items()})
    ints = []
    with torch.no_grad():
        for q, group in zip(weight_bits, group_parameters(exact)):
            for _, p in group:
                n = torch.round(p * (1 << q)).clamp_(-MAX_WEIGHT_INT, MAX_WEIGHT_INT)
                p.copy_(n / (1 << q))
                ints.append(n.to(torch.int64).reshape(-1).numpy())
    return exact, ints


def set_parameters(decoder: OverfitDecoder, weight_bits: list[int], ints: list[np.ndarray]) -> None:
    """Load decoded parameter integers into a float64 decoder (the decoder side of quantised_copy)."""
    with torch.no_grad():
        k = 0
        for q, group in zip(weight_bits, group_parameters(decoder)):
            for _, p in group:
                p.copy_(torch.from_numpy(ints[k].astype(np.float64)).view_as(p) / (1 << q))
                k += 1


def parameter_bits(ints: list[np.ndarray]) -> float:
    """The coded size of parameter integers (each tensor with its best zero-mean table), in bits."""
    from .codec import coding_tables

    tables = coding_tables()
    return float(sum(min(tables.zero_mean_costs(v)) for v in ints))


def quantise_decoder(decoder: OverfitDecoder, latents: list[torch.Tensor], image: np.ndarray,
                     glyph: np.ndarray | None, lam: float) -> FitResult:
    """Choose q per module group by D + λR in exact mode: coordinate descent from the finest step, each group's q
    lowered while the cost falls. The upsampler and synthesis change only D, the ARM only the latents' R, so each
    trial measures just the term it changes (plus the parameters' coded size)."""
    from .codec import exact_decode_image

    h, w = image.shape[:2]
    target = image.astype(np.float64) / 255
    ink, inks = _exact_inks(glyph, latents, decoder.cfg)

    def distortion(exact: OverfitDecoder) -> float:
        pixels = exact_decode_image(exact, latents, ink)
        return float(np.mean((pixels.astype(np.float64) / 255 - target) ** 2))

    def latent_bits(exact: OverfitDecoder) -> float:
        with torch.no_grad():
            return float(_rate_bits(exact, latents, inks, exact=True))

    bits = [MAX_WEIGHT_BITS] * len(MODULE_GROUPS)
    exact, ints = quantised_copy(decoder, bits)
    terms = {"d": distortion(exact), "r": latent_bits(exact)}
    best = terms["d"] + lam * (terms["r"] + parameter_bits(ints)) / (h * w)
    arm = MODULE_GROUPS.index("arm")
    for g in range(len(MODULE_GROUPS)):
        for q in sorted(WEIGHT_BITS_CANDIDATES, reverse=True)[1:]:
            trial = bits.copy()
            trial[g] = q
            exact, ints = quantised_copy(decoder, trial)
            changed = {"r": latent_bits(exact)} if g == arm else {"d": distortion(exact)}
            trial_terms = {**terms, **changed}
            cost = trial_terms["d"] + lam * (trial_terms["r"] + parameter_bits(ints)) / (h * w)
            if cost >= best:
                break
            best, bits, terms = cost, trial, trial_terms
    exact, ints = quantised_copy(decoder, bits)
    return FitResult(exact, latents, bits, ints, [], 0.0)


def _exact_inks(glyph: np.ndarray | None, latents: list[torch.Tensor], cfg: OverfitConfig):
    if glyph is None or not cfg.glyph_channels:
        return None, [None] * len(latents)
    ink = glyph_ink(glyph)
    return ink, ink_pyramid(ink, [tuple(g.shape) for g in latents], exact=True)
