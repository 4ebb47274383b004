"""BM25 and dense retrieval: top-k, exact search in numpy and faiss, and indexes that reload."""

from __future__ import annotations

import numpy as np
import pytest

from lmforge.core.errors import LmforgeError
from lmforge.core.models import bundled_installed
from lmforge.roserag.retrieval import build_index, load_index
from lmforge.roserag.retrieval_config import RetrieverConfig

from ._fixtures import PARIS, TOKYO, save_tiny_encoder

QUERIES = ["capital of France", "most populous city of Japan", "zzz unknown words"]


def titles(results):
    return [[p.title for p in hits] for hits in results]


def test_bm25_ranks_and_reloads(tmp_path, corpus):
    index = build_index(corpus, RetrieverConfig(kind="bm25"))
    results = index.retrieve(QUERIES, k=2)
    assert results[0][0] == PARIS and results[1][0] == TOKYO
    assert all(len(hits) == 2 for hits in results)
    assert len(index.retrieve(QUERIES[:1], k=50)[0]) == len(corpus)  # k larger than the corpus
    index.save(tmp_path / "idx")
    reloaded = load_index(tmp_path / "idx")
    assert reloaded.search(QUERIES, k=3) == index.search(QUERIES, k=3)
    assert reloaded.config == index.config


def test_dense_numpy_and_faiss_agree_and_reload(tmp_path, corpus):
    encoder = save_tiny_encoder(tmp_path / "encoder")
    index = build_index(corpus, RetrieverConfig(kind="dense", model=str(encoder)))
    assert index.embeddings.shape == (len(corpus), 16)
    assert np.allclose(np.linalg.norm(index.embeddings, axis=1), 1.0, atol=1e-5)
    hits = index.search(QUERIES, k=3)
    scores = [[h.score for h in row] for row in hits]
    assert all(row == sorted(row, reverse=True) for row in scores)
    brute = index.encode(QUERIES) @ index.embeddings.T  # exact search = the k best of all inner products
    assert np.allclose(scores, -np.sort(-brute, axis=1)[:, :3], atol=1e-5)
    index.save(tmp_path / "idx")
    assert load_index(tmp_path / "idx").search(QUERIES, k=3) == hits
    with_faiss = load_index(tmp_path / "idx", search="faiss")
    assert with_faiss.config.search == "faiss"
    assert np.allclose([[h.score for h in row] for row in with_faiss.search(QUERIES, k=3)], scores, atol=1e-5)


def test_index_errors(tmp_path, corpus):
    with pytest.raises(LmforgeError, match="not a passage index"):
        load_index(tmp_path)
    index = build_index(corpus)
    index.save(tmp_path / "idx")
    with pytest.raises(LmforgeError, match="already exists"):
        index.save(tmp_path / "idx")
    index.save(tmp_path / "idx", overwrite=True)
    with pytest.raises(LmforgeError, match="cannot change model"):
        load_index(tmp_path / "idx", model="other")
    with pytest.raises(LmforgeError, match="k must be >= 1"):
        index.search(["q"], k=0)
    with pytest.raises(LmforgeError, match="unknown retriever"):
        RetrieverConfig(kind="colbert")


@pytest.mark.real_model
@pytest.mark.skipif(not bundled_installed("minilm-l6"), reason="bundled all-MiniLM-L6-v2 not installed")
def test_bundled_minilm_finds_paraphrases(corpus):
    index = build_index(corpus, RetrieverConfig(kind="dense"))
    results = index.retrieve(["Which city is the seat of the French government?", "a long African river"], k=1)
    assert titles(results) == [["Paris"], ["Nile"]]
