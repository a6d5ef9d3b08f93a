"""The perceptual hash of an evidence image (pHash), computed with Pillow alone.

Same algorithm, bits and bit order as ``imagehash.phash`` (which the portal used before, and
whose hashes are stored in ``evidence.phash``): the picture in 32x32 grey levels (Pillow's
Lanczos resize), its 2-D DCT-II (unnormalised, as ``scipy.fftpack.dct`` along rows then
columns), the 8x8 lowest frequencies compared with their median, row by row, first bit most
significant, as 16 hex digits. Only the DCT is done here, by its definition (64 of the 1,024
coefficients are needed). Coefficients are rounded to 1e-6 before the comparison so that the
ones that are exactly zero in theory (flat or symmetric pictures) are zero here too, as the
FFT's are; where two coefficients tie only within floating-point rounding, a bit may differ
from imagehash's.
"""

from __future__ import annotations

import math

from PIL import Image

SIDE = 32  # the picture is shrunk to SIDE x SIDE grey levels
BITS_SIDE = 8  # the BITS_SIDE x BITS_SIDE lowest frequencies give the bits
_DIGITS = 6  # coefficients are rounded to this many decimals (rounding noise is far below)
# DCT-II basis: _COS[k][n] = cos(pi * k * (2n + 1) / (2 * SIDE)), lowest BITS_SIDE frequencies
_COS = [
    [math.cos(math.pi * k * (2 * n + 1) / (2 * SIDE)) for n in range(SIDE)]
    for k in range(BITS_SIDE)
]


def phash(image: Image.Image) -> str:
    """The 64-bit perceptual hash of ``image`` as 16 hex digits (``str(imagehash.phash(im))``)."""
    grey = image.convert("L").resize((SIDE, SIDE), Image.Resampling.LANCZOS)
    data = grey.tobytes()
    rows = [data[y * SIDE : (y + 1) * SIDE] for y in range(SIDE)]
    # along the columns first (scipy's axis 0): low[k][x] for the BITS_SIDE lowest k
    low = [
        [2.0 * sum(rows[y][x] * basis[y] for y in range(SIDE)) for x in range(SIDE)]
        for basis in _COS
    ]
    coeffs = [
        round(2.0 * sum(a * b for a, b in zip(line, basis, strict=True)), _DIGITS)
        for line in low
        for basis in _COS
    ]
    ordered = sorted(coeffs)
    middle = len(ordered) // 2
    median = (ordered[middle - 1] + ordered[middle]) / 2
    value = 0
    for c in coeffs:
        value = (value << 1) | (c > median)
    return f"{value:0{len(coeffs) // 4}x}"
