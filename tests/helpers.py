"""Helpers shared by the test modules: model inputs built in tmp_path, a CLI runner with fixed
output, argument lists, and readers of mararch's outputs. Test modules import from here, never
from each other (conftest.py only holds fixtures)."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import socket
import sys
import tarfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import pytest
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from mararch.cli import app

Arg = Union[str, "os.PathLike[str]"]


def sigint_default() -> None:
    """`preexec_fn` for a child that must see Ctrl-C: a shell starts background jobs with SIGINT
    ignored, and Python keeps ignoring it, so a signal test must not depend on how the suite was
    launched."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@dataclass
class ModelInputs:
    """A small eager-mode model laid out as users keep one."""

    root: Path
    model_file: Path
    serialized_file: Path
    handler: Path
    config_file: Path
    requirements_file: Path
    assets: Path
    index: Path


def make_model(root: Path) -> ModelInputs:
    root.mkdir(parents=True, exist_ok=True)
    (root / "model.py").write_text(
        "import torch\n\n\nclass Net(torch.nn.Module):\n    def forward(self, x):\n"
        "        return x\n"
    )
    # Incompressible like real weights, and the same bytes every run: random bytes look like a
    # pickle now and then (about 1 in 4000), and the pickle scan would then refuse them.
    (root / "model.pt").write_bytes(random.Random(20).randbytes(200_000))
    (root / "my_handler.py").write_text("def handle(data, context):\n    return [len(data)]\n")
    (root / "model-config.yaml").write_text("minWorkers: 1\nmaxWorkers: 2\nbatchSize: 4\n")
    (root / "requirements.txt").write_text("numpy>=1.20\n")
    assets = root / "assets"
    (assets / "vocab").mkdir(parents=True)
    (assets / "labels.txt").write_text("cat\ndog\n")
    (assets / "vocab" / "words.txt").write_text("a\nb\n" * 100)
    (assets / ".hidden-file").write_text("kept, as the reference keeps it\n")
    (assets / ".git").mkdir()
    (assets / ".git" / "HEAD").write_text("dropped: hidden folder\n")
    (assets / "__pycache__").mkdir()
    (assets / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0" * 10)
    (root / "index_to_name.json").write_text('{"0": "cat", "1": "dog"}\n')
    return ModelInputs(
        root=root,
        model_file=root / "model.py",
        serialized_file=root / "model.pt",
        handler=root / "my_handler.py",
        config_file=root / "model-config.yaml",
        requirements_file=root / "requirements.txt",
        assets=assets,
        index=root / "index_to_name.json",
    )


class Cli:
    """Runs `mararch` in-process, in a given working directory.

    Exceptions are not caught: one escaping a command (instead of becoming a message and an exit
    code) fails the test with its traceback, as it would reach a user."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.runner = CliRunner()

    def __call__(self, *args: str | os.PathLike[str], env: dict[str, str] | None = None) -> Result:
        old = Path.cwd()
        os.chdir(self.cwd)
        try:
            return self.runner.invoke(app, [str(a) for a in args], env=env, catch_exceptions=False)
        finally:
            os.chdir(old)


def tree(root: Path) -> dict[str, bytes]:
    """Every file below `root` as {relative posix path: bytes}."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def write_files(root: Path, files: Mapping[str, bytes]) -> Path:
    """Writes {relative posix path: bytes} below `root` (the inverse of `tree`); returns `root`."""
    for name, data in files.items():
        path = root.joinpath(*name.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def spawn_mararch(*args: str | Path, cwd: Path) -> Any:
    """`mararch ARGS` in a pseudo-terminal (pexpect, POSIX only): it prompts as for a person."""
    import pexpect

    return pexpect.spawn(
        sys.executable,
        ["-m", "mararch", *map(str, args)],
        cwd=str(cwd),
        env={**os.environ, "NO_COLOR": "1"},
        timeout=30,
        encoding="utf-8",
        preexec_fn=sigint_default,
    )


def assert_exits_ok(child: Any) -> None:
    """Waits for a spawn_mararch child to end; it must exit 0."""
    import pexpect

    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before


def create_args(
    model_name: str = "m",
    version: str = "1.0",
    handler: Arg = "image_classifier",
    *flags: Arg,
    **options: Arg | bool,
) -> list[str]:
    """`mararch create`'s argument list: the three values every build needs, then `flags` as
    given, then `options` as `--option-name VALUE` (`True`: the flag alone, `False`: left out)."""
    args = ["create", "--model-name", model_name, "-v", version, "--handler", str(handler)]
    args += [str(flag) for flag in flags]
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            args.append(flag)
        elif value is not False:
            args += [flag, str(value)]
    return args


def read_output(path: Path, fmt: str, name: str) -> tuple[dict[str, bytes], dict[str, int]]:
    """Members {name: bytes} and zip methods {name: method} of any output format."""
    if fmt in ("default", "zip-store"):
        with zipfile.ZipFile(path) as zf:
            assert zf.testzip() is None
            infos = zf.infolist()
            return (
                {i.filename: zf.read(i) for i in infos},
                {i.filename: i.compress_type for i in infos},
            )
    if fmt == "tgz":
        with tarfile.open(path, "r:gz") as tf:
            out = {}
            for m in tf.getmembers():
                assert m.isfile(), m.name
                assert m.name.startswith(f"{name}/"), m.name
                fh = tf.extractfile(m)
                assert fh is not None
                out[m.name] = fh.read()
            return out, {}
    return tree(path), {}


DIGESTS = "MAR-INF/digests.json"


def split_digests(members: dict[str, bytes], prefix: str = "") -> dict[str, bytes]:
    """`members` without mararch's one extra member, MAR-INF/digests.json, after checking that
    it holds the SHA-256 of every other member (names relative to the model root)."""
    rest = dict(members)
    recorded = json.loads(rest.pop(prefix + DIGESTS))
    assert recorded == {
        "algorithm": "sha256",
        "members": {
            name.removeprefix(prefix): hashlib.sha256(data).hexdigest()
            for name, data in sorted(rest.items())
        },
    }
    return rest


def split_manifest(members: dict[str, bytes], manifest_name: str) -> tuple[dict[str, bytes], dict]:
    rest = dict(members)
    manifest = json.loads(rest.pop(manifest_name))
    return rest, manifest


# Random file trees for round trips: {relative posix path: bytes}.
_component = st.text(alphabet="abcxyz019-_é", min_size=1, max_size=8)
_paths = st.lists(_component, min_size=1, max_size=3).map("/".join)


def _valid_tree(files: dict[str, bytes]) -> bool:
    # A file cannot also be a folder of another file.
    names = set(files)
    return not any(
        "/".join(n.split("/")[:i]) in names for n in names for i in range(1, n.count("/") + 1)
    )


file_trees = st.dictionaries(_paths, st.binary(max_size=3000), min_size=1, max_size=6).filter(
    _valid_tree
)


#: Set in CI: a tool a test needs (a JDK, a server) missing there is a failure, not a skip.
REQUIRED_VARIABLES = ("CI", "MARARCH_E2E_REQUIRED")


def tools_required() -> bool:
    return any(os.environ.get(name, "") not in ("", "0", "false") for name in REQUIRED_VARIABLES)


def missing_tool(reason: str) -> None:
    """Skips the test on a workstation; fails it in CI, where a skip would hide the gap."""
    if tools_required():
        pytest.fail(
            f"{reason} (CI or MARARCH_E2E_REQUIRED is set, so this is a failure)", pytrace=False
        )
    pytest.skip(reason)


def free_port() -> int:
    """A TCP port on 127.0.0.1 where nothing listens (free when asked)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
