"""Open dataset images defensively: one RGB PIL image out, or one exception that names the image.

Real datasets hold every kind of file a camera or an editor writes, and the processor silently
does the wrong thing with most of them (a transparent PNG turns black, a phone photo lies on its
side, a 16-bit scan clips to white), so every image the trainer, the verifiers or the evaluation
see goes through :func:`open_image`:

- EXIF orientation is applied (``ImageOps.exif_transpose``): the model sees what a person sees,
  and ``image_size`` / boxes refer to that upright image.
- Modes become RGB properly: alpha (RGBA, LA, PA, P or L with a transparent colour) is
  composited on white instead of dropped; CMYK, greyscale (L, 1) and YCbCr convert as usual;
  16-bit greyscale (I;16*, and I, which is how Pillow opens 16-bit PNG/TIFF) is scaled
  0..65535 -> 0..255 instead of clipped at 255.
- An image whose header declares more than ``max_pixels`` pixels is refused before its pixels are
  decoded (a decompression bomb costs memory only once decoded).

An image reference is a path (absolute, or relative to ``base_dir``; ``file://`` accepted), a PIL
image, raw encoded bytes, or a ``{"bytes": ..., "path": ...}`` dict (how ``datasets`` stores its
Image feature, and how images embedded in parquet arrive). Every failure raises
:class:`ImageLoadError`, whose message names the image (and the data row, when known).
"""
from __future__ import annotations

import io
import logging
import os
import stat
import warnings
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from PIL import Image, ImageOps

from gpg_vl.data.skips import SkipCounter
from gpg_vl.errors import DataError

logger = logging.getLogger(__name__)

# Pillow's own decompression-bomb warning threshold (~ 9.5k x 9.5k): larger than any photo a
# VLM dataset ships, far below what would exhaust a training node's memory once decoded.
DEFAULT_MAX_PIXELS = 89_478_485
# The Qwen-VL image processors refuse a longer/shorter side ratio above 200 (transformers'
# qwen2_vl smart_resize: "absolute aspect ratio must be smaller than 200").
MAX_ASPECT_RATIO = 200
# EXIF orientations that swap width and height (transpose, rotate 90/270, transverse).
_SWAPPING_ORIENTATIONS = {5, 6, 7, 8}

# Our own max_pixels limit decides (_open_lazy); Pillow's bomb warning would only repeat it. Set
# once here: a ``warnings.catch_warnings()`` per image reset Python's once-per-location registry
# for every warning of the process, so no third-party warning was ever deduplicated.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
_EXIF_ORIENTATION_TAG = 0x0112


class ImageLoadError(DataError):
    """An image that could not be opened, with where it came from."""

    def __init__(self, image: str, reason: str, *, source: str | None = None, row: int | None = None):
        self.image, self.reason, self.source, self.row = image, reason, source, row
        where = ""
        if source is not None or row is not None:
            where = f"{source or '<data>'}" + (f", row {row}" if row is not None else "") + ": "
        super().__init__(f"{where}cannot load image {image}: {reason}")

    def at(self, source: str | None, row: int | None) -> "ImageLoadError":
        """The same error, located at a data row (loaders add this; openers do not know it)."""
        return ImageLoadError(self.image, self.reason, source=source, row=row)


def describe_ref(ref: Any) -> str:
    """A short printable name for an image reference (never the raw bytes)."""
    if isinstance(ref, (str, os.PathLike)):
        return repr(os.fspath(ref))
    if isinstance(ref, Image.Image):
        return f"<PIL {ref.mode} {ref.width}x{ref.height}>"
    if isinstance(ref, (bytes, bytearray)):
        return f"<{len(ref)} bytes>"
    if isinstance(ref, dict):
        if ref.get("bytes") is not None:
            name = f" from {ref['path']!r}" if ref.get("path") else ""
            return f"<{len(ref['bytes'])} embedded bytes{name}>"
        if ref.get("path"):
            return repr(ref["path"])
    return f"<{type(ref).__name__}>"


def resolve_ref(ref: Any, base_dir: str | os.PathLike | None = None) -> Any:
    """A path reference made absolute against ``base_dir``; other references unchanged.

    ``{"bytes": None, "path": p}`` (an Image feature without embedded bytes) becomes the path.
    """
    if isinstance(ref, dict) and ref.get("bytes") is None and ref.get("path"):
        ref = ref["path"]
    if isinstance(ref, os.PathLike):
        ref = os.fspath(ref)
    if isinstance(ref, str):
        if ref.startswith("file://"):
            ref = ref[len("file://"):]
        ref = os.path.expanduser(ref)
        if not os.path.isabs(ref) and base_dir is not None:
            ref = os.path.join(os.fspath(base_dir), ref)
        return os.path.normpath(ref)
    return ref


