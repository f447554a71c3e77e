"""The per-image overfitted codec ("overfit"): coding, exact decoding anywhere, corrupt payloads, glyph conditioning."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import threading

import numpy as np
import pytest

pytest.importorskip("constriction")
torch = pytest.importorskip("torch")

from picd_core import PicdFile, decode_picd, encode_image  # noqa: E402
from picd_core.errors import BitstreamError, InvalidInputError  # noqa: E402
from picd_core.image_codecs import get_codec  # noqa: E402
from picd_core.limits import FileLimitError  # noqa: E402
from picd_core.overfit.codec import OverfitCodec  # noqa: E402
from picd_core.overfit.entropy import laplace_tables  # noqa: E402
from picd_core.overfit.model import LOG_SCALE_MAX, LOG_SCALE_MIN, OverfitConfig, macs_per_pixel  # noqa: E402

ITERATIONS = 400
QUALITY = 8


def _image(h: int = 37, w: int = 53) -> np.ndarray:
    """A smooth photo-like test image with an edge (odd sizes: the latent grids round up)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 120 + 80 * np.sin(xx / 9) * np.cos(yy / 7)
    g = 90 + 60 * (xx / w) + 40 * (yy > h / 2)
    b = 160 - 70 * (yy / h)
    return np.clip(np.stack([r, g, b], -1), 0, 255).astype(np.uint8)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255 ** 2 / max(mse, 1e-12))


@pytest.fixture(scope="module")
def coded():
    image = _image()
    codec = OverfitCodec(iterations=ITERATIONS)
    data = codec.encode(image, QUALITY)
    return image, data, codec.expected_decode()


def test_decoder_reproduces_the_encoders_pixels_and_fits_the_image(coded):
    image, data, expected = coded
    out = get_codec("overfit").decode(data, image.shape[1], image.shape[0], QUALITY)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert np.array_equal(out, expected)
    flat = np.broadcast_to(image.reshape(-1, 3).mean(0).round().astype(np.uint8), image.shape)
    assert _psnr(image, out) > _psnr(image, flat) + 6  # the fit learned the image, not just its mean


# Files the decoder wrote before its banded exact pass (commit 08f9165): 60-iteration fits of _image(37, 53) at
# quality 5, without and with a glyph (_reference_glyph). Their pixels must never change.
_REFERENCE_FILES = {"overfit_f1_plain_q5_53x37.bin": "cf06ad3791af9e04ead1e5c59598ff9dc6a72271447e576b52c98ee248a5cc19",
                    "overfit_f1_glyph_q5_53x37.bin": "fc92be5fd97e3345f4e72dcbf62351b7f669cd3c8236aaeada18581265895a72"}


def _reference_glyph() -> np.ndarray:
    glyph = np.full((37, 53), 255, np.uint8)
    glyph[10:20, 5:40] = 0
    glyph[25:30, 12:18] = 40
    return glyph


@pytest.mark.parametrize("name", sorted(_REFERENCE_FILES))
def test_files_of_earlier_builds_decode_to_the_same_pixels(name):
    from pathlib import Path

    data = (Path(__file__).parent / "data" / name).read_bytes()
    glyph = _reference_glyph() if "glyph" in name else None
    out = get_codec("overfit").decode(data, 53, 37, 5, glyph)
    assert hashlib.sha256(out.tobytes()).hexdigest() == _REFERENCE_FILES[name]


@pytest.mark.parametrize("height, width, levels, glyph, band_rows", [
    (70, 41, 5, 1, 32), (33, 20, 4, 0, 32), (65, 7, 3, 1, 32), (34, 5, 2, 0, 32), (64, 3, 1, 1, 32), (1, 1, 1, 0, 32),
    (3, 2, 2, 1, 32), (23, 17, 4, 1, 2), (23, 17, 4, 0, 3), (9, 30, 3, 1, 4)])
