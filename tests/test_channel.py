"""The data-only channel between the referee and the student's kernel.

Values survive the trip (dtype, device, 0-d, non-contiguous layouts, the state of tensor
arguments after a call); hostile answers (oversized, deeply nested, of the wrong kind, a
tensor whose declared size disagrees with its bytes, a handle the referee never issued,
an answer to another question) each fail that one call with a clear message, close that
session, and leave the next session unharmed.
"""
from __future__ import annotations

import json
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import torch

from autograder import REPO_ROOT
from autograder.referee.session import ChannelError, ProtocolError, Remote, Session, StudentError
from autograder_kernel import codec

STUDENT = """
import sys, torch
from autograder_kernel.server import serve

def double(x):
    return x * 2

def halve_in_place(x):
    x /= 2
    return x

def pair(x):
    return x.sum(), {"shape": tuple(x.shape), "t": x.t(), "none": None, "nan": float("nan")}

def as_numpy(x):
    return x.numpy()

def index_error(x):
    raise IndexError("index 3 is out of bounds")

class Layer:
    def forward(self, x):
        self.x = x
        return x + 1

while True:
    try:
        serve(sys.argv[1], "hello")
    except OSError:
        break
"""


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    """A process that serves the channel, like the kernel does; yields a function giving a
    fresh session per call (one per test cell, as in grading)."""
    tmp = tmp_path_factory.mktemp("channel")
    path = tmp / "s.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(STUDENT), str(path)], cwd=REPO_ROOT)

    def session() -> Session:
        listener.settimeout(60)
        conn, _ = listener.accept()
        assert codec.recv_frame(conn, time.monotonic() + 30)[0]["hello"] == "hello"
        deadline = time.monotonic() + 60
        return Session(conn, lambda: deadline)

    yield session
    proc.kill()
    listener.close()


def test_tensors_keep_dtype_zero_dims_strides_and_grad_flag(student):
    s = student()
    double = s.lookup(["double"])["double"]
    base = torch.arange(48, dtype=torch.float64).reshape(6, 8)
    cases = [torch.tensor(3.5), base.t()[::2], torch.ones(3, 1).expand(3, 4), torch.tensor([True, False]),
             torch.arange(5), torch.randn(4, dtype=torch.float32).requires_grad_(True)]
    for x in cases:
        record = s.call(double, (x,), {})
        y = record.value
        assert type(y) is torch.Tensor and y.dtype == (x * 2).dtype and y.shape == x.shape
        assert torch.equal(y.detach(), (x * 2).detach())
        assert torch.equal(record.after[0].detach(), x.detach()) and record.after[0].stride() == x.stride()
    assert s.call(double, (cases[-1],), {}).value.requires_grad
    s.close()


def test_nested_results_and_python_values_come_back_as_data(student):
    s = student()
    total, extra = s.lookup(["pair"])["pair"](torch.arange(6.0).reshape(2, 3))
    assert total.item() == 15.0 and total.shape == ()
    assert extra["shape"] == (2, 3) and extra["none"] is None and extra["nan"] != extra["nan"]
    assert not extra["t"].is_contiguous() and extra["t"].shape == (3, 2)
    s.close()


def test_objects_stay_in_the_kernel_as_handles_with_their_type_name(student):
    s = student()
    found = s.lookup(["Layer", "as_numpy", "nothing_here"])
    assert set(found) == {"Layer", "as_numpy"}
    layer = found["Layer"]()
    assert isinstance(layer, Remote) and layer.type_name == "Layer"
    x = torch.randn(3)
    assert torch.equal(layer.forward(x), x + 1) and torch.equal(layer.x, x)
    array = found["as_numpy"](torch.zeros(2))
    assert isinstance(array, Remote) and array.type_name == "ndarray"
    assert not hasattr(layer, "missing")
    s.close()


def test_the_state_of_an_argument_after_the_call_shows_an_in_place_change(student):
    s = student()
    x = torch.tensor([2.0, 4.0])
    record = s.call(s.lookup(["halve_in_place"])["halve_in_place"], (x,), {})
    assert torch.equal(x, torch.tensor([2.0, 4.0]))  # the referee's copy is untouched
    assert torch.equal(record.after[0], torch.tensor([1.0, 2.0]))
    assert torch.equal(s.fetch(x), torch.tensor([1.0, 2.0]))  # the student's side, later
    s.close()


def test_the_students_exception_derives_from_the_same_builtin(student):
    s = student()
    with pytest.raises(IndexError) as err:
        s.lookup(["index_error"])["index_error"](torch.zeros(1))
    assert isinstance(err.value, StudentError) and "index 3 is out of bounds" in str(err.value)
    assert str(err.value).startswith("your index_error raised IndexError")
    s.close()


def test_a_call_past_the_deadline_fails_that_call_only():
    a, b = socket.socketpair()
    s = Session(a, lambda: time.monotonic() + 0.3)
    with pytest.raises(ChannelError, match="did not answer in time"):
        s.request("lookup", names=["x"])
    assert s.closed
    b.close()


# ----------------------------------------------------------------------------- hostile answers

def _frame(tree, blob: bytes = b"") -> bytes:
    head = json.dumps(tree).encode()
    return codec.MAGIC + struct.pack("<I", len(head)) + head + struct.pack("<Q", len(blob)) + blob


def _tensor_blob(t: torch.Tensor) -> bytes:
    from safetensors.torch import save

    return save({"t0": t})


