"""The neural topic model: an NVDM-style variational autoencoder over bag-of-words documents.

Implements the model SageMaker describes for NTM (docs/contract.md §1.3; Miao, Yu & Blunsom 2016, "Neural Variational
Inference for Text Processing", arXiv 1511.06038):

* encoder q(z|x): an MLP of ``encoder_layers`` fully-connected layers with ``encoder_layers_activation`` (and
  batch normalisation after each layer when ``batch_norm`` is true) gives pi; ``mu = BN(l1(pi))``,
  ``log sigma^2 = BN(l2(pi))``; ``z = mu + sigma * eps`` with ``eps ~ N(0, I)`` while training;
* topic weights ``theta = softmax(z)``;
* decoder p(x|z): ``y = softmax(W theta + b)`` and ``log p(x|z) = sum_v x_v log y_v``; ``W`` (vocabulary x topics)
  is the topic-word matrix;
* loss per document = reconstruction (``-log p(x|z)``) + KL(q(z|x) || N(0, I)).

Three choices from ProdLDA (Srivastava & Sutton 2017, arXiv 1703.01488) that make topics coherent and keep the
posterior from collapsing; none changes what a hyperparameter means: batch normalisation without affine parameters
on ``mu`` and ``log sigma^2``, and on the decoder's ``W theta`` before the bias is added (so the bias carries the
background word frequencies and ``W`` carries what is specific to each topic), and dropout (``DROPOUT``) on ``theta``
while training.

An extension, ``normalize_topic_logits`` (off by default): ``mu = sqrt(K) * m / ||m||`` with ``m = BN(l1(pi))``,
so every document's posterior-mean logits have the same length (the length a batch-normalised K-vector has on
average), documents differ only in the direction of their logits and every mixture ``softmax(mu)`` is equally
peaked; a cosine k-NN over the mixtures then ranks by that direction instead of by how peaked each document's
mixture happens to be (measured in bench/RESULTS.md, "NTM quality"). The cost: ``mu`` can no longer shrink to the
prior's mean, so the KL term is at least K/2 per document, and on a corpus without topics (random counts) the loss
is higher than without it; that is why it is not the default. Training (``train.py``) also starts the decoder bias at the log word frequencies of the training data, so
topics need not spend their first epochs learning the background distribution. At inference the topic
weights are ``softmax(mu)``, the posterior mean: no sampling, so predictions are deterministic and each vector sums
to 1 (A2).

The first encoder layer is stored as a (vocabulary, hidden) matrix and applied to sparse documents with
``embedding_bag``, so a mini-batch is never densified on the input side.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

DROPOUT = 0.2
ACTIVATIONS = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}


class SparseRows(NamedTuple):
    """A CSR mini-batch as torch tensors: entry ``i`` is word ``indices[i]`` of row ``row_ids[i]``, count
    ``values[i]``; ``offsets`` are the row starts (for ``embedding_bag``)."""

    indices: torch.Tensor  # (nnz,) int64
    offsets: torch.Tensor  # (rows,) int64
    values: torch.Tensor  # (nnz,) float32
    row_ids: torch.Tensor  # (nnz,) int64
    rows: int

    @classmethod
    def from_csr(cls, matrix: sp.csr_matrix, device: torch.device | str = "cpu") -> SparseRows:
        matrix = sp.csr_matrix(matrix, dtype=np.float32)
        counts = np.diff(matrix.indptr)
        return cls(
            torch.from_numpy(matrix.indices.astype(np.int64)).to(device),
            torch.from_numpy(matrix.indptr[:-1].astype(np.int64)).to(device),
            torch.from_numpy(matrix.data).to(device),
            torch.from_numpy(np.repeat(np.arange(matrix.shape[0], dtype=np.int64), counts)).to(device),
            matrix.shape[0],
        )

    def lengths(self) -> torch.Tensor:
        """(rows,) total word count of each document."""
        out = torch.zeros(self.rows, dtype=self.values.dtype, device=self.values.device)
        return out.index_add_(0, self.row_ids, self.values)


Documents = torch.Tensor | SparseRows
"""A mini-batch: a dense (rows, vocabulary) tensor or ``SparseRows``."""


class BatchNorm(nn.BatchNorm1d):
    """``BatchNorm1d`` that uses its running statistics for a one-row training batch (``mini_batch_size=1`` or a
    last batch of one document), where batch statistics do not exist."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and x.shape[0] == 1:
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
        return super().forward(x)