def test_the_decoders_banded_exact_pass_is_the_whole_image_pass(height, width, levels, glyph, band_rows, monkeypatch):
    """Bands of SYNTHESIS_BAND_ROWS rows, polyphase upsampling and the compact, chunked ARM context against the plain
    exact computation, bit for bit: band edges inside and at the image border (bands of 2 rows: every band touches
    the next one's context), odd sizes, one level, a glyph channel."""
    from picd_core.overfit import model
    from picd_core.overfit.model import (PHASES, OverfitDecoder, glyph_ink, ink_pyramid, level_shapes,
                                         phase_context)

    monkeypatch.setattr(model, "SYNTHESIS_BAND_ROWS", band_rows)
    monkeypatch.setattr(model, "ARM_CHUNK_ROWS", 5 if band_rows < 32 else model.ARM_CHUNK_ROWS)
    gen = torch.Generator().manual_seed(height * 100 + width)
    decoder = OverfitDecoder(OverfitConfig(levels=levels, synthesis_width=6, arm_width=8,
                                           glyph_channels=glyph)).double()
    with torch.no_grad():
        for p in decoder.parameters():  # dyadic weights (what a file carries), refinements not zero
            p.copy_(torch.round((p + 0.3 * torch.randn(p.shape, generator=gen, dtype=p.dtype)) * 256) / 256)
        shapes = level_shapes(height, width, levels)
        latents = [torch.randint(-6, 7, s, generator=gen).double() for s in shapes]
        ink = glyph_ink(torch.randint(0, 256, (height, width), generator=gen).numpy().astype(np.uint8)) if glyph else None
        assert torch.equal(decoder.reconstruct(latents, ink, exact=True),
                           decoder.reconstruct_whole(latents, ink, exact=True))
        inks = ink_pyramid(ink, shapes, exact=True)
        for l in range(levels):
            parent = latents[l + 1] if l + 1 < levels else None
            for phase in range(len(PHASES)):
                full = decoder.arm(phase_context(latents[l], parent, inks[l], phase), True)
                compact = decoder.phase_params(latents[l], parent, inks[l], phase, True)
                assert torch.equal(full[0], compact[0]) and torch.equal(full[1], compact[1])


@pytest.mark.parametrize("height, width, levels, glyph, a, b", [
    (37, 29, 4, 1, 0, 9), (37, 29, 4, 0, 9, 21), (37, 29, 4, 1, 30, 37), (12, 5, 1, 0, 3, 4), (40, 8, 6, 1, 0, 40)])
def test_the_fits_row_bands_are_the_whole_image_pass(height, width, levels, glyph, a, b):
    """reconstruct_rows (fit.FIT_ROW_SHARE < 1) is rows [a, b) of the whole-image float pass, gradients included:
    band edges inside the image and at its borders, one level, a glyph channel."""
    from picd_core.overfit.model import OverfitDecoder, glyph_ink, level_shapes

    gen = torch.Generator().manual_seed(height + 7 * a)
    decoder = OverfitDecoder(OverfitConfig(levels=levels, synthesis_width=6, arm_width=8, glyph_channels=glyph))
    with torch.no_grad():
        for p in decoder.parameters():  # refinements not zero, so their context rows matter
            p.add_(0.3 * torch.randn(p.shape, generator=gen))
    latents = [(torch.randn(s, generator=gen) * 3).requires_grad_() for s in level_shapes(height, width, levels)]
    ink = glyph_ink(torch.randint(0, 256, (height, width), generator=gen).numpy().astype(np.uint8)).float() if glyph else None
    whole = decoder.reconstruct_whole(latents, ink, exact=False)[:, :, a:b]
    band = decoder.reconstruct_rows(latents, ink, a, b)
    assert band.shape == whole.shape
    torch.testing.assert_close(band, whole, rtol=1e-5, atol=1e-5)
    target = torch.rand(band.shape, generator=gen)
    inputs = latents + [p for n, p in decoder.named_parameters() if not n.startswith("arm.")]
    grads = [torch.autograd.grad(((out - target) ** 2).sum(), inputs, retain_graph=True, allow_unused=True)
             for out in (whole, band)]
    for g_whole, g_band in zip(*grads):
        if g_whole is None:  # one level: no upsampling kernel in either pass
            assert g_band is None
        else:
            torch.testing.assert_close(g_band, g_whole, rtol=1e-4, atol=1e-4)


