"""Top-k passage retrieval with bm25s or dense sentence embeddings, saved to a directory that reloads.

An index directory holds ``index.json`` (the retriever settings), ``corpus.jsonl`` (the passages,
readable by :func:`~lmforge.roserag.data.read_corpus`) and the retriever's own files: bm25s's
sparse matrix under ``bm25/`` or the normalised passage embeddings in ``embeddings.npy``. Dense
search is exact (inner product of unit vectors = cosine), in numpy or a faiss flat index.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lmforge.core.errors import LmforgeError
from lmforge.roserag.data import Passage, read_corpus, write_corpus
from lmforge.roserag.retrieval_config import RetrieverConfig

INDEX_FILE = "index.json"
CORPUS_FILE = "corpus.jsonl"
INDEX_FORMAT = "lmforge-roserag-index/1"


@dataclass(frozen=True)
class Hit:
    passage: Passage
    score: float


def passage_text(passage: Passage) -> str:
    """What a retriever sees of a passage: its title, then its text."""
    return f"{passage.title}\n{passage.contents}" if passage.title else passage.contents


class Retriever(ABC):
    """Finds the ``k`` best passages of a fixed corpus for each query."""

    def __init__(self, passages: Sequence[Passage], config: RetrieverConfig) -> None:
        if not passages:
            raise LmforgeError("cannot index an empty corpus")
        self.passages = list(passages)
        self.config = config

    def search(self, queries: Sequence[str], k: int) -> list[list[Hit]]:
        """The top ``k`` hits of each query, best first (fewer when the corpus is smaller)."""
        if k < 1:
            raise LmforgeError(f"k must be >= 1, got {k}")
        if not queries:
            return []
        k = min(k, len(self.passages))
        indices, scores = self._search(list(queries), k)
        return [
            [Hit(self.passages[int(i)], float(s)) for i, s in zip(row_i, row_s, strict=True)]
            for row_i, row_s in zip(indices, scores, strict=True)
        ]

    def retrieve(self, queries: Sequence[str], k: int) -> list[list[Passage]]:
        """The top ``k`` passages of each query."""
        return [[hit.passage for hit in hits] for hits in self.search(queries, k)]

    @abstractmethod
    def _search(self, queries: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """(indices, scores), each of shape (len(queries), k), best first."""

    @abstractmethod
    def _save_files(self, directory: Path) -> None:
        """Write the retriever's own files (the corpus and settings are written by :meth:`save`)."""

    def save(self, directory: str | Path, *, overwrite: bool = False) -> Path:
        """Write the index to ``directory`` atomically: a reader sees the old index or the new one."""
        target = Path(directory)
        if target.exists() and any(target.iterdir()) and not overwrite:
            raise LmforgeError(f"{target} already exists and is not empty; remove it or choose another output")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        try:
            write_corpus(self.passages, tmp / CORPUS_FILE)
            self._save_files(tmp)
            meta = {"format": INDEX_FORMAT, "num_passages": len(self.passages), "config": self.config.to_dict()}
            (tmp / INDEX_FILE).write_text(json.dumps(meta, indent=2) + "\n")
            if target.exists():
                shutil.rmtree(target)
            os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return target


