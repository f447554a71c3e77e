"""Image-layer codecs behind one interface, looked up by the name stored in the .picd file."""

from .base import ImageCodec, available_codecs, default_codec_name, get_codec, register_codec
from . import pillow_codecs  # noqa: F401  (registers jpeg, webp, avif)
from ..mlic import codec as _mlic_codec  # noqa: F401,E402  (registers mlic; torch is imported only when it is used)
from ..overfit import codec as _overfit_codec  # noqa: F401,E402  (registers overfit; likewise)

__all__ = ["ImageCodec", "available_codecs", "default_codec_name", "get_codec", "register_codec"]
