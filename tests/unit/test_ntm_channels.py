"""NTM channel reading: CSR batches from every format, the in-memory corpus and the streaming fallback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from container_core.channels import Channel
from container_core.errors import UserError
from container_core.mime import parse_media_type
from ntm_container.channels import Corpus, load_embeddings, load_vocabulary, read_csr_batches
from tests.ntm_corpus import planted_corpus, write_csv, write_recordio

DOCS = planted_corpus(documents=230, topics=3, words_per_topic=5, noise_words=5, seed=2).documents


def _channel(tmp_path: Path, kind: str) -> Channel:
    folder = tmp_path / "train"
    if kind == "csv":
        write_csv(folder / "a.csv", DOCS[:100])
        write_csv(folder / "b.csv", DOCS[100:])
        return Channel("train", parse_media_type("text/csv"), folder)
    write_recordio(folder / "a.pbr", DOCS[:100], sparse=kind == "sparse")
    write_recordio(folder / "b.pbr", DOCS[100:], sparse=kind == "sparse")
    return Channel("train", parse_media_type(None), folder)


@pytest.mark.parametrize("kind", ["sparse", "dense", "csv"])
def test_every_format_reads_as_csr(tmp_path: Path, kind: str) -> None:
    batches = list(read_csr_batches(_channel(tmp_path, kind), DOCS.shape[1], batch_size=64))
    assert all(sp.isspmatrix_csr(b) and b.dtype == np.float32 for b in batches)
    np.testing.assert_array_equal(sp.vstack(batches).toarray(), DOCS.toarray())


@pytest.mark.parametrize("cache_bytes", [1 << 30, 1], ids=["in-memory", "streaming"])
def test_corpus_batches_cover_every_document_once(tmp_path: Path, cache_bytes: int) -> None:
    corpus = Corpus(_channel(tmp_path, "sparse"), DOCS.shape[1], cache_bytes=cache_bytes)
    for seed in (0, 1):  # the streaming corpus reads the files again each epoch
        batches = list(corpus.batches(50, np.random.default_rng(seed)))
        assert [b.shape[0] for b in batches] == [50, 50, 50, 50, 30]
        rows = sp.vstack(batches).toarray()
        expected = DOCS.toarray()
        assert sorted(map(tuple, rows)) == sorted(map(tuple, expected))  # a permutation of the documents
    assert (corpus.documents is None) == (cache_bytes == 1)


def test_vocabulary_and_embeddings(tmp_path: Path) -> None:
    folder = tmp_path / "auxiliary"
    folder.mkdir()
    channel = Channel("auxiliary", parse_media_type("text/plain"), folder)
    assert load_vocabulary(channel, 3) is None  # no vocab.txt: topics by word id
    (folder / "vocab.txt").write_text("apple\nbanana\ncherry\n\n")
    assert load_vocabulary(channel, 3) == ["apple", "banana", "cherry"]
    with pytest.raises(UserError, match="has 3 words but feature_dim is 4"):
        load_vocabulary(channel, 4)
    (folder / "vecs.txt").write_text("2 2\nbanana 0.5 1\napple 1 0\nzebra 3 3\n")
    vectors, found = load_embeddings([folder / "vecs.txt"], ["apple", "banana", "cherry"])
    np.testing.assert_array_equal(vectors, [[1, 0], [0.5, 1], [0, 0]])
    assert found.tolist() == [True, True, False]
    (folder / "bad.txt").write_text("apple 1 x\n")
    with pytest.raises(UserError, match="line 1 is not 'word v1 v2"):
        load_embeddings([folder / "bad.txt"], ["apple"])


@pytest.mark.parametrize(("raw", "expected"), [(None, 2 << 30), ("0", 0), ("1.5", int(1.5 * 1024 * 1024))])
def test_corpus_cache_budget_from_the_environment(raw, expected) -> None:
    from ntm_container.channels import cache_bytes_from_env

    assert cache_bytes_from_env({} if raw is None else {"NTM_CORPUS_CACHE_MB": raw}) == expected


@pytest.mark.parametrize("raw", ["lots", "-1"])
def test_corpus_cache_budget_rejects_nonsense(raw) -> None:
    from ntm_container.channels import cache_bytes_from_env

    with pytest.raises(UserError, match="NTM_CORPUS_CACHE_MB"):
        cache_bytes_from_env({"NTM_CORPUS_CACHE_MB": raw})