def _answer(reply: bytes):
    """A session whose student side reads one request and answers ``reply`` (a raw frame)."""
    a, b = socket.socketpair()

    def student_side():
        try:
            codec.recv_frame(b, time.monotonic() + 10)
            b.sendall(reply)
        except Exception:  # noqa: BLE001 - the referee may close first
            pass

    threading.Thread(target=student_side, daemon=True).start()
    deadline = time.monotonic() + 10
    return Session(a, lambda: deadline)


def _ok(value) -> dict:
    return {"id": 1, "ok": True, "value": value}


HOSTILE = {
    "not a frame at all": b"GET / HTTP/1.1\r\n\r\n" + b"x" * 64,
    "a description over the size limit": codec.MAGIC + struct.pack("<I", 2**31) + b"{}",
    "a frame over the size limit": codec.MAGIC + struct.pack("<I", 2) + b"{}" + struct.pack("<Q", 2**40),
    "nesting beyond the limit": _frame(_ok(json.loads("[" * 200 + "]" * 200))),
    "a value of an unknown kind": _frame(_ok({"t": "pickle", "v": "gASVAAAAAAAAAAA="})),
    "a tensor whose declared size disagrees with its bytes": _frame(
        _ok({"t": "tensor", "k": "t0", "dtype": "float32", "shape": [1000], "stride": [1], "device": "cpu"}),
        _tensor_blob(torch.zeros(4))),
    "a tensor whose declared dtype disagrees with its bytes": _frame(
        _ok({"t": "tensor", "k": "t0", "dtype": "float64", "shape": [4], "stride": [1], "device": "cpu"}),
        _tensor_blob(torch.zeros(4))),
    "a negative stride": _frame(
        _ok({"t": "tensor", "k": "t0", "dtype": "float32", "shape": [2], "stride": [-1], "device": "cpu"}),
        _tensor_blob(torch.zeros(4))),
    "a tensor on a device the grader does not use": _frame(
        _ok({"t": "tensor", "k": "t0", "dtype": "float32", "shape": [4], "stride": [1], "device": "meta"}),
        _tensor_blob(torch.zeros(4))),
    "tensor bytes cut short": _frame(_ok(None), _tensor_blob(torch.zeros(4))[:-3]),
    "a handle the referee never issued": _frame(_ok({"t": "handle", "id": 10**9, "type": "X"})),
    "an answer to another question": _frame({"id": 77, "ok": True, "value": 1}),
    "a reply that is not an object": _frame([1, 2, 3]),
    "a closed connection": b"",
}


@pytest.mark.parametrize("what", list(HOSTILE))
def test_a_hostile_answer_fails_that_call_with_a_clear_message_and_nothing_else(what):
    s = _answer(HOSTILE[what])
    with pytest.raises(ChannelError) as err:
        s.request("lookup", names=["f"])
    assert "your kernel" in str(err.value) or "malformed" in str(err.value)
    assert s.closed
    with pytest.raises(ProtocolError, match="closed"):  # the session is over; the next test cell gets a new one
        s.request("lookup", names=["f"])


def test_after_a_hostile_session_the_next_session_works(student):
    s = _answer(HOSTILE["a handle the referee never issued"])
    with pytest.raises(ChannelError):
        s.request("lookup", names=["f"])
    fresh = student()
    assert torch.equal(fresh.lookup(["double"])["double"](torch.ones(2)), torch.full((2,), 2.0))
    fresh.close()


def test_the_referee_never_sends_one_of_its_own_objects():
    a, b = socket.socketpair()
    s = Session(a, lambda: time.monotonic() + 5)
    with pytest.raises(codec.WireError, match="cannot send"):
        s.lib("torch.manual_seed", lambda: None)
    a.close()
    b.close()


def test_frames_refuse_size_nesting_and_count_limits_on_both_ends():
    limits = codec.Limits(max_frame=10_000, max_depth=5, max_tensors=2)
    enc = codec.Encoder(lambda v: {"t": "ref", "id": 0}, limits)
    with pytest.raises(codec.WireError):
        enc.encode([[[[[[[1]]]]]]])
    with pytest.raises(codec.WireError):
        for _ in range(3):
            enc.encode(torch.zeros(1))
    with pytest.raises(codec.WireError):
        codec.pack({"x": "y" * 20_000}, {}, limits)


def test_an_operator_reported_while_the_code_ran_counts_even_if_the_final_record_drops_it():
    """The student's side tells an operator the check does not allow the moment it runs;
    clearing the record afterwards (the final answer lists none) hides nothing."""
    a, b = socket.socketpair()
    s = Session(a, lambda: time.monotonic() + 10)
    f = Remote(s, 1, {"type": "function", "name": "sigmoid", "mro": []})

    def student_side():
        request, _ = codec.recv_frame(b, time.monotonic() + 10)
        assert "sigmoid" not in request["allowed"] and "exp" in request["allowed"]
        b.sendall(_frame({"id": request["id"], "seen": "sigmoid"}))
        b.sendall(_frame({"id": request["id"], "ok": True, "value": None, "after": [], "ops": [], "autograd": [],
                          "intact": True, "seconds": 0.0}))

    thread = threading.Thread(target=student_side, daemon=True)
    thread.start()
    record = s.call(f, (), {}, allowed=frozenset({"exp", "add"}))
    thread.join(5)
    assert "sigmoid" in record.ops
