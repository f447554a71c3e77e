import json
import subprocess
import sys
from pathlib import Path


from picd_core.images import load_image
from tests.conftest import needs_tesseract

SAMPLE = Path(__file__).resolve().parents[1] / "picd_core" / "assets" / "samples" / "screen.png"


def picd(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "picd_core.cli", *map(str, args)], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"picd {args} failed ({proc.returncode}): {proc.stderr}")
    return proc


def assert_one_line_error(proc, fragment):
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], proc.stderr


@needs_tesseract
def test_encode_info_decode_end_to_end(tmp_path):
    out = tmp_path / "s.picd"
    enc = picd("encode", SAMPLE, "-o", out, "--mode", "screen", "--codec", "webp", "--quality", "5")
    assert "bpp" in enc.stdout and out.is_file()
    info = json.loads(picd("info", out, "--json").stdout)
    assert info["mode"] == "screen" and info["width"] == 1024 and info["height"] == 640
    assert info["bytes"]["total"] == out.stat().st_size
    assert info["words"] > 20 and 0 < info["bpp"]["total"] < 0.5
    for render in ("none", "glyph"):
        png = tmp_path / f"{render}.png"
        picd("decode", out, "-o", png, "--render", render)
        assert load_image(png).shape == (640, 1024, 3)
    assert "total" in picd("info", out).stdout
    lean = tmp_path / "lean.picd"
    picd("encode", SAMPLE, "-o", lean, "--mode", "screen", "--codec", "webp", "--quality", "5", "--text-layer", "redrawn")
    lean_info = json.loads(picd("info", lean, "--json").stdout)
    assert lean_info["words"] < info["words"] and lean_info["bytes"]["text"] < info["bytes"]["text"]


@needs_tesseract
def test_ocr_json(tmp_path):
    data = json.loads(picd("ocr", SAMPLE, "--json").stdout)
    words = [w["text"] for line in data["lines"] for w in line]
    truth = json.loads((SAMPLE.with_suffix(".json")).read_text())
    truth_words = [w["text"] for line in truth["lines"] for w in line]
    assert len(set(words) & set(truth_words)) >= 0.8 * len(set(truth_words))


def test_codecs_listing():
    rows = json.loads(picd("codecs", "--json").stdout)
    names = {r["name"] for r in rows}
    assert {"jpeg", "webp"} <= names
    assert sum(r["default"] for r in rows) == 1
    text = picd("codecs").stdout
    assert "(default)" in text and "quality" in text


def test_natural_mode_needs_no_tesseract(tmp_path):
    out = tmp_path / "n.picd"
    picd("encode", SAMPLE, "-o", out, "--mode", "natural", "--codec", "jpeg", "-q")
    assert json.loads(picd("info", out, "--json").stdout)["mode"] == "natural"


def test_errors_are_one_line(tmp_path):
    assert_one_line_error(picd("encode", tmp_path / "missing.png", "-o", tmp_path / "a.picd", check=False),
                          "not found")
    bad = tmp_path / "bad.picd"
    bad.write_bytes(b"PICD\x01\x05garbage")
    assert_one_line_error(picd("decode", bad, "-o", tmp_path / "x.png", check=False), "error")
    assert_one_line_error(picd("info", SAMPLE, check=False), "not a .picd")
    good = tmp_path / "g.picd"
    picd("encode", SAMPLE, "-o", good, "--mode", "natural", "-q")
    assert_one_line_error(picd("encode", SAMPLE, "-o", good, "--mode", "natural", check=False), "--force")
    assert_one_line_error(picd("encode", SAMPLE, "-o", tmp_path / "q.picd", "--codec", "jpeg", "--quality", "999",
                               "--mode", "natural", check=False), "quality")
    assert_one_line_error(picd("encode", SAMPLE, "-o", tmp_path / "c.picd", "--codec", "nope", "--mode", "natural",
                               check=False), "unknown image codec")
    assert_one_line_error(picd("decode", good, "-o", tmp_path, check=False), "folder")


