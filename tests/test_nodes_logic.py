"""Node logic without ComfyUI: IMAGE tensors in, custom values out, errors that name what to connect."""

from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nodes import logic  # noqa: E402
from picd_core import PicdFile, TextLayout  # noqa: E402
from tests.conftest import needs_tesseract  # noqa: E402


def _batch(*arrays):
    return torch.from_numpy(np.stack(arrays)).float() / 255


@pytest.fixture(scope="module")
def webp():
    (codec,), report = logic.load_codec("webp", 50)
    assert codec.quality == 50 and report == "webp, quality 50"
    return codec


def q(codec, quality):
    return replace(codec, quality=quality)


@needs_tesseract
def test_screen_chain_ocr_text_glyph_encode_save_load_decode_render(screen, webp, tmp_path):
    images = _batch(screen.image, screen.image[:, ::-1].copy())  # a batch of two
    (layouts, boxes), report = logic.ocr_extract(images)
    assert len(layouts) == 2 and all(isinstance(l, TextLayout) and len(l) > 10 for l in layouts)
    assert boxes.shape == images.shape and "words" in report
    (bits,), report = logic.text_encode(layouts)
    assert len(bits) == 2 and "bytes" in report
    (glyph, mask, _styled), report = logic.glyph_render(layouts, reference_image=images)
    assert report == f"{images.shape[2]}×{images.shape[1]} (from the reference image)"
    assert glyph.shape == images.shape and mask.shape == images.shape[:3] and mask.max() == 1.0
    (streams,), report = logic.mlic_encode(images, q(webp, 20), text_bits=bits, glyph=glyph)
    assert len(streams) == 2 and all(s.mode == "screen" for s in streams) and "bpp" in report
    (same,), saved = logic.save_bitstream(streams, "picd/test", tmp_path)
    assert saved == ["picd/test_00001.picd", "picd/test_00002.picd"]
    (_,), saved_again = logic.save_bitstream(streams[:1], "picd/test", tmp_path)
    assert saved_again == ["picd/test_00003.picd"]  # never overwrites
    (loaded,), _ = logic.load_bitstream(tmp_path / saved[0])
    (decoded, decoded_layouts, decoded_glyph), _ = logic.mlic_decode(loaded)
    assert decoded.shape == (1,) + images.shape[1:]
    assert decoded_layouts[0].unstyled() == layouts[0]
    assert torch.equal(decoded_glyph[0], glyph[0])
    (rendered,), _ = logic.direct_text_render(decoded, decoded_layouts)
    assert rendered.shape == decoded.shape and not torch.equal(rendered, decoded)


def test_natural_mode_and_batches(webp):
    rng = np.random.default_rng(0)
    images = _batch(*(rng.integers(0, 256, (64, 96, 3), dtype=np.uint8) for _ in range(3)))
    (streams,), _ = logic.mlic_encode(images, q(webp, 50))
    assert [s.mode for s in streams] == ["natural"] * 3
    (decoded, layouts, glyph), _ = logic.mlic_decode(streams)
    assert decoded.shape == (3, 64, 96, 3) and all(len(l) == 0 for l in layouts)
    assert torch.all(glyph == 1.0)


