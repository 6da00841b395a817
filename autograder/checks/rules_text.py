"""The rules paragraph of a released notebook, written from the exercise's rule table."""
from __future__ import annotations

import torch

from .compare import INPUT_ULPS, TOLERANCES
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
    restricted = {"os": "`os.path`", "sys": "`sys.version`", "IPython": "`IPython.display`"}
    modules = [restricted.get(m, f"`{m}`") for m in sorted(exercise.modules, key=str.lower)]
    rtol32, atol32 = TOLERANCES[torch.float32]
    rtol64, atol64 = TOLERANCES[torch.float64]
    eps32 = torch.finfo(torch.float32).eps
    lines += [
        "",
        f"**Imports**: answer cells may import {', '.join(modules)}. Code the grader cannot read without running "
        "it (`exec`/`eval` under any name, `getattr` with a name built at run time, `vars()`, `__dict__`, threads "
        "and other processes, torch's private `torch._...` internals, other modules) is flagged for your "
        "instructor to look at; it costs no points by itself.",
        "",
        f"**Close enough**: results are compared as `torch.testing.assert_close` compares them (float32: rtol "
        f"{rtol32:g}, atol {atol32:g}; float64: rtol {rtol64:g}, atol {atol64:g}), plus the rounding of the inputs: "
        f"{INPUT_ULPS} x eps x |the largest input the value depends on| (eps = {eps32:.2g} in float32, so "
        f"{INPUT_ULPS * eps32 * 1000:.1g} at inputs of ±1000). Every correct formula passes, and torch's own "
        "alternatives too.",
    ]
    return "\n".join(lines)
