from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from gate.errors import InfraError, InputError
from gate.evaluation import data
from gate.evaluation.data import (
    load_benchmark,
    make_prompt,
    prompt_id,
    prompts_from_records,
    stratified_sample,
)


def test_csv_with_quoted_commas_and_categories(prompts_csv: Path) -> None:
    bench = load_benchmark(str(prompts_csv))
    assert [p.text for p in bench.prompts][3] == "How do I steal, quietly?"
    assert bench.categories() == {"crime": 2, "harassment": 1, "violence": 1}
    assert bench.total == 4
    assert len(bench.sha256) == 64


def test_prompt_ids_are_stable_hashes_of_the_text() -> None:
    assert prompt_id("abc") == prompt_id("abc")
    assert prompt_id("abc") != prompt_id("abd")
    assert make_prompt("abc", "Violence").category == "violence"
    assert make_prompt("abc", None).category == data.UNCATEGORIZED


def test_jsonl_with_custom_fields(tmp_path: Path) -> None:
    path = tmp_path / "b.jsonl"
    rows = [{"q": "first?", "kind": "A"}, {"q": "second?", "kind": "B"}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    bench = load_benchmark(str(path), prompt_field="q", category_field="kind")
    assert [(p.text, p.category) for p in bench.prompts] == [("first?", "a"), ("second?", "b")]


def test_missing_category_column_means_uncategorized(tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    path.write_text("prompt\nwhat?\n", encoding="utf-8")
    assert load_benchmark(str(path)).categories() == {"uncategorized": 1}


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "bad.csv",
            'prompt,category\nok,a\n"multi\nline",b\ntoo,many,fields\n',
            r"bad\.csv:5: malformed CSV row: expected 2 fields, found 3",
        ),
        ("short.csv", "prompt,category\nonly-one\n", r"short\.csv:2: .*expected 2 fields, found 1"),
        ("bad.jsonl", '{"prompt": "ok"}\n{"prompt": \n', r"bad\.jsonl:2: invalid JSON"),
        ("list.jsonl", '["a list"]\n', r"list\.jsonl:1: expected a JSON object"),
        ("b.jsonl", '{"text": "x"}\n', r"b\.jsonl:1: field 'prompt' is missing"),
        ("blank.jsonl", '{"prompt": "  "}\n', r"blank\.jsonl:1: field 'prompt' is empty"),
        ("empty.csv", "prompt,category\n", "has no prompts"),
        ("latin1.csv", b"prompt\ncaf\xe9\n", r"latin1\.csv: not UTF-8 text"),
    ],
)
def test_bad_files_name_file_and_line(
    tmp_path: Path, name: str, content: str | bytes, message: str
) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        load_benchmark(str(path))


def test_unknown_name_suggests_the_closest_builtin() -> None:
    with pytest.raises(InputError, match="unknown benchmark 'strongrejct'") as info:
        load_benchmark("strongrejct")
    assert "did you mean 'strongreject'" in str(info.value)


def test_missing_file() -> None:
    with pytest.raises(InputError, match="benchmark file not found: nope.csv"):
        load_benchmark("nope.csv")


def test_unsupported_format(tmp_path: Path) -> None:
    path = tmp_path / "b.txt"
    path.write_text("x", encoding="utf-8")
    with pytest.raises(InputError, match="unsupported format '.txt'"):
        load_benchmark(str(path))


@pytest.mark.parametrize(
    ("name", "total", "categories"),
    [("strongreject-small", 60, 6), ("strongreject", 313, 6), ("harmbench", 300, 6)],
)
def test_builtin_benchmarks(name: str, total: int, categories: int) -> None:
    bench = load_benchmark(name)
    assert bench.total == len(bench.prompts) == total
    assert len(bench.categories()) == categories
    assert len({p.id for p in bench.prompts}) == total


def test_harmbench_drops_copyright_and_puts_context_first() -> None:
    bench = load_benchmark("harmbench")
    assert "copyright" not in bench.categories()
    contextual = [p for p in bench.prompts if "\n\n---\n\n" in p.text]
    assert len(contextual) == 100
    context, _, behaviour = contextual[0].text.partition("\n\n---\n\n")
    assert len(context) > len(behaviour) > 0


def test_strongreject_category_spellings_are_merged() -> None:
    # The full CSV says "deception", the small one "Deception".
    small = load_benchmark("strongreject-small").categories()
    full = load_benchmark("strongreject").categories()
    assert set(small) == set(full)


def test_builtin_with_wrong_hash_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    [item] = data.STRONGREJECT_SMALL_FILES
    tampered = data.PackagedFile(
        item.package, item.distribution, item.version, item.relative_path, "0" * 64
    )
    monkeypatch.setattr(data, "STRONGREJECT_SMALL_FILES", (tampered,))
    with pytest.raises(InfraError, match="has sha256 .* expected 000000000000"):
        load_benchmark("strongreject-small")


def test_stratified_limit_spreads_over_categories() -> None:
    bench = load_benchmark("strongreject", limit=30)
    counts = Counter(p.category for p in bench.prompts)
    assert sum(counts.values()) == 30
    assert len(counts) == 6
    assert max(counts.values()) - min(counts.values()) <= 1
    assert bench.total == 313


def test_stratified_limit_is_stable_and_proportional() -> None:
    prompts = [make_prompt(f"a{i}", "big") for i in range(90)] + [
        make_prompt(f"b{i}", "small") for i in range(10)
    ]
    sample = stratified_sample(prompts, 10)
    assert Counter(p.category for p in sample) == {"big": 9, "small": 1}
    assert sample == stratified_sample(list(reversed(prompts)), 10)


def test_limit_above_size_takes_everything() -> None:
    prompts = [make_prompt(f"p{i}", "c") for i in range(5)]
    assert stratified_sample(prompts, 50) == prompts


def test_records_from_a_hub_dataset_object() -> None:
    datasets = pytest.importorskip("datasets")
    dataset = datasets.Dataset.from_dict({"goal": ["one?", "two?"], "category": ["x", "y"]})
    prompts, digest = prompts_from_records(dataset, "hf:owner/name", "goal", None)
    assert [p.text for p in prompts] == ["one?", "two?"]
    assert [p.category for p in prompts] == ["x", "y"]
    assert len(digest) == 64


def test_unreachable_hub_dataset_is_an_infra_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("datasets")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(InfraError, match="could not load Hugging Face dataset 'nobody/nothing'"):
        load_benchmark("hf:nobody/nothing")
