"""Records that cross stages, and the names of the files a run leaves.

Evaluation produces them, policy and publish read them, `gate merge`, `gate judge` and
gate-monitor read them back; so they live below all of those, each stage importing them
and none importing another stage for them:
- `prompts.py`: a benchmark prompt and the record of which prompts a run used;
- `answers.py`: a judged generation (one line of generations.jsonl);
- `scores.py`: estimates with intervals, and the figures of one model on one suite;
- `verdict.py`: measurements, rule outcomes and the verdict;
- `result.py`: result.json, the one schema every command writes.
"""

from __future__ import annotations

RESULT_FILE = "result.json"
VERDICT_FILE = "verdict.json"
GENERATIONS_FILE = "generations.jsonl"
SHARD_FILE = "shard.json"
