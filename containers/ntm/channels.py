"""NTM channels (docs/contract.md §1.2): ``train`` (required), ``validation``, ``test``, ``auxiliary``.

Data channels take RecordIO-protobuf (dense or sparse; the default when no ContentType is given) or dense CSV
(``label_size`` defaults to 0). Every batch is turned into CSR here, so a corpus is never a dense matrix: sparse
stays sparse end to end, and dense CSV rows are compressed one mini-batch at a time.

``auxiliary`` holds ``vocab.txt`` (UTF-8, one word per line, in word-id order) and, optionally, a word-embedding file
in the GloVe / word2vec text format (``word v1 v2 ...``, any other file name) used for WETC.

``Corpus`` is what training iterates: the first pass streams the files; if the CSR data fits ``cache_bytes`` it is
kept as one CSR matrix so later epochs shuffle documents in memory, otherwise every epoch streams the files again
(shuffling the order of mini-batches only).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from container_core import codecs, recordio
from container_core.channels import Channel, ChannelSpec
from container_core.errors import UserError
from container_core.mime import CSV, RECORDIO, TEXT

log = logging.getLogger("ntm")

DATA_TYPES = (RECORDIO, CSV)
CHANNELS = (
    ChannelSpec("train", DATA_TYPES, required=True, description="bag-of-words training documents"),
    ChannelSpec("validation", DATA_TYPES, description="documents for the per-epoch validation loss"),
    ChannelSpec("test", DATA_TYPES, description="documents for the final test loss"),
    ChannelSpec("auxiliary", (TEXT, RECORDIO, CSV), description="vocab.txt and an optional word-embedding file"),
)
VOCAB_FILE = "vocab.txt"
READ_BATCH = 1024
DEFAULT_CACHE_BYTES = 2 << 30
CACHE_ENV = "NTM_CORPUS_CACHE_MB"


def cache_bytes_from_env(environ: Mapping[str, str]) -> int:
    """The in-memory corpus budget: ``NTM_CORPUS_CACHE_MB`` (0 = always stream from disk), default 2 GiB."""
    raw = environ.get(CACHE_ENV, "").strip()
    if not raw:
        return DEFAULT_CACHE_BYTES
    try:
        megabytes = float(raw)
    except ValueError:
        raise UserError(f"environment variable {CACHE_ENV}={raw!r} is not a number of megabytes") from None
    if megabytes < 0:
        raise UserError(f"environment variable {CACHE_ENV}={raw!r} must not be negative")
    return int(megabytes * 1024 * 1024)


def read_csr_batches(channel: Channel, feature_dim: int, batch_size: int = READ_BATCH) -> Iterator[sp.csr_matrix]:
    """Stream one channel's files as CSR float32 batches of at most ``batch_size`` documents."""
    files = channel.files()
    if channel.content_type.base == CSV:
        raw = channel.content_type.param("label_size", "0")
        try:
            label_size = int(raw)
        except ValueError:
            raise UserError(f"Channel {channel.name!r}: label_size={raw!r} is not an integer") from None
        batches = codecs.read_csv_batches(
            files, batch_size, feature_dim, label_size, channel.content_type.param("charset")
        )
    else:
        batches = recordio.read_batches(files, batch_size, feature_dim)
    for batch in batches:
        matrix = batch.csr().astype(np.float32, copy=False)
        if matrix.nnz and matrix.data.min() < 0:
            raise UserError(f"Channel {channel.name!r}: word counts must not be negative")
        yield matrix


