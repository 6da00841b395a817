"""The channel's data format: values to bytes and back, carrying data only.

One frame is::

    b"AGW1" | u32 tree length | tree (UTF-8 JSON) | u64 blob length | blob (safetensors)

The tree describes the value; every tensor in it names a 1-d storage in the safetensors
blob and says how to rebuild the view over it (shape, stride, offset, device, dtype,
requires_grad), so a 0-d or non-contiguous tensor arrives as it left. What a tree may
hold: None, bool, int, float (NaN and infinities included), str, lists, tuples, dicts
(string or int keys), tensors, ``torch.dtype``, ``torch.device``, and *object
references*: an object that is not data travels as a reference the other side resolves
(``{"t": "ref", "id": N}``, made and resolved by the callbacks each side passes in).

Nothing is unpickled, evaluated or imported: the tree is parsed by ``json``, the blob by
safetensors (which checks every declared size against the bytes), and every view is
checked to lie inside its storage. :class:`Limits` bounds sizes, nesting and counts; a
frame that breaks a rule raises :class:`WireError` and nothing else.
"""
from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from typing import Any, Callable

import torch

MAGIC = b"AGW1"

#: dtype name <-> torch dtype (the dtypes safetensors can carry).
DTYPES: dict[str, torch.dtype] = {
    "float64": torch.float64, "float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16,
    "int64": torch.int64, "int32": torch.int32, "int16": torch.int16, "int8": torch.int8, "uint8": torch.uint8,
    "bool": torch.bool,
}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}


class WireError(Exception):
    """A frame or value that breaks the channel's rules (size, nesting, kind, consistency)."""


@dataclass(frozen=True)
class Limits:
    """Bounds on one frame. The defaults carry a chapter 7 training batch with room to spare."""

    max_frame: int = 256 * 1024 * 1024
    max_tree: int = 4 * 1024 * 1024
    max_depth: int = 24
    max_nodes: int = 20_000
    max_tensors: int = 512
    max_str: int = 64 * 1024
    max_dims: int = 8
    max_numel: int = 64 * 1024 * 1024


DEFAULT_LIMITS = Limits()


# ----------------------------------------------------------------------------- encoding

class Encoder:
    """Turns one value into a JSON-able tree, collecting tensor storages in :attr:`tensors`.

    ``on_object(value) -> dict`` encodes anything that is not data (a reference); it may
    raise :class:`WireError` when the value cannot be sent.
    """

    def __init__(self, on_object: Callable[[Any], dict], limits: Limits = DEFAULT_LIMITS,
                 tag_tensor: Callable[[torch.Tensor], dict] | None = None):
        self.on_object, self.limits, self.tag_tensor = on_object, limits, tag_tensor
        self.tensors: dict[str, torch.Tensor] = {}

    def encode(self, value: Any, depth: int = 0) -> Any:
        if depth > self.limits.max_depth:
            raise WireError(f"value nested deeper than {self.limits.max_depth} levels")
        if value is None or isinstance(value, bool):
            return value
        if type(value) is int:
            return value
        if type(value) is float:
            return value if math.isfinite(value) else {"t": "float", "v": repr(value)}
        if type(value) is str:
            if len(value) > self.limits.max_str:
                value = value[: self.limits.max_str] + "...[cut]"
            return value
        if isinstance(value, (list, tuple)):  # subclasses (torch.Size, named tuples) travel as the base kind
            items = [self.encode(v, depth + 1) for v in list.__iter__(value)] if isinstance(value, list) else \
                [self.encode(v, depth + 1) for v in tuple.__iter__(value)]
            return items if isinstance(value, list) else {"t": "tuple", "v": items}
        if isinstance(value, dict) and all(type(k) in (str, int) for k in dict.keys(value)):
            keys = list(dict.keys(value))
            return {"t": "dict", "k": keys, "v": [self.encode(dict.__getitem__(value, k), depth + 1) for k in keys]}
        if type(value) in (torch.Tensor, torch.nn.Parameter) and sendable_tensor(value):
            return self._tensor(value)
        if isinstance(value, torch.dtype) and value in DTYPE_NAMES:
            return {"t": "dtype", "v": DTYPE_NAMES[value]}
        if isinstance(value, torch.device):
            return {"t": "device", "v": str(value)}
        return self.on_object(value)

    def _tensor(self, t: torch.Tensor) -> dict:
        if len(self.tensors) >= self.limits.max_tensors:
            raise WireError(f"more than {self.limits.max_tensors} tensors in one message")
        requires_grad, original = t.requires_grad, t
        t = t.detach()
        span = storage_span(t)
        flat = t.as_strided((span,), (1,), t.storage_offset()).to("cpu").clone() if span else \
            torch.empty(0, dtype=t.dtype)
        key = f"t{len(self.tensors)}"
        self.tensors[key] = flat
        node = {"t": "tensor", "k": key, "dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape),
                "stride": list(t.stride()), "device": str(t.device)}
        if requires_grad:
            node["grad"] = True
        if self.tag_tensor is not None:
            node.update(self.tag_tensor(original))
        return node


