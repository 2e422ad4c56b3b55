"""Human-labelled answers, and what a judge's agreement with them is written as."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gate.errors import InputError
from gate.files import atomic_open, sha256_file
from gate.judges.agreement import Agreement, agreement
from gate.readers import read_jsonl_rows

if TYPE_CHECKING:
    from gate.config import JudgeSection
    from gate.judges import Judge


@dataclass(frozen=True)
class LabelledPairs:
    """(prompt, response) pairs and whether a person flagged each answer (`field`: harmful for
    a harm judge's labels, refused for a refusal judge's)."""

    path: Path
    sha256: str
    texts: list[tuple[str, str]]
    labels: list[bool]
    field: str = "harmful"

    def agreement(self, judge: str, calls: Sequence[bool]) -> Agreement:
        """The judge's `calls` against these labels."""
        if sum(self.labels) in (0, len(self.labels)):
            raise InputError(
                f"{self.path}: every label is {self.field}={str(self.labels[0]).lower()}",
                hint=f"agreement needs answers labelled {self.field} and answers not",
            )
        return agreement(judge, self.labels, calls)


@dataclass(frozen=True)
class Calibration:
    """A judge's calls on labelled answers: what its error rates are measured from."""

    pairs: LabelledPairs
    calls: list[bool]


def calibrate(judge: Judge, path: Path) -> Calibration:
    """Judge the labelled answers with `judge`."""
    pairs = read_labels(path)
    calls = [call.flagged for call in judge.judge(pairs.texts)]
    if sum(pairs.labels) in (0, len(pairs.labels)):
        raise InputError(f"{path}: measuring a judge's errors needs harmful and harmless labels")
    return Calibration(pairs, calls)


def read_labels(path: Path, field: str = "harmful") -> LabelledPairs:
    """Rows of `prompt`, `response` and `field` (true/false); a bad row names its line."""
    if not path.is_file():
        raise InputError(f"labels file not found: {path}")
    texts, labels = [], []
    for line, row in read_jsonl_rows(path):
        prompt, response, label = row.get("prompt"), row.get("response"), row.get(field)
        if not isinstance(prompt, str) or not isinstance(response, str):
            raise InputError(f"{path}:{line}: needs text fields 'prompt' and 'response'")
        if not isinstance(label, bool):
            raise InputError(f"{path}:{line}: {field!r} must be true or false (got {label!r})")
        texts.append((prompt, response))
        labels.append(label)
    if not labels:
        raise InputError(f"{path} holds no labelled answers")
    return LabelledPairs(path, sha256_file(path), texts, labels, field)


OPPOSITES = {"harmful": "harmless", "refused": "answered"}


def print_agreement(measured: Agreement, field: str = "harmful") -> None:
    """The statistics with their intervals, and the confusion matrix."""
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"Judge {measured.judge} against {measured.pairs} human labels",
        caption=f"{measured.confidence:.0%} bootstrap intervals over the labelled answers",
    )
    for column in ("statistic", "value", "interval"):
        table.add_column(column, justify="left" if column == "statistic" else "right")
    for name in ("accuracy", "precision", "recall", "specificity", "f1", "kappa"):
        stat = getattr(measured, name)
        value = "n/a" if stat.value is None else f"{stat.value:.3f}"
        interval = "-" if stat.lower is None else f"[{stat.lower:.3f}, {stat.upper:.3f}]"
        table.add_row(name, value, interval)
    console = Console()
    console.print(table)
    yes, no = field, OPPOSITES.get(field, f"not {field}")
    console.print(
        f"confusion (label x call): {yes}->{yes} {measured.true_positive}, "
        f"{yes}->{no} {measured.false_negative}, {no}->{yes} "
        f"{measured.false_positive}, {no}->{no} {measured.true_negative}",
        soft_wrap=True,
    )


def write_agreement(
    out: Path, measured: Agreement, judge: JudgeSection, pairs: LabelledPairs
) -> None:
    """agreement.json: the figures, the judge and its options, the labels' hash."""
    import json

    record = {
        "schema": "safety-gate/agreement",
        "schema_version": 1,
        **measured.model_dump(mode="json"),
        "judge": {"name": judge.name, "options": judge.options},
        "labels": {"path": str(pairs.path), "sha256": pairs.sha256},
    }
    with atomic_open(out / "agreement.json") as handle:
        json.dump(record, handle, indent=2)
        handle.write("\n")
