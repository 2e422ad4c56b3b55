"""`gate plugins`: every entry of every registry, where it came from, and why a plugin is broken."""

from __future__ import annotations

import click

from gate.cli.app import cli


@cli.command("plugins")
def plugins() -> None:
    """List every registered implementation and where it came from."""
    # Imported here: listing loads every plugin, which no other command's --help may do.
    from gate.plugins import REGISTRIES

    rows = [("KIND", "NAME", "ORIGIN")]
    errors: dict[int, str] = {}
    for registry in REGISTRIES:
        for entry in registry.entries():
            if entry.error is not None:
                errors[len(rows)] = entry.error
            rows.append((registry.kind, entry.name, entry.origin))
    widths = [max(len(row[column]) for row in rows) for column in range(2)]
    for index, (kind, name, origin) in enumerate(rows):
        line = f"{kind:<{widths[0]}}  {name:<{widths[1]}}  {origin}"
        if index in errors:
            line += f"  BROKEN: {errors[index]}"
        click.echo(line)
