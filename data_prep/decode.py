"""Bytes or a file in, 8-bit RGB pixels out, or a BadImage naming what is wrong.

The reading itself (open_checked, to_rgb8, load_rgb: fixed 16-bit scale, alpha on white, EXIF
orientation, decompression-bomb guard) is dcgan_tf.images, the one reader the kit has, so a
photo gives the same pixels here as in training. This module adds what downloads need:
`check_bytes` and the file suffix of each accepted format.

Content is judged by decoding it fully, never by the file name, extension or HTTP header.
"""

from __future__ import annotations

from dcgan_tf.images import MAX_PIXELS, BadImage, load_rgb, open_checked, to_rgb8

__all__ = ["EXTENSIONS", "MAX_PIXELS", "BadImage", "check_bytes", "load_rgb", "open_checked",
           "to_rgb8"]

EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png", "GIF": ".gif", "BMP": ".bmp", "WEBP": ".webp",
              "TIFF": ".tif", "MPO": ".jpg"}  # MPO: multi-picture JPEG from phone cameras


def check_bytes(data: bytes, max_pixels: int = MAX_PIXELS) -> tuple[str, str, tuple[int, int]]:
    """Validate downloaded bytes by decoding them: (format, file suffix, (width, height))."""
    im, fmt = open_checked(data, max_pixels)
    if fmt not in EXTENSIONS:
        raise BadImage(f"unsupported image format {fmt or 'unknown'}")
    return fmt, EXTENSIONS[fmt], im.size
