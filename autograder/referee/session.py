"""The referee's end of the channel: proxies for the student's objects.

A :class:`Session` talks to :mod:`autograder_kernel.server` in the student's kernel over
one socket, for one test cell. Every name of the notebook that the test cell uses
arrives as data (a tensor, a number...) or as a :class:`Remote`: a handle on an object
that stays in the student's kernel. Calling a :class:`Remote`, reading or setting its
attributes, or iterating over it sends a request and waits, at most until the test
cell's deadline, for the answer.

Everything that comes back is checked before use (see :mod:`autograder_kernel.codec`),
and a handle in an answer must be one this session allocated for that very request.
When the student's side breaks a rule, runs out of time or disappears, the call raises
a :class:`ChannelError` and the session is closed: the test cell fails with a message
that says so, and nothing else is affected.
"""
from __future__ import annotations

import builtins
import weakref
from enum import Enum
from typing import Any, Callable

import torch

from autograder_kernel import codec
from autograder_kernel.server import MAX_NEW_HANDLES

from ..checks.side import CallRecord, Handle, StudentError, is_remote


class Trouble(Enum):
    """Why the student's kernel could not answer a test."""

    OUT_OF_TIME = "out of time"
    GONE = "the kernel is gone"
    BROKEN = "it broke the channel's rules or did not start answering"


class ChannelError(BaseException):
    """The student's kernel could not answer: out of time, gone, or broke the channel's rules.

    A ``BaseException``, like ``KeyboardInterrupt``: no ``except Exception`` in a check or a
    test cell may swallow it; it ends the test cell, which fails with its message.
    ``reason``: which :class:`Trouble` it is."""

    reason = Trouble.BROKEN


class CallTimeout(ChannelError):
    reason = Trouble.OUT_OF_TIME


class KernelGone(ChannelError):
    reason = Trouble.GONE


class ProtocolError(ChannelError):
    reason = Trouble.BROKEN


#: Builtin exceptions a student's exception may be mapped onto (only by their own module
#: and name: nothing is imported). All derive from ``Exception``: a student's
#: ``KeyboardInterrupt``, ``SystemExit``, ``GeneratorExit`` or other ``BaseException`` comes
#: back as a plain ``Exception`` carrying its name, so it fails the test that called it and
#: cannot stop the referee.
_MAPPABLE = ("StopIteration", "NotImplementedError", "IndexError", "KeyError", "ValueError",
             "TypeError", "AttributeError", "ZeroDivisionError", "OverflowError", "MemoryError", "RecursionError",
             "RuntimeError", "AssertionError", "LookupError", "ArithmeticError", "NameError", "ImportError",
             "Exception")
_CLASSES: dict[tuple[str, str], type] = {}


def student_exception(info: Any, callee: str) -> StudentError:
    """A :class:`StudentError` from the error description the student's side sent."""
    if not isinstance(info, dict):
        return ProtocolError("the kernel sent a malformed error")  # type: ignore[return-value]
    mro = [m for m in info.get("mro", []) if isinstance(m, str)][:16]
    base = next((m.split(".", 1)[1] for m in mro if m.startswith("builtins.") and m.split(".", 1)[1] in _MAPPABLE),
                "Exception")
    name = str(info.get("type", "Exception"))[:100]
    key = (name, base)
    if key not in _CLASSES:
        _CLASSES[key] = type(name, (StudentError, getattr(builtins, base)), {"student_type": name})
    message = str(info.get("message", ""))[:4000]
    notes = [str(n) for n in info.get("notes", []) if isinstance(n, str)][:5]
    where = f"your {callee}" if callee else "your notebook's code"
    err = _CLASSES[key](f"{where} raised {name}" + (f": {message}" if message else ""))
    err.student_message = message
    for note in notes:
        err.add_note(note)
    return err


class Remote(Handle):
    """A handle on an object in the student's kernel. Calls, attribute reads and writes and
    iteration go through the session; the type's name is known without asking."""

    __slots__ = ("_session", "_id", "_info", "__weakref__")

    def __init__(self, session: "Session", handle: int, info: dict):
        object.__setattr__(self, "_session", session)
        object.__setattr__(self, "_id", handle)
        object.__setattr__(self, "_info", info)

    @property
    def type_name(self) -> str:
        return str(self._info.get("type", "object"))

    @property
    def display_name(self) -> str:
        """The function's or class's own name when it has one, else its type's name."""
        return str(self._info.get("name") or self.type_name)

    def type_is(self, qualified: str) -> bool:
        """Whether ``module.qualname`` is in the object's class hierarchy (as the student's side says)."""
        return qualified in self._info.get("mro", [])

    def __call__(self, *args, **kwargs):
        return self._session.call(self, args, kwargs).value

    def __getattr__(self, name: str):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._session.request("getattr", self.display_name, target=self, name=name)

    def __setattr__(self, name: str, value: Any) -> None:
        self._session.request("setattr", self.display_name, target=self, name=name, value=value)

    def __iter__(self):
        return _RemoteIterator(self._session.request("iter", self.display_name, target=self))

    def __repr__(self) -> str:
        module = self._info.get("module", "")
        return f"<{module + '.' if module and module != '__main__' else ''}{self.type_name} object>"


