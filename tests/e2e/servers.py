"""The real model servers of the e2e tier: find them, start one, talk to it over HTTP, stop it.

Each server runs in a private short folder (its own TMPDIR/TEMP for the pid file and the worker
sockets, its model store, its logs), listens on 127.0.0.1 only on free ports, and runs in a process
group of its own so that stopping it also ends its Python workers whatever state they are in.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
HOW_TO_RUN = (
    "run the tier with `.ci/run-e2e` (it installs TorchServe 0.12 and MMS 1.1 into "
    ".ci/venvs/ and runs `pytest -m e2e tests/e2e`; both servers need Java 17)"
)

STARTUP_TIMEOUT = 120.0
REGISTER_TIMEOUT = 180.0
REQUEST_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


@dataclass(frozen=True)
class Kind:
    """What differs between TorchServe and MMS."""

    name: str
    env_var: str
    venv: str
    script: str
    config_flag: str
    start_flags: tuple[str, ...]
    #: MMS rejects ports from 32767 up.
    max_port: int

    @property
    def default_binary(self) -> Path:
        return REPO / ".ci" / "venvs" / self.venv / "bin" / self.script


TORCHSERVE = Kind(
    name="TorchServe",
    env_var="MARARCH_E2E_TORCHSERVE",
    venv="torchserve",
    script="torchserve",
    config_flag="--ts-config",
    # 0.12 refuses management calls without a token, and model registration without the flag.
    start_flags=("--ncs", "--disable-token-auth", "--enable-model-api"),
    max_port=60000,
)
MMS = Kind(
    name="MMS",
    env_var="MARARCH_E2E_MMS",
    venv="mms",
    script="multi-model-server",
    config_flag="--mms-config",
    # MMS 1.1 has no config snapshots to turn off.
    start_flags=(),
    max_port=32766,
)


def required() -> bool:
    """In CI a missing server is a failure, never a skip."""
    return os.environ.get("MARARCH_E2E_REQUIRED", "") not in ("", "0")


def unavailable(reason: str) -> None:
    if required():
        pytest.fail(f"{reason} (MARARCH_E2E_REQUIRED is set, so this is a failure)", pytrace=False)
    pytest.skip(f"{reason}; {HOW_TO_RUN}")


def find_server(kind: Kind) -> Path:
    """The server's launcher script, from `$MARARCH_E2E_<KIND>` or `.ci/venvs/`; skips or fails."""
    if shutil.which("java") is None:
        unavailable(f"{kind.name} needs Java (11+; 17 expected) and `java` is not on PATH")
    configured = os.environ.get(kind.env_var)
    binary = Path(configured) if configured else kind.default_binary
    if not binary.is_file():
        where = f"${kind.env_var}={configured}" if configured else str(binary)
        unavailable(f"{kind.name} is not installed ({where} does not exist)")
    return binary


def free_port(max_port: int, taken: set[int]) -> int:
    """A port nobody listens on; random in a range so that parallel runs rarely race."""
    for _ in range(200):
        port = random.randint(20000, max_port)
        if port in taken:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        taken.add(port)
        return port
    raise RuntimeError(f"no free port below {max_port}")


