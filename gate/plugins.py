"""Every extension point of the gate, and its built-in entries: one table, one way in.

Built-ins are registered here exactly as a plugin distribution registers through entry points
(the group beside each registry), so adding one is one line here or one line in another
package's pyproject.toml. Nothing is imported until an entry is used.

Where each kind of extension goes:
- a generation backend: a module in gate/generate/ with `open(options, target) -> Generator`;
- a judge: a module in gate/judges/ with `open(options, context) -> Judge` (`family` says what
  it calls: `harm` for harmful answers);
- an embedder: gate/similarity/embed.py, `factory(cache_dir=, model=, batch_size=)`;
- a benchmark, a repair method, a report format, a suite: see their entries below.
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

EMBEDDERS: Registry[Any] = Registry("embedder", "safety_gate.embedders")
EMBEDDERS.add("minilm", "gate.similarity.embed:open_minilm")
EMBEDDERS.add("hidden-state", "gate.similarity.embed:open_hidden_state")

SUITES: Registry[Any] = Registry("suite kind", "safety_gate.suites")
SUITES.add("harmful", "gate.evaluation.suites:HARMFUL")

REGISTRIES: tuple[Registry[Any], ...] = (BACKENDS, JUDGES, EMBEDDERS, SUITES)
"""Every extension point, in the order `gate plugins` lists them."""
