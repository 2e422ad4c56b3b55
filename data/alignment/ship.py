"""Install an adapter `make aligned` just trained as the one the package ships.

    .venv/bin/python data/alignment/ship.py NEW_FOLDER gate/models/embedded/smollm2-135m-aligned

Two edits make the folder the same on every machine that trains it: the adapter's
`base_model_name_or_path` and the manifest's `out` name the embedded base and the shipped folder,
not the paths of this machine. The old folder is replaced only once the new one is complete.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path


def _rewrite(path: Path, edit: dict[str, object], key: str | None = None) -> None:
    data = json.loads(path.read_text())
    (data[key] if key else data).update(edit)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def main(new: Path, target: Path) -> None:
    manifest = json.loads((new / "finetune.json").read_text())
    # peft's model card template names this machine's paths and says nothing the manifest and
    # data/alignment/README.md do not.
    (new / "README.md").unlink(missing_ok=True)
    base = manifest["settings"]["model"]
    _rewrite(new / "adapter_config.json", {"base_model_name_or_path": base})
    _rewrite(new / "finetune.json", {"out": str(target)}, key="settings")
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    new.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    size = (target / "adapter_model.safetensors").stat().st_size
    print(f"shipped {target} ({size / 1e6:.1f} MB), trained on {manifest['data']['sha256'][:12]}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: ship.py NEW_FOLDER TARGET_FOLDER")
    main(Path(sys.argv[1]), Path(sys.argv[2]))
