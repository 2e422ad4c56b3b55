"""The alignment examples mixed into a fine-tune, chosen by their similarity to its data.

Hsiung et al. 2025: aligning on the examples *least* similar to the later fine-tuning data keeps
the guardrails better than on the most similar ones. `low` takes those (the selection `gate
select --low` makes); `high` and `random` are there to compare against.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from gate.errors import InputError
from gate.files import sha256_file
from gate.sections import FinetuneSettings
from gate.similarity.examples import Example, Fields


def build_mix(settings: FinetuneSettings, cache_dir: Path) -> tuple[list[Example], dict[str, Any]]:
    """The alignment examples to train on beside the data, and the summary of the choice."""
    if settings.mix == "none":
        if settings.mix_size:
            raise InputError("--mix-size needs --mix low, high or random")
        return [], {"mix": "none"}
    if settings.mix_size < 1:
        raise InputError(f"--mix {settings.mix} needs --mix-size K (at least 1)")
    if settings.index is None:
        raise InputError(
            f"--mix {settings.mix} needs --index, a `gate index build` folder over the "
            "alignment data"
        )
    from gate.similarity.embed import EmbeddingCache
    from gate.similarity.index import load_index
    from gate.similarity.score import run_similarity
    from gate.similarity.select import select

    loaded = load_index(Path(settings.index))
    manifest = loaded.manifest
    if settings.alignment is not None:
        _check_alignment(Path(settings.alignment), settings.index, manifest)
    assert settings.data is not None
    result = run_similarity(
        loaded,
        settings.data,
        fields=Fields(),
        cache_dir=cache_dir,
        cache=EmbeddingCache(cache_dir / "embeddings.sqlite"),
    )
    if settings.mix == "random":
        if settings.mix_size > len(loaded.examples):
            raise InputError(
                f"asked for {settings.mix_size} examples but the index holds {len(loaded.examples)}"
            )
        rng = np.random.default_rng(settings.seed)
        rows = sorted(int(r) for r in rng.choice(len(loaded.examples), settings.mix_size, False))
    else:
        rows = select(result, settings.mix_size, lowest=settings.mix == "low")
    cosines = [result.alignment_scores[row].max_cosine for row in rows]
    summary = {
        "mix": settings.mix,
        "size": len(rows),
        "index": str(loaded.folder),
        "alignment": manifest.dataset,
        "alignment_sha256": manifest.dataset_sha256,
        "embedder_id": manifest.embedder_id,
        "selected_max_cosine": {
            "min": float(min(cosines)),
            "mean": float(np.mean(cosines)),
            "max": float(max(cosines)),
        },
        "finetune_summary": result.finetune_summary.model_dump(mode="json"),
        "selected_ids": [loaded.examples[row].id for row in rows],
    }
    return [loaded.examples[row] for row in rows], summary


def _check_alignment(path: Path, index: str, manifest: Any) -> None:
    """The alignment file given must be the one the index holds, byte for byte."""
    if not path.is_file():
        raise InputError(f"alignment file not found: {path}")
    if sha256_file(path) != manifest.dataset_sha256:
        raise InputError(
            f"--alignment {path} is not the data index {index} was built from ({manifest.dataset})",
            hint="rebuild the index from this file, or drop --alignment",
        )
