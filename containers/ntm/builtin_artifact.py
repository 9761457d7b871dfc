"""``model_algo-1``: the NTM artifact file the built-in wrote, for code written for it.

AWS's NTM notebooks inspect a trained model with ``tar -xzf model.tar.gz; unzip model_algo-1`` and then
``mx.nd.load('params')['arg:projection_weight']``, the topic-word matrix W (docs/contract.md §1.6). This module writes that
file beside this project's own artifact (``artifacts.py``, which stays the source of truth and never reads this one):
a zip holding one member, ``params``, an MXNet NDArray file (``container_core.ndarray_file``, written without MXNet)
with the decoder in MXNet's FullyConnected naming and orientation:

* ``arg:projection_weight``: W, (feature_dim, num_topics) float32, column k is topic k (the transpose of
  ``topic_word.npy``);
* ``arg:projection_bias``: the decoder bias, (feature_dim,) float32.

The built-in's zip may hold more (its encoder, in its own layout); nothing public documents it, so only what
notebooks read is written. The zip's timestamp is fixed, so the file's bytes depend on the model alone.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from container_core import ndarray_file

if TYPE_CHECKING:
    from ntm_container.model import NTM

NAME = "model_algo-1"
PARAMS = "params"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def params(model: NTM) -> dict[str, np.ndarray]:
    """The arrays of ``params``: the decoder's weight (V, K) and bias (V,)."""
    return {
        "arg:projection_weight": model.decoder.weight.detach().cpu().numpy().astype(np.float32),
        "arg:projection_bias": model.decoder.bias.detach().cpu().numpy().astype(np.float32),
    }


def write(path: Path, model: NTM) -> None:
    """Write ``model_algo-1`` (a zip with the MXNet ``params`` file) to ``path``."""
    member = zipfile.ZipInfo(PARAMS, date_time=_ZIP_TIME)
    member.compress_type = zipfile.ZIP_DEFLATED
    member.external_attr = 0o644 << 16
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(member, ndarray_file.dumps(params(model)))
