"""Threshold rules over the exported metrics: fire once, resolve once, survive restarts.

Each (rule, series) pair has a small state: how many consecutive polls breached, and whether it
is firing. A transition puts one message in the outbox; the state and the outbox are written
atomically before any delivery, and a message leaves the outbox only once Slack accepted it. So a
restart neither repeats a sent alert nor drops one that was due (a crash between Slack's answer and
the next write can repeat one message: at-least-once, never lost).
"""

from __future__ import annotations

import json
import logging
import operator
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from gate.errors import InputError
from gate.files import atomic_open
from monitor.config import AlertRule

log = logging.getLogger("gate-monitor")
Sample = tuple[str, Mapping[str, str], float]

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


class SeriesState(BaseModel):
    breaches: int = 0
    firing: bool = False
    value: float = 0.0


class AlertMessage(BaseModel):
    """One transition of one series, waiting in the outbox until Slack takes it."""

    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    rule: str
    status: Literal["firing", "resolved"]
    severity: str
    metric: str
    labels: dict[str, str]
    value: float | None
    comparison: str
    threshold: float
    at: float = Field(default_factory=time.time)
    attempts: int = 0


class AlertStore(BaseModel):
    """The persisted part of the monitor: per-series alert state and the undelivered outbox."""

    series: dict[str, SeriesState] = Field(default_factory=dict)
    outbox: list[AlertMessage] = Field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> AlertStore:
        if not path.exists():
            return cls()
        try:
            return cls.model_validate_json(path.read_text(encoding="utf-8"))
        except (ValidationError, ValueError) as exc:
            raise InputError(
                f"alert state {path} is unreadable: {type(exc).__name__}",
                hint="move it aside to start with no alerts firing",
            ) from exc

    def save(self, path: Path) -> None:
        with atomic_open(path) as handle:
            handle.write(self.model_dump_json(indent=1))


def series_key(rule: AlertRule, labels: Mapping[str, str]) -> str:
    return f"{rule.name}|{json.dumps(dict(sorted(labels.items())), ensure_ascii=False)}"


def _still_breaching(rule: AlertRule, value: float) -> bool:
    """A firing alert holds until the value is `hysteresis` back on the safe side."""
    margin = -rule.hysteresis if rule.comparison in (">", ">=") else rule.hysteresis
    return _COMPARE[rule.comparison](value, rule.threshold + margin)


def _message(
    rule: AlertRule,
    status: Literal["firing", "resolved"],
    labels: Mapping[str, str],
    value: float | None,
) -> AlertMessage:
    return AlertMessage(
        rule=rule.name,
        status=status,
        severity=rule.severity,
        metric=rule.metric,
        labels=dict(labels),
        value=value,
        comparison=rule.comparison,
        threshold=rule.threshold,
    )


def evaluate(rules: Iterable[AlertRule], samples: Iterable[Sample], store: AlertStore) -> int:
    """Advance every series' state by one poll; returns how many messages were queued."""
    samples = list(samples)
    queued = 0
    for rule in rules:
        seen: set[str] = set()
        for name, labels, value in samples:
            if name != rule.metric or any(labels.get(k) != v for k, v in rule.labels.items()):
                continue
            key = series_key(rule, labels)
            seen.add(key)
            state = store.series.setdefault(key, SeriesState())
            state.value = value
            if state.firing:
                if not _still_breaching(rule, value):
                    state.firing, state.breaches = False, 0
                    store.outbox.append(_message(rule, "resolved", labels, value))
                    queued += 1
                continue
            state.breaches = (
                state.breaches + 1 if _COMPARE[rule.comparison](value, rule.threshold) else 0
            )
            if state.breaches >= rule.for_polls:
                state.firing = True
                store.outbox.append(_message(rule, "firing", labels, value))
                queued += 1
        prefix = f"{rule.name}|"
        for key in [k for k in store.series if k.startswith(prefix) and k not in seen]:
            # The series is no longer exported (its version rotated out): close what it opened.
            if store.series.pop(key).firing:
                labels = json.loads(key[len(prefix) :])
                store.outbox.append(_message(rule, "resolved", labels, None))
                queued += 1
    known = {f"{rule.name}|" for rule in rules}
    for key in [k for k in store.series if not any(k.startswith(p) for p in known)]:
        del store.series[key]  # a rule removed from the config
    return queued


def deliver(store: AlertStore, path: Path, send: Callable[[AlertMessage], None]) -> int:
    """Send the outbox in order, saving after each success; stop at the first failure.

    Returns the number of failed deliveries (0 or 1): the failed message stays first in the
    outbox and is retried on the next poll, so order is kept and a down Slack is not hammered.
    """
    while store.outbox:
        message = store.outbox[0]
        try:
            send(message)
        except Exception as exc:  # slack_sdk, network, HTTP status: all mean "try again later"
            message.attempts += 1
            store.save(path)
            log.warning(
                "alert %s (%s) not delivered, attempt %d: %s",
                message.rule,
                message.status,
                message.attempts,
                exc,
            )
            return 1
        store.outbox.pop(0)
        store.save(path)
        log.info("alert %s %s delivered", message.rule, message.status)
    return 0
