"""Our rANS coder and entropy models (picd_core/mlic/entropy_coding.py): exact, the CompressAI 1.2.8 stream format,
robust to corrupt input, and CompressAI is never imported."""

import hashlib
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from picd_core.errors import BitstreamError  # noqa: E402
from picd_core.mlic.entropy_coding import (BufferedRansEncoder, EntropyBottleneck, GaussianConditional,  # noqa: E402
                                           RansDecoder, pmf_to_quantized_cdf)

# Written by CompressAI 1.2.8's C++ BufferedRansEncoder (two encode calls, then flush) for the inputs of _vector().
REFERENCE_SHA256 = "1a11285b7bcd7685eb2e4d65829268640347d2722984bf64c3387115a64f4867"
REFERENCE_BYTES = 388


def _vector():
    cdfs = [pmf_to_quantized_cdf([0.5, 0.3, 0.15, 0.05]), pmf_to_quantized_cdf([0.05, 0.2, 0.5, 0.2, 0.05]),
            pmf_to_quantized_cdf([0.9, 0.1])]
    sizes, offsets = [len(c) for c in cdfs], [-1, -2, 0]
    cdfs = [c + [0] * (max(sizes) - len(c)) for c in cdfs]
    idx = [(i * 7 + i // 3) % 3 for i in range(400)]
    sym = [((i * 2654435761) >> 7) % 7 - 3 for i in range(400)]
    sym[10], sym[11], sym[12] = 70000, -1234567, 300  # escapes: far above, far below, above
    idx[10:13] = [0, 1, 2]
    return cdfs, sizes, offsets, idx, sym


def test_same_bytes_as_compressai_and_exact_round_trip():
    cdfs, sizes, offsets, idx, sym = _vector()
    assert cdfs[0][:5] == [0, 32768, 52429, 62259, 65536]  # the tables the reference was written with
    enc = BufferedRansEncoder()
    enc.encode_with_indexes(sym[:200], idx[:200], cdfs, sizes, offsets)
    enc.encode_with_indexes(sym[200:], idx[200:], cdfs, sizes, offsets)
    data = enc.flush()
    assert len(data) == REFERENCE_BYTES and hashlib.sha256(data).hexdigest() == REFERENCE_SHA256
    dec = RansDecoder()
    dec.set_stream(data)
    assert dec.decode_stream(idx[:150], cdfs, sizes, offsets) + dec.decode_stream(idx[150:], cdfs, sizes,
                                                                                   offsets) == sym


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.floats(0.001, 1.0), min_size=1, max_size=40), min_size=1, max_size=4),
       st.lists(st.tuples(st.integers(0, 3), st.integers(-5000, 5000)), max_size=300))
def test_round_trip_any_tables_and_symbols(pmfs, pairs):
    cdfs = [pmf_to_quantized_cdf(p + [1e-6]) for p in pmfs]
    sizes, offsets = [len(c) for c in cdfs], [-(len(p) // 2) for p in pmfs]
    cdfs = [c + [0] * (max(sizes) - len(c)) for c in cdfs]
    idx = [i % len(cdfs) for i, _ in pairs]
    sym = [s for _, s in pairs]
    enc = BufferedRansEncoder()
    enc.encode_with_indexes(sym, idx, cdfs, sizes, offsets)
    dec = RansDecoder()
    dec.set_stream(enc.flush())
    assert dec.decode_stream(idx, cdfs, sizes, offsets) == sym


def test_cdf_is_valid_even_for_tiny_probabilities():
    cdf = pmf_to_quantized_cdf([1.0] + [1e-12] * 300)
    assert cdf[0] == 0 and cdf[-1] == 1 << 16 and all(b > a for a, b in zip(cdf, cdf[1:]))


def test_truncated_stream_is_an_error_not_garbage():
    cdfs, sizes, offsets, idx, sym = _vector()
    enc = BufferedRansEncoder()
    enc.encode_with_indexes(sym, idx, cdfs, sizes, offsets)
    data = enc.flush()
    with pytest.raises(BitstreamError):
        RansDecoder().decode_with_indexes(data[: len(data) // 2], idx, cdfs, sizes, offsets)
    with pytest.raises(BitstreamError):
        RansDecoder().set_stream(data[:6])


def test_entropy_models_code_exactly_and_give_likelihoods():
    torch.manual_seed(0)
    eb = EntropyBottleneck(8)
    eb.update(force=True)
    z = torch.randn(1, 8, 5, 7) * 3
    strings = eb.compress(z)
    z_hat = eb.decompress(strings, (5, 7))
    assert torch.equal(z_hat, torch.round(z - eb.medians().reshape(1, 8, 1, 1)) + eb.medians().reshape(1, 8, 1, 1))
    _, lik = eb.eval()(z)
    assert lik.shape == z.shape and (lik > 0).all() and (lik <= 1).all()
    gc = GaussianConditional(None)
    gc.update_scale_table([0.11, 0.5, 2.0, 8.0])
    assert gc._quantized_cdf.shape[0] == 4 and (gc._cdf_length == 2 * (-gc._offset) + 3).all()
    _, lik = gc.eval()(torch.zeros(3), torch.tensor([0.2, 1.0, 5.0]))
    assert lik[0] > lik[1] > lik[2]


def test_the_learned_codec_never_imports_compressai():
    code = ("import sys, numpy as np; from picd_core import encode_image, decode_picd; "
            "img = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype('uint8'); "
            "r = encode_image(img, mode='natural', codec='mlic', quality=1); decode_picd(r.picd); "
            "print('compressai' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False"
