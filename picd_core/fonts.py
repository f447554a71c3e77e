"""The bundled font classes of the styled text layer.

A font class id is written into the text layer (format 2), so this table is part of the bitstream: append new fonts,
never reorder, remove or replace one. Every file is hash-checked on load so that encoder and decoder draw with the very
same outlines; Pillow's BASIC layout engine is used everywhere (raqm's presence varies between machines).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

from .errors import BitstreamError, InvalidInputError

FONT_DIR = Path(__file__).parent / "assets" / "fonts"


@dataclass(frozen=True)
class FontClass:
    name: str
    file: str
    sha256: str


# id = index. Sans, serif and mono in regular and bold from two metric families: DejaVu (Verdana-like widths) and
# Liberation (metric-compatible with Arial, Times New Roman and Courier New, the commonest UI and web fonts).
FONT_CLASSES: tuple[FontClass, ...] = (
    FontClass("dejavu-sans", "DejaVuSans.ttf", "abdc775b21b1bc470d50c97e790d276f2054b7504e56e5bd3e64f48d68582322"),
    FontClass("dejavu-sans-bold", "DejaVuSans-Bold.ttf",
              "0d977336a6d5fba34eab8e3199eb218327161b5143749f802982c2bc34df0c96"),
    FontClass("dejavu-serif", "DejaVuSerif.ttf", "13e61509f5c81d7c3132810f4f903e3523df89c802bf6e0674621e8f659cdfe1"),
    FontClass("dejavu-serif-bold", "DejaVuSerif-Bold.ttf",
              "e2fd85eba2de65ac270d1cdb1685e252eb827f600850cf62af2d20c41b22e945"),
    FontClass("dejavu-mono", "DejaVuSansMono.ttf", "0f5db4f1749979d961019838b160bec74abdf7f9eca69553fe1aa856bbff49a4"),
    FontClass("dejavu-mono-bold", "DejaVuSansMono-Bold.ttf",
              "2964f6dac8e6e9d71613928340f17bf868e9ea51692cca333c79e74962f02233"),
    FontClass("liberation-sans", "LiberationSans-Regular.ttf",
              "8d91388f1d3604b3b8ae0e3ee2d140e50cd6122f9214514f4aca772540a4076d"),
    FontClass("liberation-sans-bold", "LiberationSans-Bold.ttf",
              "ba0e0dc3f7aca5b0afbc31e800531ee43be3aa79ae35b2ef1f6470a9547765c4"),
    FontClass("liberation-serif", "LiberationSerif-Regular.ttf",
              "29d12439831b7f59194efec85872f24f54eff05738933f9a860220d2abff88ba"),
    FontClass("liberation-mono", "LiberationMono-Regular.ttf",
              "6b3809450cf6253b36d157198dc15004a5fbade9abad5543c377feb7bb29139c"),
    # The commonest free UI faces (Qt/GTK/Android/web defaults): measured to fit real screenshots better.
    FontClass("open-sans", "OpenSans-Regular.ttf", "e64e508b2aa2880f907e470c4550980ec4c0694d103a43f36150ac3f93189bee"),
    FontClass("open-sans-bold", "OpenSans-Bold.ttf",
              "5894a3649b213cf5b2d673b6e7a871815fd1d120fa68a463592f27db14eae323"),
    FontClass("roboto", "Roboto-Regular.ttf", "797e35f7f5d6020a5c6ea13b42ecd668bcfb3bbc4baa0e74773527e5b6cb3174"),
    FontClass("roboto-bold", "Roboto-Bold.ttf", "36f3709dea3e3ce3c6aedc058079e55980825f898f1e901d091c73c40de8bab1"),
    FontClass("inter", "Inter-Regular.otf", "a7e791e8f5a0fb02b65663f7fca73e1d1ca9543f772ad480cbd76f4e3fe3f8cc"),
    FontClass("inter-bold", "Inter-Bold.otf", "1e9dfd6a6e33ac63a8fe3b4ed7ae0df9eac2d0b25e444e8e7daef4ac77943fc1"),
    FontClass("noto-sans", "NotoSans-Regular.ttf", "89c3c497f618fdaa0b2d1e98fef93582f28c71debd2c4a8cdf41f190ced2909d"),
    FontClass("noto-sans-bold", "NotoSans-Bold.ttf",
              "e83493c945848ecd4a9ad0f6d19164541a0d3e23a9c952304a00a46e00272ac5"),
    # Terminal, editor and desktop faces (Linux terminals and IDEs, GNOME, web UIs): on 12 real screenshots they
    # lowered the redraw's squared error by 3.5 % (bench/font_fit.py; docs/screens.md, "Fonts").
    FontClass("hack", "Hack-Regular.ttf", "9f67c8a8cd28498525639437d6fac588c452e8572945c790db7641cc7907a69b"),
    FontClass("hack-bold", "Hack-Bold.ttf", "21300a514e536d66e73f6d0f68f3820afbeadf58c21bcc5433052b46aacee27f"),
    FontClass("fira-code", "FiraCode-Regular.ttf", "bb7f3fc4bd68bbbb16b3bf204bc96d9ba7b4a1a6fc221bba49e2b2a03390e76c"),
    FontClass("fira-code-bold", "FiraCode-Bold.ttf",
              "6ea6702e0c6822df4ef6b6da231da8d368ac6b76895df75005b708c4a88662e1"),
    FontClass("lato", "Lato-Regular.ttf", "0ad460bd756454f8485609747b25c5644a54d307a65daabbb24c646c112ed541"),
    FontClass("lato-bold", "Lato-Bold.ttf", "e0b1c4de011de8dd077cf21f97919fc31158eb290ee1176cbae06d500a6304bc"),
    FontClass("cantarell", "Cantarell-Regular.otf", "c4d47d7fbd61863265a39e4944331178337fb0d5d93b45a70233180b6b7df260"),
    FontClass("cantarell-bold", "Cantarell-Bold.otf",
              "027924588c05e5fb38717dee6e50562bcc2a89c21e713bb2434a7f454d0c4fa4"),
    FontClass("jetbrains-mono", "JetBrainsMono-Regular.ttf",
              "a3014fb90ae8ddfbdfc778de75f95b49a857947fde5335ab3f50b6d56eb517be"),
    FontClass("jetbrains-mono-bold", "JetBrainsMono-Bold.ttf",
              "3481028266ee80741bfa96beaa4ce2ea1c6beebf89979d3e64e039c4d83822d1"),
    FontClass("noto-mono", "NotoMono-Regular.ttf", "41fd7ccc82375e2a1e47f0cc2c941c14d7c99ba2f57cf69c9f738d07fb257686"),
)
FONT_ID_BITS = 5  # room for 32 classes in format 2


def font_id(name: str) -> int:
    for i, font in enumerate(FONT_CLASSES):
        if font.name == name:
            return i
    raise InvalidInputError(f"unknown font class {name!r}; bundled: {', '.join(f.name for f in FONT_CLASSES)}")


@lru_cache(maxsize=None)
def _font_bytes(index: int) -> bytes:
    font = FONT_CLASSES[index]
    path = FONT_DIR / font.file
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != font.sha256:
        raise InvalidInputError(f"the bundled font {path} was modified (sha256 {digest}); reinstall the picd package")
    return data


@lru_cache(maxsize=4096)
def load_font(index: int, size: int) -> ImageFont.FreeTypeFont:
    """Font class `index` at `size` pixels, hash-checked, with the BASIC layout engine."""
    if not 0 <= index < len(FONT_CLASSES):
        raise BitstreamError(f"font class {index} is not one of the {len(FONT_CLASSES)} bundled fonts (corrupt or newer)")
    return ImageFont.truetype(io.BytesIO(_font_bytes(index)), size, layout_engine=ImageFont.Layout.BASIC)
