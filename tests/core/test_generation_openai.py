"""The OpenAI-compatible backend against a real local HTTP server with scripted replies."""

from __future__ import annotations

import logging
import socket
import time
from pathlib import Path

import pytest

from fake_openai import FakeServer, Reply, completion, echo
from lmforge.core.errors import BackendError, LmforgeError
from lmforge.core.generation.base import GenerationConfig, Prompt, derive_seed
from lmforge.core.generation.cache import ResponseCache
from lmforge.core.generation.openai import OpenAIGenerator

KEY_ENV = "LMFORGE_TEST_OPENAI_KEY"
SECRET = "sk-test-SECRET-value-42"


@pytest.fixture
def server(openai_server: FakeServer) -> FakeServer:
    return openai_server


def make(server: FakeServer, **kwargs: object) -> OpenAIGenerator:
    options: dict = {"timeout": 5.0, "max_retries": 2, "backoff_base": 0.001, "backoff_max": 0.01} | kwargs
    return OpenAIGenerator(base_url=options.pop("base_url", server.url), model="test-model", **options)


def test_success_sends_the_expected_request(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, SECRET)
    gen = make(server, api_key_env=KEY_ENV)
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    out = gen.generate([messages], GenerationConfig(max_new_tokens=7, stop=("END",)))
    assert out == [["echo:hi|seed=None"]]
    (request,) = server.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["authorization"] == f"Bearer {SECRET}"
    assert request["body"] == {
        "model": "test-model",
        "messages": messages,
        "max_tokens": 7,
        "temperature": 0.0,
        "top_p": 1.0,
        "n": 1,
        "stop": ["END"],
    }  # greedy: no seed

    out = gen.generate(["hi"], GenerationConfig(max_new_tokens=5, temperature=0.7, top_p=0.9, seed=3))
    seed = derive_seed(3, Prompt.of("hi").id, 0)
    assert out == [[f"echo:hi|seed={seed}"]]
    body = server.bodies[1]
    assert body["seed"] == seed and body["temperature"] == 0.7 and body["top_p"] == 0.9
    assert "stop" not in body


def test_no_key_means_no_authorization_and_extra_body_is_merged(server: FakeServer) -> None:
    gen = make(server, extra_body={"top_k": 20, "max_tokens": 9})
    gen.generate(["hi"], GenerationConfig(max_new_tokens=5))
    (request,) = server.requests
    assert request["authorization"] is None
    assert request["body"]["top_k"] == 20 and request["body"]["max_tokens"] == 9


def test_model_id_and_backend(server: FakeServer) -> None:
    gen = make(server, base_url=server.url + "/")
    assert gen.backend == "openai"
    assert gen.model_id == f"{server.url}|test-model"
    assert gen.url == f"{server.url}/chat/completions"


