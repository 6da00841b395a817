"""The student kernel's side of the channel: answers the referee's requests on student objects.

The referee starts it for one test cell by executing ``serve(path, nonce)`` in the
student's kernel; it connects to the referee's socket, says hello and then answers
requests until the referee says ``bye``:

* ``lookup``: the values of names in the notebook's namespace;
* ``call``, ``getattr``, ``setattr``, ``iter``, ``next``, ``fetch`` on an object the
  referee holds a handle to;
* ``lib``: call one of the constructors in :data:`.library.LIBRARY` (the referee builds
  layers, optimizers, loss functions and probes on this side to hand them to student code).

A result that is data (see :mod:`.codec`) travels as data; any other object stays here,
under a handle id the referee allocated for this request, and travels as a reference
carrying its type's name. A ``call`` records, best effort, the operators it ran
(:mod:`.recorder`), each one the referee does not allow sent the moment it is first seen
(``{"seen": op}`` frames before the answer), and sends back the state of every tensor
argument after the call.
Nothing here decides anything: the referee checks every answer.
"""
from __future__ import annotations

import os
import socket
import sys
import time
from typing import Any

import torch

from . import codec, library
from .recorder import Recording

#: Handles one request may create.
MAX_NEW_HANDLES = 256
#: An empty dict as the channel writes it (a request without keyword arguments).
_NO_KWARGS = {"t": "dict", "k": [], "v": []}


class _Session:
    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.objects: dict[int, Any] = {}
        self.namespace = _user_namespace()
        #: Operators the referee allows in the calls to come (None: it wants to hear of all).
        self.allowed: frozenset[str] | None = None

    # -- encoding ------------------------------------------------------------------------
    def encoder(self, request: dict) -> codec.Encoder:
        base = request.get("ret")
        count = [0]

        def on_object(value: Any) -> dict:
            if type(base) is not int or count[0] >= MAX_NEW_HANDLES:
                raise codec.WireError("too many objects in one answer")
            handle = base + count[0]
            count[0] += 1
            self.objects[handle] = value
            cls = type(value)
            return {"t": "handle", "id": handle, "type": _short(getattr(cls, "__qualname__", "?")),
                    "name": _short(getattr(value, "__qualname__", None) or getattr(value, "__name__", None) or ""),
                    "module": _short(getattr(cls, "__module__", "") or ""),
                    "mro": [_short(f"{getattr(c, '__module__', '')}.{getattr(c, '__qualname__', '?')}")
                            for c in getattr(cls, "__mro__", ())[:16]],
                    "callable": callable(value)}

        return codec.Encoder(on_object)

    def decode(self, tree: Any, tensors: dict, found: list | None = None) -> Any:
        def on_ref(node: dict) -> Any:
            if node.get("t") != "ref" or node.get("id") not in self.objects:
                raise codec.WireError("unknown reference")
            return self.objects[node["id"]]

        def on_tensor(node: dict, t: torch.Tensor) -> None:
            if type(node.get("id")) is int:
                self.objects[node["id"]] = t
            if found is not None:
                found.append(t)

        return codec.Decoder(tensors, on_ref, torch.device, on_tensor=on_tensor).decode(tree)

    def reply(self, request: dict, fields: dict) -> None:
        enc = self.encoder(request)
        tree = {"id": request.get("id")}
        for key, value in fields.items():
            tree[key] = enc.encode(value) if key in ("value", "after") else value
        codec.send_frame(self.sock, tree, enc.tensors)

    # -- requests ------------------------------------------------------------------------
    def target(self, request: dict) -> Any:
        return self.decode(request.get("target"), {})

    def handle(self, request: dict, tensors: dict) -> dict:
        op = request.get("op")
        if op == "lookup":
            names = [n for n in request.get("names", []) if type(n) is str]
            return {"value": {n: self.namespace[n] for n in names if n in self.namespace}}
        if op == "call":
            return self.call(request, tensors)
        if op == "getattr":
            return {"value": getattr(self.target(request), str(request.get("name")))}
        if op == "setattr":
            setattr(self.target(request), str(request.get("name")), self.decode(request.get("value"), tensors))
            return {"value": None}
        if op == "iter":
            return {"value": iter(self.target(request))}
        if op == "next":
            return {"value": next(self.target(request))}
        if op == "fetch":
            return {"value": self.target(request)}
        if op == "lib":
            fn = library.resolve(str(request.get("name")))
            args = self.decode(request.get("args", []), tensors)
            kwargs = self.decode(request.get("kwargs", _NO_KWARGS), tensors)
            return {"value": fn(*args, **kwargs)}
        raise codec.WireError(f"unknown request {op!r}")

    def call(self, request: dict, tensors: dict) -> dict:
        fn = self.target(request)
        found: list[torch.Tensor] = []
        args = self.decode(request.get("args", []), tensors, found)
        kwargs = self.decode(request.get("kwargs", _NO_KWARGS), tensors, found)
        if "allowed" in request:
            allowed = request["allowed"]
            self.allowed = frozenset(str(op) for op in allowed) if isinstance(allowed, list) else None

        def report(op: str) -> None:  # an operator it may not allow is told at once, before the code goes on
            if self.allowed is None or op not in self.allowed:
                codec.send_frame(self.sock, {"id": request.get("id"), "seen": op}, {})

        start = time.perf_counter()
        recording = Recording(on_new=report)
        with recording:
            value = fn(*args, **kwargs)
        return {"value": value, "after": list(found), "ops": sorted(recording.ops), "autograd": sorted(recording.autograd),
                "intact": recording.intact, "seconds": time.perf_counter() - start}


def _short(text: str, n: int = 120) -> str:
    return str(text)[:n]


def _user_namespace() -> dict:
    try:
        from IPython import get_ipython

        shell = get_ipython()
        if shell is not None:
            return shell.user_ns
    except ImportError:
        pass
    return sys.modules["__main__"].__dict__


def _error(err: BaseException) -> dict:
    cls = type(err)
    try:
        message = str(err)[:4000]
        notes = [str(n)[:500] for n in getattr(err, "__notes__", [])][:5]
    except Exception:  # noqa: BLE001 - a student's exception whose str() fails
        message, notes = "(the error's message could not be read)", []
    return {"type": _short(cls.__qualname__), "module": _short(cls.__module__),
            "mro": [_short(f"{c.__module__}.{c.__qualname__}") for c in cls.__mro__[:16]], "message": message,
            "notes": notes}


def serve(path: str, nonce: str) -> None:
    """Connect to the referee at ``path`` and answer its requests until it says ``bye``."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    session = _Session(sock)
    codec.send_frame(sock, {"hello": nonce, "pid": os.getpid()}, {})
    try:
        while True:
            try:
                request, tensors = codec.recv_frame(sock, None)
            except (EOFError, codec.WireError):
                return
            if not isinstance(request, dict) or request.get("op") == "bye":
                return
            try:
                fields = {"ok": True, **session.handle(request, tensors)}
            except BaseException as err:  # noqa: BLE001 - the student's error is an answer too
                # KeyboardInterrupt included: the referee interrupts a call only after it stopped
                # waiting for its answer, so one it reads was raised by the student's code
                fields = {"ok": False, "error": _error(err)}
            try:
                session.reply(request, fields)
            except Exception as err:  # noqa: BLE001 - an answer that cannot be sent is an error answer
                session.reply(request, {"ok": False, "error": _error(err)})
    finally:
        session.objects.clear()
        sock.close()
