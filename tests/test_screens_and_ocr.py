import hashlib

import numpy as np
import pytest

from picd_core.data import SCREEN_KINDS, generate_screen
from picd_core.errors import InvalidInputError, OcrUnavailableError
from picd_core.metrics import word_accuracy
from picd_core.ocr import OcrConfig, extract_layout
from tests.conftest import needs_tesseract


def test_generator_is_deterministic_and_ground_truth_is_consistent(photo_dir):
    for i, kind in enumerate(SCREEN_KINDS):
        a = generate_screen(i, 640, 480, kind=kind, photo_dir=photo_dir)
        b = generate_screen(i, 640, 480, kind=kind, photo_dir=photo_dir)
        assert hashlib.sha256(a.image.tobytes()).digest() == hashlib.sha256(b.image.tobytes()).digest()
        assert a.layout == b.layout and a.kind == kind
        assert len(a.layout) >= 10, kind
        assert a.layout.bounds_fit(640, 480)
        for w in a.layout.words:
            assert w.text and " " not in w.text
            box = a.image[w.y : w.y + w.h, w.x : w.x + w.w]
            assert box.std() > 0, f"no ink under ground-truth box {w}"  # every GT word was really drawn
    assert generate_screen(1, 640, 480).image.tobytes() != generate_screen(2, 640, 480).image.tobytes()


def test_generator_rejects_bad_arguments():
    with pytest.raises(InvalidInputError):
        generate_screen(0, 100, 100)
    with pytest.raises(InvalidInputError):
        generate_screen(0, 640, 480, kind="poster")


@needs_tesseract
def test_ocr_word_accuracy_on_clean_generated_screens(photo_dir):
    accuracies = []
    for seed in range(6):
        screen = generate_screen(500 + seed, 800, 600, kind=SCREEN_KINDS[seed], photo_dir=photo_dir)
        layout = extract_layout(screen.image)
        accuracies.append(word_accuracy([w.text for w in screen.layout], [w.text for w in layout]))
        assert all(w.confidence is not None and w.confidence >= 30 for w in layout)
        assert layout.bounds_fit(800, 600)
    assert np.mean(accuracies) >= 0.9, accuracies


@needs_tesseract
def test_ocr_boxes_match_ground_truth(photo_dir):
    screen = generate_screen(11, 800, 600, kind="document", photo_dir=photo_dir)  # 59 words with repeats
    layout = extract_layout(screen.image)
    truth: dict[str, list] = {}
    for w in screen.layout.words:  # every copy of a repeated word ("the", "OK", …) keeps its own box
        truth.setdefault(w.text, []).append(w)
    assert any(len(copies) > 1 for copies in truth.values())  # the case a text → box dict got wrong
    # Each OCR word is matched to the nearest ground-truth copy of the same text.
    errors = [min(abs(w.x - t.x) + abs(w.y - t.y) for t in truth[w.text]) for w in layout.words if w.text in truth]
    assert len(errors) > 10
    # Measured: median 1, 90th percentile 1 px (a text → box dict gave a 90th percentile of 363 px here).
    assert np.median(errors) <= 4 and np.percentile(errors, 90) <= 8, sorted(errors)


@needs_tesseract
def test_blank_image_has_no_words():
    assert len(extract_layout(np.full((200, 300, 3), 255, np.uint8))) == 0


def test_missing_tesseract_is_one_clear_error(monkeypatch, screen):
    monkeypatch.setenv("TESSERACT_CMD", "/nonexistent/tesseract")
    with pytest.raises(OcrUnavailableError, match="apt-get install tesseract-ocr"):
        extract_layout(screen.image)


@needs_tesseract
def test_missing_language_is_one_clear_error(screen):
    with pytest.raises(OcrUnavailableError, match="tesseract-ocr-"):
        extract_layout(screen.image, OcrConfig(lang="xyz"))


def test_tesseract_runs_single_threaded_unless_the_user_says_otherwise(monkeypatch):
    """Tesseract's OpenMP threads made OCR ~5x slower on 2 cores: the call gets OMP_THREAD_LIMIT=1 for its duration
    only, and a limit the user set is left alone."""
    import os

    import picd_core.ocr as ocr

    seen = []

    class FakeTesseract:
        class Output:
            DICT = "dict"

        TesseractNotFoundError = RuntimeError
        TesseractError = ValueError

        @staticmethod
        def image_to_data(*args, **kwargs):
            seen.append(os.environ.get("OMP_THREAD_LIMIT"))
            return {k: [] for k in ("text", "conf", "level", "left", "top", "width", "height", "block_num",
                                    "par_num", "line_num")}

    monkeypatch.setattr(ocr, "_pytesseract", lambda: FakeTesseract)
    monkeypatch.delenv("OMP_THREAD_LIMIT", raising=False)
    image = np.full((40, 60, 3), 255, np.uint8)
    assert len(extract_layout(image)) == 0
    assert seen and set(seen) == {"1"}
    assert "OMP_THREAD_LIMIT" not in os.environ
    seen.clear()
    monkeypatch.setenv("OMP_THREAD_LIMIT", "4")
    extract_layout(image)
    assert set(seen) == {"4"} and os.environ["OMP_THREAD_LIMIT"] == "4"


