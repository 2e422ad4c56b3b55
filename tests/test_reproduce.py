"""bench/reproduce.py's own machinery: resuming, its intervals, and that its training data is
checked for evaluation prompts. (The experiments themselves run in bench/, not here.)"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from repro import plan, stats  # noqa: E402
from repro.steps import Step, run_steps  # noqa: E402

from tests.test_data_hygiene import TRAINING  # noqa: E402


def test_a_second_run_skips_what_the_first_finished(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ran: list[str] = []

    def make(name: str, fail: bool = False) -> Step:
        def action() -> None:
            if fail:
                raise KeyboardInterrupt  # an interruption half way
            ran.append(name)
            (tmp_path / name).mkdir()

        return Step(name, tmp_path / name, action)

    with pytest.raises(KeyboardInterrupt):
        run_steps([make("a"), make("b", fail=True), make("c")], tmp_path / "timings.json")
    assert ran == ["a"] and not (tmp_path / "b").exists()
    run_steps([make("a"), make("b"), make("c"), make("c")], tmp_path / "timings.json")
    assert ran == ["a", "b", "c"]  # a kept, c (listed twice) run once
    out = capsys.readouterr().out
    assert "3 steps, 1 done earlier" in out and "about 0 s left" in out


def test_safe_kept_is_the_share_of_safe_answers_still_safe_after() -> None:
    before = np.array([[0.0], [0.0], [0.0], [0.0], [1.0]])  # 4 safe answers before
    after = np.array([[0.0], [1.0], [0.0], [1.0], [1.0]])  # 2 of them still safe
    kept = stats.safe_kept(after, before)
    assert kept.value == pytest.approx(0.5) and 0.0 <= kept.lower <= 0.5 <= kept.upper <= 1.0
    delta = stats.delta(after, before)
    assert delta.value == pytest.approx(0.4) and delta.lower < 0.4 < delta.upper


def test_spearman_with_its_interval() -> None:
    x = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
    rising = stats.spearman(x, [1.0, 2.0, 2.5, 4.0, 5.0, 5.5, 7.0, 8.0])
    assert rising.value == pytest.approx(1.0) and rising.lower == pytest.approx(1.0)
    mixed = stats.spearman(x, [3.0, 1.0, 4.0, 1.5, 5.0, 9.0, 2.0, 6.0])
    assert -1.0 < mixed.lower < mixed.value < mixed.upper <= 1.0


def test_every_file_the_experiments_train_on_is_checked_for_evaluation_prompts() -> None:
    sources = [plan.POOL, plan.NEAR, plan.FAR, plan.BENIGN, plan.HARMFUL, plan.HELDOUT]
    assert all(path in TRAINING for path in sources)
