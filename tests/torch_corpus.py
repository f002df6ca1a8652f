"""Writes the real-torch weights corpus of the `torch` test tier: `python torch_corpus.py OUT_DIR`.

Run with a Python that has torch (the TorchServe venv's; the test venv has no torch) and the
safetensors package. Writes into OUT_DIR, and lists in OUT_DIR/corpus.json with what `verify`
must say about each file:

- benign/: state_dicts of conv, LSTM and transformer layers in float32, float16 and bfloat16,
  checkpoints with metadata, the legacy (pre-1.6) format, TorchScript and safetensors;
- full/: whole-module pickles (torch.save(model)): they import torch.nn classes (warnings);
- malicious/: torch.save of objects whose __reduce__ calls os.system, eval, subprocess.Popen,
  in the zip and legacy formats, and a TorchScript zip whose data.pkl was swapped for one.

Nothing here is ever loaded; the malicious files would run `true` if they were.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path


class Evil:
    """Pickles as a call of `func(*args)`: what an attacker's weights file does."""

    def __init__(self, func: object, *args: object) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return self.func, self.args


def layers() -> dict[str, object]:
    import torch

    torch.manual_seed(0)
    return {
        "conv": torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.ReLU()
        ),
        "lstm": torch.nn.LSTM(16, 32, num_layers=2),
        "transformer": torch.nn.TransformerEncoder(
            torch.nn.TransformerEncoderLayer(d_model=32, nhead=4, dim_feedforward=64),
            num_layers=2,
            enable_nested_tensor=False,
        ),
    }


def main(out: Path) -> None:
    import numpy
    import torch
    from safetensors.torch import save_file

    corpus: dict[str, dict[str, object]] = {}

    def add(path: Path, verdict: str, **facts: object) -> None:
        corpus[str(path.relative_to(out))] = {"verdict": verdict, **facts}

    for sub in ("benign", "full", "malicious"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    dtypes = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}
    for name, module in layers().items():
        for short, dtype in dtypes.items():
            state = module.to(dtype).state_dict()  # type: ignore[attr-defined]
            path = out / "benign" / f"{name}_{short}.pt"
            torch.save(state, path)
            parameters = sum(t.numel() for t in state.values())
            add(path, "pass", format="torch-zip", tensors=len(state), parameters=parameters)
            st = out / "benign" / f"{name}_{short}.safetensors"
            save_file({k: v.contiguous() for k, v in state.items()}, str(st))
            add(st, "pass", format="safetensors", tensors=len(state), parameters=parameters)
        module.float()  # type: ignore[attr-defined]
        legacy = out / "benign" / f"{name}_legacy.pt"
        torch.save(module.state_dict(), legacy, _use_new_zipfile_serialization=False)  # type: ignore[attr-defined]
        add(legacy, "pass", format="torch-legacy")
        full = out / "full" / f"{name}_module.pt"
        torch.save(module, full)
        add(full, "warn", format="torch-zip")
    conv = layers()["conv"]
    optimizer = torch.optim.SGD(conv.parameters(), lr=0.1, momentum=0.9)  # type: ignore[attr-defined]
    conv(torch.randn(1, 3, 8, 8)).sum().backward()  # type: ignore[operator]
    optimizer.step()
    checkpoint = out / "benign" / "checkpoint.pt"
    torch.save(
        {
            "epoch": 3,
            "model": conv.state_dict(),  # type: ignore[attr-defined]
            "optimizer": optimizer.state_dict(),
            "best": numpy.float64(0.25),
            "config": {"lr": 0.1, "layers": [3, 8], "name": "conv"},
        },
        checkpoint,
    )
    add(checkpoint, "pass", format="torch-zip")
    scripted = out / "benign" / "conv_scripted.pt"
    torch.jit.script(conv).save(str(scripted))
    add(scripted, "pass", format="torchscript")
    traced = out / "benign" / "lstm_traced.pt"
    torch.jit.trace(layers()["lstm"], torch.randn(2, 1, 16)).save(str(traced))
    add(traced, "pass", format="torchscript")

    attacks = {
        "os_system": (Evil(os.system, "true"), "posix.system"),
        # protocol 2 (torch.save's) names builtins "__builtin__"
        "eval": (Evil(eval, "1+1"), "__builtin__.eval"),
        # ... and subprocess.Popen "commands.Popen" (Python 2's name, mapped back on load)
        "popen": (Evil(subprocess.Popen, ["true"]), "commands.Popen"),
        "exec_in_state_dict": (
            {"weight": torch.zeros(2), "bias": Evil(exec, "x = 1")},
            "__builtin__.exec",
        ),
    }
    for name, (obj, callable_) in attacks.items():
        path = out / "malicious" / f"{name}.pt"
        torch.save(obj, path)
        add(path, "fail", callable=callable_)
        legacy = out / "malicious" / f"{name}_legacy.pt"
        torch.save(obj, legacy, _use_new_zipfile_serialization=False)
        add(legacy, "fail", callable=callable_)
    # A real TorchScript zip whose data.pkl is swapped for a malicious one (same record name).
    swapped = out / "malicious" / "scripted_swapped.pt"
    evil_pickle = out / "malicious" / "evil_data.pt"
    torch.save(Evil(os.system, "true"), evil_pickle)
    with zipfile.ZipFile(evil_pickle) as z:
        bad = z.read(next(n for n in z.namelist() if n.endswith("/data.pkl")))
    evil_pickle.unlink()
    with zipfile.ZipFile(scripted) as src, zipfile.ZipFile(swapped, "w") as dst:
        for info in src.infolist():
            data = bad if info.filename.endswith("/data.pkl") else src.read(info)
            dst.writestr(info, data)
    add(swapped, "fail", callable="posix.system")
    (out / "corpus.json").write_text(json.dumps(corpus, indent=1, sort_keys=True))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
