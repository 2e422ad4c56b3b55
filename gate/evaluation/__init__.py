"""Evaluation: plan -> generate (cached) -> judge -> score, the one path every command takes.

`engine.py` runs it; `plan.py` says which prompts are asked under which sampling settings;
`scoring.py` and `stats.py` turn judged generations into harmful scores with intervals;
`sequential.py` decides when enough is known; `check.py` and `shards.py` are the commands' runs.
"""

from __future__ import annotations
