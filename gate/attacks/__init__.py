"""Attacks: deterministic rewrites of a harmful request, the wrappers attackers use on a guardrail.

An attack is a registered entry (`gate.plugins.ATTACKS`) whose factory returns an `Attack`: a
stable name and version, a family (how it works), `wrap` (the request -> what the model is asked)
and `decode` (the model's answer -> what the judge reads: an answer written in the attack's
encoding is decoded; any other answer is left as it is). The judge always sees the original
request, never the wrapper, so it scores what the answer gives away, not what the wrapper asked.
The name and version enter the generation cache key and every record, so answers to two attacks,
or to two versions of one, never mix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

FAMILIES = ("instruction", "encoding", "framing")
"""How an attack works: `instruction` adds rules to the request (answer this way, never refuse);
`encoding` hides it in a cipher; `framing` puts it in a story or a conversation."""


def unchanged(answer: str) -> str:
    """The decode of an attack whose answers are plain text."""
    return answer


@dataclass(frozen=True)
class Attack:
    """One attack: what the model is asked instead of the request, and how its answer is read."""

    name: str
    version: int
    family: str
    summary: str
    """One line, for `gate plugins` and the reports."""
    wrap: Callable[[str], str] = field(compare=False)
    decode: Callable[[str], str] = field(default=unchanged, compare=False)

    @property
    def key(self) -> str:
        """`name@version`: what the cache key and the records carry."""
        return f"{self.name}@{self.version}"


def open_attack(name: str) -> Attack:
    """The attack registered as `name`."""
    from gate.plugins import ATTACKS

    attack: Attack = ATTACKS.create(name)
    return attack
