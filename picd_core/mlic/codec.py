"""GlyphELIC (an ELIC-style model, see elic.py) behind the ImageCodec interface, registered as "mlic".

The codec name stays "mlic": it is written into every .picd file.

Payload of the image section (after the container's codec name and quality = rate level 1..K):

    u16 LE  weights fingerprint (first two bytes of the weights file's sha256): decoding with other weights is refused
    u32 LE  CRC-32 of every decoded symbol, in coding order (detects entropy-coder desynchronisation)
    varint  tile size / 64 (tiles are coded independently, in raster order)
    per tile: varint len(z) | z bytes | varint len(y) | y bytes
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..bitio import read_varint, write_varint
from ..errors import BitstreamError, CodecUnavailableError, InvalidInputError, UnsupportedBitstreamError
from ..image_codecs.base import ImageCodec, register_codec
from ..limits import (MAX_MLIC_TILE, check_image_size, check_mlic_tile, check_rans_claim, min_bits_per_position,
                      rans_padded)

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
MANIFEST = WEIGHTS_DIR / "manifest.json"
DEFAULT_TILE = 2048
MULTIPLE = 64


def read_manifest() -> dict:
    if not MANIFEST.is_file():
        return {"default": None, "models": {}}
    return json.loads(MANIFEST.read_text(encoding="utf-8"))


def _tiles(height: int, width: int, tile: int) -> list[tuple[int, int, int, int]]:
    return [(y, x, min(tile, height - y), min(tile, width - x))
            for y in range(0, height, tile) for x in range(0, width, tile)]


class MlicCodec(ImageCodec):
    name = "mlic"
    uses_glyph = True
    size_multiple = MULTIPLE

    def __init__(self, weights: str | Path, sha256: str | None = None, tile: int = DEFAULT_TILE,
                 device: str = "cpu") -> None:
        from .checkpoint import load_model, sha256_file

        if tile % MULTIPLE or not MULTIPLE <= tile <= MAX_MLIC_TILE:
            raise ValueError(f"tile size must be a multiple of {MULTIPLE} in {MULTIPLE}..{MAX_MLIC_TILE}")
        self.weights = Path(weights)
        digest = sha256 or sha256_file(self.weights)
        self.model = load_model(self.weights, expected_sha256=sha256, device=device)
        # The encoder's transforms may run on an accelerator; the entropy models and everything that picks a CDF stay
        # on the CPU (float64), so a file decodes identically wherever it was encoded, and the decoder's synthesis
        # runs on the CPU with exact sums (exact_synthesis.py), so its pixels do not depend on the thread count.
        self.model.entropy_bottleneck.to("cpu")
        self.model.gaussian_conditional.to("cpu")
        self.fingerprint = int(digest[:4], 16)
        self.tile = tile
        self.device = device
        levels = self.model.cfg.num_rates
        self.quality_range = (1, levels)
        self.default_quality = min(2, levels)
        self.description = (f"GlyphELIC (ELIC-style) learned codec ({self.weights.name}), glyph-conditioned, {levels} rate levels "
                            f"(1 = lowest rate)")

    def _tensor(self, image: np.ndarray):
        import torch

        return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float().div_(255).to(self.device)

    def _glyph(self, glyph: np.ndarray | None):
        import torch

        if glyph is None:
            return None
        return torch.from_numpy(np.ascontiguousarray(glyph))[None, None].float().div_(255)

    def differentiable_model(self, device):
        """A fresh copy of the model on `device`, built outside inference mode (ComfyUI loads codecs under it), frozen.

        The registry's shared model is never moved: its entropy models must stay on the CPU for bit-exact coding."""
        import torch

        from .checkpoint import load_state
        from .elic import DifferentiableRoundTrip, GlyphELIC

        with torch.inference_mode(False):
            model = GlyphELIC(self.model.cfg)
            problem = load_state(model, self.model.state_dict())
            if problem:  # the same class and config: a mismatch here is a bug, not bad input
                raise RuntimeError(f"copying the mlic model failed: {problem}")
            return DifferentiableRoundTrip(model.to(device).eval().requires_grad_(False))

    def encode(self, image: np.ndarray, quality: int, glyph: np.ndarray | None = None) -> bytes:
        height, width = image.shape[:2]
        if height % MULTIPLE or width % MULTIPLE:
            raise InvalidInputError(f"mlic codes images whose sides are multiples of {MULTIPLE}, got {width}x{height}; "
                                    "pad first (picd_core.pipeline.encode_image does)")
        quality = self.check_quality(quality)
        rate = quality - 1
        body, crc = bytearray(), 0
        write_varint(body, self.tile // MULTIPLE)
        for y, x, h, w in _tiles(height, width, self.tile):
            g = self._glyph(glyph[y : y + h, x : x + w]) if glyph is not None else None
            out = self.model.compress(self._tensor(image[y : y + h, x : x + w]), g, rate)
            crc = zlib.crc32(struct.pack("<I", out["crc"]), crc)
            for string in out["strings"]:
                write_varint(body, len(string))
                body += string
        return struct.pack("<HI", self.fingerprint & 0xFFFF, crc) + bytes(body)

    def decode(self, data: bytes, width: int, height: int, quality: int, glyph: np.ndarray | None = None) -> np.ndarray:
        import torch

        if len(data) < 7:
            raise BitstreamError("mlic image layer is truncated")
        fingerprint, crc = struct.unpack_from("<HI", data)
        if fingerprint != self.fingerprint & 0xFFFF:
            raise UnsupportedBitstreamError(
                f"this image layer was coded with other MLIC weights (fingerprint {fingerprint:04x}, loaded "
                f"{self.fingerprint & 0xFFFF:04x}); point PICD_MLIC_WEIGHTS at the encoder's weights file"
            )
        if not 1 <= quality <= self.quality_range[1]:
            raise BitstreamError(f"mlic rate level {quality} is out of range 1..{self.quality_range[1]} (corrupt)")
        if height % MULTIPLE or width % MULTIPLE:
            raise BitstreamError("mlic image size is not a multiple of 64 (corrupt header)")
        tile, pos = read_varint(data, 6, "tile size")
        tile *= MULTIPLE
        check_mlic_tile(tile)
        check_image_size(width, height, what="mlic image layer")
        # Every tile's strings are located and sized against the header before the rANS decoder sees any of them.
        tiles = _tiles(height, width, tile)
        z_bits = self._z_bits_per_position()
        strings_per_tile = []
        for y, x, h, w in tiles:
            strings = []
            for _ in range(2):
                length, pos = read_varint(data, pos, "mlic string length")
                if pos + length > len(data):
                    raise BitstreamError("mlic image layer is truncated")
                strings.append(data[pos : pos + length])
                pos += length
            check_rans_claim(strings[0], (h // MULTIPLE) * (w // MULTIPLE), z_bits, "an mlic hyper-latent string")
            strings_per_tile.append(strings)
        if pos != len(data):
            raise BitstreamError("mlic image layer has trailing bytes (corrupt)")
        output = np.empty((height, width, 3), np.uint8)
        got_crc = 0
        z_channels = self.model.entropy_bottleneck._quantized_cdf.shape[0]
        y_channels = self.model.cfg.latent_channels
        for (y, x, h, w), strings in zip(tiles, strings_per_tile):
            positions = (h // MULTIPLE) * (w // MULTIPLE)
            strings = [rans_padded(strings[0], positions * z_channels),
                       rans_padded(strings[1], positions * 16 * y_channels)]
            g = self._glyph(glyph[y : y + h, x : x + w]) if glyph is not None else None
            tile_crc: list[int] = []
            try:
                x_hat = self.model.decompress(strings, (h // MULTIPLE, w // MULTIPLE), g, quality - 1,
                                              crc=None, crc_out=tile_crc)
            except (RuntimeError, ValueError, IndexError, OverflowError) as err:
                # What corrupt strings make the rANS decoder and the reshapes of its symbols raise; anything else is
                # a bug and propagates as itself.
                raise BitstreamError(f"mlic image layer is corrupt ({err.__class__.__name__}: {err})") from err
            got_crc = zlib.crc32(struct.pack("<I", tile_crc[0]), got_crc)
            output[y : y + h, x : x + w] = x_hat[0].permute(1, 2, 0).mul(255).round().to(torch.uint8).numpy()
        if got_crc != crc:
            raise BitstreamError(
                "mlic entropy decoding desynchronised (symbol checksum mismatch): this machine computed the entropy "
                "parameters differently from the encoder, or the data is corrupt"
            )
        return output

    def _z_bits_per_position(self) -> float:
        if not hasattr(self, "_z_bits"):
            eb = self.model.entropy_bottleneck
            self._z_bits = min_bits_per_position(eb._quantized_cdf.tolist(), eb._cdf_length.reshape(-1).tolist())
        return self._z_bits


@lru_cache(maxsize=1)
def _default_weights() -> tuple[Path, str | None] | None:
    override = os.environ.get("PICD_MLIC_WEIGHTS")
    if override:
        return Path(override), None
    manifest = read_manifest()
    name = manifest.get("default")
    if not name:
        return None
    entry = manifest["models"][name]
    return WEIGHTS_DIR / entry["file"], entry["sha256"]


def _unavailable() -> str | None:
    from .compressai_loader import compressai_unavailable_reason

    try:
        import torch  # noqa: F401
        import safetensors  # noqa: F401
    except ImportError as exc:
        return f"the learned codec needs torch and safetensors ({exc.name} is missing): pip install 'picd[codec]'"
    reason = compressai_unavailable_reason()
    if reason:
        return reason
    weights = _default_weights()
    if weights is None or not weights[0].is_file():
        return "no GlyphELIC weights are installed (set PICD_MLIC_WEIGHTS to a weights file)"
    return None


def builtin_codec(device: str = "cpu") -> MlicCodec:
    """The default learned codec (shipped weights or PICD_MLIC_WEIGHTS), with its transforms on `device`."""
    reason = _unavailable()
    if reason:
        raise CodecUnavailableError(f"image codec 'mlic' cannot run here: {reason}")
    from safetensors import SafetensorError

    weights, sha256 = _default_weights()
    try:
        return MlicCodec(weights, sha256, device=device)
    except (InvalidInputError, OSError, RuntimeError, ValueError, SafetensorError) as err:
        # A weights file that is not ours, unreadable, or does not fit the model: say which file, keep the cause.
        raise CodecUnavailableError(f"cannot load GlyphELIC weights {weights}: {err}") from err


# Not the default: on Kodak its BD-rate is +330 % vs AVIF (README "Choosing the image codec").
register_codec("mlic", builtin_codec, _unavailable, priority=50)
