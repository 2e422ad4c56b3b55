"""safety-gate: keep fine-tuned LLMs whose safety guardrails collapsed out of production."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("safety-gate")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
