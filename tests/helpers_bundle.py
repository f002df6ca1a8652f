"""A tiny pure-Python wheel made in the test (no index, no build backend), and a closed port."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

from helpers import free_port

DEP_NAME = "mararch-e2e-dep"
DEP_MODULE = "mararch_e2e_dep"
DEP_VALUE = 42


def make_wheel(folder: Path, version: str = "1.0") -> Path:
    """`mararch_e2e_dep-VERSION-py3-none-any.whl`, whose module defines VALUE = 42."""
    folder.mkdir(parents=True, exist_ok=True)
    info = f"{DEP_MODULE}-{version}.dist-info"
    files = {
        f"{DEP_MODULE}/__init__.py": f"VALUE = {DEP_VALUE}\n".encode(),
        f"{info}/METADATA": (
            f"Metadata-Version: 2.1\nName: {DEP_NAME}\nVersion: {version}\n".encode()
        ),
        f"{info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: mararch-tests\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n"
        ),
    }
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    path = folder / f"{DEP_MODULE}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def closed_port_index() -> str:
    """An index URL on 127.0.0.1 where nothing listens: any index access fails at once."""
    return f"http://127.0.0.1:{free_port()}/simple"


def offline_pip_env(find_links: Path) -> dict[str, str]:
    """pip's own settings for a `create --bundle-requirements` that finds the wheel locally."""
    return {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(find_links)}


def create_args(handler: Path, requirements: Path, export: Path) -> list[str]:
    """`mararch create` arguments for model `dep` 1.0 with this handler and requirements file."""
    return [
        "create",
        "--model-name",
        "dep",
        "--version",
        "1.0",
        "--handler",
        str(handler),
        "-r",
        str(requirements),
        "--export-path",
        str(export),
    ]
