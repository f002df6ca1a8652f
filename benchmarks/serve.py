"""Time to serve: build an archive, then register it in real TorchServe 0.12, for
torch-model-archiver and mararch on the same inputs.

    pip install -e '.[test,bench]'
    MARARCH_E2E_TORCHSERVE=/path/to/venv/bin/torchserve python benchmarks/serve.py
    python benchmarks/serve.py --size-mib 64 --runs 1     # smoke run

The server is the e2e tier's (tests/e2e/servers.py: private folder, 127.0.0.1, free ports). Each
archive goes into its model store and is registered synchronously with one worker, whose handler
reads the whole serialized file at load (what loading a model costs at least); registration
therefore measures TorchServe's unpacking of the archive plus that read. Runs alternate which
variant goes first, and the medians are printed: build, register, build + register, size, and the
ratio of each to torch-model-archiver's default. The CPU is shared with whatever else runs on the
machine: compare figures of one run with each other, not across runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from run import MIB, table, weights  # noqa: E402
from tests.e2e.servers import TORCHSERVE, Server, find_server, new_server_root  # noqa: E402

#: Reads the serialized file once at load (module-level `handle` is called with data=None then).
HANDLER = """\
import os

_loaded = None


def handle(data, context):
    global _loaded
    if _loaded is None:
        model_dir = context.system_properties["model_dir"]
        name = context.manifest["model"]["serializedFile"]
        total = 0
        with open(os.path.join(model_dir, name), "rb", buffering=0) as f:
            while chunk := f.read(16 << 20):
                total += len(chunk)
        _loaded = total
    if data is None:
        return None
    return [_loaded for _ in data]
"""


@dataclass(frozen=True)
class Variant:
    label: str
    tool: str
    flags: tuple[str, ...] = ()

    @property
    def suffix(self) -> str:
        return "" if "no-archive" in self.flags else ".mar"


REFERENCE = Variant("torch-model-archiver default", "torch-model-archiver")
VARIANTS = {
    "reference": REFERENCE,
    "default": Variant("mararch default (auto)", "mararch"),
    "deflate": Variant("mararch --compression deflate", "mararch", ("--compression", "deflate")),
    "store": Variant("mararch --compression store", "mararch", ("--compression", "store")),
    "no-archive": Variant("mararch no-archive", "mararch", ("--archive-format", "no-archive")),
}


@dataclass
class Case:
    name: str
    serialized: Path
    extra: Path | None = None


@dataclass
class Result:
    build: list[float] = field(default_factory=list)
    register: list[float] = field(default_factory=list)
    #: CPU seconds the server's processes spent in each registration.
    cpu: list[float] = field(default_factory=list)
    size: int = 0

    @property
    def total(self) -> list[float]:
        return [b + r for b, r in zip(self.build, self.register)]


def vocabulary(path: Path, size: int) -> None:
    """A tokenizer-like JSON vocabulary of about `size` bytes (the text-heavy model)."""
    import numpy as np

    if path.exists() and abs(path.stat().st_size - size) < MIB:
        return
    rng = np.random.default_rng(5)
    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
    tmp = path.with_suffix(".partial")
    with tmp.open("w") as fh:
        fh.write("{")
        written, i = 1, 0
        while written < size:
            parts = []
            for _ in range(10_000):
                word = letters[rng.integers(0, 26, int(rng.integers(2, 12)))].tobytes().decode()
                parts.append(f'"{"##" if i % 3 == 0 else ""}{word}": {i}')
                i += 1
            text = ", ".join(parts) + ", "
            fh.write(text)
            written += len(text)
        fh.write(f'"[UNK]": {i}}}\n')
    tmp.replace(path)


def bf16(path: Path, size: int) -> None:
    """bfloat16 weights: the top half of float32 normal values."""
    import numpy as np

    if path.exists() and path.stat().st_size == size:
        return
    rng = np.random.default_rng(6)
    tmp = path.with_suffix(".partial")
    with tmp.open("wb") as fh:
        left = size
        while left:
            n = min(left, 64 * MIB) // 2
            values = rng.standard_normal(n, dtype=np.float32) * 0.02
            fh.write((values.view(np.uint32) >> 16).astype(np.uint16).tobytes())
            left -= n * 2
    tmp.replace(path)


def build_argv(variant: Variant, case: Case, name: str, handler: Path, store: Path) -> list[str]:
    bin_dir = Path(sys.executable).parent
    argv = [str(bin_dir / variant.tool)]
    if variant.tool == "mararch":
        argv.append("create")
    argv += ["--model-name", name, "-v", "1.0", "--serialized-file", str(case.serialized)]
    argv += ["--handler", str(handler), "--export-path", str(store), *variant.flags]
    if case.extra is not None:
        argv += ["--extra-files", str(case.extra)]
    return argv


def warm(path: Path) -> None:
    """Read the inputs first (not timed): every build starts with them in the page cache."""
    with path.open("rb", buffering=0) as fh:
        while fh.read(8 * MIB):
            pass


def group_cpu(server: Server) -> float:
    """CPU seconds (user + system) used so far by the server's processes (Java frontend, Python
    workers): unlike wall time, hardly moved by other work on a shared machine."""
    assert server.process is not None
    group = os.getpgid(server.process.pid)
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # Fields after the name: state ppid pgrp ... utime (12th) stime (13th).
        if int(fields[2]) == group:
            total += int(fields[11]) + int(fields[12])
    return total / tick


def one_run(
    server: Server, variant: Variant, case: Case, name: str, handler: Path
) -> tuple[float, float, float, int]:
    warm(case.serialized)
    if case.extra is not None:
        warm(case.extra)
    store = server.model_store
    subprocess.run(["sync"], check=True)
    start = time.perf_counter()
    proc = subprocess.run(
        build_argv(variant, case, name, handler, store), capture_output=True, check=False
    )
    built = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{variant.label} failed: {proc.stderr.decode()[-2000:]}")
    output = store / (name + variant.suffix)
    size = output.stat().st_size if output.is_file() else 0
    subprocess.run(["sync"], check=True)
    cpu = group_cpu(server)
    start = time.perf_counter()
    answer = server.register(output.name, name)
    registered = time.perf_counter() - start
    cpu = group_cpu(server) - cpu
    if answer.status != 200:
        sys.exit(f"registering {output.name} failed: {answer.text}\n{server.log_tail()}")
    server.unregister(name)
    if output.is_dir():
        shutil.rmtree(output)
    else:
        output.unlink()
    # TorchServe keeps every unpacked archive in its temporary folder: not our disk to fill.
    shutil.rmtree(server.tmp_dir / "models", ignore_errors=True)
    return built, registered, cpu, size


def warm_up(server: Server, handler: Path, root: Path) -> None:
    """One registration before any timed one: the first pays for the JVM's warm-up."""
    tiny = root / "warm-up.bin"
    tiny.write_bytes(b"\0" * 1024)
    one_run(server, VARIANTS["default"], Case("warm-up", tiny), "warm_up", handler)


