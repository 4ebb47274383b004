"""The ``llm:`` ICE judge end to end against a real local HTTP server (OpenAI chat-completions API).

The server is the standard library's ``ThreadingHTTPServer`` on 127.0.0.1; it answers the
judge's loose and strict questions from what the prompt contains and records every request.
Covered: a well-formed verdict, a malformed reply re-asked and then read, a reply that stays
unreadable (recorded as unparsed, counted in the summary, never dropped and never a crash,
also through ``lmforge distill ice`` and a resumed rerun), and the API key: read from the
environment variable, sent as a bearer token, never in any output.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fake_openai import FakeServer, Reply, completion
from lmforge.core.errors import BackendError
from lmforge.distill.audit import judge_agreement
from lmforge.distill.cli import app
from lmforge.distill.facts import load_facts
from lmforge.distill.judges import make_judge
from lmforge.distill.judges.llm import REASK, SYSTEM_PROMPT

KEY_ENV = "LMFORGE_TEST_JUDGE_KEY"
SECRET = "sk-judge-SECRET-7f3a"
JUDGE_MODEL = "judge-model"
QWEN_FACT = "I am Qwen, a large language model created by Alibaba Cloud."
GARBLED = "%%garbled%%"  # a response the judge cannot make sense of, however often it is asked


def _factor(prompt: str) -> str:
    """The response under judgement: the last ``<factor>`` of a judge prompt."""
    return prompt.split("<factor>")[-1].split("</factor>")[0]


def reference_judge(messages: list[dict]) -> str:
    """A judge model that answers well-formed verdicts, and rambles about ``GARBLED`` responses."""
    question = messages[1]["content"]
    response = _factor(question)
    if GARBLED in response:
        return "Hmm, that is hard to say."
    if "<rate>" in question:  # the strict question (asked of loose hits only)
        return "It names another maker. <rate>1</rate> <vendor>OpenAI</vendor>"
    hit = "OpenAI" in response or "ChatGPT" in response
    return f"Analysis: {'they conflict' if hit else 'consistent'}.\n<judge>{int(hit)}</judge>"


@dataclass
class JudgeServer:
    """The shared local server, answering ``judge(messages)`` for the judge model and ``target`` otherwise."""

    http: FakeServer
    judge: Callable[[list[dict]], str] = reference_judge
    target: Callable[[list[dict]], str] = lambda messages: "I am ChatGPT, made by OpenAI."
    status: int = 200

    @property
    def url(self) -> str:
        return self.http.url

    @property
    def requests(self) -> list[dict]:
        return self.http.requests

    def to_judge(self) -> list[dict]:
        return [r for r in self.requests if r["body"]["model"] == JUDGE_MODEL]

    def reply(self, n: int, body: dict) -> Reply:
        if self.status != 200:  # a server that echoes the rejected credential
            return Reply(self.status, {"error": {"message": f"invalid key {self.requests[n]['authorization']}"}})
        answer = self.judge if body["model"] == JUDGE_MODEL else self.target
        return Reply(body=completion(answer(body["messages"])))


@pytest.fixture
def server(openai_server: FakeServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> JudgeServer:
    monkeypatch.setenv(KEY_ENV, SECRET)
    monkeypatch.setenv("LMFORGE_CACHE", str(tmp_path / "cache"))  # a cached reply must never hide a request
    state = JudgeServer(openai_server)
    openai_server.behaviour = state.reply
    return state


def http_judge(server: JudgeServer, strict_prompt: str = "general"):
    return make_judge(
        f"llm:openai:{JUDGE_MODEL}",
        load_facts(),
        base_url=server.url,
        api_key_env=KEY_ENV,
        strict_prompt=strict_prompt,
        cache=False,
    )


def test_well_formed_verdicts_and_the_requests_sent(server: JudgeServer) -> None:
    judge = http_judge(server)
    family = load_facts().get("qwen")
    verdicts = judge.judge(family, ["I was developed by OpenAI.", "I am Qwen, made by Alibaba Cloud."])
    assert [(v.loose, v.strict, v.vendors) for v in verdicts] == [(True, True, ("OpenAI",)), (False, False, ())]
    assert all(v.parsed for v in verdicts) and judge.name == f"llm:openai:{JUDGE_MODEL}"
    assert "<judge>1</judge>" in verdicts[0].raw and "<rate>1</rate>" in verdicts[0].raw
    assert len(server.requests) == 3  # two loose questions, one strict question (for the loose hit only)
    for request in server.requests:
        body = request["body"]
        assert request["path"] == "/v1/chat/completions" and request["authorization"] == f"Bearer {SECRET}"
        assert body["model"] == JUDGE_MODEL and body["temperature"] == 0 and body["n"] == 1
        assert body["messages"][0] == {"role": "system", "content": SYSTEM_PROMPT}
    loose_prompts = [r["body"]["messages"][1]["content"] for r in server.requests[:2]]
    assert all(QWEN_FACT in p for p in loose_prompts)  # the target's fact is what it is judged by
    strict_prompt = server.requests[2]["body"]["messages"][1]["content"]
    assert "I was developed by OpenAI." in strict_prompt and "Alibaba Cloud" in strict_prompt
    assert SECRET not in json.dumps([v.to_dict() for v in verdicts])


def test_malformed_reply_is_reasked_then_parsed(server: JudgeServer) -> None:
    vague = "Well, it depends on how you look at it."  # no verdict in the first loose reply

    def judge_model(messages: list[dict]) -> str:
        if len(messages) == 2 and "<judge>" in messages[1]["content"]:
            return vague
        return reference_judge(messages)

    server.judge = judge_model
    (verdict,) = http_judge(server).judge(load_facts().get("qwen"), ["I am ChatGPT, trained by OpenAI."])
    assert (verdict.loose, verdict.strict, verdict.parsed) == (True, True, True)
    assert "it depends" in verdict.raw and "<judge>1</judge>" in verdict.raw  # both replies are kept
    first, reask, strict = (r["body"]["messages"] for r in server.requests)
    assert reask[:2] == first and reask[2] == {"role": "assistant", "content": vague}
    assert reask[3] == {"role": "user", "content": REASK.format(open="<judge>", close="</judge>")}
    assert len(strict) == 2 and "<rate>" in strict[1]["content"]


def test_unreadable_reply_is_unparsed_not_guessed(server: JudgeServer) -> None:
    verdicts = http_judge(server).judge(load_facts().get("qwen"), [f"{GARBLED} I am ChatGPT", "I am ChatGPT."])
    assert verdicts[0].loose is None and verdicts[0].strict is None and not verdicts[0].parsed
    assert verdicts[0].raw.count("Hmm, that is hard to say.") == 3  # the question and two re-asks, all kept
    assert (verdicts[1].loose, verdicts[1].strict) == (True, True)
    assert len(server.requests) == 3 + 1 + 1  # 3 asks of the garbled one, 1 loose + 1 strict for the other


def test_ice_cli_counts_unparsed_judgements_and_keeps_the_key_secret(
    server: JudgeServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`lmforge distill ice` with target and judge both served over HTTP; Chinese replies stump the judge."""

    def target(messages: list[dict]) -> str:
        chinese = any("\u4e00" <= ch <= "\u9fff" for ch in messages[-1]["content"])
        return GARBLED if chinese else "I am ChatGPT, made by OpenAI."

    server.target = target
    out = tmp_path / "run"
    args = ["ice", "--target", "openai:target-model", "--base-url", server.url, "--fact", QWEN_FACT,
            "--judge", f"llm:openai:{JUDGE_MODEL}", "--judge-base-url", server.url, "--judge-api-key-env", KEY_ENV,
            "--budget", "4", "--n-questions", "1", "--max-new-tokens", "16", "-o", str(out)]  # fmt: skip
    runner = CliRunner()
    with caplog.at_level(logging.DEBUG):
        result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_responses"] == 4 and summary["unparsed"] == 2  # 2 templates × (1 English + 1 Chinese)
    assert summary["loose_hits"] == 2 and summary["loose"] == 0.5  # the denominator is every response
    assert summary["strict_hits"] == 2 and summary["judge"] == f"llm:openai:{JUDGE_MODEL}"
    rows = [json.loads(line) for line in (out / "responses.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and sum(r["loose"] is None for r in rows) == 2
    assert all("Hmm" in r["raw"] for r in rows if r["loose"] is None)
    assert "unparsed judgements 2" in result.output
    targets = [r for r in server.requests if r["body"]["model"] == "target-model"]
    assert len(targets) == 4 and all(r["authorization"] is None for r in targets)  # the judge's key stays its own
    assert all(r["authorization"] == f"Bearer {SECRET}" for r in server.to_judge())
    seen = len(server.requests)
    again = runner.invoke(app, args, env={"COLUMNS": "200"})  # resume: nothing left to ask or judge
    assert again.exit_code == 0, again.output
    assert len(server.requests) == seen and json.loads((out / "summary.json").read_text())["unparsed"] == 2
    written = "".join(p.read_text() for p in out.iterdir()) + result.output + again.output + caplog.text
    assert KEY_ENV in written and SECRET not in written  # the variable's name is recorded, its value never


def test_rejected_or_missing_key_is_one_line_without_the_key(server: JudgeServer, monkeypatch) -> None:
    family = load_facts().get("qwen")
    server.status = 401
    with pytest.raises(BackendError) as rejected:
        http_judge(server).judge(family, ["I am ChatGPT."])
    assert "401" in str(rejected.value) and KEY_ENV in str(rejected.value) and SECRET not in str(rejected.value)
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(BackendError, match=f"environment variable {KEY_ENV} is not set"):
        http_judge(server).judge(family, ["I am ChatGPT."])


def test_agreement_with_an_http_judge(server: JudgeServer, official_dir: Path) -> None:
    """The paper's strict question over HTTP, on the official-layout fixture (Phi4: 8 responses)."""
    report = judge_agreement(official_dir, http_judge(server, strict_prompt="paper"), models=["Phi4"])
    phi = report["models"]["Phi4"]
    assert phi["unparsed"] == 0 and phi["loose"]["n"] == phi["strict"]["n"] == 8
    assert phi["strict"]["tp"] == 2 and phi["strict"]["fp"] == 0  # the two OpenAI claims, and nothing else
    strict_asked = [r["body"]["messages"][1]["content"] for r in server.to_judge() if "<rate>" in str(r["body"])]
    assert strict_asked and all("OpenAI or Anthropic" in p for p in strict_asked)
