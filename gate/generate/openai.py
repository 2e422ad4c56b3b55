"""Generation through an OpenAI-compatible chat endpoint: vLLM, TGI, SGLang, a hosted API.

The server applies the model's chat template; the gate sends one user message per request with
its sampling settings and seed (`min_p` rides in the body as the extra field vLLM and SGLang
read). Requests run concurrently up to a bound, each with a timeout and the retries of
gate/endpoint.py; the API key is read from the environment and never printed.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from gate.endpoint import Endpoint, EndpointOptions, read_api_key
from gate.errors import InfraError
from gate.files import redact_url, sha256_text
from gate.generate import BackendTarget, Generation, GenRequest
from gate.models import ModelInfo


class OpenAIOptions(EndpointOptions):
    """`[model]` options of the OpenAI-compatible backend."""

    served_model: str | None = None
    """The model name the server knows; defaults to `[model] path`."""
    fingerprint: str | None = None
    """sha256 of the served weights, when the user knows it; recorded as declared."""


def endpoint_info(options: OpenAIOptions, target: BackendTarget) -> ModelInfo:
    """The served checkpoint: hashed when its folder is here, else declared or named."""
    served = options.served_model or target.model.model
    if Path(target.model.model).exists():
        from gate.models import resolve_model

        return dataclasses.replace(resolve_model(target.model).info, source="endpoint")
    return ModelInfo(
        spec=served,
        source="endpoint",
        path=redact_url(options.base_url),
        # Without a declared fingerprint, the endpoint and model name are all the gate knows.
        fingerprint=options.fingerprint or sha256_text(f"{options.base_url}\n{served}"),
        files={},
        adapter=target.model.adapter,
        fingerprint_kind="declared" if options.fingerprint else "endpoint-name",
    )


def open_openai(options: OpenAIOptions, target: BackendTarget) -> OpenAIGenerator:
    """A client for the endpoint, checked to serve the model before any prompt is sent."""
    generator = OpenAIGenerator(
        options, endpoint_info(options, target), api_key=read_api_key(options)
    )
    generator.endpoint.check_serves(generator.served_model)
    return generator


class OpenAIGenerator:
    """Chat completions, concurrently, one per request."""

    name = "openai"

    def __init__(self, options: OpenAIOptions, info: ModelInfo, *, api_key: str | None) -> None:
        self.options = options
        self.info = info
        self.served_model = options.served_model or info.spec
        # The server owns the template; what the gate controls is the message shape.
        self.cache_identity = sha256_text(f"openai-chat-v1\n{self.served_model}")
        self.endpoint = Endpoint(options, api_key=api_key)

    def body(self, request: GenRequest) -> dict[str, Any]:
        """The chat-completion request body."""
        sampling = request.sampling
        body: dict[str, Any] = {
            "model": self.served_model,
            "messages": [{"role": "user", "content": request.prompt}],
            "max_tokens": sampling.max_new_tokens,
            "temperature": sampling.temperature,
        }
        if not sampling.greedy:
            body |= {"top_p": sampling.top_p, "seed": sampling.seed}
            if sampling.min_p:
                body["min_p"] = sampling.min_p
        return body

    def generate(self, requests: Sequence[GenRequest]) -> Iterator[Generation]:
        """Answers in the order they arrive; the first failure stops the run."""
        pool = ThreadPoolExecutor(max_workers=self.options.max_concurrency)
        futures = [pool.submit(self._one, request) for request in requests]
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:
            # On a failure, stop at once: requests in flight end on their own timeouts.
            pool.shutdown(wait=False, cancel_futures=True)

    def _one(self, request: GenRequest) -> Generation:
        started = time.monotonic()
        answer = self.endpoint.call("POST", "/chat/completions", self.body(request))
        try:
            choice = answer["choices"][0]
            text = str(choice["message"].get("content") or "").strip()
            tokens = int((answer.get("usage") or {}).get("completion_tokens", 0))
        except (KeyError, IndexError, TypeError, ValueError, AttributeError):
            raise InfraError(
                f"endpoint {redact_url(self.options.base_url)} answered without a chat completion"
            ) from None
        return Generation(
            prompt_id=request.prompt_id,
            sampling=request.sampling,
            text=text,
            tokens=tokens,
            finish_reason="length" if choice.get("finish_reason") == "length" else "stop",
            seconds=time.monotonic() - started,
        )
