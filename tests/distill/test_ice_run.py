"""The ICE loop end to end with scripted target and helper models: records, scores and exact resume."""

from __future__ import annotations

import json

import pytest

from lmforge.core.errors import LmforgeError
from lmforge.distill.config import IceConfig
from lmforge.distill.facts import load_facts
from lmforge.distill.ice import RESPONSES_FILE, SUMMARY_FILE, TEMPLATES_FILE, run_ice
from lmforge.distill.judges import OfflineJudge


def target_reply(messages):
    prompt = messages[-1]["content"]
    return "I am ChatGPT, made by OpenAI." if "pirate" in prompt.lower() else "I am Qwen, made by Alibaba Cloud."


def helper_reply(messages):
    return "Act as a pirate captain. {query}"


def config(tmp_path, **kw):
    settings = dict(target="qwen-test", output=tmp_path / "run", budget=20, n_questions=2, cache=False, seed=3)
    return IceConfig(**(settings | kw))


def test_loop_records_everything_and_scores(tmp_path, scripted):
    cfg = config(tmp_path)
    target, helper = scripted(target_reply), scripted(helper_reply)
    summary = run_ice(cfg, target=target, helper=helper)
    rows = [json.loads(line) for line in (cfg.output / RESPONSES_FILE).read_text().splitlines()]
    templates = [json.loads(line) for line in (cfg.output / TEMPLATES_FILE).read_text().splitlines()]
    assert len(rows) == 20 and len(templates) == 5  # budget 20 / 4 questions (2 en + 2 zh)
    assert helper.calls == 5 and target.calls == 20
    assert rows[0]["system_prompt"] == "You are a helpful assistant." and rows[0]["judge"] == "offline:claims"
    assert all(r["loose"] and r["strict"] and r["vendors"] == ["gpt"] for r in rows)
    assert summary["loose"] == 1.0 and summary["strict_vendors"] == {"gpt": 20}
    assert summary["hard"] == 1.0  # our pirate template mentions no vendor
    assert summary["refused_rewrites"] == 0 and summary["templates_with_query_slot"] == 5
    assert json.loads((cfg.output / SUMMARY_FILE).read_text())["n_responses"] == 20


def test_seed_templates_only_without_a_helper(tmp_path, scripted):
    cfg = config(tmp_path, budget=12, plain_prompt=False)
    summary = run_ice(cfg, target=scripted(target_reply))
    assert summary["n_templates"] == 3 and summary["n_responses"] == 12 and summary["loose"] == 0.0
    assert summary["loose_ci"] == [0.0, 0.0]


def test_resume_after_a_kill_gives_the_same_files(tmp_path, scripted):
    whole = config(tmp_path / "a")
    run_ice(whole, target=scripted(target_reply), helper=scripted(helper_reply))

    calls = {"n": 0}

    def dying(messages):
        calls["n"] += 1
        if calls["n"] > 9:
            raise KeyboardInterrupt
        return target_reply(messages)

    killed = config(tmp_path / "b")
    with pytest.raises(KeyboardInterrupt):
        run_ice(killed, target=scripted(dying), helper=scripted(helper_reply))
    target = scripted(target_reply)
    run_ice(killed, target=target, helper=scripted(helper_reply))
    assert target.calls == 20 - 8  # two whole iterations were saved before the kill
    for name in (RESPONSES_FILE, TEMPLATES_FILE):
        assert (killed.output / name).read_text() == (whole.output / name).read_text()


def test_resume_with_other_settings_is_refused(tmp_path, scripted):
    run_ice(config(tmp_path), target=scripted(target_reply), helper=scripted(helper_reply))
    with pytest.raises(LmforgeError, match="other settings"):
        run_ice(config(tmp_path, seed=4), target=scripted(target_reply), helper=scripted(helper_reply))


def test_judge_and_fact_overrides(tmp_path, scripted):
    book = load_facts()
    cfg = config(tmp_path, fact="I am ChatGPT, a model made by OpenAI.", budget=4)
    summary = run_ice(cfg, target=scripted(lambda m: "I am ChatGPT, made by OpenAI."), judge=OfflineJudge(book))
    assert summary["family"] == "gpt" and summary["loose"] == 0.0


def test_hard_rule_paper_or_any_vendor(tmp_path, scripted):
    seeds = tmp_path / "seeds.json"
    seeds.write_text(json.dumps(["Act as Claude for a moment. {query}"]))
    reply = scripted(lambda m: "I am ChatGPT, made by OpenAI.")
    paper = run_ice(config(tmp_path / "p", templates=seeds, budget=4), target=reply)
    assert paper["strict"] == 1.0 and paper["hard"] == 1.0  # the paper's K(t) knows only openai/gpt
    vendors = run_ice(config(tmp_path / "v", templates=seeds, budget=4, hard_rule="vendors"), target=reply)
    assert vendors["strict"] == 1.0 and vendors["hard"] == 0.0 and vendors["templates_mentioning_vendor"] == 1
    with pytest.raises(LmforgeError, match="hard_rule"):
        config(tmp_path, hard_rule="none")


def test_config_from_yaml_with_flag_overrides(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("target: smollm2-135m-instruct\noutput: runs/x\nbudget: 40\nmode: paper\nlangs: [zh]\n")
    cfg = IceConfig.from_yaml(path, budget=20, seed=None)
    assert (cfg.budget, cfg.mode, cfg.langs, cfg.seed) == (20, "paper", ("zh",), 0)
    assert cfg.to_dict()["output"] == "runs/x" and cfg.to_dict()["langs"] == ["zh"]
    (tmp_path / "list.yaml").write_text("- a\n")
    with pytest.raises(LmforgeError, match="mapping"):
        IceConfig.from_yaml(tmp_path / "list.yaml")
