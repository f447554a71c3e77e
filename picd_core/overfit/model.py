"""The per-image decoder the overfitted codec fits: latent pyramid → learned upsampling → synthesis, plus the
autoregressive entropy model (ARM) of the latents.

One implementation serves fitting and decoding. Fitting runs it in float32 with gradients. Decoding (and the
encoder's final pass) runs it in *exact* mode: float64 tensors holding dyadic fixed-point numbers — weights are
integers × 2^-q, every activation is rounded to FRACTION_BITS fractional bits and clamped, so every product and
every partial sum is exactly representable in a double. Then the result does not depend on the order in which BLAS,
threads or a GPU add things up: any machine computes the same latents' probabilities and the same pixels, by
construction (tests/test_overfit.py decodes in other processes and thread counts).

Shapes: an image H×W; latent level l (0 = finest) is a 1-channel grid of ceil(H/2^l)×ceil(W/2^l) integers.
The ARM codes each level coarse to fine in four phases of its 2×2 polyphase lattice: a latent's context is its
already-decoded neighbours in the same level (earlier phases) and its parent's neighbourhood in the coarser level.
All latents of one phase depend only on earlier phases, so a phase decodes as one vectorised batch.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# Fixed point of exact mode: activations are integers × 2^-FRACTION_BITS with |a| <= ACTIVATION_LIMIT (22 bits);
# one layer's weights and bias are integers × 2^-q, q <= MAX_WEIGHT_BITS, |integer| <= MAX_WEIGHT_INT (15 bits).
# A dot product of <= 2^10 terms is then an integer multiple of 2^-(10+q) below 2^(22+15+10) = 2^47 of those units:
# exact in a double (53-bit mantissa) whatever the order of the additions.
FRACTION_BITS = 10
ACTIVATION_LIMIT = float(1 << 12)
MAX_WEIGHT_BITS = 12
MAX_WEIGHT_INT = (1 << 15) - 1
LATENT_LIMIT = 1 << 12  # a coded latent's magnitude (the entropy coder refuses more)
# Phases of the 2×2 lattice, in coding order: (row parity, column parity).
PHASES = ((0, 0), (1, 1), (0, 1), (1, 0))
SPATIAL_CONTEXT = 8  # same-level neighbours per latent (zero where the phase has fewer)
PARENT_OFFSETS = ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1))
# ARM output → table: log-scale is clamped to [LOG_SCALE_MIN, LOG_SCALE_MAX]; mean in quarter steps.
LOG_SCALE_MIN = -3.0
LOG_SCALE_MAX = 4.0
UPSAMPLING_TAPS = (-0.0234375, -0.0703125, 0.2265625, 0.8671875, 0.8671875, 0.2265625, -0.0703125, -0.0234375)
UPSAMPLING_BITS = 8


@dataclass(frozen=True)
class OverfitConfig:
    """Architecture of one image's decoder; written into the image layer (codec.py), so every field is format."""

    levels: int = 7
    synthesis_width: int = 16
    arm_width: int = 12
    glyph_channels: int = 0  # 1: the synthesis and the ARM also see the conditioning glyph's ink

    def __post_init__(self) -> None:
        if not (1 <= self.levels <= 8 and 2 <= self.synthesis_width <= 32 and 2 <= self.arm_width <= 32
                and self.glyph_channels in (0, 1)):
            raise ValueError(f"invalid overfit decoder configuration {self}")

    @property
    def arm_inputs(self) -> int:
        return SPATIAL_CONTEXT + len(PARENT_OFFSETS) + len(PHASES) - 1 + self.glyph_channels

    def to_dict(self) -> dict:
        return asdict(self)


