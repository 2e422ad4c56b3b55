"""gate.files: what the gate writes and shows about paths and URLs."""

from __future__ import annotations

from pathlib import Path


def test_urls_lose_their_credentials() -> None:
    from gate.files import redact_url

    assert redact_url("https://user:tok@mlflow.example:5000/api?key=abc") == (
        "https://mlflow.example:5000/api"
    )
    assert redact_url("sqlite:////tmp/mlflow.db") == "sqlite:////tmp/mlflow.db"
    assert redact_url("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"


def test_a_content_keyed_folder_another_process_finished_first_is_kept(tmp_path: Path) -> None:
    import pytest

    from gate.errors import InputError
    from gate.files import new_folder

    target = tmp_path / "abc123"
    with new_folder(target, exist_ok=True) as staging:
        (staging / "config.json").write_text("ours")
        target.mkdir()
        (target / "config.json").write_text("theirs")
    assert (target / "config.json").read_text() == "theirs"
    with pytest.raises(InputError, match="appeared while"), new_folder(tmp_path / "out"):
        (tmp_path / "out").mkdir()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_the_default_cache_dir_is_defined_once() -> None:
    from gate.config import OutputsSection
    from gate.files import default_cache_dir
    from gate.judges import JudgeContext

    assert JudgeContext().cache_dir == default_cache_dir()
    assert Path(OutputsSection().cache_dir).expanduser() == default_cache_dir()
