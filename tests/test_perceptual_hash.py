"""The perceptual hash of evidence images, computed with Pillow alone, gives the same hex
strings as ``imagehash.phash`` did (the hashes already stored must still match new uploads).

Every expected value below was computed with ImageHash 4.3.2 (numpy 2.4, scipy 1.17) on
Pillow 13.0 before imagehash was dropped; a Pillow whose Lanczos resize changes would change
both. The flat, symmetric and transparent pictures are the cases where an exact DCT gives
coefficients that are zero or tied in theory and rounding decides the bit.
"""

from __future__ import annotations

import io
import random

import pytest
from PIL import Image, ImageDraw, ImageFilter

from portal.services.errors import DomainError
from portal.services.uploads import evidence_images
from portal.services.uploads.perceptual_hash import phash
from tests.images import image_bytes


def _drawn(seed: int, size: tuple[int, int], blur: int = 0) -> Image.Image:
    r = random.Random(seed)
    w, h = size
    im = Image.new("RGB", size, (r.randrange(256), r.randrange(256), r.randrange(256)))
    d = ImageDraw.Draw(im)
    for _ in range(12):
        x0, x1 = sorted(r.sample(range(w), 2))
        y0, y1 = sorted(r.sample(range(h), 2))
        fill = (r.randrange(256), r.randrange(256), r.randrange(256))
        (d.rectangle if r.random() < 0.5 else d.ellipse)([x0, y0, x1, y1], fill=fill)
    return im.filter(ImageFilter.GaussianBlur(blur)) if blur else im


def _square_in_square() -> Image.Image:
    im = Image.new("L", (64, 64), 90)
    ImageDraw.Draw(im).rectangle([20, 20, 43, 43], fill=200)
    return im


def _half_transparent() -> Image.Image:
    im = Image.new("RGBA", (100, 80), (0, 0, 0, 0))
    ImageDraw.Draw(im).rectangle([30, 20, 99, 79], fill=(200, 10, 10, 128))
    return im


def _noise(seed: int, mode: str, size: tuple[int, int]) -> Image.Image:
    n = size[0] * size[1] * len(mode)
    return Image.frombytes(mode, size, random.Random(seed).randbytes(n))


def _upload(seed: int, size: tuple[int, int] = (64, 48)) -> Image.Image:
    return Image.open(io.BytesIO(image_bytes(size=size, seed=seed)))


KNOWN = [
    ("black", lambda: Image.new("L", (40, 30), 0), "0000000000000000"),
    ("grey", lambda: Image.new("L", (40, 30), 128), "8000000000000000"),
    ("flat colour", lambda: Image.new("RGB", (64, 64), (200, 30, 30)), "8000000000000000"),
    (
        "gradient",
        lambda: Image.frombytes("L", (64, 64), bytes(x * 4 for _ in range(64) for x in range(64))),
        "8000000000000000",
    ),
    ("square in square", _square_in_square, "8a0020008a008a00"),
    ("half transparent", _half_transparent, "8e717171718e8e8e"),
    ("upload seed 0", lambda: _upload(0), "f4a1f0594cfe5d01"),
    ("upload seed 1", lambda: _upload(1), "dbf05b0eab0140fe"),
    ("upload seed 2", lambda: _upload(2), "dcfb0c0720fef501"),
    ("upload seed 3", lambda: _upload(3), "ce1e0ee0fea30a5c"),
    ("upload 640x480", lambda: _upload(5, (640, 480)), "fb555500aa2ad5d5"),
    ("drawn 0", lambda: _drawn(0, (320, 200)), "b75ccaa494e3944b"),
    ("drawn 1", lambda: _drawn(1, (320, 200)), "d2692b74b492c99b"),
    ("drawn 2", lambda: _drawn(2, (320, 200)), "9d6a66b151cd6a85"),
    ("drawn blurred", lambda: _drawn(9, (500, 700), blur=6), "bc7cd3c38424c37a"),
    ("noise", lambda: _noise(1, "RGB", (50, 40)), "962fe987e9b04866"),
    ("one pixel", lambda: Image.new("RGB", (1, 1), (10, 200, 30)), "8000000000000000"),
    ("tall strip", lambda: _noise(4, "RGB", (1, 3000)), "8000000000008000"),
    ("wide strip", lambda: _noise(5, "L", (3000, 2)), "ac0b000900090038"),
    ("palette", lambda: _noise(6, "L", (60, 60)).convert("P"), "f6bf1cb41132a2ca"),
]


@pytest.mark.parametrize(
    ("make", "expected"), [(m, e) for _, m, e in KNOWN], ids=[n for n, *_ in KNOWN]
)
def test_same_hash_as_imagehash(make, expected):
    assert phash(make()) == expected


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (image_bytes("JPEG", (1200, 900), seed=5), "eb07010f031fffe0"),
        (image_bytes("PNG", (3000, 2000), seed=3), "fe3e01c1fe3400fa"),  # shrunk to 2560 first
    ],
    ids=["jpeg", "png larger than kept"],
)
def test_cleaned_upload_carries_the_imagehash_value(data, expected):
    assert evidence_images.clean(data, "shot").phash == expected


def test_hash_is_16_hex_digits_and_input_is_untouched():
    im = _drawn(3, (200, 100))
    before = im.tobytes()
    value = phash(im)
    assert len(value) == 16 and int(value, 16) >= 0
    assert im.tobytes() == before and im.size == (200, 100)


def test_undecodable_image_is_refused_before_hashing():
    with pytest.raises(DomainError) as err:
        evidence_images.clean(image_bytes("PNG", (64, 48))[:60], "cut.png")
    assert err.value.rule == "unreadable"
