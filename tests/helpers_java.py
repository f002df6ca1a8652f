"""Java's ZipInputStream, as TorchServe's and MMS's front ends read archives (tests/java)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import missing_tool

JAVA_SOURCE = Path(__file__).parent / "java" / "ZipRead.java"


def compile_java_reader(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The argv that runs ZipRead (for a session-scoped fixture: compile once)."""
    if shutil.which("javac") is None or shutil.which("java") is None:
        missing_tool("needs a JDK (javac, java) on PATH; .ci/jdk-setup.sh installs one")
    classes = tmp_path_factory.mktemp("java")
    subprocess.run(["javac", "-d", str(classes), str(JAVA_SOURCE)], check=True)
    return ["java", "-cp", str(classes), "ZipRead"]


def java_read(reader: list[str], archive: Path) -> dict[str, tuple[int, int]]:
    """{member name: (bytes read, CRC-32 of them)} as Java read the archive."""
    proc = subprocess.run(
        [*reader, str(archive)], capture_output=True, text=True, check=False, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    rows = [line.split("\t") for line in proc.stdout.splitlines()]
    return {name: (int(size), int(crc, 16)) for name, size, crc in rows}
