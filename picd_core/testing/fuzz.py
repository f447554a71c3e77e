"""Structure-aware fuzzing of the .picd decoders, behind recomputed section CRCs.

Each case mutates a valid file (built through the public encode_image API, so new layer formats are fuzzed without
changes here), recomputes every section's CRC-32 so the mutation reaches the layer decoders, and decodes it in a forked
child under RLIMIT_CPU / RLIMIT_AS (and a looser wall-clock alarm). Outcomes: "ok" (decoded), "typed" (a PicdError), "untyped" (any other exception),
"crash" (killed by a signal, e.g. SIGSEGV), "hang" (over the CPU-time limit), "memory" (MemoryError or over the
address space limit), "starved" (killed by the wall-clock alarm having used less CPU than the limit: an overloaded
machine, reported but not counted as a failure). Only ok, typed and starved are acceptable.
"""

from __future__ import annotations

import os
import sys
import random
import resource
import signal
import struct
import time
import warnings
import zlib
from dataclasses import dataclass, field

import numpy as np

from ..bitio import read_varint, write_varint
from ..container import MAGIC, TAG_HEADER, TAG_IMAGE, TAG_TEXT

OUTCOMES = ("ok", "typed", "untyped", "crash", "hang", "memory", "starved")
WALL_FACTOR = 12


def build_corpus(codecs: tuple[str, ...] = ("jpeg", "webp", "mlic", "overfit")) -> list[bytes]:
    """Small valid files: screen and natural mode, each codec that can run here."""
    from ..data import generate_screen
    from ..image_codecs import available_codecs
    from ..pipeline import encode_image

    usable = [c for c in codecs if available_codecs().get(c, "missing") is None]
    from ..layout import TextLayout

    big = generate_screen(5, 480, 320, kind="ui")
    # A 192x128 crop keeps each mlic decode in the fuzz child well under a second.
    inside = [[w for w in line.words if w.x + w.w <= 192 and w.y + w.h <= 128] for line in big.layout.lines]
    layout = TextLayout.from_lines([line for line in inside if line])
    image = np.ascontiguousarray(big.image[:128, :192])
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (72, 88, 3), dtype=np.uint8)
    corpus = []
    for name in usable:
        if name == "overfit":
            corpus += _encode_overfit_pair(image, layout, photo)
            continue
        corpus.append(encode_image(image, mode="screen", codec=name, layout=layout).picd.to_bytes())
        corpus.append(encode_image(photo, mode="natural", codec=name).picd.to_bytes())
    return corpus


def _encode_overfit_pair(image: np.ndarray, layout, photo: np.ndarray) -> list[bytes]:
    """A screen and a natural overfit file from a short fit: the payload has the same structure whatever the effort."""
    from ..overfit.codec import OverfitCodec
    from ..pipeline import encode_image

    codec = OverfitCodec(iterations=30)
    return [encode_image(image, mode="screen", codec=codec, layout=layout).picd.to_bytes(),
            encode_image(photo, mode="natural", codec=codec).picd.to_bytes()]


def split_sections(data: bytes) -> tuple[bytes, list[tuple[int, bytes]]]:
    """(prefix up to the section count, [(tag, payload)]) of a valid file."""
    count, pos = read_varint(data, 5)
    sections = []
    for _ in range(count):
        tag = data[pos]
        length, pos = read_varint(data, pos + 1)
        sections.append((tag, data[pos : pos + length]))
        pos += length + 4
    return data[:5], sections


def join_sections(prefix: bytes, sections: list[tuple[int, bytes]], lengths: dict[int, int] | None = None) -> bytes:
    """Reassemble with fresh CRCs; `lengths` overrides the stored length of section i (a lying length field)."""
    out = bytearray(prefix)
    write_varint(out, len(sections))
    for i, (tag, payload) in enumerate(sections):
        start = len(out)
        out.append(tag)
        write_varint(out, (lengths or {}).get(i, len(payload)))
        out += payload
        out += struct.pack("<I", zlib.crc32(out[start:]))
    return bytes(out)


