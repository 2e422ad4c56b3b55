"""Recognising Hugging Face Hub ids, shared by model and dataset loading."""

from __future__ import annotations

import re

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def is_hub_id(name: str) -> bool:
    """Whether `name` has the `owner/name` shape of a hub repository id."""
    return bool(_HUB_ID.match(name))
