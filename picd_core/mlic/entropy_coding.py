"""The learned codec's entropy coding, in our own code: a 64-bit-state rANS coder and the two entropy models.

Replaces the CompressAI parts the codec used (its rANS extension, EntropyBottleneck, GaussianConditional and
LowerBound), so the pack installs nothing whose metadata conflicts with a host environment (INSTALL_NOTES.md).

Stream format (kept identical to what the codec wrote with CompressAI 1.2.8, so existing .picd files still decode and
new files decode with either): rANS with a 64-bit state, 32-bit output words (little-endian), 16-bit probability
precision, lower bound L = 2^31. Symbols are pushed in reverse, so the decoder reads them in order. The last CDF entry
of every table is an escape: a value v outside the table is coded as the escape, then r = -2v-1 (below the table) or
r = 2(v-max) (at or above its last entry) in 4-bit bypass chunks, low chunk first, preceded by the number of chunks
(itself in 4-bit pieces, where 15 means "add the next piece"). The stream starts with the final state (low word, high word).

The entropy models keep CompressAI's parameter and buffer names, so weights trained with it load unchanged.
"""

from __future__ import annotations

import bisect
import math
from statistics import NormalDist

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import BitstreamError

PRECISION = 16
BYPASS_BITS = 4
_BYPASS_MAX = (1 << BYPASS_BITS) - 1
_L = 1 << 31
_MASK32 = 0xFFFFFFFF
_XMAX_UNIT = (_L >> PRECISION) << 32  # renormalise before coding a symbol of frequency f when x >= _XMAX_UNIT * f
_XMAX_BYPASS = _XMAX_UNIT * (1 << (PRECISION - BYPASS_BITS))


# ------------------------------------------------------------------------------------------------ rANS
class _Tables:
    """The CDF tables of one encode/decode call, converted once (callers pass the same lists for many calls)."""

    def __init__(self, cdfs, sizes, offsets) -> None:
        self.source = (cdfs, sizes, offsets)
        self.sizes = np.asarray(sizes, dtype=np.int64).reshape(-1)
        self.offsets = np.asarray(offsets, dtype=np.int64).reshape(-1)
        width = max(len(c) for c in cdfs)
        self.cdf = np.zeros((len(cdfs), width), dtype=np.int64)
        for i, c in enumerate(cdfs):
            self.cdf[i, : len(c)] = c
        if len(self.sizes) != len(cdfs) or len(self.offsets) != len(cdfs) or (self.sizes < 2).any() \
                or (self.sizes > width).any():
            raise ValueError("inconsistent entropy tables")
        self.rows = [list(map(int, c[: int(n)])) for c, n in zip(cdfs, self.sizes)]

    def same(self, cdfs, sizes, offsets) -> bool:
        return self.source[0] is cdfs and self.source[1] is sizes and self.source[2] is offsets


def _tables(cache: list, cdfs, sizes, offsets) -> _Tables:
    if not cache or not cache[0].same(cdfs, sizes, offsets):
        cache[:] = [_Tables(cdfs, sizes, offsets)]
    return cache[0]


