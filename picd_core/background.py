"""Text-free background: remove the pixels of the words the decoder will redraw, so the image layer need not code them.

The removed pixels are refilled with the harmonic (Laplace) interpolation of the surrounding pixels: the smoothest
surface that meets the box border, which costs an image codec almost nothing and matches the background between
glyphs. Each connected hole is solved on its own as a sparse linear system (holes are word- or line-sized).
"""

from __future__ import annotations

import numpy as np

from .layout import Word

FILL_MARGIN = 1  # pixels around each OCR box also removed: anti-aliased edges reach just past Tesseract's ink box


def word_mask(words: list[Word], width: int, height: int, margin: int = FILL_MARGIN) -> np.ndarray:
    """bool [H, W]: the boxes of `words`, grown by `margin` pixels."""
    mask = np.zeros((height, width), dtype=bool)
    for w in words:
        mask[max(w.y - margin, 0) : min(w.y + w.h + margin, height), max(w.x - margin, 0) : min(w.x + w.w + margin, width)] = True
    return mask


def harmonic_fill(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """A copy of uint8 [H, W, C] `image` whose `mask`ed pixels solve Laplace's equation from the unmasked ones."""
    from scipy import ndimage
    from scipy.sparse import coo_matrix
    from scipy.sparse.linalg import splu

    out = image.astype(np.float64)
    height, width = mask.shape
    if mask.all():  # nothing to interpolate from: a flat fill
        out[:] = out.reshape(-1, out.shape[2]).mean(axis=0)
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)
    labels, count = ndimage.label(mask)
    for index, region in enumerate(ndimage.find_objects(labels), start=1):
        ys, xs = region
        y0, y1 = max(ys.start - 1, 0), min(ys.stop + 1, height)
        x0, x1 = max(xs.start - 1, 0), min(xs.stop + 1, width)
        hole = labels[y0:y1, x0:x1] == index
        block = out[y0:y1, x0:x1]
        ids = -np.ones(hole.shape, dtype=np.int64)
        ids[hole] = np.arange(int(hole.sum()))
        hy, hx = np.nonzero(hole)
        n = len(hy)
        rows, cols, vals = [np.arange(n)], [np.arange(n)], [np.zeros(n)]
        rhs = np.zeros((n, block.shape[2]))
        known = 0
        for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            ny, nx = hy + dy, hx + dx
            inside = (ny >= 0) & (ny < hole.shape[0]) & (nx >= 0) & (nx < hole.shape[1])
            vals[0][inside] += 1.0  # the diagonal counts the neighbours that exist (Neumann at the image edge)
            ny, nx, src = ny[inside], nx[inside], np.nonzero(inside)[0]
            unknown = hole[ny, nx]
            rows.append(src[unknown])
            cols.append(ids[ny[unknown], nx[unknown]])
            vals.append(-np.ones(int(unknown.sum())))
            np.add.at(rhs, src[~unknown], block[ny[~unknown], nx[~unknown]])
            known += int((~unknown).sum())
        if not known:  # a hole that meets no kept pixel (it spans the image): its system would be singular
            block[hy, hx] = out[~mask].mean(axis=0)
            continue
        matrix = coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)).tocsc()
        block[hy, hx] = splu(matrix).solve(rhs)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
