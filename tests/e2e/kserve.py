"""TorchServe started the way KServe's TorchServe runtime starts it, on a tree `mararch deploy`
wrote: `torchserve --start --model-store=ROOT/model-store --ts-config=ROOT/config/config.properties`
with `TS_SERVICE_ENVELOPE` in the environment (the ClusterServingRuntime's args and env).

The tree asks for KServe's fixed ports (8085, 8082, 7070, 7071); on a shared test machine they are
moved to free ports through `TS_*` environment variables, which the tree's
`enable_envvars_config=true` lets TorchServe read, as KServe users override settings too.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .servers import STARTUP_TIMEOUT, STOP_TIMEOUT, TORCHSERVE, Response, free_port

#: How long the models listed in the snapshot get to have a READY worker.
LOAD_TIMEOUT = 180.0
#: What TorchServe logs when a model's worker cannot load it.
LOAD_FAILURES = ("Load model failed", "Backend worker process died", "ModuleNotFoundError")


@dataclass
class KServeTorchServe:
    binary: Path
    tree: Path
    home: Path
    ports: dict[str, int]
    process: subprocess.Popen[bytes]

    def request(self, method: str, path: str, body: Any = None, timeout: float = 60) -> Response:
        """One HTTP call; a request the server never answers comes back as status 0."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.ports['inference']}{path}", data=data, method=method
        )
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return Response(resp.status, resp.read())
        except urllib.error.HTTPError as err:
            return Response(err.code, err.read())
        except TimeoutError:
            return Response(0, f"no answer within {timeout:.0f}s".encode())

    def models(self) -> list[str]:
        listed = self.request("GET", "/models")
        assert listed.status == 200, listed.text
        return sorted(m["modelName"] for m in listed.json()["models"])

    def wait_ready(self, names: list[str]) -> None:
        """Until every model has a READY worker (the KServe wrapper's readiness check)."""
        deadline = time.monotonic() + LOAD_TIMEOUT
        pending = list(names)
        while pending and time.monotonic() < deadline:
            described = self.request("GET", f"/models/{pending[0]}")
            if described.status == 200 and any(
                w["status"] == "READY" for w in described.json()[0]["workers"]
            ):
                pending.pop(0)
                continue
            time.sleep(1)
        assert not pending, f"not ready: {pending}\n{self.log_tail()}"

    def settle(self, name: str) -> None:
        """Until `name` is either served by a READY worker, unknown to the server, or has failed
        to load (a broken tree must not pass only because its worker was still starting)."""
        deadline = time.monotonic() + LOAD_TIMEOUT
        while time.monotonic() < deadline and self.process.poll() is None:
            described = self.request("GET", f"/models/{name}")
            if described.status == 404:
                return
            if described.status == 200 and any(
                w["status"] == "READY" for w in described.json()[0]["workers"]
            ):
                return
            if any(s in self.logs() for s in LOAD_FAILURES):
                return
            time.sleep(1)

    def log_tail(self, lines: int = 60) -> str:
        out = []
        for log in sorted((self.home / "logs").glob("*_log.log")):
            text = log.read_text("utf-8", "replace").splitlines()[-lines:]
            out.append(f"--- {log.name}\n" + "\n".join(text))
        return "\n".join(out)

    def logs(self) -> str:
        return "\n".join(
            p.read_text("utf-8", "replace") for p in sorted((self.home / "logs").glob("*.log"))
        )


def _env(home: Path, ports: dict[str, int], envelope: str) -> dict[str, str]:
    env = dict(os.environ)
    address = f"http://127.0.0.1:{ports['inference']}"
    env.update(
        # What KServe's runtime sets: the envelope, from the InferenceService's label.
        TS_SERVICE_ENVELOPE=envelope,
        # Free ports instead of 8085/8082/7070/7071 on a shared machine.
        TS_INFERENCE_ADDRESS=address,
        TS_MANAGEMENT_ADDRESS=address,
        TS_METRICS_ADDRESS=f"http://127.0.0.1:{ports['metrics']}",
        TS_GRPC_INFERENCE_PORT=str(ports["grpc_inference"]),
        TS_GRPC_MANAGEMENT_PORT=str(ports["grpc_management"]),
        TS_INITIAL_WORKER_PORT=str(ports["worker"]),
        TS_DISABLE_SYSTEM_METRICS="true",
        # Private pid file, worker sockets, extracted models and logs.
        TMPDIR=str(home / "tmp"),
        TEMP=str(home / "tmp"),
        LOG_LOCATION=str(home / "logs"),
        METRICS_LOCATION=str(home / "logs"),
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


@contextlib.contextmanager
def kserve_torchserve(
    binary: Path, tree: Path, home: Path, envelope: str = "kserve", **env: str
) -> Iterator[KServeTorchServe]:
    """Start TorchServe on `tree` as KServe does; yields once it answers /ping (or has exited:
    check `process.poll()`), and stops it with every worker at the end."""
    for sub in ("tmp", "logs"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    taken: set[int] = set()
    names = ("inference", "metrics", "grpc_inference", "grpc_management", "worker")
    ports = {n: free_port(TORCHSERVE.max_port, taken) for n in names}
    environment = {**_env(home, ports, envelope), **env}
    argv = [
        str(binary),
        "--start",
        f"--model-store={tree}/model-store",
        f"--ts-config={tree}/config/config.properties",
        # Not a KServe flag: the launcher stays in the foreground so that the test owns it.
        "--foreground",
    ]
    with (home / "console.txt").open("ab") as out:
        process = subprocess.Popen(
            argv,
            cwd=home,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = KServeTorchServe(binary, tree, home, ports, process)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(OSError):
                if server.request("GET", "/ping", timeout=5).status == 200:
                    break
            time.sleep(0.5)
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_TIMEOUT)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        if process.poll() is None:
            process.wait(timeout=STOP_TIMEOUT)
