"""Rescoring and judge agreement on a small fixture in the official layout."""

from __future__ import annotations

import pytest

from lmforge.core.errors import DataError, LmforgeError
from lmforge.distill.audit import NO_STRICT, judge_agreement, rescore
from lmforge.distill.facts import load_facts
from lmforge.distill.judges import OfflineJudge
from lmforge.distill.official import discover, find_data_dir, model_key


def test_names_are_paired_across_folders(official_dir):
    runs = {r.name: r for r in discover(official_dir)}  # found below the given folder
    assert set(runs) == {"Phi4", "qwen2.5-72b-instruct", "gemini-1.5-pro-flash"}
    phi = runs["Phi4"]
    assert (phi.attack.name, phi.loose.name, phi.strict.name) == (
        "gpt_GPT_Phi4.jsonl",
        "GPT_phi-4_0.38.csv",
        "phi-4_0.25.csv",
    )
    assert runs["gemini-1.5-pro-flash"].strict.name == "GPT_gemini-1.5-pro_0.002.csv"
    assert model_key("llama-3.1-70B_Instruct") == model_key("llama3.1-70b-instruct")


def test_rescore_counts_over_all_responses(official_dir):
    rows = {r["model"]: r for r in rescore(official_dir, seed=0)}
    phi = rows["Phi4"]
    assert (phi["loose_hits"], phi["strict_hits"], phi["hard_hits"], phi["n"]) == (3, 2, 1, 8)
    assert (phi["loose"], phi["strict"], phi["hard"]) == pytest.approx((3 / 8, 2 / 8, 1 / 8))
    lo, hi = phi["loose_ci"]
    assert 0 <= lo <= 3 / 8 <= hi <= 1
    qwen = rows["qwen2.5-72b-instruct"]  # the strict file is a copy of the loose file: reported, not counted
    assert qwen["strict"] is None and qwen["hard"] is None and NO_STRICT in qwen["note"]
    gemini = rows["gemini-1.5-pro-flash"]  # score files only: n = 1000
    assert (gemini["n"], gemini["loose_hits"], gemini["strict_hits"]) == (1000, 3, 1)
    assert gemini["loose"] == pytest.approx(0.003) and "no raw run" in gemini["note"]
    fixed_n = {r["model"]: r for r in rescore(official_dir, n=1000, ci=False)}
    assert fixed_n["Phi4"]["loose"] == pytest.approx(0.003) and "loose_ci" not in fixed_n["Phi4"]


def test_agreement_with_official_labels(official_dir):
    book = load_facts()
    report = judge_agreement(official_dir, OfflineJudge(book, "paper"), models=["phi-4"], book=book)
    phi = report["models"]["Phi4"]
    # the judge finds both OpenAI claims; the pirate line is an official loose hit it does not flag
    assert (phi["strict"]["tp"], phi["strict"]["fp"], phi["strict"]["fn"]) == (2, 0, 0)
    assert (phi["loose"]["tp"], phi["loose"]["fn"]) == (2, 1)
    assert report["pooled"]["strict"]["kappa"] == 1.0
    whole = judge_agreement(official_dir, OfflineJudge(book, "paper"), book=book)
    assert whole["models"]["qwen2.5-72b-instruct"]["strict"] is None  # no strict labels exist
    with pytest.raises(LmforgeError, match="no raw run for nope"):
        judge_agreement(official_dir, OfflineJudge(book), models=["nope"], book=book)


def test_bad_layouts_fail_with_a_clear_message(tmp_path, official_dir):
    with pytest.raises(LmforgeError, match="not a directory"):
        find_data_dir(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(LmforgeError, match="expected a folder with attack_result"):
        find_data_dir(tmp_path / "empty")
    bad = next(official_dir.rglob("gpt_GPT_Phi4.jsonl"))
    bad.write_text('{"jailbreak_prompt": "t", "query": "q", "target_responses": ["x"], "eval_results": "maybe"}\n')
    with pytest.raises(DataError, match="eval_results"):
        rescore(official_dir)
