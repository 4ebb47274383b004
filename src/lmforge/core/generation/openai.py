"""OpenAI-compatible HTTP backend (OpenAI, vLLM, llama.cpp server, TGI, Ollama ...).

Only the standard library is used, so talking to a server adds no dependency. Each
:class:`~lmforge.core.generation.base.SampleJob` is one ``/chat/completions`` request with
``n=1`` and the job's own seed, so a sample's text does not depend on which other samples
were cached or batched with it. Transient failures (429, 5xx, time-outs, dropped
connections) are retried with capped exponential back-off; anything the user must fix
(bad key, wrong URL or model, rejected parameters) fails at once with a one-line
:class:`~lmforge.core.errors.BackendError`. The API key is read from an environment
variable when requests are made and is never stored on the object, logged or put in a message.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import random
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

from lmforge.core.errors import BackendError, LmforgeError
from lmforge.core.generation.base import GenerationConfig, Generator, SampleJob

log = logging.getLogger(__name__)

_MESSAGE_CHARS = 200  # how much of a server's error text goes into a one-line message


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse redirects: urllib would resend the Authorization header to wherever they point."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


class _Cancelled(Exception):
    """Raised in a worker when another job already failed, so it stops instead of retrying."""


class _Retryable(Exception):
    """A failure worth retrying; ``delay`` is the server's ``Retry-After`` when it gave one."""

    def __init__(self, what: str, delay: float | None = None) -> None:
        super().__init__(what)
        self.what = what
        self.delay = delay


