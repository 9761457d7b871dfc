"""Read a trained model's ``model.tar.gz`` without the containers: the NTM topic-word matrix and vocabulary, or the
k-NN faiss index and labels.

    from opensagemaker.model_artifacts import load_ntm, load_knn
    ntm = load_ntm("model.tar.gz")            # or an s3:// URI (read with the default Session's S3 client)
    ntm.topic_word                            # (num_topics, vocabulary size) float32, one row per topic
    ntm.projection_weight                     # the same matrix as the built-in stored it: (vocabulary, num_topics)
    ntm.vocabulary                            # the words of the auxiliary channel's vocab.txt, or None
    knn = load_knn("model.tar.gz")
    knn.index.search(queries, 10)             # a faiss index; knn.labels[i] is the label of point i

Members are read straight out of the archive (nothing is extracted to disk, nothing is unpickled). It needs numpy,
plus faiss for ``load_knn``. The archive's layout is in docs/artifacts.md; code written for the built-in NTM can keep
unzipping ``model_algo-1`` and loading ``params`` with MXNet (or ``container_core.ndarray_file.loads``), which holds
``projection_weight`` too.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["KNNArtifact", "NTMArtifact", "load_knn", "load_ntm"]


@dataclass
class NTMArtifact:
    """An NTM model: ``topic_word`` (K, V), ``vocabulary`` (V words or None) and the training hyperparameters."""

    topic_word: np.ndarray
    vocabulary: list[str] | None
    hyperparameters: dict[str, Any]

    @property
    def projection_weight(self) -> np.ndarray:
        """The built-in's ``arg:projection_weight``: (V, K), column k is topic k."""
        return self.topic_word.T


@dataclass
class KNNArtifact:
    """A k-NN model: the faiss ``index``, one float32 label per indexed point, and ``model_algo-1.json``."""

    index: Any
    labels: np.ndarray
    metadata: dict[str, Any]


def _members(source: str | os.PathLike[str], session: Any = None) -> dict[str, bytes]:
    if str(source).startswith("s3://"):
        from opensagemaker.backends import storage

        if session is None:
            from opensagemaker.session import Session

            session = Session()
        data = storage.read_bytes(session.s3_client(), str(source))
    else:
        data = Path(source).read_bytes()
    members = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
        for member in archive.getmembers():
            if member.isfile():
                stream = archive.extractfile(member)
                assert stream is not None
                members[member.name.removeprefix("./")] = stream.read()
    return members


def _need(members: dict[str, bytes], name: str, source: Any, algorithm: str) -> bytes:
    if name not in members:
        raise ValueError(f"{source}: no {name} in the archive (has: {', '.join(sorted(members)) or 'nothing'}); "
                         f"is it a {algorithm} model.tar.gz from this project's container?")
    return members[name]


def load_ntm(source: str | os.PathLike[str], sagemaker_session: Any = None) -> NTMArtifact:
    """The NTM model in ``source`` (a local ``model.tar.gz`` or its ``s3://`` URI)."""
    members = _members(source, sagemaker_session)
    meta = json.loads(_need(members, "model_meta.json", source, "NTM"))
    topic_word = np.load(io.BytesIO(_need(members, "topic_word.npy", source, "NTM")), allow_pickle=False)
    vocabulary = meta.get("vocabulary")
    return NTMArtifact(topic_word, vocabulary if isinstance(vocabulary, list) else None, meta.get("hyperparameters", {}))


def load_knn(source: str | os.PathLike[str], sagemaker_session: Any = None) -> KNNArtifact:
    """The k-NN model in ``source`` (a local ``model.tar.gz`` or its ``s3://`` URI); needs faiss."""
    import faiss

    members = _members(source, sagemaker_session)
    metadata = json.loads(_need(members, "model_algo-1.json", source, "k-NN"))
    index = faiss.deserialize_index(np.frombuffer(_need(members, "model_algo-1", source, "k-NN"), dtype=np.uint8))
    labels = np.frombuffer(_need(members, "model_algo-1.labels", source, "k-NN"), dtype="<f4").astype(np.float32)
    return KNNArtifact(index, labels, metadata)
