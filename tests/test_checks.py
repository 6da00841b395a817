"""The checks library: right answers pass quietly; each known mistake fails with its hint."""
import warnings

import pytest
import torch

from autograder.chapters import activations as ch
from autograder.checks import (
    Case, CheckFailure, check_backward, check_derivative, check_forward, devices, dim_cases, elementwise_cases,
    matches, watched_call,
)
from autograder.checks.compare import assert_tensor_matches

CPU32 = dict(devices=["cpu"], dtypes=[torch.float32])


def stable_sigmoid(x):
    z = torch.exp(-x.abs())
    return torch.where(x >= 0, 1 / (1 + z), z / (1 + z))


def fails(fn, *args, **kwargs) -> str:
    with pytest.raises(CheckFailure) as err:
        fn(*args, **kwargs)
    return str(err.value)


def test_correct_implementation_passes_silently_on_stderr(capfd):
    check_forward(stable_sigmoid, torch.sigmoid, name="sigmoid", allowed=ch.ALLOWED["sigmoid"])
    out, err = capfd.readouterr()
    assert err == ""
    assert out.startswith("OK: sigmoid matches torch on")


def test_a_warning_inside_the_students_code_does_not_reach_stderr(capfd):
    def noisy_relu(x):
        warnings.warn("student warning")
        return torch.where(x > 0, x, torch.zeros_like(x))

    check_forward(noisy_relu, torch.relu, name="relu", **CPU32)
    assert capfd.readouterr().err == ""


def test_checks_return_none_so_nbgrader_reads_no_partial_credit():
    assert check_forward(stable_sigmoid, torch.sigmoid, **CPU32) is None
    assert check_derivative(lambda x: stable_sigmoid(x) * (1 - stable_sigmoid(x)), torch.sigmoid, **CPU32) is None


def test_cases_cover_every_shape_family_and_extremes():
    labels = [c.label for c in elementwise_cases("cpu", torch.float32)]
    assert labels == ["0-d", "1-d", "square 2-d", "3-d", "non-contiguous (transposed, strided)", "extreme values",
                      "random extreme values"]
    noncontig = list(elementwise_cases("cpu", torch.float32))[4].x
    assert not noncontig.is_contiguous()
    extreme = list(elementwise_cases("cpu", torch.float64))[-2].x
    assert {1000.0, -1000.0, 88.0, 89.0, 0.0} <= set(extreme.tolist())
    drawn = list(elementwise_cases("cpu", torch.float64))[-1].x
    assert bool((drawn.abs() >= 80).all()) and bool((drawn > 0).any()) and bool((drawn < 0).any())


def test_random_cases_come_from_the_secret_and_fixed_cases_stay():
    from autograder.checks.context import Settings, using

    public = [c.x for c in elementwise_cases("cpu", torch.float64)]
    assert all(torch.equal(a, b) for a, b in zip(public, [c.x for c in elementwise_cases("cpu", torch.float64)]))
    with using(Settings(secret=12345)):
        secret = [c.x for c in elementwise_cases("cpu", torch.float64)]
    assert not torch.equal(public[2], secret[2]) and not torch.equal(public[-1], secret[-1])
    assert torch.equal(public[-2], secret[-2])  # the fixed extreme values that teach


def test_dim_cases_cover_every_dim_negative_ones_too():
    dims = {(c.x.dim(), c.kwargs["dim"]) for c in dim_cases("cpu", torch.float32)}
    for ndim in range(1, 5):
        assert {(ndim, d) for d in range(-ndim, ndim)} <= dims


def test_exp_overflow_nan_is_caught_with_the_overflow_hint():
    message = fails(check_forward, lambda x: torch.exp(x) / (1 + torch.exp(x)), torch.sigmoid, name="sigmoid")
    assert "extreme values" in message and "got nan" in message
    assert "Hint: NaN where the right answer is finite" in message and "88.7" in message


def test_message_names_device_dtype_shape_and_worst_index():
    def off_by_one_element(x):
        y = stable_sigmoid(x).clone()
        if y.dim() == 1:
            y[3] += 0.5
        return y

    message = fails(check_forward, off_by_one_element, torch.sigmoid, name="sigmoid", **CPU32)
    assert "cpu, float32, shape (7,), 1-d" in message
    assert "1 of 7 elements differ by more than allowed" in message and "worst at index (3,)" in message and "input there" in message


