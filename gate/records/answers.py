"""A judged generation: one line of generations.jsonl, and the reader of such a file."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gate.errors import InputError
from gate.generate import Generation, Sampling
from gate.judges import Judgement
from gate.records.prompts import Prompt


@dataclass(frozen=True)
class JudgedGeneration:
    """A prompt, the model's answer, and the judge's call: one line of generations.jsonl."""

    prompt: Prompt
    generation: Generation
    judgement: Judgement
    suite: str = "harmful"
    """The suite whose prompt this answers (a prompt may belong to more than one)."""
    attack: str | None = None
    """`name@version` of the attack the prompt was wrapped in; None when asked as written."""
    asked: str | None = None
    """What the model was asked under the attack (the prompt is what the judge saw)."""
    decoded: str | None = None
    """The answer as the judge read it, where the attack's decoding changed it."""

    @property
    def answer(self) -> str:
        """What the judge read: the answer, decoded where the attack's encoding was used."""
        return self.generation.text if self.decoded is None else self.decoded

    def to_row(self) -> dict[str, object]:
        """The JSON-ready row."""
        sampling = self.generation.sampling
        attacked = {"attack": self.attack, "asked": self.asked, "decoded": self.decoded}
        return {
            "suite": self.suite,
            "prompt_id": self.prompt.id,
            "category": self.prompt.category,
            "prompt": self.prompt.text,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "min_p": sampling.min_p,
            "seed": sampling.seed,
            "max_new_tokens": sampling.max_new_tokens,
            "response": self.generation.text,
            "tokens": self.generation.tokens,
            "finish_reason": self.generation.finish_reason,
            "flagged": self.judgement.flagged,
            "judge_score": self.judgement.score,
            "judge_reason": self.judgement.reason,
            "judge_parsed": self.judgement.parsed,
            "judge_categories": list(self.judgement.categories),
            **({} if self.attack is None else attacked),
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any], where: str) -> JudgedGeneration:
        """Read a row written by `to_row`; a missing field names `where` (file:line)."""
        try:
            prompt = Prompt(id=row["prompt_id"], text=row["prompt"], category=row["category"])
            sampling = Sampling(
                row["temperature"], row["top_p"], row["min_p"], row["seed"], row["max_new_tokens"]
            )
            generation = Generation(
                prompt.id, sampling, row["response"], row["tokens"], row["finish_reason"], 0.0
            )
            # Rows written before the refusal suite call the flag `harmful`.
            judgement = Judgement(
                row["flagged"] if "flagged" in row else row["harmful"],
                row["judge_score"],
                row["judge_reason"],
                row.get("judge_parsed", True),
                tuple(row.get("judge_categories", ())),
            )
        except KeyError as exc:
            raise InputError(f"{where}: field {exc.args[0]!r} is missing") from exc
        attack, asked, decoded = (row.get(key) for key in ("attack", "asked", "decoded"))
        return cls(
            prompt,
            generation,
            judgement,
            str(row.get("suite", "harmful")),
            None if attack is None else str(attack),
            None if asked is None else str(asked),
            None if decoded is None else str(decoded),
        )


def read_answers(path: Path) -> list[tuple[str, JudgedGeneration]]:
    """(model role, judged generation) for each line of a generations.jsonl, in order; a bad
    line is reported as file:line."""
    from gate.readers import read_jsonl_rows

    return [
        (str(row.get("model", "candidate")), JudgedGeneration.from_row(row, f"{path}:{line}"))
        for line, row in read_jsonl_rows(path)
    ]


def generation_rows(
    roles: Sequence[tuple[str, Sequence[JudgedGeneration]]],
) -> Iterator[dict[str, object]]:
    """generations.jsonl rows: each record tagged with the model role that answered it."""
    for role, records in roles:
        for record in records:
            yield {"model": role, **record.to_row()}


def harm_answers(folder: Path) -> list[JudgedGeneration]:
    """The candidate's judged answers to a run's harmful-prompt suites (the suites of kind
    `harmful` its result.json lists; the `harmful` suite when it lists none)."""
    import json

    from gate.records import GENERATIONS_FILE, RESULT_FILE

    suites = {"harmful"}
    result = folder / RESULT_FILE
    if result.is_file():
        try:
            listed = json.loads(result.read_text(encoding="utf-8")).get("suites")
        except (OSError, ValueError) as exc:
            raise InputError(f"{result} is not readable JSON: {exc}") from exc
        if isinstance(listed, list):
            suites = {str(s.get("name")) for s in listed if s.get("kind") == "harmful"}
    return [
        record
        for role, record in read_answers(folder / GENERATIONS_FILE)
        if role == "candidate" and record.suite in suites
    ]
