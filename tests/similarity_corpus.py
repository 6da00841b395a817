"""Generated chapter 1 submissions for the similarity report: honest students and copiers.

An honest student picks, for each of the eight functions, one of several correct idioms
(the ways students really write them: ``torch.where``, a mask and ``.to``, ``clamp``,
``tanh`` from ``sigmoid``...) and writes it in their own style (names of intermediate
variables, ``1`` or ``1.0``, an intermediate result or not, comments). A copier takes
another student's answer cells, renames every variable, moves the functions around (the
two functions of each cell swapped) and changes the comments: the edits that leave the
code's structure alone. :func:`notebook` writes the cells into the released exercise, so
that tests read them back with ``answer_sources`` as the grader does.
"""
from __future__ import annotations

import json
import random
import re
from pathlib import Path

from autograder import REPO_ROOT

A, NB = "01-activations", "activations.ipynb"
CELLS = ["step_solution", "sigmoid_solution", "tanh_solution", "relu_solution"]
#: Function pairs per answer cell, in the exercise's order.
FUNCTIONS = {"step_solution": ("step", "step_derivative"), "sigmoid_solution": ("sigmoid", "sigmoid_derivative"),
             "tanh_solution": ("tanh", "tanh_derivative"), "relu_solution": ("relu", "relu_derivative")}

