"""The NTM model, its configuration, early stopping and the artifact format, in-process."""

from __future__ import annotations

import json
import math
import pickle
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from container_core.errors import UserError
from ntm_container import artifacts
from ntm_container.hyperparameters import EXTENSIONS, SCHEMA, NTMConfig
from ntm_container.model import NTM, BatchNorm, SparseRows
from ntm_container.optimizers import Optimizer
from ntm_container.train import EarlyStopping, condition_gradients, make_optimizer

V, K = 30, 4


def _docs(rows: int = 8, seed: int = 0) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    dense = rng.poisson(0.5, size=(rows, V)).astype(np.float32)
    dense[0] = 0  # an empty document
    return sp.csr_matrix(dense)


def _model(**kwargs) -> NTM:
    torch.manual_seed(0)
    return NTM(V, K, (6, 5), **kwargs)


def test_forward_shapes_and_loss_is_recon_plus_kl() -> None:
    model = _model()
    out = model(SparseRows.from_csr(_docs()))
    assert out.loss.shape == out.recon.shape == out.kl.shape == (8,)
    torch.testing.assert_close(out.loss, out.recon + out.kl)
    assert (out.kl >= 0).all() and out.recon[0] == 0  # an empty document costs only its KL


@pytest.mark.parametrize("batch_norm", [False, True])
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_sparse_and_dense_inputs_agree(activation: str, batch_norm: bool) -> None:
    model = _model(activation=activation, batch_norm=batch_norm).eval()
    docs = _docs()
    sparse = model(SparseRows.from_csr(docs))
    dense = model(torch.from_numpy(docs.toarray()))
    torch.testing.assert_close(sparse.loss, dense.loss, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(model.topic_weights(SparseRows.from_csr(docs)),
                               model.topic_weights(torch.from_numpy(docs.toarray())), rtol=1e-5, atol=1e-6)


def test_topic_weights_deterministic_softmax_of_mu() -> None:
    model = _model().eval()
    x = torch.from_numpy(_docs().toarray())
    with torch.inference_mode():
        first, second = model.topic_weights(x), model.topic_weights(x)
        mu, _ = model.encoder(x)
    torch.testing.assert_close(first, second, rtol=0, atol=0)
    torch.testing.assert_close(first, torch.softmax(mu, dim=1))
    torch.testing.assert_close(first.sum(dim=1), torch.ones(8))


def test_training_mode_samples_and_one_row_batches_work() -> None:
    model = _model(batch_norm=True).train()
    x = SparseRows.from_csr(_docs())
    assert not torch.equal(model(x).loss, model(x).loss)  # z is sampled while training
    one = model(SparseRows.from_csr(_docs()[3:4]))  # batch norm with a single row uses running statistics
    assert torch.isfinite(one.loss).all()
    assert isinstance(model.encoder.norms[0], BatchNorm)


def test_topic_word_is_decoder_weight() -> None:
    model = _model()
    assert model.topic_word().shape == (K, V)
    torch.testing.assert_close(model.topic_word(), model.decoder.weight.T)


def test_config_parses_what_the_sdks_send() -> None:
    config = NTMConfig.from_hyperparameters({"feature_dim": "30", "num_topics": "4", "batch_norm": "True",
                                             "encoder_layers": "[50, 25]", "optimizer": "ADAM"})
    assert config.encoder_layers == (50, 25) and config.batch_norm is True and config.optimizer == "adam"
    assert math.isinf(config.clip_gradient) and config.mini_batch_size == 256 and config.epochs == 50
    auto = NTMConfig.from_hyperparameters({"feature_dim": 30, "num_topics": 7, "encoder_layers": "auto"})
    assert auto.encoder_layers == (21, 14)
    assert NTMConfig.from_hyperparameters({"feature_dim": 30, "num_topics": 7, "encoder_layers": "50,25"}
                                          ).encoder_layers == (50, 25)
    assert NTMConfig.from_json(json.loads(json.dumps(config.to_json()))) == config


def test_documented_defaults() -> None:
    defaults = {p.name: p.default for p in SCHEMA.parameters if not p.required and p.name not in EXTENSIONS}
    assert {name: SCHEMA[name].default for name in EXTENSIONS} == {"normalize_topic_logits": False}  # off by default
    assert defaults == {
        "batch_norm": False, "clip_gradient": math.inf, "encoder_layers": "auto",
        "encoder_layers_activation": "sigmoid", "epochs": 50, "learning_rate": 0.001, "mini_batch_size": 256,
        "num_patience_epochs": 3, "optimizer": "adadelta", "rescale_gradient": 1.0, "sub_sample": 1.0,
        "tolerance": 0.001, "weight_decay": 0.0,
    }


@pytest.mark.parametrize("name", ["adagrad", "adam", "rmsprop", "sgd", "adadelta"])
def test_every_optimizer_reduces_the_loss(name: str) -> None:
    config = NTMConfig.from_hyperparameters({"feature_dim": V, "num_topics": K, "optimizer": name,
                                             "learning_rate": 0.01, "encoder_layers": "6,5"})
    model = _model()
    optimizer = make_optimizer(config, model)
    x = SparseRows.from_csr(_docs(64))
    model.eval()
    before = model(x).loss.mean().item()
    model.train()
    for _ in range(30):
        optimizer.zero_grad()
        model(x, sample=False).loss.mean().backward()
        optimizer.step()
    model.eval()
    assert model(x).loss.mean().item() < before


TORCH_EQUIVALENT = {
    "sgd": lambda p, lr, wd: torch.optim.SGD(p, lr=lr, weight_decay=wd),
    "adagrad": lambda p, lr, wd: torch.optim.Adagrad(p, lr=lr, eps=1e-7, weight_decay=wd),
    "rmsprop": lambda p, lr, wd: torch.optim.RMSprop(p, lr=lr, alpha=0.9, eps=1e-8, weight_decay=wd),
    "adam": lambda p, lr, wd: torch.optim.Adam(p, lr=lr, weight_decay=wd),
    "adadelta": lambda p, lr, wd: torch.optim.Adadelta(p, lr=1.0, rho=0.9, eps=1e-5, weight_decay=wd),
}


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
@pytest.mark.parametrize("name", list(TORCH_EQUIVALENT))
def test_optimizers_match_torch_optim(name: str, weight_decay: float) -> None:
    torch.manual_seed(1)
    ours = [torch.nn.Parameter(torch.randn(5, 3)), torch.nn.Parameter(torch.randn(3))]
    theirs = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    mine = Optimizer(name, ours, lr=0.01, weight_decay=weight_decay)
    reference = TORCH_EQUIVALENT[name](theirs, 0.01, weight_decay)
    for step in range(6):
        gradients = [torch.randn_like(p) * (step + 1) for p in ours]
        for params in (ours, theirs):
            for param, gradient in zip(params, gradients, strict=True):
                param.grad = gradient.clone()
        mine.step()
        reference.step()
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    restored = Optimizer(name, [torch.nn.Parameter(p.detach().clone()) for p in ours], lr=0.01)
    restored.load_state_dict(mine.state_dict())
    assert restored.steps == 6


def test_rescale_then_clip_gradients() -> None:
    params = [torch.nn.Parameter(torch.zeros(3)), torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(1))]
    params[0].grad = torch.tensor([4.0, -8.0, 0.5])
    params[1].grad = torch.tensor([-0.2, 30.0])  # params[2] has no gradient
    condition_gradients(params, 0.5, 1.0)
    torch.testing.assert_close(params[0].grad, torch.tensor([1.0, -1.0, 0.25]))
    torch.testing.assert_close(params[1].grad, torch.tensor([-0.1, 1.0]))
    condition_gradients(params, 2.0, math.inf)  # Infinity: rescale only
    torch.testing.assert_close(params[0].grad, torch.tensor([2.0, -2.0, 0.5]))
    assert params[2].grad is None