class _RemoteIterator:
    def __init__(self, handle: Any):
        self.handle = handle

    def __iter__(self):
        return self

    def __next__(self):
        if not isinstance(self.handle, Remote):
            raise ProtocolError("iter() did not give an iterator")
        try:
            return self.handle._session.request("next", "iterator", target=self.handle)
        except StopIteration:
            raise StopIteration from None


class Session:
    """One test cell's conversation with the student's kernel (see the module docstring).

    ``deadline()``: the ``time.monotonic()`` by which every answer must be in;
    ``devices``: device types tensors may arrive on (those the referee has).
    """

    def __init__(self, sock, deadline: Callable[[], float], devices: tuple[str, ...] = ("cpu",),
                 limits: codec.Limits = codec.DEFAULT_LIMITS):
        self.sock, self.deadline, self.devices, self.limits = sock, deadline, devices, limits
        self.next_handle = 1
        self.next_request = 1
        self.closed: str | None = None
        self._allowed_said: frozenset[str] | None = None
        self._sent: dict[int, tuple[weakref.ref, int]] = {}

    # -- low level ----------------------------------------------------------------------------
    def _device(self, name: str) -> torch.device:
        try:
            device = torch.device(name)
        except (RuntimeError, ValueError):
            raise codec.WireError(f"unknown device {name!r}") from None
        if device.type not in self.devices:
            raise codec.WireError(f"a tensor on {name!r}, which the grader does not use")
        return device

    def _encoder(self) -> codec.Encoder:
        def on_object(value: Any) -> dict:
            if is_remote(value) and value._session is self:
                return {"t": "ref", "id": value._id}
            if isinstance(value, _Ref):
                return {"t": "ref", "id": value.handle}
            raise codec.WireError(f"cannot send a {type(value).__name__} to the student's kernel")

        def tag(t: torch.Tensor) -> dict:
            handle = self.next_handle
            self.next_handle += 1
            self._sent[id(t)] = (weakref.ref(t), handle)
            return {"id": handle}

        return codec.Encoder(on_object, self.limits, tag_tensor=tag)

    def _exchange(self, op: str, fields: dict) -> tuple[dict, dict, int, set[str]]:
        """Send one request; ``(reply, its tensors, its first handle id, the operators the
        student's side reported while it ran)``."""
        if self.closed:
            raise ProtocolError(f"the channel to your kernel is closed: {self.closed}")
        rid, ret = self.next_request, self.next_handle
        self.next_request += 1
        self.next_handle += MAX_NEW_HANDLES
        enc = self._encoder()
        tree = {"op": op, "id": rid, "ret": ret}
        for key, value in fields.items():
            tree[key] = enc.encode(value) if key in ("target", "args", "kwargs", "value") else value
        seen: set[str] = set()
        try:
            codec.send_frame(self.sock, tree, enc.tensors, self.limits)
            while True:
                reply, tensors = codec.recv_frame(self.sock, self.deadline(), self.limits)
                if not (isinstance(reply, dict) and "seen" in reply and reply.get("id") == rid):
                    break
                if len(seen) > 4000:
                    raise codec.WireError("too many operators reported")
                seen.add(str(reply["seen"])[:80])
        except TimeoutError:
            self.close("out of time")
            raise CallTimeout("your code did not answer in time (the test's time limit)") from None
        except (EOFError, OSError) as err:
            self.close("the kernel is gone")
            raise KernelGone(f"your kernel stopped answering ({err}); it may have crashed or been killed") from None
        except codec.WireError as err:
            self.close("malformed answer")
            raise ProtocolError(f"your kernel sent a malformed answer: {err}") from None
        if not isinstance(reply, dict) or reply.get("id") != rid:
            self.close("malformed answer")
            raise ProtocolError("your kernel sent an answer to another question")
        return reply, tensors, ret, seen

    def _decode(self, node: Any, tensors: dict, ret: int) -> Any:
        issued: set[int] = set()

        def on_ref(ref: dict) -> Remote:
            handle = ref.get("id")
            if ref.get("t") != "handle" or type(handle) is not int or not ret <= handle < ret + MAX_NEW_HANDLES \
                    or handle in issued:
                raise codec.WireError("a handle the referee never issued")
            issued.add(handle)
            info = {k: ref.get(k) for k in ("type", "module", "name", "callable")}
            info["mro"] = [m for m in ref.get("mro", []) if isinstance(m, str)][:16] if isinstance(ref.get("mro"), list) else []
            for key in ("type", "module", "name"):
                info[key] = str(info[key] or "")[:120]
            return Remote(self, handle, info)

        try:
            return codec.Decoder(tensors, on_ref, self._device, self.limits).decode(node)
        except (codec.WireError, RuntimeError, ValueError, TypeError) as err:
            self.close("malformed answer")
            raise ProtocolError(f"your kernel sent a malformed answer: {err}") from None

    # -- requests -----------------------------------------------------------------------------
    def request(self, op: str, callee: str = "", **fields) -> Any:
        """Send ``op`` with ``fields``; the decoded ``value`` of the answer, or the student's
        exception raised as a :class:`StudentError`."""
        reply, tensors, ret, _ = self._exchange(op, fields)
        if reply.get("ok") is not True:
            raise student_exception(reply.get("error"), callee)
        return self._decode(reply.get("value"), tensors, ret)

    def call(self, fn: Remote, args: tuple, kwargs: dict, allowed: frozenset[str] | None = None) -> CallRecord:
        """Call the student's ``fn(*args, **kwargs)``; see :class:`CallRecord`. ``allowed``:
        the operators the check allows, so that the student's side reports any other one the
        moment it runs (said once per session, and again when it changes)."""
        fields = {"target": fn, "args": list(args), "kwargs": dict(kwargs)}
        if allowed != self._allowed_said:
            fields["allowed"] = sorted(allowed) if allowed is not None else None
            self._allowed_said = allowed
        reply, tensors, ret, seen = self._exchange("call", fields)
        if reply.get("ok") is not True:
            raise student_exception(reply.get("error"), fn.display_name)
        value = self._decode(reply.get("value"), tensors, ret)
        after = self._decode(reply.get("after", []), tensors, ret)
        ops, autograd = reply.get("ops", []), reply.get("autograd", [])
        if not (isinstance(after, list) and all(type(t) is torch.Tensor for t in after)
                and isinstance(ops, list) and isinstance(autograd, list)):
            self.close("malformed answer")
            raise ProtocolError("your kernel sent a malformed answer to a call")
        seconds = reply.get("seconds")
        return CallRecord(value, after, frozenset(str(o)[:80] for o in ops[:2000]) | seen,
                          frozenset(str(a)[:40] for a in autograd[:100]), reply.get("intact") is True,
                          float(seconds) if type(seconds) in (int, float) else 0.0)

    def lookup(self, names: list[str]) -> dict[str, Any]:
        """The values of ``names`` in the notebook's namespace (absent names are left out)."""
        found = self.request("lookup", names=list(names))
        if not isinstance(found, dict) or not set(found) <= set(names):
            self.close("malformed answer")
            raise ProtocolError("your kernel sent a malformed answer to a name lookup")
        return found

    def lib(self, name: str, *args, **kwargs) -> Any:
        """Call ``name`` (one of :data:`autograder_kernel.library.LIBRARY`) on the student's side."""
        return self.request("lib", name, name=name, args=list(args), kwargs=dict(kwargs))

    def manual_seed(self, seed: int) -> None:
        """Seed torch's generator on the student's side."""
        self.lib("torch.manual_seed", seed)

    def default_dtype(self) -> torch.dtype:
        """torch's default dtype on the student's side."""
        return self.lib("torch.get_default_dtype")

    def fetch(self, value: Any) -> Any:
        """The current state, on the student's side, of ``value``: a :class:`Remote`, or a tensor
        this session sent earlier (what the student's code may since have changed)."""
        if is_remote(value):
            return self.request("fetch", value.display_name, target=value)
        entry = self._sent.get(id(value))
        if entry is None or entry[0]() is not value:
            raise ValueError("this tensor was never sent to the student's kernel")
        return self.request("fetch", "tensor", target=_Ref(entry[1]))

    def close(self, why: str = "closed") -> None:
        if self.closed is None:
            self.closed = why
            try:
                if why == "closed":
                    codec.send_frame(self.sock, {"op": "bye"}, {})
            except OSError:
                pass


class _Ref:
    """A reference, by id, to an object the student's side stored (a tensor sent earlier)."""

    def __init__(self, handle: int):
        self.handle = handle
