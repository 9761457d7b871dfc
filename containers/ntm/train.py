"""NTM training: the epoch loop, early stopping, checkpoints, multi-host data parallelism and the final report.

Data parallelism (torch.distributed, docs/contract.md §3.2): every host of ``resourceconfig.json`` reads only its own channel folders (with
``ShardedByS3Key`` SageMaker puts each host's shard there) in mini-batches of ``mini_batch_size`` documents, so the
global batch is ``mini_batch_size`` times the number of hosts. After each backward pass the hosts all-reduce one
buffer holding the summed gradients, their document counts and two flags (this host still has data; this host got
SIGTERM); every host divides by the global document count and takes the same optimizer step, so the parameters stay
identical. Each host's epoch has 1/N of the documents, so N hosts take 1/N of one host's steps per epoch; every
update is therefore multiplied by N (``Optimizer.step_scale``), the linear scaling rule (Goyal et al. 2017,
arXiv 1706.02677), so an epoch moves the model as far as one host's epoch does (bench/RESULTS.md has the measured
precision@10 with and without it). A host whose shard is empty, or runs out first, keeps joining the all-reduce
with zeros until every host is done; that is also why no host can hang on another's shorter epoch. Losses are
all-reduced too, so the early stopping decision is the same everywhere. Only the leader writes checkpoints and ``/opt/ml/model`` (A8).

Gradients follow MXNet's order, which the built-in used: multiply by ``rescale_gradient``, clip every element to
``[-clip_gradient, clip_gradient]``, then the optimizer (``optimizers``) applies ``weight_decay`` (L2) and
``learning_rate``. ``adadelta`` has no learning rate (Zeiler 2012, and MXNet's AdaDelta ignores it), so
``learning_rate`` does not apply to it.

Early stopping: an epoch improves when its loss (validation loss, else training loss) is below the last improving
epoch's by more than ``tolerance`` relative to it; after ``num_patience_epochs`` epochs without improvement training
stops. The final model is the epoch with the lowest loss.

Checkpoints (A10): after every epoch the leader writes ``checkpoints/ntm-checkpoint.pt`` (temporary file, then
``os.replace``, so a kill never leaves a torn file): model, optimizer, epoch, early-stopping state. Randomness is
re-seeded from (seed, host rank, epoch) at each epoch start, so a resumed run repeats exactly what an uninterrupted
run does. On SIGTERM the hosts agree (through the all-reduce) to stop after the current batch; the partial epoch is
dropped and the run ends with ``TrainingStopped``; running again resumes after the last finished epoch.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from container_core.channels import load_channels
from container_core.cli import TrainingContext, TrainingStopped
from container_core.distributed import init_process_group
from container_core.errors import UserError
from ntm_container import artifacts, topics
from ntm_container.channels import (
    CHANNELS,
    Corpus,
    cache_bytes_from_env,
    embedding_files,
    load_embeddings,
    load_vocabulary,
)
from ntm_container.cluster import Cluster
from ntm_container.hyperparameters import NTMConfig
from ntm_container.model import NTM, SparseRows
from ntm_container.optimizers import Optimizer

log = logging.getLogger("ntm")

SEED = 20240601
SMALL_STEP = 2000 * 512
"""feature_dim * mini_batch_size up to which a CPU step is too small to gain from several intra-op threads."""
CHECKPOINT = "ntm-checkpoint.pt"
CHECKPOINT_VERSION = 1


def condition_gradients(params: list[torch.nn.Parameter], scale: float, clip: float) -> None:
    """Multiply every gradient by ``scale`` (``rescale_gradient`` / documents in the global batch), then clip each
    element to ``[-clip, clip]`` (no clipping when ``clip`` is infinite), as MXNet did."""
    grads = [p.grad for p in params if p.grad is not None]
    torch._foreach_mul_(grads, scale)
    if math.isfinite(clip):
        torch._foreach_clamp_min_(grads, -clip)
        torch._foreach_clamp_max_(grads, clip)


def make_optimizer(config: NTMConfig, model: NTM, hosts: int = 1) -> Optimizer:
    """The optimizer, its every update scaled by the host count (see the module docstring)."""
    optimizer = Optimizer(config.optimizer, model.parameters(), config.learning_rate, config.weight_decay)
    optimizer.step_scale = float(hosts)
    return optimizer


@dataclass
class EarlyStopping:
    """Patience on relative improvement, and the best (lowest-loss) model seen.

    An epoch resets the patience count when its loss is below ``reference_loss`` (the last loss that counted as an
    improvement) by more than ``tolerance`` relative to it; the model kept is the one with the lowest loss.
    """

    tolerance: float
    patience: int
    reference_loss: float = math.inf
    bad_epochs: int = 0
    best_loss: float = math.inf
    best_epoch: int = 0
    best_state: dict[str, torch.Tensor] | None = field(default=None, repr=False)

    def update(self, epoch: int, loss: float, model: NTM) -> bool:
        """Record an epoch's loss; True when training should stop."""
        if loss < self.reference_loss - self.tolerance * abs(self.reference_loss) or math.isinf(self.reference_loss):
            self.reference_loss, self.bad_epochs = loss, 0
        else:
            self.bad_epochs += 1
        if loss < self.best_loss or self.best_state is None:
            self.best_loss, self.best_epoch = loss, epoch
            self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return self.bad_epochs >= self.patience

    def to_dict(self) -> dict[str, Any]:
        return {"reference_loss": self.reference_loss, "bad_epochs": self.bad_epochs, "best_loss": self.best_loss,
                "best_epoch": self.best_epoch, "best_state": self.best_state}

    def load(self, data: dict[str, Any]) -> None:
        self.reference_loss = float(data["reference_loss"])
        self.bad_epochs = int(data["bad_epochs"])
        self.best_loss = float(data["best_loss"])
        self.best_epoch = int(data["best_epoch"])
        self.best_state = data["best_state"]