class BufferedRansEncoder:
    """encode_with_indexes(...) any number of times, then flush() -> bytes."""

    def __init__(self) -> None:
        self._starts: list[np.ndarray] = []
        self._freqs: list[np.ndarray] = []  # 0 marks a 4-bit bypass entry (its value is in starts)
        self._cache: list = []

    def encode_with_indexes(self, symbols, indexes, cdfs, cdf_sizes, offsets) -> None:
        t = _tables(self._cache, cdfs, cdf_sizes, offsets)
        sym = np.asarray(symbols, dtype=np.int64).reshape(-1)
        idx = np.asarray(indexes, dtype=np.int64).reshape(-1)
        if sym.shape != idx.shape:
            raise ValueError("symbols and indexes differ in length")
        if idx.size == 0:
            return
        if idx.min() < 0 or idx.max() >= len(t.sizes):
            raise ValueError("CDF index out of range")
        value = sym - t.offsets[idx]
        max_value = t.sizes[idx] - 2
        below, above = value < 0, value >= max_value
        raw = np.where(below, -2 * value - 1, 2 * (value - max_value))
        value = np.where(below | above, max_value, value)
        start = t.cdf[idx, value]
        freq = t.cdf[idx, value + 1] - start
        escapes = np.flatnonzero(below | above)
        if escapes.size == 0:
            self._starts.append(start)
            self._freqs.append(freq)
            return
        # Each escape is followed by its bypass chunks: the chunk count (in 4-bit pieces), then the raw value.
        extras: list[list[int]] = []
        for r in raw[escapes].tolist():
            n = 0
            while r >> (n * BYPASS_BITS):
                n += 1
            chunks, count = [], n
            while count >= _BYPASS_MAX:
                chunks.append(_BYPASS_MAX)
                count -= _BYPASS_MAX
            chunks.append(count)
            chunks += [(r >> (j * BYPASS_BITS)) & _BYPASS_MAX for j in range(n)]
            extras.append(chunks)
        grow = np.zeros(sym.size, dtype=np.int64)
        grow[escapes] = [len(e) for e in extras]
        position = np.arange(sym.size) + np.concatenate(([0], np.cumsum(grow)[:-1]))
        total = sym.size + int(grow.sum())
        out_start = np.zeros(total, dtype=np.int64)
        out_freq = np.zeros(total, dtype=np.int64)
        out_start[position] = start
        out_freq[position] = freq
        for at, chunks in zip(position[escapes].tolist(), extras):
            out_start[at + 1: at + 1 + len(chunks)] = chunks
        self._starts.append(out_start)
        self._freqs.append(out_freq)

    def flush(self) -> bytes:
        starts = np.concatenate(self._starts).tolist() if self._starts else []
        freqs = np.concatenate(self._freqs).tolist() if self._freqs else []
        self._starts, self._freqs = [], []
        words = []
        emit = words.append
        x = _L
        unit, bypass_max, mask = _XMAX_UNIT, _XMAX_BYPASS, _MASK32
        for s, f in zip(reversed(starts), reversed(freqs)):
            if f:
                if x >= unit * f:
                    emit(x & mask)
                    x >>= 32
                q, r = divmod(x, f)
                x = (q << PRECISION) + r + s
            else:
                if x >= bypass_max:
                    emit(x & mask)
                    x >>= 32
                x = (x << BYPASS_BITS) | s
        words.append(x >> 32)
        words.append(x & mask)
        words.reverse()
        return np.asarray(words, dtype="<u4").tobytes()


class RansEncoder:
    def encode_with_indexes(self, symbols, indexes, cdfs, cdf_sizes, offsets) -> bytes:
        encoder = BufferedRansEncoder()
        encoder.encode_with_indexes(symbols, indexes, cdfs, cdf_sizes, offsets)
        return encoder.flush()


class RansDecoder:
    """set_stream(bytes), then decode_stream(...) in the encoder's order; or decode_with_indexes(bytes, ...)."""

    def __init__(self) -> None:
        self._words: list[int] = []
        self._pos = 0
        self._x = 0
        self._cache: list = []

    def set_stream(self, data: bytes) -> None:
        if len(data) % 4 or len(data) < 8:
            raise BitstreamError("entropy-coded stream is truncated (not a whole number of 32-bit words)")
        self._words = np.frombuffer(data, dtype="<u4").tolist()
        self._x = self._words[0] | (self._words[1] << 32)
        self._pos = 2

    def decode_with_indexes(self, data: bytes, indexes, cdfs, cdf_sizes, offsets) -> list[int]:
        self.set_stream(data)
        return self.decode_stream(indexes, cdfs, cdf_sizes, offsets)

    def decode_stream(self, indexes, cdfs, cdf_sizes, offsets) -> list[int]:
        t = _tables(self._cache, cdfs, cdf_sizes, offsets)
        rows, sizes, offs = t.rows, t.sizes.tolist(), t.offsets.tolist()
        words, pos, x = self._words, self._pos, self._x
        n_words = len(words)
        out = []
        put = out.append
        low = (1 << PRECISION) - 1
        find = bisect.bisect_right
        try:
            for i in (indexes.tolist() if hasattr(indexes, "tolist") else indexes):
                row = rows[i]
                cum = x & low
                s = find(row, cum) - 1
                start = row[s]
                x = (row[s + 1] - start) * (x >> PRECISION) + cum - start
                if x < _L:
                    x = (x << 32) | words[pos]
                    pos += 1
                max_value = sizes[i] - 2
                if s == max_value:  # escape: the raw value follows in bypass chunks
                    raw = n = 0
                    v = _BYPASS_MAX
                    while v == _BYPASS_MAX:  # the chunk count, in 4-bit pieces (15: add the next piece)
                        v = x & _BYPASS_MAX
                        x >>= BYPASS_BITS
                        if x < _L:
                            x = (x << 32) | words[pos]
                            pos += 1
                        n += v
                        if n > 16:
                            raise BitstreamError("entropy-coded stream is corrupt (bypass value too long)")
                    for j in range(n):
                        v = x & _BYPASS_MAX
                        x >>= BYPASS_BITS
                        if x < _L:
                            x = (x << 32) | words[pos]
                            pos += 1
                        raw |= v << (j * BYPASS_BITS)
                    s = -(raw >> 1) - 1 if raw & 1 else (raw >> 1) + max_value
                put(s + offs[i])
        except IndexError:
            raise BitstreamError("entropy-coded stream is truncated or corrupt") from None
        if pos > n_words:
            raise BitstreamError("entropy-coded stream is truncated or corrupt")
        self._pos, self._x = pos, x
        return out


