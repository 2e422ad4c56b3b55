"""`gate repair`: prune the weights that drive harmful answers, once, without retraining.

Antidote (Huang et al. 2024, arXiv 2408.09600, reference code git-disl/Antidote): run harmful
(prompt, answer) pairs through the model, keep for each targeted linear layer the mean squared
input activation per input channel s[c], score every weight S = |W| * sqrt(s) (Wanda's score),
and in each output row zero the top `alpha` fraction of S: the weights most active on harmful
text. With an adapter, the LoRA matrices are pruned and the base is left alone, as the reference
does. `random` prunes the same number of weights per row at random: the baseline to beat.
Both are entries of gate.plugins.REPAIR_METHODS (gate/repair/prune.py); a plugin may add more.
"""

from __future__ import annotations

from pydantic import Field

from gate.sections import OverRefusalProbe, PruneOptions

MANIFEST = "repair.json"
MANIFEST_SCHEMA = "safety-gate/repair"


class RepairSettings(PruneOptions, OverRefusalProbe):
    """The settings of one repair."""

    model: str
    adapter: str | None = None
    calibration: str
    """A `gate check` output folder (its answers judged harmful) or a JSONL of prompt/response."""
    out: str
    max_length: int = Field(default=256, ge=16)
    batch_size: int = Field(default=4, ge=1)
    device: str = "auto"