def test_refitting_the_arm_lowers_the_rate_of_fixed_latents():
    from picd_core.overfit.fit import _rate_bits, _refine_arm
    from picd_core.overfit.model import OverfitDecoder, level_shapes

    gen = torch.Generator().manual_seed(1)
    shapes = level_shapes(32, 48, 4)
    # latents with structure an ARM can learn: smooth fields, rounded, larger on coarser levels
    latents = [torch.round(torch.nn.functional.interpolate(torch.randn(1, 1, 4, 6, generator=gen) * (1 + l),
                                                           size=s, mode="bilinear")[0, 0]) for l, s in enumerate(shapes)]
    decoder = OverfitDecoder(OverfitConfig(levels=4, synthesis_width=4, arm_width=8))
    inks = [None] * len(latents)
    with torch.no_grad():
        before = float(_rate_bits(decoder, latents, inks, exact=False))
    _refine_arm(decoder, latents, inks, 60)
    with torch.no_grad():
        after = float(_rate_bits(decoder, latents, inks, exact=False))
    assert after < 0.8 * before


def test_encoding_is_reproducible_given_the_seed():
    image = _image(24, 40)
    data = OverfitCodec(iterations=40).encode(image, QUALITY)
    assert OverfitCodec(iterations=40).encode(image, QUALITY) == data
    assert OverfitCodec(iterations=40, seed=1).encode(image, QUALITY) != data


_DECODE = ("import sys, hashlib, torch; torch.set_num_threads(int(sys.argv[1])); "
           "from picd_core.image_codecs import get_codec; "
           "out = get_codec('overfit').decode(sys.stdin.buffer.read(), int(sys.argv[2]), int(sys.argv[3]), 8); "
           "print(hashlib.sha256(out.tobytes()).hexdigest())")


def test_decoding_is_identical_in_other_processes_thread_counts_and_threads(coded):
    image, data, expected = coded
    want = hashlib.sha256(expected.tobytes()).hexdigest()
    for threads in ("1", "2"):
        out = subprocess.run([sys.executable, "-c", _DECODE, threads, str(image.shape[1]), str(image.shape[0])],
                             input=data, capture_output=True, timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        assert out.stdout.decode().strip() == want
    results = []
    codec = get_codec("overfit")

    def work():
        results.append(codec.decode(data, image.shape[1], image.shape[0], QUALITY).tobytes())

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected.tobytes()] * 4


def test_entropy_tables_are_pinned():
    # Built with `decimal` (correctly rounded everywhere), so this digest holds on every platform; a change here is a
    # format change.
    halves, freqs = laplace_tables(LOG_SCALE_MIN, LOG_SCALE_MAX)
    digest = hashlib.sha256(np.asarray(halves, np.int64).tobytes()
                            + b"".join(f.astype(np.int64).tobytes() for f in freqs)).hexdigest()
    assert all(f.sum() == 1 << 16 and f.min() >= 1 and f.max() <= (1 << 16) - 64 for f in freqs)
    assert digest[:16] == PINNED_TABLES


PINNED_TABLES = "e04bc78e06f59340"


def test_corrupt_payloads_give_bitstream_errors(coded):
    image, data, expected = coded
    codec = get_codec("overfit")
    rng = np.random.default_rng(3)
    decoded_same = 0
    for i in range(120):
        buf = bytearray(data)
        kind = i % 3
        if kind == 0:
            pos = int(rng.integers(len(buf)))
            buf[pos] ^= 1 << int(rng.integers(8))
        elif kind == 1:
            buf = buf[: int(rng.integers(len(buf)))]
        else:
            pos = int(rng.integers(len(buf)))
            buf[pos:pos] = bytes(rng.integers(0, 256, 4, dtype=np.uint8))
        try:
            out = codec.decode(bytes(buf), image.shape[1], image.shape[0], QUALITY)
        except BitstreamError:
            continue
        decoded_same += int(np.array_equal(out, expected))
        assert False, f"mutation {i} ({kind}) decoded without an error"
    assert decoded_same == 0