class BM25Retriever(Retriever):
    """Lucene-style BM25 through bm25s (sparse scores, sub-millisecond queries on small corpora)."""

    def __init__(self, passages: Sequence[Passage], config: RetrieverConfig, *, model=None) -> None:
        import bm25s

        super().__init__(passages, config)
        if model is None:
            model = bm25s.BM25(k1=config.k1, b=config.b)
            model.index(self._tokenize([passage_text(p) for p in self.passages]), show_progress=False)
        self.model = model

    def _tokenize(self, texts: list[str]) -> list[list[str]]:
        import bm25s

        return bm25s.tokenize(texts, stopwords=self.config.stopwords, return_ids=False, show_progress=False)

    def _search(self, queries: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        indices, scores = self.model.retrieve(self._tokenize(queries), k=k, show_progress=False, n_threads=1)
        return indices, scores

    def _save_files(self, directory: Path) -> None:
        self.model.save(str(directory / "bm25"), show_progress=False)

    @classmethod
    def load(cls, directory: Path, passages: list[Passage], config: RetrieverConfig) -> BM25Retriever:
        import bm25s

        model = bm25s.BM25.load(str(directory / "bm25"), show_progress=False)
        return cls(passages, config, model=model)


class DenseRetriever(Retriever):
    """Cosine similarity of sentence-transformers embeddings (bundled ``minilm-l6`` by default)."""

    def __init__(
        self, passages: Sequence[Passage], config: RetrieverConfig, *, embeddings: np.ndarray | None = None
    ) -> None:
        super().__init__(passages, config)
        self._encoder = None
        if embeddings is None:
            embeddings = self.encode([passage_text(p) for p in self.passages])
        if embeddings.shape[0] != len(self.passages):
            raise LmforgeError(f"{embeddings.shape[0]} embeddings for {len(self.passages)} passages; rebuild the index")
        self.embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
        self._faiss = None

    @property
    def encoder(self):
        """The sentence-transformers model, loaded on first use."""
        if self._encoder is None:
            from sentence_transformers import SentenceTransformer

            from lmforge.core.models import resolve

            self._encoder = SentenceTransformer(resolve(self.config.model))
        return self._encoder

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 embeddings, so inner product is cosine similarity."""
        vectors = self.encoder.encode(
            texts, batch_size=self.config.batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)

    def _search(self, queries: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        vectors = self.encode(queries)
        if vectors.shape[1] != self.embeddings.shape[1]:
            raise LmforgeError(
                f"the encoder gives {vectors.shape[1]}-d vectors but the index holds {self.embeddings.shape[1]}-d "
                "ones; query with the model the index was built with"
            )
        if self.config.search == "faiss":
            scores, indices = self._faiss_index().search(vectors, k)
            return indices, scores
        scores = vectors @ self.embeddings.T
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        top_scores = np.take_along_axis(scores, top, axis=1)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        return np.take_along_axis(top, order, axis=1), np.take_along_axis(top_scores, order, axis=1)

    def _faiss_index(self):
        if self._faiss is None:
            import faiss

            self._faiss = faiss.IndexFlatIP(self.embeddings.shape[1])
            self._faiss.add(self.embeddings)
        return self._faiss

    def _save_files(self, directory: Path) -> None:
        np.save(directory / "embeddings.npy", self.embeddings, allow_pickle=False)

    @classmethod
    def load(cls, directory: Path, passages: list[Passage], config: RetrieverConfig) -> DenseRetriever:
        return cls(passages, config, embeddings=np.load(directory / "embeddings.npy", allow_pickle=False))


_KINDS: dict[str, type[BM25Retriever] | type[DenseRetriever]] = {"bm25": BM25Retriever, "dense": DenseRetriever}


def build_index(passages: Sequence[Passage], config: RetrieverConfig | None = None) -> Retriever:
    """Index ``passages`` in memory; :meth:`Retriever.save` writes it to a directory."""
    config = config or RetrieverConfig()
    return _KINDS[config.kind](passages, config)


def load_index(directory: str | Path, **overrides) -> Retriever:
    """Reload an index written by :meth:`Retriever.save`; ``overrides`` change search-time settings
    (``search``, ``batch_size``), never the encoder."""
    directory = Path(directory)
    meta_path = directory / INDEX_FILE
    if not meta_path.is_file():
        raise LmforgeError(f"{directory} is not a passage index (no {INDEX_FILE}); build one with `lmforge rag index`")
    meta = json.loads(meta_path.read_text())
    if meta.get("format") != INDEX_FORMAT:
        raise LmforgeError(f"{directory}: index format {meta.get('format')!r} is not {INDEX_FORMAT!r}; rebuild it")
    unknown = set(overrides) - {"search", "batch_size"}
    if unknown:
        raise LmforgeError(f"cannot change {', '.join(sorted(unknown))} of a built index; rebuild it instead")
    config = RetrieverConfig(**(meta["config"] | overrides))
    passages = read_corpus(directory / CORPUS_FILE)
    if len(passages) != meta["num_passages"]:
        raise LmforgeError(f"{directory}: corpus has {len(passages)} passages, index.json says {meta['num_passages']}")
    return _KINDS[config.kind].load(directory, passages, config)