_INTERESTING = (0, 1, 7, 63, 64, 65, 127, 128, 255, 256, 1023, 4095, 8191, 8192, 16383, 16384, 65472, 65535, 65536,
                1 << 20, 1 << 31, (1 << 63) - 1)


def _flip(rng: random.Random, payload: bytes) -> bytes:
    if not payload:
        return payload
    b = bytearray(payload)
    for _ in range(rng.choice((1, 1, 2, 4, 16))):
        b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
    return bytes(b)


def _insert_delete(rng: random.Random, payload: bytes) -> bytes:
    pos = rng.randrange(len(payload) + 1)
    if rng.random() < 0.5 and payload:
        return payload[:pos] + payload[pos + rng.randint(1, 16):]
    junk = bytes(rng.randrange(256) for _ in range(rng.choice((1, 4, 16, 64))))
    return payload[:pos] + junk + payload[pos:]


def _header(rng: random.Random, payload: bytes) -> bytes:
    mode = payload[0]
    fields, p = [], 1
    for _ in range(4):
        value, p = read_varint(payload, p)
        fields.append(value)
    i = rng.randrange(4)
    fields[i] = rng.choice(_INTERESTING) if rng.random() < 0.7 else max(0, fields[i] + rng.randint(-70, 70))
    if rng.random() < 0.3:  # keep the padding consistent so the claim reaches the codec
        fields[2 + i % 2] = -fields[i % 2] % 64 if rng.random() < 0.5 else 0
    out = bytearray([mode if rng.random() < 0.9 else rng.randrange(4)])
    for value in fields:
        write_varint(out, value)
    return bytes(out)


