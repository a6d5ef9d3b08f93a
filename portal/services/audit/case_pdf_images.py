"""An evidence file as the case file PDF shows it: the stored picture scaled to the page, or
the stored preview when the original is gone, and what a reader must know about it (gone or
erased, no longer matching its SHA-256, a PDF kept in the ZIP, unreadable).

The stored files were cleaned on upload, but they are read again here as untrusted: only
JPEG and PNG, the pixel bound of uploads checked from the header before decoding, and any
failure becomes a note, never an error.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass, field

from PIL import Image as PILImage
from reportlab.lib.units import mm
from reportlab.platypus import Flowable, Image

from portal.models import Evidence
from portal.services.policy_text import N_
from portal.services.uploads import evidence, storage

#: the largest a picture is drawn (the text column of an A4 page, a little over half its height)
MAX_WIDTH, MAX_HEIGHT = 170 * mm, 150 * mm
#: pixels kept on the longer side: legible when printed at the drawn size
MAX_SIDE = 1400
#: the most one pixel is drawn (120 pixels an inch): a small picture is not blown up
PIXEL = 25.4 * mm / 120
_FORMATS = ("JPEG", "PNG")

GONE = N_(
    "The file is no longer stored (missing, or erased when its keeping period ended); "
    "its name and SHA-256 above are what the record kept."
)
PREVIEW_ONLY = N_("The original file is no longer stored; its small preview is shown.")
ALTERED = N_("The stored file no longer matches the SHA-256 recorded when it was added.")
PDF_IN_ZIP = N_("A PDF file: not drawn here; the ZIP case file holds the original.")
UNREADABLE = N_("The stored picture could not be read, so it is not shown.")


@dataclass
class Shown:
    """What the PDF draws for one evidence file, and the notes (msgids) it prints above."""

    flowable: Flowable | None = None
    notes: list[str] = field(default_factory=list)


def _read(name: str | None) -> bytes | None:
    """The stored file, or None if the store holds none under that name (a store that does
    not answer raises ``StorageUnavailable``: the file is not known to be gone)."""
    if name is None:
        return None
    try:
        return storage.current().open(name).read_all()
    except (OSError, storage.NotStored, storage.BadName):
        return None


def _scaled(data: bytes) -> Flowable | None:
    """The picture re-encoded at most MAX_SIDE pixels long, sized to fit; None if unreadable."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", PILImage.DecompressionBombWarning)
        try:
            with PILImage.open(io.BytesIO(data), formats=list(_FORMATS)) as im:
                if im.width * im.height > evidence.MAX_IMAGE_PIXELS:  # before any decoding
                    return None
                im.draft("RGB", (MAX_SIDE, MAX_SIDE))  # JPEG: decode at a reduced scale
                im.thumbnail((MAX_SIDE, MAX_SIDE))
                rgb = im.convert("RGB")
                out = io.BytesIO()
                rgb.save(out, "JPEG", quality=82)
                width, height = rgb.size
        except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning):
            return None
        except (OSError, SyntaxError, ValueError, EOFError):
            return None
    scale = min(MAX_WIDTH / width, MAX_HEIGHT / height, PIXEL)
    out.seek(0)
    return Image(out, width=width * scale, height=height * scale, hAlign="LEFT")


def picture(row: Evidence) -> Shown:
    """The picture and notes of one evidence file; never raises for a file gone or bad."""
    shown = Shown()
    data = _read(row.stored_name)
    if data is None:
        preview = _read(row.thumb_name)
        flowable = _scaled(preview) if preview else None
        shown.notes.append(PREVIEW_ONLY if flowable else GONE)
        shown.flowable = flowable
        return shown
    if hashlib.sha256(data).hexdigest() != row.sha256:
        shown.notes.append(ALTERED)
    if row.content_type == "application/pdf":
        shown.notes.append(PDF_IN_ZIP)
        return shown
    shown.flowable = _scaled(data)
    if shown.flowable is None:
        shown.notes.append(UNREADABLE)
    return shown