def test_errors_name_the_node_to_connect(screen, webp):
    images = _batch(screen.image)
    layout = [screen.layout]
    with pytest.raises(logic.NodeInputError, match="PICD Codec Loader"):
        logic.mlic_encode(images, "webp")
    with pytest.raises(logic.NodeInputError, match="PICD Text Encode"):
        logic.mlic_encode(images, q(webp, 10), glyph=images)
    (bits,), _ = logic.text_encode(layout)
    with pytest.raises(logic.NodeInputError, match="2 text layers for 1 image"):
        logic.mlic_encode(images, q(webp, 10), text_bits=bits * 2)
    with pytest.raises(logic.NodeInputError, match="glyph does not match"):
        logic.mlic_encode(images, q(webp, 10), text_bits=bits, glyph=torch.ones_like(images))
    with pytest.raises(logic.NodeInputError, match="outside"):
        logic.mlic_encode(images, q(webp, 1000))
    with pytest.raises(logic.NodeInputError, match="PICD OCR Extract"):
        logic.text_encode("not a layout")
    with pytest.raises(logic.NodeInputError, match="IMAGE batch"):
        logic.ocr_extract(torch.zeros(10, 10))
    with pytest.raises(logic.NodeInputError, match="PICD Encode or PICD Load Bitstream"):
        logic.mlic_decode([b"bytes"])
    with pytest.raises(logic.NodeInputError, match="relative name"):
        logic.save_bitstream([PicdFile("natural", 4, 4, 4, 4, "webp", 1, b"x")], "../escape", "/tmp")
    with pytest.raises(logic.NodeInputError, match="models/picd"):
        logic.load_codec("mine.safetensors", resolve_model_file=lambda name: None)
    with pytest.raises(logic.NodeInputError, match="PICD Load Bitstream"):
        logic.load_bitstream("/nonexistent.picd")


def test_mixed_sizes_cannot_form_a_batch(webp):
    a = logic.mlic_encode(_batch(np.zeros((64, 64, 3), np.uint8)), webp)[0][0]
    b = logic.mlic_encode(_batch(np.zeros((64, 128, 3), np.uint8)), webp)[0][0]
    with pytest.raises(logic.NodeInputError, match="different sizes"):
        logic.mlic_decode(a + b)


def test_codec_choices_list_builtins_then_weight_files():
    choices = logic.codec_choices(["mine.safetensors", "notes.txt"])
    assert choices[0] == "avif" and choices[-1] == "mine.safetensors" and "notes.txt" not in choices
    assert "mlic (built-in)" in choices and "overfit" in choices


def test_codec_choices_come_from_the_registry(monkeypatch):
    from picd_core.image_codecs import base

    class Raw(base.ImageCodec):
        name, quality_range, default_quality = "raw-test", (0, 0), 0

        def encode(self, image, quality, glyph=None):
            return image.tobytes()

        def decode(self, data, width, height, quality, glyph=None):
            return np.frombuffer(data, np.uint8).reshape(height, width, 3)

    monkeypatch.setitem(base._REGISTRY, "raw-test", (Raw, lambda: None, 5000))
    choices = logic.codec_choices([])
    assert choices[:5] == ["avif", "webp", "jpeg", "overfit", "mlic (built-in)"] and choices[-1] == "raw-test"
    (handle,), _ = logic.load_codec("raw-test", 0)
    assert isinstance(handle.codec, Raw)


def test_quality_is_checked_per_codec_before_loading():
    assert logic.codec_quality_range("mlic (built-in)") == (1, 6)
    assert logic.codec_quality_range("jpeg") == (1, 95)
    logic.check_codec_quality("mlic (built-in)", 6)
    with pytest.raises(logic.NodeInputError, match=r"PICD Codec Loader: quality 50 is outside 1\.\.6 .*rate level"):
        logic.check_codec_quality("mlic (built-in)", 50)
    with pytest.raises(logic.NodeInputError, match="outside 1..95"):
        logic.load_codec("jpeg", 0)
    (codec,), _ = logic.load_codec("avif", 0)
    assert codec.quality == 0


def test_glyph_render_needs_a_size(screen):
    with pytest.raises(logic.NodeInputError, match="connect reference_image"):
        logic.glyph_render([screen.layout])
    (glyph, _, _), report = logic.glyph_render([screen.layout], width=320, height=200)
    assert glyph.shape == (1, 200, 320, 3) and "width/height" in report


def test_error_type_has_no_file_system_path():
    assert f"{logic.NodeInputError.__module__}.{logic.NodeInputError.__qualname__}" == "picd.NodeInputError"