def _text_semantics(rng: random.Random, payload: bytes) -> bytes:
    """Re-encode a mutated layout: long words, many words, huge or negative-looking boxes, odd characters."""
    from ..layout import TextLayout, Word
    from ..text_layer import decode_text_layer, encode_text_layer

    layout = decode_text_layer(payload)
    words = layout.words or [Word("a", 0, 0, 10, 10)]
    kind = rng.randrange(6)
    if kind == 0:
        w = rng.choice(words)
        words = [Word(rng.choice("aW€\u0301\ud800 ") * rng.choice((300, 5000, 100000)), w.x, w.y, w.w, w.h)]
    elif kind == 1:
        words = [Word(f"w{i}", i % 150, (i // 150) % 90, 9, 6) for i in range(rng.choice((3000, 70000)))]
    elif kind == 2:
        w = rng.choice(words)
        words = [Word(w.text, w.x, w.y, rng.choice(_INTERESTING), rng.choice(_INTERESTING))]
    elif kind == 3:
        words = [Word("".join(chr(rng.randrange(0x20, 0x3000)) for _ in range(12)), 0, 0, 150, 90)
                 for _ in range(rng.choice((50, 900)))]
    elif kind == 4:
        words = [Word(w.text, w.x + rng.randint(0, 1 << 16), w.y, w.w, w.h) for w in words]
    else:
        words = [Word("", 0, 0, 0, 0), Word("\n\\ x", 1, 1, 5, 5)] + words
    return encode_text_layer(TextLayout.from_lines([words]))


def _mutate_codec_payload(rng: random.Random, payload: bytes) -> bytes:
    """Inside the image section's codec payload only, past its name and quality."""
    name_len, p = read_varint(payload, 0)
    _, p = read_varint(payload, p + name_len)
    body = payload[p:]
    body = _flip(rng, body) if rng.random() < 0.6 else _insert_delete(rng, body)
    return payload[:p] + body


def mutate_image_payload(rng: random.Random, data: bytes) -> bytes:
    """A valid file with its image codec's payload mutated (bits flipped, bytes inserted or deleted) and every section
    CRC recomputed: the container loads it, and the damage reaches the codec's decoder."""
    prefix, sections = split_sections(data)
    i = next(i for i, (tag, _) in enumerate(sections) if tag == TAG_IMAGE)
    sections[i] = (TAG_IMAGE, _mutate_codec_payload(rng, sections[i][1]))
    return join_sections(prefix, sections)


def mutate(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    """One mutation of a valid file, every section CRC recomputed. Returns (kind, bytes)."""
    prefix, sections = split_sections(data)
    kind = rng.choice(("flip", "insert", "header", "length", "text", "payload", "sections"))
    index = {tag: i for i, (tag, _) in enumerate(sections)}
    if kind == "header":
        i = index[TAG_HEADER]
        sections[i] = (TAG_HEADER, _header(rng, sections[i][1]))
    elif kind == "length":
        i = rng.randrange(len(sections))
        delta = rng.choice((-1, 1, -4, 4, 1000))
        return kind, join_sections(prefix, sections, {i: max(0, len(sections[i][1]) + delta)})
    elif kind == "text" and TAG_TEXT in index:
        i = index[TAG_TEXT]
        try:
            sections[i] = (TAG_TEXT, _text_semantics(rng, sections[i][1]))
        except Exception:  # a layout the encoder refuses (e.g. a box past 2^31): keep the original
            pass
    elif kind == "payload":
        i = index[TAG_IMAGE]
        sections[i] = (TAG_IMAGE, _mutate_codec_payload(rng, sections[i][1]))
    elif kind == "sections":
        if rng.random() < 0.5 and len(sections) > 1:
            sections.pop(rng.randrange(len(sections)))
        else:
            sections.insert(rng.randrange(len(sections) + 1), (rng.choice((0x04, 0x82, 0x01)), os.urandom(4)))
    else:
        i = rng.randrange(len(sections))
        tag, payload = sections[i]
        sections[i] = (tag, _flip(rng, payload) if kind == "flip" else _insert_delete(rng, payload))
    return kind, join_sections(prefix, sections)


def _decode_in_child(data: bytes, time_limit: float, memory_limit: int, write_fd: int) -> None:
    from ..container import PicdFile
    from ..errors import PicdError
    from ..pipeline import decode_picd

    if "torch" in sys.modules:
        # GNU OpenMP's thread pool does not survive fork: a child whose parent already ran a parallel torch op
        # deadlocks in its first one (measured with the overfit decoder). One thread runs inline; the decoders are
        # exact, so the outcome is the same.
        sys.modules["torch"].set_num_threads(1)
    resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    # The time limit is CPU time (two torch threads: twice the limit); a shared, loaded machine must not turn slow
    # wall-clock progress into "hangs", so the wall-clock alarm is WALL_FACTOR times looser.
    resource.setrlimit(resource.RLIMIT_CPU, (int(2 * time_limit) + 1, int(2 * time_limit) + 2))
    signal.alarm(int(WALL_FACTOR * time_limit) + 1)
    outcome, detail = "ok", ""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            picd = PicdFile.from_bytes(data)
            for render in ("none", "glyph"):
                decode_picd(picd, render=render)
    except PicdError as exc:
        outcome, detail = "typed", type(exc).__name__
    except MemoryError:
        outcome, detail = "memory", "MemoryError"
    except BaseException as exc:  # noqa: BLE001 — the point is to classify everything else
        outcome, detail = "untyped", f"{type(exc).__name__}: {exc}"[:300]
    os.write(write_fd, f"{outcome}\t{detail}".encode("utf-8", "replace"))
    os._exit(0)


def run_case(data: bytes, time_limit: float = 10.0, memory_limit: int = 4 << 30) -> tuple[str, str, float, int]:
    """Decode `data` in a forked child. Returns (outcome, detail, child CPU seconds, child peak RSS in bytes)."""
    read_fd, write_fd = os.pipe()
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        try:
            _decode_in_child(data, time_limit, memory_limit, write_fd)
        finally:
            os._exit(70)
    os.close(write_fd)
    deadline = t0 + WALL_FACTOR * time_limit + 2
    status = None
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            _, status, usage = os.wait4(pid, 0)
            os.close(read_fd)
            cpu = usage.ru_utime + usage.ru_stime
            return ("hang" if cpu >= time_limit else "starved"), f"over {WALL_FACTOR * time_limit:.0f} s wall", cpu, \
                usage.ru_maxrss * 1024
        time.sleep(0.005)
    message = os.read(read_fd, 4096).decode("utf-8", "replace")
    os.close(read_fd)
    seconds = usage.ru_utime + usage.ru_stime  # CPU seconds: what the limit is about
    rss = usage.ru_maxrss * 1024
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGXCPU or (sig == signal.SIGALRM and seconds >= time_limit):
            return "hang", signal.Signals(sig).name, seconds, rss
        if sig == signal.SIGALRM:  # little CPU in a long wall time: an overloaded machine starved the child
            return "starved", f"{seconds:.1f} CPU s in {WALL_FACTOR * time_limit:.0f} s wall", seconds, rss
        return "crash", signal.Signals(sig).name, seconds, rss
    if not message:
        return "crash", f"exit status {os.WEXITSTATUS(status)} without a report", seconds, rss
    outcome, _, detail = message.partition("\t")
    return outcome, detail, seconds, rss


@dataclass
class FuzzReport:
    cases: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    by_kind: dict[str, int] = field(default_factory=dict)
    failures: list[tuple[str, str, str, bytes]] = field(default_factory=list)  # (outcome, kind, detail, file)
    peak_rss: int = 0
    slowest: float = 0.0
    seconds: float = 0.0

    @property
    def bad(self) -> int:
        return sum(self.counts[k] for k in ("untyped", "crash", "hang", "memory"))

    def summary(self) -> str:
        counts = ", ".join(f"{k} {v}" for k, v in self.counts.items())
        return (f"{self.cases} cases in {self.seconds:.0f} s: {counts}; peak child RSS {self.peak_rss / 2**20:.0f} MiB; "
                f"slowest case {self.slowest:.1f} CPU s")


def fuzz(corpus: list[bytes], seed: int, cases: int, time_budget: float | None = None, time_limit: float = 10.0,
         memory_limit: int = 4 << 30, keep_failures: int = 20) -> FuzzReport:
    """Run up to `cases` mutations (stopping early once `time_budget` seconds have passed), one child at a time."""
    from ..errors import BitstreamError

    from ..container import PicdFile
    from ..pipeline import decode_picd

    # Decode every corpus file once here: the children inherit warm codecs (the mlic float64 entropy path, the
    # renderer's reference check), so their time limit measures the mutation, not one-off start-up work.
    for data in corpus:
        decode_picd(PicdFile.from_bytes(data), render="glyph")
    rng = random.Random(seed)
    report = FuzzReport()
    t0 = time.monotonic()
    for _ in range(cases):
        if time_budget is not None and time.monotonic() - t0 > time_budget:
            break
        try:
            kind, data = mutate(rng, rng.choice(corpus))
        except BitstreamError:
            continue
        outcome, detail, seconds, rss = run_case(data, time_limit, memory_limit)
        if outcome == "hang" and rss >= memory_limit * 0.9:
            outcome = "memory"
        report.cases += 1
        report.counts[outcome] += 1
        report.by_kind[kind] = report.by_kind.get(kind, 0) + 1
        report.peak_rss = max(report.peak_rss, rss)
        report.slowest = max(report.slowest, seconds)
        if outcome not in ("ok", "typed") and len(report.failures) < keep_failures:
            report.failures.append((outcome, kind, detail, data))
    report.seconds = time.monotonic() - t0
    return report
