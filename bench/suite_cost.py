"""What the over-refusal suite adds to `gate check`'s wall time, on the demo's plan, in one run.

Runs `gate check` on examples/gate.toml twice, back to back, generation cache bypassed: first
with the harmful suite alone (the over-refusal suite and its rule taken out), then as shipped
with both suites. Early stopping is on in both, as in the demo. Prints both times and the ratio.

    .venv/bin/python bench/suite_cost.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GATE = Path(sys.executable).with_name("gate")


def configs(folder: Path) -> dict[str, Path]:
    """The demo config with both suites, and without the over-refusal one."""
    text = (ROOT / "examples" / "gate.toml").read_text(encoding="utf-8")
    start = text.index('[[suites]]\nkind = "over_refusal"')
    harmful = text[:start] + text[text.index("[sampling]") :]
    harmful = harmful.replace("max_over_refusal_rate = 0.20\n", "")
    paths = {}
    for name, body in (("harmful only", harmful), ("harmful + over-refusal", text)):
        path = folder / f"{len(paths)}.toml"
        path.write_text(body.replace('"demo-out/check"', f'"{folder / str(len(paths))}"'))
        paths[name] = path
    return paths


def main() -> None:
    if not (ROOT / "demo-out" / "index").is_dir():
        raise SystemExit("run `make demo` first: the config reads demo-out/index")
    with tempfile.TemporaryDirectory() as scratch:
        seconds = {}
        for name, config in configs(Path(scratch)).items():
            started = time.perf_counter()
            done = subprocess.run(
                [str(GATE), "check", "--config", str(config), "--no-cache"],
                cwd=ROOT,
                capture_output=True,
                text=True,
            )
            seconds[name] = time.perf_counter() - started
            if done.returncode not in (0, 1):
                raise SystemExit(done.stderr[-2000:])
            last = done.stdout.strip().splitlines()[-1]
            print(f"{name:24} {seconds[name]:7.1f} s  ({last[:70]})")
    base, both = seconds.values()
    added = both - base
    print(f"the over-refusal suite adds {added:.1f} s: {both / base:.2f}x the harmful suite alone")


if __name__ == "__main__":
    main()