def test_early_stopping_patience_and_best_model() -> None:
    model = _model()
    stopping = EarlyStopping(tolerance=0.01, patience=2)
    assert not stopping.update(1, 100.0, model)
    assert not stopping.update(2, 99.5, model)  # better, but by less than 1 %: counts as not improving
    assert stopping.best_epoch == 2
    assert stopping.update(3, 99.8, model)  # second epoch without a 1 % improvement
    assert stopping.best_loss == 99.5
    restored = EarlyStopping(0.01, 2)
    restored.load(stopping.to_dict())
    assert restored.to_dict()["bad_epochs"] == 2 and restored.best_epoch == 2


def _saved(tmp_path: Path) -> tuple[Path, NTM]:
    config = NTMConfig.from_hyperparameters({"feature_dim": V, "num_topics": K, "encoder_layers": "6,5"})
    model = _model().eval()
    artifacts.save(tmp_path, model, config, [f"w{i}" for i in range(V)])
    return tmp_path, model


def test_artifact_round_trip(tmp_path: Path) -> None:
    folder, model = _saved(tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == ["model_algo-1", "model_meta.json", "ntm_state.safetensors", "topic_word.npy",
                                                        "vocab.txt"]
    loaded = artifacts.load(folder)
    with torch.inference_mode():
        expected = model.topic_weights(torch.from_numpy(_docs().toarray())).numpy()
    np.testing.assert_allclose(loaded.encoder.topic_weights(_docs()), expected, rtol=0, atol=1e-6)
    assert loaded.vocabulary == [f"w{i}" for i in range(V)]
    np.testing.assert_array_equal(np.load(folder / "topic_word.npy", allow_pickle=False), model.topic_word().numpy())
    meta = json.loads((folder / "model_meta.json").read_text())
    assert meta["format_version"] == 2 and meta["shapes"]["decoder.weight"] == [V, K]


def _as_version_1(folder: Path, model: NTM) -> None:
    """Rewrite an artifact the way format_version 1 stored it: a torch.save state dict in ntm_state.pt."""
    (folder / "ntm_state.safetensors").unlink()
    torch.save(model.state_dict(), folder / "ntm_state.pt")
    meta = json.loads((folder / "model_meta.json").read_text())
    (folder / "model_meta.json").write_text(json.dumps({**meta, "format_version": 1}))


def test_version_1_artifacts_still_load(tmp_path: Path) -> None:
    folder, model = _saved(tmp_path)
    _as_version_1(folder, model)
    with torch.inference_mode():
        expected = model.topic_weights(SparseRows.from_csr(_docs())).numpy()
    np.testing.assert_allclose(artifacts.load(folder).encoder.topic_weights(_docs()), expected, rtol=0, atol=1e-6)
    (folder / "ntm_state.pt").write_bytes(pickle.dumps({"x": np.zeros(2)}))  # weights_only refuses numpy pickles
    with pytest.raises(UserError, match="ntm_state.pt is corrupt"):
        artifacts.load(folder)


@pytest.mark.parametrize(
    ("damage", "name", "message"),
    [
        ("missing_meta", "model_meta.json", "is missing"),
        ("bad_meta", "model_meta.json", "is corrupt"),
        ("old_format", "model_meta.json", "format_version 0 is not one of 1, 2"),
        ("missing_state", "ntm_state.safetensors", "is missing"),
        ("truncated_state", "ntm_state.safetensors", "is corrupt"),
        ("pickle_state", "ntm_state.safetensors", "is corrupt"),
        ("wrong_shape", "ntm_state.safetensors", "does not match"),
    ],
)
def test_bad_artifacts_name_the_file(tmp_path: Path, damage: str, name: str, message: str) -> None:
    folder, _ = _saved(tmp_path)
    path = folder / name
    if damage.startswith("missing"):
        path.unlink()
    elif damage == "bad_meta":
        path.write_text("{")
    elif damage == "old_format":
        path.write_text(json.dumps({**json.loads(path.read_text()), "format_version": 0}))
    elif damage == "truncated_state":
        path.write_bytes(path.read_bytes()[:50])
    elif damage == "pickle_state":
        path.write_bytes(pickle.dumps({"x": np.zeros(2)}))  # not a safetensors header
    else:
        meta = json.loads((folder / "model_meta.json").read_text())
        meta["hyperparameters"]["num_topics"] = K + 1
        (folder / "model_meta.json").write_text(json.dumps(meta))
    with pytest.raises(UserError) as raised:
        artifacts.load(folder)
    assert str(path) in str(raised.value) and message in str(raised.value)


@pytest.mark.gpu
def test_cuda_matches_cpu() -> None:
    model = _model(batch_norm=True).eval()
    docs = _docs(16)
    expected = model(SparseRows.from_csr(docs)).loss
    on_gpu = model.to("cuda")(SparseRows.from_csr(docs, "cuda")).loss.cpu()
    torch.testing.assert_close(on_gpu, expected, rtol=1e-4, atol=1e-3)


def test_normalize_topic_logits_gives_every_document_the_same_logit_length() -> None:
    x = SparseRows.from_csr(_docs(16)[1:])  # no empty document: its logits have no direction
    config = NTMConfig.from_hyperparameters({"feature_dim": V, "num_topics": K, "encoder_layers": "6,5",
                                             "normalize_topic_logits": "true"})
    for model, expected in ((artifacts.build_model(config).eval(), math.sqrt(K)), (_model().eval(), None)):
        with torch.no_grad():
            mu, _ = model.encoder(x)
            weights = model.topic_weights(x)
        lengths = mu.norm(dim=1).numpy()
        if expected is None:
            assert np.ptp(lengths) > 0.01  # the default leaves the lengths free
        else:
            np.testing.assert_allclose(lengths, expected, rtol=1e-5)
        np.testing.assert_allclose(weights.sum(dim=1).numpy(), 1.0, rtol=1e-5)
