"""monitor.toml: the pydantic models of the gate-monitor service and its one loader.

A bad file stops the service at start with one line naming the key (exit 2); a service that
started with a typo in an alert rule would watch nothing and say nothing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from gate.config import validate_as
from gate.errors import InputError
from gate.publish import names
from gate.registry import did_you_mean
from gate.tomlfile import read_toml
from monitor.metrics import exported_metrics

Comparison = Literal[">", ">=", "<", "<="]


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ServerSection(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=9464, ge=0, le=65535)
    render_ttl_seconds: float = Field(default=1.0, ge=0)
    """A scrape within this many seconds of the last one reuses its rendered text."""


class MlflowSection(_Section):
    uri: str | None = None
    """Tracking server; MLFLOW_TRACKING_URI when unset."""
    experiments: list[str] = Field(default_factory=lambda: ["safety-gate"], min_length=1)
    interval_seconds: float = Field(default=60.0, gt=0)
    versions_per_model: int = Field(default=5, ge=1)
    """Only the latest N versions of each model are exported: bounded label cardinality."""
    max_runs: int = Field(default=5000, ge=1)
    """Runs read per experiment and poll, newest first."""
    timeout_seconds: float = Field(default=10.0, gt=0)


class AlertRule(_Section):
    name: str = Field(min_length=1)
    metric: str
    labels: dict[str, str] = Field(default_factory=dict)
    """Only series whose labels equal these are checked."""
    comparison: Comparison = ">"
    threshold: float
    for_polls: int = Field(default=1, ge=1)
    """The condition must hold on this many consecutive polls before the alert fires."""
    hysteresis: float = Field(default=0.0, ge=0)
    """A firing alert resolves only once the value is this far back on the safe side."""
    severity: Literal["info", "warning", "critical"] = "warning"

    @field_validator("metric")
    @classmethod
    def _exported(cls, value: str, info: ValidationInfo) -> str:
        # An alert on a metric the monitor never exports would never fire, and never say so.
        known = known_metrics()
        if value not in known:
            raise ValueError(
                f"alert {info.data.get('name', '')!r} watches {value!r}, which gate-monitor does "
                f"not export ({did_you_mean(value, known)})"
            )
        return value


def known_metrics() -> list[str]:
    """Every family gate-monitor can export: the fixed ones and each registered suite kind's."""
    from gate.plugins import SUITES

    suites = []
    for name in SUITES.names():
        try:
            kind = SUITES.create(name)
        except InputError:  # a broken plugin: `gate plugins` says why; its metrics never come
            continue
        # An attacked kind's runs carry an attack label; its families add the worst attack's.
        attack = "any" if kind.attacked else ""
        suites.append(
            names.SuiteNames(name, kind.metric, kind.quantity, kind.complement or "", attack=attack)
        )
    return exported_metrics(suites)


class SlackSection(_Section):
    webhook_env: str | None = None
    """Name of the environment variable holding the incoming-webhook URL (never the URL)."""
    retries: int = Field(default=3, ge=0, le=10)
    timeout_seconds: int = Field(default=10, ge=1)


class ProbeSection(_Section):
    endpoint: str
    """Base URL of an OpenAI-compatible server, e.g. http://vllm:8000/v1."""
    model: str
    api_key_env: str | None = None
    benchmark: str = "strongreject-small"
    prompts_per_poll: int = Field(default=5, ge=1)
    window: int = Field(default=100, ge=1)
    """The exported ratio covers the last this many answers."""
    interval_seconds: float = Field(default=300.0, gt=0)
    judge: str = "keyword"
    max_tokens: int = Field(default=128, ge=1)
    temperature: float = Field(default=0.0, ge=0)
    timeout_seconds: float = Field(default=60.0, gt=0)

    @field_validator("endpoint")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")


class StateSection(_Section):
    path: str = "gate-monitor-state.json"
    """Alert state and undelivered messages, rewritten atomically after every change."""


class MonitorConfig(_Section):
    server: ServerSection = Field(default_factory=ServerSection)
    mlflow: MlflowSection = Field(default_factory=MlflowSection)
    state: StateSection = Field(default_factory=StateSection)
    alerts: list[AlertRule] = Field(default_factory=list)
    slack: SlackSection = Field(default_factory=SlackSection)
    probe: ProbeSection | None = None

    @model_validator(mode="after")
    def _unique_alert_names(self) -> MonitorConfig:
        names = [rule.name for rule in self.alerts]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"alert name {name!r} is used twice; names key the alert state")
        return self

    def tracking_uri(self) -> str:
        uri = self.mlflow.uri or os.environ.get("MLFLOW_TRACKING_URI")
        if not uri:
            raise InputError(
                "no MLflow server: set [mlflow] uri in the config or MLFLOW_TRACKING_URI"
            )
        return uri


def load_monitor_config(path: Path) -> MonitorConfig:
    """Read and validate monitor.toml; check the secrets it names exist in the environment."""
    if not path.is_file():
        raise InputError(
            f"config file not found: {path}", hint="start from monitor/monitor.example.toml"
        )
    config = validate_as(MonitorConfig, read_toml(path), str(path))
    uri = config.tracking_uri()
    database = Path(uri.removeprefix("sqlite:///"))
    if uri.startswith("sqlite:///") and not database.is_file():
        # MLflow would create an empty store there, and the monitor would watch it forever.
        raise InputError(f"{path}: no MLflow database at {database}", hint="check [mlflow] uri")
    for variable in (config.slack.webhook_env, config.probe.api_key_env if config.probe else None):
        if variable and not os.environ.get(variable):
            raise InputError(f"{path}: the environment variable {variable} is not set")
    if config.alerts and not config.slack.webhook_env:
        raise InputError(f"{path}: alerts need [slack] webhook_env to be delivered anywhere")
    return config