def test_a_library_op_is_refused_under_any_name_and_in_place():
    alias = torch.sigmoid  # bound at "import time", as a student might
    message = fails(check_forward, lambda x: alias(x), torch.sigmoid, name="sigmoid", allowed=ch.ALLOWED["sigmoid"])
    assert "runs aten.sigmoid" in message
    message = fails(check_forward, lambda x: torch.special.expit(x), torch.sigmoid, allowed=ch.ALLOWED["sigmoid"])
    assert "runs aten.sigmoid" in message
    message = fails(check_forward, lambda x: x.clone().sigmoid_(), torch.sigmoid, allowed=ch.ALLOWED["sigmoid"])
    assert "runs aten.sigmoid" in message
    message = fails(check_forward, lambda x: x.relu(), torch.relu, allowed=ch.ALLOWED["relu"])
    assert "aten.relu" in message


@pytest.mark.parametrize("name, shortcut", [
    ("glu", lambda x: torch.nn.functional.glu(torch.stack([torch.ones_like(x), x]), 0)[0]),
    ("logaddexp2", lambda x: torch.exp2(-torch.logaddexp2(torch.zeros_like(x), -x / 0.6931471805599453))),
    ("_masked_softmax", lambda x: torch._masked_softmax(torch.stack([x, torch.zeros_like(x)]),
                                                         torch.zeros((2, *x.shape), dtype=torch.bool), 0)[0]),
])
def test_equivalent_library_ops_nobody_listed_fail_too(name, shortcut):
    # each computes sigmoid(x) through a library operator that is not a basic one
    x = torch.randn(5, dtype=torch.float64)
    assert torch.allclose(shortcut(x), torch.sigmoid(x))
    message = fails(check_forward, shortcut, torch.sigmoid, name="sigmoid", allowed=ch.ALLOWED["sigmoid"], **CPU32)
    assert f"aten.{name}" in message


def test_switching_off_one_record_is_caught_by_the_other_and_both_by_the_static_check():
    from torch.utils._python_dispatch import _disable_current_modes

    def sneaky(x):
        with _disable_current_modes():
            return torch.sigmoid(x)

    message = fails(check_forward, sneaky, torch.sigmoid, name="sigmoid", allowed=ch.ALLOWED["sigmoid"], **CPU32)
    assert "runs aten.sigmoid" in message  # the second record (torch functions) still saw it

    def both_off(x):  # past both records: only the static check of answer cells can see this one
        with _disable_current_modes(), torch._C.DisableTorchFunction():
            return torch.sigmoid(x)

    check_forward(both_off, torch.sigmoid, name="sigmoid", allowed=ch.ALLOWED["sigmoid"], **CPU32)
    from autograder.chapters import exercise
    from autograder.referee.static import check
    report = check([(0, "import torch\ndef sigmoid(x):\n    with torch._C.DisableTorchFunction():\n"
                        "        return torch.sigmoid(x)")], exercise("01-activations"))
    assert [f.reason for f in report.flags] == ["torch._C.DisableTorchFunction: torch's private internals"]
    assert "uses torch's sigmoid" in report.violations["test_sigmoid"].message


def test_result_must_be_a_plain_tensor_with_input_dtype_and_device():
    assert "returned its result as a numpy.ndarray" in fails(check_forward, lambda x: x.numpy(), torch.relu, **CPU32)
    assert "forget the `return`" in fails(check_forward, lambda x: None, torch.relu, **CPU32)

    class AlwaysEqual:
        def __eq__(self, other):
            return True

    assert "AlwaysEqual on cpu" in fails(check_forward, lambda x: AlwaysEqual(), torch.relu, **CPU32)

    class Sub(torch.Tensor):
        pass

    assert "not a subclass" in fails(check_forward, lambda x: torch.relu(x).as_subclass(Sub), torch.relu, **CPU32)
    message = fails(check_forward, lambda x: x > 0, ch.step_reference, **CPU32)
    assert "dtype torch.bool" in message and ".to(x.dtype)" in message
    message = fails(check_forward, lambda x: torch.tensor(torch.relu(x).tolist()), torch.relu,
                    devices=["cpu"], dtypes=[torch.float64])
    assert "dtype torch.float32" in message and "expected torch.float64" in message


def test_wrong_device_is_reported_with_a_hint():
    x = torch.ones(3)
    case = Case("1-d", (x,))
    fake_expected = torch.ones(3, device="meta")
    with pytest.raises(CheckFailure, match="device=x.device"):
        assert_tensor_matches(x, fake_expected, name="f", case=case)


