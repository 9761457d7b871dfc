"""The NTM encoder's inference pass in numpy: documents in, ``softmax(mu)`` out, without torch.

Serving only needs q(z|x)'s mean, a few small matrix products and elementwise functions, so an endpoint does not
import torch (about 1 s of every start and most of the process's memory). ``TopicEncoder`` mirrors
``ntm_container.model.Encoder`` in eval mode, tensor for tensor (same state-dict names): the first layer as a
(vocabulary, hidden) matrix (a sparse-dense product for CSR rows), then ``encoder_layers_activation`` after each
layer (batch normalisation with the running statistics first when ``batch_norm`` is true), then ``mu`` with its
affine-free batch normalisation (each row then scaled to length ``sqrt(K)`` when the ``normalize_topic_logits``
extension is on) and a softmax. ``tests/unit/test_ntm_inference.py`` holds it to the torch encoder
within 1e-6 for every encoder option.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ntm_container.hyperparameters import NTMConfig

BATCH_NORM_EPS = 1e-5
"""``torch.nn.BatchNorm1d``'s default ``eps``, which the training model uses."""


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # 1 / (1 + exp(-x)) overflows (with a warning) for x < -88 in float32; this form is exact and never does
    return np.multiply(np.tanh(x * 0.5, out=x), 0.5, out=x).__iadd__(0.5)


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0, out=x)


ACTIVATIONS = {"sigmoid": _sigmoid, "tanh": lambda x: np.tanh(x, out=x), "relu": _relu}


class _Norm:
    """Eval-mode batch normalisation folded into one scale and shift: ``(x - mean) / sqrt(var + eps) * w + b``."""

    def __init__(self, mean: np.ndarray, var: np.ndarray, weight: np.ndarray | None, bias: np.ndarray | None):
        scale = 1.0 / np.sqrt(var.astype(np.float64) + BATCH_NORM_EPS)
        if weight is not None:
            scale = scale * weight
        shift = -mean * scale + (bias if bias is not None else 0.0)
        self.scale = scale.astype(np.float32)
        self.shift = shift.astype(np.float32)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x *= self.scale
        x += self.shift
        return x


def required_shapes(config: NTMConfig) -> dict[str, tuple[int, ...]]:
    """The state-dict tensors the encoder's mean needs, with the shapes ``config`` gives them."""
    layers = config.encoder_layers
    shapes: dict[str, tuple[int, ...]] = {
        "encoder.input_weight": (config.feature_dim, layers[0]),
        "encoder.input_bias": (layers[0],),
        "encoder.mu.weight": (config.num_topics, layers[-1]),
        "encoder.mu.bias": (config.num_topics,),
        "encoder.mu_norm.running_mean": (config.num_topics,),
        "encoder.mu_norm.running_var": (config.num_topics,),
    }
    for i, (a, b) in enumerate(zip(layers[:-1], layers[1:], strict=True)):
        shapes[f"encoder.hidden.{i}.weight"] = (b, a)
        shapes[f"encoder.hidden.{i}.bias"] = (b,)
    if config.batch_norm:
        for i, size in enumerate(layers):
            for name in ("running_mean", "running_var", "weight", "bias"):
                shapes[f"encoder.norms.{i}.{name}"] = (size,)
    return shapes


class TopicEncoder:
    """``softmax(mu)`` of documents, from the artifact's state dict (float32 numpy arrays by tensor name)."""

    def __init__(self, config: NTMConfig, state: Mapping[str, np.ndarray]):
        def get(name: str) -> np.ndarray:
            return np.ascontiguousarray(state[name], dtype=np.float32)

        layers = config.encoder_layers
        self.num_topics = config.num_topics
        self.input_weight = get("encoder.input_weight")
        self.input_bias = get("encoder.input_bias")
        self.hidden = [(get(f"encoder.hidden.{i}.weight").T.copy(), get(f"encoder.hidden.{i}.bias"))
                       for i in range(len(layers) - 1)]
        self.norms = [
            _Norm(*(get(f"encoder.norms.{i}.{name}") for name in ("running_mean", "running_var", "weight", "bias")))
            if config.batch_norm else None
            for i in range(len(layers))
        ]
        self.activation = ACTIVATIONS[config.encoder_layers_activation]
        self.mu_weight = get("encoder.mu.weight").T.copy()  # (hidden, K): rows @ it, no transpose per request
        self.mu_bias = get("encoder.mu.bias")
        self.mu_norm = _Norm(get("encoder.mu_norm.running_mean"), get("encoder.mu_norm.running_var"), None, None)
        self.radius = np.float32(np.sqrt(config.num_topics)) if config.normalize_topic_logits else None

    def topic_weights(self, documents) -> np.ndarray:
        """(rows, K) float32 ``softmax(mu)`` of a dense (rows, vocabulary) array or a scipy CSR matrix."""
        h = np.asarray(documents @ self.input_weight, dtype=np.float32)  # scipy: a sparse-dense product
        h += self.input_bias
        h = self._layer(h, 0)
        for i, (weight, bias) in enumerate(self.hidden, start=1):
            h = h @ weight
            h += bias
            h = self._layer(h, i)
        mu = h @ self.mu_weight
        mu += self.mu_bias
        mu = self.mu_norm(mu)
        if self.radius is not None:  # as torch's F.normalize: x / max(||x||, 1e-12), then times sqrt(K)
            norms = np.linalg.norm(mu, axis=1, keepdims=True)
            mu *= self.radius / np.maximum(norms, np.float32(1e-12))
        mu -= mu.max(axis=1, keepdims=True)
        np.exp(mu, out=mu)
        mu /= mu.sum(axis=1, keepdims=True)
        return mu

    def _layer(self, h: np.ndarray, i: int) -> np.ndarray:
        norm = self.norms[i]
        return self.activation(norm(h) if norm is not None else h)
