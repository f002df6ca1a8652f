"""TorchServe handler for the linear example: a JSON list of 4 floats in, class scores out."""

import json

import torch
from ts.torch_handler.base_handler import BaseHandler


class LinearHandler(BaseHandler):
    def preprocess(self, data):
        rows = []
        for row in data:
            body = row.get("data") or row.get("body")
            if isinstance(body, (bytes, bytearray)):
                body = json.loads(body)
            rows.append([float(v) for v in body])
        return torch.tensor(rows, dtype=torch.float32)

    def postprocess(self, data):
        names = self.mapping or {}
        return [
            {names.get(str(i), str(i)): round(float(p), 6) for i, p in enumerate(row)}
            for row in data.tolist()
        ]
