"""The torch-free NTM inference pass (``ntm_container.inference``) against the torch encoder it mirrors, for every
encoder option the hyperparameters allow, with random weights and random batch-norm statistics."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from ntm_container import artifacts
from ntm_container.hyperparameters import ACTIVATIONS, NTMConfig
from ntm_container.inference import TopicEncoder, required_shapes
from ntm_container.model import SparseRows

V, K = 40, 5


def _random_model(config: NTMConfig, seed: int):
    """The training model (random weights from its own seeded init) with random biases and batch-norm statistics
    and affine parameters, as a trained model has them, in eval mode."""
    torch.manual_seed(seed)
    model = artifacts.build_model(config)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith("running_var"):
                tensor.copy_(torch.rand_like(tensor) + 0.25)
            elif name.endswith(("running_mean", "bias")):
                tensor.copy_(torch.randn_like(tensor) * 0.5)
            elif ".norms." in name and name.endswith("weight"):
                tensor.copy_(1 + torch.randn_like(tensor) * 0.3)
    return model.eval()


def _documents(rows: int, seed: int, scale: float = 1.0) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    dense = (rng.poisson(0.6, size=(rows, V)) * scale).astype(np.float32)
    dense[0] = 0  # an empty document: only the biases speak
    return sp.csr_matrix(dense)


@pytest.mark.parametrize("layers", ["7", "8,6", "9,7,4"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("batch_norm", [False, True])
@pytest.mark.parametrize("normalize", [False, True])
def test_numpy_encoder_matches_torch(layers: str, activation: str, batch_norm: bool, normalize: bool) -> None:
    config = NTMConfig.from_hyperparameters({"feature_dim": V, "num_topics": K, "encoder_layers": layers,
                                             "encoder_layers_activation": activation, "batch_norm": batch_norm,
                                             "normalize_topic_logits": normalize})
    model = _random_model(config, seed=len(layers) + 3 * batch_norm + 7 * normalize)
    state = {name: tensor.numpy() for name, tensor in model.state_dict().items()}
    encoder = TopicEncoder(config, state)
    for scale in (1.0, 8.0):  # 8x counts: long documents, activations near saturation
        docs = _documents(16, seed=int(scale), scale=scale)
        with torch.inference_mode():
            expected = model.topic_weights(SparseRows.from_csr(docs)).numpy()
        from_sparse = encoder.topic_weights(docs)
        from_dense = encoder.topic_weights(docs.toarray())
        assert from_sparse.dtype == from_dense.dtype == np.float32 and from_sparse.shape == (16, K)
        np.testing.assert_allclose(from_sparse, expected, rtol=0, atol=1e-6)
        np.testing.assert_allclose(from_dense, expected, rtol=0, atol=1e-6)
        np.testing.assert_allclose(from_sparse.sum(axis=1), 1.0, atol=1e-6)


def test_required_shapes_are_the_torch_models() -> None:
    config = NTMConfig.from_hyperparameters({"feature_dim": V, "num_topics": K, "encoder_layers": "9,7,4",
                                             "batch_norm": True})
    shapes = {name: tuple(t.shape) for name, t in artifacts.build_model(config).state_dict().items()}
    required = required_shapes(config)
    assert required.items() <= shapes.items()
    assert {n for n in shapes if n.startswith("encoder.") and not n.startswith("encoder.logvar")
            and not n.endswith("num_batches_tracked")} == set(required)