@dataclass
class Response:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@dataclass
class Server:
    """One running TorchServe or MMS."""

    kind: Kind
    binary: Path
    root: Path
    ports: dict[str, int] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    #: More config.properties lines (e.g. allowed_urls for registrations by URL).
    extra_config: list[str] = field(default_factory=list)

    @property
    def model_store(self) -> Path:
        return self.root / "store"

    @property
    def log_dir(self) -> Path:
        return self.root / "logs"

    @property
    def tmp_dir(self) -> Path:
        return self.root / "tmp"

    @property
    def console_log(self) -> Path:
        return self.log_dir / "console.txt"

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        # The pid file lives in $TMPDIR (Python's tempfile) and the worker sockets in Java's
        # java.io.tmpdir, which the launchers set from $TEMP: both private to this server.
        env.update(
            TMPDIR=str(self.tmp_dir),
            TEMP=str(self.tmp_dir),
            LOG_LOCATION=str(self.log_dir),
            METRICS_LOCATION=str(self.log_dir),
            PYTHONDONTWRITEBYTECODE="1",
        )
        return env

    def _config(self) -> str:
        taken: set[int] = set()
        names = ["inference", "management"]
        if self.kind is TORCHSERVE:
            # TorchServe 0.12 always starts its metrics and gRPC endpoints: they need ports too.
            names += ["metrics", "grpc_inference", "grpc_management", "worker"]
        self.ports = {name: free_port(self.kind.max_port, taken) for name in names}
        lines = [
            f"inference_address=http://127.0.0.1:{self.ports['inference']}",
            f"management_address=http://127.0.0.1:{self.ports['management']}",
            f"model_store={self.model_store}",
            "default_workers_per_model=1",
            "default_response_timeout=120",
            "number_of_netty_threads=2",
            "netty_client_threads=2",
        ]
        if self.kind is TORCHSERVE:
            lines += [
                f"metrics_address=http://127.0.0.1:{self.ports['metrics']}",
                "grpc_inference_address=127.0.0.1",
                "grpc_management_address=127.0.0.1",
                f"grpc_inference_port={self.ports['grpc_inference']}",
                f"grpc_management_port={self.ports['grpc_management']}",
                f"initial_worker_port={self.ports['worker']}",
                "install_py_dep_per_model=false",
                "disable_system_metrics=true",
                "default_startup_timeout=120",
            ]
        return "\n".join([*lines, *self.extra_config]) + "\n"

    def start(self) -> None:
        for folder in (self.model_store, self.log_dir, self.tmp_dir):
            folder.mkdir(parents=True, exist_ok=True)
        config = self.root / "config.properties"
        config.write_text(self._config())
        argv = [
            str(self.binary),
            "--start",
            "--foreground",
            self.kind.config_flag,
            str(config),
            "--model-store",
            str(self.model_store),
            *self.kind.start_flags,
        ]
        with self.console_log.open("ab") as out:
            self.process = subprocess.Popen(
                argv,
                cwd=self.root,
                env=self._env(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                # Its own process group: stop() can end the launcher, Java and every worker.
                start_new_session=True,
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.kind.name} exited with {self.process.returncode} while starting:\n"
                    + self.log_tail()
                )
            try:
                if self.request("GET", "inference", "/ping", timeout=5).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError(
            f"{self.kind.name} did not answer /ping within {STARTUP_TIMEOUT:.0f}s:\n"
            + self.log_tail()
        )

    def stop(self) -> None:
        if self.process is None:
            return
        try:
            # The launcher's own stop reads the pid file in this server's TMPDIR.
            subprocess.run(
                [str(self.binary), "--stop"],
                cwd=self.root,
                env=self._env(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=STOP_TIMEOUT,
                check=False,
            )
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
        finally:
            # Whatever --stop left behind (a worker stuck in a load, a hung JVM) goes too.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
            if self.process.poll() is None:
                self.process.wait(timeout=STOP_TIMEOUT)
            self.process = None

    def logs(self) -> str:
        """Everything the frontend and the workers logged so far."""
        return "\n".join(
            p.read_text("utf-8", "replace") for p in sorted(self.log_dir.glob("*_log.log"))
        )

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the server's main log and of its model workers' log."""
        parts = []
        # ts_log/mms_log (the frontend) and model_log (the workers); the console repeats them.
        logs = [p for p in sorted(self.log_dir.glob("*_log.log")) if "metrics" not in p.name]
        for log in logs or [self.console_log]:
            if log.is_file() and log.stat().st_size:
                text = log.read_text("utf-8", "replace").splitlines()[-lines:]
                parts.append(f"--- {log.name} (last {len(text)} lines)\n" + "\n".join(text))
        return "\n".join(parts) or "(no server logs)"

    def request(
        self,
        method: str,
        api: str,
        path: str,
        body: bytes | None = None,
        content_type: str = "application/json",
        timeout: float = REQUEST_TIMEOUT,
    ) -> Response:
        url = f"http://127.0.0.1:{self.ports[api]}{path}"
        req = urllib.request.Request(url, data=body, method=method)
        if body is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return Response(resp.status, resp.read())
        except urllib.error.HTTPError as err:
            return Response(err.code, err.read())

    # The management API, as both servers share it.

    def register(self, url: str, name: str | None = None, **params: str) -> Response:
        """Registers a model from the model store and waits until its worker is up."""
        query = {"url": url, "initial_workers": "1", "synchronous": "true", **params}
        if name:
            query["model_name"] = name
        encoded = urllib.parse.urlencode(query)
        return self.request("POST", "management", f"/models?{encoded}", timeout=REGISTER_TIMEOUT)

    def unregister(self, name: str) -> Response:
        return self.request("DELETE", "management", f"/models/{name}", timeout=REGISTER_TIMEOUT)

    def describe(self, name: str) -> Any:
        resp = self.request("GET", "management", f"/models/{name}")
        assert resp.status == 200, resp.text
        return resp.json()

    def predict(self, name: str, payload: Any) -> Response:
        return self.request(
            "POST", "inference", f"/predictions/{name}", body=json.dumps(payload).encode()
        )


def new_server_root() -> Path:
    # Short on purpose, hence /tmp rather than a possibly long $TMPDIR: the worker sockets live
    # in it and a Unix socket path is at most 107 bytes.
    base = "/tmp" if os.path.isdir("/tmp") else None
    return Path(tempfile.mkdtemp(prefix="mararch-e2e-", dir=base))
