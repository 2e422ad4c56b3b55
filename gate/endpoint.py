"""An OpenAI-compatible HTTP endpoint: its options, the API key, and calls with retries.

Shared by everything the gate sends to a server: generation (`backend = "openai"`), classifier
judges on an endpoint, and the `openai` embedder. 429 and 5xx answers and dropped connections are
retried with exponential backoff, honouring Retry-After. The API key is read from the environment
variable the options name, sent only in the Authorization header, and never printed.
"""

from __future__ import annotations

import os
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from gate.errors import InfraError, InputError
from gate.files import redact_url

_RETRYABLE = {408, 409, 429, 500, 502, 503, 504}


class EndpointOptions(BaseModel):
    """Where the server is, and how hard to push it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str
    """e.g. http://vllm.internal:8000/v1"""
    api_key_env: str | None = None
    """The environment variable that holds the API key (never the key itself)."""
    max_concurrency: int = Field(default=16, ge=1, le=512)
    timeout_seconds: float = Field(default=120.0, gt=0)
    max_retries: int = Field(default=4, ge=0, le=20)
    backoff_seconds: float = Field(default=1.0, ge=0)

    @field_validator("base_url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")


def read_api_key(options: EndpointOptions) -> str | None:
    """The key from the named environment variable; naming an unset one is an input error."""
    if not options.api_key_env:
        return None
    key = os.environ.get(options.api_key_env)
    if not key:
        raise InputError(f"the environment variable {options.api_key_env} is not set")
    return key


class Endpoint:
    """JSON calls to one server, each retried as the options allow."""

    def __init__(self, options: EndpointOptions, *, api_key: str | None) -> None:
        self.options = options
        self.where = redact_url(options.base_url)
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    def served_models(self) -> set[str]:
        """GET /models: the model names the server lists (empty when it lists none)."""
        listing = self.call("GET", "/models", None)
        data = listing.get("data", []) if isinstance(listing, dict) else []
        return {str(m.get("id")) for m in data if isinstance(m, dict)}

    def check_serves(self, model: str) -> None:
        """The endpoint answers and serves `model` (one InfraError line, exit 3, if not)."""
        served = self.served_models()
        if served and model not in served:
            raise InfraError(
                f"endpoint {self.where} does not serve {model!r}",
                hint=f"it serves: {', '.join(sorted(served))}",
            )

    def call(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        """One HTTP call with retries; any failure is one InfraError naming the server."""
        import requests

        url = f"{self.options.base_url}{path}"
        for attempt in range(self.options.max_retries + 1):
            wait = self.options.backoff_seconds * 2**attempt
            try:
                response = requests.request(
                    method,
                    url,
                    json=body,
                    headers=self._headers,
                    timeout=self.options.timeout_seconds,
                )
            except requests.RequestException as exc:
                problem = type(exc).__name__
            else:
                if response.status_code < 400:
                    try:
                        return response.json()
                    except ValueError:
                        problem = "an answer that is not JSON"
                        break
                problem = f"HTTP {response.status_code}"
                if response.status_code not in _RETRYABLE:
                    problem += f": {response.text.strip()[:200]}"
                    break
                wait = max(wait, _retry_after(response.headers.get("Retry-After")))
            if attempt < self.options.max_retries:
                time.sleep(min(wait, 60.0))
        raise InfraError(
            f"endpoint {self.where} failed ({method} {path}): {problem}",
            hint="check the base_url and that the server is up",
        )


def _retry_after(value: str | None) -> float:
    try:
        return float(value) if value else 0.0
    except ValueError:
        return 0.0
