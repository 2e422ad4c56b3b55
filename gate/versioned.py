"""Versioned JSON records: every file the gate writes for another stage to read back."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

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
            record = cls.model_validate_json(text)
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
