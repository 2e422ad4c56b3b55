"""`--shard i/n`: which slice of a job one of n parallel runners (an Actions matrix) does."""

from __future__ import annotations

from gate.errors import InputError


def parse_shard(text: str) -> tuple[int, int]:
    """`i/n` -> (i, n), 1 <= i <= n."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise InputError(f"--shard {text!r} is not of the form i/n, e.g. 2/4") from None
    if not 1 <= index <= count:
        raise InputError(f"--shard {text}: i must lie in 1..n")
    return index, count


def shard_rows(total: int, index: int, count: int) -> range:
    """The contiguous rows of shard `index` of `count` (1-based) over `total` rows: sizes differ
    by at most one, and the n shards cover every row once."""
    return range(total * (index - 1) // count, total * index // count)
