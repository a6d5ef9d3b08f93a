"""Real image and PDF bytes for upload tests (made with Pillow and pypdf, no fixtures on disk)."""

from __future__ import annotations

import io

from PIL import Image


def image_bytes(
    fmt: str = "PNG",
    size: tuple[int, int] = (64, 48),
    color: tuple[int, int, int] = (200, 30, 30),
    exif: dict[int, str] | None = None,
    seed: int = 0,
) -> bytes:
    """An image with a little structure (so perceptual hashes differ between seeds)."""
    im = Image.new("RGB", size, color)
    w, h = size
    for i in range(0, w, max(1, w // 8)):
        for j in range(0, h, max(1, h // 6)):
            if (i * 7 + j * 3 + seed * 11) % 5 < 2:
                im.paste((seed * 40 % 256, 255 - i % 256, j % 256), (i, j, i + w // 8, j + h // 6))
    out = io.BytesIO()
    kwargs = {}
    if exif:
        ex = Image.Exif()
        for tag, value in exif.items():
            ex[tag] = value
        kwargs["exif"] = ex.tobytes()
    im.save(out, fmt, **kwargs)
    return out.getvalue()


PNG = image_bytes()


def pdf_bytes(javascript: str | None = None, attachment: bytes | None = None) -> bytes:
    """A one-page PDF, optionally with an OpenAction script or an embedded file."""
    from pypdf import PdfWriter
    from pypdf.generic import DictionaryObject, NameObject, TextStringObject

    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    if javascript:
        action = DictionaryObject(
            {
                NameObject("/S"): NameObject("/JavaScript"),
                NameObject("/JS"): TextStringObject(javascript),
            }
        )
        writer._root_object[NameObject("/OpenAction")] = action
    if attachment:
        writer.add_attachment("payload.exe", attachment)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
