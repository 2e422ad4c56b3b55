"""Evaluation: for every suite, plan -> generate (cached) -> judge -> score; no verdict.

`engine.py` runs it round by round; `plan.py` says which prompts are asked under which sampling
settings; `scoring.py` and `stats.py` turn judged generations into each suite's shares with
intervals; `sequential.py` decides when enough is known; `conclude.py` builds the result and the
measurements the policy decides on; `check.py`, `shards.py` and `rejudge.py` are the runs the
pipeline calls; `suites.py` holds the built-in suite kinds and `data.py` the benchmarks.
"""

from __future__ import annotations
