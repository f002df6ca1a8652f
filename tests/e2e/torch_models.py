"""Makes the tiny models of the e2e tier and their expected outputs, with the real torch.

Run with the TorchServe venv's Python (the test venv has no torch):
`python torch_models.py OUT_DIR`. Writes into OUT_DIR:

- model.py          the eager model's class (TinyNet: Linear(4, 3) then tanh)
- state_dict.pt     its weights, from a fixed seed
- scripted.pt       the same model as TorchScript
- expected.json     {"input": [[...]], "output": [[...]]}: the model run here, locally
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

MODEL_SOURCE = """\
import torch


class TinyNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.linear(x))
"""

INPUT = [[0.5, -1.25, 2.0, 0.125], [1.0, 0.0, -0.5, 3.0]]


def main(out: Path) -> None:
    import torch

    out.mkdir(parents=True, exist_ok=True)
    (out / "model.py").write_text(MODEL_SOURCE)
    namespace: dict[str, object] = {}
    exec(compile(MODEL_SOURCE, str(out / "model.py"), "exec"), namespace)
    torch.manual_seed(7)
    net = namespace["TinyNet"]()  # type: ignore[operator]
    net.eval()
    torch.save(net.state_dict(), out / "state_dict.pt")
    torch.jit.script(net).save(str(out / "scripted.pt"))
    with torch.no_grad():
        output = net(torch.tensor(INPUT)).tolist()
    (out / "expected.json").write_text(json.dumps({"input": INPUT, "output": output}))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
