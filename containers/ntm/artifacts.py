"""The NTM model artifact: safe, explicit, versioned (docs/contract.md A8, docs/artifacts.md).

``/opt/ml/model`` holds:

* ``ntm_state.safetensors``: the model's state dict (tensors only, by name), in the safetensors format, which holds
  nothing but tensors, so loading never runs code; serving reads it into numpy without torch;
* ``topic_word.npy``: the (num_topics, feature_dim) float32 topic-word matrix (the decoder weight, one row per
  topic), for users who want the topics without torch; saved without pickles;
* ``model_meta.json``: ``format_version``, the validated hyperparameters, the tensor shapes, and ``vocabulary``
  (the words of ``vocab.txt``) when the auxiliary channel gave one;
* ``model_algo-1``: the built-in's file, for code written for it (``unzip model_algo-1``, ``mx.nd.load('params')``;
  see ``builtin_artifact.py``), never read back;
* ``vocab.txt``: the vocabulary again as plain text, when given.

``format_version`` 2 is the above. Version 1 artifacts (written before serving stopped needing torch) hold
``ntm_state.pt`` instead, a ``torch.save`` state dict; ``load`` still reads them, with torch's ``weights_only``
loader (nothing unpickled but tensors), so models trained earlier keep serving.

A missing or corrupt file is a ``UserError`` naming the file, raised when the server starts. This module imports
neither torch nor the torch model: serving uses it, and training hands ``save`` its torch model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from container_core.errors import UserError
from ntm_container import builtin_artifact
from ntm_container.hyperparameters import NTMConfig
from ntm_container.inference import TopicEncoder, required_shapes

if TYPE_CHECKING:
    from ntm_container.model import NTM

FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
STATE = "ntm_state.safetensors"
STATE_V1 = "ntm_state.pt"
TOPIC_WORD = "topic_word.npy"
META = "model_meta.json"
VOCAB = "vocab.txt"


def build_model(config: NTMConfig) -> NTM:
    from ntm_container.model import NTM

    return NTM(config.feature_dim, config.num_topics, config.encoder_layers, config.encoder_layers_activation,
               config.batch_norm, config.normalize_topic_logits)


def _atomic_write(path: Path, write: Any) -> None:
    temporary = path.with_name(path.name + ".tmp")
    write(temporary)
    os.replace(temporary, path)


def save(model_dir: Path, model: NTM, config: NTMConfig, vocabulary: list[str] | None, extra: dict | None = None) -> None:
    """Write the artifact files into ``model_dir``."""
    from safetensors.numpy import save_file

    model_dir.mkdir(parents=True, exist_ok=True)
    state = {name: tensor.detach().cpu().contiguous().numpy() for name, tensor in model.state_dict().items()}
    _atomic_write(model_dir / STATE, lambda p: save_file(state, str(p)))
    topic_word = np.ascontiguousarray(model.topic_word().cpu().numpy(), dtype=np.float32)

    def write_npy(path: Path) -> None:
        with open(path, "wb") as stream:
            np.save(stream, topic_word, allow_pickle=False)

    _atomic_write(model_dir / TOPIC_WORD, write_npy)
    meta = {
        "format_version": FORMAT_VERSION,
        "algorithm": "NTM",
        "hyperparameters": config.to_json(),
        "shapes": {name: list(tensor.shape) for name, tensor in state.items()},
        "topic_word_shape": list(topic_word.shape),
        "vocabulary": vocabulary,
        **(extra or {}),
    }
    _atomic_write(model_dir / META, lambda p: p.write_text(json.dumps(meta, indent=1), encoding="utf-8"))
    _atomic_write(model_dir / builtin_artifact.NAME, lambda p: builtin_artifact.write(p, model))
    if vocabulary is not None:
        _atomic_write(model_dir / VOCAB, lambda p: p.write_text("\n".join(vocabulary) + "\n", encoding="utf-8"))


class LoadedModel:
    """What serving needs: the encoder's inference pass (numpy), the config and the vocabulary."""

    def __init__(self, encoder: TopicEncoder, config: NTMConfig, vocabulary: list[str] | None):
        self.encoder = encoder
        self.config = config
        self.vocabulary = vocabulary


def _read_state(path: Path) -> dict[str, np.ndarray]:
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        return load_file(str(path))
    except FileNotFoundError:
        raise UserError(f"model artifact {path} is missing") from None
    except (SafetensorError, OSError, ValueError, TypeError) as error:
        raise UserError(f"model artifact {path} is corrupt: {type(error).__name__}: {error}") from None


def _read_state_v1(path: Path) -> dict[str, np.ndarray]:
    import torch  # only for artifacts written before format_version 2

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserError(f"model artifact {path} is missing") from None
    except Exception as error:  # torch raises RuntimeError / UnpicklingError / EOFError for damaged files
        raise UserError(f"model artifact {path} is corrupt: {type(error).__name__}: {error}") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"model artifact {path} is corrupt: not a state dict of tensors")
    return {str(name): tensor.numpy() for name, tensor in state.items()}


def load(model_dir: Path) -> LoadedModel:
    """Read an artifact written by ``save`` (or a version 1 one); every failure names the file that caused it."""
    meta_path = model_dir / META
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"model artifact {meta_path} is missing; was the model trained by this NTM container?") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserError(f"model artifact {meta_path} is corrupt: {error}") from None
    version = meta.get("format_version") if isinstance(meta, dict) else None
    if version not in READABLE_VERSIONS:
        raise UserError(f"model artifact {meta_path}: format_version {version!r} is not one of "
                        f"{', '.join(map(str, READABLE_VERSIONS))}")
    try:
        config = NTMConfig.from_json(meta["hyperparameters"])
    except (KeyError, TypeError, UserError) as error:
        raise UserError(f"model artifact {meta_path}: bad hyperparameters: {error}") from None
    state_path = model_dir / (STATE if version == FORMAT_VERSION else STATE_V1)
    state = _read_state(state_path) if version == FORMAT_VERSION else _read_state_v1(state_path)
    mismatched = [f"{name} {tuple(state[name].shape) if name in state else 'missing'} (expected {shape})"
                  for name, shape in required_shapes(config).items()
                  if name not in state or tuple(state[name].shape) != shape]
    if mismatched:
        raise UserError(f"model artifact {state_path} does not match {meta_path}: " + "; ".join(mismatched[:5]))
    vocabulary = meta.get("vocabulary")
    return LoadedModel(TopicEncoder(config, state), config, vocabulary if isinstance(vocabulary, list) else None)
