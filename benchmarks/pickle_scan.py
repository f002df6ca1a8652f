"""What scanning the weights' pickles adds to `mararch verify`, on a 1 GiB state_dict archive.

Builds (in a scratch folder) a torch-zip state_dict of --mib MiB (laid out as torch.save writes
it: data.pkl first, then one stored record per tensor, data descriptors, zero sizes in the local
headers; made without torch, tensors of random bytes), packs it with `mararch create` twice, the
weights stored (the nested zip is read through its central directory with seeks) and deflated
(followed record by record as the bytes stream past), and times `mararch.verify` on each, best of
--runs with a warm page cache, with the scan and with it switched off. Prints the difference
and the ratio, in CPU seconds of this process (the machine is shared: wall time mostly measures
the neighbours).

    python benchmarks/pickle_scan.py [--mib 1024] [--runs 3] [--dir /tmp/pickle-scan-bench]
"""

from __future__ import annotations

import argparse
import io
import os
import struct
import sys
import time
import zipfile
from pathlib import Path

import mararch
from mararch import checks

TENSOR_MIB = 4


class _Unseekable(io.RawIOBase):
    """zipfile writes data descriptors to an unseekable file, as torch's writer does."""

    def __init__(self, fh: io.BufferedWriter) -> None:
        self.fh = fh

    def writable(self) -> bool:
        return True

    def write(self, b: bytes) -> int:  # type: ignore[override]
        return self.fh.write(b)


def data_pkl(tensors: int) -> bytes:
    out = io.BytesIO()
    out.write(b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01(")
    numel = (TENSOR_MIB << 20) // 4
    for i in range(tensors):
        key = f"layers.{i}.weight".encode()
        out.write(b"X" + struct.pack("<I", len(key)) + key)
        out.write(b"ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storage")
        out.write(b"ctorch\nFloatStorage\nX" + struct.pack("<I", len(str(i))) + str(i).encode())
        out.write(b"X\x03\x00\x00\x00cpuJ" + struct.pack("<i", numel) + b"tQK\x00J")
        out.write(struct.pack("<i", numel) + b"\x85K\x01\x85\x89ccollections\nOrderedDict\n)RtR")
    out.write(b"u.")
    return out.getvalue()


def state_dict(path: Path, mib: int) -> None:
    tensors = mib // TENSOR_MIB
    with path.open("wb") as fh, zipfile.ZipFile(_Unseekable(fh), "w") as zf:  # type: ignore[arg-type]
        for name, data in [("sd/data.pkl", data_pkl(tensors)), ("sd/byteorder", b"little")]:
            with zf.open(zipfile.ZipInfo(name), "w") as out:
                out.write(data)
        for i in range(tensors):
            with zf.open(zipfile.ZipInfo(f"sd/data/{i}"), "w") as out:
                out.write(os.urandom(TENSOR_MIB << 20))
        with zf.open(zipfile.ZipInfo("sd/version"), "w") as out:
            out.write(b"3\n")


def build(folder: Path, mib: int) -> dict[str, Path]:
    src = folder / "src"
    src.mkdir(parents=True, exist_ok=True)
    weights = src / "model.pt"
    if not weights.exists():
        state_dict(weights, mib)
        (src / "handler.py").write_text("def handle(data, context):\n    return data\n")
    made = {}
    for compression in ("store", "deflate"):
        mar = folder / compression / "m.mar"
        if not mar.exists():
            mararch.create(
                model_name="m",
                version="1.0",
                handler=str(src / "handler.py"),
                serialized_file=weights,
                export_path=folder / compression,
                compression=compression,
            )
        made[compression] = mar
    return made


def best(path: Path, runs: int, scan: bool) -> float:
    original = checks.scannable
    if not scan:
        checks.scannable = lambda name: False  # type: ignore[assignment]
    try:
        times = []
        for _ in range(runs):
            start = time.process_time()
            report = mararch.verify(path)
            times.append(time.process_time() - start)
            assert report.passed, report.to_json()
    finally:
        checks.scannable = original  # type: ignore[assignment]
    return min(times)


def scan_alone(weights: Path, runs: int) -> tuple[float, float, float]:
    """Best times of: reading the weights file in 1 MiB chunks; the same with the stream scan
    riding on the chunks (a deflated member, a tar.gz); the seeking scan (a stored member)."""
    from mararch.pickles import stream_chunks
    from mararch.weights import scan_member

    size = weights.stat().st_size

    def once(scan: bool, window: bool) -> float:
        start = time.process_time()
        with weights.open("rb") as fh:
            chunks = stream_chunks(fh)
            if scan:
                opener = (lambda: weights.open("rb")) if window else (lambda: None)
                info = scan_member("model.pt", size, chunks, opener)
                assert info is not None and not info.problems
            for _ in chunks:
                pass
        return time.process_time() - start

    return tuple(  # type: ignore[return-value]
        min(once(scan, window) for _ in range(runs))
        for scan, window in ((False, False), (True, False), (True, True))
    )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/pickle-scan-bench"))
    args = parser.parse_args(argv)
    made = build(args.dir, args.mib)
    read, streamed, seeking = scan_alone(args.dir / "src" / "model.pt", args.runs)
    print(
        f"scan alone: reading {read:.2f} s; with the stream scan +{streamed - read:.3f} s, "
        f"with the seeking scan +{seeking - read:.3f} s"
    )
    for compression, mar in made.items():
        without = best(mar, args.runs, scan=False)
        with_scan = best(mar, args.runs, scan=True)
        print(
            f"{compression:8} verify {without:6.2f} s without the scan, {with_scan:6.2f} s "
            f"with it: +{with_scan - without:5.2f} s ({with_scan / without:.3f}x)"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
