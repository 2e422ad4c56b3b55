"""`gate judge` (judge stored generations again) and `gate judge agreement` (against labels)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from gate.cli.app import cli
from gate.cli.options import cache_options, no_cache_option
from gate.cli.output import exit_for, key_values, log, present

if TYPE_CHECKING:
    from gate.config import JudgeSection


def _judge_options(command: Any) -> Any:
    for option in reversed(
        [
            click.option("--judge", "judge_name", help="Judge name [default: the config's]."),
            click.option(
                "--judge-option",
                "judge_options",
                multiple=True,
                metavar="KEY=VALUE",
                help="A judge option (TOML value), e.g. threshold=0.5; repeatable.",
            ),
            click.option(
                "--config",
                "config_path",
                type=click.Path(dir_okay=False, path_type=Path),
                help="A gate.toml whose [judge] table to start from.",
            ),
        ]
    ):
        command = option(command)
    return command


def judge_section(
    name: str | None, options: tuple[str, ...], config_path: Path | None
) -> JudgeSection:
    """The judge from a config's [judge], the name and KEY=VALUE options given on the line."""
    from gate.config import validate_judge
    from gate.tomlfile import read_toml

    raw: dict[str, Any] = dict(read_toml(config_path).get("judge", {})) if config_path else {}
    if name:
        raw["name"] = name
    raw |= key_values(options, "--judge-option")
    return validate_judge(raw, str(config_path) if config_path else "--judge")


@cli.group("judge", invoke_without_command=True)
@_judge_options
@click.option(
    "--generations",
    type=click.Path(path_type=Path),
    help="A folder written by gate eval/check/merge, or its generations.jsonl.",
)
@cache_options
@no_cache_option
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Output folder.")
@click.pass_context
def judge_group(
    ctx: click.Context,
    judge_name: str | None,
    judge_options: tuple[str, ...],
    config_path: Path | None,
    generations: Path | None,
    cache_dir: Path,
    no_cache: bool,
    out: Path | None,
) -> None:
    """Judge stored generations again with another judge; no answer is generated again.

    Writes result.json and generations.jsonl (and, when the source run decided, the reports and
    verdict.json) to --out. Exit 0 PASS or measured, 1 BLOCK, 2 bad input, 3 error.
    """
    if ctx.invoked_subcommand is not None:
        return
    if generations is None or out is None:
        raise click.UsageError("pass --generations and --out (or a subcommand: agreement)")
    from gate.pipeline.commands import rejudge_answers

    section = judge_section(judge_name, judge_options, config_path)
    result = rejudge_answers(generations, section, out, log=log, use_cache=not no_cache)
    if result.verdict is None:
        from gate.publish.console import check_summary

        click.echo(check_summary(result))
        return
    present(result)
    exit_for(result.verdict)


@judge_group.command("agreement")
@_judge_options
@click.option(
    "--labels",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSONL of prompt, response and harmful (a harm judge) or refused (a refusal judge), "
    "true/false, labelled by people.",
)
@cache_options
@no_cache_option
@click.option("--tracking-uri", help="Also log the figures to this MLflow server or store.")
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), help="Folder for agreement.json."
)
def agreement_command(
    judge_name: str | None,
    judge_options: tuple[str, ...],
    config_path: Path | None,
    labels: Path,
    cache_dir: Path,
    no_cache: bool,
    tracking_uri: str | None,
    out: Path | None,
) -> None:
    """Accuracy, precision, recall, F1 and Cohen's kappa of a judge on human labels, with
    bootstrap intervals and the confusion matrix."""
    from gate.judges.labels import print_agreement
    from gate.pipeline.commands import judge_agreement
    from gate.plugins import JUDGE_FAMILIES, judge_family

    section = judge_section(judge_name, judge_options, config_path)
    measured = judge_agreement(
        section,
        labels,
        cache_dir,
        out=out,
        tracking_uri=tracking_uri,
        use_cache=not no_cache,
        log=log,
    )
    print_agreement(measured, JUDGE_FAMILIES.get(judge_family(section.name), "flagged"))
