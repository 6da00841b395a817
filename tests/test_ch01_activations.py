"""Chapter 1 assignment graded by real nbgrader: full marks, zero, and exactly-targeted losses."""
import pytest

from nbgrader_e2e import assert_grading

A, NB = "01-activations", "activations.ipynb"
ALL = {"test_step", "test_step_derivative", "test_sigmoid", "test_sigmoid_derivative",
       "test_tanh", "test_tanh_derivative", "test_relu", "test_relu_derivative"}

# Each classic mistake, the test cells that must catch it (and only them), and words the
# message of each must hold: the function at fault and what is wrong with its output.
BUGS = {
    "relu_at_zero": ({"relu_solution": ("return (x > 0).to(x.dtype)", "return (x >= 0).to(x.dtype)")},
                     {"test_relu_derivative": ("relu_derivative: wrong derivative",
                                               "Hint: ReLU's derivative at exactly 0 is 0")}),
    "unstable_sigmoid": ({"sigmoid_solution": (
        "z = torch.exp(-x.abs())          # in (0, 1]: never overflows\n    return torch.where(x >= 0, 1 / (1 + z), z / (1 + z))",
        "return torch.exp(x) / (1 + torch.exp(x))")},
        # the solution builds sigmoid' and tanh (2*sigmoid(2x) - 1) on sigmoid: NaN spreads to them
        {"test_sigmoid": ("sigmoid returned wrong values", "got nan", "exp(x) overflows"),
         "test_sigmoid_derivative": ("sigmoid_derivative: wrong derivative", "got nan"),
         "test_tanh": ("tanh returned wrong values", "got nan"),
         "test_tanh_derivative": ("tanh_derivative: wrong derivative", "got nan")}),
    "step_returns_bool": ({"step_solution": ("return (x > 0).to(x.dtype)", "return x > 0")},
                          {"test_step": ("step returned its result with dtype torch.bool", ".to(x.dtype)")}),
    "tanh_shortcut": ({"tanh_solution": ("return 2 * sigmoid(2 * x) - 1", "return torch.tanh(x)")},
                      # tanh' calls tanh, so it reaches torch.tanh too (the static check follows the call)
                      {"test_tanh": ("`tanh` uses torch's tanh", "`return torch.tanh(x)`"),
                       "test_tanh_derivative": ("`tanh_derivative` uses torch's tanh through `tanh`",)}),
    "sigmoid_derivative_of_input": ({"sigmoid_solution": ("y = sigmoid(x)\n    return y * (1 - y)", "return x * (1 - x)")},
                                    {"test_sigmoid_derivative": ("sigmoid_derivative: wrong derivative",
                                                                 "y = sigmoid(x), the output")}),
}


@pytest.mark.slow
def test_solution_full_marks_blank_zero_and_each_bug_loses_exactly_its_cell(corpus_grades):
    assert_grading(corpus_grades, A, NB, ALL, BUGS)
