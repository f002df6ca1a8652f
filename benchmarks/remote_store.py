"""Remote stores: what `inspect` of a 1 GiB .mar over HTTP fetches (counted by nginx), and
`create` into an S3 bucket (moto's server on 127.0.0.1) against the same build to a local folder.

Both servers are the test tier's (tests/helpers_remote.py): nginx with its own config, moto's
standalone server. The weights are random bytes (stored, as real weights are), so the upload
moves the whole gigabyte. Figures are ratios against the local build, not absolute times.

    python benchmarks/remote_store.py [--size-mb 1024] [--runs 1]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from helpers_remote import moto_server, nginx_server


def mararch(*args: str, env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "mararch", *args],
        check=True,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="mararch-bench-remote-"))
    try:
        src = root / "src"
        src.mkdir()
        weights = src / "weights.pt"
        with weights.open("wb") as fh:
            for _ in range(args.size_mb):
                fh.write(os.urandom(1 << 20))
        handler = src / "handler.py"
        handler.write_text("def handle(data, context):\n    return data\n")
        build = ["create", "--model-name", "big", "-v", "1", "--handler", str(handler)]
        build += ["--serialized-file", str(weights), "--force"]
        with nginx_server(root / "nginx") as http, moto_server(root) as s3:
            s3.client().create_bucket(Bucket="bench")
            local, remote, upload = [], [], []
            for _ in range(args.runs):
                local.append(mararch(*build, "--export-path", str(http.docs)))
                remote.append(mararch(*build, "--export-path", "s3://bench/", env=s3.env()))
                # The peer: boto3 uploading the finished local archive (multipart, 10 threads).
                start = time.perf_counter()
                s3.client().upload_file(str(http.docs / "big.mar"), "bench", "peer.mar")
                upload.append(time.perf_counter() - start)
            mararch("inspect", f"{http.url}/big.mar", "--json")
            fetched = http.sent("/big.mar")
            size = (http.docs / "big.mar").stat().st_size
            print(f"archive: {size} bytes ({args.size_mb} MiB of random weights)")
            print(f"inspect over HTTP: nginx sent {fetched} bytes ({fetched / 1024:.1f} KiB)")
            print(
                f"create: local {min(local):.2f} s, to S3 (moto) {min(remote):.2f} s, "
                f"ratio {min(remote) / min(local):.2f}x"
            )
            print(
                f"peer: local build + boto3 upload_file {min(local) + min(upload):.2f} s "
                f"(upload alone {min(upload):.2f} s); mararch to S3 / peer "
                f"{min(remote) / (min(local) + min(upload)):.2f}x"
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
