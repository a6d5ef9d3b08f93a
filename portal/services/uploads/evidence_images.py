"""Evidence images: decoded under limits, re-encoded without metadata, thumbnailed, hashed.

Re-encoding from the decoded pixels is the defence: whatever else the file carried (EXIF
with GPS, comments, an appended archive, a polyglot's second meaning) does not survive.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps

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


def clean(data: bytes, name: str) -> CleanImage:
    """Decode ``data`` (JPEG, PNG or WebP) within limits and re-encode it; DomainError if not."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=list(_FORMATS)) as im:
                fmt = im.format or ""
                if im.width * im.height > MAX_PIXELS:  # before any pixel is decoded
                    raise _too_many_pixels(name)
                im.load()
                pixels = _plain_pixels(im)
        except DomainError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _too_many_pixels(name) from None
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise unreadable(name) from exc
    pixels.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    return CleanImage(
        data=_encode(pixels, fmt),
        content_type=_FORMATS[fmt],
        ext=_EXT[fmt],
        thumbnail=_thumbnail(pixels),
        phash=perceptual_hash.phash(pixels),
        width=pixels.width,
        height=pixels.height,
    )


def _too_many_pixels(name: str) -> DomainError:
    return DomainError(
        N_(
            "%(name)s is too large an image (at most %(mp)s megapixels). Send a screenshot instead."
        ),
        rule="too_many_pixels",
        name=name,
        mp=str(MAX_PIXELS // 1_000_000),
    )


def _plain_pixels(im: Image.Image) -> Image.Image:
    """Upright pixels in RGB or RGBA, carrying no metadata at all."""
    im = ImageOps.exif_transpose(im)
    has_alpha = im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info
    im = im.convert("RGBA" if has_alpha else "RGB")
    return Image.frombytes(im.mode, im.size, im.tobytes())


def _encode(im: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    if fmt == "JPEG":
        im.convert("RGB").save(out, "JPEG", quality=85, optimize=True)
    elif fmt == "WEBP":
        im.save(out, "WEBP", quality=85, method=4)
    else:
        im.save(out, "PNG", optimize=True)
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
