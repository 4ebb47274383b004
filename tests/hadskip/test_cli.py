"""`lmforge skip train/eval/bench` end to end on a tiny local model and TSV files."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from transformers import PreTrainedTokenizerFast
from typer.testing import CliRunner

from lmforge.cli import app
from lmforge.hadskip import HadSkipConfig, HadSkipModel
from lmforge.hadskip.compare import run_compare
from lmforge.hadskip.data import load_files
from lmforge.hadskip.run import RunSettings

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


def test_strict_eval_caps_a_run_trained_without_the_cap(trained_run: Path, workspace: Path) -> None:
    dev = ["--eval-file", str(workspace / "dev.tsv"), "--max-length", "32"]
    code, output = _run("skip", "eval", str(trained_run), *dev, "--strict")
    assert code == 0, output
    evaluation = json.loads((trained_run / "eval-strict.json").read_text())
    assert evaluation["strict_budget"] is True
    assert max(n for n, count in enumerate(evaluation["executed_layers_histogram"]) if count) <= 2  # ceil(0.5·4)
    assert HadSkipModel.from_pretrained(trained_run).hadskip_config.strict_budget is False  # the run is unchanged


@pytest.mark.parametrize(
    "args, message",
    [
        (["--budget", "1.5"], "budget=1.5 is invalid"),
        (["--task", "sst2", "--glue-dir", "/nonexistent"], "no SST-2 data"),
        ([], "no data"),
        (["--budget-mode", "l0"], "budget_mode='l0' is invalid"),
        (["--gate-input-norm", "layer", "--compare"], "gate_input_norm='layer' is invalid"),
    ],
)
def test_user_errors_are_one_line(workspace: Path, args: list[str], message: str) -> None:
    command = "compare" if "--compare" in args else "train"
    args = [a for a in args if a != "--compare"]
    base = ["skip", command, "--model", str(workspace / "base"), "--output", str(workspace / "bad")]
    if "--task" not in args and args:
        base += ["--train-file", str(workspace / "train.tsv"), "--eval-file", str(workspace / "dev.tsv")]
    code, output = _run(*base, *args)
    assert code == 2 and message in output and output.count("\n") == 1, output


def test_eval_of_a_folder_that_is_not_a_run(tmp_path: Path, workspace: Path) -> None:
    code, output = _run("skip", "eval", str(tmp_path), "--eval-file", str(workspace / "dev.tsv"))
    assert code == 2 and "not a HadSkip run folder" in output


def test_compare_trains_every_method_from_a_yaml_config_and_resumes(workspace: Path, tmp_path: Path) -> None:
    config = tmp_path / "compare.yaml"
    config.write_text(
        f"model: {workspace / 'base'}\ntrain-file: {workspace / 'train.tsv'}\neval_file: {workspace / 'dev.tsv'}\n"
        "epochs: 1\nteacher-epochs: 1\nbatch-size: 16\nlr: 1.0e-3\ngate-lr: 1.0e-2\nmax-length: 32\n"
        "budget-mode: two_sided\ninit-examples: 32\n",
        encoding="utf-8",
    )
    code, output = _run("skip", "compare", "--config", str(config), "--output", str(tmp_path / "cmp"))
    assert code == 0, output
    rows = {row["method"]: row for row in json.loads((tmp_path / "cmp" / "compare.json").read_text())}
    assert set(rows) == {"full", "hadskip", "truncate", "uniform", "early_exit"}
    assert rows["full"]["usage"] == 1.0 and rows["truncate"]["usage"] == rows["uniform"]["usage"] == 0.5
    assert rows["early_exit"]["usage"] <= 0.5 + 1e-9 and rows["uniform"]["kept"] == [1, 3]
    assert json.loads((tmp_path / "cmp" / "hadskip" / "hadskip_config.json").read_text())["budget_mode"] == "two_sided"
    assert (tmp_path / "cmp" / "compare.png").stat().st_size > 0
    assert "static first-k" in output and "early exit" in output
    assert all(row["examples_per_s"] > 0 and row["speed_ratio"] > 0 for row in rows.values())
    assert (tmp_path / "cmp" / "early_exit" / "early_exit.safetensors").is_file()
    # A later speed pass rebuilds every method's inference model from what it saved.
    data = load_files(workspace / "train.tsv", workspace / "dev.tsv", ["sentence"], "label")
    settings = RunSettings(epochs=1, teacher_epochs=1, batch_size=16, max_length=32)
    folder = tmp_path / "cmp"
    again = run_compare(str(workspace / "base"), data, folder, HadSkipConfig(), settings, remeasure_speed=True)
    assert all(row["examples_per_s"] > 0 for row in again) and len(again) == 5
    (tmp_path / "cmp" / "teacher" / "model.safetensors").unlink()  # a rerun must not need anything again
    code, again = _run("skip", "compare", "--config", str(config), "--output", str(tmp_path / "cmp"))
    assert code == 0 and "train_runtime" not in again and "static uniform drop" in again, again


def test_dev_commands_read_a_yaml_config_and_reject_unknown_keys(
    trained_run: Path, workspace: Path, tmp_path: Path
) -> None:
    good, bad = tmp_path / "dev.yaml", tmp_path / "bad.yaml"
    good.write_text(f"eval-file: {workspace / 'dev.tsv'}\nmax-length: 32\nlimit: 8\n", encoding="utf-8")
    bad.write_text("eval-file: x.tsv\nepochs: 3\n", encoding="utf-8")
    code, output = _run("skip", "eval", str(trained_run), "--config", str(good))
    assert code == 0, output
    assert json.loads((trained_run / "eval.json").read_text())["examples"] == 8
    code, output = _run("skip", "bench", str(trained_run), "--config", str(bad))
    assert code == 2 and "epochs" in output and output.count("\n") == 1, output
