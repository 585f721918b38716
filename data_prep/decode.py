"""Bytes or a file in, 8-bit RGB pixels out, or a BadImage naming what is wrong.

Content is judged by decoding it fully, never by the file name, extension or HTTP header.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Pillow's own decompression-bomb threshold (~89 megapixels); a header claiming more is
# refused before a single pixel is decoded.
MAX_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485
EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png", "GIF": ".gif", "BMP": ".bmp", "WEBP": ".webp",
              "TIFF": ".tif", "MPO": ".jpg"}  # MPO: multi-picture JPEG from phone cameras
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff"}


class BadImage(ValueError):
    """Content that is not a usable image; str() is the reason recorded in the manifest."""


def _open(source) -> Image.Image:
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise BadImage("empty (0 bytes)")
        return Image.open(io.BytesIO(bytes(source)))
    path = Path(source)
    if path.stat().st_size == 0:
        raise BadImage("empty (0 bytes)")
    return Image.open(path)


def open_checked(source, max_pixels: int = MAX_PIXELS) -> tuple[Image.Image, str]:
    """Open and fully decode an image (path or bytes): (upright image, format name)."""
    try:
        with warnings.catch_warnings():
            # Pillow warns between 1x and 2x its limit; our own check below decides instead.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with _open(source) as im:
                w, h = im.size
                if w * h > max_pixels:
                    raise BadImage(f"too many pixels: {w}x{h} > {max_pixels:,} "
                                   "(decompression bomb guard)")
                im.load()  # decodes every byte: truncated data fails here
                fmt = (im.format or "").upper()
                return ImageOps.exif_transpose(im), fmt
    except BadImage:
        raise
    except UnidentifiedImageError:
        raise BadImage("not an image (no decoder recognises the content)") from None
    except Image.DecompressionBombError as err:
        raise BadImage(f"too many pixels (decompression bomb guard): {err}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        msg = str(err) or type(err).__name__
        if "truncated" in msg.lower():
            raise BadImage(f"truncated: {msg}") from None
        raise BadImage(f"cannot decode: {msg}") from None


def to_rgb8(im: Image.Image) -> np.ndarray:
    """Any Pillow mode (CMYK, 16-bit, grayscale, palette, alpha) as HxWx3 uint8 RGB."""
    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        arr = np.asarray(im, dtype=np.int64)
        if im.mode == "I" and arr.max(initial=0) > 65535:  # true 32-bit data: use its range
            arr = arr * 255 // max(int(arr.max()), 1)
        else:  # 16-bit samples: 65535 -> 255
            arr = (arr * 255 + 32767) // 65535
        return np.repeat(np.clip(arr, 0, 255).astype(np.uint8)[..., None], 3, axis=-1)
    if im.mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        lo, hi = float(arr.min(initial=0.0)), float(arr.max(initial=1.0))
        arr = (arr - lo) * (255.0 / max(hi - lo, 1e-12))
        return np.repeat(np.round(arr).astype(np.uint8)[..., None], 3, axis=-1)
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        # Transparent pixels become white: the usual backdrop of cut-out photos.
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, rgba)
    return np.asarray(im.convert("RGB"), dtype=np.uint8)


def load_rgb(source, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode a file or bytes to HxWx3 uint8 RGB (upright per EXIF). Raises BadImage."""
    im, _ = open_checked(source, max_pixels)
    return to_rgb8(im)


def check_bytes(data: bytes, max_pixels: int = MAX_PIXELS) -> tuple[str, str, tuple[int, int]]:
    """Validate downloaded bytes by decoding them: (format, file suffix, (width, height))."""
    im, fmt = open_checked(data, max_pixels)
    if fmt not in EXTENSIONS:
        raise BadImage(f"unsupported image format {fmt or 'unknown'}")
    return fmt, EXTENSIONS[fmt], im.size
