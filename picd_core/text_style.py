"""Style analysis by synthesis (encoder side): find each word's font class and colour by drawing candidates.

For every word the encoder draws each bundled font class with `text_render.word_coverage` — exactly what the decoder
will draw — over the text-free background, solves for the ink colour in closed form (least squares of
original ≈ background·(1−a) + colour·a), and keeps the font with the least squared error. Colours are then merged into
a small palette so that the style costs a few bits per word.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .fonts import FONT_CLASSES
from .layout import Word, WordStyle
from .text_render import word_coverage

PALETTE_TOLERANCE = 16  # colours within this many levels (every channel) share one palette entry
# A style that costs more bits (a correction, a font other than the line's) must lower the error by this factor:
# measured on real screens, it cut style bits per redrawn word by a third at no visible cost (docs/screens.md).
COSTLY_GAIN = 0.95
# Smooth (quarter-pixel) redraws are tried for words up to this box height: UI text; larger text is placed well
# enough to the pixel, and its 4× render costs the most.
SMOOTH_MAX_HEIGHT = 48


@dataclass(frozen=True)
class WordFit:
    """The best redraw of one word: its style and the squared error it leaves in the word's box (summed over RGB)."""

    style: WordStyle
    error: float
    region: tuple[int, int, int, int]  # x0, y0, x1, y1 the error was measured over


def _region(word: Word, width: int, height: int, margin: int) -> tuple[int, int, int, int]:
    return (max(word.x - margin, 0), max(word.y - margin, 0), min(word.x + word.w + margin, width),
            min(word.y + word.h + margin, height))


def _coverage_in(word: Word, style: WordStyle, region: tuple[int, int, int, int]) -> np.ndarray | None:
    """Coverage in [0, 1] placed in the region's frame (ink outside it is cut), or None when nothing lands in it."""
    fitted = word_coverage(word.text, word.w, word.h, style)
    if fitted is None:
        return None
    dx, dy, alpha = fitted
    x0, y0, x1, y1 = region
    frame = np.zeros((y1 - y0, x1 - x0), dtype=np.float64)
    ax, ay = word.x + dx - x0, word.y + dy - y0
    fx0, fy0 = max(ax, 0), max(ay, 0)
    fx1, fy1 = min(ax + alpha.shape[1], frame.shape[1]), min(ay + alpha.shape[0], frame.shape[0])
    if fx1 <= fx0 or fy1 <= fy0:
        return None
    frame[fy0:fy1, fx0:fx1] = alpha[fy0 - ay : fy1 - ay, fx0 - ax : fx1 - ax] / 255.0
    return frame


def _solve_color(original: np.ndarray, background: np.ndarray, a: np.ndarray) -> np.ndarray:
    """The ink colour c minimising ‖original − background·(1−a) − c·a‖² per channel."""
    aa = float((a * a).sum())
    if aa <= 0:
        return background.reshape(-1, 3).mean(axis=0)
    return np.clip((a[..., None] * (original - background * (1 - a[..., None]))).sum(axis=(0, 1)) / aa, 0, 255)


def redraw_error(original: np.ndarray, background: np.ndarray, word: Word, style: WordStyle,
                 region: tuple[int, int, int, int]) -> float:
    """Squared error of drawing `word` in `style` over `background`, against `original`, inside `region`."""
    x0, y0, x1, y1 = region
    o = original[y0:y1, x0:x1].astype(np.float64)
    b = background[y0:y1, x0:x1].astype(np.float64)
    a = _coverage_in(word, style, region)
    if a is None:
        return float(((o - b) ** 2).sum())
    return float(((o - b * (1 - a[..., None]) - np.array(style.color, dtype=np.float64) * a[..., None]) ** 2).sum())


def score_style(o: np.ndarray, b: np.ndarray, word: Word, style: WordStyle,
                region: tuple[int, int, int, int]) -> WordFit | None:
    """The style with its best ink colour and the error it leaves; o, b: the region's pixels of the original and of
    the text-free background, float64 [h, w, 3]."""
    a = _coverage_in(word, style, region)
    if a is None:
        return None
    color = _solve_color(o, b, a)
    error = float(((o - b * (1 - a[..., None]) - color * a[..., None]) ** 2).sum())
    return WordFit(replace(style, color=tuple(int(v) for v in np.rint(color))), error, region)


