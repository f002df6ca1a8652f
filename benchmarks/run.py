"""mararch vs torch-model-archiver 0.12.0, side by side, on generated model files.

    pip install -e '.[test,bench]'
    python benchmarks/run.py            # full: 1 GiB f32, 1 GiB f16, 4.5 GiB f32, 2,000 small files
    python benchmarks/run.py --quick    # smoke run on small data (a minute)

Generates the data once (kept in --data-dir), runs each case --runs times per tool (the 4.5 GiB case
once: it is disk bound), reports medians, the speed-up over the reference, the ratio to `cp` of
the same data, peak RSS of the mararch process and output sizes. Both tools run in the same session
on the same files, so machine load hits both; other work on the machine still adds noise.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

GIB = 1 << 30
MIB = 1 << 20
SUFFIX = {"default": ".mar", "zip-store": ".mar", "tgz": ".tar.gz", "no-archive": ""}
#: Every run writes into its own folder, so both tools can use the same model name.
MODEL_NAME = "bench"
HANDLER = "def handle(data, context):\n    return data\n"


@dataclass
class Case:
    name: str
    serialized: Path
    formats: list[str]
    extra_files: Path | None = None
    runs: int | None = None  # None: --runs


@dataclass
class Timing:
    seconds: list[float] = field(default_factory=list)
    rss_kb: int = 0
    #: (user, system) CPU seconds of each run, in the order of `seconds`.
    cpu: list[tuple[float, float]] = field(default_factory=list)
    size: int = 0

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def median_cpu(self) -> tuple[float, float]:
        """User and system seconds of the median run (by wall time)."""
        ranked = sorted(zip(self.seconds, self.cpu))
        return ranked[(len(ranked) - 1) // 2][1]


def weights(path: Path, size: int, dtype: str, seed: int) -> None:
    """Normally distributed weights, as trained models hold, written in 64 MiB slices."""
    import numpy as np

    if path.exists() and path.stat().st_size == size:
        return
    rng = np.random.default_rng(seed)
    itemsize = np.dtype(dtype).itemsize
    tmp = path.with_suffix(".partial")
    with tmp.open("wb") as fh:
        left = size
        while left:
            n = min(left, 64 * MIB) // itemsize
            fh.write((rng.standard_normal(n, dtype=np.float32) * 0.02).astype(dtype).tobytes())
            left -= n * itemsize
    tmp.replace(path)


def small_files(root: Path, count: int, seed: int) -> None:
    """`count` files of 1-50 KB: a third JSON/text (compressible), the rest float weights."""
    import numpy as np

    if root.exists() and len(list(root.rglob("*.*"))) == count:
        return
    shutil.rmtree(root, ignore_errors=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        folder = root / f"part{i // 100:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        size = int(rng.integers(1000, 50_000))
        if i % 3 == 0:
            words = " ".join(
                f'"token_{int(x)}": {int(x) % 997}' for x in rng.integers(0, 5000, 4000)
            )
            (folder / f"vocab{i}.json").write_text(("{" + words + "}")[:size])
        else:
            data = (rng.standard_normal(size // 4, dtype=np.float32) * 0.02).tobytes()
            (folder / f"layer{i}.bin").write_bytes(data)


def warm(case: Case) -> None:
    """Read the case's inputs (not timed), so that every run starts with them in the page cache.

    This VM pages out memory untouched for 60 s (DAMON `pageout`), so without it a run that
    follows a long one (the reference's 45 s deflate) reads its input from disk: `cp` of 1 GiB
    went from 0.4 s to 3.9 s.
    """
    files = [case.serialized]
    if case.extra_files is not None:
        files += sorted(p for p in case.extra_files.rglob("*") if p.is_file())
    for path in files:
        with path.open("rb", buffering=0) as fh:
            while fh.read(8 * MIB):
                pass


def timed(argv: list[str], cwd: Path) -> tuple[float, int, tuple[float, float]]:
    """Wall seconds, peak RSS (KB) and (user, system) CPU seconds of one run; pending writes are
    flushed first (not timed).

    The peak RSS comes from GNU time: a child forked from this process would inherit this
    process's high-water mark (numpy arrays) in its own `ru_maxrss`.
    """
    subprocess.run(["sync"], check=True)
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        start = time.perf_counter()
        proc = subprocess.run(
            ["/usr/bin/time", "-f", "%M %U %S", "-o", rss.name, *argv],
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            check=False,
        )
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            sys.exit(f"{argv[0]} failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")
        peak, user, system = rss.read().strip().splitlines()[-1].split()
    return elapsed, int(peak), (float(user), float(system))


def output_size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


class Outputs:
    """A fresh folder for every run, removed later rather than just before the next run.

    ext4 skips inodes freed in the last minute when it allocates new ones, scanning past each:
    deleting 2,000 files and at once creating 2,000 made `cp -r` of the small-file set go from
    0.09 s to 1.8-2.2 s here (perf: `recently_deleted` in `__ext4_new_inode`). That is the
    benchmark measuring its own clean-up, for whichever tool ran next; many-file outputs are
    therefore kept until the end of the whole run.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.count = 0
        self.later: list[Path] = []

    def fresh(self) -> Path:
        self.count += 1
        path = self.root / f"out-{self.count}"
        path.mkdir()
        return path

    def done(self, paths: list[Path], many_files: bool) -> None:
        if many_files:
            self.later += paths
        else:
            for path in paths:
                remove(path)

    def finish(self) -> None:
        for path in self.later:
            remove(path)


def tool_argv(case: Case, variant: str, tool: str, work: Path, out: Path) -> list[str]:
    """`variant` is a format, optionally followed by mararch-only flags ("zip-store --no-digests"):
    the reference runs the bare format."""
    fmt, *ours = variant.split()
    bin_dir = Path(sys.executable).parent
    argv = [
        str(bin_dir / tool),
        "--model-name",
        MODEL_NAME,
        "-v",
        "1.0",
        "--serialized-file",
        str(case.serialized),
        "--handler",
        str(work / "handler.py"),
        "--export-path",
        str(out),
        "--archive-format",
        fmt,
    ]
    if tool == "mararch":
        argv.insert(1, "create")
        argv += ours
    if case.extra_files is not None:
        argv += ["--extra-files", str(case.extra_files)]
    return argv


TOOLS = ("torch-model-archiver", "mararch")


def run_case(case: Case, fmt: str, work: Path, runs: int, outputs: Outputs) -> dict[str, Timing]:
    """Both tools, run after run, alternating which goes first: a drift in the machine's speed
    (seen here: isal's throughput moved between 330 and 600 MB/s within minutes) then hits
    both alike instead of one tool's whole series."""
    timings = {tool: Timing() for tool in TOOLS}
    used = []
    for i in range(runs):
        for tool in TOOLS if i % 2 == 0 else TOOLS[::-1]:
            out = outputs.fresh()
            used.append(out)
            warm(case)
            seconds, rss, cpu = timed(tool_argv(case, fmt, tool, work, out), work)
            timing = timings[tool]
            timing.seconds.append(seconds)
            timing.cpu.append(cpu)
            timing.rss_kb = max(timing.rss_kb, rss)
            timing.size = output_size(out / (MODEL_NAME + SUFFIX[fmt.split(maxsplit=1)[0]]))
    outputs.done(used, case.extra_files is not None)
    return timings


def run_cp(case: Case, work: Path, runs: int, outputs: Outputs) -> Timing:
    """`cp` of the same inputs: the floor for formats that copy bytes (zip-store, no-archive)."""
    timing = Timing()
    used = []
    for _ in range(runs):
        target = outputs.fresh()
        used.append(target)
        argv = ["cp", "-r", str(case.serialized)]
        if case.extra_files is not None:
            argv.append(str(case.extra_files))
        warm(case)
        seconds, _, _ = timed([*argv, str(target)], work)
        timing.seconds.append(seconds)
    outputs.done(used, case.extra_files is not None)
    return timing


#: One SHA-256 pass over the given files, as mararch hashes (hashlib, 1 MiB reads).
SHA256_PASS = """
import hashlib, pathlib, sys
for root in sys.argv[1:]:
    root = pathlib.Path(root)
    for path in sorted([root] if root.is_file() else root.rglob("*")):
        if path.is_file():
            h = hashlib.sha256()
            with path.open("rb", buffering=0) as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
"""


def run_sha256(case: Case, work: Path, runs: int) -> Timing:
    """One SHA-256 pass over the same inputs: with digests on (the default), the copy formats
    cannot beat it, so their floor is the slower of this and `cp`."""
    timing = Timing()
    inputs = [str(case.serialized)] + ([str(case.extra_files)] if case.extra_files else [])
    for _ in range(runs):
        warm(case)
        seconds, _, _ = timed([sys.executable, "-c", SHA256_PASS, *inputs], work)
        timing.seconds.append(seconds)
    return timing


def compile_mararch() -> None:
    """Write mararch's bytecode, as `pip install` does for the reference: an editable install
    run with PYTHONDONTWRITEBYTECODE set would otherwise compile every module on every run."""
    import importlib.util

    spec = importlib.util.find_spec("mararch")
    if spec is None or spec.origin is None:
        sys.exit("mararch is not installed in this environment: pip install -e '.[test,bench]'")
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(Path(spec.origin).parent)], check=True
    )


