"""What a fine-tune trains on: conversations as token ids with the prompt masked, and the
(prompt, safe, harmful) triples of SAP's safety signal."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gate.errors import InputError
from gate.generate.prompts import PLAIN_TEMPLATE
from gate.readers import read_jsonl_rows
from gate.records.answers import harm_answers
from gate.similarity.examples import Example

IGNORE = -100
"""Label of a token the loss skips (the prompt, the padding)."""


@dataclass(frozen=True)
class Tokenized:
    """One training sequence: ids, and labels that are IGNORE outside the answer."""

    input_ids: list[int]
    labels: list[int]


@dataclass(frozen=True)
class Triple:
    """A prompt with a safe answer and a harmful one."""

    prompt: str
    safe: str
    harmful: str


def _render(tokenizer: Any, turns: Sequence[tuple[str, str]], open_answer: bool) -> str:
    if getattr(tokenizer, "chat_template", None):
        messages = [{"role": role, "content": content} for role, content in turns]
        return str(
            tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=open_answer
            )
        )
    prompt = "\n".join(content for role, content in turns if role != "assistant")
    text = PLAIN_TEMPLATE.format(prompt=prompt)
    return text if open_answer else f"{text} {turns[-1][1]}{tokenizer.eos_token or ''}"


def tokenize(tokenizer: Any, turns: Sequence[tuple[str, str]], max_length: int) -> Tokenized:
    """Ids of the whole conversation; only the last (assistant) turn is learned."""
    prompt = tokenizer(_render(tokenizer, turns[:-1], True), add_special_tokens=False)
    full = tokenizer(_render(tokenizer, turns, False), add_special_tokens=False)
    ids = list(full["input_ids"])[:max_length]
    start = min(len(prompt["input_ids"]), len(ids))
    return Tokenized(ids, [IGNORE] * start + ids[start:])


def training_sequences(
    tokenizer: Any, examples: Sequence[Example], max_length: int, source: str
) -> list[Tokenized]:
    """Every example tokenized; each must end with the assistant's answer."""
    sequences = []
    for position, example in enumerate(examples):
        if example.turns[-1][0] != "assistant":
            raise InputError(f"{source}: example {position + 1} does not end with an answer")
        sequence = tokenize(tokenizer, example.turns, max_length)
        if all(label == IGNORE for label in sequence.labels):
            raise InputError(
                f"{source}: example {position + 1} has no answer token within "
                f"max_length={max_length}",
                hint="raise --max-length or shorten the prompt",
            )
        sequences.append(sequence)
    return sequences


def collate(batch: Sequence[Tokenized], pad_id: int) -> dict[str, Any]:
    """Right-padded tensors: input_ids, attention_mask, labels."""
    import torch

    width = max(len(s.input_ids) for s in batch)
    ids = [s.input_ids + [pad_id] * (width - len(s.input_ids)) for s in batch]
    mask = [[1] * len(s.input_ids) + [0] * (width - len(s.input_ids)) for s in batch]
    labels = [s.labels + [IGNORE] * (width - len(s.labels)) for s in batch]
    return {
        "input_ids": torch.tensor(ids),
        "attention_mask": torch.tensor(mask),
        "labels": torch.tensor(labels),
    }


def read_triples(spec: str, limit: int) -> list[Triple]:
    """Triples from a JSONL file (prompt, safe, harmful) or from a `gate check` output folder."""
    path = Path(spec)
    if path.is_dir():
        return triples_from_check(path, limit)
    if not path.is_file():
        raise InputError(f"safety triples not found: {spec}")
    triples = []
    for line, row in read_jsonl_rows(path):
        values = [row.get(key) for key in ("prompt", "safe", "harmful")]
        if not all(isinstance(v, str) and v.strip() for v in values):
            raise InputError(f"{path}:{line}: needs text fields 'prompt', 'safe' and 'harmful'")
        triples.append(Triple(str(values[0]), str(values[1]), str(values[2])))
    if len(triples) < 2:
        raise InputError(f"{path}: SAP needs at least 2 safety triples, found {len(triples)}")
    return triples[:limit]


def triples_from_check(folder: Path, limit: int) -> list[Triple]:
    """A check's own answers: the ones its judge called harmless are the safe responses, the
    ones it called harmful the harmful responses, paired prompt by prompt."""
    source = folder / "generations.jsonl"
    if not source.is_file():
        raise InputError(f"{folder} holds no generations.jsonl (is it a gate check output?)")
    answers: dict[str, dict[bool, list[str]]] = defaultdict(lambda: {True: [], False: []})
    prompts: dict[str, str] = {}
    for record in harm_answers(folder):  # the candidate's own answers to harmful prompts
        key, text = record.prompt.id, record.generation.text
        prompts[key] = record.prompt.text
        if text.strip() and text not in answers[key][record.judgement.flagged]:
            answers[key][record.judgement.flagged].append(text)
    triples = [
        Triple(prompts[key], safe, harmful)
        for key in sorted(answers)
        for safe, harmful in zip(answers[key][False], answers[key][True], strict=False)
    ]
    if len(triples) < 2:
        raise InputError(
            f"{source}: SAP needs at least 2 prompts answered both harmfully and safely; "
            f"found {len(triples)}",
            hint="use a run with more samples per prompt, or pass a triples JSONL",
        )
    return triples[:limit]
