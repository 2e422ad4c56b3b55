"""The training loop: LoRA on the data (and the mix), plain or with SAP; held-out loss before and
after; a deterministic order and initialisation for a seed."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gate.errors import InputError
from gate.finetune.data import IGNORE, Tokenized, Triple, collate, tokenize
from gate.finetune.sap import Probe, Trace, sap_step
from gate.progress import ProgressReporter
from gate.sections import FinetuneSettings


@dataclass
class TrainLog:
    """Loss per step, and the held-out loss before and after."""

    steps: list[dict[str, float]] = field(default_factory=list)
    heldout_before: float | None = None
    heldout_after: float | None = None
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        losses = [s["loss"] for s in self.steps]
        return {
            "steps": len(losses),
            "first_loss": losses[0] if losses else None,
            "last_loss": losses[-1] if losses else None,
            "heldout_loss_before": self.heldout_before,
            "heldout_loss_after": self.heldout_after,
            "train_seconds": round(self.seconds, 3),
        }


def attach_lora(model: Any, settings: FinetuneSettings) -> Any:
    """The model wrapped by peft with fresh LoRA matrices (initialised from the seed)."""
    import torch
    from peft import LoraConfig, get_peft_model

    from gate.models.convert import quiet_transformers

    torch.manual_seed(settings.seed)
    config = LoraConfig(
        r=settings.lora_r,
        lora_alpha=settings.lora_alpha,
        lora_dropout=settings.lora_dropout,
        target_modules=list(settings.target_modules),
        task_type="CAUSAL_LM",
    )
    quiet_transformers()  # peft's wrap warns about a deprecated transformers call
    try:
        return get_peft_model(model, config)
    except ValueError as exc:
        linear = sorted({name.rsplit(".", 1)[-1] for name, m in model.named_modules()
                         if type(m).__name__ == "Linear"})  # fmt: skip
        raise InputError(
            f"LoRA target modules {', '.join(settings.target_modules)} not found in the model",
            hint=f"its linear layers are: {', '.join(linear) or 'none'}",
        ) from exc


def lora_parameters(model: Any) -> list[Any]:
    """The trainable LoRA matrices, in a stable order."""
    return [p for name, p in model.named_parameters() if "lora_" in name and p.requires_grad]


def batches(
    sequences: Sequence[Tokenized], size: int, seed: int, epoch: int
) -> Iterator[list[Tokenized]]:
    """The sequences in a seeded order, `size` at a time."""
    order = np.random.default_rng([seed, epoch]).permutation(len(sequences))
    for start in range(0, len(order), size):
        yield [sequences[int(i)] for i in order[start : start + size]]


def mean_loss(model: Any, sequences: Sequence[Tokenized], size: int, pad_id: int) -> float:
    """Token-weighted mean loss over `sequences`, without training."""
    import torch

    total, tokens = 0.0, 0
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(sequences), size):
            batch = collate(sequences[start : start + size], pad_id)
            batch = {k: v.to(model.device) for k, v in batch.items()}
            count = int((batch["labels"][:, 1:] != IGNORE).sum())
            total += float(model(**batch).loss) * count
            tokens += count
    model.train()
    return total / max(tokens, 1)


def safety_batches(
    tokenizer: Any, triples: Sequence[Triple], settings: FinetuneSettings, pad_id: int
) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(safe, harmful) batches of the triples, cycling in a seeded order for as long as asked."""

    def encode(prompt: str, answer: str) -> Tokenized:
        return tokenize(tokenizer, [("user", prompt), ("assistant", answer)], settings.max_length)

    if not triples:
        raise InputError("SAP needs safety triples; none were given")
    safe = [encode(t.prompt, t.safe) for t in triples]
    harmful = [encode(t.prompt, t.harmful) for t in triples]
    round_ = 0
    while True:
        order = np.random.default_rng([settings.seed, 7, round_]).permutation(len(triples))
        for start in range(0, len(order), settings.triples_batch):
            rows = [int(i) for i in order[start : start + settings.triples_batch]]
            yield (
                collate([safe[i] for i in rows], pad_id),
                collate([harmful[i] for i in rows], pad_id),
            )
        round_ += 1


def train(
    model: Any,
    tokenizer: Any,
    sequences: Sequence[Tokenized],
    settings: FinetuneSettings,
    *,
    triples: Sequence[Triple] = (),
    heldout: Sequence[Tokenized] = (),
    trace: Trace = lambda _: None,
) -> TrainLog:
    """Train the LoRA matrices of `model` (a peft model) in place."""
    import torch

    pad_id = (
        tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    )
    log = TrainLog()
    if heldout:
        log.heldout_before = mean_loss(model, heldout, settings.batch_size, pad_id)
    lora = lora_parameters(model)
    lora_optimiser = torch.optim.AdamW(lora, lr=settings.lr)
    step_fn = _plain_step(model, lora_optimiser)
    probe = None
    if settings.defense == "sap":
        probe = Probe(model, settings.probe_layers)
        trace("probe-inserted")
        probe_optimiser = torch.optim.AdamW(probe.vectors, lr=settings.probe_lr)
        safety = safety_batches(tokenizer, triples, settings, pad_id)
        step_fn = _sap_step(
            model, lora, probe, (lora_optimiser, probe_optimiser), safety, settings, trace
        )
    total = settings.epochs * -(-len(sequences) // settings.batch_size)
    started = time.monotonic()
    model.train()
    try:
        with ProgressReporter("fine-tune", total, unit="steps") as progress:
            for epoch in range(settings.epochs):
                for batch in batches(sequences, settings.batch_size, settings.seed, epoch):
                    tensors = {k: v.to(model.device) for k, v in collate(batch, pad_id).items()}
                    loss = step_fn(tensors)
                    log.steps.append({"step": len(log.steps) + 1, "epoch": epoch + 1, "loss": loss})
                    progress.advance(postfix=f"loss {loss:.3f}")
    finally:
        if probe is not None:
            probe.remove()
            trace("probe-removed")
    log.seconds = time.monotonic() - started
    if heldout:
        log.heldout_after = mean_loss(model, heldout, settings.batch_size, pad_id)
    return log


def _plain_step(model: Any, optimiser: Any) -> Callable[[dict[str, Any]], float]:
    def step(batch: dict[str, Any]) -> float:
        optimiser.zero_grad(set_to_none=True)
        loss = model(**batch).loss
        loss.backward()
        optimiser.step()
        return float(loss.detach())

    return step


def _sap_step(
    model: Any,
    lora: Sequence[Any],
    probe: Probe,
    optimisers: tuple[Any, Any],
    safety: Iterator[tuple[dict[str, Any], dict[str, Any]]],
    settings: FinetuneSettings,
    trace: Trace,
) -> Callable[[dict[str, Any]], float]:
    def step(batch: dict[str, Any]) -> float:
        safe, harmful = next(safety)
        on_device = tuple({k: v.to(model.device) for k, v in b.items()} for b in (safe, harmful))
        return sap_step(model, lora, probe, optimisers, batch, on_device, settings.grad_rate, trace)  # type: ignore[arg-type]

    return step
