"""Chapter 7 through the grader: a loop that calls ``model.forward(X)`` instead of ``model(X)``
loses exactly the cells that teach ``model(X)``. The referee sees it by effect: the model it
hands the loop has a pre-hook that changes the input, and hooks run only through ``__call__``."""
import pytest

from nbgrader_e2e import assert_grading

A, NB = "07-fashion-mnist", "fashion_mnist.ipynb"
ALL = {"test_network", "test_cross_entropy", "test_mlp_forward", "test_mlp_backward", "test_train_one_epoch",
       "test_evaluate", "test_training_accuracy"}
FORWARD = {
    "forward_in_training": ({"train_solution": ("loss = loss_fn(model(X), y)", "loss = loss_fn(model.forward(X), y)")},
                            {"test_train_one_epoch"}),
    "forward_in_evaluation": ({"train_solution": ("logits = model(X)", "logits = model.forward(X)")},
                              {"test_evaluate"}),
}


@pytest.mark.slow
def test_calling_forward_directly_loses_the_cells_that_teach_calling_the_model(tmp_path):
    assert_grading(tmp_path, A, NB, ALL, FORWARD)
