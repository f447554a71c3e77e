"""Bjøntegaard delta metrics between two rate–quality curves (VCEG-M33; cubic fit over log rate)."""

from __future__ import annotations

import numpy as np

from ..errors import InvalidInputError


def _check(rate: list[float], quality: list[float], name: str) -> tuple[np.ndarray, np.ndarray]:
    r, q = np.asarray(rate, float), np.asarray(quality, float)
    if r.shape != q.shape or r.ndim != 1 or len(r) < 4:
        raise InvalidInputError(f"{name}: need at least 4 (rate, quality) points of equal count")
    if (r <= 0).any() or not np.isfinite(q).all():
        raise InvalidInputError(f"{name}: rates must be positive and qualities finite")
    order = np.argsort(r)
    return r[order], q[order]


def bd_rate(rate_anchor, quality_anchor, rate_test, quality_test) -> float:
    """Average rate difference of test vs anchor at equal quality, in percent (negative = test saves bits)."""
    ra, qa = _check(rate_anchor, quality_anchor, "anchor")
    rt, qt = _check(rate_test, quality_test, "test")
    pa = np.polyfit(qa, np.log10(ra), 3)
    pt = np.polyfit(qt, np.log10(rt), 3)
    lo, hi = max(qa.min(), qt.min()), min(qa.max(), qt.max())
    if lo >= hi:
        raise InvalidInputError("the two curves do not overlap in quality; BD-rate is undefined")
    ia, it = np.polyint(pa), np.polyint(pt)
    avg = ((np.polyval(it, hi) - np.polyval(it, lo)) - (np.polyval(ia, hi) - np.polyval(ia, lo))) / (hi - lo)
    return float((10**avg - 1) * 100)


def bd_quality(rate_anchor, quality_anchor, rate_test, quality_test) -> float:
    """Average quality difference of test vs anchor at equal rate (e.g. BD-PSNR in dB)."""
    ra, qa = _check(rate_anchor, quality_anchor, "anchor")
    rt, qt = _check(rate_test, quality_test, "test")
    la, lt = np.log10(ra), np.log10(rt)
    pa, pt = np.polyfit(la, qa, 3), np.polyfit(lt, qt, 3)
    lo, hi = max(la.min(), lt.min()), min(la.max(), lt.max())
    if lo >= hi:
        raise InvalidInputError("the two curves do not overlap in rate; BD-quality is undefined")
    ia, it = np.polyint(pa), np.polyint(pt)
    return float(((np.polyval(it, hi) - np.polyval(it, lo)) - (np.polyval(ia, hi) - np.polyval(ia, lo))) / (hi - lo))
