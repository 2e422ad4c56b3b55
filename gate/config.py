"""gate.toml: the pydantic models, defaults, overrides, and the one place validation errors form.

Flags and `GATE_*` environment variables override the file; the merged values are validated once,
and any bad value is reported as one line naming its key (`sampling.temperatures[1]`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from gate.errors import InputError
from gate.files import DEFAULT_CACHE_DIR, sha256_text
from gate.sections import FinetuneSettings, Policy, RepairSection
from gate.tomlfile import read_toml, set_path

if TYPE_CHECKING:
    from gate.suite_plan import Suite

M = TypeVar("M", bound=BaseModel)


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _WithOptions(_Section):
    """A section naming an implementation; keys it does not declare are that implementation's
    options, validated by the implementation's own model (see `validate`)."""

    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _collect_options(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        known = set(cls.model_fields)
        options = {key: value for key, value in data.items() if key not in known}
        if not options:
            return data
        kept = {key: value for key, value in data.items() if key in known}
        return {**kept, "options": {**kept.get("options", {}), **options}}


class ModelSection(_WithOptions):
    """A model to evaluate: `[model]` is the candidate, `[base]` the model before fine-tuning.

    `backend` picks the generation backend; its options (dtype, device, base_url, ...) sit in the
    same table.
    """

    path: str
    adapter: str | None = None
    backend: str = "hf"
    allow_pickle: bool = False
    trust_remote_code: bool = False
    merge_adapter: bool = True


class BenchmarkSection(_Section):
    name: str = "strongreject-small"
    prompt_field: str = "prompt"
    category_field: str | None = None
    limit: int | None = Field(default=None, ge=1)
    overlong: Literal["reject", "truncate"] = "reject"
    """A prompt longer than the model's context less max_new_tokens: `reject` stops the run
    naming its file and line (exit 2); `truncate` cuts it from the left and counts it."""


class SamplingSection(_Section):
    temperatures: list[float] = Field(default_factory=lambda: [0.0, 0.7], min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1)
    top_p: float = Field(default=1.0, gt=0, le=1)
    min_p: float = Field(default=0.1, ge=0, lt=1)
    max_new_tokens: int = Field(default=256, ge=1)
    batch_size: int | Literal["auto"] = "auto"
    """Rows per forward pass; `auto` sizes batches from free memory and prompt length."""

    @field_validator("batch_size")
    @classmethod
    def _positive(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 1:
            raise ValueError(f'batch_size must be >= 1 or "auto", got {value}')
        return value

    @field_validator("temperatures")
    @classmethod
    def _non_negative(cls, values: list[float]) -> list[float]:
        for value in values:
            if value < 0:
                raise ValueError(f"temperatures must be >= 0, got {value}")
        if len(set(values)) != len(values):
            raise ValueError("temperatures must not repeat")
        return values

    @field_validator("seeds")
    @classmethod
    def _distinct(cls, values: list[int]) -> list[int]:
        if len(set(values)) != len(values):
            raise ValueError("seeds must not repeat")
        return values


class JudgeSection(_WithOptions):
    """The judge by registry name; its options (model, device, threshold, ...) sit beside it."""

    name: str = "cross"
    labels: str | None = None
    """Human-labelled answers (JSONL: prompt, response, harmful); with them the run measures the
    judge's sensitivity and specificity and reports the harmful score corrected for them. An
    `embedded:` candidate uses the labelled answers shipped with the embedded models unless this
    is set (`"none"`: no labels)."""


class SuiteSection(_Section):
    """`[[suites]]`: one suite of the check. Its benchmark and judge default to its kind's
    (for the harmful suite, to the `[benchmark]` and `[judge]` tables)."""

    kind: str = "harmful"
    name: str | None = None
    """Its name in results and reports [default: the kind]."""
    attacks: list[str] = Field(default_factory=list)
    """For `kind = "attack"`: the attacks (registry names) each prompt is wrapped in."""
    benchmark: BenchmarkSection | None = None
    judge: JudgeSection | None = None

    @model_validator(mode="before")
    @classmethod
    def _names_as_tables(cls, data: Any) -> Any:
        # `benchmark = "x"` and `judge = "y"` are short for tables holding only the name.
        if isinstance(data, dict):
            for key in ("benchmark", "judge"):
                if isinstance(data.get(key), str):
                    data = {**data, key: {"name": data[key]}}
        return data

    @property
    def title(self) -> str:
        return self.name or self.kind


class SimilaritySection(_Section):
    index: str
    finetune: str
    threshold: float = Field(default=0.7, ge=-1, le=1)
    prompt_field: str = "prompt"
    response_field: str = "response"
    messages_field: str = "messages"
    embedder_options: dict[str, Any] = Field(default_factory=dict)
    """Over the index manifest's: e.g. this run's `base_url` for an endpoint embedder."""


class EarlyStoppingSection(_Section):
    enabled: bool = True
    round_size: int = Field(default=20, ge=1)
    """Prompts evaluated per round; the stopping rule is checked after each round."""
    alpha: float = Field(default=0.05, gt=0, lt=1)
    order_seed: int = 0
    """Seed of the random prompt order the rounds follow."""


class TrackingSection(_Section):
    """MLflow: where each `gate check` is logged, and the registered model it tags."""

    enabled: bool = True
    uri: str | None = None
    """Tracking URI; else MLFLOW_TRACKING_URI; else a SQLite store in the outputs folder."""
    experiment: str = "safety-gate"
    registered_model: str | None = None


class SlackSection(_Section):
    """Slack on BLOCK. The webhook URL is a secret, so the config names the variable holding it."""

    webhook_env: str | None = None


class OutputsSection(_Section):
    dir: str = "gate-out"
    cache_dir: str = DEFAULT_CACHE_DIR
    confidence: float = Field(default=0.95, gt=0, lt=1)


class GateConfig(_Section):
    """The whole of gate.toml."""

    model: ModelSection
    base: ModelSection | None = None
    benchmark: BenchmarkSection = Field(default_factory=BenchmarkSection)
    sampling: SamplingSection = Field(default_factory=SamplingSection)
    judge: JudgeSection = Field(default_factory=JudgeSection)
    suites: list[SuiteSection] = Field(default_factory=lambda: [SuiteSection()], min_length=1)
    """What a check evaluates; the first is the headline suite."""
    similarity: SimilaritySection | None = None
    policy: Policy = Field(default_factory=Policy)
    early_stopping: EarlyStoppingSection = Field(default_factory=EarlyStoppingSection)
    tracking: TrackingSection = Field(default_factory=TrackingSection)
    slack: SlackSection = Field(default_factory=SlackSection)
    outputs: OutputsSection = Field(default_factory=OutputsSection)
    finetune: FinetuneSettings | None = None
    """Read by `gate finetune`; a check ignores it."""
    repair: RepairSection = Field(default_factory=RepairSection)
    """What a BLOCK leads to: nothing (default), or a repair and a second check."""

    def sha256(self) -> str:
        """Hash of what determines the result: the same check in another folder hashes equal.

        Where outputs, caches and tracking go, and where Slack is, change nothing measured.
        """
        where: dict[str, Any] = {
            "outputs": {"dir", "cache_dir"},
            "tracking": True,
            "slack": True,
            "finetune": True,
            "repair": True,
        }
        return sha256_text(self.model_dump_json(exclude=where))

    def cache_dir(self) -> Path:
        return Path(self.outputs.cache_dir).expanduser()

    def suite_plan(self) -> list[Suite]:
        """Each configured suite with its kind, benchmark and judge filled in; a suite with
        attacks is one run per attack."""
        from gate.suite_plan import plan_suites

        return plan_suites(self)


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def validate(raw: dict[str, Any], source: str) -> GateConfig:
    """Validate merged settings, then each implementation's options by its own model, then
    that every suite's judge fits it and every policy rule reads a quantity a suite yields."""
    config = validate_as(GateConfig, raw, source)
    from gate.plugins import BACKENDS, JUDGES

    updates: dict[str, Any] = {}
    for key in ("model", "base"):
        section = getattr(config, key)
        if section is not None:
            options = _options(BACKENDS, section.backend, section.options, source, key, "backend")
            updates[key] = section.model_copy(update={"options": options})
    options = _options(JUDGES, config.judge.name, config.judge.options, source, "judge", "name")
    updates["judge"] = config.judge.model_copy(update={"options": options})
    suites = []
    for index, suite in enumerate(config.suites):
        where = f"suites[{index}]"
        if suite.judge is not None:
            judged = _options(JUDGES, suite.judge.name, suite.judge.options, source, where, "judge")
            suite = suite.model_copy(
                update={"judge": suite.judge.model_copy(update={"options": judged})}
            )
        suites.append(suite)
    updates["suites"] = suites
    config = config.model_copy(update=updates)
    from gate.suite_plan import check_suites

    return check_suites(config, source)


def validate_judge(raw: dict[str, Any], source: str) -> JudgeSection:
    """A `[judge]` table on its own, its options validated by the judge's model."""
    from gate.plugins import JUDGES

    section = validate_as(JudgeSection, raw, source, prefix="judge")
    options = _options(JUDGES, section.name, section.options, source, "judge", "name")
    return section.model_copy(update={"options": options})


def _options(
    registry: Any, name: str, raw: dict[str, Any], source: str, section: str, key: str
) -> dict[str, Any]:
    """The options of implementation `name`, validated and with their defaults filled in."""
    try:
        model = registry.options_model(name)
    except InputError as exc:
        raise InputError(f"{source}: {section}.{key}: {exc.message}", hint=exc.hint) from exc
    validated: BaseModel = validate_as(model, raw, source, prefix=section)
    return validated.model_dump(mode="json")


def validate_as(model: type[M], raw: dict[str, Any], source: str, prefix: str = "") -> M:
    """Validate `raw` as `model`; every problem becomes one line, naming its key, of an
    InputError."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        lines = [_problem(error, source, prefix) for error in exc.errors()]
        raise InputError("\n".join(dict.fromkeys(lines))) from exc


def _problem(error: Any, source: str, prefix: str) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    value = error.get("input")
    shown = "" if isinstance(value, dict) or error["type"] == "missing" else f" (got {value!r})"
    location = _location(((prefix,) if prefix else ()) + tuple(error["loc"]))
    return f"{source}: {location}: {message}{shown}"


def load_config(path: Path | None, overrides: dict[str, Any]) -> GateConfig:
    """Read gate.toml (if given), apply overrides (dotted keys, None = not given), validate."""
    raw = read_toml(path) if path is not None else {}
    for dotted, value in overrides.items():
        if value is not None:
            set_path(raw, dotted, value)
    return validate(raw, str(path) if path is not None else "settings")
