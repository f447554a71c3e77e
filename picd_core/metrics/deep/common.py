"""Image conversion and model caching shared by the deep metrics."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from torch import nn

from ...errors import InvalidInputError

from .weights import CLIP_ENV, _SPECS


def _check_pair(x: torch.Tensor, y: torch.Tensor) -> None:
    if x.shape != y.shape or x.dim() != 4 or x.shape[1] != 3:
        raise InvalidInputError(f"need two [B,3,H,W] batches of equal shape, got {tuple(x.shape)} and {tuple(y.shape)}")


def _one_image(img: Any) -> torch.Tensor:
    """One image (HxWx3 array/PIL image, or 3xHxW tensor) → float32 [3,H,W] in [0,1]."""
    if isinstance(img, torch.Tensor):
        t = img.detach()
        if t.dim() != 3 or t.shape[0] != 3:
            raise InvalidInputError(f"image tensors must be [3,H,W], got {tuple(t.shape)}")
        return t.float() / 255.0 if t.dtype == torch.uint8 else t.float()
    a = np.asarray(img)
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise InvalidInputError(f"images must be HxWx3 arrays, got shape {a.shape}")
    a = a[..., :3]
    t = torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)
    return t.float() / 255.0 if a.dtype == np.uint8 else t.float()


def _image_list(images: Any) -> list[torch.Tensor]:
    """A batch ([B,3,H,W] tensor, BxHxWx3 array) or one image or a sequence of images → list of [3,H,W] tensors."""
    if isinstance(images, torch.Tensor):
        if images.dim() == 4:
            return [_one_image(t) for t in images]
        return [_one_image(images)]
    if isinstance(images, np.ndarray):
        if images.ndim == 4:
            return [_one_image(a) for a in images]
        return [_one_image(images)]
    if isinstance(images, (list, tuple)):
        return [_one_image(a) for a in images]
    return [_one_image(images)]  # PIL image


def _model_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def _paired_scores(model: nn.Module, reference: Any, decoded: Any) -> np.ndarray:
    refs, decs = _image_list(reference), _image_list(decoded)
    if len(refs) != len(decs):
        raise InvalidInputError(f"{len(refs)} reference images but {len(decs)} decoded ones")
    dev = _model_device(model)
    out = []
    with torch.no_grad():
        for r, d in zip(refs, decs):
            if r.shape != d.shape:
                raise InvalidInputError(f"images differ in shape: {tuple(r.shape)} vs {tuple(d.shape)}")
            out.append(float(model(r[None].to(dev), d[None].to(dev))[0]))
    return np.asarray(out, dtype=np.float64)


_MODEL_CACHE: dict[tuple, Any] = {}


def _cached(key: tuple, make):
    env_state = tuple(os.environ.get(s.env) for s in _SPECS.values()) + (os.environ.get(CLIP_ENV),)
    full = key + env_state
    if full not in _MODEL_CACHE:
        _MODEL_CACHE[full] = make()
    return _MODEL_CACHE[full]
