"""Safetensors I/O for GlyphELIC: weights + config (in the file's metadata), entropy tables included."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from ..errors import CodecUnavailableError, InvalidInputError
from .elic import GlyphELIC, ElicConfig

# CompressAI registers these as empty buffers and fills them in update(): resize before loading.
_TABLE_SUFFIXES = ("_quantized_cdf", "_offset", "_cdf_length", "scale_table")


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_model(model: GlyphELIC, path: str | Path, extra_metadata: dict | None = None, half: bool = False) -> None:
    """half=True stores float weights as float16 (shipped weights: half the size; loaded back as float32)."""
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    if half:
        state = {k: v.half() if v.is_floating_point() and not k.endswith(_TABLE_SUFFIXES) else v
                 for k, v in state.items()}
    metadata = {"format": "picd-mlic", "config": json.dumps(model.cfg.to_dict())}
    metadata.update({k: json.dumps(v) for k, v in (extra_metadata or {}).items()})
    path = Path(path)
    tmp = path.with_name(path.name + ".partial")
    save_file(state, str(tmp), metadata=metadata)
    tmp.replace(path)


def read_metadata(path: str | Path) -> dict:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return dict(f.metadata() or {})


def load_model(path: str | Path, expected_sha256: str | None = None, device: str = "cpu") -> GlyphELIC:
    """Load weights written by save_model; with expected_sha256 the file is verified first."""
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise CodecUnavailableError(f"codec weights not found: {path}")
    if expected_sha256 is not None:
        digest = sha256_file(path)
        if digest != expected_sha256:
            raise CodecUnavailableError(
                f"codec weights {path.name} fail their hash check (sha256 {digest[:12]}…, expected "
                f"{expected_sha256[:12]}…): the file is corrupt or was replaced; reinstall picd"
            )
    meta = read_metadata(path)
    if meta.get("format") != "picd-mlic" or "config" not in meta:
        raise InvalidInputError(f"{path} is not a PICD MLIC weights file (missing picd-mlic metadata)")
    model = GlyphELIC(ElicConfig.from_dict(json.loads(meta["config"])))
    state = {k: v.float() if v.dtype == torch.float16 else v for k, v in load_file(str(path)).items()}
    problem = load_state(model, state)
    if problem:
        raise InvalidInputError(f"{path} does not match the model config ({problem})")
    return model.to(device).eval()


def load_state(model: GlyphELIC, state: dict[str, torch.Tensor]) -> str | None:
    """Copy a state dict into a fresh model (entropy tables resized first); a description of any mismatch, or None.

    Values are copied, never shared, so a copy of a model built under torch.inference_mode is an ordinary one."""
    own = model.state_dict()
    for key, value in state.items():
        if key.endswith(_TABLE_SUFFIXES) and key in own and own[key].shape != value.shape:
            module = model.get_submodule(key.rsplit(".", 1)[0])
            setattr(module, key.rsplit(".", 1)[1], torch.empty_like(value))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or [k for k in missing if not k.endswith(_TABLE_SUFFIXES)]:
        return f"missing {missing[:3]}, unexpected {unexpected[:3]}"
    return None