def table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small data, one run: a smoke test")
    parser.add_argument("--runs", type=int, default=3, help="runs per case and tool (median)")
    parser.add_argument(
        "--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "mararch-bench"
    )
    parser.add_argument("--only", default="", help="comma-separated case names to run")
    parser.add_argument(
        "--formats", default="", help="comma-separated formats to run (e.g. zip-store,no-archive)"
    )
    args = parser.parse_args()

    scale = 16 if args.quick else 1
    runs = 1 if args.quick else args.runs
    data = args.data_dir / ("quick" if args.quick else "full")
    data.mkdir(parents=True, exist_ok=True)
    big = (GIB * 9 // 2) if not args.quick else 300 * MIB
    small_count = 2000 // scale * (2 if args.quick else 1)
    (data / "model.pt").write_bytes(b"\x80\x02}q\x00." * 100)
    #: Each input is generated only when a selected case needs it (--only).
    makers = {
        "f32.bin": lambda: weights(data / "f32.bin", GIB // scale, "float32", 1),
        "f16.bin": lambda: weights(data / "f16.bin", GIB // scale, "float16", 2),
        "f32-big.bin": lambda: weights(data / "f32-big.bin", big, "float32", 3),
        "model.pt": lambda: small_files(data / "small", small_count, 4),
    }

    all_formats = ["default", "zip-store", "tgz", "no-archive"]
    # The copy formats once more without the SHA-256 pass of MAR-INF/digests.json, which alone
    # takes longer than `cp` of the same bytes.
    copy_no_digests = ["zip-store --no-digests", "no-archive --no-digests"]
    big_label = "f32 4.5 GiB" if not args.quick else "f32 300 MiB"
    cases = [
        Case(
            "f32 1 GiB" if not args.quick else "f32 64 MiB",
            data / "f32.bin",
            all_formats + copy_no_digests,
        ),
        Case("f16 1 GiB" if not args.quick else "f16 64 MiB", data / "f16.bin", ["default"]),
        Case(big_label, data / "f32-big.bin", ["default"], runs=1),
        Case(f"{small_count} small files", data / "model.pt", all_formats, data / "small"),
    ]
    if args.only:
        wanted = {w.strip() for w in args.only.split(",")}
        cases = [c for c in cases if c.name in wanted or c.name.split()[0] in wanted]
    if args.formats:
        chosen = {f.strip() for f in args.formats.split(",")}
        for case in cases:
            case.formats = [f for f in case.formats if f.split()[0] in chosen]

    print(f"generating data in {data} ...", flush=True)
    for case in cases:
        makers[case.serialized.name]()
    compile_mararch()
    with tempfile.TemporaryDirectory(dir=data) as tmp:
        work = Path(tmp)
        (work / "handler.py").write_text(HANDLER)
        rows = [
            [
                "data",
                "format",
                "reference s",
                "mararch s",
                "speed-up",
                "cp s",
                "mararch / cp",
                "sha256 s",
                "mararch / max(cp, sha256)",
                "size vs reference",
                "mararch peak RSS",
                "mararch user / sys s",
            ]
        ]
        outputs = Outputs(work)
        for case in cases:
            n = case.runs or runs
            cp = run_cp(case, work, n, outputs)
            sha = run_sha256(case, work, n)
            floor = max(cp.median, sha.median)
            for fmt in case.formats:
                print(f"{case.name} {fmt} ...", flush=True)
                timings = run_case(case, fmt, work, n, outputs)
                ref, ours = timings["torch-model-archiver"], timings["mararch"]
                rows.append(
                    [
                        case.name,
                        fmt,
                        f"{ref.median:.2f}",
                        f"{ours.median:.2f}",
                        f"{ref.median / ours.median:.1f}x",
                        f"{cp.median:.2f}",
                        f"{ours.median / cp.median:.2f}",
                        f"{sha.median:.2f}",
                        f"{ours.median / floor:.2f}",
                        f"{ours.size / ref.size:.4f}",
                        f"{ours.rss_kb / 1024:.0f} MB",
                        "{:.2f} / {:.2f}".format(*ours.median_cpu),
                    ]
                )
                print(table(rows), flush=True)
        outputs.finish()
    print()
    print(f"runs per case: {runs} (median); cpus: {os.cpu_count()}; ", end="")
    print(f"python {sys.version.split()[0]}")
    print(table(rows))


if __name__ == "__main__":
    main()