def sendable_tensor(t: torch.Tensor) -> bool:
    """Whether the tensor can travel as data (strided, a known dtype, a real device)."""
    return t.layout == torch.strided and t.dtype in DTYPE_NAMES and t.device.type in ("cpu", "cuda") \
        and all(s >= 0 for s in t.stride())


def storage_span(t: torch.Tensor) -> int:
    """Elements of storage the view ``t`` reaches, counted from its storage offset."""
    if t.numel() == 0:
        return 0
    return 1 + sum((size - 1) * stride for size, stride in zip(t.shape, t.stride()))


# ----------------------------------------------------------------------------- decoding

class Decoder:
    """Rebuilds values from a tree and its tensor storages (see :class:`Encoder`).

    ``on_ref(node) -> object`` resolves a reference node; ``device(name) -> torch.device``
    says where a tensor may live on this side (raise :class:`WireError` to refuse).
    """

    def __init__(self, tensors: dict[str, torch.Tensor], on_ref: Callable[[dict], Any],
                 device: Callable[[str], torch.device], limits: Limits = DEFAULT_LIMITS,
                 on_tensor: Callable[[dict, torch.Tensor], None] | None = None):
        self.tensors, self.on_ref, self.device, self.limits = tensors, on_ref, device, limits
        self.on_tensor = on_tensor
        self.nodes = 0

    def decode(self, node: Any, depth: int = 0) -> Any:
        self.nodes += 1
        if self.nodes > self.limits.max_nodes:
            raise WireError(f"more than {self.limits.max_nodes} values in one message")
        if depth > self.limits.max_depth:
            raise WireError(f"value nested deeper than {self.limits.max_depth} levels")
        if node is None or type(node) in (bool, int, float):
            return node
        if type(node) is str:
            if len(node) > self.limits.max_str + 16:
                raise WireError("string too long")
            return node
        if type(node) is list:
            return [self.decode(v, depth + 1) for v in node]
        if type(node) is not dict:
            raise WireError(f"unexpected JSON value of type {type(node).__name__}")
        kind = node.get("t")
        if kind == "tuple":
            return tuple(self.decode(v, depth + 1) for v in _list(node, "v"))
        if kind == "dict":
            keys, values = _list(node, "k"), _list(node, "v")
            if len(keys) != len(values) or not all(type(k) in (str, int) for k in keys):
                raise WireError("malformed dict")
            return {k: self.decode(v, depth + 1) for k, v in zip(keys, values)}
        if kind == "float":
            text = node.get("v")
            if text not in ("nan", "inf", "-inf"):
                raise WireError("malformed float")
            return float(text)
        if kind == "tensor":
            return self._tensor(node)
        if kind == "dtype":
            name = node.get("v")
            if name not in DTYPES:
                raise WireError(f"unknown dtype {name!r}")
            return DTYPES[name]
        if kind == "device":
            return self.device(_str(node, "v"))
        if kind in ("ref", "handle"):
            return self.on_ref(node)
        raise WireError(f"unknown value kind {kind!r}")

    def _tensor(self, node: dict) -> torch.Tensor:
        key, dtype_name = _str(node, "k"), _str(node, "dtype")
        if dtype_name not in DTYPES:
            raise WireError(f"unknown dtype {dtype_name!r}")
        storage = self.tensors.get(key)
        if storage is None:
            raise WireError(f"tensor {key!r} is not in the message")
        if storage.dtype != DTYPES[dtype_name] or storage.dim() != 1:
            raise WireError(f"tensor {key!r}: declared {dtype_name}, the bytes hold {storage.dtype} {tuple(storage.shape)}")
        shape, stride = _ints(node, "shape"), _ints(node, "stride")
        if len(shape) != len(stride) or len(shape) > self.limits.max_dims:
            raise WireError(f"tensor {key!r}: shape {shape} and stride {stride} do not fit")
        if any(s < 0 for s in shape + stride):
            raise WireError(f"tensor {key!r}: negative size or stride")
        numel = math.prod(shape)
        if numel > self.limits.max_numel:
            raise WireError(f"tensor {key!r}: {numel} elements is more than allowed")
        needed = 0 if numel == 0 else 1 + sum((n - 1) * s for n, s in zip(shape, stride))
        if needed > storage.numel():
            raise WireError(f"tensor {key!r}: the view needs {needed} elements, the bytes hold {storage.numel()}")
        device = self.device(_str(node, "device"))
        base = storage.to(device) if device.type != "cpu" else storage
        t = base.as_strided(shape, stride, 0)
        if node.get("grad") is True and t.is_floating_point():
            t = t.requires_grad_(True)
        if self.on_tensor is not None:
            self.on_tensor(node, t)
        return t


