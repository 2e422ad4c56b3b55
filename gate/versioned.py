"""Versioned JSON records: every file the gate writes for another stage to read back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from gate.errors import InputError

V = TypeVar("V", bound="Versioned")


class Versioned(BaseModel):
    """A frozen record whose `schema` and `schema_version` are checked when it is read back.

    Subclasses declare `schema_name: str = Field(default=..., alias="schema")` and
    `schema_version: int = N`; the defaults are what `read` expects to find.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    schema_name: str
    schema_version: int

    @classmethod
    def upgrade(cls, data: Any) -> Any:
        """An older version's parsed JSON in this version's shape (a record that changed
        shape overrides this); anything else is returned as it is."""
        return data

    def to_json(self) -> str:
        """The JSON text to write."""
        return self.model_dump_json(by_alias=True, indent=2) + "\n"

    @classmethod
    def read(cls: type[V], path: Path) -> V:
        """Read and validate `path`; any problem is one InputError line naming the file."""
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot read {path}: {exc.strerror}") from exc
        try:
            record = cls.model_validate(cls.upgrade(json.loads(text)))
        except json.JSONDecodeError as exc:
            raise InputError(f"{path} is not a valid {cls.__name__}: invalid JSON: {exc}") from exc
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "(top level)"
            raise InputError(
                f"{path} is not a valid {cls.__name__}: {where}: {first['msg']}"
            ) from exc
        schema = cls.model_fields["schema_name"].default
        version = cls.model_fields["schema_version"].default
        if (record.schema_name, record.schema_version) != (schema, version):
            raise InputError(
                f"{path}: schema {record.schema_name} v{record.schema_version} is not "
                f"{schema} v{version}"
            )
        return record
