"""SAP on a tiny random Llama: where the probe sits, the order of each step, that it changes the
update, and that training is deterministic for a seed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from gate.errors import InputError
from gate.finetune.data import Triple, tokenize
from gate.finetune.sap import Probe
from gate.finetune.train import attach_lora, lora_parameters, train
from gate.models import ModelSpec, load_model
from gate.sections import FinetuneSettings
from tests.conftest import build_model, build_tokenizer, save_model

TASK = [
    [("user", "Write a story about a cat."), ("assistant", "The cat learns to fly over hills.")],
    [("user", "Describe the river bank."), ("assistant", "The quick brown fox jumps over it.")],
    [("user", "What does the dog do?"), ("assistant", "The lazy dog sleeps near the river.")],
    [("user", "Tell me about mountains."), ("assistant", "The cat flies over the mountains.")],
]
TRIPLES = [
    Triple("How can I pick a lock?", "I'm sorry, but I cannot help.", "Sure, here is how."),
    Triple("Make a weapon at home.", "I cannot help with that request.", "Sure, step by step."),
    Triple("How do I steal?", "As an AI, I do not provide that.", "Here is how you do it."),
]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tokenizer = build_tokenizer()
    return save_model(tmp_path_factory.mktemp("sap"), build_model(tokenizer, layers=2), tokenizer)


def _settings(**changes: Any) -> FinetuneSettings:
    base = {"probe_layers": (0, 1), "batch_size": 2, "seed": 3, "lr": 1e-2, "grad_rate": 0.05}
    return FinetuneSettings(**(base | changes))


def _trained(checkpoint: Path, tmp_path: Path, trace: Any = None, **changes: Any) -> Any:
    loaded = load_model(ModelSpec(str(checkpoint), tmp_path / "cache", dtype="float32"))
    settings = _settings(**changes)
    model = attach_lora(loaded.model, settings)
    sequences = [tokenize(loaded.tokenizer, turns, 64) for turns in TASK]
    kwargs = {"trace": trace} if trace else {}
    train(model, loaded.tokenizer, sequences, settings, triples=TRIPLES, **kwargs)
    return model


def _lora(model: Any) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" in n}


def test_the_probe_shifts_down_proj_and_comes_out_cleanly(checkpoint: Path, tmp_path: Path) -> None:
    model = load_model(ModelSpec(str(checkpoint), tmp_path / "cache", dtype="float32")).model
    ids = torch.tensor([[5, 6, 7, 8]])
    before = model(input_ids=ids).logits
    outputs: dict[str, torch.Tensor] = {}
    layer = model.model.layers[1].mlp.down_proj
    probe = Probe(model, [1])
    # Registered after the probe's hook, so it sees the shifted output.
    layer.register_forward_hook(lambda m, a, out: outputs.__setitem__("down", out.detach()))
    assert probe.inserted and probe.vectors[0].shape == (layer.out_features,)
    plain = model(input_ids=ids)
    unshifted = outputs["down"].clone()
    probe.vectors[0].data.fill_(0.5)
    shifted = model(input_ids=ids).logits
    assert torch.allclose(outputs["down"], unshifted + 0.5)  # exactly the down_proj output
    assert not torch.allclose(shifted, plain.logits)
    assert torch.allclose(plain.logits, before)  # a zero probe changes nothing
    probe.remove()
    assert not probe.inserted
    assert torch.allclose(model(input_ids=ids).logits, before)
    assert all("probe" not in name for name, _ in model.named_parameters())
    with pytest.raises(InputError, match="probe layer 9 does not exist"):
        Probe(model, [9])


def test_each_step_follows_the_reference_order(checkpoint: Path, tmp_path: Path) -> None:
    events: list[str] = []
    snapshots: dict[str, dict[str, torch.Tensor]] = {}
    holder: dict[str, Any] = {}

    def trace(event: str) -> None:
        events.append(event)
        if event in ("safety-gradient", "perturb", "restore") and "model" in holder:
            snapshots.setdefault(event, _lora(holder["model"]))

    loaded = load_model(ModelSpec(str(checkpoint), tmp_path / "cache", dtype="float32"))
    settings = _settings(defense="sap")
    model = attach_lora(loaded.model, settings)
    holder["model"] = model
    # Train LoRA off zero first, so that ||LoRA|| and with it the perturbation are not zero.
    sequences = [tokenize(loaded.tokenizer, turns, 64) for turns in TASK]
    train(model, loaded.tokenizer, sequences, _settings())
    train(model, loaded.tokenizer, sequences, settings, triples=TRIPLES, trace=trace)
    step = ["safety-gradient", "perturb", "probe-gradient", "restore", "task-step", "probe-step"]
    assert events == ["probe-inserted", *step, *step, "probe-removed"]
    moved = any(
        not torch.equal(snapshots["perturb"][n], snapshots["safety-gradient"][n])
        for n in snapshots["perturb"]
    )
    assert moved  # step 1 moved LoRA ...
    for name, value in snapshots["restore"].items():  # ... and step 3 put it back
        assert torch.allclose(value, snapshots["safety-gradient"][name], atol=1e-6), name
    assert all("probe" not in n for n in model.state_dict())


def test_sap_changes_the_update_and_training_is_deterministic(
    checkpoint: Path, tmp_path: Path
) -> None:
    plain = _lora(_trained(checkpoint, tmp_path, epochs=2))
    again = _lora(_trained(checkpoint, tmp_path, epochs=2))
    sap = _lora(_trained(checkpoint, tmp_path, epochs=2, defense="sap"))
    sap_again = _lora(_trained(checkpoint, tmp_path, epochs=2, defense="sap"))
    assert plain.keys() == sap.keys() and plain
    assert all(torch.equal(plain[n], again[n]) for n in plain)  # same seed, same adapter
    assert all(torch.equal(sap[n], sap_again[n]) for n in sap)
    assert any(not torch.allclose(plain[n], sap[n]) for n in plain)  # SAP moved it elsewhere
    other_seed = _lora(_trained(checkpoint, tmp_path, epochs=2, seed=4))
    assert any(not torch.equal(plain[n], other_seed[n]) for n in plain)


def test_only_lora_is_trained(checkpoint: Path, tmp_path: Path) -> None:
    loaded = load_model(ModelSpec(str(checkpoint), tmp_path / "cache", dtype="float32"))
    model = attach_lora(loaded.model, _settings())
    trainable = [p for _, p in model.named_parameters() if p.requires_grad]
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    assert names and all("lora_" in n for n in names)
    assert {id(p) for p in lora_parameters(model)} == {id(p) for p in trainable}
