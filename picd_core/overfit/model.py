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
from typing import Callable

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
SYNTHESIS_BAND_ROWS = 32  # rows per band of the exact synthesis (Synthesis.exact_bands)
ARM_CHUNK_ROWS = 8192     # latents per ARM call when coding a phase (OverfitDecoder.phase_params)


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
        return SPATIAL_CONTEXT + len(PARENT_OFFSETS) + len(PHASES) - 1 + self.glyph_channels  # = INK_COLUMN + ink

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
    return fixed_(x.clone())


def fixed_(x: torch.Tensor, low: float = -ACTIVATION_LIMIT) -> torch.Tensor:
    """fixed() in place, for a temporary x (the decoder's hot path: one image-sized allocation fewer per layer).
    low = 0 gives fixed(relu(x)): rounding keeps the sign, so clamping at 0 after it is the ReLU before it."""
    scale = float(1 << FRACTION_BITS)
    return x.mul_(scale).add_(0.5).floor_().div_(scale).clamp_(low, ACTIVATION_LIMIT)


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

    def exact_rows(self, x: torch.Tensor, l: int, shape: tuple[int, int], r0: int, r1: int) -> torch.Tensor:
        """Rows [r0, r1) of up(x, l, shape, exact=True), computed polyphase: an output sample is 4 taps of the
        replicate-padded input (even ones k7 k5 k3 k1, odd ones k6 k4 k2 k0). The same exact sums as the transposed
        convolutions, without their image-sized intermediates; only the input rows a band needs are read."""
        k = self.kernels[l]
        y = fixed_(_upsample_axis(x, k, 2, r0, r1))
        return fixed_(_upsample_axis(y, k, 3, 0, shape[1]))


