"""Chapter 7 assignment graded by real nbgrader: full marks, zero, and exactly-targeted losses.

One nbgrader run grades every submission (the hidden training test trains a network, so
each submission costs seconds)."""
import pytest

from nbgrader_e2e import assert_grading

A, NB = "07-fashion-mnist", "fashion_mnist.ipynb"
ALL = {"test_network", "test_cross_entropy", "test_mlp_forward", "test_mlp_backward",
       "test_train_one_epoch", "test_evaluate", "test_training_accuracy"}

# Each classic mistake, the test cells that must catch it (and only them), and words the
# message of each must hold: the function at fault and what is wrong.
BUGS = {
    # the source post's bug: ReLU after the last Linear clips the logits
    "final_relu_on_logits": ({"network_solution": ("nn.Linear(512, 10),\n", "nn.Linear(512, 10),\n            nn.ReLU(),\n")},
                             {"test_network": ("NeuralNetwork ends with ReLU after its last Linear", "logits")}),
    "hidden_size_256": ({"network_solution": ("nn.Linear(512, 512)", "nn.Linear(512, 256)")},
                        {"test_network": ("NeuralNetwork's Linear layers are", "Linear(512, 512)")}),
    # gradients pile up over batches: the optimizer sees the wrong gradient from step 1 on,
    # and the summed gradients wreck training, so the accuracy test fails too
    "no_zero_grad": ({"train_solution": ("        optimizer.zero_grad()\n", "")},
                     {"test_train_one_epoch": ("train_one_epoch on cpu", "optimizer.zero_grad()"),
                      "test_training_accuracy": ("train_one_epoch: after 2 epochs on cpu", "held-out accuracy")}),
    # softmax before cross_entropy: the wrong gradient from step 0, and training stalls
    "softmax_before_cross_entropy": ({"train_solution": ("loss = loss_fn(model(X), y)",
                                                         "loss = loss_fn(torch.softmax(model(X), dim=1), y)")},
                                     {"test_train_one_epoch": ("train_one_epoch on cpu", "softmax probabilities"),
                                      "test_training_accuracy": ("train_one_epoch: after 2 epochs on cpu",)}),
    "evaluate_in_train_mode": ({"train_solution": ("    model.eval()\n", "")},
                               {"test_evaluate": ("evaluate returned (loss", "model.eval()")}),
    # model.forward(X) skips the hooks that model(X) runs: the referee's model has one that
    # changes the input, so the numbers show it; only the cells that teach model(X) are lost
    "forward_in_training": ({"train_solution": ("loss = loss_fn(model(X), y)", "loss = loss_fn(model.forward(X), y)")},
                            {"test_train_one_epoch": ("hooks did not run", "model(X)")}),
    "forward_in_evaluation": ({"train_solution": ("logits = model(X)", "logits = model.forward(X)")},
                              {"test_evaluate": ("hooks did not run", "model(X)")}),
    "relu_mask_forgotten_in_backward": ({"mlp_solution": ("da2 = dh2 * (a2 > 0)", "da2 = dh2")},
                                        {"test_mlp_backward": ("mlp_backward: wrong grads['b2']",
                                                               "without the ReLU mask after layer 2")}),
    "cross_entropy_gradient_not_divided_by_n": ({"ce_solution": ("return loss, dlogits / n", "return loss, dlogits")},
                                                {"test_cross_entropy": ("softmax_cross_entropy: wrong dlogits",
                                                                        "N times too large")}),
}


@pytest.mark.slow
def test_solution_full_marks_blank_zero_and_each_bug_loses_exactly_its_cells(corpus_grades):
    assert_grading(corpus_grades, A, NB, ALL, BUGS)


# ---- The checks behind the hidden tests, called directly (fast, no nbgrader) ----
import torch  # noqa: E402
from torch import nn  # noqa: E402

from autograder.chapters import fashion_mnist as ch  # noqa: E402
from autograder.checks import CheckFailure  # noqa: E402


def _net(final=None, hidden=512):
    layers = [nn.Flatten(), nn.Linear(784, hidden), nn.ReLU(), nn.Linear(hidden, 512), nn.ReLU(), nn.Linear(512, 10)]
    return nn.Sequential(*layers, *([final] if final else []))


def test_parameter_count_is_669706():
    assert ch.EXPECTED_PARAMETERS == 669_706 == sum(p.numel() for p in ch.reference_network().parameters())


def test_check_network_accepts_the_network_and_names_the_final_relu():
    ch.check_network(_net, devices=["cpu"])
    with pytest.raises(CheckFailure, match="ends with ReLU after its last Linear"):
        ch.check_network(lambda: _net(nn.ReLU()), devices=["cpu"])
    with pytest.raises(CheckFailure, match="Linear layers are"):
        ch.check_network(lambda: _net(hidden=256), devices=["cpu"])


def _train(model, batches, loss_fn, optimizer, device, zero_grad=True, softmax=False):
    model.train()
    losses = []
    for X, y in batches:
        out = model(X.to(device))
        loss = loss_fn(torch.softmax(out, 1) if softmax else out, y.to(device))
        if zero_grad:
            optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return sum(losses) / len(losses)


