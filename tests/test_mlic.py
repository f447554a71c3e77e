"""The learned image layer, on a tiny configuration (fast on CPU; the shipped weights are tested separately)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from picd_core.errors import BitstreamError, CodecUnavailableError, UnsupportedBitstreamError  # noqa: E402
from picd_core.mlic.checkpoint import load_model, save_model, sha256_file  # noqa: E402
from picd_core.mlic.codec import MlicCodec  # noqa: E402
from picd_core.mlic.elic import GlyphELIC, ElicConfig  # noqa: E402

TINY = dict(channels=16, latent_channels=32, slices=(8, 8, 16), glyph_channels=8, entropy_hidden=16,
            context_channels=8, lambdas=(0.001, 0.01))


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = GlyphELIC(ElicConfig(**TINY))
    with torch.no_grad():  # a random but non-trivial model: scale the latent up so symbols are not all zero
        m.gain.mul_(20)
        m.gain[0].mul_(0.3)  # rate level 1 quantises more coarsely
        for proj in list(m.glyph_to_analysis) + list(m.glyph_to_synthesis):
            proj.weight.normal_(0, 0.05)
    m.update()
    return m.eval()


@pytest.fixture(scope="module")
def weights(tmp_path_factory, model):
    path = tmp_path_factory.mktemp("w") / "tiny.safetensors"
    save_model(model, path)
    return path


def _inputs(h=128, w=192, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(1, 3, h, w, generator=g)
    glyph = torch.ones(1, 1, h, w)
    glyph[:, :, 20:40, 30:120] = 0.0  # a "word"
    return x, glyph


def test_forward_shapes_and_likelihoods(model):
    x, glyph = _inputs()
    model.train()
    out = model(x.repeat(2, 1, 1, 1), glyph.repeat(2, 1, 1, 1), torch.tensor([0, 1]))
    model.eval()
    assert out["x_hat"].shape == (2, 3, 128, 192)
    assert out["likelihoods"]["y"].shape == (2, 32, 8, 12)
    assert out["likelihoods"]["z"].shape == (2, 16, 2, 3)
    assert (out["likelihoods"]["y"] > 0).all() and (out["likelihoods"]["y"] <= 1).all()


def test_empty_glyph_is_exactly_unconditional(model):
    x, _ = _inputs()
    blank = torch.ones(1, 1, 128, 192)
    with torch.no_grad():
        a = model(x, None, torch.tensor([1]))
        b = model(x, blank, torch.tensor([1]))
    assert torch.equal(a["x_hat"], b["x_hat"]) and torch.equal(a["likelihoods"]["y"], b["likelihoods"]["y"])


def test_fresh_glyph_projections_are_zero_initialised():
    torch.manual_seed(1)
    m = GlyphELIC(ElicConfig(**TINY)).eval()
    x, glyph = _inputs()
    ink = m.ink(glyph, x)
    with torch.no_grad():
        assert torch.equal(m.analyse(x, ink, 0), m.analyse(x, torch.zeros_like(ink), 0))


def test_compress_decompress_is_exact_and_deterministic(model):
    x, glyph = _inputs()
    a = model.compress(x, glyph, 1)
    b = model.compress(x, glyph, 1)
    assert a["strings"] == b["strings"] and a["crc"] == b["crc"]
    assert len(a["strings"][1]) > 20  # real symbols were coded
    x_hat = model.decompress(a["strings"], a["shape"], glyph, 1, crc=a["crc"])
    with torch.no_grad():
        expected = model(x, glyph, torch.tensor([1]))["x_hat"].clamp(0, 1)
    # The coder runs the entropy path in float64, the training forward in float32: equal up to float32 noise.
    assert (x_hat - expected).abs().mean() < 1e-4 and (x_hat - expected).abs().max() < 0.05
    low = model.compress(x, glyph, 0)
    assert len(low["strings"][1]) < len(a["strings"][1])  # rate level 1 codes fewer bits than level 2


def test_desync_is_detected_not_decoded_into_garbage(model, weights):
    x, glyph = _inputs()
    out = model.compress(x, glyph, 1)
    other = load_model(weights)
    with torch.no_grad():
        other.entropy.parameters_net[1].net[0].bias.add_(0.05)  # a decoder whose entropy parameters drift
    with pytest.raises(BitstreamError, match="desynchronised"):
        other.decompress(out["strings"], out["shape"], glyph, 1, crc=out["crc"])


def test_decode_in_another_process_with_another_thread_count(model, weights, tmp_path):
    x, glyph = _inputs(seed=3)
    codec = MlicCodec(weights)
    image = (x[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    glyph_u8 = (glyph[0, 0].numpy() * 255).astype(np.uint8)
    payload = codec.encode(image, 2, glyph_u8)
    here = codec.decode(payload, 192, 128, 2, glyph_u8)
    np.save(tmp_path / "glyph.npy", glyph_u8)
    (tmp_path / "payload.bin").write_bytes(payload)
    code = (
        "import sys, hashlib, numpy as np, torch; torch.set_num_threads(1); "
        "from picd_core.mlic.codec import MlicCodec; "
        f"c = MlicCodec({str(weights)!r}); d = open({str(tmp_path / 'payload.bin')!r}, 'rb').read(); "
        f"g = np.load({str(tmp_path / 'glyph.npy')!r}); "
        "print(hashlib.sha256(c.decode(d, 192, 128, 2, g).tobytes()).hexdigest())"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    import hashlib

    assert out.stdout.strip() == hashlib.sha256(here.tobytes()).hexdigest()


def _latent_and_ink(model, h=320, w=448, seed=5):
    g = torch.Generator().manual_seed(seed)
    y = torch.randn(1, model.cfg.latent_channels, h // 16, w // 16, generator=g, dtype=torch.float64) * 20
    ink = (torch.rand(1, 1, h, w, generator=g) > 0.8).double()
    return y, ink


def test_decoded_pixels_do_not_depend_on_the_thread_count(model):
    # With the float32 synthesis (GlyphELIC.synthesise) this image decoded differently with 1, 2 and 3 threads.
    x, glyph = _inputs(h=320, w=448, seed=5)
    out = model.compress(x, glyph, 1)
    before = torch.get_num_threads()
    decoded = []
    try:
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            decoded.append(model.decompress(out["strings"], out["shape"], glyph, 1, crc=out["crc"]))
    finally:
        torch.set_num_threads(before)
    assert all(torch.equal(d, decoded[0]) for d in decoded[1:])


def test_exact_synthesis_matches_the_float32_transform(model):
    y, ink = _latent_and_ink(model)
    with torch.no_grad():
        reference = model.synthesise(y.float(), ink.float(), 1).double()
    exact = model._synthesis_path()(y, ink, 1)
    assert exact.shape == reference.shape
    assert float((exact - reference).abs().max()) < 1e-5 * float(reference.abs().max())  # measured: 1.8e-6


def test_exact_synthesis_bands_give_the_same_bits(model, monkeypatch):
    from picd_core.mlic import exact_synthesis

    y, ink = _latent_and_ink(model, seed=6)
    whole = exact_synthesis.ExactSynthesis(model)(y, ink, 0)
    monkeypatch.setattr(exact_synthesis, "BAND_ELEMENTS", 5000)  # every convolution in bands of a few rows
    assert torch.equal(exact_synthesis.ExactSynthesis(model)(y, ink, 0), whole)


def test_table_gelu_is_within_float32_noise_of_torch():
    from picd_core.mlic.exact_synthesis import _Gelu

    x = torch.linspace(-12, 12, 240_001, dtype=torch.float64)
    assert float((_Gelu()(x) - torch.nn.functional.gelu(x)).abs().max()) < 1e-7


def test_codec_tiles_and_payload_validation(weights):
    codec = MlicCodec(weights, tile=64)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (128, 192, 3), dtype=np.uint8)
    payload = codec.encode(image, 1, None)
    decoded = codec.decode(payload, 192, 128, 1, None)
    assert decoded.shape == (128, 192, 3)
    assert np.array_equal(decoded, codec.decode(payload, 192, 128, 1, None))
    for cut in (0, 3, 8, len(payload) // 2, len(payload) - 1):
        with pytest.raises(BitstreamError):
            codec.decode(payload[:cut], 192, 128, 1, None)
    with pytest.raises(BitstreamError):
        codec.decode(payload + b"\x00", 192, 128, 1, None)
    wrong = bytes([payload[0] ^ 0xFF]) + payload[1:]
    with pytest.raises(UnsupportedBitstreamError, match="other MLIC weights"):
        codec.decode(wrong, 192, 128, 1, None)
    with pytest.raises(BitstreamError):
        codec.decode(payload, 192, 128, 7, None)


def test_differentiable_model_is_a_private_autograd_ready_copy(weights):
    with torch.inference_mode():  # as ComfyUI loads a codec inside a node
        codec = MlicCodec(weights)
    assert next(codec.model.parameters()).is_inference()
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (64, 128, 3), dtype=np.uint8)
    decoded = codec.decode(codec.encode(image, 2, None), 128, 64, 2, None)
    model = codec.differentiable_model("cpu")
    assert not any(t.is_inference() for t in [*model.parameters(), *model.buffers()])
    assert all(p.data_ptr() != q.data_ptr() for p, q in zip(model.parameters(), codec.model.parameters()))
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float().div(255).requires_grad_(True)
    approx = model(x, None, 2)
    approx.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    # The straight-through forward stands in for the real round trip (measured: mean abs difference 0.001).
    real = torch.from_numpy(decoded).permute(2, 0, 1)[None].float().div(255)
    assert float((approx.detach().clamp(0, 1) - real).abs().mean()) < 0.02


def test_weights_hash_is_verified(weights, tmp_path):
    good = sha256_file(weights)
    load_model(weights, expected_sha256=good)
    bad = tmp_path / "bad.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    bad.write_bytes(bytes(data))
    with pytest.raises(CodecUnavailableError, match="hash check"):
        load_model(bad, expected_sha256=good)
    with pytest.raises(CodecUnavailableError, match="not found"):
        load_model(tmp_path / "missing.safetensors")


def test_pipeline_uses_mlic_through_the_registry(weights, monkeypatch, screen):
    from picd_core.container import PicdFile
    from picd_core.image_codecs import base
    from picd_core.mlic import codec as mlic_codec
    from picd_core.pipeline import decode_picd, encode_image

    monkeypatch.setenv("PICD_MLIC_WEIGHTS", str(weights))
    mlic_codec._default_weights.cache_clear()
    base._INSTANCES.pop("mlic", None)
    try:
        result = encode_image(screen.image, mode="screen", codec="mlic", quality=1, layout=screen.layout)
        picd = PicdFile.from_bytes(result.picd.to_bytes())
        assert (picd.padded_width, picd.padded_height) == (832, 640)
        decoded = decode_picd(picd)
        assert decoded.image.shape == screen.image.shape
        drifted = PicdFile(**{**picd.__dict__, "glyph_crc": picd.glyph_crc ^ 1})
        from picd_core import renderer_check
        from picd_core.errors import BitstreamError, GlyphMismatchError

        with pytest.raises(BitstreamError, match="corrupt"):  # this machine passes the reference render: file's fault
            decode_picd(drifted)
        monkeypatch.setattr(renderer_check, "renderer_matches_reference", lambda: False)
        with pytest.raises(GlyphMismatchError):  # mlic conditions on the glyph: drift is fatal, not a warning
            decode_picd(drifted)
    finally:
        mlic_codec._default_weights.cache_clear()
        base._INSTANCES.pop("mlic", None)


def test_toy_training_lowers_the_loss_resumes_and_exports(tmp_path):
    from picd_core.mlic.export import export_weights
    from picd_core.mlic.train import TrainConfig, train

    cfg = TrainConfig(steps=40, batch_size=4, crop=64, lr=1e-3, checkpoint_every=20, screen_pool=2)
    train(tmp_path / "run", [], ElicConfig(**TINY), cfg, log=lambda m: None)
    history = [json.loads(line) for line in (tmp_path / "run" / "history.jsonl").read_text().splitlines()]
    first_loss = history[0]["loss"]
    cfg2 = TrainConfig(steps=80, batch_size=4, crop=64, lr=1e-3, checkpoint_every=20, screen_pool=2)
    logs = []
    train(tmp_path / "run", [], ElicConfig(**TINY), cfg2, resume=True, log=logs.append)
    assert logs[0] == "resuming from step 40"
    history = [json.loads(line) for line in (tmp_path / "run" / "history.jsonl").read_text().splitlines()]
    assert history[-1]["step"] == 80 and history[-1]["loss"] < first_loss
    entry = export_weights(tmp_path / "run" / "model.safetensors", tmp_path / "exported.safetensors")
    codec = MlicCodec(tmp_path / "exported.safetensors", entry["sha256"])
    image = np.full((64, 64, 3), 128, np.uint8)
    assert codec.decode(codec.encode(image, 1), 64, 64, 1).shape == (64, 64, 3)
