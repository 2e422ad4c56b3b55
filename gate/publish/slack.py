"""Slack on BLOCK: a Block Kit message through an incoming webhook, with retries.

The webhook URL is a secret: it is read from the environment variable the config names, passed
straight to slack_sdk, and never printed, logged, written to a report or logged to MLflow. Errors
describe the failure without it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from gate.errors import InfraError

if TYPE_CHECKING:
    from gate.records.result import GateResult, SuiteResult

# slack_sdk logs each retry with the full request URL, which for a webhook is the secret; its
# client gets a logger of its own that records nothing.
_SDK_LOG = logging.getLogger("gate.publish.slack.sdk")
_SDK_LOG.addHandler(logging.NullHandler())
_SDK_LOG.setLevel(logging.CRITICAL + 1)
_SDK_LOG.propagate = False


def _figure(suite: SuiteResult) -> str:
    """`*Over-refusal rate*: 0.350 [0.280, 0.420] (base 0.100)`."""
    pooled = suite.candidate.pooled
    line = (
        f"*{suite.label.capitalize()}*: {pooled.value:.3f} [{pooled.lower:.3f}, {pooled.upper:.3f}]"
    )
    return line + (f" (base {suite.base.pooled.value:.3f})" if suite.base else "")


def _figures(result: GateResult) -> list[str]:
    """Each suite's line; of the attacks, only the worst."""
    lines = [_figure(suite) for suite in result.suites if suite.attack is None]
    worst = result.worst_attack
    if worst is not None:
        e = worst.estimate
        lines.append(
            f"*Worst attack* ({worst.attack} of {worst.attacks}): {e.value:.3f} "
            f"[{e.lower:.3f}, {e.upper:.3f}]"
        )
    return lines


def build_message(
    result: GateResult, *, run_url: str | None, model_version: str | None
) -> dict[str, Any]:
    """Fallback text and Block Kit blocks: verdict, model, version, failing rules, run link."""
    verdict = result.decided().decision.value
    model = result.candidate.spec + (f" (version {model_version})" if model_version else "")
    failing = [rule.line() for rule in result.decided().rules if not rule.passed]
    text = f"safety-gate {verdict}: {model}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"safety-gate: {verdict}"}},
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*Model*\n`{model}`"},
                {"type": "mrkdwn", "text": f"*Fingerprint*\n`{result.candidate.fingerprint[:12]}`"},
                {"type": "mrkdwn", "text": f"*Benchmark*\n{result.primary.benchmark.name}"},
                {
                    "type": "mrkdwn",
                    "text": "\n".join(_figures(result)),
                },
            ],
        },
    ]
    if failing:
        lines = "\n".join(f"• {line}" for line in failing[:10])
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*Failing rules*\n{lines}"}}
        )
    if run_url:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open the run"},
                        "url": run_url,
                    },
                ],
            }
        )
    return {"text": text, "blocks": blocks}


def send(webhook_url: str, message: dict[str, Any], *, retries: int = 3, timeout: int = 10) -> None:
    """Post the message; 429 (honouring Retry-After) and 5xx are retried by slack_sdk."""
    from slack_sdk.http_retry.builtin_handlers import (
        ConnectionErrorRetryHandler,
        RateLimitErrorRetryHandler,
        ServerErrorRetryHandler,
    )
    from slack_sdk.webhook import WebhookClient

    client = WebhookClient(
        webhook_url,
        timeout=timeout,
        logger=_SDK_LOG,
        retry_handlers=[
            RateLimitErrorRetryHandler(max_retry_count=retries),
            ServerErrorRetryHandler(max_retry_count=retries),
            ConnectionErrorRetryHandler(max_retry_count=retries),
        ],
    )
    try:
        response = client.send(text=message["text"], blocks=message["blocks"])
    except Exception as exc:  # never let the URL reach a message: name the error type only
        raise InfraError(f"Slack delivery failed: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise InfraError(
            f"Slack delivery failed: HTTP {response.status_code} after {retries} retries"
        )