def test_a_small_payload_cannot_claim_a_huge_image(coded):
    _, data, _ = coded
    with pytest.raises(FileLimitError, match="claims"):
        get_codec("overfit").decode(data, 8000, 8000, 4)


def test_glyph_conditioning_is_used_and_needed():
    image = _image(40, 48)
    glyph = np.full(image.shape[:2], 255, np.uint8)
    glyph[10:20, 8:40] = 0
    codec = OverfitCodec(iterations=30)
    data = codec.encode(image, 3, glyph)
    assert data[4] == 1  # the header says the decoder takes the glyph
    out = get_codec("overfit").decode(data, 48, 40, 3, glyph)
    assert np.array_equal(out, codec.expected_decode())
    with pytest.raises(BitstreamError, match="glyph"):
        get_codec("overfit").decode(data, 48, 40, 3, None)


def test_presets_and_bad_options():
    with pytest.raises(InvalidInputError, match="preset"):
        OverfitCodec("turbo")
    with pytest.raises(InvalidInputError, match="quality"):
        OverfitCodec(iterations=1).encode(_image(), 9)
    assert OverfitCodec("fast").with_options(preset="slow").preset.iterations > OverfitCodec("fast").preset.iterations
    assert 500 < macs_per_pixel(OverfitConfig()) < 3000  # Cool-chic class decoders: ~2k MAC/pixel


def test_pipeline_natural_mode_round_trip():
    image = _image(48, 64)
    codec = OverfitCodec(iterations=20)
    result = encode_image(image, mode="natural", codec=codec, quality=2)
    picd = PicdFile.from_bytes(result.picd.to_bytes())
    assert picd.image_codec == "overfit"
    out = decode_picd(picd).image
    assert np.array_equal(out, codec.expected_decode()[:48, :64])


def test_cli_preset_progress_and_misuse(tmp_path, capsys):
    from picd_core.cli import main
    from picd_core.images import save_image

    src = tmp_path / "small.png"
    save_image(_image(24, 32), src)
    out = tmp_path / "small.picd"
    assert main(["encode", str(src), "-o", str(out), "--codec", "overfit", "--preset", "fast", "--quality", "2",
                 "--mode", "natural"]) == 0
    err = capsys.readouterr().err
    assert "fit 300/300" in err and "ETA" in err
    assert main(["decode", str(out), "-o", str(tmp_path / "back.png")]) == 0
    assert main(["encode", str(src), "-o", str(tmp_path / "x.picd"), "--codec", "webp", "--preset", "fast"]) == 2
    assert "--preset applies to --codec overfit only" in capsys.readouterr().err


def test_codec_loader_preset_and_encode_node_reports_the_fit():
    from nodes import logic

    (handle,), report = logic.load_codec("overfit", 2, preset="fast")
    assert handle.codec.preset.name == "fast" and "preset fast" in report
    with pytest.raises(logic.NodeInputError, match="PICD Codec Loader: unknown preset"):
        logic.load_codec("overfit", 2, preset="turbo")
    calls = []
    image = torch.from_numpy(_image(24, 32)).float().div(255)[None]
    (streams,), shown = logic.mlic_encode(image, handle, progress=lambda done, total: calls.append((done, total)))
    assert streams[0].image_codec == "overfit" and "bpp" in shown and "fit loss" in shown
    assert calls[-1] == (300, 300) and len(calls) > 10


def test_encoding_works_under_inference_mode():
    """ComfyUI runs nodes under torch.inference_mode(): the fit must still get gradients."""
    image = _image(16, 24)
    with torch.inference_mode():
        data = OverfitCodec(iterations=5).encode(image, 2)
    assert get_codec("overfit").decode(data, 24, 16, 2).shape == (16, 24, 3)