def test_wrong_shape_is_reported():
    message = fails(check_forward, lambda x: torch.relu(x).reshape(-1), torch.relu, **CPU32)
    # the 0-d case comes first: reshape(-1) turns a scalar into shape (1,)
    assert "with shape (1,)" in message and "0-d; expected ()" in message


def test_a_wrong_shape_of_as_many_elements_is_reported_not_broadcast():
    # (16,) against (4, 4): the hints that compare values must not end in a broadcasting error
    def flattened_softmax(x, dim):
        return torch.softmax(x, dim).reshape(-1)

    def square(device, dtype):
        yield Case("square 2-d", (torch.randn(4, 4, dtype=dtype, device=device),), {"dim": 1})

    message = fails(check_forward, flattened_softmax, torch.softmax, name="softmax", cases=square, **CPU32)
    assert message.startswith("softmax returned its result with shape (16,) on cpu") and "expected (4, 4)" in message


def test_in_place_modification_of_input_or_upstream_gradient_is_caught():
    def relu_in_place(x):
        x[x < 0] = 0
        return x.clone()

    assert "modified its input `x` in place" in fails(check_forward, relu_in_place, torch.relu, **CPU32)

    def relu_backward_in_place(x, grad_out):
        grad_out[x <= 0] = 0
        return grad_out

    message = fails(check_backward, relu_backward_in_place, torch.relu, **CPU32)
    assert "modified its input `grad_out` in place" in message and "no `grad_out[...] = ...`" in message


def test_backward_uses_a_random_upstream_gradient_so_a_missing_factor_shows():
    def forgot_grad_out(x, grad_out):
        return (x > 0).to(x.dtype)

    assert "forgot_grad_out: wrong gradient on" in fails(check_backward, forgot_grad_out, torch.relu, **CPU32)
    check_backward(lambda x, g: g * (x > 0).to(x.dtype), torch.relu, **CPU32)


def test_autograd_inside_a_hand_written_backward_is_refused():
    def autograd_backward(x, grad_out):
        x = x.detach().clone().requires_grad_(True)
        torch.relu(x).backward(grad_out)
        return x.grad

    assert "uses autograd" in fails(check_backward, autograd_backward, torch.relu, **CPU32)

    def grad_derivative(x):
        x = x.detach().clone().requires_grad_(True)
        return torch.autograd.grad(torch.tanh(x).sum(), x)[0]

    assert "uses autograd" in fails(check_derivative, grad_derivative, torch.tanh, **CPU32)


@pytest.mark.parametrize(
    "name, wrong, hint",
    [
        ("relu_derivative", lambda x: (x >= 0).to(x.dtype), "at exactly 0 is 0"),
        ("sigmoid_derivative", lambda x: x * (1 - x), "the output, not the input"),
        ("tanh_derivative", lambda x: 1 - x * x, "the output, not the input"),
    ],
)
def test_each_known_chapter1_mistake_gets_its_hint(name, wrong, hint):
    reference = {"relu_derivative": torch.relu, "sigmoid_derivative": torch.sigmoid, "tanh_derivative": torch.tanh}[name]
    message = fails(check_derivative, wrong, reference, name=name, hints=ch.HINTS[name])
    assert "Hint: " in message and hint in message


def test_step_at_zero_hint():
    message = fails(check_forward, lambda x: (x >= 0).to(x.dtype), ch.step_reference, hints=ch.HINTS["step"])
    assert "x > 0, not x >= 0" in message


def test_matches_hint_ignores_alternatives_that_raise_or_differ():
    hint = matches(lambda x: 1 / 0, "never")
    message = fails(check_forward, lambda x: x * 2, torch.relu, hints=[hint], **CPU32)
    assert "never" not in message


def test_student_exception_propagates_with_the_case_named():
    def broken(x):
        raise NotImplementedError()

    with pytest.raises(NotImplementedError) as err:
        check_forward(broken, torch.relu, **CPU32)
    assert any("0-d" in note for note in err.value.__notes__)


def test_watched_call_returns_the_result_and_keeps_warnings_off_stderr(capfd):
    def warn_and_add(x):
        warnings.warn("careful")
        return x + 1

    result = watched_call(warn_and_add, (torch.zeros(2),), name="f", where="here")
    assert torch.equal(result, torch.ones(2))
    assert capfd.readouterr().err == ""


def test_devices_env_narrows_and_rejects_unavailable(monkeypatch):
    monkeypatch.setenv("AUTOGRADER_DEVICES", "cpu")
    assert devices() == ["cpu"]
    if not torch.cuda.is_available():
        monkeypatch.setenv("AUTOGRADER_DEVICES", "cpu,cuda")
        with pytest.raises(RuntimeError, match="only \\['cpu'\\]"):
            devices()