def test_429_is_retried(server: FakeServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv(KEY_ENV, SECRET)
    server.behaviour = lambda n, body: Reply(429, {"error": {"message": "slow down"}}) if n == 0 else echo(n, body)
    with caplog.at_level(logging.DEBUG, logger="lmforge.core.generation.openai"):
        out = make(server, api_key_env=KEY_ENV).generate(["hi"], GenerationConfig(max_new_tokens=5))
    assert out == [["echo:hi|seed=None"]]
    assert len(server.requests) == 2
    assert "429" in caplog.text
    assert SECRET not in caplog.text


def test_retry_after_is_honoured_and_capped(server: FakeServer) -> None:
    wait = {"value": "0.4"}
    server.behaviour = lambda n, body: (
        Reply(429, headers={"Retry-After": wait["value"]}) if n % 2 == 0 else echo(n, body)
    )
    start = time.monotonic()
    make(server, backoff_max=1.0).generate(["a"], GenerationConfig(max_new_tokens=5))
    assert time.monotonic() - start >= 0.4

    wait["value"] = "100"  # capped at backoff_max
    start = time.monotonic()
    make(server, backoff_max=0.05).generate(["b"], GenerationConfig(max_new_tokens=5))
    assert time.monotonic() - start < 2
    assert len(server.requests) == 4


def test_5xx_beyond_max_retries_gives_up(server: FakeServer) -> None:
    server.behaviour = lambda n, body: Reply(500, {"error": {"message": "boom"}})
    gen = make(server, max_retries=2)
    with pytest.raises(BackendError) as info:
        gen.generate(["hi"], GenerationConfig(max_new_tokens=5))
    message = str(info.value)
    assert "HTTP 500" in message and "boom" in message
    assert "3 attempts" in message and gen.url in message
    assert len(server.requests) == 3


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failure_is_not_retried_and_hides_the_key(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch, status: int
) -> None:
    monkeypatch.setenv(KEY_ENV, SECRET)
    # Some servers echo the rejected credential; it must still not reach the message.
    server.behaviour = lambda n, body: Reply(status, {"error": {"message": f"Incorrect API key provided: {SECRET}"}})
    gen = make(server, api_key_env=KEY_ENV)
    with pytest.raises(BackendError) as info:
        gen.generate(["hi"], GenerationConfig(max_new_tokens=5))
    message = str(info.value)
    assert message.startswith(f"{status} ") and KEY_ENV in message
    assert SECRET not in message and SECRET not in repr(gen) and SECRET not in repr(info.value)
    assert "\n" not in message
    assert len(server.requests) == 1


def test_auth_failure_without_key_says_so(server: FakeServer) -> None:
    server.behaviour = lambda n, body: Reply(401, {"error": {"message": "missing key"}})
    with pytest.raises(BackendError, match="no API key configured; pass --api-key-env"):
        make(server).generate(["hi"], GenerationConfig(max_new_tokens=5))
    assert len(server.requests) == 1


def test_404_points_at_base_url_and_model(server: FakeServer) -> None:
    gen = make(server, base_url=server.url.removesuffix("/v1"))  # a common mistake: no /v1
    with pytest.raises(BackendError) as info:
        gen.generate(["hi"], GenerationConfig(max_new_tokens=5))
    message = str(info.value)
    assert message.startswith(f"404 from {gen.url}")
    assert "--base-url" in message and "/v1" in message and "'test-model'" in message
    assert len(server.requests) == 1


def test_other_4xx_shows_the_server_message_on_one_line(server: FakeServer) -> None:
    long = "max_tokens is too large\nfor this model " + "x" * 500
    server.behaviour = lambda n, body: Reply(400, {"error": {"message": long, "type": "invalid_request_error"}})
    with pytest.raises(BackendError) as info:
        make(server).generate(["hi"], GenerationConfig(max_new_tokens=5))
    message = str(info.value)
    assert message.startswith("400 ") and "max_tokens is too large for this model" in message
    assert "\n" not in message and "x" * 200 not in message
    assert len(server.requests) == 1


def test_redirect_is_refused(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, SECRET)
    server.behaviour = lambda n, body: Reply(307, "", {"Location": "http://127.0.0.1:1/v1/chat/completions"})
    with pytest.raises(BackendError, match=r"redirects to http://127\.0\.0\.1:1/"):
        make(server, api_key_env=KEY_ENV).generate(["hi"], GenerationConfig(max_new_tokens=5))
    assert len(server.requests) == 1


def test_hang_times_out(server: FakeServer) -> None:
    server.behaviour = lambda n, body: Reply(body=completion("late"), sleep=2.0)
    start = time.monotonic()
    with pytest.raises(BackendError) as info:
        make(server, timeout=0.3, max_retries=1).generate(["hi"], GenerationConfig(max_new_tokens=5))
    assert time.monotonic() - start < 1.5
    assert "time-out" in str(info.value) and "2 attempts" in str(info.value)
    assert len(server.requests) == 2


def test_connection_refused_is_retried_then_reported() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    gen = OpenAIGenerator(
        base_url=f"http://127.0.0.1:{port}/v1", model="m", max_retries=1, backoff_base=0.001, backoff_max=0.01
    )
    with pytest.raises(BackendError, match=r"connection error .*\(2 attempts"):
        gen.generate(["hi"], GenerationConfig(max_new_tokens=5))


def test_concurrency_is_bounded(server: FakeServer) -> None:
    server.behaviour = lambda n, body: Reply(body=echo(n, body).body, sleep=0.15)
    prompts = [f"p{i}" for i in range(6)]
    out = make(server, concurrency=2).generate(prompts, GenerationConfig(max_new_tokens=5))
    assert out == [[f"echo:p{i}|seed=None"] for i in range(6)]  # each text goes back to its own prompt
    assert len(server.requests) == 6
    assert server.max_in_flight == 2


def test_cache_seeds_and_stop_truncation(server: FakeServer, tmp_path: Path) -> None:
    server.behaviour = lambda n, body: Reply(body=completion(f"text {body['seed']} STOP tail"))
    config = GenerationConfig(max_new_tokens=5, temperature=0.7, n=3, stop=("STOP",))
    cache = ResponseCache(tmp_path / "c.sqlite")
    first = make(server, cache=cache).generate(["a"], config)
    seeds = [derive_seed(0, Prompt.of("a").id, j) for j in range(3)]
    assert sorted(body["seed"] for body in server.bodies) == sorted(seeds)  # requests may arrive in any order
    assert len(set(seeds)) == 3
    assert first == [[f"text {s} " for s in seeds]]  # but each text is the sample of its own seed

    again = make(server, cache=ResponseCache(tmp_path / "c.sqlite")).generate(["a"], config)
    assert again == first
    assert len(server.requests) == 3  # all served from the cache


def test_null_content_is_empty_and_malformed_reply_is_reported(server: FakeServer) -> None:
    server.behaviour = lambda n, body: Reply(body=completion(None))
    assert make(server).generate(["hi"], GenerationConfig(max_new_tokens=5)) == [[""]]
    server.behaviour = lambda n, body: Reply(body="<html>proxy login</html>")
    with pytest.raises(BackendError, match=r"unexpected response .*proxy login"):
        make(server).generate(["hi"], GenerationConfig(max_new_tokens=5))


def test_missing_key_variable_is_named(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(BackendError, match=KEY_ENV):
        make(server, api_key_env=KEY_ENV).generate(["hi"], GenerationConfig(max_new_tokens=5))
    assert server.requests == []


@pytest.mark.parametrize(
    "bad",
    [{"base_url": "localhost:8000/v1"}, {"concurrency": 0}, {"timeout": 0}, {"max_retries": -1}],
)
def test_bad_settings_are_rejected(bad: dict) -> None:
    options: dict = {"base_url": "http://127.0.0.1:8000/v1"} | bad
    with pytest.raises(LmforgeError):
        OpenAIGenerator(model="m", **options)
