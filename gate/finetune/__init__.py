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

MANIFEST = "finetune.json"
MANIFEST_SCHEMA = "safety-gate/finetune"
