"""Bjøntegaard delta metrics between two rate–quality curves.

method "cubic": VCEG-M33's third-order polynomial fit (what most learned-compression papers report);
"pchip": piecewise cubic Hermite interpolation, as in the JCT-VC/JVET common-test-conditions Excel sheets;
"akima": Akima interpolation (Herglotz et al. 2022). In every case the fitted curves are integrated over the
overlapping interval and the mean difference is reported.
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidInputError


METHODS = ("cubic", "pchip", "akima")


def _check(rate: list[float], quality: list[float], name: str) -> tuple[np.ndarray, np.ndarray]:
    r, q = np.asarray(rate, float), np.asarray(quality, float)
    if r.shape != q.shape or r.ndim != 1 or len(r) < 4:
        raise InvalidInputError(f"{name}: need at least 4 (rate, quality) points of equal count")
    if len(np.unique(q)) != len(q) or len(np.unique(r)) != len(r):
        raise InvalidInputError(f"{name}: rates and qualities must be distinct (repeated points cannot be fitted)")
    if (r <= 0).any() or not np.isfinite(q).all():
        raise InvalidInputError(f"{name}: rates must be positive and qualities finite")
    order = np.argsort(r)
    return r[order], q[order]


def _mean_over(x: np.ndarray, y: np.ndarray, lo: float, hi: float, method: str) -> float:
    """Mean of the curve y(x) fitted by `method` over [lo, hi]."""
    if method == "cubic":
        integral = np.polyint(np.polyfit(x, y, 3))
        return float((np.polyval(integral, hi) - np.polyval(integral, lo)) / (hi - lo))
    from scipy.interpolate import Akima1DInterpolator, PchipInterpolator

    order = np.argsort(x)
    fit = (PchipInterpolator if method == "pchip" else Akima1DInterpolator)(x[order], y[order])
    return float(fit.integrate(lo, hi) / (hi - lo))


def _method(method: str) -> str:
    if method not in METHODS:
        raise InvalidInputError(f"BD method must be one of {METHODS}, got {method!r}")
    return method


def bd_rate(rate_anchor, quality_anchor, rate_test, quality_test, method: str = "cubic") -> float:
    """Average rate difference of test vs anchor at equal quality, in percent (negative = test saves bits)."""
    ra, qa = _check(rate_anchor, quality_anchor, "anchor")
    rt, qt = _check(rate_test, quality_test, "test")
    lo, hi = max(qa.min(), qt.min()), min(qa.max(), qt.max())
    if lo >= hi:
        raise InvalidInputError("the two curves do not overlap in quality; BD-rate is undefined")
    m = _method(method)
    avg = _mean_over(qt, np.log10(rt), lo, hi, m) - _mean_over(qa, np.log10(ra), lo, hi, m)
    return float((10**avg - 1) * 100)


def bd_quality(rate_anchor, quality_anchor, rate_test, quality_test, method: str = "cubic") -> float:
    """Average quality difference of test vs anchor at equal rate (e.g. BD-PSNR in dB)."""
    ra, qa = _check(rate_anchor, quality_anchor, "anchor")
    rt, qt = _check(rate_test, quality_test, "test")
    la, lt = np.log10(ra), np.log10(rt)
    lo, hi = max(la.min(), lt.min()), min(la.max(), lt.max())
    if lo >= hi:
        raise InvalidInputError("the two curves do not overlap in rate; BD-quality is undefined")
    m = _method(method)
    return _mean_over(lt, qt, lo, hi, m) - _mean_over(la, qa, lo, hi, m)


def bd_score(rate_anchor, score_anchor, rate_test, score_test) -> float:
    """Average difference of a bounded score (e.g. OCR word recall) of test vs anchor at equal rate: each curve
    linearly interpolated over log10 rate, integrated over the overlapping interval. A cubic would overshoot a
    score that saturates at 1, and such scores repeat (two rates, same recall), which `bd_quality` rejects; rates
    must still be distinct."""
    curves = []
    for rate, score, name in ((rate_anchor, score_anchor, "anchor"), (rate_test, score_test, "test")):
        r, s = np.asarray(rate, float), np.asarray(score, float)
        if r.shape != s.shape or r.ndim != 1 or len(r) < 2:
            raise InvalidInputError(f"{name}: need at least 2 (rate, score) points of equal count")
        if (r <= 0).any() or len(np.unique(r)) != len(r) or not np.isfinite(s).all():
            raise InvalidInputError(f"{name}: rates must be positive and distinct, scores finite")
        order = np.argsort(r)
        curves.append((np.log10(r[order]), s[order]))
    (la, sa), (lt, st) = curves
    lo, hi = max(la[0], lt[0]), min(la[-1], lt[-1])
    if lo >= hi:
        raise InvalidInputError("the two curves do not overlap in rate; BD-score is undefined")

    def mean(x: np.ndarray, y: np.ndarray) -> float:
        xs = np.unique(np.concatenate([[lo, hi], x[(x > lo) & (x < hi)]]))
        ys = np.interp(xs, x, y)
        return float(np.sum((ys[1:] + ys[:-1]) * np.diff(xs)) / 2 / (hi - lo))

    return mean(lt, st) - mean(la, sa)
