"""Evidence images: decoded under limits, re-encoded without metadata, thumbnailed, hashed.

Re-encoding from the decoded pixels is the defence: whatever else the file carried (EXIF
with GPS, comments, an appended archive, a polyglot's second meaning) does not survive.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import ExifTags, Image

from portal.services.errors import DomainError
from portal.services.policy_text import N_
from portal.services.uploads import evidence, perceptual_hash

MAX_PIXELS = evidence.MAX_IMAGE_PIXELS
MAX_SIDE = evidence.MAX_IMAGE_SIDE
THUMB_SIDE = 240
# Pillow's own guard (warns above this, refuses above twice this); our check comes first.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
_EXT = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp"}
# what each format is re-encoded as: WebP's encoder costs several times JPEG's per pixel
_OUTPUT = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "JPEG"}


@dataclass(frozen=True)
class CleanImage:
    """An image re-encoded from its pixels, its thumbnail and its perceptual hash."""

    data: bytes
    content_type: str
    ext: str
    thumbnail: bytes
    phash: str
    width: int
    height: int


def unreadable(name: str) -> DomainError:
    """The error for a file that claims to be an image but cannot be decoded whole."""
    return DomainError(
        N_(
            "%(name)s could not be read as an image (damaged or incomplete)."
            " Save it again and retry."
        ),
        rule="unreadable",
        name=name,
    )


def measure(data: bytes, name: str) -> tuple[int, int]:
    """(width, height) from the image's header alone (Pillow opens lazily: no pixel is
    decoded); DomainError if the header cannot be read or says more than MAX_PIXELS."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=list(_FORMATS)) as im:
                size = im.size
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _too_many_pixels(name) from None
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise unreadable(name) from exc
    if size[0] * size[1] > MAX_PIXELS:
        raise _too_many_pixels(name)
    return size


def clean(data: bytes, name: str) -> CleanImage:
    """Decode ``data`` (JPEG, PNG or WebP) within limits and re-encode it; DomainError if not.

    Large pictures are shrunk as early as they can be: a JPEG is decoded at a reduced
    scale (its DCT allows 1/2, 1/4, 1/8), other formats are box-reduced by a whole factor
    before the Lanczos resize, so no full-size copy is converted, rotated or filtered.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=list(_FORMATS)) as im:
                fmt = im.format or ""
                if im.width * im.height > MAX_PIXELS:  # before any pixel is decoded
                    raise _too_many_pixels(name)
                orientation = im.getexif().get(ExifTags.Base.Orientation, 1)
                if fmt == "JPEG":
                    im.draft("RGB", _at_least(im.size, MAX_SIDE))
                im.load()
                pixels = _plain_pixels(im, orientation)
        except DomainError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _too_many_pixels(name) from None
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise unreadable(name) from exc
    out = _OUTPUT[fmt]
    return CleanImage(
        data=_encode(pixels, out),
        content_type=_FORMATS[out],
        ext=_EXT[out],
        thumbnail=_thumbnail(pixels),
        phash=perceptual_hash.phash(pixels),
        width=pixels.width,
        height=pixels.height,
    )


def _at_least(size: tuple[int, int], side: int) -> tuple[int, int]:
    """``size`` scaled so that its longer side is ``side`` (unchanged if already smaller)."""
    w, h = size
    longer = max(w, h)
    if longer <= side:
        return size
    return max(1, w * side // longer), max(1, h * side // longer)


def _too_many_pixels(name: str) -> DomainError:
    return DomainError(
        N_(
            "%(name)s is too large an image (at most %(mp)s megapixels). Send a screenshot instead."
        ),
        rule="too_many_pixels",
        name=name,
        mp=str(MAX_PIXELS // 1_000_000),
    )


def _plain_pixels(im: Image.Image, orientation: int) -> Image.Image:
    """Upright RGB pixels (transparency flattened onto white), at most MAX_SIDE on the longer
    side, carrying no metadata. Three channels, not four: encoding costs per channel."""
    has_alpha = im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info
    mode = "RGBA" if has_alpha else "RGB"
    if im.mode not in ("RGB", "RGBA", "L", "LA"):  # palette, 1-bit, CMYK, 16-bit: no reduce()
        im = im.convert(mode)
    # reducing_gap=1: first a box average by a whole factor (cheap), then Lanczos on less
    im.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS, reducing_gap=1.0)
    im = im.convert(mode)
    if mode == "RGBA":
        flat = Image.new("RGB", im.size, "white")
        flat.paste(im, mask=im.getchannel("A"))
        im = flat
    method = _TRANSPOSE.get(orientation)
    if method is not None:
        im = im.transpose(method)
    return Image.frombytes(im.mode, im.size, im.tobytes())


# EXIF orientation -> the transpose that makes the picture upright (as ImageOps.exif_transpose)
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _encode(im: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    # encoder settings bound the cost (docs/performance.md): PNG's optimize (zlib level 9)
    # is pathologically slow on small files of noise; level 1 stays cheap on any content
    if fmt == "JPEG":
        im.convert("RGB").save(out, "JPEG", quality=85, optimize=True)
    else:
        im.save(out, "PNG", compress_level=1)
    return out.getvalue()


def _thumbnail(im: Image.Image) -> bytes:
    thumb = im.copy()
    thumb.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS)
    if thumb.mode == "RGBA":
        flat = Image.new("RGB", thumb.size, "white")
        flat.paste(thumb, mask=thumb.getchannel("A"))
        thumb = flat
    out = io.BytesIO()
    thumb.save(out, "JPEG", quality=70, optimize=True)
    return out.getvalue()