@dataclass(kw_only=True)
class OpenAIGenerator(Generator):
    """Generate through any server that speaks the OpenAI chat-completions API.

    ``api_key_env`` names the environment variable that holds the key (the key itself is
    never an argument, so it cannot end up in configs, logs or reprs).
    """

    base_url: str
    model: str
    api_key_env: str | None = None
    concurrency: int = 8
    timeout: float = 120.0
    max_retries: int = 5
    backoff_base: float = 1.0
    backoff_max: float = 30.0
    extra_body: dict | None = None
    backend: str = field(default="openai", init=False)

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise LmforgeError(f"base URL must start with http:// or https://, got {self.base_url!r}")
        if not self.model:
            raise LmforgeError("an OpenAI-compatible backend needs a model name")
        if self.concurrency < 1:
            raise LmforgeError(f"concurrency must be >= 1, got {self.concurrency}")
        if self.timeout <= 0:
            raise LmforgeError(f"timeout must be > 0 seconds, got {self.timeout}")
        if self.max_retries < 0:
            raise LmforgeError(f"max_retries must be >= 0, got {self.max_retries}")

    @property
    def model_id(self) -> str:
        return f"{self.base_url.rstrip('/')}|{self.model}"

    @property
    def url(self) -> str:
        return f"{self.base_url.rstrip('/')}/chat/completions"

    def _api_key(self) -> str | None:
        """Read the key now (not at construction) so a long-lived object sees a rotated key."""
        if self.api_key_env is None:
            return None
        key = os.environ.get(self.api_key_env)
        if not key:
            raise BackendError(
                f"environment variable {self.api_key_env} is not set (or empty); "
                f"export it with your API key or drop --api-key-env"
            )
        return key

    def _body(self, job: SampleJob, config: GenerationConfig) -> dict:
        body: dict = {
            "model": self.model,
            "messages": list(job.prompt.messages),
            "max_tokens": config.max_new_tokens,
            "temperature": config.temperature,
            "top_p": config.top_p,
            "n": 1,
        }
        if not config.greedy:
            body["seed"] = job.seed
        if config.stop:
            body["stop"] = list(config.stop)
        if self.extra_body:
            body.update(self.extra_body)
        return body

    def _run(self, jobs: list[SampleJob], config: GenerationConfig, done: Callable[[int, str], None]) -> None:
        key = self._api_key()
        headers = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": "lmforge"}
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        stop = threading.Event()
        pool = ThreadPoolExecutor(max_workers=min(self.concurrency, len(jobs)), thread_name_prefix="lmforge-openai")
        try:
            futures = {
                pool.submit(self._complete, json.dumps(self._body(job, config)).encode(), headers, key, stop): i
                for i, job in enumerate(jobs)
            }
            # ``done`` runs here, in the calling thread, so the cache is written from one thread.
            for future in as_completed(futures):
                done(futures[future], future.result())
        finally:
            # On the first failure (or Ctrl-C) stop queued jobs and workers waiting to retry.
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)

    def _complete(self, body: bytes, headers: dict[str, str], key: str | None, stop: threading.Event) -> str:
        """One job: POST, retrying transient failures, and return the completion text."""
        attempts = self.max_retries + 1
        attempt = 0
        while True:
            if stop.is_set():
                raise _Cancelled
            try:
                return self._post(body, headers, key)
            except _Retryable as failure:
                if attempt == self.max_retries:
                    noun = "attempt" if attempts == 1 else "attempts"
                    raise BackendError(f"{failure.what} from {self.url} ({attempts} {noun}, giving up)") from None
                delay = min(self.backoff_max, self.backoff_base * 2**attempt) * random.uniform(0.5, 1)
                if failure.delay is not None:
                    delay = min(self.backoff_max, failure.delay)
                log.warning(
                    "%s from %s; retry %d/%d in %.2f s", failure.what, self.url, attempt + 1, self.max_retries, delay
                )
                if stop.wait(delay):
                    raise _Cancelled from None
                attempt += 1

    def _post(self, body: bytes, headers: dict[str, str], key: str | None) -> str:
        """One HTTP attempt; raises :class:`_Retryable` for failures worth another try."""
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with _OPENER.open(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            with error:
                detail = _scrub(_server_message(error), key)
                status, retry_after = error.code, error.headers.get("Retry-After")
            if status == 429 or status >= 500:
                raise _Retryable(f"HTTP {status}" + (f" ({detail})" if detail else ""), _seconds(retry_after)) from None
            if 300 <= status < 400:
                detail = f"the server redirects to {error.headers.get('Location')}; use that as --base-url"
            raise BackendError(self._refusal(status, error.reason, detail)) from None
        except TimeoutError:
            raise _Retryable(f"no response within {self.timeout:g} s (time-out)") from None
        except urllib.error.URLError as error:
            if isinstance(error.reason, TimeoutError):
                raise _Retryable(f"no response within {self.timeout:g} s (time-out)") from None
            raise _Retryable(f"connection error ({error.reason})") from None
        except (OSError, http.client.HTTPException) as error:
            raise _Retryable(f"connection error ({type(error).__name__}: {error})") from None
        log.debug("%s answered %d bytes", self.url, len(raw))
        return self._text(raw)

    def _refusal(self, status: int, reason: object, detail: str) -> str:
        """The one-line message for a 4xx the user must fix; says what to check."""
        suffix = f" (server said: {detail})" if detail else ""
        if status in (401, 403):
            where = (
                f"check the API key in environment variable {self.api_key_env}"
                if self.api_key_env
                else "no API key configured; pass --api-key-env"
            )
            return f"{status} {reason} from {self.url}: {where}{suffix}"
        if status == 404:
            check = f"check --base-url (it should end in /v1) and the model name '{self.model}'"
            return f"404 from {self.url}: {check}{suffix}"
        return f"{status} {reason} from {self.url}: {detail or 'request rejected'}"

    def _text(self, raw: bytes) -> str:
        try:
            content = json.loads(raw)["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            snippet = raw[:_MESSAGE_CHARS].decode("utf-8", "replace").replace("\n", " ")
            raise BackendError(
                f"unexpected response from {self.url} (no choices[0].message.content): {snippet}"
            ) from None
        return content if content is not None else ""


def _server_message(error: urllib.error.HTTPError) -> str:
    """The error text a server put in its body (OpenAI ``{"error": {"message"}}`` or plain), one line."""
    try:
        raw = error.read()
    except (OSError, http.client.HTTPException):
        return ""
    text = raw.decode("utf-8", "replace")
    try:
        payload = json.loads(text)
    except ValueError:
        payload = text
    if isinstance(payload, dict):
        payload = payload.get("error", payload.get("detail", payload.get("message", payload)))
        if isinstance(payload, dict):
            payload = payload.get("message", payload)
    if not payload:
        return ""
    message = " ".join((payload if isinstance(payload, str) else json.dumps(payload)).split())
    return message if len(message) <= _MESSAGE_CHARS else message[: _MESSAGE_CHARS - 3] + "..."


def _scrub(text: str, key: str | None) -> str:
    """Remove the key from server text: some servers echo the credential they rejected."""
    return text.replace(key, "***") if key else text


def _seconds(retry_after: str | None) -> float | None:
    """A numeric ``Retry-After`` in seconds; ``None`` for absent or HTTP-date values."""
    try:
        return max(0.0, float(retry_after)) if retry_after is not None else None
    except ValueError:
        return None
