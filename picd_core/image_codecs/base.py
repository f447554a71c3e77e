"""The image-codec contract and its registry.

A codec turns an RGB image (optionally with the glyph image, for glyph-conditioned codecs) into bytes at an integer
quality, and back. Its `name` is written into the .picd file, so names are part of the format: never rename one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Callable, Protocol

import numpy as np

from ..errors import CodecUnavailableError, InvalidInputError, UnsupportedBitstreamError

if TYPE_CHECKING:  # torch is optional: the classical codecs and the text layer run without it
    import torch


class DifferentiableCodec(Protocol):
    """A differentiable stand-in for decode(encode(image)) at one quality, for re-compression guidance.

    image: float [B, 3, H, W] in [0, 1] with H, W multiples of the codec's size_multiple; glyph: float [B, 1, H, W]
    in [0, 1] (1 = paper white), padded exactly as the pipeline pads it for coding, or None. Returns the
    reconstruction, same shape as image, with gradients w.r.t. image.
    """

    def __call__(self, image: "torch.Tensor", glyph: "torch.Tensor | None", quality: int) -> "torch.Tensor": ...


class ImageCodec(ABC):
    name: str = ""
    description: str = ""
    quality_range: tuple[int, int] = (0, 100)
    default_quality: int = 50
    # True when the codec conditions on the glyph image: then the decoder must render the identical glyph.
    uses_glyph: bool = False
    # Images are padded to a multiple of this before coding (learned codecs need their stride).
    size_multiple: int = 1

    def check_quality(self, quality: int | None) -> int:
        if quality is None:
            return self.default_quality
        lo, hi = self.quality_range
        if not isinstance(quality, int) or isinstance(quality, bool) or not lo <= quality <= hi:
            raise InvalidInputError(f"codec {self.name!r} takes quality {lo}..{hi}, got {quality!r}")
        return quality

    def neighbour_quality(self, quality: int) -> int | None:
        """A nearby quality for measuring the rate–distortion slope at `quality` (None: the range has one value)."""
        lo, hi = self.quality_range
        step = max(1, (hi - lo) // 20)
        if hi == lo:
            return None
        return quality + step if quality + step <= hi else quality - step

    def probe_codec(self) -> "ImageCodec":
        """The codec the encoder's redraw decision probes with (it codes the image ~3 more times): this one, unless
        encoding is expensive (the overfitted codec probes with a shorter fit)."""
        return self

    @abstractmethod
    def encode(self, image: np.ndarray, quality: int, glyph: np.ndarray | None = None) -> bytes:
        """Code a uint8 [H, W, 3] image (already padded to size_multiple)."""

    @abstractmethod
    def decode(self, data: bytes, width: int, height: int, quality: int, glyph: np.ndarray | None = None) -> np.ndarray:
        """Inverse of encode: uint8 [height, width, 3]. Raises BitstreamError on corrupt data."""

    def differentiable_model(self, device: "str | torch.device") -> DifferentiableCodec | None:
        """A private, frozen, autograd-ready copy of the codec's model on `device`, or None (classical codecs).

        Never hand out the codec's own model: the registry shares this instance with every encode and decode in the
        process, and moving or re-flagging its model would break them.
        """
        return None


# name -> (factory, availability probe, default priority). Factories are lazy, so heavy codecs import their
# libraries only when used.
_REGISTRY: dict[str, tuple[Callable[[], ImageCodec], Callable[[], str | None], int]] = {}
_INSTANCES: dict[str, ImageCodec] = {}


def register_codec(name: str, factory: Callable[[], ImageCodec], unavailable_reason: Callable[[], str | None],
                   priority: int = 1000) -> None:
    """Register a codec. unavailable_reason() returns None when it can run here, else a sentence saying why not.

    The available codec with the lowest priority is the default.
    """
    _REGISTRY[name] = (factory, unavailable_reason, priority)
    _INSTANCES.pop(name, None)


def get_codec(name: str) -> ImageCodec:
    entry = _REGISTRY.get(name)
    if entry is None:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise UnsupportedBitstreamError(f"unknown image codec {name!r}; registered codecs: {known} (see 'picd codecs')")
    factory, unavailable_reason, _ = entry
    reason = unavailable_reason()
    if reason:
        raise CodecUnavailableError(f"image codec {name!r} cannot run here: {reason}")
    if name not in _INSTANCES:
        _INSTANCES[name] = factory()
    return _INSTANCES[name]


def available_codecs() -> dict[str, str | None]:
    """Every registered codec name, default first -> None if usable here, else why not."""
    ordered = sorted(_REGISTRY.items(), key=lambda kv: (kv[1][2], kv[0]))
    return {name: reason() for name, (_, reason, _) in ordered}


def default_codec_name() -> str:
    for name, reason in available_codecs().items():
        if reason is None:
            return name
    raise CodecUnavailableError("no image codec can run here; install Pillow with WebP or JPEG support")
