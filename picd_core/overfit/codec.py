"""The per-image overfitted codec behind the ImageCodec interface, registered as "overfit".

Nothing is trained in advance and no weights ship: the encoder fits a small decoder to each image (fit.py) and
transmits it with the latents. Quality 1..8 picks the rate–distortion trade-off λ (1 = lowest rate); the encoder's
effort is a preset (iterations), which the decoder never needs.

Payload of the image section:

    u8      format (1)
    u8 × 4  levels, synthesis width, ARM width, glyph channels (model.OverfitConfig)
    u8 × 3  weight step exponent q of the upsampler, synthesis and ARM (weights are integers × 2^-q)
    u8 × n  table id of each parameter tensor (n = the decoder's parameter tensors, in state-dict order)
    u32 LE  CRC-32 of every decoded integer (parameters then latents, int32 LE, in coding order)
    rest    ANS words (u32 LE): parameter tensors, then each latent level coarse to fine, four phases each
"""

from __future__ import annotations

import os
import struct
import zlib

import numpy as np

from ..errors import BitstreamError, InvalidInputError
from ..image_codecs.base import ImageCodec, register_codec
from ..limits import FileLimitError, check_image_size

FORMAT = 1
QUALITY_LEVELS = 8
# λ per quality (MSE on [0, 1] + λ · bpp): log-spaced, quality 1 ≈ 0.05 bpp and 8 ≈ 1 bpp on Kodak.
LAMBDAS = tuple(0.03 * 0.55 ** i for i in range(QUALITY_LEVELS))
DEFAULT_PRESET = os.environ.get("PICD_OVERFIT_PRESET", "medium")
PROBE_MIN_ITERATIONS = 20


def lambda_for(quality: int) -> float:
    return LAMBDAS[quality - 1]


def config_for(quality: int, glyph: bool):
    from .model import OverfitConfig

    # Lighter decoders at low rates, where their parameters are a larger share of the file.
    width = 8 if quality <= 2 else 12 if quality <= 5 else 16
    return OverfitConfig(levels=7, synthesis_width=width, arm_width=8 if quality <= 2 else 12,
                         glyph_channels=1 if glyph else 0)


def coding_tables():
    """The one table set every overfit stream is coded with (latents and parameters; built once per process)."""
    from .entropy import shared_tables
    from .model import LOG_SCALE_MAX, LOG_SCALE_MIN

    return shared_tables(LOG_SCALE_MIN, LOG_SCALE_MAX)