#: Correct bodies per function; ``{t}`` is an intermediate name, ``{one}`` is ``1`` or ``1.0``.
IDIOMS = {
    "step": [
        "return (x > 0).to(x.dtype)",
        "return torch.where(x > 0, torch.ones_like(x), torch.zeros_like(x))",
        "{t} = torch.zeros_like(x)\n{t}[x > 0] = {one}\nreturn {t}",
        "return torch.gt(x, 0).type(x.dtype)",
        "return (x > 0).type_as(x)",
    ],
    "step_derivative": [
        "return torch.zeros_like(x)",
        "return x * 0",
        "return torch.zeros(x.shape, dtype=x.dtype, device=x.device)",
        "return torch.full_like(x, 0.0)",
    ],
    "sigmoid": [
        "{t} = torch.exp(-x.abs())\nreturn torch.where(x >= 0, {one} / ({one} + {t}), {t} / ({one} + {t}))",
        "{t} = torch.empty_like(x)\npos = x >= 0\n{t}[pos] = {one} / ({one} + torch.exp(-x[pos]))\n"
        "e = torch.exp(x[~pos])\n{t}[~pos] = e / ({one} + e)\nreturn {t}",
        "return torch.where(x >= 0, {one} / ({one} + torch.exp(-x)), torch.exp(x) / ({one} + torch.exp(x)))",
        "{t} = torch.exp(-torch.abs(x))\npositive = {one} / ({one} + {t})\nreturn torch.where(x < 0, {one} - positive, positive)",
        "return torch.exp(-torch.logaddexp(torch.zeros_like(x), -x))",
    ],
    "sigmoid_derivative": [
        "{t} = sigmoid(x)\nreturn {t} * ({one} - {t})",
        "return sigmoid(x) * ({one} - sigmoid(x))",
        "{t} = sigmoid(x)\nreturn {t} - {t} ** 2",
        "return sigmoid(x) * sigmoid(-x)",
    ],
    "tanh": [
        "return 2 * sigmoid(2 * x) - {one}",
        "{t} = torch.exp(-2 * x.abs())\nmagnitude = ({one} - {t}) / ({one} + {t})\nreturn torch.where(x >= 0, magnitude, -magnitude)",
        "return torch.sign(x) * ({one} - torch.exp(-2 * torch.abs(x))) / ({one} + torch.exp(-2 * torch.abs(x)))",
        "{t} = 2 * sigmoid(2 * x)\nreturn {t} - {one}",
    ],
    "tanh_derivative": [
        "{t} = tanh(x)\nreturn {one} - {t} * {t}",
        "return {one} - tanh(x) ** 2",
        "{t} = tanh(x)\nreturn ({one} - {t}) * ({one} + {t})",
        "return 4 * sigmoid_derivative(2 * x)",
    ],
    "relu": [
        "return torch.where(x > 0, x, torch.zeros_like(x))",
        "return x.clamp(min=0)",
        "return torch.maximum(x, torch.zeros_like(x))",
        "return x * (x > 0).to(x.dtype)",
        "{t} = x.clone()\n{t}[{t} < 0] = 0\nreturn {t}",
    ],
    "relu_derivative": [
        "return (x > 0).to(x.dtype)",
        "return torch.where(x > 0, torch.ones_like(x), torch.zeros_like(x))",
        "return (x > 0).type_as(x)",
        "{t} = torch.zeros_like(x)\n{t}[x > 0] = {one}\nreturn {t}",
    ],
}
#: Two independent correct solutions in different styles: the textbook's, and a student
#: who writes masks, method calls and intermediate results.
TEXTBOOK = {
    "step": "return (x > 0).to(x.dtype)",
    "step_derivative": "return torch.zeros_like(x)",
    "sigmoid": "z = torch.exp(-x.abs())\nreturn torch.where(x >= 0, 1 / (1 + z), z / (1 + z))",
    "sigmoid_derivative": "y = sigmoid(x)\nreturn y * (1 - y)",
    "tanh": "return 2 * sigmoid(2 * x) - 1",
    "tanh_derivative": "y = tanh(x)\nreturn 1 - y * y",
    "relu": "return torch.where(x > 0, x, torch.zeros_like(x))",
    "relu_derivative": "return (x > 0).to(x.dtype)",
}
OTHER_STYLE = {
    "step": "result = x.new_zeros(x.shape)\nresult[x > 0.0] = 1.0\nreturn result",
    "step_derivative": "return x * 0.0",
    "sigmoid": "out = torch.empty_like(x)\nneg = x < 0.0\nout[~neg] = 1.0 / (1.0 + (-x[~neg]).exp())\n"
               "e = x[neg].exp()\nout[neg] = e / (1.0 + e)\nreturn out",
    "sigmoid_derivative": "s = sigmoid(x)\nreturn s - s ** 2",
    "tanh": "e = (-2.0 * x.abs()).exp()\nmagnitude = (1.0 - e) / (1.0 + e)\nreturn x.sign() * magnitude",
    "tanh_derivative": "return 4.0 * sigmoid_derivative(2.0 * x)",
    "relu": "out = x.clone()\nout[out < 0.0] = 0.0\nreturn out",
    "relu_derivative": "grad = x.new_zeros(x.shape)\ngrad[x > 0.0] = 1.0\nreturn grad",
}
NAMES = ["y", "out", "result", "res", "z", "t", "value", "tmp", "ans", "s", "v", "output"]
COMMENTS = ["# numerically stable", "# same shape and dtype as x", "# TODO: check", "# works on any device", ""]
_DEF = re.compile(r"^(def \w+\(x\):\n    \"\"\".*?\"\"\"\n)", re.M | re.S)
#: How often each idiom is chosen (the first, the textbook one, most often).
POPULARITY = [6, 3, 2, 1, 1]


