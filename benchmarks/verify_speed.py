"""How fast `mararch verify` streams an archive, against `zipfile.ZipFile.testzip()`.

Builds (in a scratch folder) two .mar archives of the same inputs, one with MAR-INF/digests.json
and one without: random weights (stored: they do not compress) and text (deflated). Then times,
best of --runs with a warm page cache: `testzip()` (CRC of every member), `mararch.verify` without
digests (CRC and length of every member, plus every other check), and with digests (SHA-256 too).

    python benchmarks/verify_speed.py [--mib 512] [--runs 3] [--dir /tmp/verify-bench]
"""

from __future__ import annotations

import argparse
import os
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import mararch


def build(folder: Path, mib: int) -> tuple[Path, Path]:
    src = folder / "src"
    src.mkdir(parents=True, exist_ok=True)
    weights = src / "weights.pt"
    if not weights.exists():
        with weights.open("wb") as fh:
            for _ in range(mib * 3 // 4):
                fh.write(os.urandom(1 << 20))
        line = b"".join(b"token %d of the vocabulary\n" % i for i in range(40_000))
        with (src / "vocab.txt").open("wb") as fh:
            while fh.tell() < (mib // 4) << 20:
                fh.write(line)
        (src / "handler.py").write_text("def handle(data, context):\n    return data\n")
    made = []
    for name, digests in (("with", True), ("without", False)):
        mar = folder / name / "m.mar"
        if not mar.exists():
            mararch.create(
                model_name="m",
                version="1.0",
                handler=str(src / "handler.py"),
                serialized_file=weights,
                extra_files=str(src / "vocab.txt"),
                export_path=folder / name,
                digests=digests,
            )
        made.append(mar)
    return made[0], made[1]


def testzip(path: Path) -> None:
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None


def verify(path: Path) -> None:
    assert mararch.verify(path).passed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=512)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/verify-bench"))
    args = parser.parse_args()
    with_digests, without = build(args.dir, args.mib)
    size = sum(i.file_size for i in zipfile.ZipFile(without).infolist())
    testzip(without)  # warm the page cache
    jobs: dict[str, Callable[[], object]] = {
        "zipfile testzip()": lambda: testzip(without),
        "mararch verify, no digests": lambda: verify(without),
        "mararch verify, with digests": lambda: verify(with_digests),
    }
    # Interleaved rounds, best of each: other processes on the machine slow every job alike.
    wall: dict[str, float] = dict.fromkeys(jobs, float("inf"))
    cpu: dict[str, float] = dict.fromkeys(jobs, float("inf"))
    for _ in range(args.runs):
        for label, func in jobs.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            func()
            wall[label] = min(wall[label], time.perf_counter() - start)
            cpu[label] = min(cpu[label], time.process_time() - start_cpu)
    mib = size / (1 << 20)
    for label in jobs:
        print(
            f"{label:30s} wall {wall[label]:6.3f} s ({mib / wall[label]:5.0f} MiB/s)  "
            f"cpu {cpu[label]:6.3f} s ({mib / cpu[label]:5.0f} MiB/s)"
        )


if __name__ == "__main__":
    main()