# ------------------------------------------------------------------------------------------------ CDF tables
def pmf_to_quantized_cdf(pmf: list[float] | np.ndarray, precision: int = PRECISION) -> list[int]:
    """Integer CDF (len(pmf) + 1 entries, 0 … 2^precision) with every frequency ≥ 1."""
    p = np.asarray(pmf, dtype=np.float64)
    if p.size == 0 or not np.isfinite(p).all() or (p < 0).any() or p.sum() <= 0:
        raise ValueError("invalid pmf: needs finite, non-negative entries with a positive sum")
    total = 1 << precision
    if p.size > total:
        raise ValueError("pmf has more entries than the precision allows")
    freq = np.maximum(1, np.round(p / p.sum() * total)).astype(np.int64)
    excess = int(freq.sum()) - total
    while excess:  # take from (or give to) the most probable entries, never below 1
        order = np.argsort(-freq, kind="stable")
        if excess > 0:
            room = freq[order] - 1
            for j, r in zip(order.tolist(), room.tolist()):
                take = min(r, excess, max(1, freq[j] // 2))
                freq[j] -= take
                excess -= take
                if not excess:
                    break
        else:
            freq[order[0]] += -excess
            excess = 0
    return [0] + np.cumsum(freq).tolist()


def _cdf_tables(pmfs: list[np.ndarray], tails: list[float]) -> torch.Tensor:
    width = max(len(p) for p in pmfs) + 2
    table = torch.zeros(len(pmfs), width, dtype=torch.int32)
    for i, (p, tail) in enumerate(zip(pmfs, tails)):
        cdf = pmf_to_quantized_cdf(np.concatenate([p, [tail]]))
        table[i, : len(cdf)] = torch.tensor(cdf, dtype=torch.int32)
    return table


# ------------------------------------------------------------------------------------------------ modules
class _LowerBoundFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, bound):
        ctx.save_for_backward(x, bound)
        return torch.max(x, bound)

    @staticmethod
    def backward(ctx, grad):
        x, bound = ctx.saved_tensors
        # pass the gradient where x is above the bound, or where the step would move x up towards it
        return grad * ((x >= bound) | (grad < 0)).to(grad.dtype), None


class LowerBound(nn.Module):
    """max(x, bound) whose gradient still pulls values that sit below the bound upwards."""

    def __init__(self, bound: float) -> None:
        super().__init__()
        self.register_buffer("bound", torch.tensor([float(bound)]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _LowerBoundFn.apply(x, self.bound.to(x.dtype))


class _EntropyModel(nn.Module):
    def __init__(self, likelihood_bound: float = 1e-9) -> None:
        super().__init__()
        self.likelihood_lower_bound = LowerBound(likelihood_bound)
        self.register_buffer("_offset", torch.IntTensor())
        self.register_buffer("_quantized_cdf", torch.IntTensor())
        self.register_buffer("_cdf_length", torch.IntTensor())

    @staticmethod
    def _noisy_or_rounded(x: torch.Tensor, means: torch.Tensor | None, training: bool) -> torch.Tensor:
        if training:
            return x + torch.empty_like(x).uniform_(-0.5, 0.5)
        if means is None:
            return torch.round(x)
        return torch.round(x - means) + means

    def _check_tables(self) -> None:
        if self._quantized_cdf.numel() == 0 or self._offset.numel() == 0 or self._cdf_length.numel() == 0:
            raise ValueError("entropy tables are missing: call update() first")

    def _table_lists(self):
        return (self._quantized_cdf.tolist(), self._cdf_length.reshape(-1).tolist(),
                self._offset.reshape(-1).tolist())


class EntropyBottleneck(_EntropyModel):
    """Fully factorised density per channel (Ballé et al. 2018, appendix 6.1): a monotone cumulative built from
    per-channel 1→3→3→3→3→1 "filters"; used for the hyper-latent z."""

    def __init__(self, channels: int, tail_mass: float = 1e-9, init_scale: float = 10.0,
                 filters: tuple[int, ...] = (3, 3, 3, 3), **_ignored) -> None:
        super().__init__()
        self.channels, self.filters, self.tail_mass = int(channels), tuple(filters), float(tail_mass)
        dims = (1, *self.filters, 1)
        scale = init_scale ** (1 / (len(self.filters) + 1))
        self.matrices, self.biases, self.factors = nn.ParameterList(), nn.ParameterList(), nn.ParameterList()
        for i in range(len(self.filters) + 1):
            fill = math.log(math.expm1(1 / scale / dims[i + 1]))
            self.matrices.append(nn.Parameter(torch.full((channels, dims[i + 1], dims[i]), fill)))
            self.biases.append(nn.Parameter(torch.empty(channels, dims[i + 1], 1).uniform_(-0.5, 0.5)))
            if i < len(self.filters):
                self.factors.append(nn.Parameter(torch.zeros(channels, dims[i + 1], 1)))
        self.quantiles = nn.Parameter(torch.tensor([-init_scale, 0.0, init_scale]).repeat(channels, 1, 1))
        edge = math.log(2 / self.tail_mass - 1)
        self.register_buffer("target", torch.tensor([-edge, 0.0, edge]))

    def _logits(self, v: torch.Tensor, detach: bool) -> torch.Tensor:
        for i in range(len(self.filters) + 1):
            m, b = self.matrices[i], self.biases[i]
            if detach:
                m, b = m.detach(), b.detach()
            v = torch.matmul(F.softplus(m), v) + b
            if i < len(self.filters):
                f = self.factors[i].detach() if detach else self.factors[i]
                v = v + torch.tanh(f) * torch.tanh(v)
        return v

    def _interval(self, v: torch.Tensor, detach: bool = False):
        lower, upper = self._logits(v - 0.5, detach), self._logits(v + 0.5, detach)
        return torch.sigmoid(upper) - torch.sigmoid(lower), lower, upper

    def medians(self) -> torch.Tensor:
        return self.quantiles[:, :, 1:2]

    def forward(self, x: torch.Tensor, training: bool | None = None):
        training = self.training if training is None else training
        c = x.permute(1, 0, *range(2, x.ndim)).contiguous()  # channels first
        values = c.reshape(c.shape[0], 1, -1)
        out = self._noisy_or_rounded(values, self.medians(), training)
        likelihood = self.likelihood_lower_bound(self._interval(out)[0])
        back = (1, 0, *range(2, x.ndim))
        return out.reshape(c.shape).permute(*back).contiguous(), likelihood.reshape(c.shape).permute(*back).contiguous()

    def loss(self) -> torch.Tensor:
        """Auxiliary loss that moves `quantiles` to the tail_mass/2, median and 1 − tail_mass/2 points."""
        return torch.abs(self._logits(self.quantiles, detach=True) - self.target).sum()

    @torch.no_grad()
    def update(self, force: bool = False) -> bool:
        if self._offset.numel() > 0 and not force:
            return False
        q = self.quantiles[:, 0, :].detach()
        med = q[:, 1]
        below = torch.clamp(torch.ceil(med - q[:, 0]).int(), min=0)
        above = torch.clamp(torch.ceil(q[:, 2] - med).int(), min=0)
        length = below + above + 1
        samples = torch.arange(int(length.max())).to(q)[None, None, :] + (med - below)[:, None, None]
        pmf, lower, upper = self._interval(samples, detach=True)
        tails = (torch.sigmoid(lower[:, 0, 0]) + torch.sigmoid(-upper[:, 0, -1])).tolist()
        pmfs = [pmf[i, 0, : int(n)].double().numpy() for i, n in enumerate(length.tolist())]
        self._quantized_cdf = _cdf_tables(pmfs, tails)
        self._offset = -below
        self._cdf_length = length + 2
        return True

    def _indexes_and_medians(self, batch: int, size) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (batch, self.channels, *size)
        view = (1, -1, *([1] * len(size)))
        indexes = torch.arange(self.channels, dtype=torch.int32).view(view).expand(shape)
        medians = self.medians().detach().reshape(view).expand(batch, -1, *([1] * len(size)))
        return indexes, medians

    def compress(self, x: torch.Tensor) -> list[bytes]:
        self._check_tables()
        indexes, medians = self._indexes_and_medians(x.shape[0], x.shape[2:])
        symbols = torch.round(x - medians.to(x)).int()
        tables = self._table_lists()
        return [RansEncoder().encode_with_indexes(symbols[i].reshape(-1).tolist(), indexes[i].reshape(-1).tolist(),
                                                  *tables) for i in range(x.shape[0])]

    def decompress(self, strings: list[bytes], size) -> torch.Tensor:
        self._check_tables()
        indexes, medians = self._indexes_and_medians(len(strings), tuple(size))
        tables = self._table_lists()
        out = torch.empty(indexes.shape, dtype=torch.int32)
        for i, s in enumerate(strings):
            values = RansDecoder().decode_with_indexes(s, indexes[i].reshape(-1).tolist(), *tables)
            out[i] = torch.tensor(values, dtype=torch.int32).reshape(out[i].shape)
        return out.to(medians.dtype) + medians


class GaussianConditional(_EntropyModel):
    """Gaussian density of each latent given its mean and scale; the coder picks one of `scale_table`'s CDFs."""

    def __init__(self, scale_table=None, scale_bound: float = 0.11, tail_mass: float = 1e-9, **_ignored) -> None:
        super().__init__()
        self.tail_mass = float(tail_mass)
        self.lower_bound_scale = LowerBound(scale_bound)
        self.register_buffer("scale_table", torch.tensor([float(s) for s in scale_table]) if scale_table
                             else torch.Tensor())
        self.register_buffer("scale_bound", torch.tensor([float(scale_bound)]))

    @staticmethod
    def _cumulative(v: torch.Tensor) -> torch.Tensor:
        return 0.5 * torch.erfc(-(2**-0.5) * v)

    def _likelihood(self, values: torch.Tensor, scales: torch.Tensor, means: torch.Tensor | None) -> torch.Tensor:
        v = torch.abs(values - means) if means is not None else torch.abs(values)
        scales = self.lower_bound_scale(scales)
        return self._cumulative((0.5 - v) / scales) - self._cumulative((-0.5 - v) / scales)

    def forward(self, x: torch.Tensor, scales: torch.Tensor, means: torch.Tensor | None = None,
                training: bool | None = None):
        training = self.training if training is None else training
        out = self._noisy_or_rounded(x, means, training)
        return out, self.likelihood_lower_bound(self._likelihood(out, scales, means))

    @torch.no_grad()
    def update_scale_table(self, scale_table, force: bool = False) -> bool:
        if self._offset.numel() > 0 and not force:
            return False
        self.scale_table = torch.tensor([float(s) for s in scale_table], device=self.scale_table.device)
        self.update()
        return True

    @torch.no_grad()
    def update(self) -> None:
        reach = -NormalDist().inv_cdf(self.tail_mass / 2)
        centre = torch.ceil(self.scale_table * reach).int()
        length = 2 * centre + 1
        pmfs, tails = [], []
        for scale, c, n in zip(self.scale_table.tolist(), centre.tolist(), length.tolist()):
            v = torch.abs(torch.arange(n, dtype=torch.float32) - c)
            upper = self._cumulative((0.5 - v) / scale)
            lower = self._cumulative((-0.5 - v) / scale)
            pmfs.append((upper - lower).double().numpy())
            tails.append(2 * float(lower[0]))
        self._quantized_cdf = _cdf_tables(pmfs, tails)
        self._offset = -centre
        self._cdf_length = length + 2