@pytest.mark.parametrize("fn", [torch.sigmoid, torch.tanh, lambda x: torch.softmax(x, dim=-1),
                                lambda x: torch.log_softmax(x, dim=0), lambda x: (x * x).sum(), torch.relu])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_vjp_gives_autograds_numbers_bit_for_bit(fn, dtype):
    from autograder.checks import vjp

    x = torch.randn(4, 5, dtype=dtype, generator=torch.Generator().manual_seed(0)) * 30
    x[0, 0] = 0.0
    leaf = x.clone().requires_grad_(True)
    y = fn(leaf)
    g = torch.randn(y.shape, dtype=dtype, generator=torch.Generator().manual_seed(1))
    (expected,) = torch.autograd.grad(y, leaf, g, retain_graph=True)
    (got,) = vjp(y, leaf, g)
    assert torch.equal(got, expected)


def test_vjp_refuses_an_upstream_gradient_of_another_shape_or_dtype():
    from autograder.checks import vjp

    x = torch.ones(3, requires_grad=True)
    with pytest.raises(ValueError, match="does not match the output"):
        vjp(x * 2, x, torch.ones(1))
    with pytest.raises(ValueError, match="does not match the output"):
        vjp(x * 2, x, torch.ones(3, dtype=torch.float64))


# ---------------------------------------------------------------- messages a student can act on

def plain(lines: list[str]) -> list[str]:
    import re

    return [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in lines]


def test_a_failed_check_shows_its_message_wrapped_to_fit_nbgrader_validate_and_no_stack():
    # nbgrader validate cuts every line of an error at 83 characters: the message must fit
    message = fails(check_forward, lambda x: x > 0, ch.step_reference, name="step", **CPU32)
    shown = plain(CheckFailure(message)._render_traceback_())
    assert shown[0].startswith("CheckFailure: step returned its result with dtype torch.bool")
    assert max(len(line) for line in shown) <= CheckFailure.WIDTH
    assert " ".join(line.strip() for line in shown) == " ".join(f"CheckFailure: {message}".split())
    assert not any("File " in line or "Traceback" in line for line in shown)


def test_integer_outputs_are_told_they_are_int64_not_to_take_x_dtype():
    case = Case("example", (torch.ones(3),))
    with pytest.raises(CheckFailure) as err:
        assert_tensor_matches(torch.zeros(3), torch.zeros(3, dtype=torch.int64), name="max_along", case=case,
                              what="indices")
    message = str(err.value)
    assert "max_along returned its indices with dtype torch.float32" in message and "expected torch.int64" in message
    # the old advice, wrong for indices, told everyone to "use ... dtype=x.dtype"
    assert "do not give them dtype=x.dtype" in message and "or dtype=x.dtype." not in message


def test_a_float64_result_for_a_float32_input_is_told_what_promoted_it():
    message = fails(check_forward, lambda x: x.double().relu(), torch.relu, name="relu", **CPU32)
    assert "relu returned its result with dtype torch.float64" in message and "expected torch.float32" in message
    assert "keep the input's dtype (torch.float32)" in message
    assert "default to float32" not in message  # the old hint, which explained the opposite mistake


def test_nan_from_0_over_0_on_small_inputs_is_not_blamed_on_exp_overflow():
    def nan_where_zero(x):  # 0/0 at x == 0: no exponential anywhere
        return torch.where(x == 0, x / x, x.abs())

    def case_with_a_zero(device, dtype):
        yield Case("1-d with a zero", (torch.tensor([-1.0, 0.0, 2.0], dtype=dtype, device=device),))

    message = fails(check_forward, nan_where_zero, torch.abs, name="f", cases=case_with_a_zero, **CPU32)
    assert "got nan" in message and "0/0" in message
    assert "exp(x) overflows" not in message  # the old hint said so whatever the input


def test_nan_from_exp_overflow_on_large_inputs_keeps_the_overflow_hint():
    message = fails(check_forward, lambda x: torch.exp(x) / (1 + torch.exp(x)), torch.sigmoid, name="sigmoid")
    assert "exp(x) overflows to inf" in message


def test_minus_inf_is_explained_as_a_log_of_zero_or_of_an_overflow():
    message = fails(check_forward, lambda x: -torch.log(1 + torch.exp(-x)), torch.nn.functional.logsigmoid,
                    name="log_sigmoid")
    assert "got -inf" in message and "the log of a number that underflowed to 0" in message


