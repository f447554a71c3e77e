"""The decoder's synthesis transform, computed so that the decoded pixels cannot depend on the thread count.

Why: PyTorch's float32 CPU kernels split their sums between threads, and how they split them depends on the thread
count (oneDNN's 1x1 convolution in the inverse GDN did), so one .picd file decoded with 1 and with 2 threads differed
by a pixel. Running the same kernels in float64 only makes that rarer (a sum can still land either side of a rounding
boundary), and pinning the thread count is process-wide state that other threads of the host (ComfyUI) share, and
gives up the other cores.

What this does instead: every sum is exact. Before each convolution its input is rounded to integers times one power
of two for the tensor, and the weights to integers times one power of two per output channel, with few enough bits
that every product and every partial sum is an integer below 2**52, which float64 holds exactly. An exact sum is the
same in any order, so no thread count, blocking, SIMD width or FMA can change it. Everything between the sums is
elementwise and correctly rounded in IEEE arithmetic (add, multiply, sqrt, floor); GELU reads a table of math.erf
with linear interpolation, because torch's vectorised and scalar erf differ in the last bit and the thread count
decides which elements take which path. The rounding is about 2**-20 of each tensor's peak, the order of float32's
own noise, so the pixels match the float32 synthesis except where a value sat on a rounding boundary.

It runs on the CPU whatever device the analysis uses (an accelerator's convolution may pick FFT or Winograd
algorithms, which are not exact); the entropy part of the bitstream is untouched. Cost, measured on a loaded 2-core
machine with 1 thread: the synthesis of a 768x512 image takes 0.8-1.0 s instead of 0.4-0.5 s in float32, a whole
decode 1.2 s instead of 0.7 s; a 2048x2048 tile peaks at 3.2 GB instead of 2.1 GB.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

SUM_BITS = 52  # |every product and partial sum| <= 2**52 < 2**53: exact in float64
WEIGHT_BITS = 20
BAND_ELEMENTS = 1 << 22  # bounds one convolution band's im2col buffer and GELU's temporaries (32 MiB each)
_GELU_STEP_BITS = 10  # table step 2**-10 over [-8, 8]: interpolation error below 3e-8
_GELU_RANGE = 8


def _fixed(x: torch.Tensor, bits: int, in_place: bool) -> tuple[torch.Tensor, int]:
    """(q, e) with x ~ q * 2**e, q integer-valued and |q| <= 2**bits; the peak |x| does not depend on sum order.
    in_place: x may be overwritten (it is not needed afterwards), which saves a copy of the largest tensors."""
    peak = max(float(x.max()), -float(x.min())) if x.numel() else 0.0
    if not 2.0**-900 < peak < math.inf:  # all zero (an empty glyph), vanishingly small, or not finite
        return (x.round_() if in_place else torch.round(x)), 0
    e = math.frexp(peak)[1] - bits  # peak < 2**frexp exponent
    return (x.mul_(2.0**-e) if in_place else x.mul(2.0**-e)).round_(), e


class _FixedWeight:
    """A convolution weight as integers times a power of two per output channel (dim `out_dim` of the weight)."""

    def __init__(self, weight: torch.Tensor, out_dim: int, bias: torch.Tensor | None = None) -> None:
        weight = weight.detach().to("cpu", torch.float64)
        other = [d for d in range(weight.dim()) if d != out_dim]
        peaks = weight.abs().amax(dim=other).tolist()
        exps = [math.frexp(p)[1] - WEIGHT_BITS if p > 0 else 0 for p in peaks]
        shape = [1] * weight.dim()
        shape[out_dim] = len(exps)
        self.q = torch.round(weight * torch.tensor([2.0**-e for e in exps], dtype=torch.float64).reshape(shape))
        self.scale = torch.tensor([2.0**e for e in exps], dtype=torch.float64).reshape(1, -1, 1, 1)
        # Terms per output value (in_channels * kernel area) bound the bits left for the input.
        self.input_bits = SUM_BITS - WEIGHT_BITS - math.ceil(math.log2(weight.numel() // len(exps)))
        self.bias = None if bias is None else bias.detach().to("cpu", torch.float64).reshape(1, -1, 1, 1)

    def apply(self, x: torch.Tensor, exact_sum, in_place: bool = False) -> torch.Tensor:
        """exact_sum(q, weights) convolves integer-valued tensors; the result is rescaled, then the bias added."""
        q, e = _fixed(x, self.input_bits, in_place)
        out = exact_sum(q, self.q).mul_(self.scale * 2.0**e)
        return out if self.bias is None else out.add_(self.bias)


def _rows_per_band(per_row: int) -> int:
    return max(1, BAND_ELEMENTS // max(1, per_row))


def _conv_sum(q: torch.Tensor, w: torch.Tensor, stride: int, pad: int) -> torch.Tensor:
    """F.conv2d with zero padding, in bands of output rows so the im2col buffer stays small."""
    k = w.shape[2]
    if k == 1 and stride == 1 and pad == 0:  # a matrix product: no im2col to bound
        _, c, h, wid = q.shape
        return (w.reshape(w.shape[0], c) @ q.reshape(c, h * wid)).reshape(1, -1, h, wid)
    out_h = (q.shape[2] + 2 * pad - k) // stride + 1
    out_w = (q.shape[3] + 2 * pad - k) // stride + 1
    rows = _rows_per_band(w.shape[1] * k * k * out_w)
    if rows >= out_h:
        return F.conv2d(q, w, stride=stride, padding=pad)
    q = F.pad(q, (pad,) * 4)
    bands = [F.conv2d(q[:, :, a * stride : (min(out_h, a + rows) - 1) * stride + k], w, stride=stride)
             for a in range(0, out_h, rows)]
    return torch.cat(bands, dim=2)


class _Conv:
    """nn.Conv2d with a square kernel and symmetric padding."""

    def __init__(self, layer: nn.Conv2d) -> None:
        self.weight = _FixedWeight(layer.weight, 0, layer.bias)
        self.stride, self.pad = layer.stride[0], layer.padding[0]

    def __call__(self, x: torch.Tensor, in_place: bool = False) -> torch.Tensor:
        return self.weight.apply(x, lambda q, w: _conv_sum(q, w, self.stride, self.pad), in_place)


class _Deconv:
    """nn.ConvTranspose2d by overlap-add of bands of input rows (exact sums make the split invisible)."""

    def __init__(self, layer: nn.ConvTranspose2d) -> None:
        self.weight = _FixedWeight(layer.weight, 1, layer.bias)
        self.k, self.stride = layer.kernel_size[0], layer.stride[0]
        self.pad, self.out_pad = layer.padding[0], layer.output_padding[0]

    def _sum(self, q: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        k, s = self.k, self.stride
        _, _, h, wid = q.shape
        full = q.new_zeros(1, w.shape[1], (h - 1) * s + k, (wid - 1) * s + k)
        rows = _rows_per_band(w.shape[1] * k * k * wid)
        if rows >= h:
            return F.conv_transpose2d(q, w, stride=s, padding=self.pad, output_padding=self.out_pad)
        for a in range(0, h, rows):
            part = F.conv_transpose2d(q[:, :, a : a + rows], w, stride=s)
            full[:, :, a * s : a * s + part.shape[2]] += part
        out_h = (h - 1) * s - 2 * self.pad + k + self.out_pad
        out_w = (wid - 1) * s - 2 * self.pad + k + self.out_pad
        return full[:, :, self.pad : self.pad + out_h, self.pad : self.pad + out_w]

    def __call__(self, x: torch.Tensor, in_place: bool = False) -> torch.Tensor:
        return self.weight.apply(x, self._sum, in_place)


class _InverseGDN:
    """x * sqrt(beta + gamma * x^2), the gamma sum exact."""

    def __init__(self, gdn: nn.Module) -> None:
        with torch.no_grad():  # the float32 values the trained model computes
            beta = gdn.beta_bound(gdn.beta) ** 2 - gdn.pedestal
            gamma = gdn.gamma_bound(gdn.gamma) ** 2 - gdn.pedestal
        self.norm = _FixedWeight(gamma[:, :, None, None], 0, beta)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm.apply(x * x, lambda q, w: _conv_sum(q, w, 1, 0), in_place=True).sqrt_().mul_(x)


class _Gelu:
    """x * Phi(x) with Phi from a table of math.erf, linearly interpolated (elementwise, IEEE-exact steps only)."""

    def __init__(self) -> None:
        steps = 1 << _GELU_STEP_BITS
        points = [i / steps - _GELU_RANGE for i in range(2 * _GELU_RANGE * steps + 1)]
        self.table = torch.tensor([0.5 * (1.0 + math.erf(p / math.sqrt(2.0))) for p in points], dtype=torch.float64)
        self.slope = self.table[1:] - self.table[:-1]
        self.steps = steps

    def _gelu(self, x: torch.Tensor) -> torch.Tensor:
        last = self.slope.numel()
        t = (x * self.steps + _GELU_RANGE * self.steps).clamp(0, last)
        i = torch.floor(t).clamp(max=last - 1)
        frac = t - i
        i = i.long()
        return x * (self.table[i] + frac * self.slope[i])

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.numel() <= BAND_ELEMENTS:
            return self._gelu(x)
        # In pieces, to bound the temporaries; elementwise, so the split cannot change a value.
        return torch.cat([self._gelu(part) for part in x.reshape(-1).split(BAND_ELEMENTS)]).reshape(x.shape)


class ExactSynthesis:
    """GlyphELIC.synthesise (with its glyph encoder) on float64 CPU tensors, thread-count independent."""

    def __init__(self, model: nn.Module) -> None:
        self.glyph_stages = [_Conv(layer) for layer in model.glyph_encoder.stages]
        self.layers = [_Deconv(layer) for layer in model.synthesis]
        self.gdn = [_InverseGDN(g) for g in model.synthesis_gdn]
        self.glyph_proj = [_Conv(p) for p in model.glyph_to_synthesis]
        self.inverse_gain = model.inverse_gain.detach().to("cpu", torch.float64).abs()
        self.gelu = _Gelu()

    def glyph_features(self, ink: torch.Tensor) -> list[torch.Tensor]:
        feats, h = [], ink
        for i, stage in enumerate(self.glyph_stages):
            h = stage(ink) if i == 0 else stage(self.gelu(h), in_place=True)
            feats.append(h)
        return feats

    @torch.no_grad()
    def __call__(self, y_hat: torch.Tensor, ink: torch.Tensor, rate: int) -> torch.Tensor:
        """y_hat [1,M,h,w], ink [1,1,16h,16w], both float64 on the CPU -> [1,3,16h,16w] float64 (not clamped)."""
        feats = self.glyph_features(ink)
        h = y_hat * self.inverse_gain[rate][None, :, None, None]
        for i, layer in enumerate(self.layers):  # each input is used once: it may be overwritten
            h = layer(h, in_place=True)
            if i < 3:
                h = self.gdn[i](h).add_(self.glyph_proj[i](feats[2 - i], in_place=True))
        return h