def _open_lazy(ref: Any, max_pixels: int) -> Image.Image:
    """Open the header only (pixels stay undecoded) and refuse oversized images."""
    if isinstance(ref, Image.Image):
        img = ref
    else:
        if isinstance(ref, dict):
            ref = ref["bytes"] if ref.get("bytes") is not None else ref.get("path")
        if isinstance(ref, (bytes, bytearray)):
            fp = io.BytesIO(ref)
        elif isinstance(ref, (str, os.PathLike)):
            _check_regular_file(ref)
            fp = ref
        else:
            raise ImageLoadError(describe_ref(ref), "not an image reference "
                                 "(expected a path, PIL image, bytes or {'bytes', 'path'} dict)")
        img = Image.open(fp)
    if img.width * img.height > max_pixels:
        raise ImageLoadError(describe_ref(ref), f"{img.width}x{img.height} = {img.width * img.height} "
                             f"pixels exceeds max_pixels={max_pixels} (decompression-bomb guard)")
    if img.width <= 0 or img.height <= 0:
        raise ImageLoadError(describe_ref(ref), f"empty image ({img.width}x{img.height})")
    ratio = max(img.width, img.height) / min(img.width, img.height)
    if ratio > MAX_ASPECT_RATIO:
        raise ImageLoadError(describe_ref(ref), f"{img.width}x{img.height}: aspect ratio {ratio:.0f} exceeds "
                             f"{MAX_ASPECT_RATIO}, the Qwen-VL image processor's limit")
    return img


def _check_regular_file(path) -> None:
    """A readable regular file: a FIFO, a device or a folder would block or fail inside Pillow."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise ImageLoadError(describe_ref(path), "file not found") from None
    except OSError as exc:
        raise ImageLoadError(describe_ref(path), f"cannot stat: {exc.strerror}") from None
    if not stat.S_ISREG(mode):
        raise ImageLoadError(describe_ref(path), "not a regular file (a FIFO, device or folder)")
    if not os.access(path, os.R_OK):
        raise ImageLoadError(describe_ref(path), "not readable (permissions)")


def _wrap_errors(ref: Any, fn, *args):
    """Run ``fn``; any failure other than ImageLoadError becomes one that names ``ref``."""
    try:
        return fn(*args)
    except ImageLoadError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageLoadError(describe_ref(ref), f"refused by Pillow's bomb limit: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 -- unidentified, truncated, bad mode: all one error
        raise ImageLoadError(describe_ref(ref), f"{type(exc).__name__}: {exc}") from exc


def probe_image(ref: Any, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[int, int]:
    """(W, H) of the image as :func:`open_image` returns it, read from the header only.

    Cheap (no pixel decoding): it checks that the file exists, is an image and is not a bomb,
    and swaps W and H when the EXIF orientation rotates the image by 90 degrees.
    """
    def probe():
        img = _open_lazy(ref, max_pixels)
        orientation = img.getexif().get(_EXIF_ORIENTATION_TAG, 1)
        w, h = img.size
        return (h, w) if orientation in _SWAPPING_ORIENTATIONS else (w, h)
    return _wrap_errors(ref, probe)


def open_image(ref: Any, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """The referenced image as an upright RGB PIL image (see the module docstring for the rules)."""
    def load():
        img = _open_lazy(ref, max_pixels)
        img.load()  # decode now, inside the error wrapper: truncated files fail here
        return to_rgb(_upright(img))
    return _wrap_errors(ref, load)


def _upright(img: Image.Image) -> Image.Image:
    """Apply the EXIF orientation; a malformed EXIF block leaves the image as stored."""
    try:
        return ImageOps.exif_transpose(img)
    except Exception as exc:  # noqa: BLE001 -- broken metadata must not cost the image
        logger.debug("ignoring unreadable EXIF orientation: %s", exc)
        return img


def _flatten_alpha(img: Image.Image) -> Image.Image:
    """RGBA -> RGB composited on white (dropping alpha would show hidden, often black, pixels)."""
    white = Image.new("RGBA", img.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, img.convert("RGBA")).convert("RGB")


def _sixteen_bit_to_rgb(img: Image.Image) -> Image.Image:
    """16-bit greyscale scaled 0..65535 -> 0..255 with rounding (Pillow's convert clips instead)."""
    arr = np.asarray(img).astype(np.int64)  # I;16* -> uint16, I -> int32; [H, W]
    arr = (np.clip(arr, 0, 65535) + 128) // 257  # [H, W] in 0..255
    return Image.fromarray(arr.astype(np.uint8), mode="L").convert("RGB")


def to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode -> RGB, keeping what the image shows (transparency on white, 16-bit scaled)."""
    mode = img.mode
    if mode == "RGB":
        return img
    if mode.startswith("I;16") or mode == "I":
        return _sixteen_bit_to_rgb(img)
    if mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in img.info:
        return _flatten_alpha(img)
    try:
        return img.convert("RGB")  # P, L, 1, CMYK, YCbCr, RGBX, ...
    except ValueError as exc:
        raise ValueError(f"unsupported image mode {mode!r}") from exc


@dataclass
class BadImageCounter(SkipCounter):
    """What to do with an image that fails to load: raise (``"error"``, the default) or skip and
    count."""

    policy: str = "error"
    key: ClassVar[str] = "on_bad_image"
    what: ClassVar[str] = "a row with a bad image"

    def record(self, error: ImageLoadError) -> None:
        """Raise ``error`` under the "error" policy; otherwise count it and log it."""
        if self.policy == "error":
            raise error
        self.skip(str(error))

    def summary(self) -> str:
        return f"skipped {self.skipped} row(s) with bad images" if self.skipped else "no bad images"