def exact_decode_image(decoder, latents, ink) -> np.ndarray:
    """The decoder's pixels: exact-mode synthesis, rounded to uint8 [H, W, 3]."""
    import torch

    with torch.no_grad():
        x = decoder.reconstruct(latents, ink, exact=True)[0]
    return torch.floor(x.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy()


def _crc(values: list[np.ndarray]) -> int:
    crc = 0
    for v in values:
        crc = zlib.crc32(np.asarray(v, dtype="<i4").tobytes(), crc)
    return crc


class OverfitCodec(ImageCodec):
    name = "overfit"
    uses_glyph = True
    size_multiple = 1
    quality_range = (1, QUALITY_LEVELS)
    default_quality = 3

    def __init__(self, preset: str | None = None, device: str = "cpu", seed: int = 0, progress=None,
                 iterations: int | None = None) -> None:
        from .presets import PRESETS, Preset

        preset = preset or DEFAULT_PRESET
        if preset not in PRESETS:
            raise InvalidInputError(f"unknown overfit preset {preset!r}; choose one of {', '.join(PRESETS)}")
        self.preset = PRESETS[preset]
        if iterations is not None:  # an explicit budget (tests, experiments) overrides the preset's
            if iterations < 1:
                raise InvalidInputError("overfit iterations must be at least 1")
            self.preset = Preset(f"{preset}@{iterations}", iterations, f"{iterations} iterations")
        self.device = device
        self.seed = seed
        self.progress = progress
        self.last_fit = None
        self.description = (f"per-image overfitted codec (latent pyramid + tiny decoder fitted to each image, no "
                            f"shipped weights), glyph-conditioned in screen mode; preset {self.preset.name}: "
                            f"{self.preset.description}")

    def with_options(self, preset: str | None = None, device: str | None = None, progress=None) -> "OverfitCodec":
        """A codec with another preset, device or progress callback (the registry's instance stays as it is)."""
        return OverfitCodec(preset or self.preset.name.split("@")[0], device or self.device, self.seed,
                            progress or self.progress)

    def probe_codec(self) -> "OverfitCodec":
        """A fit of a fifth of the iterations: the redraw test compares rates and errors, not final quality."""
        return OverfitCodec(self.preset.name.split("@")[0], self.device, self.seed,
                            iterations=max(PROBE_MIN_ITERATIONS, self.preset.iterations // 5))

    def expected_decode(self) -> np.ndarray:
        """The pixels the decoder will produce for the last encode (the encoder's own exact-mode decode)."""
        if self.last_fit is None:
            raise InvalidInputError("nothing was encoded yet")
        return exact_decode_image(self.last_fit.decoder, self.last_fit.latents, self.last_fit.ink)

    def encode(self, image: np.ndarray, quality: int, glyph: np.ndarray | None = None) -> bytes:
        from .entropy import StackEncoder
        from .fit import fit
        from .model import PHASES, glyph_ink, ink_pyramid, phase_values

        import torch

        quality = self.check_quality(quality)
        height, width = image.shape[:2]
        check_image_size(width, height, encoding=True, what="overfit image layer")
        cfg = config_for(quality, glyph is not None)
        result = fit(image, lambda_for(quality), cfg, self.preset.iterations, glyph, seed=self.seed,
                     device=self.device, progress=self.progress)
        ts = coding_tables()
        enc = StackEncoder(ts)
        table_ids = []
        for values in result.parameter_ints:
            k = int(np.argmin(ts.zero_mean_costs(values)))
            tid = k * 4
            table_ids.append(tid)
            enc.add(values, np.full(len(values), tid), np.zeros(len(values), np.int64))
        coded = list(result.parameter_ints)
        ink = None
        if glyph is not None:
            ink = glyph_ink(glyph)
        inks = ink_pyramid(ink, [tuple(g.shape) for g in result.latents], exact=True)
        result.ink = ink
        self.last_fit = result
        latents = result.latents
        with torch.no_grad():
            for l in range(cfg.levels - 1, -1, -1):
                means, scales = result.decoder.level_params(latents, l, inks, exact=True)
                for phase in range(len(PHASES)):
                    values = phase_values(latents[l], phase).numpy().astype(np.int64)
                    tid, centre = ts.index(means[phase].numpy(), scales[phase].numpy())
                    enc.add(values, tid, centre)
                    coded.append(values)
        header = bytes([FORMAT, cfg.levels, cfg.synthesis_width, cfg.arm_width, cfg.glyph_channels])
        header += bytes(result.weight_bits) + bytes(table_ids) + struct.pack("<I", _crc(coded))
        return header + enc.finish()

    def decode(self, data: bytes, width: int, height: int, quality: int, glyph: np.ndarray | None = None) -> np.ndarray:
        import torch

        from .entropy import MIN_BITS_PER_SYMBOL, StackDecoder
        from .fit import group_parameters, set_parameters
        from .model import (LATENT_LIMIT, MAX_WEIGHT_BITS, PHASES, OverfitConfig, OverfitDecoder, glyph_ink, ink_pyramid,
                            level_shapes, set_phase_values)

        check_image_size(width, height, what="overfit image layer")
        if len(data) < 8:
            raise BitstreamError("overfit image layer is truncated")
        if data[0] != FORMAT:
            raise BitstreamError(f"overfit image layer has format {data[0]}; this build reads format {FORMAT}")
        try:
            cfg = OverfitConfig(levels=data[1], synthesis_width=data[2], arm_width=data[3], glyph_channels=data[4])
        except ValueError:
            raise BitstreamError("overfit image layer has an invalid decoder configuration (corrupt)") from None
        if cfg.glyph_channels and glyph is None:
            raise BitstreamError("overfit image layer is glyph-conditioned but the file has no text layer (corrupt)")
        decoder = OverfitDecoder(cfg).double()
        groups = group_parameters(decoder)
        n_tensors = sum(len(g) for g in groups)
        pos = 5
        if len(data) < pos + len(groups) + n_tensors + 4:
            raise BitstreamError("overfit image layer is truncated")
        weight_bits = list(data[pos : pos + len(groups)])
        pos += len(groups)
        table_ids = list(data[pos : pos + n_tensors])
        pos += n_tensors
        (crc,) = struct.unpack_from("<I", data, pos)
        pos += 4
        ts = coding_tables()
        if any(q > MAX_WEIGHT_BITS for q in weight_bits) or any(t % 4 or t >= ts.scales * 4 for t in table_ids):
            raise BitstreamError("overfit image layer has invalid parameter coding fields (corrupt)")
        shapes = level_shapes(height, width, cfg.levels)
        n_latents = sum(h * w for h, w in shapes)
        stream = data[pos:]
        # Every latent costs at least MIN_BITS_PER_SYMBOL (entropy.py): a file cannot claim more than its bytes allow.
        if len(stream) * 8 < 0.9 * n_latents * MIN_BITS_PER_SYMBOL - 64:
            raise FileLimitError(f"overfit image layer claims {width}x{height} pixels but holds only {len(stream)} "
                                 "bytes of latents (corrupt)", "MIN_BITS_PER_SYMBOL")
        dec = StackDecoder(ts, stream)
        coded = []
        ints = []
        for (_, p), tid in zip([np for g in groups for np in g], table_ids):
            n = p.numel()
            v = dec.take(np.full(n, tid), np.zeros(n, np.int64))
            ints.append(v)
            coded.append(v)
        set_parameters(decoder, weight_bits, ints)
        ink = None
        if cfg.glyph_channels:
            if glyph.shape != (height, width):
                raise BitstreamError("overfit image layer: glyph size differs from the image (corrupt)")
            ink = glyph_ink(glyph)
        inks = ink_pyramid(ink, shapes, exact=True)
        latents = [torch.zeros(s, dtype=torch.float64) for s in shapes]
        with torch.no_grad():
            for l in range(cfg.levels - 1, -1, -1):
                parent = latents[l + 1] if l + 1 < cfg.levels else None
                for phase in range(len(PHASES)):
                    mu, s = decoder.phase_params(latents[l], parent, inks[l], phase, True)
                    tid, centre = ts.index(mu.numpy(), s.numpy())
                    values = dec.take(tid, centre)
                    if len(values) and np.abs(values).max() >= LATENT_LIMIT:
                        raise BitstreamError("overfit image layer decodes a latent out of range (corrupt)")
                    coded.append(values)
                    set_phase_values(latents[l], phase, torch.from_numpy(values.astype(np.float64)))
        if _crc(coded) != crc:
            raise BitstreamError("overfit image layer is corrupt (symbol checksum mismatch)")
        return exact_decode_image(decoder, latents, ink)


def _unavailable() -> str | None:
    try:
        import constriction  # noqa: F401
        import torch  # noqa: F401
    except ImportError as exc:
        return f"the overfitted codec needs torch and constriction ({exc.name} is missing): pip install 'picd[codec]'"
    return None


# Not the default: minutes of encoding per image, and it does not beat AVIF yet (README "Choosing the image codec").
register_codec("overfit", OverfitCodec, _unavailable, priority=40)
