"""CPU seconds for the worst evidence upload the limits allow, next to one bare Pillow job.

Each request is built to be small on the wire and costly to clean, within every limit
(``evidence.MAX_FILES_PER_CASE`` files, 8 MB each, ``evidence.MAX_REQUEST_PIXELS`` in all):
flat pictures (decompression-bomb shaped), and pictures of noise at the largest size that
is kept (the encoder's worst case). Each goes through ``evidence.stored_uploads``, as the
apply page does, and is timed with ``time.process_time``. A request over the limits (12
images of 40 megapixels, each a few KB) is timed to its refusal. The anchor, measured in
the same run: one image of the largest size allowed, decoded and re-encoded as PNG by
Pillow alone. The 1-minute load average is printed before and after.

BENCH_ROUNDS (default 3): each figure is the median of that many runs.
"""

from __future__ import annotations

import io
import os
import statistics
import tempfile
import time
from collections.abc import Callable

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))


def _png(im: object) -> bytes:
    out = io.BytesIO()
    im.save(out, "PNG")  # type: ignore[attr-defined]
    return out.getvalue()


def _requests() -> dict[str, list[bytes]]:
    """The worst allowed requests, by shape: name -> the files' bytes."""
    from PIL import Image

    from portal.services.uploads import evidence

    budget, count = evidence.MAX_REQUEST_PIXELS, evidence.MAX_FILES_PER_CASE
    side = evidence.MAX_IMAGE_SIDE
    kept = side * (side * 3 // 4)  # the largest picture kept as it is (4:3)
    each = budget // count
    w = int((each * 4 / 3) ** 0.5)
    big_w = int((budget * 4 / 3) ** 0.5)
    noisy = budget // kept
    rest = budget - noisy * kept
    noise = Image.effect_noise((side, side * 3 // 4), 100).convert("1")
    small_noise = Image.effect_noise((int((rest * 4 / 3) ** 0.5), int((rest * 3 / 4) ** 0.5)), 100)
    jpeg = io.BytesIO()
    Image.effect_noise((side, side * 3 // 4), 100).convert("RGB").save(jpeg, "WEBP", quality=1)
    return {
        f"{count} flat PNG of {each / 1e6:.1f} MP": [
            _png(Image.new("1", (w, each // w))) for _ in range(count)
        ],
        f"1 flat PNG of {budget / 1e6:.0f} MP": [_png(Image.new("1", (big_w, budget // big_w)))],
        f"{noisy + 1} two-colour noise PNG, {budget / 1e6:.0f} MP in all": [
            _png(noise) for _ in range(noisy)
        ]
        + [_png(small_noise.convert("1"))],
        f"{noisy} noise WebP at {kept / 1e6:.1f} MP": [jpeg.getvalue()] * noisy,
    }


def _cpu(fn: Callable[[], object]) -> float:
    started = time.process_time()
    fn()
    return time.process_time() - started


def _median(fn: Callable[[], object]) -> float:
    return statistics.median(_cpu(fn) for _ in range(ROUNDS))


def main() -> dict[str, float]:
    """Print the CPU seconds of each worst request, the refusal and the anchor."""
    from PIL import Image
    from werkzeug.datastructures import FileStorage

    from portal import create_app
    from portal.services.errors import DomainError
    from portal.services.uploads import evidence

    tmp = tempfile.mkdtemp(prefix="portal-bench-uploads-")
    app = create_app(
        {
            "SECRET_KEY": "bench",
            "DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3",
            "EVIDENCE_DIR": f"{tmp}/evidence",
        }
    )
    print(f"uploads: load average {os.getloadavg()[0]:.2f} at start, {ROUNDS} rounds (median)")
    results: dict[str, float] = {}
    with app.app_context():

        def handle(files: list[bytes]) -> Callable[[], object]:
            def run() -> None:
                uploads = [
                    FileStorage(io.BytesIO(data), f"f{i}.png") for i, data in enumerate(files)
                ]
                with evidence.stored_uploads(uploads) as stored:
                    evidence.discard(stored)

            return run

        for name, files in _requests().items():
            size = sum(len(d) for d in files)
            seconds = _median(handle(files))
            results[name] = seconds
            print(f"  {name:42s} {size / 1024:8.0f} KB  {seconds:6.3f} s CPU")
        bomb = Image.new("1", (7300, 5475))
        bombs = [_png(bomb)] * 12

        def refused() -> None:
            try:
                handle(bombs)()
            except DomainError:
                return
            raise AssertionError("12 images of 40 MP were accepted")

        results["refused: 12 x 40 MP"] = _median(refused)
        print(
            f"  {'refused: 12 PNG of 40 MP':42s} {len(bombs[0]) * 12 / 1024:8.0f} KB"
            f"  {results['refused: 12 x 40 MP']:6.3f} s CPU"
        )
        side = int((evidence.MAX_IMAGE_PIXELS * 4 / 3) ** 0.5)
        anchor_png = _png(Image.new("RGB", (side, evidence.MAX_IMAGE_PIXELS // side), "red"))

        def anchor() -> None:
            with Image.open(io.BytesIO(anchor_png)) as im:
                im.load()
                im.save(io.BytesIO(), "PNG")

        results["anchor"] = _median(anchor)
        print(
            f"  {'anchor: Pillow decode+PNG save, 1 image':42s}"
            f" {evidence.MAX_IMAGE_PIXELS / 1e6:5.0f} MP  {results['anchor']:6.3f} s CPU"
        )
    worst = max(v for k, v in results.items() if k not in ("anchor", "refused: 12 x 40 MP"))
    print(f"  worst allowed request: {worst:.3f} s CPU; load average {os.getloadavg()[0]:.2f}")
    return results


if __name__ == "__main__":
    main()