def test_the_in_place_hint_names_the_argument_and_no_mask_or_layer():
    def sigmoid_backward(y, grad_out):
        grad_out *= y * (1 - y)
        return grad_out

    message = fails(check_backward, sigmoid_backward, torch.sigmoid, name="sigmoid_backward",
                    backward_args=lambda case, y, g: ((y, g), {}, ("y", "grad_out")), **CPU32)
    assert "sigmoid_backward modified its input `grad_out` in place" in message
    hint = message.split("Hint:", 1)[1]
    assert "grad_out" in hint and "mask" not in hint and "layer" not in hint and "where(" not in hint


def test_a_stored_output_is_named_as_stored():
    case = Case("square", (torch.ones(2, 2),))
    with pytest.raises(CheckFailure, match=r"^Linear.backward: wrong self.grad_bias on cpu"):
        assert_tensor_matches(torch.zeros(2), torch.ones(2), name="Linear.backward", case=case, what="self.grad_bias")
    with pytest.raises(CheckFailure, match=r"^Linear.backward stored self.grad_bias with shape \(1, 2\)"):
        assert_tensor_matches(torch.zeros(1, 2), torch.ones(2), name="Linear.backward", case=case,
                              what="self.grad_bias")
    with pytest.raises(CheckFailure, match=r"forget to assign it \(`self.grad_... = ...`\)"):
        assert_tensor_matches(None, torch.ones(2), name="Linear.backward", case=case, what="self.grad_bias")


def test_check_example_runs_under_the_rules_and_names_the_example(capsys):
    from autograder.checks import check_example

    x = torch.tensor([-2.0, 0.0, 3.0])
    check_example(lambda v: (v > 0).to(v.dtype), (x,), torch.tensor([0.0, 0.0, 1.0]), name="step", label="step([-2, 0, 3])")
    assert capsys.readouterr().out == "OK: step gives the expected result on step([-2, 0, 3])\n"
    message = fails(check_example, lambda v: (v >= 0).to(v.dtype), (x,), torch.tensor([0.0, 0.0, 1.0]), name="step",
                    label="step([-2, 0, 3])", hints=ch.HINTS["step"])
    assert "step returned wrong values on cpu, float32, shape (3,), step([-2, 0, 3])" in message
    assert "got 1, expected 0" in message and "x > 0, not x >= 0" in message

    def relu_in_place(v):
        return v.clamp_(min=0)

    message = fails(check_example, relu_in_place, (x.clone(),), torch.relu(x), name="relu", label="relu([-2, 0, 3])",
                    inplace_hint=lambda label: f"leave {label} alone")
    assert "relu modified its input `x` in place" in message and "Hint: leave x alone" in message
    message = fails(check_example, torch.sigmoid, (x,), torch.sigmoid(x), name="sigmoid", label="sigmoid([-2, 0, 3])",
                    allowed=ch.ALLOWED["sigmoid"])
    assert "sigmoid runs aten.sigmoid" in message


def test_check_example_hints_see_the_arguments_they_are_written_for():
    from autograder.chapters import sigmoid as ch2
    from autograder.checks import check_example

    x, g = torch.tensor([0.0, -1000.0]), torch.tensor([2.0, 3.0])
    wrong = lambda x, g: g * torch.exp(-x) / (1 + torch.exp(-x))  # noqa: E731 - a student's one-liner
    message = fails(check_example, wrong, (x, g), torch.tensor([1.0, 3.0]), name="log_sigmoid_backward",
                    what="gradient", hints=ch2.HINTS["log_sigmoid_backward"], hint_args=(x, x, g))
    assert "log_sigmoid_backward: wrong gradient" in message and "grad_out * exp(-x) / (1 + exp(-x))" in message


def test_a_students_exception_is_told_once_whether_raised_here_or_in_the_kernel():
    from autograder.checks.calls import raised
    from autograder.referee.session import student_exception

    remote = student_exception({"type": "IndexError", "mro": ["builtins.IndexError"],
                                "message": "index 3 is out of bounds"}, "nll_loss")
    assert str(remote).startswith("your nll_loss raised IndexError")  # the referee's own wording
    assert raised("nll_loss", remote) == "nll_loss raised IndexError: index 3 is out of bounds"
    assert raised("nll_loss", IndexError("index 3 is out of bounds")) == raised("nll_loss", remote)
    assert raised("step", NotImplementedError()) == "step raised NotImplementedError"