def test_screens_command_writes_images_and_ground_truth(tmp_path):
    picd("screens", "-o", tmp_path, "--count", "2", "--width", "480", "--height", "320", "-q")
    assert len(list(tmp_path.glob("*.png"))) == 2 and len(list(tmp_path.glob("*.json"))) == 2


def test_eval_without_codec_uses_the_default_codec(tmp_path):
    from picd_core.image_codecs import default_codec_name
    from picd_core.images import save_image

    data = tmp_path / "images"
    data.mkdir()
    save_image(load_image(SAMPLE)[:96, :128], data / "crop.png")
    picd("eval", "--data", data, "--quality", "1", "--mode", "natural", "--judge", "none", "--no-perceptual", "-q",
         "-o", tmp_path / "r.json")
    curve = json.loads((tmp_path / "r.json").read_text())
    assert curve["name"] == f"PICD {default_codec_name()} render=none" and curve["results"]["quality"] == [1]


def test_debug_shows_the_cause_of_an_error(tmp_path):
    import os

    good = tmp_path / "g.picd"
    picd("encode", SAMPLE, "-o", good, "--mode", "natural", "--codec", "jpeg", "-q")
    args = ["decode", good, "-o", tmp_path / "x.png", "--render", "diffusion", "--model", "no-such-org/no-such-model"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    run = [sys.executable, "-m", "picd_core.cli", *map(str, args)]
    plain = subprocess.run(run, capture_output=True, text=True, env=env)
    if "needs diffusers" in plain.stderr:
        import pytest

        pytest.skip("diffusers is not installed")
    assert_one_line_error(plain, "could not load the diffusion model")
    debug = subprocess.run(run, capture_output=True, text=True, env={**env, "PICD_DEBUG": "1"})
    assert debug.returncode == 2
    assert "direct cause of the following exception" in debug.stderr  # the hub's own error, then ours
    assert debug.stderr.strip().splitlines()[-1].startswith("picd: error: could not load the diffusion model")


def test_text_command_prints_the_transmitted_text(tmp_path):
    import json as _json

    from picd_core import encode_image
    from picd_core.images import load_image
    from picd_core.layout import TextLayout

    layout = TextLayout.from_json((Path(SAMPLE).with_suffix(".json")).read_text())
    encode_image(load_image(SAMPLE), mode="screen", codec="webp", quality=40, layout=layout).picd.save(tmp_path / "s.picd")
    run = [sys.executable, "-m", "picd_core.cli", "text", str(tmp_path / "s.picd")]
    plain = subprocess.run(run, capture_output=True, text=True)
    assert plain.returncode == 0 and plain.stdout.splitlines()[0] == layout.lines[0].text
    data = _json.loads(subprocess.run(run + ["--json"], capture_output=True, text=True).stdout)
    assert data["styled"] and any("font" in w for line in data["lines"] for w in line)
    natural = tmp_path / "n.picd"
    encode_image(load_image(SAMPLE), mode="natural", codec="webp", quality=40).picd.save(natural)
    bad = subprocess.run([sys.executable, "-m", "picd_core.cli", "text", str(natural)], capture_output=True, text=True)
    assert bad.returncode == 2 and "no text layer" in bad.stderr and "Traceback" not in bad.stderr


def test_ocr_pass_switches_reach_the_ocr_config():
    from picd_core.cli import _ocr_config, build_parser

    default = _ocr_config(build_parser().parse_args(["ocr", "x.png"]))
    assert default.line_pass and default.ink_passes and default.reread_pass
    lean = _ocr_config(build_parser().parse_args(["ocr", "x.png", "--no-line-pass", "--no-ink-passes",
                                                  "--no-reread-pass"]))
    assert not lean.line_pass and not lean.ink_passes and not lean.reread_pass