@dataclass
class Corpus:
    """The documents of one data channel on this host, iterated once per epoch."""

    channel: Channel
    feature_dim: int
    cache_bytes: int = DEFAULT_CACHE_BYTES
    _matrix: sp.csr_matrix | None = field(default=None, init=False, repr=False)
    _streaming: bool = field(default=False, init=False)
    documents: int | None = field(default=None, init=False)

    def _load(self) -> None:
        parts: list[sp.csr_matrix] = []
        size = 0
        for part in read_csr_batches(self.channel, self.feature_dim):
            parts.append(part)
            size += part.data.nbytes + part.indices.nbytes + part.indptr.nbytes
            if size > self.cache_bytes:
                log.info("channel %s is larger than %d bytes: streaming it from disk every epoch",
                         self.channel.name, self.cache_bytes)
                self._streaming = True
                return
        if parts:
            self._matrix = sp.vstack(parts, format="csr", dtype=np.float32)
        else:
            self._matrix = sp.csr_matrix((0, self.feature_dim), dtype=np.float32)
        self.documents = self._matrix.shape[0]

    def batches(self, batch_size: int, rng: np.random.Generator | None = None) -> Iterator[sp.csr_matrix]:
        """Mini-batches in shuffled order when ``rng`` is given (documents in memory, batches when streaming)."""
        if self._matrix is None and not self._streaming:
            self._load()
        if self._matrix is not None:
            n = self._matrix.shape[0]
            order = rng.permutation(n) if rng is not None else np.arange(n)
            for start in range(0, n, batch_size):
                yield self._matrix[order[start : start + batch_size]]
            return
        # Streaming: re-batch the files' batches to the requested size.
        buffer: list[sp.csr_matrix] = []
        rows = 0
        for part in read_csr_batches(self.channel, self.feature_dim, batch_size):
            if rng is not None:
                part = part[rng.permutation(part.shape[0])]
            buffer.append(part)
            rows += part.shape[0]
            while rows >= batch_size:
                merged = sp.vstack(buffer, format="csr") if len(buffer) > 1 else buffer[0]
                yield merged[:batch_size]
                rest = merged[batch_size:]
                buffer, rows = ([rest], rest.shape[0]) if rest.shape[0] else ([], 0)
        if rows:
            yield sp.vstack(buffer, format="csr") if len(buffer) > 1 else buffer[0]


def load_vocabulary(channel: Channel | None, feature_dim: int) -> list[str] | None:
    """Words of ``auxiliary/vocab.txt`` in id order, or None; its length must equal ``feature_dim``."""
    if channel is None:
        return None
    path = channel.path / VOCAB_FILE
    if not path.is_file():
        log.warning("auxiliary channel has no %s: topics are listed by word id", VOCAB_FILE)
        return None
    try:
        words = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise UserError(f"{path}: not UTF-8 text at byte {error.start}; vocab.txt must be UTF-8") from None
    while words and not words[-1].strip():
        words.pop()
    words = [w.strip() for w in words]
    if len(words) != feature_dim:
        raise UserError(f"{path} has {len(words)} words but feature_dim is {feature_dim}; "
                        "it needs one word per line for every feature, in id order")
    return words


def embedding_files(channel: Channel | None) -> list[Path]:
    """Candidate word-embedding files of the auxiliary channel (everything except vocab.txt)."""
    if channel is None:
        return []
    return [p for p in channel.files() if p.name != VOCAB_FILE]


def load_embeddings(paths: list[Path], vocabulary: list[str]) -> tuple[np.ndarray, np.ndarray] | None:
    """Read vectors for the vocabulary words from GloVe/word2vec text files: (V, d) float32 and a found-mask."""
    index = {word: i for i, word in enumerate(vocabulary)}
    vectors: np.ndarray | None = None
    found = np.zeros(len(vocabulary), dtype=bool)
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as stream:
            for number, line in enumerate(stream, start=1):
                parts = line.rstrip().split(" ")
                if len(parts) < 3:
                    continue  # the word2vec header "count dim", or a blank line
                row = index.get(parts[0])
                if row is None or found[row]:
                    continue
                try:
                    values = np.asarray(parts[1:], dtype=np.float32)
                except ValueError:
                    raise UserError(f"{path}: line {number} is not 'word v1 v2 ...' (GloVe text format)") from None
                if vectors is None:
                    vectors = np.zeros((len(vocabulary), values.size), dtype=np.float32)
                if values.size != vectors.shape[1]:
                    raise UserError(f"{path}: line {number} has {values.size} numbers, expected {vectors.shape[1]}")
                vectors[row] = values
                found[row] = True
    if vectors is None:
        return None
    return vectors, found
