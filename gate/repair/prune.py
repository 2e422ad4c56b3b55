"""Wanda statistics, the Antidote score, the per-row masks, and the two built-in methods.

A repair method (an entry of gate.plugins.REPAIR_METHODS) is a factory
`(settings, model, layers, batches) -> Masks`; layers are asked for in sorted name order.

s[c] for a linear layer is the sum over every calibration token of x[c]^2, divided by the number
of calibration sequences: the reference's running mean over samples of each sample's squared
activation norm per channel (padding tokens excluded here; the reference pads nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gate.errors import InputError
from gate.sections import PruneOptions

Masks = Callable[[str, Any], Any]
"""A repair method's choice: layer name and weight -> the boolean mask of weights to zero."""


@dataclass
class ChannelStats:
    """The running mean over sequences of the summed squared input per input channel."""

    columns: int
    sequences: int = 0
    mean_square: Any = None

    def add(self, inputs: Any, mask: Any) -> None:
        """Fold in one batch: inputs [batch, tokens, columns], mask [batch, tokens] (1 = real)."""
        import torch

        x = inputs.detach().float() * mask.unsqueeze(-1).float()
        per_batch = (x**2).sum(dim=(0, 1))
        batch = int(inputs.shape[0])
        if self.mean_square is None:
            self.mean_square = torch.zeros(self.columns, dtype=torch.float32, device=x.device)
        total = self.sequences + batch
        self.mean_square = self.mean_square * (self.sequences / total) + per_batch / total
        self.sequences = total


@dataclass
class Collector:
    """Forward hooks that feed each targeted layer's inputs into its ChannelStats."""

    layers: Mapping[str, Any]
    stats: dict[str, ChannelStats] = field(default_factory=dict)
    mask: Any = None

    def __enter__(self) -> Collector:
        self._handles = []
        for name, layer in self.layers.items():
            self.stats[name] = ChannelStats(layer.weight.shape[1])
            self._handles.append(layer.register_forward_hook(self._hook(name)))
        return self

    def _hook(self, name: str) -> Any:
        def hook(module: Any, args: Any, output: Any) -> None:
            self.stats[name].add(args[0], self.mask)

        return hook

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()


def collect(
    model: Any, layers: Mapping[str, Any], batches: Iterable[dict[str, Any]]
) -> dict[str, ChannelStats]:
    """Run the calibration batches through `model`, recording the targeted layers' inputs."""
    import torch

    with Collector(layers) as collector, torch.inference_mode():
        for batch in batches:
            collector.mask = batch["attention_mask"]
            model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    return collector.stats


def importance(weight: Any, stats: ChannelStats) -> Any:
    """S = |W| * sqrt(s), broadcast over output rows."""
    return weight.detach().abs().float() * stats.mean_square.sqrt().unsqueeze(0)


def per_row(alpha: float, columns: int) -> int:
    """How many weights of each row are zeroed: floor(alpha * columns), as the reference."""
    return int(alpha * columns)


def top_mask(score: Any, alpha: float) -> Any:
    """True where a weight is among the top floor(alpha * columns) of its row by `score`."""
    import torch

    count = per_row(alpha, score.shape[1])
    mask = torch.zeros_like(score, dtype=torch.bool)
    if count:
        top = torch.topk(score, count, dim=1, sorted=False).indices
        mask.scatter_(1, top, True)
    return mask


def random_mask(shape: tuple[int, int], alpha: float, generator: Any) -> Any:
    """The same count per row as top_mask, at random positions."""
    import torch

    rows, columns = shape
    count = per_row(alpha, columns)
    mask = torch.zeros(shape, dtype=torch.bool)
    if count:
        order = torch.argsort(torch.rand(shape, generator=generator), dim=1)
        mask.scatter_(1, order[:, :count], True)
    return mask


def antidote(
    settings: PruneOptions, model: Any, layers: Mapping[str, Any], batches: Iterable[Any]
) -> Masks:
    """Antidote: in each row, the top alpha by Wanda score on the harmful calibration."""
    stats = collect(model, layers, batches)
    return lambda name, weight: top_mask(importance(weight, stats[name]), settings.alpha)


def random_baseline(
    settings: PruneOptions, model: Any, layers: Mapping[str, Any], batches: Iterable[Any]
) -> Masks:
    """The baseline: as many weights per row as Antidote, at random; the calibration never runs."""
    import torch

    generator = torch.Generator().manual_seed(settings.seed)
    return lambda name, weight: random_mask(tuple(weight.shape), settings.alpha, generator).to(
        weight.device
    )


def find_targets(model: Any, targets: Iterable[str], lora: bool) -> dict[str, Any]:
    """The linear layers to prune: LoRA A and B under the target projections, or the
    projections themselves for a full checkpoint."""
    wanted = tuple(targets)
    found: dict[str, Any] = {}
    projections: set[str] = set()
    for name, module in model.named_modules():
        if not hasattr(module, "weight") or getattr(module.weight, "ndim", 0) != 2:
            continue
        parts = name.split(".")
        if lora:
            if len(parts) >= 3 and parts[-2] in ("lora_A", "lora_B") and parts[-3] in wanted:
                found[name] = module
            if "lora_A" in parts:
                projections.add(parts[parts.index("lora_A") - 1])
        elif parts[-1] in wanted and type(module).__name__ == "Linear":
            found[name] = module
        elif type(module).__name__ == "Linear":
            projections.add(parts[-1])
    missing = [t for t in wanted if not any(f".{t}." in f".{n}." for n in found)]
    if missing:
        kind = "LoRA-adapted projections" if lora else "linear layers"
        raise InputError(
            f"unknown target module {missing[0]!r}: the model's {kind} are "
            f"{', '.join(sorted(projections)) or 'none'}"
        )
    return found