@dataclass
class Totals:
    """Summed per-document losses of a pass, for total_loss (per document) and perplexity (per word)."""

    loss: float = 0.0
    documents: float = 0.0
    words: float = 0.0

    @property
    def mean_loss(self) -> float:
        return self.loss / self.documents if self.documents else math.nan

    @property
    def perplexity(self) -> float:
        return math.exp(min(self.loss / self.words, 700.0)) if self.words else math.nan


def _fingerprint(config: NTMConfig, num_hosts: int) -> str:
    """What a checkpoint must share with this run to be resumed (shape-defining settings)."""
    keys = ("feature_dim", "num_topics", "encoder_layers", "encoder_layers_activation", "batch_norm", "optimizer",
            "normalize_topic_logits")
    data = {k: config.to_json()[k] for k in keys}
    data["hosts"] = num_hosts
    return json.dumps(data, sort_keys=True)


def _seed_epoch(rank: int, epoch: int) -> np.random.Generator:
    torch.manual_seed(SEED + 1_000_003 * rank + 7919 * epoch)
    return np.random.default_rng([SEED, rank, epoch])


class Trainer:
    """One host's training run; ``run`` is the whole job."""

    def __init__(self, context: TrainingContext):
        self.context = context
        self.config = NTMConfig.from_hyperparameters(context.hyperparameters)
        self.channels = load_channels(context.paths, CHANNELS, "NTM")
        self.vocabulary = load_vocabulary(self.channels.get("auxiliary"), self.config.feature_dim)
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if self.device.type == "cpu" and self.config.feature_dim * self.config.mini_batch_size <= SMALL_STEP:
            torch.set_num_threads(1)  # measured: 2-6x faster for tutorial-sized steps than thread hand-offs
        if self.device.type == "cuda" and context.resources.num_hosts > 1:
            torch.cuda.set_device(0)
        resources = context.resources
        self.cluster = Cluster(init_process_group(resources), resources.rank, resources.num_hosts, self.device)
        torch.manual_seed(SEED)  # identical initial weights on every host
        self.model = artifacts.build_model(self.config).to(self.device)
        self.optimizer = make_optimizer(self.config, self.model, self.cluster.size)
        self.stopping = EarlyStopping(self.config.tolerance, self.config.num_patience_epochs)
        self.epoch = 0
        self.finished = False
        self.finished_by: str | None = None  # "epochs" or "early_stopping"
        self.params = [p for p in self.model.parameters()]
        feature_dim = self.config.feature_dim
        cache_bytes = cache_bytes_from_env(os.environ)
        self.corpora = {name: Corpus(self.channels[name], feature_dim, cache_bytes)
                        for name in ("train", "validation", "test") if name in self.channels}
        self.checkpoint_path = context.paths.checkpoints / CHECKPOINT

    # --- checkpoints ---------------------------------------------------------------------------------------------

    def save_checkpoint(self) -> None:
        if not self.cluster.is_leader:
            return
        state = {
            "version": CHECKPOINT_VERSION,
            "fingerprint": _fingerprint(self.config, self.cluster.size),
            "epoch": self.epoch,
            "finished": self.finished,
            "finished_by": self.finished_by,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "early_stopping": self.stopping.to_dict(),
        }
        self.checkpoint_path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.checkpoint_path.with_name(CHECKPOINT + ".tmp")
        torch.save(state, temporary)
        os.replace(temporary, self.checkpoint_path)

    def resume(self) -> None:
        """Load the leader's checkpoint on every host if one exists and fits this configuration."""
        payload = None
        if self.cluster.is_leader and self.checkpoint_path.is_file():
            payload = self.checkpoint_path.read_bytes()
        payload = self.cluster.broadcast_bytes(payload)
        if not payload:
            return
        try:
            state = torch.load(io.BytesIO(payload), map_location=self.device, weights_only=True)
            if state.get("version") != CHECKPOINT_VERSION:
                raise ValueError(f"checkpoint version {state.get('version')!r}")
            if state["fingerprint"] != _fingerprint(self.config, self.cluster.size):
                log.warning("checkpoint %s was written with different settings (%s); starting from scratch",
                            self.checkpoint_path, state["fingerprint"])
                return
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.stopping.load(state["early_stopping"])
            self.epoch = int(state["epoch"])
            self.finished = bool(state["finished"])
            self.finished_by = state.get("finished_by")
        except Exception as error:  # a damaged checkpoint must not block training
            log.warning("ignoring unreadable checkpoint %s: %s; starting from scratch", self.checkpoint_path, error)
            torch.manual_seed(SEED)
            self.model = artifacts.build_model(self.config).to(self.device)
            self.optimizer = make_optimizer(self.config, self.model, self.cluster.size)
            self.params = list(self.model.parameters())
            self.stopping = EarlyStopping(self.config.tolerance, self.config.num_patience_epochs)
            self.epoch, self.finished, self.finished_by = 0, False, None
            return
        if self.finished and self.finished_by == "epochs" and self.epoch < self.config.epochs:
            # the earlier job ran out of epochs, not patience: a rerun with more epochs trains on
            self.finished, self.finished_by = False, None
        log.info("resumed from checkpoint %s: epoch %d done%s", self.checkpoint_path, self.epoch,
                 " (training had finished)" if self.finished else f", continuing with epoch {self.epoch + 1}")

    # --- passes ----------------------------------------------------------------------------------------------------

    def _to_rows(self, batch: sp.csr_matrix) -> SparseRows:
        return SparseRows.from_csr(batch, self.device)

    def train_epoch(self, rng: np.random.Generator) -> tuple[Totals, int, bool]:
        """One pass over the local shard in lock-step with the other hosts: (totals, local rows, stopped)."""
        self.model.train()
        totals = Totals()
        local_rows = 0
        batches = self.corpora["train"].batches(self.config.mini_batch_size, rng)
        while True:
            batch = next(batches, None)
            active = batch is not None
            if active and self.config.sub_sample < 1.0:
                keep = rng.random(batch.shape[0]) < self.config.sub_sample
                batch = batch[np.flatnonzero(keep)]
            self.optimizer.zero_grad()
            loss_sum = words = 0.0
            rows = batch.shape[0] if active else 0
            if rows:
                total = self.model(self._to_rows(batch)).loss.sum()
                total.backward()
                loss_sum, words = float(total.item()), float(batch.sum())
            stop = self.context.stop_requested.is_set()
            all_rows, all_loss, all_words, any_active, stop = self._exchange(rows, loss_sum, words, active, stop)
            if stop:
                return totals, local_rows, True
            if not any_active:
                return totals, local_rows, False
            local_rows += rows
            totals.loss += all_loss
            totals.documents += all_rows
            totals.words += all_words
            if all_rows == 0:
                continue
            condition_gradients(self.params, self.config.rescale_gradient / all_rows, self.config.clip_gradient)
            self.optimizer.step()

    def _exchange(self, rows: int, loss: float, words: float, active: bool, stop: bool
                  ) -> tuple[float, float, float, bool, bool]:
        """All-reduce the summed gradients (left in ``param.grad``) and the step's numbers; identity on one host."""
        if self.cluster.dist is None:
            return rows, loss, words, active, stop
        sizes = [p.numel() for p in self.params]
        buffer = torch.empty(sum(sizes) + 5, dtype=torch.float32, device=self.device)
        offset = 0
        for param, size in zip(self.params, sizes, strict=True):
            buffer[offset : offset + size] = param.grad.reshape(-1) if param.grad is not None else 0.0
            offset += size
        buffer[-5:] = torch.tensor([rows, loss, words, float(active), float(stop)], device=self.device)
        self.cluster.sum_(buffer)
        offset = 0
        for param, size in zip(self.params, sizes, strict=True):
            if param.grad is None:
                param.grad = torch.zeros_like(param)
            param.grad.copy_(buffer[offset : offset + size].view_as(param))
            offset += size
        all_rows, all_loss, all_words, any_active, any_stop = buffer[-5:].tolist()
        return all_rows, all_loss, all_words, any_active > 0, any_stop > 0

    @torch.inference_mode()
    def evaluate(self, name: str) -> Totals:
        """Loss of a channel with the posterior mean (no sampling), summed over all hosts."""
        self.model.eval()
        loss = documents = words = 0.0
        # The decoder's output is (rows, feature_dim) floats: cap it at 256 MB per evaluation batch.
        rows = max(1, min(1024, (256 << 20) // (4 * self.config.feature_dim)))
        for batch in self.corpora[name].batches(rows):
            if not batch.shape[0]:
                continue
            out = self.model(self._to_rows(batch), sample=False)
            loss += float(out.loss.sum().item())
            documents += batch.shape[0]
            words += float(batch.sum())
        loss, documents, words = self.cluster.sum_numbers(loss, documents, words)
        if not math.isfinite(loss):
            raise UserError(f"the {name} loss is not finite; try a smaller learning_rate or set clip_gradient")
        return Totals(loss, documents, words)

    # --- the job ---------------------------------------------------------------------------------------------------

    def init_background(self) -> None:
        """Start the decoder bias at the log word frequencies of the training data (all hosts together), so the
        bias carries the background distribution from the first step and ``W`` only has to learn the topics."""
        counts = np.zeros(self.config.feature_dim, dtype=np.float64)
        for batch in self.corpora["train"].batches(4096):
            counts += np.asarray(batch.sum(axis=0), dtype=np.float64).ravel()
        totals = self.cluster.sum_(torch.from_numpy(counts).to(self.device)).cpu().numpy()
        if totals.sum() > 0:
            background = np.log(totals + 1.0) - np.log(totals.sum() + totals.size)
            with torch.no_grad():
                self.model.decoder.bias.copy_(torch.from_numpy(background.astype(np.float32)))

    def run(self) -> None:
        metrics = self.context.metrics
        self.init_background()
        log.info("training on %s", torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else
                 f"the CPU ({torch.get_num_threads()} thread{'s' if torch.get_num_threads() != 1 else ''})")
        if self.cluster.size > 1:
            log.info("%d hosts: every update is scaled by %g, so an epoch moves the model as one host's does",
                     self.cluster.size, self.optimizer.step_scale)
        self.resume()
        if self.epoch == 0:
            self.save_checkpoint()  # a SIGTERM during epoch 1 then still leaves a checkpoint to resume from
        monitor = "validation" if "validation" in self.corpora else "train"
        while not self.finished and self.epoch < self.config.epochs:
            epoch = self.epoch + 1
            rng = _seed_epoch(self.cluster.rank, epoch)
            log.info("# Starting training for epoch %d", epoch)
            started = time.perf_counter()
            totals, local_rows, stopped = self.train_epoch(rng)
            if stopped:
                raise TrainingStopped(
                    f"training stopped by SIGTERM during epoch {epoch}; the checkpoint {self.checkpoint_path} "
                    f"(written by the leader host) holds epoch {self.epoch}: running again resumes from epoch {epoch}"
                )
            elapsed = time.perf_counter() - started
            if totals.documents == 0:
                raise UserError("the train channel holds no documents (on any host); check the S3 prefix")
            if not math.isfinite(totals.loss):
                raise UserError("the training loss is not finite; try a smaller learning_rate or set clip_gradient")
            self.cluster.average_buffers(self.model)
            self.epoch = epoch
            log.info("# Finished training epoch %d on %d examples in %.2f s", epoch, local_rows, elapsed)
            metrics.quality("train", "total_loss", "loss", totals.mean_loss, epoch)
            metrics.quality("train", "perplexity", "loss", totals.perplexity, epoch)
            monitored = totals
            if "validation" in self.corpora:
                monitored = self.evaluate("validation")
                metrics.quality("validation", "total_loss", "loss", monitored.mean_loss, epoch)
                metrics.quality("validation", "perplexity", "loss", monitored.perplexity, epoch)
            stop = self.stopping.update(epoch, monitored.mean_loss, self.model)
            if stop:
                log.info("early stopping: the %s loss improved by less than tolerance=%g for %d epochs",
                         monitor, self.config.tolerance, self.config.num_patience_epochs)
                self.finished, self.finished_by = True, "early_stopping"
            elif epoch >= self.config.epochs:
                self.finished, self.finished_by = True, "epochs"
            self.save_checkpoint()
            metrics.progress(100.0 * epoch / self.config.epochs if not self.finished else 100.0)
            metrics.throughput(local_rows / elapsed if elapsed > 0 else 0.0)
        self.finish()

    def finish(self) -> None:
        metrics = self.context.metrics
        if self.stopping.best_state is not None:
            self.model.load_state_dict(self.stopping.best_state)
            log.info("Best model based on early stopping at epoch %d. Best loss: %.6g",
                     self.stopping.best_epoch, self.stopping.best_loss)
        for name in ("validation", "test"):
            if name in self.corpora:
                totals = self.evaluate(name)
                metrics.quality(name, "total_loss", "loss", totals.mean_loss)
                metrics.quality(name, "perplexity", "loss", totals.perplexity)
        self.report_topics()
        if self.cluster.is_leader:
            artifacts.save(self.context.paths.model, self.model.cpu(), self.config, self.vocabulary,
                           {"best_epoch": self.stopping.best_epoch, "epochs_trained": self.epoch})
            log.info("model written to %s", self.context.paths.model)

    def report_topics(self) -> None:
        """Topic listing (top 20 words) with TU, NPMI on the training data, and WETC when embeddings were given."""
        topic_word = self.model.topic_word().cpu().numpy()
        listed = topics.top_words(topic_word, topics.LISTED_WORDS)
        scored = listed[:, : topics.SCORED_WORDS]
        counter = topics.CooccurrenceCounter(scored)
        for batch in self.corpora["train"].batches(4096):
            counter.add(batch)
        counts = torch.from_numpy(counter.counts().astype(np.float64)).to(self.device)
        counter.set_counts(self.cluster.sum_(counts).cpu().numpy().round().astype(np.int64))
        npmi = counter.npmi()
        tu = topics.topic_uniqueness(scored)
        wetc = None
        if self.vocabulary is not None:
            files = embedding_files(self.channels.get("auxiliary"))
            loaded = load_embeddings(files, self.vocabulary) if files else None
            if loaded is not None:
                vectors, found = loaded
                missing = int((~found).sum())
                if missing:
                    log.warning("%d out of %d in vocabulary do not have embeddings! Default vector used for "
                                "unknown embedding!", missing, len(self.vocabulary))
                wetc = topics.wetc(scored, vectors, found)
        if not self.cluster.is_leader:
            return
        for line in topics.listing(listed, tu, self.vocabulary, wetc):
            log.info("%s", line)
        log.info("Topic coherence on the training data: npmi %.4f (per topic: %s)", npmi.mean(),
                 ", ".join(f"{v:.2f}" for v in npmi))
        metrics = self.context.metrics
        metrics.quality("train", "npmi", "score", float(npmi.mean()))
        metrics.quality("train", "tu", "score", float(tu.mean()))
        if wetc is not None:
            metrics.quality("train", "wetc", "score", float(wetc.mean()))


def train(context: TrainingContext) -> None:
    """The NTM training entry point (``ntm-container train``)."""
    trainer = Trainer(context)
    try:
        trainer.run()
    finally:
        if trainer.cluster.dist is not None:
            trainer.cluster.dist.destroy_process_group()

