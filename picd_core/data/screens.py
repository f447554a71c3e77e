"""Synthetic screenshots with exact ground-truth words and boxes.

Pages are laid out and drawn word by word with Pillow and the bundled fonts (BASIC layout engine), so the same seed
gives the same pixels and the same ground truth on every machine. Kinds: document, ui, code, chat, table, and mixed
(a UI with photos). Photos come from a folder of natural images when one is given, else from a procedural picture.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..errors import InvalidInputError
from ..layout import Line, TextLayout, Word
from .paths import image_files

FONT_DIR = Path(__file__).resolve().parents[1] / "assets" / "fonts"
SANS_FONTS = ("DejaVuSans.ttf", "LiberationSans-Regular.ttf")
BOLD_FONTS = ("DejaVuSans-Bold.ttf", "LiberationSans-Bold.ttf")
SERIF_FONTS = ("DejaVuSerif.ttf", "LiberationSerif-Regular.ttf")
MONO_FONTS = ("DejaVuSansMono.ttf", "LiberationMono-Regular.ttf")
SCREEN_KINDS = ("document", "ui", "code", "chat", "table", "mixed")

_WORDS = """
the of and to in is that for it as was with be by on not he this are or his from at which but have an they you were
her all she there would their we him been has when who will more no if out so said what up its about into than them
can only other new some could time these two may then do first any my now such like our over man me even most made
after also did many before must through back years where much your way well down should because each just those people
how too little state good very make world still own see men work long get here between both life being under never
day same another know while last might us great old year off come since against go came right used take three
system data model image network file report update project design review budget meeting schedule account settings
profile message server client request response status error warning success pending approved rejected draft final
version release feature support service customer order invoice payment total balance amount price quantity product
search filter export import upload download share delete archive restore refresh cancel submit confirm continue
dashboard analytics overview details history activity notifications preferences security privacy billing team
members storage usage monthly weekly daily quarterly annual revenue growth target forecast performance results
compression quality encoder decoder entropy bitstream pixel frame texture gradient diffusion sampling training
""".split()
_UI_LABELS = """Home Inbox Starred Sent Drafts Files Photos Music Videos Downloads Settings Help About Profile Logout
Dashboard Reports Projects Tasks Calendar Contacts Messages Billing Team Security Analytics Overview Activity""".split()
_NAMES = "Alice Bob Carol David Emma Frank Grace Henry Irene Jack Karen Liam Maria Noah Olivia Peter".split()
_CODE_KEYWORDS = "def return if else for while import from class self None True False in not and or with as".split()
_CODE_NAMES = """encode decode image layout bitstream glyph width height quality buffer offset result config model
tensor latent scale index value count total stream header payload checksum render sample""".split()


@dataclass(frozen=True)
class GeneratedScreen:
    image: np.ndarray  # uint8 [H, W, 3]
    layout: TextLayout  # ground truth: every word drawn, with its ink box
    kind: str
    seed: int


@lru_cache(maxsize=64)
def _font(name: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_DIR / name), size, layout_engine=ImageFont.Layout.BASIC)


class _Page:
    """A canvas that records the box of every word it draws."""

    def __init__(self, width: int, height: int, background: tuple[int, int, int]) -> None:
        self.image = Image.new("RGB", (width, height), background)
        self.draw = ImageDraw.Draw(self.image)
        self.width, self.height = width, height
        self.lines: list[list[Word]] = []

    def words(self, x: int, y: int, words: list[str], font: ImageFont.FreeTypeFont, fill, max_x: int | None = None,
              line_height: int | None = None, max_y: int | None = None, wrap: bool = True) -> tuple[int, int]:
        """Draw words left to right from (x, y), wrapping at max_x (or dropping what does not fit when wrap is
        False); returns the (x, y) after the last word."""
        max_x = self.width - 8 if max_x is None else max_x
        max_y = self.height - 4 if max_y is None else max_y
        space = max(2, int(font.getlength(" ")))
        line_height = line_height or int(font.size * 1.45)
        start_x = x
        cur: list[Word] = []
        for text in words:
            width = int(font.getlength(text))
            if cur and x + width > max_x:
                if not wrap:
                    break
                self.lines.append(cur)
                cur, x, y = [], start_x, y + line_height
            if y + font.size > max_y:
                break
            if x + width > max_x:  # a single word wider than the column: skip it rather than clip it
                continue
            self.draw.text((x, y), text, font=font, fill=fill)
            x0, y0, x1, y1 = self.draw.textbbox((x, y), text, font=font)
            x0, y0 = max(x0, 0), max(y0, 0)
            x1, y1 = min(x1, self.width), min(y1, self.height)
            if x1 > x0 and y1 > y0:
                cur.append(Word(text, int(x0), int(y0), int(x1 - x0), int(y1 - y0)))
            x += width + space
        if cur:
            self.lines.append(cur)
        return x, y

    def merge_lines_since(self, index: int) -> None:
        """Join the lines drawn since len(self.lines) == index into one (cells of a table row, tokens of code)."""
        merged = [w for line in self.lines[index:] for w in line]
        del self.lines[index:]
        if merged:
            self.lines.append(sorted(merged, key=lambda w: w.x))

    def layout(self) -> TextLayout:
        ordered = sorted(self.lines, key=lambda ws: (ws[0].y, ws[0].x))
        return TextLayout(tuple(Line(tuple(ws)) for ws in ordered))


class _Generator:
    def __init__(self, rng: random.Random, photos: list[Path]) -> None:
        self.rng = rng
        self.photos = photos

    # ------------------------------------------------------------ content
    def sentence(self, lo: int = 4, hi: int = 14) -> list[str]:
        words = [self.rng.choice(_WORDS) for _ in range(self.rng.randint(lo, hi))]
        words[0] = words[0].capitalize()
        if self.rng.random() < 0.3:
            words.insert(self.rng.randrange(len(words)), self.token())
        words[-1] += self.rng.choice([".", ".", ".", ",", ":", "?"])
        return words

    def token(self) -> str:
        r = self.rng.random()
        if r < 0.25:
            return str(self.rng.randint(2, 99999))
        if r < 0.45:
            return f"${self.rng.randint(1, 9999)}.{self.rng.randint(0, 99):02d}"
        if r < 0.6:
            return f"{self.rng.randint(2019, 2026)}-{self.rng.randint(1, 12):02d}-{self.rng.randint(1, 28):02d}"
        if r < 0.75:
            return f"{self.rng.randint(0, 100)}%"
        if r < 0.9:
            return self.rng.choice(_NAMES)
        return f"{self.rng.randint(1, 23):02d}:{self.rng.randint(0, 59):02d}"

    def photo(self, width: int, height: int) -> Image.Image:
        if self.photos:
            with Image.open(self.rng.choice(self.photos)) as im:
                im = im.convert("RGB")
                scale = max(width / im.width, height / im.height)
                im = im.resize((max(width, round(im.width * scale)), max(height, round(im.height * scale))),
                               Image.Resampling.LANCZOS)
                left = self.rng.randint(0, im.width - width)
                top = self.rng.randint(0, im.height - height)
                return im.crop((left, top, left + width, top + height))
        # Procedural picture: smooth gradient sky, ground and a few discs (no text, so no ground truth to miss).
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        c0 = np.array([self.rng.randint(40, 200) for _ in range(3)], np.float32)
        c1 = np.array([self.rng.randint(40, 200) for _ in range(3)], np.float32)
        t = (yy / max(height - 1, 1))[..., None]
        arr = c0 * (1 - t) + c1 * t + 12 * np.sin(xx / 9.0)[..., None]
        img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
        d = ImageDraw.Draw(img)
        for _ in range(4):
            r = self.rng.randint(5, max(6, min(width, height) // 4))
            cx, cy = self.rng.randint(0, width), self.rng.randint(0, height)
            d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=tuple(self.rng.randint(0, 255) for _ in range(3)))
        return img

    def size(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    # ------------------------------------------------------------ page kinds
    def document(self, page: _Page) -> None:
        rng = self.rng
        margin = rng.randint(24, 64)
        title = _font(rng.choice(BOLD_FONTS), self.size(24, 34))
        body = _font(rng.choice(SANS_FONTS + SERIF_FONTS), self.size(15, 20))
        _, y = page.words(margin, margin, self.sentence(3, 7), title, (20, 20, 30), max_x=page.width - margin)
        y += int(title.size * 1.8)
        while y < page.height - 3 * body.size:
            if rng.random() < 0.2 and y < page.height - 200:
                ph = rng.randint(80, min(220, page.height - y - 40))
                room_w = page.width - 2 * margin
                pw = rng.randint(min(ph, room_w), min(room_w, ph * 2))
                page.image.paste(self.photo(pw, ph), (margin, y))
                y += ph + body.size
                continue
            words: list[str] = []
            for _ in range(rng.randint(2, 5)):
                words += self.sentence()
            _, y = page.words(margin, y, words, body, (30, 30, 30), max_x=page.width - margin)
            y += int(body.size * 2.4)

    def ui(self, page: _Page, photos: int = 0) -> None:
        rng = self.rng
        accent = rng.choice([(37, 99, 235), (16, 122, 87), (190, 60, 50), (109, 40, 217), (14, 116, 144)])
        bar_h = rng.randint(40, 56)
        page.draw.rectangle((0, 0, page.width, bar_h), fill=accent)
        bold = _font(rng.choice(BOLD_FONTS), self.size(16, 20))
        page.words(16, (bar_h - bold.size) // 2, [rng.choice(_UI_LABELS), "-", rng.choice(_WORDS).capitalize()],
                   bold, (255, 255, 255))
        side_w = rng.randint(150, 220)
        page.draw.rectangle((0, bar_h, side_w, page.height), fill=(243, 244, 246))
        menu = _font(rng.choice(SANS_FONTS), self.size(14, 17))
        y = bar_h + 20
        for label in rng.sample(_UI_LABELS, k=min(len(_UI_LABELS), rng.randint(5, 10))):
            if y > page.height - 30:
                break
            page.words(20, y, [label], menu, (55, 65, 81), max_x=side_w - 4)
            y += int(menu.size * 2.3)
        body = _font(rng.choice(SANS_FONTS), self.size(14, 18))
        x0, y = side_w + 28, bar_h + 24
        heading = _font(rng.choice(BOLD_FONTS), self.size(20, 26))
        _, y = page.words(x0, y, self.sentence(2, 5), heading, (17, 24, 39))
        y += int(heading.size * 1.9)
        while y < page.height - 60:
            choice = rng.random()
            room_h, room_w = min(200, page.height - y - 20), page.width - x0 - 20
            if photos and choice < 0.3 and room_h >= 90 and room_w >= 90:
                ph = rng.randint(90, room_h)
                pw = rng.randint(min(ph, room_w), min(room_w, 2 * ph))
                page.image.paste(self.photo(pw, ph), (x0, y))
                page.words(x0 + pw + 16, y + 4, self.sentence(4, 12), body, (55, 65, 81), max_y=y + ph)
                y += ph + 24
                photos -= 1
            elif choice < 0.55:
                label_w = 140
                page.words(x0, y + 8, [rng.choice(_WORDS).capitalize() + ":"], body, (75, 85, 99))
                field_right = min(page.width - 24, x0 + label_w + 300)
                if field_right - (x0 + label_w) < 80:  # too narrow for an input field
                    y += body.size + 30
                    continue
                page.draw.rectangle((x0 + label_w, y, field_right, y + body.size + 16),
                                    outline=(209, 213, 219), fill=(255, 255, 255))
                page.words(x0 + label_w + 8, y + 8, [self.token(), rng.choice(_WORDS)], body, (17, 24, 39),
                           max_x=min(page.width - 28, x0 + label_w + 296))
                y += body.size + 30
            elif choice < 0.7:
                x = x0
                for _ in range(rng.randint(1, 3)):
                    label = rng.choice(["Save", "Cancel", "Submit", "Export", "Delete", "Continue", "Upload"])
                    w = int(body.getlength(label)) + 32
                    if x + w > page.width - 20:
                        break
                    page.draw.rounded_rectangle((x, y, x + w, y + body.size + 18), radius=6, fill=accent)
                    page.words(x + 16, y + 9, [label], body, (255, 255, 255), max_x=x + w)
                    x += w + 12
                y += body.size + 34
            else:
                _, y = page.words(x0, y, self.sentence(6, 20), body, (55, 65, 81))
                y += int(body.size * 2.2)

    def code(self, page: _Page) -> None:
        rng = self.rng
        dark = rng.random() < 0.6
        page.draw.rectangle((0, 0, page.width, page.height), fill=(30, 30, 36) if dark else (250, 250, 250))
        font = _font(rng.choice(MONO_FONTS), self.size(14, 18))
        step = int(font.size * 1.5)
        gutter = int(font.getlength("0000")) + 16
        fg = (212, 212, 212) if dark else (36, 41, 47)
        kw = (197, 134, 192) if dark else (207, 34, 46)
        num_col = (110, 118, 129)
        y, indent, n = 12, 0, 1
        while y < page.height - step:
            row_start = len(page.lines)
            page.words(8, y, [str(n)], font, num_col, max_x=gutter)
            x = gutter + 8 + indent * int(font.getlength("    "))
            tokens = [rng.choice(_CODE_KEYWORDS)]
            for _ in range(rng.randint(1, 5)):
                tokens.append(rng.choice(_CODE_NAMES) + rng.choice(["", "", "()", "(x):", ",", "[0]", ".size"]))
                if rng.random() < 0.2:
                    tokens.append(rng.choice(["=", "+", "=="]))
            for i, tok in enumerate(tokens):
                x, _ = page.words(x, y, [tok], font, kw if i == 0 else fg, wrap=False)
            page.merge_lines_since(row_start)
            indent = max(0, min(3, indent + rng.choice([-1, 0, 0, 1])))
            y += step
            n += 1

    def chat(self, page: _Page) -> None:
        rng = self.rng
        page.draw.rectangle((0, 0, page.width, page.height), fill=(236, 239, 244))
        body = _font(rng.choice(SANS_FONTS), self.size(14, 18))
        small = _font(rng.choice(SANS_FONTS), max(13, body.size - 2))
        y = 16
        while y < page.height - 80:
            mine = rng.random() < 0.5
            words = self.sentence(3, 18)
            width = min(page.width * 3 // 5, int(sum(body.getlength(w + " ") for w in words)) + 28)
            x = page.width - width - 20 if mine else 20
            name = rng.choice(_NAMES)
            page.words(x + 4, y, [name, self.token() if rng.random() < 0.3 else f"{rng.randint(1, 12)}:{rng.randint(10, 59)}"],
                       small, (100, 110, 125))
            y += int(small.size * 1.6)
            lines_needed = max(1, int(sum(body.getlength(w + " ") for w in words) // max(width - 28, 1)) + 1)
            bubble_h = lines_needed * int(body.size * 1.45) + 18
            if y + bubble_h > page.height - 10:
                break
            page.draw.rounded_rectangle((x, y, x + width, y + bubble_h), radius=12,
                                        fill=(37, 99, 235) if mine else (255, 255, 255))
            page.words(x + 14, y + 9, words, body, (255, 255, 255) if mine else (20, 20, 20), max_x=x + width - 10,
                       max_y=y + bubble_h)
            y += bubble_h + 18

    def table(self, page: _Page) -> None:
        rng = self.rng
        body = _font(rng.choice(SANS_FONTS), self.size(14, 17))
        bold = _font(rng.choice(BOLD_FONTS), body.size)
        cols = rng.randint(3, 6)
        margin = 24
        col_w = (page.width - 2 * margin) // cols
        row_h = int(body.size * 2.2)
        title = _font(rng.choice(BOLD_FONTS), self.size(20, 26))
        page.words(margin, 14, self.sentence(2, 5), title, (17, 24, 39))
        y = 14 + int(title.size * 2.2)
        page.draw.rectangle((margin, y, page.width - margin, y + row_h), fill=(229, 231, 235))
        row_start = len(page.lines)
        for c in range(cols):
            page.words(margin + c * col_w + 8, y + (row_h - body.size) // 2, [rng.choice(_WORDS).capitalize()], bold,
                       (17, 24, 39), max_x=margin + (c + 1) * col_w - 4, wrap=False)
        page.merge_lines_since(row_start)
        y += row_h
        while y + row_h < page.height - 10:
            row_start = len(page.lines)
            if rng.random() < 0.5:
                page.draw.rectangle((margin, y, page.width - margin, y + row_h), fill=(249, 250, 251))
            for c in range(cols):
                cell = [self.token()] if c and rng.random() < 0.6 else [rng.choice(_WORDS) for _ in range(rng.randint(1, 2))]
                page.words(margin + c * col_w + 8, y + (row_h - body.size) // 2, cell, body, (55, 65, 81),
                           max_x=margin + (c + 1) * col_w - 4, wrap=False)
            page.merge_lines_since(row_start)
            page.draw.line((margin, y + row_h, page.width - margin, y + row_h), fill=(209, 213, 219))
            y += row_h


def generate_screen(seed: int, width: int = 1024, height: int = 768, kind: str | None = None,
                    photo_dir: str | Path | None = None) -> GeneratedScreen:
    """Render one synthetic screenshot. Same arguments -> same pixels and ground truth, on every machine."""
    if width < 480 or height < 320:
        raise InvalidInputError(f"screens must be at least 480x320, got {width}x{height}")
    rng = random.Random(seed)
    kind = kind or rng.choice(SCREEN_KINDS)
    if kind not in SCREEN_KINDS:
        raise InvalidInputError(f"unknown screen kind {kind!r}; choose one of {', '.join(SCREEN_KINDS)}")
    photos = image_files(photo_dir) if photo_dir is not None else []
    gen = _Generator(rng, photos)
    page = _Page(width, height, (255, 255, 255))
    if kind == "document":
        gen.document(page)
    elif kind == "ui":
        gen.ui(page)
    elif kind == "mixed":
        gen.ui(page, photos=rng.randint(1, 3))
    elif kind == "code":
        gen.code(page)
    elif kind == "chat":
        gen.chat(page)
    else:
        gen.table(page)
    return GeneratedScreen(np.asarray(page.image, dtype=np.uint8).copy(), page.layout(), kind, seed)
