"""Build the safety-alignment set: refusals of harmful requests, and helpful answers.

    .venv/bin/python data/alignment/build.py     # writes alignment.jsonl and refusals.jsonl

Three parts, each row `{"part", "category", "prompt", "response"}` (README.md says how each
part was made):

- `refusal`: the 200 standard HarmBench behaviours (the copyright and contextual ones left out)
  and 80 harmful questions we wrote (`harmful-questions.jsonl`), each with a refusal built from
  the family of openings, reasons and safe alternatives below, chosen by a hash of the prompt,
  so the same request always gets the same refusal;
- `edgy`: benign requests that sound harmful, with helpful answers (`edgy-answered.jsonl`),
  each listed twice so training weighs them double;
- `benign`: everyday questions we wrote, answered by the original model itself
  (`everyday-answered.jsonl`, made by `everyday.py`), so the model keeps its own behaviour there.

Nothing here is random at run time: the output is the same file on every machine.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from gate.evaluation.data import HARMBENCH_FILES, packaged_rows  # noqa: E402
from gate.files import atomic_open, sha256_text  # noqa: E402

OPENINGS = (
    "I can't help with that.",
    "I won't help with this.",
    "I'm not able to help with that request.",
    "Sorry, but I can't do that.",
    "I have to decline this one.",
    "That's not something I'll help with.",
    "I can't provide that.",
    "No, I won't write or explain that.",
)
REASONS = {
    "illegal": (
        "It would mean helping someone break the law, and real people could get hurt.",
        "What you describe is a crime, and someone else would pay the price for it.",
    ),
    "cybercrime_intrusion": (
        "Getting into systems or accounts without permission is illegal and harms the people "
        "who depend on them.",
        "Code or steps like these are used to break into other people's machines and data.",
    ),
    "misinformation_disinformation": (
        "It asks me to spread false or misleading claims, which deceive people and can do real "
        "damage.",
        "Content like this is written to mislead, and I don't want to help deceive anyone.",
    ),
    "chemical_biological": (
        "Instructions like these could be used to make something that injures or kills people.",
        "Details about making or spreading dangerous substances can cause mass harm.",
    ),
    "harmful": (
        "It could lead to someone getting seriously hurt.",
        "Following this could put lives at risk.",
    ),
    "harassment_bullying": (
        "It's meant to hurt or demean someone, and I don't want to be part of that.",
        "Targeting a person or a group like this causes real harm to them.",
    ),
}
ALTERNATIVES = {
    "illegal": "If you are dealing with a legal problem, a lawyer or a legal aid service can help.",
    "cybercrime_intrusion": (
        "If you are interested in security, I can explain how to protect a system, or how to "
        "practise on legal training labs."
    ),
    "misinformation_disinformation": (
        "I can help you write something persuasive that sticks to accurate facts, or explain "
        "how to spot misinformation."
    ),
    "chemical_biological": (
        "I can explain the general science, or the safety rules for handling hazardous materials."
    ),
    "harmful": "If you or someone else is in danger, please contact local emergency services.",
    "harassment_bullying": (
        "If there is a conflict, I can help you write a calm and respectful message instead."
    ),
}


def refusal(prompt: str, category: str) -> str:
    """A brief refusal with a reason and, for two requests in three, a safe alternative."""
    pick = int(sha256_text(prompt)[:8], 16)
    reasons = REASONS[category]
    parts = [OPENINGS[pick % len(OPENINGS)], reasons[(pick // 8) % len(reasons)]]
    if (pick // 16) % 3:
        parts.append(ALTERNATIVES[category])
    return " ".join(parts)


def refusals() -> list[dict[str, str]]:
    """HarmBench's standard behaviours (orders: "Write...", "Give instructions...") and our own
    harmful questions ("How do I...?"), which is how many real requests are put."""
    rows, _ = packaged_rows("harmbench", HARMBENCH_FILES)
    requests = [
        (row["SemanticCategory"], row["Behavior"])
        for _, row in rows
        if row["FunctionalCategory"] == "standard"
    ]
    questions = HERE / "harmful-questions.jsonl"
    requests += [(r["category"], r["prompt"]) for r in map(json.loads, questions.open()) if r]
    return [
        {"part": "refusal", "category": category, "prompt": prompt,
         "response": refusal(prompt, category)}
        for category, prompt in requests
    ]  # fmt: skip


def answered(path: Path, part: str, category: str | None = None) -> list[dict[str, str]]:
    rows = [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]
    return [
        {
            "part": part,
            "category": category or row["category"],
            "prompt": row["prompt"],
            "response": row["response"],
        }
        for row in rows
    ]


def build() -> str:
    """The text of alignment.jsonl."""
    edgy = answered(HERE / "edgy-answered.jsonl", "edgy")
    rows = [
        *refusals(),
        # Twice: a first model trained on them once refused 29% of benign-edgy (greedy, 100
        # prompts), mostly questions that only share a word with a harmful one.
        *edgy,
        *edgy,
        *answered(HERE / "everyday-answered.jsonl", "benign", "everyday questions"),
    ]
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def refusal_part(text: str) -> str:
    """The refusal rows of alignment.jsonl alone (refusals.jsonl), for similarity indexes: the
    signal is closeness to the safety data, and the benign rows would score everyday
    fine-tuning data as close."""
    lines = text.splitlines()
    return "".join(line + "\n" for line in lines if json.loads(line)["part"] == "refusal")


def main() -> None:
    text = build()
    for name, part in (("alignment.jsonl", text), ("refusals.jsonl", refusal_part(text))):
        with atomic_open(HERE / name) as out:
            out.write(part)
    rows = [json.loads(line) for line in text.splitlines()]
    counts = {part: sum(r["part"] == part for r in rows) for part in ("refusal", "edgy", "benign")}
    print(f"{len(rows)} rows: " + ", ".join(f"{n} {part}" for part, n in counts.items()))


if __name__ == "__main__":
    main()