class Encoder(nn.Module):
    """q(z|x): bag of words (rows, V) -> ``mu``, ``logvar`` (rows, K)."""

    def __init__(self, vocabulary: int, layers: tuple[int, ...], topics: int, activation: str, batch_norm: bool,
                 normalize_logits: bool = False):
        super().__init__()
        self.input_weight = nn.Parameter(torch.empty(vocabulary, layers[0]))
        self.input_bias = nn.Parameter(torch.zeros(layers[0]))
        nn.init.kaiming_uniform_(self.input_weight.T, a=5**0.5)  # nn.Linear's default init
        bound = 1 / vocabulary**0.5
        nn.init.uniform_(self.input_bias, -bound, bound)
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(layers[:-1], layers[1:], strict=True))
        self.norms = nn.ModuleList(BatchNorm(size) if batch_norm else nn.Identity() for size in layers)
        self.activation = ACTIVATIONS[activation]()
        self.mu = nn.Linear(layers[-1], topics)
        self.logvar = nn.Linear(layers[-1], topics)
        self.mu_norm = BatchNorm(topics, affine=False)
        self.logvar_norm = BatchNorm(topics, affine=False)
        self.radius = math.sqrt(topics) if normalize_logits else None

    def forward(self, x: Documents) -> tuple[torch.Tensor, torch.Tensor]:
        if isinstance(x, SparseRows):
            h = F.embedding_bag(x.indices, self.input_weight, x.offsets, mode="sum", per_sample_weights=x.values)
            h = h + self.input_bias  # (rows, layers[0])
        else:
            h = torch.addmm(self.input_bias, x, self.input_weight)
        h = self.activation(self.norms[0](h))
        for layer, norm in zip(self.hidden, self.norms[1:], strict=True):
            h = self.activation(norm(layer(h)))
        mu = self.mu_norm(self.mu(h))
        if self.radius is not None:
            mu = self.radius * F.normalize(mu, dim=1)  # every row's norm is sqrt(K)
        return mu, self.logvar_norm(self.logvar(h))  # (rows, K) each


class Decoder(nn.Module):
    """p(x|z): topic weights (rows, K) -> log word probabilities (rows, V)."""

    def __init__(self, topics: int, vocabulary: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(vocabulary, topics))  # the topic-word matrix W
        self.bias = nn.Parameter(torch.zeros(vocabulary))
        nn.init.xavier_uniform_(self.weight)
        self.norm = BatchNorm(vocabulary, affine=False)

    def forward(self, theta: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(self.norm(theta @ self.weight.T) + self.bias, dim=1)


class NTMOutput(NamedTuple):
    """Per-document terms, each (rows,): ``loss = recon + kl``."""

    loss: torch.Tensor
    recon: torch.Tensor
    kl: torch.Tensor


class NTM(nn.Module):
    """Encoder + decoder; ``forward`` gives the per-document loss, ``topic_weights`` the inference output."""

    def __init__(self, vocabulary: int, topics: int, layers: tuple[int, ...], activation: str = "sigmoid",
                 batch_norm: bool = False, normalize_logits: bool = False):
        super().__init__()
        self.encoder = Encoder(vocabulary, layers, topics, activation, batch_norm, normalize_logits)
        self.decoder = Decoder(topics, vocabulary)
        self.dropout = nn.Dropout(DROPOUT)

    def forward(self, x: Documents, sample: bool | None = None) -> NTMOutput:
        """Loss terms; samples ``z`` in training mode (or when ``sample`` is true), else uses ``mu``."""
        mu, logvar = self.encoder(x)
        sample = self.training if sample is None else sample
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if sample else mu
        theta = self.dropout(torch.softmax(z, dim=1))
        log_probs = self.decoder(theta)  # (rows, V)
        if isinstance(x, SparseRows):
            picked = log_probs[x.row_ids, x.indices] * x.values
            recon = -torch.zeros(x.rows, dtype=picked.dtype, device=picked.device).index_add(0, x.row_ids, picked)
        else:
            recon = -(x * log_probs).sum(dim=1)
        kl = 0.5 * (logvar.exp() + mu.pow(2) - 1.0 - logvar).sum(dim=1)
        return NTMOutput(recon + kl, recon, kl)

    def topic_weights(self, x: Documents) -> torch.Tensor:
        """(rows, K) ``softmax(mu)``: the posterior-mean topic mixture of each document (call in eval mode)."""
        mu, _ = self.encoder(x)
        return torch.softmax(mu, dim=1)

    def topic_word(self) -> torch.Tensor:
        """(K, V) the decoder weight, one row per topic: larger = more specific to the topic."""
        return self.decoder.weight.detach().T
