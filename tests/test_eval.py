"""Evaluation suite: text-accuracy definition, OCR judges, BD metrics against reference values, `picd eval`."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from picd_core.errors import InvalidInputError
from picd_core.eval.judges import Piece, reading_order
from picd_core.metrics.bd import bd_quality, bd_rate

pytest.importorskip("rapidfuzz")
from picd_core.metrics.text import text_accuracy  # noqa: E402

from tests.conftest import needs_tesseract  # noqa: E402


def test_text_accuracy_definition():
    perfect = text_accuracy(["Total:", "$42.00", "due"], ["Total: $42.00", "due"])
    assert (perfect.word_recall, perfect.char_recall, perfect.char_precision) == (1.0, 1.0, 1.0)
    # engines that drop spaces (PP-OCR) are not penalised; one wrong character costs its word
    merged = text_accuracy(["Total:", "$42.00", "due"], ["Total:$42.O0due"])
    assert merged.word_recall == pytest.approx(2 / 3) and merged.char_recall == pytest.approx(14 / 15)
    assert text_accuracy(["Hello"], ["hello"]).word_recall == 0.0  # case-sensitive
    extra = text_accuracy(["ok"], ["ok", "noise"])
    assert extra.word_recall == 1.0 and extra.char_precision == pytest.approx(2 / 7)
    assert text_accuracy([], []).word_recall == 1.0 and text_accuracy(["a"], []).char_f1 == 0.0


def test_reading_order_groups_rows_then_left_to_right():
    pieces = [Piece("right", 300, 12, 360, 30), Piece("second", 10, 50, 80, 70), Piece("left", 10, 10, 60, 31)]
    assert reading_order(pieces) == ["left", "right", "second"]


def test_reference_lines_are_scored_word_by_word(tmp_path):
    import json

    from picd_core.eval.judges import rapidocr_reference, reference_words

    entries = [{"text": "has quit (Ping timeout: 248 seconds)", "box": [[90, 40], [400, 40], [400, 60], [90, 60]]},
               {"text": "[20:03:28] <Anjor>", "box": [[10, 10], [200, 10], [200, 30], [10, 30]]}]
    (tmp_path / "shot.rapidocr.json").write_text(json.dumps(entries))
    pieces = rapidocr_reference(tmp_path / "shot.png")
    assert pieces[1] == Piece("[20:03:28] <Anjor>", 10, 10, 200, 30)
    words = reference_words(pieces)
    assert words == ["[20:03:28]", "<Anjor>", "has", "quit", "(Ping", "timeout:", "248", "seconds)"]
    # one misread word costs that word, not the whole line (scored as lines, recall here would be 1/2)
    score = text_accuracy(words, ["[20:03:28] <Anjor>", "has quit (Ping timeout 248 seconds)"])
    assert score.word_recall == pytest.approx(7 / 8)


# The README example of the `bjontegaard` package (FAU-LMS, 1.3.0); its PCHIP equals the JVET CTC Excel sheet to
# 10 decimals according to its authors. Values below were computed with that package (cubic/pchip/akima).
RATE_A, PSNR_A = [9487.76, 4593.60, 2486.44, 1358.24], [40.037, 38.615, 36.845, 34.851]
RATE_T, PSNR_T = [9787.80, 4469.00, 2451.52, 1356.24], [40.121, 38.651, 36.970, 34.987]
REFERENCE = {"cubic": (-4.420462706026296, 0.12040941911471303), "pchip": (-4.417485350589045, 0.11969278542479489),
             "akima": (-4.425245156997493, 0.11940927028529469)}


@pytest.mark.parametrize("method", sorted(REFERENCE))
def test_bd_metrics_match_the_reference_calculation(method):
    rate, psnr = REFERENCE[method]
    assert bd_rate(RATE_A, PSNR_A, RATE_T, PSNR_T, method) == pytest.approx(rate, abs=1e-9)
    assert bd_quality(RATE_A, PSNR_A, RATE_T, PSNR_T, method) == pytest.approx(psnr, abs=1e-9)


def test_bd_metrics_agree_with_the_bjontegaard_package_on_other_curves():
    bd = pytest.importorskip("bjontegaard")
    ra, qa = [0.1, 0.2, 0.4, 0.8, 1.6], [28.0, 30.5, 33.2, 36.0, 38.4]
    rt, qt = [0.09, 0.17, 0.36, 0.75, 1.4], [28.4, 31.0, 33.5, 36.6, 38.9]
    for method in ("cubic", "pchip", "akima"):
        assert bd_rate(ra, qa, rt, qt, method) == pytest.approx(bd.bd_rate(ra, qa, rt, qt, method=method), abs=1e-8)
        assert bd_quality(ra, qa, rt, qt, method) == pytest.approx(bd.bd_psnr(ra, qa, rt, qt, method=method),
                                                                    abs=1e-8)


def test_bd_sanity_and_errors():
    assert bd_rate(RATE_A, PSNR_A, RATE_A, PSNR_A) == pytest.approx(0.0, abs=1e-9)
    half = [r / 2 for r in RATE_A]
    assert bd_rate(RATE_A, PSNR_A, half, PSNR_A, "pchip") == pytest.approx(-50.0, abs=1e-6)
    with pytest.raises(InvalidInputError, match="do not overlap"):
        bd_rate(RATE_A, PSNR_A, RATE_T, [q + 20 for q in PSNR_T])
    with pytest.raises(InvalidInputError, match="method"):
        bd_rate(RATE_A, PSNR_A, RATE_T, PSNR_T, "linear")


@needs_tesseract
def test_eval_cli_writes_compressai_json_plot_and_resumes(tmp_path):
    run = [sys.executable, "-m", "picd_core.cli"]
    args = ["eval", "--data", "screens", "--screens", "1", "--codec", "webp", "--quality", "5", "60", "--render",
            "none", "glyph", "--judge", "tesseract", "-o", str(tmp_path / "r.json"), "--plot", str(tmp_path / "rd.png")]
    first = subprocess.run(run + args, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    curve = json.loads((tmp_path / "r-none.json").read_text())
    assert curve["name"] == "PICD webp render=none" and curve["results"]["quality"] == [5, 60]
    results = curve["results"]
    for key in ("bpp", "psnr-rgb", "ms-ssim-rgb", "encoding_time", "decoding_time", "text-word-recall-tesseract"):
        assert len(results[key]) == 2
    assert results["bpp"][0] < results["bpp"][1] and results["psnr-rgb"][0] < results["psnr-rgb"][1]
    # the image layer as coded lacks the words the decoder redraws; the default render draws them back
    glyph = json.loads((tmp_path / "r-glyph.json").read_text())["results"]
    assert 0.5 < glyph["text-word-recall-tesseract"][1] <= 1.0
    assert results["text-word-recall-tesseract"][1] < glyph["text-word-recall-tesseract"][1]
    assert (tmp_path / "rd.png").stat().st_size > 10_000
    cache = tmp_path / "r.partial.jsonl"
    assert len(cache.read_text().splitlines()) == 1 + 4  # header + 1 image × 2 qualities × 2 renders
    second = subprocess.run(run + args, capture_output=True, text=True)  # resumes: nothing left to measure
    assert second.returncode == 0 and "[" not in second.stderr
    assert json.loads((tmp_path / "r-none.json").read_text()) == curve
    bd = subprocess.run(run + ["bd", str(tmp_path / "r-none.json"), str(tmp_path / "r-glyph.json")],
                        capture_output=True, text=True)
    assert bd.returncode == 2 and "at least 4" in bd.stderr  # two rates are not enough for a BD curve


def test_eval_with_diffusion_rendering_on_a_tiny_model(tmp_path):
    pytest.importorskip("diffusers")
    from picd_core.data import generate_screen
    from picd_core.diffusion.tiny import build_tiny_sd
    from picd_core.images import save_image

    model = build_tiny_sd(tmp_path / "sd")
    (tmp_path / "imgs").mkdir()
    save_image(generate_screen(2, 480, 320).image[:128, :128].copy(), tmp_path / "imgs" / "crop.png")
    out = subprocess.run([sys.executable, "-m", "picd_core.cli", "eval", "--data", str(tmp_path / "imgs"), "--codec",
                          "mlic", "--quality", "1", "--render", "diffusion", "--model", str(model), "--steps", "1",
                          "--ocr-weight", "0", "--judge", "none", "--mode", "natural", "-o", str(tmp_path / "r.json")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    curve = json.loads((tmp_path / "r.json").read_text())
    assert curve["name"] == "PICD mlic render=diffusion" and len(curve["results"]["psnr-rgb"]) == 1


def test_patch_fid_per_curve_survives_a_resumed_run(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    from picd_core.eval import runner
    from picd_core.metrics import deep

    # A stand-in for the Inception (its weights are not available offline): pooled colours as 12-d features.
    monkeypatch.setattr(deep, "load_fid_inception", lambda: lambda x: torch.nn.functional.adaptive_avg_pool2d(
        x, 2).flatten(1))
    cfg = runner.EvalConfig(data="screens", screens=2, screen_size=(512, 320), codec="jpeg", qualities=[5, 90],
                            judges=[], perceptual=False, deep=["fid"], mode="natural")  # plain coding, no redraw
    cache = tmp_path / "r.partial.jsonl"
    records = runner.evaluate(cfg, cache)
    first = runner.patch_fid_scores(cfg, cache, records)
    assert set(first) == {("none", 5), ("none", 90)}
    assert first[("none", 5)] > first[("none", 90)] >= 0  # coarser quantisation, farther from the originals
    resumed = runner.evaluate(cfg, cache)  # everything comes from the cache; the features from the .fid folder
    assert runner.patch_fid_scores(cfg, cache, resumed) == first
    curve = runner.summarise(resumed, cfg, "jpeg", {"patch-fid": first})["none"]
    assert curve["results"]["patch-fid"] == [first[("none", 5)], first[("none", 90)]]


def test_bd_score_is_the_mean_gap_between_linear_curves_over_log_rate():
    from picd_core.metrics.bd import bd_score

    rates = [0.02, 0.05, 0.1, 0.2]
    assert bd_score(rates, [0.3, 0.5, 0.7, 0.8], rates, [0.4, 0.6, 0.8, 0.9]) == pytest.approx(0.1)
    # repeated and saturated scores are fine; only the overlap in rate counts (test starts at 0.1: anchor 0.7..0.8)
    assert bd_score(rates, [0.3, 0.5, 0.7, 0.9], [0.1, 0.2, 0.4], [1.0, 1.0, 1.0]) == pytest.approx(
        1.0 - (0.7 + 0.9) / 2)
    # a constant shift in rate at a linear-in-log score: the test curve reaches each score at half the rate
    lr = [np.log10(r) for r in rates]
    half = [r / 2 for r in rates]
    assert bd_score(rates, lr, half, [v + np.log10(2) for v in np.log10(half)]) == pytest.approx(np.log10(2))
    with pytest.raises(InvalidInputError, match="do not overlap"):
        bd_score([0.01, 0.02], [0.1, 0.2], [0.05, 0.1], [0.5, 0.6])
    with pytest.raises(InvalidInputError, match="distinct"):
        bd_score([0.1, 0.1], [0.1, 0.2], rates, rates)
