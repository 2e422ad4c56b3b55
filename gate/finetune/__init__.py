"""`gate finetune`: LoRA fine-tuning with safety kept in.

Two defences from the papers the gate checks against, usable together:
- a data mix (Hsiung et al. 2025): the K alignment examples least similar to the fine-tuning data
  are trained on beside it (`mix = "low"`; `high` and `random` exist to compare);
- SAP, safety-aware probing (Wu et al. 2025, arXiv 2505.16737, reference code ChengcanWu/SAP):
  a probe perturbs hidden states while LoRA trains, steering updates away from the direction in
  which a contrastive safety loss grows (sap.py).

The output is a standard PEFT adapter folder plus `finetune.json`, the manifest of what it was
trained from; `gate check --adapter DIR` loads it like any adapter.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MANIFEST = "finetune.json"
MANIFEST_SCHEMA = "safety-gate/finetune"


class FinetuneSettings(BaseModel):
    """The settings of one fine-tune: the `[finetune]` table of gate.toml, or the flags."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str | None = None
    """The base checkpoint: a folder, .gguf file (converted once, cached), hub id or embedded:."""
    data: str | None = None
    """The fine-tuning set: JSONL/CSV of prompt/response or chat `messages`."""
    out: str | None = None
    """The adapter folder to create; it must not exist."""
    alignment: str | None = None
    """The alignment set to mix from; must be the data the index was built from."""
    index: str | None = None
    """A `gate index build` folder over the alignment set (needed for mix low and high)."""
    mix: Literal["none", "low", "high", "random"] = "none"
    mix_size: int = Field(default=0, ge=0)
    defense: Literal["none", "sap"] = "none"
    safety_triples: str | None = None
    """JSONL of (prompt, safe, harmful), or a `gate check` output folder to build them from."""
    heldout: str | None = None
    """Benign examples never trained on: their loss is the utility figure (before and after)."""
    epochs: int = Field(default=1, ge=1)
    lr: float = Field(default=1e-4, gt=0)
    lora_r: int = Field(default=8, ge=1)
    lora_alpha: int = Field(default=16, ge=1)
    lora_dropout: float = Field(default=0.0, ge=0, lt=1)
    """0 by default so that a run is deterministic for a seed (the reference uses 0.1)."""
    target_modules: tuple[str, ...] = Field(default=("q_proj", "v_proj"), min_length=1)
    batch_size: int = Field(default=4, ge=1)
    max_length: int = Field(default=256, ge=16)
    seed: int = 0
    probe_layers: tuple[int, ...] = Field(default=(3, 9), min_length=1)
    """Decoder layers whose mlp.down_proj output the probe shifts (the reference's, for 32)."""
    probe_lr: float = Field(default=0.05, gt=0)
    grad_rate: float = Field(default=2e-5, gt=0)
    triples_batch: int = Field(default=8, ge=1)
    max_triples: int = Field(default=48, ge=2)
    """The reference trains its safety signal on 48 triples."""
    device: str = "auto"
    tracking_uri: str | None = None
    experiment: str = "safety-gate-finetune"