def _upsample_axis(x: torch.Tensor, k: torch.Tensor, dim: int, o0: int, o1: int) -> torch.Tensor:
    """Samples [o0, o1) along `dim` of the ×2 interpolation of x by the 8 taps k (Upsampler.up's arithmetic).
    Output 2m is k7·p[m] + k5·p[m+1] + k3·p[m+2] + k1·p[m+3] and 2m+1 is k6·p[m+1] + k4·p[m+2] + k2·p[m+3] + k0·p[m+4],
    p[i] = x[clamp(i - 2)] (replicate padding by 2)."""
    m0, m1 = o0 // 2, (o1 + 1) // 2
    index = (torch.arange(m0, m1 + 4) - 2).clamp_(0, x.shape[dim] - 1)
    p = x.index_select(dim, index.to(x.device))
    n = m1 - m0

    def tap(i: int, j: int) -> torch.Tensor:
        return p.narrow(dim, j, n) * k[i]

    even = tap(7, 0) + tap(5, 1) + tap(3, 2) + tap(1, 3)
    odd = tap(6, 1) + tap(4, 2) + tap(2, 3) + tap(0, 4)
    both = torch.stack([even, odd], dim=dim + 1)  # interleave: [..., n, 2, ...] → [..., 2n, ...]
    shape = list(even.shape)
    shape[dim] = 2 * n
    return both.reshape(shape).narrow(dim, o0 - 2 * m0, o1 - o0)


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

    def exact_bands(self, rows: Callable[[int, int], torch.Tensor], height: int, width: int) -> torch.Tensor:
        """forward(x, exact=True) computed in bands of rows, `rows(r0, r1)` giving rows [r0, r1) of x: each band
        with the two rows of context its 3×3 refinements read, so its activations stay in cache instead of streaming
        a dozen image-sized planes through memory. The arithmetic is exact, so the pixels are those of the
        whole-image pass (tests/test_overfit.py)."""
        out = None
        for a in range(0, height, SYNTHESIS_BAND_ROWS):
            b = min(a + SYNTHESIS_BAND_ROWS, height)
            r0, r1 = max(a - 2, 0), min(b + 2, height)
            t = fixed_(self.l1(rows(r0, r1)), low=0.0)
            t = fixed_(self.l2(t), low=0.0)
            t = fixed_(self.l3(t))
            t, r0, r1 = self._refine_rows(t, r0, r1, height, self.r1, lambda v: v)
            t, r0, r1 = self._refine_rows(t, r0, r1, height, self.r2, lambda v: fixed_(F.relu(v)))
            if out is None:
                out = t.new_empty(t.shape[0], 3, height, width)
            out[:, :, a:b] = t[:, :, a - r0 : b - r0]  # t holds rows [r0, r1) ⊇ [a, b): more at the image's edges
        return out

    @staticmethod
    def _refine_rows(t: torch.Tensor, r0: int, r1: int, height: int, conv: nn.Conv2d, pre) -> tuple:
        """fixed(t + conv(pre(t))) for rows [r0, r1) of the image: replicate padding where the band meets the image's
        top or bottom (as the whole-image pass pads), one row of the band lost to context on each inner side."""
        top, bottom = int(r0 == 0), int(r1 == height)
        padded = F.pad(pre(t), (1, 1, top, bottom), mode="replicate")
        residual = F.conv2d(padded, conv.weight, conv.bias)
        kept = t[:, :, 1 - top : t.shape[2] - 1 + bottom]
        return fixed_(residual.add_(kept)), r0 + 1 - top, r1 - 1 + bottom


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
        return self._head(self.l1(ctx), exact)

    def forward_compact(self, ctx: torch.Tensor, columns: list[int], phase: int,
                        exact: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """forward() of full context rows, given only their informative columns (compact_phase_context): a zero
        column adds nothing, the phase flag adds its weight column to the bias. Exact mode's sums are exact in any
        order, so the result is bit for bit forward()'s."""
        weight, bias = self.l1.weight, self.l1.bias
        if phase:
            bias = bias + weight[:, PHASE_FLAG_COLUMN + phase - 1]
        return self._head(F.linear(ctx, weight[:, columns], bias), exact)

    def _head(self, pre: torch.Tensor, exact: bool) -> tuple[torch.Tensor, torch.Tensor]:
        if exact:  # the same arithmetic as below, rounded in place (every operand here is a temporary)
            h = fixed_(pre, low=0.0)
            h = fixed_(F.relu(self.l2(h)).add_(h))
            out = fixed_(self.l3(h))
        else:
            h = F.relu(pre)
            h = F.relu(self.l2(h)) + h
            out = self.l3(h)
        return out[..., 0], out[..., 1].clamp(LOG_SCALE_MIN, LOG_SCALE_MAX)


PARENT_COLUMN = SPATIAL_CONTEXT                        # context row layout: spatial, parent, phase flags, ink
PHASE_FLAG_COLUMN = PARENT_COLUMN + len(PARENT_OFFSETS)  # flag of phase k >= 1 at PHASE_FLAG_COLUMN + k - 1
INK_COLUMN = PHASE_FLAG_COLUMN + len(PHASES) - 1


def _context_columns(grid: torch.Tensor, parent: torch.Tensor | None, ink: torch.Tensor | None,
                     phase: int) -> tuple[list[int], list[torch.Tensor], tuple[int, int]]:
    """The informative columns of one phase's context rows: (their indices in a full row, the [sh, sw] columns,
    (sh, sw)). The rest of a full row is zeros (neighbours the phase lacks, the coarsest level's parent) and the
    phase flags."""
    h, w = grid.shape
    py, px = PHASES[phase]
    sh, sw = -(-(h - py) // 2), -(-(w - px) // 2)
    padded = F.pad(grid[None, None], (2, 2, 2, 2))[0, 0]
    index, cols = [], []
    for k, (dy, dx) in enumerate(PHASE_OFFSETS[phase]):
        y0, x0 = 2 + py + dy, 2 + px + dx
        index.append(k)
        cols.append(padded[y0 : y0 + 2 * sh - 1 : 2, x0 : x0 + 2 * sw - 1 : 2])
    if parent is not None:
        pp = F.pad(parent[None, None], (1, 1, 1, 1))[0, 0]
        for k, (dy, dx) in enumerate(PARENT_OFFSETS):
            index.append(PARENT_COLUMN + k)
            cols.append(pp[1 + dy : 1 + dy + sh, 1 + dx : 1 + dx + sw])
    if ink is not None:
        index.append(INK_COLUMN)
        cols.append(ink[py::2, px::2][:sh, :sw])
    return index, cols, (sh, sw)


def phase_context(grid: torch.Tensor, parent: torch.Tensor | None, ink: torch.Tensor | None, phase: int) -> torch.Tensor:
    """Context rows [n, arm_inputs] of the latents of one phase of one level, in raster order of its sub-lattice.

    grid: [h, w] (only earlier phases are read), parent: [ceil(h/2), ceil(w/2)] or None (coarsest level),
    ink: [h, w] glyph ink at this level's resolution or None.
    """
    index, cols, (sh, sw) = _context_columns(grid, parent, ink, phase)
    zeros = grid.new_zeros(sh, sw)
    full = dict(zip(index, cols))
    for k in range(1, len(PHASES)):
        full[PHASE_FLAG_COLUMN + k - 1] = torch.full_like(zeros, 1.0 if k == phase else 0.0)
    width = INK_COLUMN + (ink is not None)
    return torch.stack([full.get(i, zeros) for i in range(width)], dim=-1).reshape(sh * sw, width)


def compact_phase_context(grid: torch.Tensor, parent: torch.Tensor | None, ink: torch.Tensor | None,
                          phase: int) -> tuple[torch.Tensor, list[int]]:
    """phase_context without its zero and phase-flag columns, and the indices of the columns it keeps: what the
    decoder feeds ContextModel.forward_compact (a quarter to a half less work per latent, the same exact result)."""
    index, cols, (sh, sw) = _context_columns(grid, parent, ink, phase)
    if not cols:  # the coarsest level's first phase: nothing decoded before it, the ARM sees only its bias
        return grid.new_zeros(sh * sw, 0), index
    return torch.stack(cols, dim=-1).reshape(sh * sw, len(cols)), index


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
        return self._reconstruct_exact(latents, ink) if exact else self.reconstruct_whole(latents, ink, exact=False)

    def reconstruct_whole(self, latents: list[torch.Tensor], ink: torch.Tensor | None, exact: bool) -> torch.Tensor:
        """The whole-image pass (the fit's, differentiable); with exact=True the reference the banded exact pass is
        tested against."""
        shapes = [tuple(g.shape) for g in latents]
        stack = latents[-1][None, None]
        for l in range(len(latents) - 2, -1, -1):
            stack = self.upsampler.up(stack, l, shapes[l], exact)
            stack = torch.cat([stack, latents[l][None, None]], dim=1)
        if ink is not None and self.cfg.glyph_channels:
            stack = torch.cat([stack, ink[None, None]], dim=1)
        return self.synthesis(stack, exact)

    def reconstruct_rows(self, latents: list[torch.Tensor], ink: torch.Tensor | None, a: int, b: int) -> torch.Tensor:
        """Rows [a, b) of reconstruct_whole(exact=False), differentiable: the coarse levels whole, the last ×2
        upsampling and the synthesis only for the band plus the two rows of context its 3×3 refinements read. The
        fit trains on such bands to spend its iterations' time where the cost is (fit.FIT_ROW_SHARE)."""
        shapes = [tuple(g.shape) for g in latents]
        height, width = shapes[0]
        r0, r1 = max(a - 2, 0), min(b + 2, height)
        stack = latents[-1][None, None]
        for l in range(len(latents) - 2, 0, -1):
            stack = torch.cat([self.upsampler.up(stack, l, shapes[l], False), latents[l][None, None]], dim=1)
        parts = [latents[0][None, None, r0:r1]]
        if len(latents) > 1:
            k = self.upsampler.kernels[0]
            parts.insert(0, _upsample_axis(_upsample_axis(stack, k, 2, r0, r1), k, 3, 0, width))
        if ink is not None and self.cfg.glyph_channels:
            parts.append(ink[None, None, r0:r1])
        return self.synthesis(torch.cat(parts, dim=1), False)[:, :, a - r0 : b - r0]

    def _reconstruct_exact(self, latents: list[torch.Tensor], ink: torch.Tensor | None) -> torch.Tensor:
        """reconstruct(exact=True): the coarse levels' stack whole, then the last ×2 upsampling and the synthesis
        together in bands of rows (the full-resolution stack is never held at once)."""
        shapes = [tuple(g.shape) for g in latents]
        up = self.upsampler
        stack = latents[-1][None, None]
        for l in range(len(latents) - 2, 0, -1):
            stack = torch.cat([up.exact_rows(stack, l, shapes[l], 0, shapes[l][0]), latents[l][None, None]], dim=1)
        glyph = ink is not None and self.cfg.glyph_channels

        def rows(r0: int, r1: int) -> torch.Tensor:
            parts = [latents[0][None, None, r0:r1]]
            if len(latents) > 1:
                parts.insert(0, up.exact_rows(stack, 0, shapes[0], r0, r1))
            if glyph:
                parts.append(ink[None, None, r0:r1])
            return torch.cat(parts, dim=1)

        return self.synthesis.exact_bands(rows, *shapes[0])

    def level_params(self, latents: list[torch.Tensor], l: int, inks: list, exact: bool = False):
        """(mean, log scale) of every latent of level l, phase by phase: lists of [n_phase] tensors."""
        parent = latents[l + 1] if l + 1 < len(latents) else None
        params = [self.phase_params(latents[l], parent, inks[l], phase, exact) for phase in range(len(PHASES))]
        return [mu for mu, _ in params], [s for _, s in params]

    def phase_params(self, grid: torch.Tensor, parent: torch.Tensor | None, ink: torch.Tensor | None, phase: int,
                     exact: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, log scale) of the latents of one phase of one level: what the encoder codes and the decoder
        decodes them with (the earlier phases of `grid` and all of `parent` must hold their values)."""
        ctx, columns = compact_phase_context(grid, parent, ink, phase)
        if ctx.shape[0] <= ARM_CHUNK_ROWS:
            return self.arm.forward_compact(ctx, columns, phase, exact)
        # In chunks of rows (each latent's parameters depend on its row alone): the hidden activations stay in cache.
        parts = [self.arm.forward_compact(ctx[i : i + ARM_CHUNK_ROWS], columns, phase, exact)
                 for i in range(0, ctx.shape[0], ARM_CHUNK_ROWS)]
        return torch.cat([mu for mu, _ in parts]), torch.cat([s for _, s in parts])


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
           "phase_context", "compact_phase_context", "phase_values", "set_phase_values", "ink_pyramid", "glyph_ink", "PHASES", "LATENT_LIMIT"]
