"""CLIP score and CLIP image similarity through a transformers CLIP model."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ...errors import InvalidInputError

from .weights import CLIP_DEFAULT_MODEL, CLIP_ENV, MetricUnavailableError
from .common import _cached, _image_list, _model_device


CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass
class ClipModel:
    """A loaded CLIP: the transformers ``CLIPModel``, its tokenizer and the image preprocessing constants."""

    model: Any
    tokenizer: Any
    image_size: int
    mean: tuple[float, float, float] = CLIP_MEAN
    std: tuple[float, float, float] = CLIP_STD

    @property
    def device(self) -> torch.device:
        return _model_device(self.model)


def _clip_unavailable(source: str, why: str) -> MetricUnavailableError:
    msg = (f"CLIP model {source!r} {why}: set {CLIP_ENV} to a local Hugging Face CLIP folder "
           f"(e.g. a download of {CLIP_DEFAULT_MODEL}) or allow the download")
    return MetricUnavailableError(" ".join(msg.split()))


def _clip_source(model: str | os.PathLike | None) -> tuple[str, str]:
    if model is not None:
        return str(model), "argument"
    env = os.environ.get(CLIP_ENV)
    if env:
        return env, CLIP_ENV
    return CLIP_DEFAULT_MODEL, "default"


def _looks_like_path(s: str) -> bool:
    """A local folder (existing, or written as an absolute/relative/home path) rather than a Hugging Face id."""
    return s.startswith((".", "/", "~", "\\")) or Path(s).expanduser().exists()


def load_clip(model: str | os.PathLike | None = None, *, download: bool = True,
              device: str | torch.device | None = None) -> ClipModel:
    """A transformers CLIP from a local folder or Hugging Face id (argument > ``$PICD_CLIP_MODEL`` >
    ``openai/clip-vit-base-patch32``). Hub ids are taken from the local cache first and downloaded only with
    ``download=True`` (and where there is internet)."""
    source, origin = _clip_source(model)
    try:
        from transformers import AutoTokenizer, CLIPModel
    except ImportError:
        raise MetricUnavailableError("CLIP metrics need transformers: pip install 'picd[diffusion]'") from None
    local = Path(source).expanduser()
    if _looks_like_path(source):
        if not (local / "config.json").is_file():
            where = f" (from {CLIP_ENV})" if origin == CLIP_ENV else ""
            raise _clip_unavailable(source, f"is not a model folder{where}")
        attempts: list[dict[str, Any]] = [{"local_files_only": True}]
        source = str(local)
    else:
        attempts = [{"local_files_only": True}] + ([{}] if download else [])
    last: Exception | None = None
    for kw in attempts:
        try:
            clip = CLIPModel.from_pretrained(source, **kw)
            tok = AutoTokenizer.from_pretrained(source, **kw)
            break
        except Exception as e:  # noqa: BLE001 - OSError/ValueError/HTTP errors all mean "not available"
            last = e
    else:
        why = "cannot be loaded" + ("" if download else " from the local cache (downloads disabled)")
        raise _clip_unavailable(source, f"{why} ({type(last).__name__}: {str(last)[:200]})") from last
    clip.eval()
    for p in clip.parameters():
        p.requires_grad_(False)
    if device is not None:
        clip.to(device)
    return ClipModel(clip, tok, int(clip.config.vision_config.image_size))


def clip_preprocess(images: Any, image_size: int = 224, mean=CLIP_MEAN, std=CLIP_STD) -> torch.Tensor:
    """CLIP's image preprocessing (as ``CLIPImageProcessor``): short side → `image_size` (PIL bicubic), centre crop
    to a square, scale to [0,1], normalise with the CLIP mean/std. Returns [N,3,S,S] float32."""
    from PIL import Image

    out = []
    for t in _image_list(images):
        a = (t.clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255.0).round().astype(np.uint8)
        im = Image.fromarray(a)
        w, h = im.size
        s = image_size
        nw, nh = (s, int(s * h / w)) if w <= h else (int(s * w / h), s)
        im = im.resize((nw, nh), Image.BICUBIC)
        left, top = (nw - s) // 2, (nh - s) // 2
        im = im.crop((left, top, left + s, top + s))
        out.append(torch.from_numpy(np.asarray(im, np.float32) / 255.0).permute(2, 0, 1))
    x = torch.stack(out)
    m = torch.tensor(mean, dtype=x.dtype).view(1, 3, 1, 1)
    sd = torch.tensor(std, dtype=x.dtype).view(1, 3, 1, 1)
    return (x - m) / sd


def _clip(model: ClipModel | str | os.PathLike | None) -> ClipModel:
    if isinstance(model, ClipModel):
        return model
    return _cached(("clip", None if model is None else str(model)), lambda: load_clip(model))


def clip_image_embeddings(images: Any, *, model: ClipModel | str | None = None,
                          batch_size: int = 16) -> torch.Tensor:
    """Unit-norm CLIP image embeddings [N, D]."""
    cm = _clip(model)
    x = clip_preprocess(images, cm.image_size, cm.mean, cm.std)
    out = []
    with torch.no_grad():
        for i in range(0, x.shape[0], batch_size):
            v = cm.model.vision_model(pixel_values=x[i:i + batch_size].to(cm.device)).pooler_output
            out.append(cm.model.visual_projection(v))
    return F.normalize(torch.cat(out).float(), dim=-1)


def clip_text_embeddings(texts: Sequence[str], *, model: ClipModel | str | None = None) -> torch.Tensor:
    """Unit-norm CLIP text embeddings [N, D] (truncated to the model's 77-token context)."""
    cm = _clip(model)
    if isinstance(texts, str):
        texts = [texts]
    n_ctx = int(cm.model.config.text_config.max_position_embeddings)
    enc = cm.tokenizer(list(texts), padding=True, truncation=True, max_length=n_ctx, return_tensors="pt")
    with torch.no_grad():
        t = cm.model.text_model(input_ids=enc["input_ids"].to(cm.device),
                                attention_mask=enc["attention_mask"].to(cm.device)).pooler_output
        t = cm.model.text_projection(t)
    return F.normalize(t.float(), dim=-1)


def clip_score(images: Any, captions: Sequence[str] | str, *, model: ClipModel | str | None = None,
               w: float = 100.0, prefix: str = "") -> np.ndarray:
    """CLIPScore per (image, caption) pair: ``w · max(cos(E_img, E_txt), 0)``.

    Default ``w=100`` is the torchmetrics/"CLIP score" convention used in image-generation papers; ``w=2.5`` with
    ``prefix="A photo depicts "`` is Hessel et al.'s reference CLIP-S."""
    if isinstance(captions, str):
        captions = [captions]
    img = clip_image_embeddings(images, model=model)
    if img.shape[0] != len(captions):
        raise InvalidInputError(f"{img.shape[0]} images but {len(captions)} captions")
    txt = clip_text_embeddings([prefix + c for c in captions], model=model)
    cos = (img * txt).sum(dim=-1).clamp(min=0.0)
    return (w * cos).double().numpy()


def clip_image_similarity(references: Any, decoded: Any, *, model: ClipModel | str | None = None) -> np.ndarray:
    """Cosine similarity in [-1, 1] between the CLIP image embeddings of each original and decoded image."""
    a = clip_image_embeddings(references, model=model)
    b = clip_image_embeddings(decoded, model=model)
    if a.shape != b.shape:
        raise InvalidInputError(f"{a.shape[0]} reference images but {b.shape[0]} decoded ones")
    return (a * b).sum(dim=-1).double().numpy()


def _clip_reason() -> str | None:
    if importlib.util.find_spec("transformers") is None:
        return "CLIP metrics need transformers: pip install 'picd[diffusion]'"
    source, origin = _clip_source(None)
    if _looks_like_path(source):
        if (Path(source).expanduser() / "config.json").is_file():
            return None
        return str(_clip_unavailable(source, f"is not a model folder (from {origin})"))
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(source, "config.json")
    except Exception:  # noqa: BLE001 - an invalid id or a missing hub library: not cached
        cached = None
    if isinstance(cached, str):
        return None
    return str(_clip_unavailable(source, "is not in the local Hugging Face cache"))