def fit_word(original: np.ndarray, background: np.ndarray, word: Word, fonts: tuple[int, ...] | None = None,
             margin: int = 2, finalists: int = 2) -> WordFit | None:
    """Best style for one word, or None when no font draws it.

    Two stages keep it cheap: every font class at its fitting size and centred; then, for the `finalists` best, sizes
    ±1 and offsets of ±1 pixel. The colour is solved in closed form for every candidate.
    """
    height, width = original.shape[:2]
    region = _region(word, width, height, margin)
    x0, y0, x1, y1 = region
    o = original[y0:y1, x0:x1].astype(np.float64)
    b = background[y0:y1, x0:x1].astype(np.float64)

    def score(style: WordStyle) -> WordFit | None:
        return score_style(o, b, word, style, region)

    first = [f for f in (score(WordStyle(font, (0, 0, 0)))
                         for font in (fonts if fonts is not None else range(len(FONT_CLASSES)))) if f is not None]
    if not first:
        return None
    first.sort(key=lambda f: f.error)
    best = first[0]
    for fit in first[:finalists]:
        for size_delta in (-1, 0, 1):
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    if size_delta == dx == dy == 0:
                        continue
                    candidate = score(WordStyle(fit.style.font, (0, 0, 0), size_delta, dx, dy))
                    if candidate is not None and candidate.error < COSTLY_GAIN * best.error:
                        best = candidate
    return best


def build_palette(colors: list[tuple[int, int, int]], weights: list[float],
                  tolerance: int = PALETTE_TOLERANCE) -> tuple[list[tuple[int, int, int]], list[int]]:
    """Greedy palette: heaviest colours first, each later colour joins the first entry within `tolerance`.

    Returns the palette (weighted means of members) and each input colour's entry index.
    """
    order = sorted(range(len(colors)), key=lambda i: -weights[i])
    seeds: list[np.ndarray] = []
    members: list[list[int]] = []
    assign = [0] * len(colors)
    for i in order:
        c = np.array(colors[i], dtype=np.float64)
        for k, seed in enumerate(seeds):
            if np.abs(seed - c).max() <= tolerance:
                members[k].append(i)
                assign[i] = k
                break
        else:
            seeds.append(c)
            members.append([i])
            assign[i] = len(seeds) - 1
    palette = []
    for group in members:
        w = np.array([max(weights[i], 1e-9) for i in group])
        mean = (np.array([colors[i] for i in group], dtype=np.float64) * w[:, None]).sum(axis=0) / w.sum()
        palette.append(tuple(int(v) for v in np.clip(np.rint(mean), 0, 255)))
    return palette, assign


def smooth_placement(style: WordStyle, size_quarter: int, qx: int, qy: int) -> WordStyle:
    """`style` drawn smooth with the ink offset (qx, qy) in quarter pixels: integer offset qx // 4, phase qx % 4."""
    return replace(style, smooth=True, size_quarter=size_quarter, dx=qx // 4, phase_x=qx % 4, dy=qy // 4,
                   phase_y=qy % 4)


def fit_smooth(original: np.ndarray, background: np.ndarray, word: Word, fit: WordFit) -> WordFit:
    """The word's fit drawn smooth (4×, box-filtered: quarter-pixel placement and size) where that lowers its error
    by COSTLY_GAIN (a smooth style costs a few more bits); else `fit` unchanged. Same font and integer size as `fit`.

    For each quarter size, coordinate descent over quarter-pixel positions: 12 in x (a pixel either side of the
    hinted offset), then 12 in y. 96 renders instead of a full search's 576, and on real screens nearly as good
    (`bench/smooth_render_probe.py` 05_wezterm 11_zettlr 22_mathesar, 60 words each: error/erase 0.344, 0.163, 0.282
    against 0.340, 0.163, 0.280).
    """
    if word.h > SMOOTH_MAX_HEIGHT or fit.style.smooth:
        return fit
    x0, y0, x1, y1 = fit.region
    o = original[y0:y1, x0:x1].astype(np.float64)
    b = background[y0:y1, x0:x1].astype(np.float64)
    base = fit.style

    def at(qx: int, qy: int, quarter: int) -> WordFit | None:
        return score_style(o, b, word, smooth_placement(base, quarter, qx, qy), fit.region)

    def least(fits: list[WordFit | None]) -> WordFit | None:
        return min((f for f in fits if f is not None), key=lambda f: f.error, default=None)

    home_x, home_y = 4 * base.dx, 4 * base.dy  # in quarter pixels
    best = fit
    for quarter in (-2, -1, 0, 1):
        along_x = least([at(home_x + step, home_y, quarter) for step in range(-4, 8)])
        if along_x is None:
            continue
        qx = 4 * along_x.style.dx + along_x.style.phase_x
        found = least([along_x] + [at(qx, home_y + step, quarter) for step in range(-4, 8)])
        if found.error < COSTLY_GAIN * fit.error and found.error < best.error:
            best = found
    return best