def run_case(
    server: Server, case: Case, variants: list[Variant], runs: int, handler: Path
) -> dict[str, Result]:
    results = {v.label: Result() for v in variants}
    for i in range(runs):
        order = variants if i % 2 == 0 else variants[::-1]
        for j, variant in enumerate(order):
            name = f"{case.name}_{i}_{j}".replace(" ", "_").replace(".", "_")
            built, registered, cpu, size = one_run(server, variant, case, name, handler)
            result = results[variant.label]
            result.build.append(built)
            result.register.append(registered)
            result.cpu.append(cpu)
            result.size = size
            print(
                f"  {variant.label}: build {built:.2f} s, register {registered:.2f} s "
                f"(server CPU {cpu:.2f} s)",
                flush=True,
            )
    return results


def rows_for(case: Case, results: dict[str, Result]) -> list[list[str]]:
    ref = results.get(REFERENCE.label)
    rows = []
    for label, r in results.items():
        build, register, total, cpu = (
            statistics.median(x) for x in (r.build, r.register, r.total, r.cpu)
        )
        speedup = size_ratio = ""
        if ref is not None:
            speedup = f"{statistics.median(ref.total) / total:.1f}x"
            size_ratio = f"{r.size / ref.size:.3f}" if r.size and ref.size else "(folder)"
        rows.append(
            [
                case.name,
                label,
                f"{build:.2f}",
                f"{register:.2f}",
                f"{cpu:.2f}",
                f"{total:.2f}",
                speedup,
                f"{r.size / MIB:.1f}" if r.size else "(folder)",
                size_ratio,
            ]
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=512, help="size of the weights")
    parser.add_argument("--runs", type=int, default=3, help="alternating runs (median)")
    parser.add_argument(
        "--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "mararch-bench"
    )
    parser.add_argument(
        "--only", default="f32,text", help="cases, comma-separated: f32, text, bf16, f16"
    )
    parser.add_argument(
        "--variants",
        default="reference,default,no-archive",
        help=f"comma-separated, of: {', '.join(VARIANTS)}",
    )
    args = parser.parse_args()
    data = args.data_dir / "serve"
    data.mkdir(parents=True, exist_ok=True)
    size = args.size_mib * MIB
    print(f"generating data in {data} ...", flush=True)
    makers = {
        "f32": lambda p: weights(p, size, "float32", 1),
        "f16": lambda p: weights(p, size, "float16", 2),
        "bf16": lambda p: bf16(p, size),
    }
    cases = []
    for name in args.only.split(","):
        if name == "text":
            small = data / "text-weights.bin"
            weights(small, 4 * MIB, "float32", 7)
            folder = data / "text-extra"
            folder.mkdir(exist_ok=True)
            vocabulary(folder / "vocab.json", 50 * 1000 * 1000)
            cases.append(Case("text 50 MB vocab", small, folder / "vocab.json"))
        else:
            path = data / f"{name}-{args.size_mib}.bin"
            makers[name](path)
            cases.append(Case(f"{name} {args.size_mib} MiB", path))
    variants = [VARIANTS[v] for v in args.variants.split(",")]

    os.environ.setdefault("MARARCH_E2E_REQUIRED", "1")
    server = Server(TORCHSERVE, find_server(TORCHSERVE), new_server_root())
    handler = server.root / "serve_handler.py"
    rows = [
        [
            "data",
            "archive",
            "build s",
            "register s",
            "server CPU s",
            "build + register s",
            "vs reference",
            "MiB",
            "size vs reference",
        ]
    ]
    try:
        server.start()
        handler.write_text(HANDLER)
        warm_up(server, handler, server.root)
        for case in cases:
            print(f"{case.name} ...", flush=True)
            results = run_case(server, case, variants, args.runs, handler)
            rows += rows_for(case, results)
            print(table(rows), flush=True)
            raw = {k: [v.build, v.register, v.cpu, v.size] for k, v in results.items()}
            print(json.dumps({case.name: raw}), flush=True)
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)
    print()
    print(f"runs: {args.runs} (median, alternating order); cpus: {os.cpu_count()} (shared)")
    print(table(rows))


if __name__ == "__main__":
    main()
