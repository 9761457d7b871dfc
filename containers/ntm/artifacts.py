"""The NTM model artifact: safe, explicit, versioned (ARCHITECTURE.md "Model artifacts"; CONTRACT.md A8).

``/opt/ml/model`` holds:

* ``ntm_state.pt``: the model's state dict (tensors only), written with ``torch.save`` and read back with
  ``weights_only=True``, so loading never unpickles code;
* ``topic_word.npy``: the (num_topics, feature_dim) float32 topic-word matrix (the decoder weight, one row per
  topic), for users who want the topics without torch; saved without pickles;
* ``model_meta.json``: ``format_version``, the validated hyperparameters, the tensor shapes, and ``vocabulary``
  (the words of ``vocab.txt``) when the auxiliary channel gave one;
* ``vocab.txt``: the vocabulary again as plain text, when given.

A missing or corrupt file is a ``UserError`` naming the file, raised when the server starts.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from container_core.errors import UserError
from ntm_container.hyperparameters import NTMConfig
from ntm_container.model import NTM

FORMAT_VERSION = 1
STATE = "ntm_state.pt"
TOPIC_WORD = "topic_word.npy"
META = "model_meta.json"
VOCAB = "vocab.txt"


def build_model(config: NTMConfig) -> NTM:
    return NTM(config.feature_dim, config.num_topics, config.encoder_layers, config.encoder_layers_activation,
               config.batch_norm, config.normalize_topic_logits)


def _atomic_write(path: Path, write: Any) -> None:
    temporary = path.with_name(path.name + ".tmp")
    write(temporary)
    os.replace(temporary, path)


def save(model_dir: Path, model: NTM, config: NTMConfig, vocabulary: list[str] | None, extra: dict | None = None) -> None:
    """Write the artifact files into ``model_dir``."""
    model_dir.mkdir(parents=True, exist_ok=True)
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}
    _atomic_write(model_dir / STATE, lambda p: torch.save(state, p))
    topic_word = model.topic_word().cpu().numpy().astype(np.float32)

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
    if vocabulary is not None:
        _atomic_write(model_dir / VOCAB, lambda p: p.write_text("\n".join(vocabulary) + "\n", encoding="utf-8"))


class LoadedModel:
    """What serving needs: the model in eval mode, its config and vocabulary."""

    def __init__(self, model: NTM, config: NTMConfig, vocabulary: list[str] | None):
        self.model = model
        self.config = config
        self.vocabulary = vocabulary


def load(model_dir: Path) -> LoadedModel:
    """Read an artifact written by ``save``; every failure names the file that caused it."""
    meta_path = model_dir / META
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"model artifact {meta_path} is missing; was the model trained by this NTM container?") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserError(f"model artifact {meta_path} is corrupt: {error}") from None
    if not isinstance(meta, dict) or meta.get("format_version") != FORMAT_VERSION:
        found = meta.get("format_version") if isinstance(meta, dict) else None
        raise UserError(f"model artifact {meta_path}: format_version {found!r} is not {FORMAT_VERSION}")
    try:
        config = NTMConfig.from_json(meta["hyperparameters"])
    except (KeyError, TypeError, UserError) as error:
        raise UserError(f"model artifact {meta_path}: bad hyperparameters: {error}") from None
    state_path = model_dir / STATE
    try:
        state = torch.load(state_path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserError(f"model artifact {state_path} is missing") from None
    except Exception as error:  # torch raises RuntimeError / UnpicklingError / EOFError for damaged files
        raise UserError(f"model artifact {state_path} is corrupt: {type(error).__name__}: {error}") from None
    model = build_model(config)
    try:
        model.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError, AttributeError) as error:
        raise UserError(f"model artifact {state_path} does not match {meta_path}: {error}") from None
    model.eval()
    vocabulary = meta.get("vocabulary")
    return LoadedModel(model, config, vocabulary if isinstance(vocabulary, list) else None)
