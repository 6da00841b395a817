"""The rules paragraph of a released notebook, written from the exercise's rule table."""
from __future__ import annotations

from .ops import BASIC, FAMILIES
from .rules import Exercise, Rule

#: The grade_id of the generated markdown cell in source and released notebooks.
CELL_ID = "rules"
HEADING = "## The rules the grader applies"


def _code(names) -> str:
    return ", ".join(f"`{n}`" for n in names)


def _may_use(rule: Rule) -> str:
    if rule.any_op:
        text = "any torch operation"
    else:
        text = "basic tensor operations"
        if rule.plus - BASIC:
            text += " and " + _code(sorted(rule.plus - BASIC))
    return text + (f"; {rule.uses}" if rule.uses else "")


def _may_not(rule: Rule) -> str:
    parts = [f"{s.label} ({_code(s.shown)})" if s.shown else s.label for s in rule.forbidden]
    return "; ".join(parts) if parts else "nothing in particular"


def _must(rule: Rule) -> str:
    return "; ".join(r.label + f": {r.advice}" for r in rule.requires)


def render(exercise: Exercise) -> str:
    """Markdown: a table of every graded function's rules, what the words mean, the modules
    answer cells may import, and how results are compared."""
    rows = ["| graded | may use | may not use, under any name |", "| --- | --- | --- |"]
    for rule in exercise.rules:
        rows.append(f"| `{rule.function}` | {_may_use(rule)} | {_may_not(rule)} |")
    families = "; ".join(f"{label} ({examples})" for label, examples in FAMILIES)
    musts = [f"- `{r.function}` must {_must(r)}" for r in exercise.rules if r.requires]
    musts += [f"- `{r.function}`: float32 results may differ by rtol {r.tolerance[0]:g}, atol {r.tolerance[1]:g} "
              f"(long sums of products round differently in every order)" for r in exercise.rules if r.tolerance]
    lines = [
        HEADING, "",
        "This cell is written by the grader from the same table it grades by: what it says is exactly what is "
        "checked.", "",
        *rows, "",
        f"**Basic tensor operations**: {families}. Anything built from these is fine, in any style. "
        "Other library operations (torch's activations, softmax, losses, layers) are refused when a graded function "
        "runs them, whatever name or alias reached them.", "",
        "**Under any name** means torch's function, its `torch.special` and `torch.nn.functional` versions, the "
        "tensor method and the `nn` module class alike (`x.sigmoid()` is `torch.sigmoid`). The grader reads your "
        "answer cells: a graded function that reaches one of these, directly or through a helper of yours, loses "
        "the tests of that function, with the line quoted.",
    ]
    if musts:
        lines += ["", *musts]
    modules = sorted(exercise.modules)
    lines += [
        "",
        f"**Imports**: answer cells may import {_code(modules)}. Code the grader cannot read without running it "
        "(`exec`/`eval` under any name, `getattr` with a name built at run time, `vars()`, `__dict__`, threads and "
        "other processes, torch's private `torch._...` internals, other modules) is flagged for your instructor "
        "to look at; it costs no points by itself.",
        "",
        "**Close enough**: results are compared as `torch.testing.assert_close` compares them (float32: rtol "
        "1.3e-6, atol 1e-5; float64: rtol 1e-7, atol 1e-7), plus a few units in the last place of the largest "
        "input each value depends on (for float32 inputs of ±1000 that is 6.1e-5 per unit), so every correct "
        "formula passes, and torch's own alternatives too.",
    ]
    return "\n".join(lines)
