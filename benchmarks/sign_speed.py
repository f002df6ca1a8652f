"""How long `mararch sign` takes on a 1 GiB archive built without --sign-key, against one
`sha256sum` pass over the same file (the peer: signing must not cost more than hashing once).

Builds (once, cached in benchmarks/data/) a .mar around 1 GiB of random float32-like weights
(random bytes do not deflate, so `auto` stores them, as it does real float32 weights), then times
`sha256sum ARCHIVE` (and `openssl dgst -sha256`, which uses the CPU's SHA instructions where
coreutils may not) and `mararch sign ARCHIVE` (the CLI, Python start-up included), best of
--runs each. Also reports `create --sign-key` against a plain `create`.

    python benchmarks/sign_speed.py [--size-mib 1024] [--runs 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

DATA = Path(__file__).parent / "data"
MARARCH = [sys.executable, "-m", "mararch"]


def inputs(size: int) -> tuple[Path, Path, Path]:
    src = DATA / "sign-src"
    src.mkdir(parents=True, exist_ok=True)
    weights = src / "weights.pt"
    if not weights.exists() or weights.stat().st_size != size:
        with weights.open("wb") as fh:
            left = size
            while left:
                step = min(left, 16 << 20)
                fh.write(os.urandom(step))
                left -= step
    handler = src / "handler.py"
    handler.write_text("def handle(data, context):\n    return data\n")
    key = src / "key.pem"
    if not key.exists():
        private = ec.generate_private_key(ec.SECP256R1())
        key.write_bytes(
            private.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return weights, handler, key


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def best(argv: list[str], runs: int) -> float:
    return min(timed(argv) for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    weights, handler, key = inputs(args.size_mib << 20)
    create = [
        *MARARCH,
        "create",
        "--model-name",
        "signbench",
        "-v",
        "1.0",
        "--handler",
        str(handler),
        "--serialized-file",
        str(weights),
        "--export-path",
        str(DATA),
        "--force",
    ]
    plain_build = best(create, args.runs)
    mar = DATA / "signbench.mar"
    sha = best(["sha256sum", str(mar)], args.runs)
    openssl = best(["openssl", "dgst", "-sha256", str(mar)], args.runs)
    sign = best([*MARARCH, "sign", str(mar), "--private-key", str(key)], args.runs)
    signed_build = best([*create, "--sign-key", str(key)], args.runs)
    size = mar.stat().st_size / (1 << 30)
    print(f"archive: {size:.2f} GiB, best of {args.runs}")
    print(f"sha256sum ARCHIVE            {sha:6.2f} s")
    print(f"openssl dgst -sha256 ARCHIVE {openssl:6.2f} s")
    print(
        f"mararch sign ARCHIVE         {sign:6.2f} s  ({sign / sha:.2f}x sha256sum, "
        f"{sign / openssl:.2f}x openssl)"
    )
    print(f"mararch create               {plain_build:6.2f} s")
    print(
        f"mararch create --sign-key    {signed_build:6.2f} s  "
        f"(+{signed_build - plain_build:.2f} s over create)"
    )


if __name__ == "__main__":
    main()