def test_encode_node_rate_control_redaction_and_text_edit_node(screen, webp):
    images = _batch(screen.image)
    (bits,), _ = logic.text_encode([screen.layout])
    h, w = screen.image.shape[:2]
    (streams,), report = logic.mlic_encode(images, webp, text_bits=bits, target_bpp=0.15, redact="digits")
    assert len(streams[0].to_bytes()) * 8 <= 0.15 * w * h and "bpp" in report
    (decoded, layouts, _), _ = logic.mlic_decode(streams)
    assert layouts[0].styled and not any(c.isdigit() for c in layouts[0].text)
    word = next(x for x in layouts[0].words if x.text.isalpha() and len(x.text) >= 4)
    (edited, edited_layouts), note = logic.text_edit(decoded, layouts, replace=f"{word.text}=ZZZZ")
    assert any(x.text == "ZZZZ" for x in edited_layouts[0].words) and note.startswith(str(
        sum(x.text == word.text for x in layouts[0].words)))
    (plain,), _ = logic.direct_text_render(decoded, layouts)
    assert not torch.equal(edited, plain)
    with pytest.raises(logic.NodeInputError, match="PICD Text Edit: .*OLD=NEW"):
        logic.text_edit(decoded, layouts, replace="nonsense")
    with pytest.raises(logic.NodeInputError, match="PICD Encode: target_bpp"):
        logic.mlic_encode(images, webp, text_bits=bits, target_bpp=-1)
    with pytest.raises(logic.NodeInputError, match="PICD Encode: text_layer must be one of all, redrawn"):
        logic.mlic_encode(images, webp, text_bits=bits, text_layer="some")
    (lean,), _ = logic.mlic_encode(images, webp, text_bits=bits, text_layer="redrawn")
    (_, lean_layouts, _), _ = logic.mlic_decode(lean)
    assert lean_layouts[0].words and all(x.style is not None for x in lean_layouts[0].words)


def test_glyph_render_also_draws_the_styled_text(screen, webp):
    (bits,), _ = logic.text_encode([screen.layout])
    (streams,), _ = logic.mlic_encode(_batch(screen.image), webp, text_bits=bits)
    (_, layouts, _), _ = logic.mlic_decode(streams)
    (glyph, mask, styled), _ = logic.glyph_render(layouts, reference_image=_batch(screen.image))
    assert styled.shape == glyph.shape and not torch.equal(styled, glyph)
    assert layouts[0].redrawn  # the styled preview draws the transmitted colours, not black only
    colours = torch.unique(styled.reshape(-1, 3), dim=0)
    assert len(colours) > 50


def test_a_file_damaged_behind_its_checksums_fails_in_the_decode_node_with_one_line(tmp_path):
    # Damage as the fuzzer makes it (the image codec's payload mutated, every section CRC recomputed) loads in PICD
    # Load Bitstream; PICD Decode must then say, in one line, which node failed and what to do.
    import random

    from picd_core import BitstreamError, PicdError, UnsupportedBitstreamError
    from picd_core.testing.fuzz import build_corpus, mutate_image_payload

    corpus = build_corpus(("webp", "mlic"))
    assert corpus
    failures = []
    for n, data in enumerate(corpus):
        for seed in range(8):
            path = tmp_path / f"damaged_{n}_{seed}.picd"
            path.write_bytes(mutate_image_payload(random.Random(seed), data))
            (loaded,), _ = logic.load_bitstream(path)
            try:
                logic.mlic_decode([PicdFile.from_bytes(data)] + loaded)  # the damaged file second in a batch
            except logic.NodeInputError as err:
                failures.append(err)
    assert len(failures) >= 2 * len(corpus)  # most mutations are caught; some decode into changed pixels
    for err in failures:
        message, cause = str(err), err.__context__
        assert message.startswith("PICD Decode: bitstream 2 of 2: ") and "\n" not in message, message
        assert err.__suppress_context__ and isinstance(cause, PicdError), message  # no traceback from the codec
        if isinstance(cause, BitstreamError) and not isinstance(cause, UnsupportedBitstreamError):
            assert message.endswith("; load an intact copy of the .picd file, or encode the image again"), message
    truncated = PicdFile.from_bytes(corpus[0])
    truncated = replace(truncated, image_layer=truncated.image_layer[: len(truncated.image_layer) // 2])
    with pytest.raises(logic.NodeInputError, match=r"^PICD Decode: .*load an intact copy"):
        logic.mlic_decode([truncated])
