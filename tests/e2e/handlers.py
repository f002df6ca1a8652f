"""Handler sources that the e2e tests pack into archives: they run inside the servers' workers."""

from __future__ import annotations

#: The request's `input` rows, appended to every handler below: TorchServe hands the JSON body
#: as bytes (or already decoded), MMS as bytes or str, under "body" or "data".
_REQUEST_INPUT = """

def _rows(request):
    body = request.get("body")
    if body is None:
        body = request.get("data")
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8")
    if isinstance(body, str):
        body = json.loads(body)
    return body["input"]
"""

#: A custom BaseHandler subclass (TorchServe): BaseHandler loads the eager model or the
#: TorchScript file; a `handler: {scale: ...}` section of model-config.yaml multiplies the output,
#: which proves that the config file reached the worker.
BASE_HANDLER_SUBCLASS = (
    """\
import json

import torch
from ts.torch_handler.base_handler import BaseHandler


class TinyHandler(BaseHandler):
    def initialize(self, context):
        super().initialize(context)
        config = getattr(self, "model_yaml_config", None) or {}
        self.scale = float(config.get("handler", {}).get("scale", 1.0))

    def preprocess(self, data):
        return [torch.tensor(_rows(request), dtype=torch.float32) for request in data]

    def inference(self, data, *args, **kwargs):
        with torch.no_grad():
            return [self.model(x) * self.scale for x in data]

    def postprocess(self, data):
        return [y.tolist() for y in data]
"""
    + _REQUEST_INPUT
)

#: A module-level `handle` function (TorchServe): it loads the TorchScript file itself.
MODULE_FUNCTION = (
    """\
import json
import os

import torch

_model = None


def handle(data, context):
    global _model
    if _model is None:
        model_dir = context.system_properties["model_dir"]
        _model = torch.jit.load(os.path.join(model_dir, "scripted.pt"))
        _model.eval()
    if data is None:
        return None
    out = []
    for request in data:
        with torch.no_grad():
            out.append(_model(torch.tensor(_rows(request), dtype=torch.float32)).tolist())
    return out
"""
    + _REQUEST_INPUT
)

#: A pure-Python module function (MMS, and TorchServe after `mararch convert`): no torch, no
#: MXNet. It answers the sum of each input row and the label file's first line, which proves the
#: extra file was packed and found next to the handler.
PURE_PYTHON = (
    """\
import json
import os

_labels = None


def handle(data, context):
    global _labels
    if _labels is None:
        model_dir = context.system_properties["model_dir"]
        with open(os.path.join(model_dir, "assets", "labels.txt")) as f:
            _labels = f.read().split()
    if data is None:
        return None
    out = []
    for request in data:
        out.append({"sums": [sum(row) for row in _rows(request)], "label": _labels[0]})
    return out
"""
    + _REQUEST_INPUT
)
