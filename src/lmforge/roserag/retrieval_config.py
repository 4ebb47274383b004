"""Settings of a passage index: which retriever, which encoder, how to search."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from lmforge.core.errors import LmforgeError

RETRIEVERS = ("bm25", "dense")
SEARCHES = ("numpy", "faiss")


@dataclass(frozen=True)
class RetrieverConfig:
    """``kind="bm25"`` (bm25s, Lucene BM25) or ``"dense"`` (sentence-transformers, cosine similarity).

    ``model`` is the dense encoder's spec (bundled ``minilm-l6`` by default, or a directory);
    ``search`` picks exact inner-product search in numpy or in a faiss flat index (same results).
    Titles are prepended to passage text for both retrievers.
    """

    kind: str = "bm25"
    model: str = "minilm-l6"
    search: str = "numpy"
    batch_size: int = 64
    k1: float = 1.5
    b: float = 0.75
    stopwords: str | None = "english"

    def __post_init__(self) -> None:
        if self.kind not in RETRIEVERS:
            raise LmforgeError(f"unknown retriever {self.kind!r}; use one of: {', '.join(RETRIEVERS)}")
        if self.search not in SEARCHES:
            raise LmforgeError(f"unknown search {self.search!r}; use one of: {', '.join(SEARCHES)}")
        if self.batch_size < 1:
            raise LmforgeError(f"batch_size must be >= 1, got {self.batch_size}")

    def to_dict(self) -> dict:
        return asdict(self)
