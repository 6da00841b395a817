"""Chapter 7 assignment graded by real nbgrader: full marks, zero, and exactly-targeted losses.

One nbgrader run grades every submission (the hidden training test trains a network, so
each submission costs seconds)."""
import pytest

from nbgrader_e2e import grade, lost, student_notebook

A, NB = "07-fashion-mnist", "fashion_mnist.ipynb"
ALL = {"test_network", "test_cross_entropy", "test_mlp_forward", "test_mlp_backward",
       "test_train_one_epoch", "test_evaluate", "test_training_accuracy"}

# Each classic mistake and the test cells that must catch it (and only them).
BUGS = {
    # the source post's bug: ReLU after the last Linear clips the logits
    "final_relu_on_logits": ({"network_solution": ("nn.Linear(512, 10),\n", "nn.Linear(512, 10),\n            nn.ReLU(),\n")},
                             {"test_network"}),
    "hidden_size_256": ({"network_solution": ("nn.Linear(512, 512)", "nn.Linear(512, 256)")}, {"test_network"}),
    # gradients pile up over batches: the optimizer sees the wrong gradient from step 1 on,
    # and the summed gradients wreck training, so the accuracy test fails too
    "no_zero_grad": ({"train_solution": ("        optimizer.zero_grad()\n", "")},
                     {"test_train_one_epoch", "test_training_accuracy"}),
    # softmax before cross_entropy: the wrong gradient from step 0, and training stalls
    "softmax_before_cross_entropy": ({"train_solution": ("loss = loss_fn(model(X), y)",
                                                         "loss = loss_fn(torch.softmax(model(X), dim=1), y)")},
                                     {"test_train_one_epoch", "test_training_accuracy"}),
    "evaluate_in_train_mode": ({"train_solution": ("    model.eval()\n", "")}, {"test_evaluate"}),
    "relu_mask_forgotten_in_backward": ({"mlp_solution": ("da2 = dh2 * (a2 > 0)", "da2 = dh2")}, {"test_mlp_backward"}),
    "cross_entropy_gradient_not_divided_by_n": ({"ce_solution": ("return loss, dlogits / n", "return loss, dlogits")},
                                                {"test_cross_entropy"}),
}


@pytest.mark.slow
def test_solution_full_marks_blank_zero_and_each_bug_loses_exactly_its_cells(tmp_path):
    subs = {
        "solution": student_notebook(A, NB, tmp_path / "solution" / NB),
        "blank": student_notebook(A, NB, tmp_path / "blank" / NB, blank=True),
    }
    for name, (bugs, _) in BUGS.items():
        subs[name] = student_notebook(A, NB, tmp_path / name / NB, bugs=bugs)
    scores = grade(tmp_path / "course", A, subs)

    assert set(scores["solution"]) == ALL
    assert lost(scores["solution"]) == set(), scores["solution"]
    assert all(s.score == 0 for s in scores["blank"].values()), scores["blank"]
    for name, (_, targeted) in BUGS.items():
        assert lost(scores[name]) == targeted, (name, scores[name])
