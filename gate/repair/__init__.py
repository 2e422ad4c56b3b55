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

from pydantic import BaseModel, ConfigDict, Field, field_validator

from gate.errors import InputError

MANIFEST = "repair.json"
MANIFEST_SCHEMA = "safety-gate/repair"


class PruneOptions(BaseModel):
    """How to prune: shared by `gate repair` and the `[repair]` table of gate.toml."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    alpha: float = Field(default=0.1, gt=0, lt=1)
    method: str = "antidote"
    """A name in gate.plugins.REPAIR_METHODS: `antidote`, `random` or an installed plugin's."""
    targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj")
    seed: int = 0
    max_pairs: int = Field(default=128, ge=1)
    heldout: str | None = None
    """Benign examples whose loss before and after is the utility guard."""
    max_utility_loss: float | None = Field(default=None, ge=0)
    """Block the repair when held-out loss grows by more than this fraction."""

    @field_validator("method")
    @classmethod
    def _registered(cls, name: str) -> str:
        from gate.plugins import REPAIR_METHODS

        try:
            REPAIR_METHODS.entry(name)
        except InputError as exc:  # a ValueError, so the config names the key it came from
            raise ValueError(str(exc)) from None
        return name


class RepairSection(PruneOptions):
    """`[repair]`: with `enabled = true`, a BLOCKed `gate check` repairs and checks again."""

    enabled: bool = False


class RepairSettings(PruneOptions):
    """The settings of one repair."""

    model: str
    adapter: str | None = None
    calibration: str
    """A `gate check` output folder (its answers judged harmful) or a JSONL of prompt/response."""
    out: str
    max_length: int = Field(default=256, ge=16)
    batch_size: int = Field(default=4, ge=1)
    device: str = "auto"
