"""Which deep metrics can run from local files (no download is attempted)."""

from __future__ import annotations

from pathlib import Path

import torch

from .weights import MetricUnavailableError, _SPECS, _backbone_state, _find_weights, _read_state_dict, _unavailable
from .clip_metric import _clip_reason


def _state_keys(path: Path) -> set[str]:
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            return set(f.keys())
    return set(_read_state_dict(path))


def _local_reason(*keys: str, embedded_backbone_in: str | None = None) -> str | None:
    """None if every weights file is found locally, else a one-line reason (no download is attempted)."""
    found: dict[str, Path | None] = {}
    for k in keys:
        try:
            found[k] = _find_weights(k)
        except MetricUnavailableError as e:
            return str(e)
    missing = [k for k, p in found.items() if p is None]
    if embedded_backbone_in and missing and found.get(embedded_backbone_in) is not None:
        try:  # a full LPIPS/DISTS state dict carries its own backbone
            keys = _state_keys(found[embedded_backbone_in])
        except Exception as e:  # noqa: BLE001 - an unreadable file is reported as such
            return str(_unavailable(_SPECS[embedded_backbone_in], f"cannot be read ({type(e).__name__})"))
        if _backbone_state(dict.fromkeys(keys, torch.empty(0))):
            missing = [k for k in missing if k not in ("vgg16", "alexnet")]
    if not missing:
        return None
    spec = _SPECS[missing[0]]
    return str(_unavailable(spec, "not found locally (it is downloaded on first use where there is internet)"))


def available_deep_metrics() -> dict[str, str | None]:
    """Which deep metrics can run from local files: name → None (available) or the reason it cannot.

    Checks only local sources (argument-free: env vars, pip-package files, the torch hub / Hugging Face caches);
    a metric marked unavailable may still work with ``download=True`` where there is internet."""
    out: dict[str, str | None] = {
        "lpips_vgg": _local_reason("lpips_vgg", "vgg16", embedded_backbone_in="lpips_vgg"),
        "lpips_alex": _local_reason("lpips_alex", "alexnet", embedded_backbone_in="lpips_alex"),
        "dists": _local_reason("dists", "vgg16", embedded_backbone_in="dists"),
    }
    out["fid"] = out["patch_fid"] = _local_reason("inception")
    out["clip_score"] = out["clip_image_similarity"] = _clip_reason()
    return out