def test_check_train_one_epoch_catches_missing_zero_grad_and_softmax():
    ch.check_train_one_epoch(_train, devices=["cpu"])
    with pytest.raises(CheckFailure, match="zero_grad"):
        ch.check_train_one_epoch(lambda *a: _train(*a, zero_grad=False), devices=["cpu"])
    with pytest.raises(CheckFailure, match="softmax probabilities"):
        ch.check_train_one_epoch(lambda *a: _train(*a, softmax=True), devices=["cpu"])


def _evaluate(model, batches, loss_fn, device, eval_mode=True, no_grad=True):
    if eval_mode:
        model.eval()
    losses, correct, seen = [], 0, 0
    with torch.set_grad_enabled(not no_grad):
        for X, y in batches:
            out = model(X.to(device))
            losses.append(loss_fn(out, y.to(device)).item())
            correct += (out.argmax(1) == y.to(device)).sum().item()
            seen += len(y)
    return sum(losses) / len(losses), correct / seen


def test_check_evaluate_needs_eval_mode_and_no_grad():
    ch.check_evaluate(_evaluate, devices=["cpu"])
    with pytest.raises(CheckFailure, match="model.eval"):
        ch.check_evaluate(lambda *a: _evaluate(*a, eval_mode=False), devices=["cpu"])
    with pytest.raises(CheckFailure, match="no_grad"):
        ch.check_evaluate(lambda *a: _evaluate(*a, no_grad=False), devices=["cpu"])


def test_check_cross_entropy_hints_at_the_missing_division_by_n():
    def ce(z, y, divide=True):
        shifted = z - z.max(1, keepdim=True).values
        logp = shifted - shifted.exp().sum(1, keepdim=True).log()
        rows = torch.arange(len(y), device=z.device)
        grad = logp.exp() - torch.nn.functional.one_hot(y, z.shape[1]).to(z.dtype)
        return -logp[rows, y].mean(), grad / len(y) if divide else grad

    ch.check_cross_entropy(ce, devices=["cpu"])
    with pytest.raises(CheckFailure, match="divide by N"):
        ch.check_cross_entropy(lambda z, y: ce(z, y, divide=False), devices=["cpu"])


def _mlp(mask_second_layer=True):
    def forward(params, x):
        x = x.reshape(x.shape[0], -1)
        a1 = x @ params["W1"].T + params["b1"]
        h1 = a1 * (a1 > 0)
        a2 = h1 @ params["W2"].T + params["b2"]
        h2 = a2 * (a2 > 0)
        return h2 @ params["W3"].T + params["b3"], (x, a1, h1, a2, h2)

    def backward(params, cache, dlogits):
        x, a1, h1, a2, h2 = cache
        grads = {"W3": dlogits.T @ h2, "b3": dlogits.sum(0)}
        da2 = dlogits @ params["W3"]
        if mask_second_layer:
            da2 = da2 * (a2 > 0)
        grads["W2"], grads["b2"] = da2.T @ h1, da2.sum(0)
        da1 = (da2 @ params["W2"]) * (a1 > 0)
        grads["W1"], grads["b1"] = da1.T @ x, da1.sum(0)
        return grads

    return forward, backward


def test_check_mlp_backward_names_the_first_wrong_gradient_from_the_output_and_the_forgotten_mask():
    ch.check_mlp_backward(*_mlp(), devices=["cpu"])
    with pytest.raises(CheckFailure) as err:
        ch.check_mlp_backward(*_mlp(mask_second_layer=False), devices=["cpu"])
    message = str(err.value)
    assert message.startswith("mlp_backward: wrong grads['b2']")  # b3 and W3 are right: b2 is nearest the slip
    assert "without the ReLU mask after layer 2" in message and "(a2 > 0)" in message


def test_a_loop_that_raises_is_named_once_with_its_case():
    def broken(model, batches, loss_fn, optimizer, device):
        raise ValueError("no")

    with pytest.raises(ValueError) as err:
        ch.check_train_one_epoch(broken, devices=["cpu"])
    assert "(raised by train_one_epoch on cpu, 3 batches of 16)" in err.value.__notes__


@pytest.mark.parametrize("secret", range(1, 21))
def test_the_training_probes_tell_each_mistake_from_the_right_loop_by_a_wide_margin(secret):
    """Whatever the run's secret, forward-instead-of-call, eval mode and the other mistakes
    move the numbers far beyond the checks' tolerances (a scaled input did not: a BatchNorm
    undoes a scale; and random labels made the mean loss nearly blind to the input, so the
    evaluation batches are labelled by the probe's own predictions)."""
    from autograder.checks import training as probes
    from autograder.checks.context import Settings, using

    with using(Settings(secret=secret)):
        data = probes._fake_batches(3, seed=5)
        state = probes._initial_state("train", 0)
        right, _ = probes._reference_epoch(state, data, "cpu")
        for variant, _message in probes.TRAIN_MISTAKES:
            wrong, _ = probes._reference_epoch(state, data, "cpu", **variant)
            gap = max(float((right[k].float() - wrong[k].float()).abs().max()) for k in right)
            assert gap > 100 * 1e-5, (variant, gap)
        state = probes._initial_state("eval", 1)
        batches = probes._evaluation_batches(state, seed=6)
        loss, accuracy = probes._reference_eval(state, batches, "cpu")
        skipped_loss, skipped_accuracy = probes._reference_eval(state, batches, "cpu", hooks=False)
        assert accuracy == 1.0 and skipped_accuracy < 0.8
        assert abs(loss - skipped_loss) > 100 * 1e-4 * max(1.0, loss)
