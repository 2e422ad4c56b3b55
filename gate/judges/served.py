"""A safety classifier on a generation backend: vLLM in-process, or an OpenAI-compatible endpoint.

The judge builds the same prompt as on the hf path and tokenises it with the classifier's own
tokenizer; the token ids are sent as they are (vLLM's `prompt_token_ids`, or the completions API's
list-of-tokens prompt), so the served model reads exactly what the in-process one would, with no
chat template or second BOS added by the server. The greedy answer comes back with the
log-probabilities of the `top_logprobs` likeliest tokens at each position; a word's probability is
read at the first position, as the hf path reads it from the full softmax. A word outside the top
K gets probability 0 (its true value is below the K-th's, and the greedy token is always inside).
An endpoint that returns no log-probabilities leaves only the greedy answer: the Answer says so
(`scored=False`) and the judge's score is its verdict, 1 or 0.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from gate.errors import InfraError
from gate.judges.classifier import Answer, ClassifierOptions
from gate.progress import ProgressReporter


def first_token(tokenizer: Any, word: str) -> int:
    """The id of the first token `word` is written with after the prompt."""
    return int(tokenizer.encode(word, add_special_tokens=False)[0])


def encode(tokenizer: Any, prompt: str, add_special_tokens: bool) -> list[int]:
    return [int(i) for i in tokenizer(prompt, add_special_tokens=add_special_tokens)["input_ids"]]


class VLLMClassifier:
    """The classifier in vLLM's offline engine; log-probabilities keyed by token id."""

    def __init__(self, options: ClassifierOptions, llm: Any, info: Any) -> None:
        self.options = options
        self.llm = llm
        self.info = info
        self.tokenizer = llm.get_tokenizer()

    def answer(
        self,
        prompts: Sequence[str],
        words: Sequence[str],
        *,
        max_new_tokens: int,
        add_special_tokens: bool,
    ) -> list[Answer]:
        from vllm import SamplingParams

        params = SamplingParams(
            temperature=0.0, max_tokens=max_new_tokens, logprobs=self.options.top_logprobs
        )
        ids = {word: first_token(self.tokenizer, word) for word in words}
        rows = [
            {"prompt_token_ids": encode(self.tokenizer, p, add_special_tokens)} for p in prompts
        ]
        with ProgressReporter("judge", len(prompts), unit="answers") as progress:
            outputs = self.llm.generate(rows, [params] * len(rows), use_tqdm=False)
            progress.advance(len(prompts))
        answers = []
        for output in outputs:
            choice = output.outputs[0]
            first = choice.logprobs[0] if choice.logprobs else {}
            found = {w: math.exp(first[t].logprob) if t in first else 0.0 for w, t in ids.items()}
            missing = tuple(w for w, t in ids.items() if t not in first)
            answers.append(Answer(choice.text, found, missing=missing))
        return answers


class EndpointClassifier:
    """The classifier behind an OpenAI-compatible completions endpoint."""

    def __init__(self, options: ClassifierOptions, endpoint: Any, served: str, tokenizer: Any):
        self.options = options
        self.endpoint = endpoint
        self.served = served
        self.tokenizer = tokenizer

    def answer(
        self,
        prompts: Sequence[str],
        words: Sequence[str],
        *,
        max_new_tokens: int,
        add_special_tokens: bool,
    ) -> list[Answer]:
        ids = {word: first_token(self.tokenizer, word) for word in words}
        bodies = [
            {
                "model": self.served,
                "prompt": encode(self.tokenizer, prompt, add_special_tokens),
                "max_tokens": max_new_tokens,
                "temperature": 0.0,
                "logprobs": self.options.top_logprobs,
            }
            for prompt in prompts
        ]
        with (
            ProgressReporter("judge", len(prompts), unit="answers") as progress,
            ThreadPoolExecutor(max_workers=self.endpoint.options.max_concurrency) as pool,
        ):
            answers = []
            for answer in pool.map(lambda body: self._one(body, ids), bodies):
                answers.append(answer)
                progress.advance(1)
        return answers

    def _one(self, body: dict[str, Any], ids: dict[str, int]) -> Answer:
        reply = self.endpoint.call("POST", "/completions", body)
        try:
            choice = reply["choices"][0]
            text = str(choice.get("text") or "")
            logprobs = choice.get("logprobs") or {}
            top = (logprobs.get("top_logprobs") or [None])[0]
        except (KeyError, IndexError, TypeError, AttributeError):
            raise InfraError(
                f"endpoint {self.endpoint.where} answered without a completion"
            ) from None
        if not isinstance(top, dict):
            return Answer(text, {word: 0.0 for word in ids}, scored=False)
        found: dict[str, float] = {}
        for word, token in ids.items():
            names = self._names(token)
            hits = [value for key, value in top.items() if key in names]
            found[word] = math.exp(max(hits)) if hits else 0.0
        missing = tuple(w for w, t in ids.items() if not set(self._names(t)) & set(top))
        return Answer(text, found, missing=missing)

    def _names(self, token: int) -> set[str]:
        # Servers name a token by its decoded text; vLLM's `return_tokens_as_token_ids` by id.
        return {
            str(self.tokenizer.decode([token])),
            str(self.tokenizer.convert_ids_to_tokens(token)),
            f"token_id:{token}",
        }


def open_served(options: ClassifierOptions, context: Any) -> Any:
    """The classifier on its `vllm` or `openai` backend, started or checked now."""
    from gate.generate import BackendTarget
    from gate.models import ModelSpec
    from gate.plugins import BACKENDS

    spec = ModelSpec(model=options.model, cache_dir=context.cache_dir)
    settings = BACKENDS.options_model(options.backend).model_validate(options.backend_options)
    started = time.monotonic()
    if options.backend == "vllm":
        from gate.generate.vllm import open_vllm

        # The engine must allow as many log-probabilities as the judge asks for.
        wanted = max(settings.max_logprobs, options.top_logprobs)  # type: ignore[attr-defined]
        settings = settings.model_copy(update={"max_logprobs": wanted})
        generator = open_vllm(settings, BackendTarget(spec))  # type: ignore[arg-type]
        classifier: Any = VLLMClassifier(options, generator.llm, generator.info)
    else:
        from gate.endpoint import Endpoint, read_api_key
        from gate.generate.openai import endpoint_info

        info = endpoint_info(settings, BackendTarget(spec))  # type: ignore[arg-type]
        endpoint = Endpoint(settings, api_key=read_api_key(settings))  # type: ignore[arg-type]
        served = settings.served_model or options.model  # type: ignore[attr-defined]
        endpoint.check_serves(served)
        classifier = EndpointClassifier(options, endpoint, served, _tokenizer(options, context))
        classifier.info = info
    classifier.start_seconds = time.monotonic() - started
    return classifier


def _tokenizer(options: ClassifierOptions, context: Any) -> Any:
    """The classifier's tokenizer, from its folder or the local hub cache (never downloaded)."""
    from transformers import AutoTokenizer

    from gate.errors import InputError

    try:
        return AutoTokenizer.from_pretrained(options.model)
    except (OSError, ValueError) as exc:
        raise InputError(
            f"judge model {options.model}: its tokenizer is not here ({str(exc).splitlines()[0]})",
            hint="the prompt is built and tokenised here: point `model` at a folder with the "
            "classifier's tokenizer, and `backend_options.served_model` at the served name",
        ) from None
