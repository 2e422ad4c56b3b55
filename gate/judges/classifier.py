"""A safety classifier run in-process: its prompts in batches, greedy output and first-token odds.

Shared by the classifier judges (llamaguard, harmbench, wildguard). Each of those builds its own
model's published prompt and reads its own output format; this module only loads the model,
batches the prompts (left-padded, so every row's answer starts at the same position) and returns,
for each prompt, the greedy answer and the probability of chosen words at the first answer token.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gate.files import sha256_text
from gate.judges import JudgeContext
from gate.models import LoadedModel, ModelSpec, load_model
from gate.progress import ProgressReporter


class ClassifierOptions(BaseModel):
    """`[judge]` options shared by the classifier judges: where the model is and how to run it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    """A checkpoint folder or a hub id (read from the local hub cache; nothing is downloaded
    unless the environment allows it)."""
    backend: Literal["hf", "vllm", "openai"] = "hf"
    """`hf` in-process with transformers; `vllm` in vLLM's engine here; `openai` an endpoint
    serving the classifier (served.py). All read the same prompt and the first-token odds."""
    backend_options: dict[str, Any] = Field(default_factory=dict)
    """Validated by the backend's own options (base_url and served_model for openai, ...)."""
    top_logprobs: int = Field(default=20, ge=1)
    """Log-probabilities asked of a vllm or openai backend at each answer token (vLLM's
    --max-logprobs caps it, 20 by default)."""
    device: str = "auto"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    batch_size: int = Field(default=8, ge=1)
    load_in_4bit: bool = False


@dataclass(frozen=True)
class Answer:
    """The classifier's greedy answer to one prompt and its first-token odds."""

    text: str
    first: dict[str, float]
    """Probability, at the first answer position, of the first token of each asked-for word."""
    missing: tuple[str, ...] = ()
    """Words outside the backend's top log-probabilities: their probability is read as 0."""
    scored: bool = True
    """False when the backend returned no log-probabilities: only the greedy answer decides."""

    def note(self) -> str:
        """What the reason should add about how the odds were read, if anything."""
        if not self.scored:
            return "; no log-probabilities from the endpoint: the greedy answer decided"
        return f"; {', '.join(self.missing)} outside the top log-probs" if self.missing else ""


