"""The .picd container (specified in docs/bitstream.md).

    magic "PICD" | u8 version | varint section count | sections...
    section: u8 tag | varint payload length | payload | u32 CRC-32 (little endian) of tag, length and payload

Tags with the high bit set are ancillary: a reader that does not know them skips them. Unknown critical tags make the
file unsupported. Everything is validated before any layer is decoded; every failure is a BitstreamError.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from .bitio import read_varint, write_varint
from .errors import BitstreamError, InvalidInputError, UnsupportedBitstreamError

MAGIC = b"PICD"
# Version 2: screen-mode text layers may be styled (text-layer flag bit1) and the image layer then codes the
# text-free background. Version 1 files (position-only text layers) still decode.
VERSION = 2
READABLE_VERSIONS = (1, 2)
MODES = ("natural", "screen")

TAG_HEADER = 0x01
TAG_TEXT = 0x02
TAG_IMAGE = 0x03
TAG_GLYPH_CHECK = 0x81  # ancillary: a decoder may skip it (it only detects renderer drift)
_KNOWN_TAGS = {TAG_HEADER, TAG_TEXT, TAG_IMAGE, TAG_GLYPH_CHECK}
MAX_DIMENSION = 1 << 16
MAX_IMAGE_SCALE = 8
_MAX_SECTIONS = 64


@dataclass(frozen=True)
class PicdFile:
    """A parsed .picd file: header fields and the raw bytes of each layer."""

    mode: str
    width: int
    height: int
    padded_width: int
    padded_height: int
    image_codec: str
    image_quality: int
    image_layer: bytes
    text_layer: bytes | None = None
    glyph_crc: int | None = None
    # The image layer codes the image reduced by this factor (version 2); padded_* are the coded layer's size.
    image_scale: int = 1

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InvalidInputError(f"mode must be one of {MODES}, got {self.mode!r}")
        for name in ("width", "height", "padded_width", "padded_height"):
            value = getattr(self, name)
            if not 1 <= value <= MAX_DIMENSION:
                raise InvalidInputError(f"{name} must be in 1..{MAX_DIMENSION}, got {value}")
        if not isinstance(self.image_scale, int) or not 1 <= self.image_scale <= MAX_IMAGE_SCALE:
            raise InvalidInputError(f"image_scale must be 1..{MAX_IMAGE_SCALE}, got {self.image_scale!r}")
        if self.padded_width < self.layer_width or self.padded_height < self.layer_height:
            raise InvalidInputError("padded size must not be smaller than the (scaled) image size")
        if not self.image_codec or not self.image_codec.isascii() or len(self.image_codec) > 64:
            raise InvalidInputError(f"image codec name must be short ASCII, got {self.image_codec!r}")
        if self.mode == "natural" and self.text_layer is not None:
            raise InvalidInputError("natural-mode files carry no text layer")

    @property
    def layer_width(self) -> int:
        """Width of the image layer before padding: the image width divided by image_scale, rounded up."""
        return -(-self.width // self.image_scale)

    @property
    def layer_height(self) -> int:
        return -(-self.height // self.image_scale)

    @property
    def pixels(self) -> int:
        return self.width * self.height

    def layer_sizes(self) -> dict[str, int]:
        """Bytes of each part; 'container' is everything that is not layer payload (magic, headers, CRCs)."""
        total = len(self.to_bytes())
        text = len(self.text_layer or b"")
        image = len(self.image_layer)
        return {"text": text, "image": image, "container": total - text - image, "total": total}

    def to_bytes(self) -> bytes:
        sections: list[tuple[int, bytes]] = []
        head = bytearray([MODES.index(self.mode)])
        for value in (self.width, self.height, self.padded_width - self.layer_width,
                      self.padded_height - self.layer_height, self.image_scale):
            write_varint(head, value)
        sections.append((TAG_HEADER, bytes(head)))
        if self.text_layer is not None:
            sections.append((TAG_TEXT, self.text_layer))
        if self.glyph_crc is not None:
            sections.append((TAG_GLYPH_CHECK, struct.pack("<I", self.glyph_crc)))
        image = bytearray()
        name = self.image_codec.encode("ascii")
        write_varint(image, len(name))
        image += name
        write_varint(image, self.image_quality)
        image += self.image_layer
        sections.append((TAG_IMAGE, bytes(image)))
        out = bytearray(MAGIC)
        out.append(VERSION)
        write_varint(out, len(sections))
        for tag, payload in sections:
            start = len(out)
            out.append(tag)
            write_varint(out, len(payload))
            out += payload
            out += struct.pack("<I", zlib.crc32(out[start:]))
        return bytes(out)

    @classmethod
    def from_bytes(cls, data: bytes) -> "PicdFile":
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InvalidInputError(f"expected bytes, got {type(data).__name__}")
        data = bytes(data)
        if len(data) < len(MAGIC) + 2:
            raise BitstreamError(f"file is {len(data)} bytes, too short to be a .picd file (truncated)")
        if data[:4] != MAGIC:
            raise BitstreamError("not a .picd file (bad magic bytes)")
        if data[4] not in READABLE_VERSIONS:
            raise UnsupportedBitstreamError(
                f".picd version {data[4]} is not supported by this PICD (reads versions "
                f"{', '.join(map(str, READABLE_VERSIONS))}); upgrade picd"
            )
        count, pos = read_varint(data, 5, "section count")
        if not 1 <= count <= _MAX_SECTIONS:
            raise BitstreamError(f"section count {count} is invalid (corrupt)")
        sections: dict[int, bytes] = {}
        for index in range(count):
            start = pos
            if pos >= len(data):
                raise BitstreamError(f"file ends before section {index + 1} of {count} (truncated)")
            tag = data[pos]
            length, pos = read_varint(data, pos + 1, "section length")
            end = pos + length
            if end + 4 > len(data):
                raise BitstreamError(f"section {index + 1} runs past the end of the file (truncated)")
            (crc,) = struct.unpack_from("<I", data, end)
            if zlib.crc32(data[start:end]) != crc:
                raise BitstreamError(f"section {index + 1} (tag {tag:#04x}) fails its checksum (corrupt file)")
            if tag in sections:
                raise BitstreamError(f"section tag {tag:#04x} appears twice (corrupt)")
            if tag not in _KNOWN_TAGS and not tag & 0x80:
                raise UnsupportedBitstreamError(f"file needs section type {tag:#04x}, unknown to this PICD; upgrade picd")
            sections[tag] = data[pos:end]
            pos = end + 4
        if pos != len(data):
            raise BitstreamError(f"{len(data) - pos} unexpected bytes after the last section (corrupt)")
        if TAG_HEADER not in sections or TAG_IMAGE not in sections:
            raise BitstreamError("file lacks its header or image section (corrupt)")
        head = sections[TAG_HEADER]
        if not head or head[0] >= len(MODES):
            raise BitstreamError("header has an invalid mode (corrupt)")
        mode = MODES[head[0]]
        p = 1
        width, p = read_varint(head, p, "width")
        height, p = read_varint(head, p, "height")
        pad_w, p = read_varint(head, p, "padding")
        pad_h, p = read_varint(head, p, "padding")
        scale = 1
        if data[4] >= 2:
            scale, p = read_varint(head, p, "image scale")
            if not 1 <= scale <= MAX_IMAGE_SCALE:
                raise BitstreamError(f"header has an invalid image scale {scale} (corrupt)")
        if p != len(head):
            raise BitstreamError("header has trailing bytes (corrupt)")
        image = sections[TAG_IMAGE]
        name_len, p = read_varint(image, 0, "codec name length")
        if name_len == 0 or name_len > 64 or p + name_len > len(image):
            raise BitstreamError("image section has an invalid codec name (corrupt)")
        try:
            codec = image[p : p + name_len].decode("ascii")
        except UnicodeDecodeError:
            raise BitstreamError("image codec name is not ASCII (corrupt)") from None
        quality, p = read_varint(image, p + name_len, "quality")
        glyph = sections.get(TAG_GLYPH_CHECK)
        if glyph is not None and len(glyph) != 4:
            raise BitstreamError("glyph checksum section has the wrong size (corrupt)")
        text = sections.get(TAG_TEXT)
        if mode == "screen" and text is None:
            raise BitstreamError("screen-mode file lacks its text layer (corrupt)")
        if mode == "natural" and text is not None:
            raise BitstreamError("natural-mode file carries a text layer (corrupt)")
        try:
            return cls(
                mode=mode, width=width, height=height, padded_width=-(-width // scale) + pad_w,
                padded_height=-(-height // scale) + pad_h, image_scale=scale,
                image_codec=codec, image_quality=quality, image_layer=image[p:], text_layer=text,
                glyph_crc=struct.unpack("<I", glyph)[0] if glyph is not None else None,
            )
        except InvalidInputError as exc:
            raise BitstreamError(f"header is invalid: {exc} (corrupt)") from None

    def save(self, path: str | Path) -> int:
        """Write atomically (a temporary file renamed over the target), so a failure never leaves half a file."""
        path = Path(path)
        if not path.parent.exists():
            raise InvalidInputError(f"output folder does not exist: {path.parent}")
        data = self.to_bytes()
        tmp = path.with_name(path.name + ".partial")
        tmp.write_bytes(data)
        tmp.replace(path)
        return len(data)

    @classmethod
    def load(cls, path: str | Path) -> "PicdFile":
        path = Path(path)
        if not path.is_file():
            raise InvalidInputError(f".picd file not found: {path}")
        return cls.from_bytes(path.read_bytes())