def _list(node: dict, key: str) -> list:
    value = node.get(key)
    if type(value) is not list:
        raise WireError(f"malformed message: {key!r} is not a list")
    return value


def _str(node: dict, key: str) -> str:
    value = node.get(key)
    if type(value) is not str or len(value) > 200:
        raise WireError(f"malformed message: {key!r} is not a short string")
    return value


def _ints(node: dict, key: str) -> list[int]:
    value = _list(node, key)
    if not all(type(v) is int for v in value):
        raise WireError(f"malformed message: {key!r} holds something other than integers")
    return value


# ----------------------------------------------------------------------------- frames

def pack(tree: Any, tensors: dict[str, torch.Tensor], limits: Limits = DEFAULT_LIMITS) -> bytes:
    """One frame holding ``tree`` (JSON-able) and ``tensors`` (1-d CPU storages)."""
    from safetensors.torch import save

    head = json.dumps(tree, separators=(",", ":")).encode()
    blob = save(tensors) if tensors else b""
    if len(head) > limits.max_tree:
        raise WireError(f"message description of {len(head)} bytes is over the limit of {limits.max_tree}")
    frame = MAGIC + struct.pack("<I", len(head)) + head + struct.pack("<Q", len(blob)) + blob
    if len(frame) > limits.max_frame:
        raise WireError(f"message of {len(frame)} bytes is over the limit of {limits.max_frame}")
    return frame


def unpack(frame: bytes, limits: Limits = DEFAULT_LIMITS) -> tuple[Any, dict[str, torch.Tensor]]:
    """``(tree, tensors)`` from one frame; :class:`WireError` on anything malformed."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    if len(frame) > limits.max_frame:
        raise WireError(f"message of {len(frame)} bytes is over the limit of {limits.max_frame}")
    if frame[:4] != MAGIC or len(frame) < 16:
        raise WireError("not a channel message")
    (n,) = struct.unpack("<I", frame[4:8])
    if n > limits.max_tree or 8 + n + 8 > len(frame):
        raise WireError("message description too long or cut")
    head = frame[8:8 + n]
    (m,) = struct.unpack("<Q", frame[8 + n:16 + n])
    blob = frame[16 + n:]
    if m != len(blob):
        raise WireError(f"message says {m} bytes of tensor data, it holds {len(blob)}")
    try:
        tree = json.loads(head.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise WireError(f"message description is not valid JSON ({type(err).__name__})") from None
    tensors: dict[str, torch.Tensor] = {}
    if blob:
        try:
            tensors = load(blob)
        except (SafetensorError, ValueError, RuntimeError, TypeError) as err:
            raise WireError(f"tensor data is malformed: {err}") from None
        if len(tensors) > limits.max_tensors:
            raise WireError(f"more than {limits.max_tensors} tensors in one message")
    return tree, tensors


def read_exact(sock, n: int, deadline: float | None) -> bytes:
    """Read ``n`` bytes from ``sock`` before ``deadline`` (``time.monotonic()``; None: no limit).

    Raises :class:`TimeoutError` when time runs out, :class:`EOFError` when the peer closed.
    """
    import time

    chunks, got = [], 0
    while got < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer in time")
            sock.settimeout(left)
        try:
            chunk = sock.recv(min(n - got, 1 << 20))
        except OSError as err:
            if "timed out" in str(err):
                raise TimeoutError("no answer in time") from None
            raise EOFError(f"the connection failed: {err}") from None
        if not chunk:
            raise EOFError("the other side closed the connection")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def recv_frame(sock, deadline: float | None, limits: Limits = DEFAULT_LIMITS) -> tuple[Any, dict]:
    """Read and :func:`unpack` one frame, refusing oversized ones before reading their body."""
    start = read_exact(sock, 8, deadline)
    if start[:4] != MAGIC:
        raise WireError("not a channel message")
    (n,) = struct.unpack("<I", start[4:8])
    if n > limits.max_tree:
        raise WireError(f"message description of {n} bytes is over the limit of {limits.max_tree}")
    head = read_exact(sock, n + 8, deadline)
    (m,) = struct.unpack("<Q", head[n:])
    if 16 + n + m > limits.max_frame:
        raise WireError(f"message of {16 + n + m} bytes is over the limit of {limits.max_frame}")
    blob = read_exact(sock, m, deadline) if m else b""
    return unpack(start + head + blob, limits)


def send_frame(sock, tree: Any, tensors: dict[str, torch.Tensor], limits: Limits = DEFAULT_LIMITS) -> None:
    sock.settimeout(None)
    sock.sendall(pack(tree, tensors, limits))
