"""Generation: the request and result records, the Generator protocol, and opening a backend.

A backend is one module with a factory `open(options, target) -> Generator` and a pydantic model of
its options, registered in `gate.plugins.BACKENDS`; `[model] backend = NAME` picks it, and the other
keys of `[model]` are validated by its options model.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from gate.models import ModelInfo, ModelSpec


@dataclass(frozen=True)
class Sampling:
    """How to pick tokens. Temperature 0 means greedy decoding."""

    temperature: float = 0.0
    top_p: float = 1.0
    min_p: float = 0.0
    seed: int = 0
    max_new_tokens: int = 256

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    def effective(self) -> Sampling:
        """These settings with those greedy decoding ignores reset, so equal plans compare equal."""
        if not self.greedy:
            return self
        return Sampling(max_new_tokens=self.max_new_tokens)


@dataclass(frozen=True)
class GenRequest:
    """One prompt to answer under one sampling setting."""

    prompt_id: str
    prompt: str
    """What the model is asked: the benchmark's prompt, or an attack's wrapping of it."""
    sampling: Sampling
    attack: str | None = None
    """`name@version` of the attack that wrapped the prompt; part of the cache key."""


@dataclass(frozen=True)
class Generation:
    """A model's answer to one request."""

    prompt_id: str
    sampling: Sampling
    text: str
    """The answer, special tokens removed."""
    tokens: int
    """Tokens generated, the end-of-sequence token included when one was produced."""
    finish_reason: str
    """`stop` when the model ended its answer, `length` when max_new_tokens cut it off."""
    seconds: float
    """Wall time of the batch this generation was part of, shared out by tokens."""
    cached: bool = False
    """Read from the generation store rather than generated in this run."""
    truncated: bool = False
    """The prompt was longer than the model takes and was cut from the left."""


class PromptTooLong(ValueError):
    """A prompt does not fit the model's context with room for the answer."""

    def __init__(self, prompt_id: str, tokens: int, limit: int) -> None:
        super().__init__(f"prompt {prompt_id} is {tokens} tokens; the model takes {limit}")
        self.prompt_id = prompt_id
        self.tokens = tokens
        self.limit = limit


class Generator(Protocol):
    """Answers requests; implementations may batch them in any order but yield every one."""

    name: str
    """The backend's registry name."""
    info: ModelInfo
    """The checkpoint that answers, with its fingerprint."""
    cache_identity: str
    """Everything besides the model and the request that shapes an answer (the chat template,
    the prompt format); part of the generation cache key."""

    def generate(self, requests: Sequence[GenRequest]) -> Iterator[Generation]: ...


@dataclass(frozen=True)
class BackendTarget:
    """What a backend factory is asked to open: the checkpoint and the batch size to use."""

    model: ModelSpec
    batch_size: int | None = None
    """Rows per batch for backends that batch; None lets the backend choose."""
    overlong: str = "reject"
    """What to do with a prompt longer than the context: `reject` or `truncate` (from the left)."""


def open_backend(
    name: str, options: Mapping[str, Any], target: BackendTarget, *, store: Path | None
) -> Generator:
    """The backend registered as `name`, its options validated, behind the generation store at
    `store` (None: no store)."""
    from gate.plugins import BACKENDS

    validated = BACKENDS.options_model(name).model_validate(dict(options))
    generator = BACKENDS.create(name, validated, target)
    # An endpoint known only by its name may serve other weights tomorrow: never reuse answers.
    if store is None or generator.info.fingerprint_kind == "endpoint-name":
        return generator
    from gate.generate.cache import CachedGenerator, GenerationStore

    return CachedGenerator(generator, GenerationStore(store))
