"""The kit's one image reader: a file or bytes in, 8-bit RGB pixels out, or a BadImage.

Both dcgan_tf.data (folders of images) and data_prep (photos, crops) read through here, so a
picture gives the same pixels whichever way it enters. The rules:
  - content is judged by decoding it fully, never by the file name or extension;
  - EXIF orientation is applied (pixels come out upright);
  - 16-bit samples map on a fixed scale (65535 -> 255), never stretched per image, so a dim
    scan stays dim;
  - transparent pixels are composited onto white, the usual backdrop of cut-out photos;
  - a header claiming more than MAX_PIXELS is refused before any pixel is decoded.
Reading a file can also fail for reasons that are not the content's (a file deleted or
unreadable, an I/O error mid-read): those stay OSErrors, so callers can tell "not an image"
from "not there".

No TensorFlow here: data_prep imports this module.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Pillow's own decompression-bomb threshold (~89 megapixels); a header claiming more is
# refused before a single pixel is decoded.
MAX_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_ALPHA = ("RGBA", "LA", "PA", "RGBa", "La")


class BadImage(ValueError):
    """Content that is not a usable image; str() is the reason recorded in the manifest."""


def _source_file(source, stack: contextlib.ExitStack):
    """A binary file object for bytes or a path. Opening a path may raise OSError."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise BadImage("empty (0 bytes)")
        return io.BytesIO(bytes(source))
    f = stack.enter_context(open(Path(source), "rb"))
    if os.fstat(f.fileno()).st_size == 0:
        raise BadImage("empty (0 bytes)")
    return f


def open_checked(source, max_pixels: int = MAX_PIXELS) -> tuple[Image.Image, str]:
    """Open and fully decode an image (path or bytes): (upright image, format name).

    Raises BadImage for content that does not decode; OSError if a path cannot be opened or
    reading it fails with an errno (EIO, ESTALE: Pillow's own decoder errors carry none).
    """
    with contextlib.ExitStack() as stack:
        fp = _source_file(source, stack)
        try:
            with warnings.catch_warnings():
                # Pillow warns between 1x and 2x its limit; our own check below decides.
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(fp) as im:
                    w, h = im.size
                    if w * h > max_pixels:
                        raise BadImage(f"too many pixels: {w}x{h} > {max_pixels:,} "
                                       "(decompression bomb guard)")
                    im.load()  # decodes every byte: truncated data fails here
                    fmt = (im.format or "").upper()
                    return ImageOps.exif_transpose(im), fmt  # a copy: safe after close
        except BadImage:
            raise
        except UnidentifiedImageError:
            raise BadImage("not an image (no decoder recognises the content)") from None
        except Image.DecompressionBombError as err:
            raise BadImage(f"too many pixels (decompression bomb guard): {err}") from None
        except (OSError, SyntaxError, ValueError, EOFError) as err:
            if isinstance(err, OSError) and err.errno is not None:
                raise  # the file system failed (EIO, ESTALE), not the content: may pass
            msg = str(err) or type(err).__name__
            if "truncated" in msg.lower():
                raise BadImage(f"truncated: {msg}") from None
            raise BadImage(f"cannot decode: {msg}") from None
    raise AssertionError("unreachable")


def to_rgb8(im: Image.Image) -> np.ndarray:
    """Any Pillow mode (CMYK, 16-bit, grayscale, palette, alpha) as HxWx3 uint8 RGB."""
    if im.mode in _SIXTEEN_BIT:
        arr = np.asarray(im, dtype=np.int64)
        if im.mode == "I" and arr.max(initial=0) > 65535:  # true 32-bit data: use its range
            arr = arr * 255 // max(int(arr.max()), 1)
        else:  # 16-bit samples: 65535 -> 255, rounded
            arr = (arr * 255 + 32767) // 65535
        return np.repeat(np.clip(arr, 0, 255).astype(np.uint8)[..., None], 3, axis=-1)
    if im.mode == "F":  # floats have no fixed scale: their own range
        arr = np.asarray(im, dtype=np.float64)
        lo, hi = float(arr.min(initial=0.0)), float(arr.max(initial=1.0))
        arr = (arr - lo) * (255.0 / max(hi - lo, 1e-12))
        return np.repeat(np.round(arr).astype(np.uint8)[..., None], 3, axis=-1)
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in _ALPHA:
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, rgba)
    return np.asarray(im.convert("RGB"), dtype=np.uint8)


def load_rgb(source, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode a file or bytes to HxWx3 uint8 RGB (upright per EXIF). Raises BadImage."""
    im, _ = open_checked(source, max_pixels)
    return to_rgb8(im)
