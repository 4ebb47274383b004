"""`lmforge skip train/eval/bench` end to end on a tiny local model and TSV files."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from transformers import PreTrainedTokenizerFast
from typer.testing import CliRunner

from lmforge.cli import app
from lmforge.hadskip import HadSkipModel

from ._tiny import tiny_classifier

WORDS = ["the", "a", "film", "movie", "plot", "cast", "was", "is", "very", "quite", "rather", "and", "but"]


def _tsv(path: Path, size: int, seed: int) -> None:
    rng = random.Random(seed)
    lines = ["sentence\tlabel"]
    for _ in range(size):
        label = rng.randint(0, 1)
        words = [*rng.choices(WORDS, k=6), rng.choice(["great", "wonderful"] if label else ["awful", "dull"])]
        rng.shuffle(words)
        lines.append(f"{' '.join(words)}\t{label}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory, tiny_tokenizer: PreTrainedTokenizerFast) -> Path:
    root = tmp_path_factory.mktemp("skip-cli")
    model = tiny_classifier("bert", vocab_size=len(tiny_tokenizer), pad_token_id=tiny_tokenizer.pad_token_id)
    model.save_pretrained(root / "base")
    tiny_tokenizer.save_pretrained(root / "base")
    _tsv(root / "train.tsv", 96, seed=1)
    _tsv(root / "dev.tsv", 32, seed=2)
    return root


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def trained_run(workspace: Path) -> Path:
    files = ["--train-file", str(workspace / "train.tsv"), "--eval-file", str(workspace / "dev.tsv")]
    code, output = _run(
        "skip", "train", "--model", str(workspace / "base"), "--output", str(workspace / "run"), *files,
        "--epochs", "2", "--teacher-epochs", "2", "--batch-size", "16", "--lr", "1e-3", "--gate-lr", "1e-2",
        "--max-length", "32",
    )  # fmt: skip
    assert code == 0, output
    assert "HadSkip b=0.5" in output and "per-layer keep rates" in output
    return workspace / "run"


def test_train_writes_a_loadable_run(trained_run: Path) -> None:
    results = json.loads((trained_run / "results.json").read_text())
    assert results["teacher"]["usage"] == 1.0 and 0.0 < results["hadskip"]["usage"] <= 1.0
    assert len(results["hadskip"]["layer_keep_rates"]) == 4 and results["hadskip_config"]["budget"] == 0.5
    assert (trained_run / "teacher" / "model.safetensors").is_file()
    model = HadSkipModel.from_pretrained(trained_run)
    assert model.hadskip_config.budget == 0.5


def test_eval_and_bench(trained_run: Path, workspace: Path) -> None:
    dev = ["--eval-file", str(workspace / "dev.tsv"), "--max-length", "32"]
    code, output = _run("skip", "eval", str(trained_run), *dev)
    assert code == 0, output
    evaluation = json.loads((trained_run / "eval.json").read_text())
    results = json.loads((trained_run / "results.json").read_text())
    assert evaluation["accuracy"] == results["hadskip"]["accuracy"]
    code, output = _run("skip", "bench", str(trained_run), *dev, "--batch-size", "8")
    assert code == 0, output
    bench = json.loads((trained_run / "bench.json").read_text())
    assert bench["full_examples_per_s"] > 0 and bench["hadskip_examples_per_s"] > 0
    assert bench["usage"] == pytest.approx(evaluation["usage"])


@pytest.mark.parametrize(
    "args, message",
    [
        (["--budget", "1.5"], "budget=1.5 is invalid"),
        (["--task", "sst2", "--glue-dir", "/nonexistent"], "no SST-2 data"),
        ([], "no data"),
    ],
)
def test_user_errors_are_one_line(workspace: Path, args: list[str], message: str) -> None:
    base = ["skip", "train", "--model", str(workspace / "base"), "--output", str(workspace / "bad")]
    if "--task" not in args and args:
        base += ["--train-file", str(workspace / "train.tsv"), "--eval-file", str(workspace / "dev.tsv")]
    code, output = _run(*base, *args)
    assert code == 2 and message in output and output.count("\n") == 1, output


def test_eval_of_a_folder_that_is_not_a_run(tmp_path: Path, workspace: Path) -> None:
    code, output = _run("skip", "eval", str(tmp_path), "--eval-file", str(workspace / "dev.tsv"))
    assert code == 2 and "not a HadSkip run folder" in output
