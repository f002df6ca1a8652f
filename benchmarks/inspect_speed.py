"""How long `mararch inspect` takes on a ~5 GB .mar.

Builds (once, cached in benchmarks/data/) a zip-store .mar around a 5 GB sparse weights file with
`mararch.create`, then times listing it: in-process (open_archive + summarize) and the whole CLI
(`mararch inspect --json`, Python start-up included). Listing reads the central directory only,
so neither should depend on the archive's size.

    python benchmarks/inspect_speed.py [--size-gb 5] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import mararch
from mararch.reader import open_archive
from mararch.summary import summarize

DATA = Path(__file__).parent / "data"


def build(size: int) -> Path:
    DATA.mkdir(exist_ok=True)
    mar = DATA / f"big{size}.mar"
    if mar.exists():
        return mar
    src = DATA / "src"
    src.mkdir(exist_ok=True)
    weights = src / "weights.pt"
    with weights.open("wb") as fh:
        fh.truncate(size)  # sparse: costs no disk, reads as zeros
    (src / "handler.py").write_text("def handle(data, context):\n    return data\n")
    start = time.perf_counter()
    made = mararch.create(
        model_name=mar.stem,
        version="1.0",
        handler=str(src / "handler.py"),
        serialized_file=weights,
        archive_format="zip-store",
        export_path=DATA,
    )
    print(f"built {made} in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    weights.unlink()
    return made


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-gb", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    mar = build(int(args.size_gb * 10**9))
    in_process = []
    for _ in range(args.runs):
        start = time.perf_counter()
        with open_archive(mar) as view:
            summary = summarize(view)
        in_process.append(time.perf_counter() - start)
    cli = []
    for _ in range(args.runs):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "mararch", "inspect", "--json", str(mar)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        cli.append(time.perf_counter() - start)
    print(
        f"archive: {mar.name}, {os.path.getsize(mar) / 1e9:.2f} GB on disk, "
        f"{len(summary.members)} members, {summary.size / 1e9:.2f} GB declared"
    )
    print(
        f"open_archive + summarize: median {statistics.median(in_process) * 1000:.2f} ms "
        f"(best {min(in_process) * 1000:.2f} ms, {args.runs} runs)"
    )
    print(
        f"mararch inspect --json (new process): median {statistics.median(cli) * 1000:.0f} ms "
        f"(best {min(cli) * 1000:.0f} ms, {args.runs} runs)"
    )


if __name__ == "__main__":
    main()