class ClassifierModel:
    """One classifier checkpoint on its backend, loaded (or reached) on first use; its answers
    cached under the checkpoint's fingerprint."""

    def __init__(self, options: ClassifierOptions, context: JudgeContext) -> None:
        self.options = options
        self.context = context
        self._loaded: LoadedModel | None = None
        self._served: Any = None
        self._tokenizer: Any = None
        self.spec = ModelSpec(
            model=options.model,
            cache_dir=Path(context.cache_dir),
            dtype=options.dtype,
            device=options.device,
            load_in_4bit=options.load_in_4bit,
        )

    @property
    def loaded(self) -> LoadedModel:
        """The model and tokenizer, loaded the first time they are needed (hf backend)."""
        if self._loaded is None:
            self._loaded = load_model(self.spec)
        return self._loaded

    @property
    def served(self) -> Any:
        """The vllm engine or endpoint client, opened the first time it is needed."""
        if self._served is None:
            from gate.judges.served import open_served

            self._served = open_served(self.options, self.context)
        return self._served

    @property
    def tokenizer(self) -> Any:
        """The classifier's tokenizer, read without its weights until an answer is needed, so a
        run whose answers are all cached never loads the model or starts an engine."""
        if self.options.backend == "openai":
            return self.served.tokenizer
        if self._loaded is not None:
            return self._loaded.tokenizer
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            from gate.models import resolve_model

            self._tokenizer = AutoTokenizer.from_pretrained(str(resolve_model(self.spec).folder))
        return self._tokenizer

    def store(self) -> AnswerStore | None:
        """The answer cache for this checkpoint, or None (no cache, or weights not known)."""
        if not self.context.use_cache:
            return None
        if self.options.backend == "openai":
            info = self.served.info  # hashed when the weights are here, else declared or named
        else:
            from gate.models import resolve_model

            # Hashed without loading: a run whose answers are all cached starts no engine.
            info = resolve_model(self.spec).info
        if info.fingerprint_kind == "endpoint-name":
            return None  # the same name may serve other weights tomorrow
        return AnswerStore(Path(self.context.cache_dir) / "classifier.sqlite", info.fingerprint)

    def first_token(self, word: str) -> int:
        """The id of the first token `word` is written with after the prompt."""
        ids = self.tokenizer.encode(word, add_special_tokens=False)
        return int(ids[0])

    def answer(
        self,
        prompts: Sequence[str],
        words: Sequence[str],
        *,
        max_new_tokens: int,
        add_special_tokens: bool,
    ) -> list[Answer]:
        """Greedy answers and first-token odds of `words`, in order; cached ones are read."""
        store = self.store()
        how = f"{self.options.backend}:{self.options.top_logprobs}:{max_new_tokens}"
        how += f":{add_special_tokens}:{','.join(words)}"
        known = store.get(how, prompts) if store else {}
        todo = [p for p in dict.fromkeys(prompts) if p not in known]
        if todo:
            fresh = self._answer(todo, words, max_new_tokens, add_special_tokens)
            known |= dict(zip(todo, fresh, strict=True))
            if store is not None:
                store.put(how, dict(zip(todo, fresh, strict=True)))
        return [known[p] for p in prompts]

    def _answer(
        self, prompts: Sequence[str], words: Sequence[str], max_new_tokens: int, special: bool
    ) -> list[Answer]:
        if self.options.backend != "hf":
            answers: list[Answer] = self.served.answer(
                prompts, words, max_new_tokens=max_new_tokens, add_special_tokens=special
            )
            return answers
        size = self.options.batch_size
        answers = []
        with ProgressReporter("judge", len(prompts), unit="answers") as progress:
            for start in range(0, len(prompts), size):
                chunk = prompts[start : start + size]
                answers += self._batch(chunk, words, max_new_tokens, special)
                progress.advance(len(chunk))
        return answers

    def _batch(
        self, prompts: Sequence[str], words: Sequence[str], max_new_tokens: int, special: bool
    ) -> list[Answer]:
        import torch

        model, tokenizer = self.loaded.model, self.tokenizer
        batch = tokenizer(
            list(prompts), return_tensors="pt", padding=True, add_special_tokens=special
        ).to(model.device)
        with torch.inference_mode():
            out = model.generate(
                **batch,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                output_scores=True,
                return_dict_in_generate=True,
                pad_token_id=tokenizer.pad_token_id,
            )
        probs = torch.softmax(out.scores[0].float(), dim=-1).cpu()
        ids = {word: self.first_token(word) for word in words}
        fresh = out.sequences[:, batch["input_ids"].shape[1] :]
        return [
            Answer(
                text=tokenizer.decode(row, skip_special_tokens=True),
                first={word: float(probs[i, token]) for word, token in ids.items()},
            )
            for i, row in enumerate(fresh)
        ]


class AnswerStore:
    """Classifier answers on disk, keyed by (weights fingerprint, how asked, prompt sha256)."""

    def __init__(self, path: Path, fingerprint: str) -> None:
        from gate.files import open_store

        self.fingerprint = fingerprint
        self._db = open_store(
            path,
            "CREATE TABLE IF NOT EXISTS answers (fingerprint TEXT NOT NULL, how TEXT NOT NULL,"
            " prompt_sha TEXT NOT NULL, answer TEXT NOT NULL,"
            " PRIMARY KEY (fingerprint, how, prompt_sha))",
        )

    def get(self, how: str, prompts: Sequence[str]) -> dict[str, Answer]:
        found: dict[str, Answer] = {}
        for prompt in dict.fromkeys(prompts):
            row = self._db.execute(
                "SELECT answer FROM answers WHERE fingerprint = ? AND how = ? AND prompt_sha = ?",
                (self.fingerprint, how, sha256_text(prompt)),
            ).fetchone()
            if row is not None:
                data = json.loads(row[0])
                found[prompt] = Answer(
                    data["text"], data["first"], tuple(data["missing"]), data["scored"]
                )
        return found

    def put(self, how: str, answers: dict[str, Answer]) -> None:
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?)",
                [
                    (self.fingerprint, how, sha256_text(prompt), json.dumps(asdict(answer)))
                    for prompt, answer in answers.items()
                ],
            )


FORMATS = Path(__file__).with_name("formats")


def published_format(name: str) -> str:
    """A classifier's published prompt format, kept verbatim in `formats/NAME.txt`."""
    return (FORMATS / f"{name}.txt").read_text(encoding="utf-8")


def fill(template: str, **fields: str) -> str:
    """`{name}` placeholders replaced in one pass, so a field that itself contains a
    placeholder (a prompt quoting "{response}") is left as it is."""
    pattern = re.compile("|".join(re.escape("{" + name + "}") for name in fields))
    return pattern.sub(lambda match: fields[match.group(0)[1:-1]], template)
