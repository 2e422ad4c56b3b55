"""Every extension point of the gate, and its built-in entries: one table, one way in.

Built-ins are registered here exactly as a plugin distribution registers through entry points
(the group beside each registry), so adding one is one line here or one line in another
package's pyproject.toml. Nothing is imported until an entry is used.

Where each kind of extension goes:
- a generation backend: a module in gate/generate/ with `open(options, target) -> Generator`;
- a judge: a module in gate/judges/ with `open(options, context) -> Judge` (`family` says what
  flags: `harm` for harmful answers, `refusal` for refused ones);
- an embedder: gate/similarity/embed.py, `factory(cache_dir=, model=, batch_size=, options=)`;
- a benchmark: `factory() -> (prompts, sha256 of the source)` (gate/evaluation/data.py);
- a repair method: `factory(settings, model, layers, batches) -> masks` (gate/repair/prune.py);
- a report format: `render(result, records) -> str`, meta `filename=` and, to be written by
  every check, `written=True` (gate/publish/reports/); an empty text writes no file;
- an attack: a factory `() -> Attack` (gate/attacks/), named in `[[suites]] attacks`;
- a suite: see its entry below.
"""

from __future__ import annotations

from typing import Any

from gate.registry import Registry

BACKENDS: Registry[Any] = Registry("generation backend", "safety_gate.backends")
BACKENDS.add("hf", "gate.generate.hf:open_hf", options="gate.generate.hf:HFOptions")
BACKENDS.add("vllm", "gate.generate.vllm:open_vllm", options="gate.generate.vllm:VLLMOptions")
BACKENDS.add(
    "openai", "gate.generate.openai:open_openai", options="gate.generate.openai:OpenAIOptions"
)

JUDGES: Registry[Any] = Registry("judge", "safety_gate.judges")
JUDGES.add("keyword", "gate.judges.keyword:open_keyword", family="harm")
JUDGES.add(
    "learned",
    "gate.judges.learned:open_learned",
    options="gate.judges.learned:LearnedOptions",
    family="harm",
)
JUDGES.add(
    "cross",
    "gate.judges.cross:open_cross",
    options="gate.judges.cross:CrossOptions",
    family="harm",
)
JUDGES.add(
    "rubric",
    "gate.judges.rubric:open_rubric",
    options="gate.judges.rubric:RubricOptions",
    family="harm",
)
JUDGES.add(
    "llamaguard",
    "gate.judges.llamaguard:open_llamaguard",
    options="gate.judges.llamaguard:LlamaGuardOptions",
    family="harm",
)
JUDGES.add(
    "harmbench",
    "gate.judges.harmbench:open_harmbench",
    options="gate.judges.harmbench:HarmBenchOptions",
    family="harm",
)
JUDGES.add(
    "wildguard",
    "gate.judges.wildguard:open_wildguard",
    options="gate.judges.wildguard:WildGuardOptions",
    family="harm",
)
JUDGES.add("phrases", "gate.judges.refusal:open_no_refusal", family="harm")
JUDGES.add("refusal-phrases", "gate.judges.refusal:open_refusal_phrases", family="refusal")

JUDGE_FAMILIES = {"harm": "harmful", "refusal": "refused"}
"""Each judge family, and what it calls a flagged answer: the field its labels files carry."""


def judge_family(name: str) -> str:
    """The family of the judge registered as `name` (`harm` where the entry declares none)."""
    return str(JUDGES.meta(name).get("family", "harm"))


EMBEDDERS: Registry[Any] = Registry("embedder", "safety_gate.embedders")
EMBEDDERS.add("minilm", "gate.similarity.embed:open_minilm")
EMBEDDERS.add("hidden-state", "gate.similarity.embed:open_hidden_state")
EMBEDDERS.add("openai", "gate.similarity.openai:open_openai_embedder")

SUITES: Registry[Any] = Registry("suite kind", "safety_gate.suites")
SUITES.add("harmful", "gate.evaluation.suites:harmful")
SUITES.add("over_refusal", "gate.evaluation.suites:over_refusal")
SUITES.add("attack", "gate.evaluation.suites:attack")

ATTACKS: Registry[Any] = Registry("attack", "safety_gate.attacks")
ATTACKS.add("prefix-injection", "gate.attacks.transforms:prefix_injection")
ATTACKS.add("refusal-suppression", "gate.attacks.transforms:refusal_suppression")
ATTACKS.add("style-injection", "gate.attacks.transforms:style_injection")
ATTACKS.add("base64", "gate.attacks.transforms:base64_attack")
ATTACKS.add("rot13", "gate.attacks.transforms:rot13_attack")
ATTACKS.add("fiction", "gate.attacks.transforms:fiction")
ATTACKS.add("few-shot", "gate.attacks.transforms:few_shot")

BENCHMARKS: Registry[Any] = Registry("benchmark", "safety_gate.benchmarks")
BENCHMARKS.add(
    "strongreject-small",
    "gate.evaluation.data:strongreject_small",
    description="StrongREJECT small: 60 prompts, 6 categories",
)
BENCHMARKS.add(
    "strongreject",
    "gate.evaluation.data:strongreject",
    description="StrongREJECT: 313 prompts, 6 categories",
)
BENCHMARKS.add(
    "harmbench",
    "gate.evaluation.data:harmbench",
    description="HarmBench text behaviours (test + val), standard and contextual; "
    "copyright items left out: 300 prompts, 6 categories",
)

BENCHMARKS.add(
    "benign-edgy",
    "gate.evaluation.data:benign_edgy",
    description="benign prompts that sound harmful (ours): 260 prompts, 10 types",
)
BENCHMARKS.add(
    "benign-edgy-contrast",
    "gate.evaluation.data:benign_edgy_contrast",
    description="truly harmful look-alikes of benign-edgy (ours): 60 prompts, 10 types",
)

REPAIR_METHODS: Registry[Any] = Registry("repair method", "safety_gate.repair_methods")
REPAIR_METHODS.add("antidote", "gate.repair.prune:antidote")
REPAIR_METHODS.add("random", "gate.repair.prune:random_baseline")

REPORT_FORMATS: Registry[Any] = Registry("report format", "safety_gate.report_formats")
REPORT_FORMATS.add(
    "markdown", "gate.publish.reports:render_markdown", filename="report.md", written=True
)
REPORT_FORMATS.add("html", "gate.publish.reports:render_html", filename="report.html", written=True)
REPORT_FORMATS.add(
    "junit",
    "gate.publish.reports.junit:render_result",
    filename="junit.xml",
    written=True,
    verdict="gate.publish.reports.junit:render",
)
REPORT_FORMATS.add(
    "tradeoff",
    "gate.publish.reports.tradeoff:render",
    filename="tradeoff.svg",
    written=True,
    needs="a harmful and an over-refusal suite",  # written only by runs that have both
)
REPORT_FORMATS.add(
    "attacks",
    "gate.publish.reports.attacks:render",
    filename="attacks.svg",
    written=True,
    needs="an attack suite",
)
# result.json is written by artifacts.py itself, after the reports, whatever the verdict.
REPORT_FORMATS.add("json", "gate.publish.reports:render_json", filename="result.json")

REGISTRIES: tuple[Registry[Any], ...] = (
    BACKENDS,
    JUDGES,
    EMBEDDERS,
    BENCHMARKS,
    REPAIR_METHODS,
    REPORT_FORMATS,
    SUITES,
    ATTACKS,
)
"""Every extension point, in the order `gate plugins` lists them."""