def test_ocr_config_validation():
    with pytest.raises(InvalidInputError):
        OcrConfig(psm=20)
    with pytest.raises(InvalidInputError):
        OcrConfig(lang="eng; rm -rf /")
    with pytest.raises(InvalidInputError):
        OcrConfig(min_confidence=101)
    with pytest.raises(InvalidInputError, match="extra_upscale"):
        OcrConfig(extra_upscale=5.0)


def _mixed_theme_screen() -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """A light page with a dark panel and a coloured highlight, each holding text of its own colour."""
    from PIL import Image, ImageDraw

    from picd_core.fonts import load_font

    image = Image.new("RGB", (480, 240), (246, 246, 246))
    draw = ImageDraw.Draw(image)
    draw.rectangle((240, 0, 479, 239), fill=(30, 32, 38))  # dark panel
    draw.rectangle((0, 160, 239, 239), fill=(255, 220, 220))  # pale red highlight
    font = load_font(0, 18)
    boxes = []
    for (x, y), text, colour in (((12, 40), "Settings", (40, 40, 40)), ((252, 40), "Terminal", (210, 210, 210)),
                                 ((12, 180), "Deleted", (170, 40, 40)), ((252, 180), "Output", (120, 160, 120))):
        draw.text((x, y), text, font=font, fill=colour)
        boxes.append(draw.textbbox((x, y), text, font=font))
    return np.asarray(image), boxes


def test_ink_image_turns_text_of_any_theme_dark_on_white():
    from picd_core.ocr import ink_image

    image, boxes = _mixed_theme_screen()
    ink = ink_image(image)
    assert ink.shape == image.shape[:2] and ink.dtype == np.uint8
    for x0, y0, x1, y1 in boxes:
        box = ink[y0:y1, x0:x1]
        assert box.min() < 40, (x0, y0)  # every word's strokes reach near black, whatever its colours
        assert np.median(ink[y0 - 12:y0 - 4, x0:x1]) > 240  # the ground just above it is white
    # the panel and highlight edges are not text: away from the words the page is white
    assert np.median(ink) > 245


@needs_tesseract
def test_ink_passes_read_text_on_mixed_themes():
    image, _ = _mixed_theme_screen()
    words = {w.text for w in extract_layout(image).words}
    assert {"Settings", "Terminal", "Deleted", "Output"} <= words, words


