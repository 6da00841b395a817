"""Chapter 1 assignment graded by real nbgrader: full marks, zero, and exactly-targeted losses."""
import pytest

from nbgrader_e2e import assert_grading

A, NB = "01-activations", "activations.ipynb"
ALL = {"test_step", "test_step_derivative", "test_sigmoid", "test_sigmoid_derivative",
       "test_tanh", "test_tanh_derivative", "test_relu", "test_relu_derivative"}

# Each classic mistake and the one test cell that must catch it (and only it).
BUGS = {
    "relu_at_zero": ({"relu_solution": ("return (x > 0).to(x.dtype)", "return (x >= 0).to(x.dtype)")}, {"test_relu_derivative"}),
    "unstable_sigmoid": ({"sigmoid_solution": (
        "z = torch.exp(-x.abs())          # in (0, 1]: never overflows\n    return torch.where(x >= 0, 1 / (1 + z), z / (1 + z))",
        "return torch.exp(x) / (1 + torch.exp(x))")},
        # the solution builds sigmoid' and tanh (2*sigmoid(2x) - 1) on sigmoid: NaN spreads to them
        {"test_sigmoid", "test_sigmoid_derivative", "test_tanh", "test_tanh_derivative"}),
    "step_returns_bool": ({"step_solution": ("return (x > 0).to(x.dtype)", "return x > 0")}, {"test_step"}),
    "tanh_shortcut": ({"tanh_solution": ("return 2 * sigmoid(2 * x) - 1", "return torch.tanh(x)")},
                      # tanh' calls tanh, so it reaches aten.tanh too
                      {"test_tanh", "test_tanh_derivative"}),
    "sigmoid_derivative_of_input": ({"sigmoid_solution": ("y = sigmoid(x)\n    return y * (1 - y)", "return x * (1 - x)")},
                                    {"test_sigmoid_derivative"}),
}


@pytest.mark.slow
def test_solution_full_marks_blank_zero_and_each_bug_loses_exactly_its_cell(tmp_path):
    assert_grading(tmp_path, A, NB, ALL, BUGS)
