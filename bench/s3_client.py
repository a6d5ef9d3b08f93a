"""What object storage costs a deployment: the ``s3`` extra's client (minio) next to boto3.

Install size: each client installed alone with pip into an empty target folder (``pip install
--target``), ``du`` of what it brings, and which of those distributions the production
install already has (so only the rest is new). Memory: in a fresh interpreter, the portal's
app made as a worker makes it (``create_app`` in an app context), its RSS read, then the S3
client made and one URL presigned (no network), RSS read again; the same with boto3's S3
client in another fresh interpreter. The anchor is the worker without any S3 client.
Needs the package index (pip downloads what its cache lacks).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.install_size import production_closure

CLIENTS = {"minio": "minio>=7.2,<8", "boto3": "boto3"}

_PROBE = r"""
import json, os, sys, tempfile
from datetime import timedelta

def rss():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
tmp = tempfile.mkdtemp()
from portal import create_app
app = create_app({"TESTING": True, "SECRET_KEY": "x" * 40,
                  "DATABASE_URL": f"sqlite:///{tmp}/p.sqlite3", "REDIS_URL": "redis://127.0.0.1:1/0",
                  "EVIDENCE_DIR": tmp, "EVIDENCE_STORAGE": "s3",
                  "EVIDENCE_S3_ENDPOINT": "http://127.0.0.1:9", "EVIDENCE_S3_BUCKET": "evidence",
                  "EVIDENCE_S3_ACCESS_KEY": "k", "EVIDENCE_S3_SECRET_KEY": "s"})
ctx = app.app_context(); ctx.push()
import gc; gc.collect()
before = rss()
mods = len(sys.modules)
which = sys.argv[1]
if which == "minio":
    from portal.services.uploads import storage
    store = storage.current()
    url = store.signed_url("0" * 32 + ".png", timedelta(seconds=60), "a.png", "image/png", True)
else:
    sys.path.append(sys.argv[2])
    import boto3
    client = boto3.client("s3", endpoint_url="http://127.0.0.1:9", aws_access_key_id="k",
                          aws_secret_access_key="s", region_name="us-east-1")
    url = client.generate_presigned_url("get_object", Params={"Bucket": "evidence", "Key": "a"},
                                        ExpiresIn=60)
assert url
gc.collect()
print(json.dumps({"before": before, "after": rss(), "modules": len(sys.modules) - mods}))
"""


def _du_mb(path: Path) -> float:
    total = sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
    return total / 1e6


def _install(spec: str, target: Path) -> dict[str, float]:
    """Install ``spec`` alone into ``target``; MB per distribution."""
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--target", str(target), spec],
        check=True,
    )
    sizes: dict[str, float] = {}
    for info in target.glob("*.dist-info"):
        name = info.name.split("-")[0].lower().replace("_", "-")
        files = [line.split(",")[0] for line in (info / "RECORD").read_text().splitlines() if line]
        sizes[name] = (
            sum(
                (target / f).stat().st_size
                for f in files
                if (target / f).is_file() and ".." not in Path(f).parts
            )
            / 1e6
        )
    return sizes


def main() -> int:
    have = production_closure()
    print("== install: each client alone (pip install --target), MB per distribution")
    with tempfile.TemporaryDirectory() as tmp:
        targets = {}
        for name, spec in CLIENTS.items():
            target = Path(tmp) / name
            sizes = _install(spec, target)
            targets[name] = target
            new = {d: mb for d, mb in sizes.items() if d not in have}
            print(
                f"{name}: {sum(sizes.values()):.1f} MB in all, {sum(new.values()):.1f} MB new to"
                f" the production install ({', '.join(f'{d} {mb:.1f}' for d, mb in sorted(new.items(), key=lambda x: -x[1]))})"
            )
        print(
            "== memory: a worker's RSS before and after its S3 client is made (fresh interpreter)"
        )
        results = {}
        for name in CLIENTS:
            out = subprocess.run(
                [sys.executable, "-c", _PROBE, name, str(targets[name])],
                check=True,
                capture_output=True,
                text=True,
                env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
            ).stdout
            results[name] = json.loads(out.strip().splitlines()[-1])
            r = results[name]
            print(
                f"{name}: worker {r['before']:.1f} MiB -> {r['after']:.1f} MiB"
                f" (+{r['after'] - r['before']:.1f} MiB, {r['modules']} modules)"
            )
    m, b = results["minio"], results["boto3"]
    print(
        f"ratio: the worker with minio is {m['after'] / m['before']:.3f}x the worker without;"
        f" boto3 adds {(b['after'] - b['before']) / max(m['after'] - m['before'], 0.1):.1f}x"
        " what minio adds"
    )
    print(f"load average: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