def _code_with_grey_line_numbers() -> np.ndarray:
    """A diff view: black code, light-grey line numbers beside it (the page passes read the code and drop these)."""
    from PIL import Image, ImageDraw

    from picd_core.fonts import load_font

    image = Image.new("RGB", (520, 240), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    code = ["import sys", "import time", "base = os.path.dirname(here)", "sys.path.insert(0, base)",
            "verbose = False", "def main(args):", "    return run(args)"]
    for i, line in enumerate(code):
        draw.text((8, 20 + 30 * i), str(15 + i), font=load_font(4, 14), fill=(200, 200, 200))
        draw.text((60, 20 + 30 * i), line, font=load_font(4, 14), fill=(20, 20, 20))
    return np.asarray(image)


def test_component_boxes_match_a_flood_fill():
    from picd_core.ocr import component_boxes

    def flood_fill_boxes(mask):
        seen, boxes = np.zeros_like(mask), []
        for y, x in zip(*np.nonzero(mask)):
            if seen[y, x]:
                continue
            stack, xs, ys = [(y, x)], [], []
            seen[y, x] = True
            while stack:
                cy, cx = stack.pop()
                ys.append(cy), xs.append(cx)
                for ny in range(max(0, cy - 1), min(mask.shape[0], cy + 2)):
                    for nx in range(max(0, cx - 1), min(mask.shape[1], cx + 2)):
                        if mask[ny, nx] and not seen[ny, nx]:
                            seen[ny, nx] = True
                            stack.append((ny, nx))
            boxes.append((min(xs), min(ys), max(xs) + 1, max(ys) + 1))
        return sorted(boxes)

    rng = np.random.default_rng(3)
    for _ in range(60):
        mask = rng.random((int(rng.integers(1, 24)), int(rng.integers(1, 24)))) < rng.random()
        assert sorted(component_boxes(mask)) == flood_fill_boxes(mask)
    assert component_boxes(np.zeros((5, 7), dtype=bool)) == []


def test_missed_lines_are_the_uncovered_text_lines():
    from picd_core.layout import Word
    from picd_core.ocr import local_contrast, missed_lines

    image = _code_with_grey_line_numbers()
    contrast = local_contrast(image)
    code = [Word("code", 58, 18 + 30 * i, 240, 22) for i in range(7)]  # what the page passes kept
    boxes = missed_lines(contrast, code, 28.0)
    assert len(boxes) == 7  # one per grey line number, none over the kept code
    for i, (x0, y0, x1, y1) in enumerate(sorted(boxes, key=lambda b: b[1])):
        assert 6 <= x0 and x1 <= 30 and 18 + 30 * i <= y0 < y1 <= 40 + 30 * i, (i, x0, y0, x1, y1)
    assert missed_lines(contrast, code, 200.0) == []  # the grey numbers are below that contrast


@needs_tesseract
def test_line_pass_reads_faint_line_numbers_the_page_passes_miss():
    image = _code_with_grey_line_numbers()
    without = [w.text for w in extract_layout(image, OcrConfig(line_pass=False)).words]
    layout = extract_layout(image)
    numbers = [w for w in layout.words if w.text.isdigit()]
    assert not any(t.isdigit() for t in without)  # the case the pass exists for
    assert sorted(int(w.text) for w in numbers) == list(range(15, 22))
    assert all(w.x < 40 and w.confidence >= OcrConfig().line_min_confidence for w in numbers)
    assert [w.text for w in layout.words if not w.text.isdigit()] == without  # nothing else changed


def test_char_blacklist_reaches_tesseract_and_is_validated():
    from picd_core.ocr import _tesseract_args

    assert _tesseract_args(OcrConfig(), 11) == "--oem 1 --psm 11 -c tessedit_char_blacklist=“”‘’"
    assert _tesseract_args(OcrConfig(char_blacklist=""), 3) == "--oem 1 --psm 3"
    for bad in ("a b", "'", '"', "\\"):
        with pytest.raises(InvalidInputError, match="char_blacklist"):
            OcrConfig(char_blacklist=bad)
    with pytest.raises(InvalidInputError, match="line_min_contrast"):
        OcrConfig(line_min_contrast=0)


def test_reread_merges_add_punctuation_and_never_change_a_words_letters():
    from picd_core.layout import Word
    from picd_core.ocr import reread_merges

    row = [Word("20", 10, 5, 14, 10, 96.0), Word("03", 35, 5, 14, 10, 95.0), Word("28", 60, 5, 14, 10, 96.0),
           Word("<Anjor>", 94, 5, 50, 12, 92.0)]
    merged = reread_merges(row, [Word("[20:03:28]", 4, 4, 76, 12, 90.0), Word("<Anjor>", 94, 5, 50, 12, 90.0)], 50.0)
    assert [([w.text for w in group], new.text) for group, new in merged] == [(["20", "03", "28"], "[20:03:28]")]
    # a bracket the page pass read as a letter: joined words may differ by one letter or digit
    row_j = row[:3] + [Word("J", 76, 5, 4, 10, 60.0)]
    assert len(reread_merges(row_j, [Word("[20:03:28]", 4, 4, 76, 12, 90.0)], 50.0)) == 1
    one = [Word("Linux", 10, 5, 40, 12, 90.0)]
    assert reread_merges(one, [Word("linux.", 10, 5, 44, 12, 95.0)], 50.0) == []  # a letter changed: refused
    assert len(reread_merges(one, [Word("Linux.", 10, 5, 44, 12, 95.0)], 50.0)) == 1  # only a dot added: taken
    assert reread_merges(one, [Word("Linux.", 10, 5, 44, 12, 40.0)], 50.0) == []  # not confident enough
    assert reread_merges(one, [Word("Linux", 10, 5, 40, 12, 99.0)], 50.0) == []  # nothing added
    assert len(reread_merges(row[:3], [Word("[20:03:29]", 4, 4, 76, 12, 90.0)], 50.0)) == 1  # joined: one edit ok
    assert reread_merges(row[:3], [Word("[20:04:29]", 4, 4, 76, 12, 90.0)], 50.0) == []  # two edits: refused
    assert reread_merges([Word("4200", 10, 5, 30, 10, 90.0)], [Word("4201.", 10, 5, 36, 10, 95.0)], 50.0) == []


def test_edit_distance_at_most_one_matches_levenshtein():
    from picd_core.ocr import _edit_distance_at_most_one

    def levenshtein(a: str, b: str) -> int:
        row = list(range(len(b) + 1))
        for i, ca in enumerate(a, 1):
            prev, row[0] = row[0], i
            for j, cb in enumerate(b, 1):
                prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
        return row[-1]

    rng = np.random.default_rng(5)
    for _ in range(400):
        a = "".join(rng.choice(list("ab"), int(rng.integers(0, 6))))
        b = "".join(rng.choice(list("ab"), int(rng.integers(0, 6))))
        assert _edit_distance_at_most_one(a, b) == (levenshtein(a, b) <= 1), (a, b)


def test_text_rows_join_words_of_one_baseline_only():
    from picd_core.layout import Word
    from picd_core.ocr import text_rows

    a, b = Word("one", 10, 10, 30, 12), Word("two", 48, 11, 30, 12)  # 8 px apart on one baseline
    far = Word("three", 300, 10, 40, 12)  # another column
    below = Word("four", 10, 40, 30, 12)
    rows = sorted(text_rows([far, below, b, a]), key=lambda r: (r[0].y, r[0].x))
    assert [[w.text for w in r] for r in rows] == [["one", "two"], ["three"], ["four"]]


@needs_tesseract
def test_reread_pass_restores_the_punctuation_of_timestamps():
    from PIL import Image, ImageDraw, ImageFont

    from picd_core.fonts import FONT_DIR

    font = ImageFont.truetype(str(FONT_DIR / "DejaVuSansMono.ttf"), 15)
    image = Image.new("RGB", (520, 200), (250, 250, 250))
    draw = ImageDraw.Draw(image)
    stamps = [f"[20:0{i}:{17 + 7 * i}]" for i in range(6)]  # an IRC log: grey timestamps, then nick and message
    for i, stamp in enumerate(stamps):
        draw.text((10, 12 + 30 * i), stamp, fill=(150, 150, 150), font=font)
        draw.text((110, 12 + 30 * i), "<Anjor> Dating up is the way", fill=(70, 120, 40), font=font)
    without = extract_layout(image, OcrConfig(reread_pass=False))
    layout = extract_layout(image)
    assert not set(stamps) & {w.text for w in without.words}  # the page passes drop colons (the pass's case)
    assert set(stamps) <= {w.text for w in layout.words}
    rest = [w.text for w in layout.words if not w.text.startswith("[")]
    assert rest == [w.text for w in without.words if w.text[0] not in "[0123456789"]  # messages unchanged


@needs_tesseract
def test_reread_reaches_the_bracket_a_page_pass_left_outside_the_word_box():
    # halloy's IRC log: the page pass reads `20:03:28]` with a box that starts after the `[`; the row's cut-out must
    # reach left of the box far enough (REREAD_SIDE_MARGIN row heights) to read the bracket back
    from PIL import Image, ImageDraw, ImageFont

    from picd_core.fonts import FONT_DIR
    from picd_core.layout import Word
    from picd_core.ocr import _pytesseract, _reread_rows, local_contrast

    font = ImageFont.truetype(str(FONT_DIR / "DejaVuSansMono.ttf"), 15)
    image = Image.new("RGB", (420, 60), (250, 250, 250))
    draw = ImageDraw.Draw(image)
    draw.text((30, 20), "[20:03:28] <Anjor> date it up", fill=(120, 120, 120), font=font)
    rows = np.nonzero((np.asarray(image.convert("L")) < 200).any(axis=1))[0]
    y0, h = int(rows[0]), int(rows[-1] - rows[0] + 1)
    bracket_end = 30 + int(font.getlength("["))
    stamp_end = 30 + int(round(font.getlength("[20:03:28]")))
    nick_x = 30 + int(font.getlength("[20:03:28] "))
    nick_end = 30 + int(round(font.getlength("[20:03:28] <Anjor>")))
    line = [Word("20:03:28]", bracket_end + 2, y0, stamp_end - bracket_end - 2, h, 90.0),
            Word("<Anjor>", nick_x, y0, nick_end - nick_x, h, 90.0)]
    rgb = np.asarray(image)
    out = _reread_rows(_pytesseract(), local_contrast(rgb), [line], OcrConfig())
    assert [w.text for w in out[0]][:2] == ["[20:03:28]", "<Anjor>"]
