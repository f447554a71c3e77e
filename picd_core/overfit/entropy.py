"""Entropy coding of the overfitted codec: fixed Laplace tables, and latents/parameters through one ANS stack.

Tables. A latent's distribution is a Laplace whose log-scale is rounded to SCALE_STEPS per unit and whose mean is
split into an integer centre and a quarter-step offset; so there are TABLE_SCALES × 4 tables, each over the integer
offsets d = value - centre in [-M, M] plus an escape symbol (the value then follows as a raw 14-bit number). The
integer frequencies are computed with Python's `decimal` (correctly rounded on every platform, unlike libm's exp), so
encoder and decoder build identical tables anywhere. No symbol gets more than 1 - 2^-10 of the probability mass: every
coded latent costs at least MIN_BITS_PER_SYMBOL, which bounds the work a file can ask for by its real size.

Coding. `constriction`'s ANS coder (a stack) with its Categorical model. Within one decoding batch (one phase of one
level, or the parameters) every symbol's table is known before any is decoded, so the batch is coded grouped by
table — one vectorised call per table — in a canonical order both sides derive: ascending table id, then position.
"""

from __future__ import annotations

import math
from decimal import Decimal, localcontext
from functools import lru_cache

import numpy as np

from ..errors import BitstreamError

SCALE_STEPS = 4  # tables per unit of natural-log scale
MEAN_STEPS = 4   # mean offsets per unit
TOTAL = 1 << 16
MAX_SYMBOL_SHARE = 1 - 2 ** -10
MIN_BITS_PER_SYMBOL = -math.log2(MAX_SYMBOL_SHARE)
RAW_BITS = 14
RAW_OFFSET = 1 << (RAW_BITS - 1)


def table_scales(log_scale_min: float, log_scale_max: float) -> int:
    return int(round((log_scale_max - log_scale_min) * SCALE_STEPS)) + 1


@lru_cache(maxsize=8)
def laplace_tables(log_scale_min: float, log_scale_max: float) -> tuple[tuple[int, ...], tuple[np.ndarray, ...]]:
    """Per table id (scale index × MEAN_STEPS + mean offset): half-width M and integer frequencies [2M+2] summing
    to TOTAL (the last is the escape)."""
    halves, tables = [], []
    with localcontext() as ctx:
        ctx.prec = 30
        half = Decimal(1) / 2
        for k in range(table_scales(log_scale_min, log_scale_max)):
            b = (Decimal(log_scale_min) + Decimal(k) / SCALE_STEPS).exp()
            m = int(math.ceil(float(b) * 16)) + 2
            r = (Decimal(1) / b).exp()  # e^{1/b}: the CDF at consecutive bin edges is a geometric sequence
            for f in range(MEAN_STEPS):
                t = Decimal(f) / MEAN_STEPS
                # Edges x_j = j - 1/2 - t for j = -m .. m+1; F(x) = e^{x/b}/2 (x < 0), 1 - e^{-x/b}/2 (x >= 0).
                lo_edge = Decimal(-m) - half - t
                cdf = []
                e_pos = (lo_edge / b).exp()          # e^{x/b} at the first edge
                for j in range(2 * m + 2):
                    x = lo_edge + j
                    if x < 0:
                        cdf.append(e_pos / 2)
                    else:
                        cdf.append(1 - 1 / (e_pos * 2))
                    e_pos *= r
                probs = [cdf[i + 1] - cdf[i] for i in range(2 * m + 1)]
                escape = cdf[0] + (1 - cdf[-1])
                halves_freq = _frequencies(probs + [escape])
                tables.append(np.asarray(halves_freq, dtype=np.float64))
                halves.append(m)
    return tuple(halves), tuple(tables)


def _frequencies(probs: list[Decimal]) -> list[int]:
    """Integer frequencies summing to TOTAL, each >= 1, none above MAX_SYMBOL_SHARE (extra mass → the escape)."""
    n = len(probs)
    spare = TOTAL - n
    freq = [1 + int(p * spare) for p in probs]
    cap = int(TOTAL * MAX_SYMBOL_SHARE)
    top = max(range(n), key=lambda i: (freq[i], -i))
    freq[top] += TOTAL - sum(freq)
    if freq[top] > cap:
        freq[-1] += freq[top] - cap
        freq[top] = cap
    return freq