def level_shapes(height: int, width: int, levels: int) -> list[tuple[int, int]]:
    return [(-(-height // (1 << l)), -(-width // (1 << l))) for l in range(levels)]


def _phase_offsets() -> list[list[tuple[int, int]]]:
    """Per phase, the SPATIAL_CONTEXT nearest same-level offsets (radius 2) that belong to earlier phases."""
    order = {p: i for i, p in enumerate(PHASES)}
    out = []
    for k, (py, px) in enumerate(PHASES):
        cands = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                 if (dy, dx) != (0, 0) and order[((py + dy) % 2, (px + dx) % 2)] < k]
        cands.sort(key=lambda o: (o[0] ** 2 + o[1] ** 2, o))
        out.append(cands[:SPATIAL_CONTEXT])
    return out


PHASE_OFFSETS = _phase_offsets()


def fixed(x: torch.Tensor) -> torch.Tensor:
    """Round to the fixed-point grid of exact mode (exact in float64: the scale is a power of two)."""
    scale = float(1 << FRACTION_BITS)
    return torch.mul(x, scale).add_(0.5).floor_().div_(scale).clamp_(-ACTIVATION_LIMIT, ACTIVATION_LIMIT)


class Upsampler(nn.Module):
    """Per level transition a learned separable 8-tap ×2 interpolation (bicubic at start), replicate borders."""

    def __init__(self, levels: int) -> None:
        super().__init__()
        taps = torch.tensor(UPSAMPLING_TAPS)
        self.kernels = nn.Parameter(taps.repeat(max(levels - 1, 1), 1))

    def up(self, x: torch.Tensor, l: int, shape: tuple[int, int], exact: bool) -> torch.Tensor:
        k = self.kernels[l]
        c = x.shape[1]
        x = F.pad(x, (2, 2, 2, 2), mode="replicate")
        # Separable: rows then columns, each a depthwise transposed 1-D convolution (stride 2).
        y = F.conv_transpose2d(x, k.view(1, 1, 8, 1).expand(c, 1, 8, 1).contiguous(), stride=(2, 1), padding=(3, 0),
                               groups=c)
        if exact:
            y = fixed(y)
        y = F.conv_transpose2d(y, k.view(1, 1, 1, 8).expand(c, 1, 1, 8).contiguous(), stride=(1, 2), padding=(0, 3),
                               groups=c)
        if exact:
            y = fixed(y)
        return y[:, :, 4 : 4 + shape[0], 4 : 4 + shape[1]]


class Synthesis(nn.Module):
    """1×1 MLP from the upsampled latent stack (+ glyph ink) to RGB, then two 3×3 residual refinements."""

    def __init__(self, cfg: OverfitConfig) -> None:
        super().__init__()
        w = cfg.synthesis_width
        self.l1 = nn.Conv2d(cfg.levels + cfg.glyph_channels, w, 1)
        self.l2 = nn.Conv2d(w, w, 1)
        self.l3 = nn.Conv2d(w, 3, 1)
        self.r1 = nn.Conv2d(3, 3, 3, padding=1, padding_mode="replicate")
        self.r2 = nn.Conv2d(3, 3, 3, padding=1, padding_mode="replicate")
        for conv in (self.r1, self.r2):
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)
        nn.init.constant_(self.l3.bias, 0.5)

    def forward(self, x: torch.Tensor, exact: bool) -> torch.Tensor:
        q = fixed if exact else (lambda t: t)
        x = q(F.relu(self.l1(x)))
        x = q(F.relu(self.l2(x)))
        x = q(self.l3(x))
        x = q(x + self.r1(x))
        x = q(x + self.r2(q(F.relu(x))))
        return x


class ContextModel(nn.Module):
    """The ARM: context → (mean, log scale) of a Laplace distribution, shared by every level and phase."""

    def __init__(self, cfg: OverfitConfig) -> None:
        super().__init__()
        w = cfg.arm_width
        self.l1 = nn.Linear(cfg.arm_inputs, w)
        self.l2 = nn.Linear(w, w)
        self.l3 = nn.Linear(w, 2)
        nn.init.zeros_(self.l3.weight)
        with torch.no_grad():
            self.l3.bias.copy_(torch.tensor([0.0, 0.0]))

    def forward(self, ctx: torch.Tensor, exact: bool) -> tuple[torch.Tensor, torch.Tensor]:
        q = fixed if exact else (lambda t: t)
        h = q(F.relu(self.l1(ctx)))
        h = q(F.relu(self.l2(h)) + h)
        out = q(self.l3(h))
        return out[..., 0], out[..., 1].clamp(LOG_SCALE_MIN, LOG_SCALE_MAX)


def phase_context(grid: torch.Tensor, parent: torch.Tensor | None, ink: torch.Tensor | None, phase: int) -> torch.Tensor:
    """Context rows [n, arm_inputs] of the latents of one phase of one level, in raster order of its sub-lattice.

    grid: [h, w] (only earlier phases are read), parent: [ceil(h/2), ceil(w/2)] or None (coarsest level),
    ink: [h, w] glyph ink at this level's resolution or None.
    """
    h, w = grid.shape
    py, px = PHASES[phase]
    sh, sw = -(-(h - py) // 2), -(-(w - px) // 2)
    padded = F.pad(grid[None, None], (2, 2, 2, 2))[0, 0]
    cols = []
    for dy, dx in PHASE_OFFSETS[phase]:
        y0, x0 = 2 + py + dy, 2 + px + dx
        cols.append(padded[y0 : y0 + 2 * sh - 1 : 2, x0 : x0 + 2 * sw - 1 : 2])
    zeros = grid.new_zeros(sh, sw)
    cols += [zeros] * (SPATIAL_CONTEXT - len(PHASE_OFFSETS[phase]))
    if parent is None:
        cols += [zeros] * len(PARENT_OFFSETS)
    else:
        pp = F.pad(parent[None, None], (1, 1, 1, 1))[0, 0]
        for dy, dx in PARENT_OFFSETS:
            cols.append(pp[1 + dy : 1 + dy + sh, 1 + dx : 1 + dx + sw])
    for k in range(1, len(PHASES)):
        cols.append(torch.full_like(zeros, 1.0 if k == phase else 0.0))
    if ink is not None:
        cols.append(ink[py::2, px::2][:sh, :sw])
    return torch.stack(cols, dim=-1).reshape(sh * sw, len(cols))


def glyph_ink(glyph: np.ndarray) -> torch.Tensor:
    """The glyph image (uint8, white paper, black text) as ink in [0, 1) in float64: (255 - glyph) / 256 is dyadic,
    so the encoder's fit, its exact decode and the decoder all see the same values."""
    return torch.from_numpy(255.0 - glyph.astype(np.float64)) / 256


def ink_pyramid(ink: torch.Tensor | None, shapes: list[tuple[int, int]], exact: bool) -> list[torch.Tensor | None]:
    """The glyph ink [H, W] (dyadic: (255 - glyph) / 256) box-averaged to every level (zero beyond the image)."""
    if ink is None:
        return [None] * len(shapes)
    out = []
    for l, (h, w) in enumerate(shapes):
        f = 1 << l
        x = F.pad(ink[None, None], (0, w * f - ink.shape[1], 0, h * f - ink.shape[0]))
        x = F.avg_pool2d(x, f)[0, 0] if f > 1 else x[0, 0]
        out.append(fixed(x) if exact else x)
    return out


class OverfitDecoder(nn.Module):
    """Everything the image layer transmits except the latents themselves: upsampler, synthesis, ARM."""

    def __init__(self, cfg: OverfitConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.upsampler = Upsampler(cfg.levels)
        self.synthesis = Synthesis(cfg)
        self.arm = ContextModel(cfg)

    def reconstruct(self, latents: list[torch.Tensor], ink: torch.Tensor | None, exact: bool = False) -> torch.Tensor:
        """Latent grids (finest first, each [h_l, w_l]) → image [1, 3, H, W] (unclamped)."""
        shapes = [tuple(g.shape) for g in latents]
        stack = latents[-1][None, None]
        for l in range(len(latents) - 2, -1, -1):
            stack = self.upsampler.up(stack, l, shapes[l], exact)
            stack = torch.cat([stack, latents[l][None, None]], dim=1)
        if ink is not None and self.cfg.glyph_channels:
            stack = torch.cat([stack, ink[None, None]], dim=1)
        return self.synthesis(stack, exact)

    def level_params(self, latents: list[torch.Tensor], l: int, inks: list, exact: bool = False):
        """(mean, log scale) of every latent of level l, phase by phase: lists of [n_phase] tensors."""
        grid = latents[l]
        parent = latents[l + 1] if l + 1 < len(latents) else None
        means, scales = [], []
        for phase in range(len(PHASES)):
            ctx = phase_context(grid, parent, inks[l], phase)
            mu, s = self.arm(ctx, exact)
            means.append(mu)
            scales.append(s)
        return means, scales


def phase_values(grid: torch.Tensor, phase: int) -> torch.Tensor:
    py, px = PHASES[phase]
    return grid[py::2, px::2].reshape(-1)


def set_phase_values(grid: torch.Tensor, phase: int, values: torch.Tensor) -> None:
    py, px = PHASES[phase]
    sub = grid[py::2, px::2]
    sub.copy_(values.view_as(sub))


def laplace_bits(y: torch.Tensor, mu: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """-log2 P(y) for integer-valued (or noisy) y under a Laplace(mu, exp(log_scale)) discretised to unit bins."""
    b = torch.exp(log_scale)
    d = (y - mu).abs()
    # |d| >= 1/2: P = e^{-(|d|-1/2)/b} (1 - e^{-1/b}) / 2, taken in the log domain (no underflow for small b);
    # |d| < 1/2:  P = 1 - (e^{-(1/2-|d|)/b} + e^{-(1/2+|d|)/b}) / 2. Both branches stay finite for every input, so
    # torch.where's unused branch cannot poison the gradient.
    log_tail = -(d - 0.5).clamp(min=0) / b + math.log(0.5) + torch.log(-torch.expm1(-1 / b))
    centre = 1 - 0.5 * (torch.exp(-(0.5 - d).clamp(min=0) / b) + torch.exp(-(0.5 + d) / b))
    log_p = torch.where(d < 0.5, torch.log(centre.clamp(min=2 ** -30)), log_tail)
    return log_p.clamp(min=-30 * math.log(2)) / -math.log(2)


def macs_per_pixel(cfg: OverfitConfig) -> float:
    """Multiply–accumulates per image pixel of one decode (synthesis + upsampling + ARM)."""
    w = cfg.synthesis_width
    synth = (cfg.levels + cfg.glyph_channels) * w + w * w + w * 3 + 2 * 27 * 3
    latents_per_pixel = sum(4.0 ** -l for l in range(cfg.levels))
    arm = (cfg.arm_inputs * cfg.arm_width + cfg.arm_width ** 2 + cfg.arm_width * 2) * latents_per_pixel
    # Upsampling: 8 taps per output sample in each of two passes, for each channel stacked so far at each level.
    up = sum(16 * (cfg.levels - 1 - l) * 4.0 ** -l for l in range(cfg.levels - 1))
    return synth + arm + up


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


__all__ = ["OverfitConfig", "OverfitDecoder", "level_shapes", "laplace_bits", "fixed", "macs_per_pixel",
           "phase_context", "phase_values", "set_phase_values", "ink_pyramid", "glyph_ink", "PHASES", "LATENT_LIMIT"]
