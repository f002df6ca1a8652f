"""Regenerates model.pt (needs torch): `python examples/linear/make_weights.py`."""

from pathlib import Path

import torch

from model import LinearClassifier

torch.manual_seed(0)
torch.save(LinearClassifier().state_dict(), Path(__file__).with_name("model.pt"))