class Habits:
    """One student's writing habits, applied to every function they write."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.methods = rng.random() < 0.4          # x.exp() rather than torch.exp(x)
        self.floats = rng.random() < 0.5           # 1.0 rather than 1
        self.zeros = rng.choice(["like", "like", "new", "full"])
        self.cast = rng.choice([".to(x.dtype)", ".to(x.dtype)", ".type_as(x)", ".type(x.dtype)", ".to(dtype=x.dtype)"])
        self.name_result = rng.random() * 0.5      # how often a result is named before return
        self.comments = rng.random() < 0.5

    def apply(self, body: str) -> str:
        rng = self.rng
        text = body.format(t=rng.choice(NAMES), one="1.0" if self.floats else "1")
        if self.floats:
            text = re.sub(r"(?<![\w.])([02])(?![\w.])", r"\1.0", text)
        if self.methods:
            text = re.sub(r"torch\.(exp|abs|sign|tanh)\((-?\w+)\)", lambda m: f"{m.group(2)}.{m.group(1)}()" if not m.group(2).startswith("-")
                          else f"(-{m.group(2)[1:]}).{m.group(1)}()", text)
        if self.zeros == "new":
            text = re.sub(r"torch\.(zeros|ones)_like\(x\)", r"x.new_\1(x.shape)", text)
        elif self.zeros == "full":
            text = text.replace("torch.zeros_like(x)", "torch.zeros(x.shape, dtype=x.dtype, device=x.device)")
        text = text.replace(".to(x.dtype)", self.cast)
        if text.startswith("return ") and "\n" not in text and rng.random() < self.name_result:
            name = rng.choice(NAMES)
            text = f"{name} = {text[len('return '):]}\nreturn {name}"
        comment = rng.choice(COMMENTS) if self.comments else ""
        return f"{comment}\n{text}" if comment else text


def exercise() -> dict:
    return json.loads((REPO_ROOT / "exercises" / A / NB).read_text())


def _stubs() -> dict[str, list[str]]:
    """``{cell: [def line + docstring of each function]}`` from the released exercise."""
    out = {}
    for cell in exercise()["cells"]:
        gid = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if gid in FUNCTIONS:
            out[gid] = _DEF.findall("".join(cell["source"]))
    return out


def _indent(body: str) -> str:
    return "".join(f"    {line}\n" if line else "\n" for line in body.splitlines())


def honest(rng: random.Random, bodies: dict[str, str] | None = None) -> dict[str, str]:
    """``{cell: code}``: one honest student's answer cells, each function an idiom picked by
    popularity and written with the student's :class:`Habits` (``bodies`` fixes some
    functions' code verbatim)."""
    habits, stubs, cells = Habits(rng), _stubs(), {}
    for gid, (first, second) in FUNCTIONS.items():
        parts = []
        for stub, fn in zip(stubs[gid], (first, second)):
            idioms = IDIOMS[fn]
            body = (bodies or {}).get(fn) or habits.apply(rng.choices(idioms, POPULARITY[:len(idioms)])[0])
            parts.append(stub + _indent(body))
        cells[gid] = "\n\n\n".join(p.rstrip("\n") for p in parts)
    return cells


def _rename(code: str, rng: random.Random) -> str:
    """Every local name (assigned in a body) and the parameter ``x`` renamed."""
    local = set(re.findall(r"^\s+(\w+)(?:\[.*?\])? = ", code, re.M)) | {"x", "e", "pos", "positive", "magnitude"}
    fresh = iter(rng.sample([f"{w}{i}" for w in ("val", "arr", "inp", "tmp", "q", "w") for i in range(9)], 54))
    mapping = {name: next(fresh) for name in sorted(local)}
    return re.sub(r"\b(\w+)\b", lambda m: mapping.get(m.group(1), m.group(1)), code)


def copy_of(cells: dict[str, str], rng: random.Random) -> dict[str, str]:
    """A copier's answer cells from another student's: variables renamed, the two functions
    of each cell swapped, comments changed, and the cells' order reversed when joined."""
    out = {}
    for gid, code in cells.items():
        first, second = code.split("\n\n\ndef ", 1)
        code = f"def {second}\n\n\n{first}"
        code = re.sub(r"#.*", lambda m: rng.choice(COMMENTS) or "# mine", code)
        out[gid] = _rename(code, rng)
    return dict(reversed(list(out.items())))


def notebook(cells: dict[str, str], path: Path) -> Path:
    """The released exercise with ``cells`` in its answer cells, written to ``path``."""
    nb = exercise()
    for cell in nb["cells"]:
        gid = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if gid in cells:
            cell["source"] = cells[gid]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1))
    return path


def class_of(n: int, copies: int, seed: int = 0) -> tuple[dict[str, dict[str, str]], list[tuple[str, str]]]:
    """``n`` students' answer cells, ``copies`` of them copied from an honest one; and the
    ``(copier, source)`` pairs."""
    rng = random.Random(seed)
    students = {f"s{i:03d}": honest(rng) for i in range(n - copies)}
    pairs = []
    for j in range(copies):
        source = rng.choice(sorted(students))
        copier = f"c{j:03d}"
        students[copier] = copy_of(students[source], rng)
        pairs.append((copier, source))
    return students, pairs
