"""Publish a decided result: result.json and reports, MLflow and the registry, Slack, GitHub.

The schema every command writes is `gate.records.result`; `artifacts.py` writes the files so that
nothing claims PASS after a failure; `pipeline.py` runs the steps in order. `names.py` is the
contract of MLflow names that gate-monitor reads back, and this package's import stays light for it.
"""