class TableSet:
    """The Laplace tables of one scale range, with the constriction models built once."""

    def __init__(self, log_scale_min: float, log_scale_max: float) -> None:
        import constriction

        self.log_scale_min = log_scale_min
        self.scales = table_scales(log_scale_min, log_scale_max)
        self.halves, self.freqs = laplace_tables(log_scale_min, log_scale_max)
        self.halves_np = np.asarray(self.halves, dtype=np.int64)
        cat = constriction.stream.model.Categorical
        self.models = [cat(f, perfect=False) for f in self.freqs]
        self.raw_model = constriction.stream.model.Uniform(1 << RAW_BITS)

    def index(self, mean: np.ndarray, log_scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(table id, integer centre) per symbol from exact (dyadic) means and log-scales."""
        k = np.floor((log_scale - self.log_scale_min) * SCALE_STEPS + 0.5).astype(np.int64).clip(0, self.scales - 1)
        quarters = np.floor(mean * MEAN_STEPS + 0.5).astype(np.int64)
        centre = np.floor_divide(quarters, MEAN_STEPS)
        return k * MEAN_STEPS + (quarters - centre * MEAN_STEPS), centre

    def zero_mean_costs(self, values: np.ndarray) -> list[float]:
        """Bits to code one zero-mean integer tensor (a quantised parameter tensor) with each scale's offset-0 table,
        escapes at their raw cost."""
        costs = []
        for k in range(self.scales):
            m = self.halves[k * MEAN_STEPS]
            f = self.freqs[k * MEAN_STEPS]
            inside = np.abs(values) <= m
            bits = -np.log2(f[np.where(inside, values + m, 2 * m + 1)] / TOTAL).sum() + RAW_BITS * (~inside).sum()
            costs.append(float(bits))
        return costs


@lru_cache(maxsize=None)
def shared_tables(log_scale_min: float, log_scale_max: float) -> TableSet:
    """One TableSet per scale range per process: building the constriction models takes ~0.1 s."""
    return TableSet(log_scale_min, log_scale_max)


class StackEncoder:
    """Collects batches in decoding order; `finish` pushes them in reverse onto one ANS stack."""

    def __init__(self, tables: TableSet) -> None:
        self.tables = tables
        self.batches: list[tuple[np.ndarray, np.ndarray]] = []

    def add(self, values: np.ndarray, table: np.ndarray, centre: np.ndarray) -> None:
        self.batches.append((np.asarray(values, np.int64) - centre, np.asarray(table, np.int64)))

    def finish(self) -> bytes:
        import constriction

        coder = constriction.stream.stack.AnsCoder()
        halves = self.tables.halves_np
        for d, table in reversed(self.batches):
            m = halves[table]
            escaped = np.abs(d) > m
            if escaped.any():
                raw = d[escaped] + RAW_OFFSET
                if raw.min() < 0 or raw.max() >= 1 << RAW_BITS:
                    raise ValueError("a latent or parameter exceeds the coder's range")
                coder.encode_reverse(raw.astype(np.int32), self.tables.raw_model)
            symbols = np.where(escaped, 2 * m + 1, d + m)
            order = np.argsort(table, kind="stable")
            ids, starts = np.unique(table[order], return_index=True)
            bounds = list(starts[1:]) + [len(order)]
            for t, s, e in reversed(list(zip(ids, starts, bounds))):
                coder.encode_reverse(symbols[order[s:e]].astype(np.int32), self.tables.models[int(t)])
        return coder.get_compressed().astype("<u4").tobytes()


class StackDecoder:
    def __init__(self, tables: TableSet, data: bytes) -> None:
        import constriction

        if len(data) % 4:
            raise BitstreamError("overfit image layer: the entropy-coded stream is not a whole number of words")
        words = np.frombuffer(data, dtype="<u4").astype(np.uint32)
        try:
            self.coder = constriction.stream.stack.AnsCoder(words)
        except Exception as exc:  # constriction refuses a stream whose last word is zero
            raise BitstreamError(f"overfit image layer is corrupt ({exc})") from None
        self.tables = tables

    def take(self, table: np.ndarray, centre: np.ndarray) -> np.ndarray:
        """Decode one batch: values per symbol, in the batch's order."""
        table = np.asarray(table, np.int64)
        halves = self.tables.halves_np
        m = halves[table]
        symbols = np.empty(len(table), np.int64)
        order = np.argsort(table, kind="stable")
        ids, starts = np.unique(table[order], return_index=True)
        bounds = list(starts[1:]) + [len(order)]
        try:
            for t, s, e in zip(ids, starts, bounds):
                symbols[order[s:e]] = self.coder.decode(self.tables.models[int(t)], int(e - s))
            d = symbols - m
            escaped = symbols == 2 * m + 1
            if escaped.any():
                d[escaped] = self.coder.decode(self.tables.raw_model, int(escaped.sum())).astype(np.int64) - RAW_OFFSET
        except BitstreamError:
            raise
        except Exception as exc:  # an exhausted or inconsistent stream
            raise BitstreamError(f"overfit image layer is corrupt ({exc.__class__.__name__}: {exc})") from None
        return d + centre

    def finished(self) -> bool:
        return self.coder.is_empty()
