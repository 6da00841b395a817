"""Shortcuts a student who has read the grader's source might try (issue 17's classes).

Each attempt starts from the correct notebook and gets torch's own answer into one graded
function (chapter 1's sigmoid, which tanh uses too, or its relu for the attempts that start
processes, unless said otherwise), or tampers with what reports on it. ``kind`` is the
class of the issue it belongs to; ``targets`` what it gets past (or tries to); ``lose`` the
test cells it must lose unless the row is ``flagged``: every test that calls the attacked
function with the allowed operators checked. ``works`` names test cells it passes when the
checks run here with every operator allowed: the attempt is a working shortcut, so losing
its points in grading means the grader saw it.
"""
from __future__ import annotations

import textwrap

from .model import A1, A2, A3, A5, A6, A7, Attempt, code

#: Chapter 1's tests that call sigmoid (tanh is 2 * sigmoid(2x) - 1 in the solution).
SIGMOID_TESTS = frozenset({"test_sigmoid", "test_sigmoid_derivative", "test_tanh", "test_tanh_derivative"})
#: The honest second function of each chapter 1 cell an attempt rewrites.
DERIVATIVES = {"sigmoid": "def sigmoid_derivative(x):\n    y = sigmoid(x)\n    return y * (1 - y)\n",
               "relu": "def relu_derivative(x):\n    return (x > 0).to(x.dtype)\n"}


def attacked_cell(function: str, prelude: str, body: str) -> str:
    """Chapter 1's cell of ``function`` (sigmoid or relu): ``prelude`` at the top, ``function``
    with ``body``, then its derivative written honestly."""
    prelude = code(prelude) + "\n\n" if prelude.strip() else ""
    body = code(body).replace("\n", "\n    ").rstrip()
    return f"{prelude}def {function}(x):\n    {body}\n\n\n{DERIVATIVES[function]}"


def on_sigmoid(name: str, kind: str, targets: str, prelude: str, body: str) -> Attempt:
    """torch's sigmoid in chapter 1's sigmoid (which tanh uses): the four tests calling it must be
    lost; test_sigmoid alone shows the attempt works."""
    return Attempt(name=name, assignment=A1, kind=kind, targets=targets, lose=SIGMOID_TESTS,
                   works=frozenset({"test_sigmoid"}), answers={"sigmoid_solution": attacked_cell("sigmoid", prelude, body)})


def on_relu(name: str, kind: str, targets: str, prelude: str, body: str) -> Attempt:
    """torch's relu in chapter 1's relu: one test cell (cheap for the attempts that start processes)."""
    return Attempt(name=name, assignment=A1, kind=kind, targets=targets, lose=frozenset({"test_relu"}),
                   works=frozenset({"test_relu"}), answers={"relu_solution": attacked_cell("relu", prelude, body)})


#: What the patched server records instead of the operators a call ran: nothing, intact.
QUIET_RECORDING = """
    class QuietRecording:
        def __init__(self, on_new=None):
            self.ops, self.autograd, self.intact = set(), set(), True

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False
"""
#: torch's sigmoid with both of the recorder's modes switched off (written into a file or a string).
MODES_OFF = ("import torch\n\n\ndef sigmoid(x):\n"
             "    with torch._C._DisableTorchDispatch(), torch._C.DisableTorchFunction():\n"
             "        return torch.sigmoid(x)\n")


def patched_server(name: str, targets: str, prelude: str) -> Attempt:
    """``prelude`` binds ``server`` to ``autograder_kernel.server`` some way; its recorder is replaced."""
    return on_sigmoid(name, "importing by name", targets,
                      code(prelude) + "\n\n" + code(QUIET_RECORDING) + "\n\nserver.Recording = QuietRecording",
                      "return torch.sigmoid(x)")


THREADS = [
    on_sigmoid("s-thread", "threads", "threading.Thread: torch's modes are thread-local", "import threading", """
        out = {}
        worker = threading.Thread(target=lambda: out.update(y=torch.sigmoid(x)))
        worker.start()
        worker.join()
        return out["y"]
    """),
    on_sigmoid("s-thread-pool-executor", "threads", "concurrent.futures.ThreadPoolExecutor",
               "from concurrent.futures import ThreadPoolExecutor\n\nPOOL = ThreadPoolExecutor(max_workers=1)",
               "return POOL.submit(torch.sigmoid, x).result()"),
    on_sigmoid("s-low-level-thread", "threads", "_thread.start_new_thread with a lock", "import _thread", """
        done = _thread.allocate_lock()
        done.acquire()
        out = []

        def work():
            out.append(torch.sigmoid(x))
            done.release()

        _thread.start_new_thread(work, ())
        done.acquire()
        return out[0]
    """),
    on_sigmoid("s-asyncio-to-thread", "threads",
               "asyncio.to_thread on a new event loop (the kernel's running loop set aside)", "import asyncio", """
        running = asyncio._get_running_loop()
        asyncio._set_running_loop(None)
        loop = asyncio.new_event_loop()
        try:
            return loop.run_until_complete(asyncio.to_thread(torch.sigmoid, x))
        finally:
            loop.close()
            asyncio._set_running_loop(running)
    """),
    on_sigmoid("s-thread-pool-multiprocessing", "threads", "multiprocessing.pool.ThreadPool",
               "from multiprocessing.pool import ThreadPool", """
        with ThreadPool(1) as pool:
            return pool.apply(torch.sigmoid, (x,))
    """),
    on_sigmoid("s-queue-worker-thread", "threads",
               "a worker thread started by the answer cell (threads outlive cells), fed through queues", """
        import queue
        import threading

        REQUESTS, ANSWERS = queue.Queue(), queue.Queue()


        def serve():
            while True:
                ANSWERS.put(torch.sigmoid(REQUESTS.get()))


        threading.Thread(target=serve, daemon=True).start()
    """, """
        REQUESTS.put(x)
        return ANSWERS.get()
    """),
    on_sigmoid("s-timer-thread", "threads", "threading.Timer(0, ...)", "import threading", """
        out = []
        timer = threading.Timer(0, lambda: out.append(torch.sigmoid(x)))
        timer.start()
        timer.join()
        return out[0]
    """),
]

PROCESSES = [
    on_relu("s-multiprocessing-pool", "process pools", "multiprocessing.Pool (fork)", "import multiprocessing", """
        with multiprocessing.get_context("fork").Pool(1) as pool:
            return pool.apply(torch.relu, (x,))
    """),
    on_relu("s-process-pool-executor", "process pools", "concurrent.futures.ProcessPoolExecutor (fork)",
            "from concurrent.futures import ProcessPoolExecutor", """
        with ProcessPoolExecutor(max_workers=1) as pool:
            return pool.submit(torch.relu, x).result()
    """),
    on_relu("s-torch-multiprocessing-spawn", "process pools",
            "a torch.multiprocessing spawn pool, made at the first call and kept", """
        import torch.multiprocessing as tmp

        POOL = []
    """, """
        if not POOL:
            POOL.append(tmp.get_context("spawn").Pool(1))
        return POOL[0].apply(torch.relu, (x,))
    """),
    on_relu("s-os-fork-pipe", "process pools", "os.fork and a pipe: the child computes, the parent reads bytes",
            "import os", """
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            data = torch.relu(x).contiguous().numpy().tobytes()
            with os.fdopen(write_end, "wb") as out:
                out.write(data)
            os._exit(0)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as stream:
            data = stream.read()
        os.waitpid(pid, 0)
        return torch.frombuffer(bytearray(data), dtype=x.dtype).reshape(x.shape).clone()
    """),
]

RUNTIME_NAMES = [
    on_sigmoid("s-getattr-built-name", "names built at run time",
               "torch._C's mode switches reached with getattr(torch, '_' + 'C')", "", """
        c = getattr(torch, "_" + "C")
        with getattr(c, "_DisableTorch" + "Dispatch")(), getattr(c, "DisableTorch" + "Function")():
            return torch.sigmoid(x)
    """),
    on_sigmoid("s-vars-torch", "names built at run time", "torch._C's mode switches reached with vars(torch)[...]",
               "", """
        c = vars(torch)["_" + "C"]
        with vars(c)["_DisableTorchDispatch"](), vars(c)["DisableTorchFunction"]():
            return torch.sigmoid(x)
    """),
    on_sigmoid("s-module-dict", "names built at run time", "torch._C reached through torch.__dict__", "", """
        c = torch.__dict__["_C"]
        with c.__dict__["_DisableTorchDispatch"](), c.__dict__["DisableTorchFunction"]():
            return torch.sigmoid(x)
    """),
    on_sigmoid("s-globals-lookup", "names built at run time", "a name looked up in globals() by a built string",
               "", """
        switch = globals()["tor" + "ch"].__dict__["_C"]
        with getattr(switch, "_DisableTorch" + "Dispatch")(), getattr(switch, "DisableTorch" + "Function")():
            return torch.sigmoid(x)
    """),
]

EXEC_ALIASES = [
    Attempt(name="s-exec-alias", assignment=A1, kind="aliases of exec-like builtins",
            targets="_run = exec, then the mode switches inside a string the scan cannot read",
            lose=SIGMOID_TESTS, works=frozenset({"test_sigmoid"}),
            answers={"sigmoid_solution": f"_run = exec\n_run({MODES_OFF!r})\n\n\n{DERIVATIVES['sigmoid']}"}),
    on_sigmoid("s-eval-through-print-self", "aliases of exec-like builtins",
               "eval taken from the builtins module reached as print.__self__, by a built name",
               "_ev = print.__self__.__dict__['ev' + 'al']", """
        with _ev("torch._C._DisableTorchDispatch()"), _ev("torch._C.DisableTorchFunction()"):
            return torch.sigmoid(x)
    """),
    on_sigmoid("s-builtins-dict-eval", "aliases of exec-like builtins", "builtins.__dict__['ev' + 'al']",
               "import builtins\n\n_ev = builtins.__dict__['ev' + 'al']", """
        c = _ev("torch._" + "C")
        with c._DisableTorchDispatch(), c.DisableTorchFunction():
            return torch.sigmoid(x)
    """),
]

IMPORT_BY_NAME = [
    patched_server("s-pkgutil-resolve-name", "the kernel-side server's recorder replaced, found with "
                   "pkgutil.resolve_name", "import pkgutil\n\nserver = pkgutil.resolve_name('autograder_kernel.server')"),
    patched_server("s-attrgetter-modules", "the server's recorder replaced, found with "
                   "operator.attrgetter('modules')(sys)",
                   "import operator\nimport sys\n\nserver = operator.attrgetter('modules')(sys)['autograder_kernel.server']"),
    patched_server("s-from-sys-import-modules", "the server's recorder replaced, found with from sys import modules",
                   "from sys import modules\n\nserver = modules['autograder_kernel.server']"),
    patched_server("s-sys-alias-modules", "the server's recorder replaced, found with import sys as s; s.modules",
                   "import sys as s\n\nserver = s.modules['autograder_kernel.server']"),
    patched_server("s-importlib", "the server's recorder replaced, found with importlib.import_module",
                   "import importlib\n\nserver = importlib.import_module('autograder_kernel.server')"),
    patched_server("s-dunder-import", "the server's recorder replaced, found with __import__",
                   "server = __import__('autograder_kernel.server', fromlist=['Recording'])"),
]

FILES = [
    on_sigmoid("s-runpy-file", "writing a file and running it", "a helper written to /tmp, run with runpy.run_path",
               f"import runpy\n\nwith open('/tmp/helper_sigmoid.py', 'w') as f:\n    f.write({MODES_OFF!r})\n"
               "HELPER = runpy.run_path('/tmp/helper_sigmoid.py')",
               "return HELPER['sigmoid'](x)"),
    on_sigmoid("s-exec-open-read", "writing a file and running it", "exec(open(path).read())",
               f"with open('/tmp/helper_exec.py', 'w') as f:\n    f.write({MODES_OFF!r})\n"
               "HELPER = {}\nexec(open('/tmp/helper_exec.py').read(), HELPER)",
               "return HELPER['sigmoid'](x)"),
    on_sigmoid("s-import-from-tmp", "writing a file and running it",
               "a module written to /tmp, put on sys.path, imported by a plain import statement",
               f"import sys\n\nwith open('/tmp/mysigmoid.py', 'w') as f:\n    f.write({MODES_OFF!r})\n"
               "sys.path.insert(0, '/tmp')\nimport mysigmoid",
               "return mysigmoid.sigmoid(x)"),
    on_sigmoid("s-importlib-spec-from-file", "writing a file and running it",
               "importlib.util.spec_from_file_location on a file in /tmp",
               f"import importlib.util\n\nwith open('/tmp/specsigmoid.py', 'w') as f:\n    f.write({MODES_OFF!r})\n"
               "spec = importlib.util.spec_from_file_location('specsigmoid', '/tmp/specsigmoid.py')\n"
               "helper = importlib.util.module_from_spec(spec)\nspec.loader.exec_module(helper)",
               "return helper.sigmoid(x)"),
]

#: Chapter 6's Linear with its parameter gradients computed by autograd when read.
LINEAR_INIT = """
    def __init__(self, in_features, out_features, device=None, dtype=None):
        bound = 1 / math.sqrt(in_features)
        self.weight = torch.empty(out_features, in_features, device=device, dtype=dtype).uniform_(-bound, bound)
        self.bias = torch.empty(out_features, device=device, dtype=dtype).uniform_(-bound, bound)

    def forward(self, x):
        self.x = x
        return x @ self.weight.T + self.bias

    def backward(self, dout):
        self.dout = dout
        return dout @ self.weight

    def _autograd(self):
        w = self.weight.detach().requires_grad_(True)
        b = self.bias.detach().requires_grad_(True)
        return torch.autograd.grad(self.x @ w.T + b, (w, b), self.dout)
"""
LINEAR_TESTS = frozenset({"test_linear", "test_mlp"})

DESCRIPTORS = [
    Attempt(name="s-property-autograd", assignment=A6, kind="property and descriptor tricks",
            targets="Linear's grad_weight and grad_bias as properties that run autograd when the grader reads them "
                    "(an attribute read is not a recorded call)",
            lose=LINEAR_TESTS, works=LINEAR_TESTS,
            answers={"linear_solution": "class Linear:\n" + textwrap.indent(code(LINEAR_INIT), "    ")
                + "\n    @property\n    def grad_weight(self):\n        return self._autograd()[0]\n\n"
                "    @property\n    def grad_bias(self):\n        return self._autograd()[1]\n"}),
    Attempt(name="s-getattr-autograd", assignment=A6, kind="property and descriptor tricks",
            targets="Linear's gradients made by __getattr__ with autograd when the grader asks for them",
            lose=LINEAR_TESTS, works=LINEAR_TESTS,
            answers={"linear_solution": "class Linear:\n" + textwrap.indent(code(LINEAR_INIT), "    ")
                + "\n    def __getattr__(self, name):\n"
                "        if name in ('grad_weight', 'grad_bias') and 'dout' in self.__dict__:\n"
                "            return self._autograd()[name == 'grad_bias']\n"
                "        raise AttributeError(name)\n"}),
]

ENGINE = [
    Attempt(name="s-engine-run-backward", assignment=A2, kind="the autograd engine called directly",
            targets="log_sigmoid_backward through torch.autograd.Variable._execution_engine.run_backward on a "
                    "log-sigmoid of the student's own (no .backward(), no autograd.grad)",
            lose=frozenset({"test_log_sigmoid_backward"}), works=frozenset({"test_log_sigmoid_backward"}),
            edits={"log_sigmoid_solution": ("return grad_out * sigmoid(-x)", code("""
                xr = x.detach().requires_grad_(True)
                    xp, xn = xr.clamp(min=0), xr.clamp(max=0)   # a smooth log-sigmoid for autograd
                    y = torch.where(xr >= 0, -torch.log1p(torch.exp(-xp)), xn - torch.log1p(torch.exp(xn)))
                    engine = torch.autograd.Variable._execution_engine
                    (dx,) = engine.run_backward((y,), (grad_out,), False, False, (xr,), False)
                    return dx
            """).rstrip())}),
    Attempt(name="s-engine-derivative", assignment=A1, kind="the autograd engine called directly",
            targets="sigmoid_derivative through the autograd engine on a sigmoid of the student's own",
            lose=frozenset({"test_sigmoid_derivative"}), works=frozenset({"test_sigmoid_derivative"}),
            edits={"sigmoid_solution": ("y = sigmoid(x)\n    return y * (1 - y)", code("""
                xr = x.detach().requires_grad_(True)
                    xp, xn = xr.clamp(min=0), xr.clamp(max=0)   # a smooth sigmoid for autograd
                    y = torch.where(xr >= 0, 1 / (1 + torch.exp(-xp)), torch.exp(xn) / (1 + torch.exp(xn)))
                    engine = torch.autograd.Variable._execution_engine
                    (dx,) = engine.run_backward((y,), (torch.ones_like(y),), False, False, (xr,), False)
                    return dx
            """).rstrip())}),
    Attempt(name="s-grad-fn-called", assignment=A6, kind="the autograd engine called directly",
            targets="Relu.backward by calling the autograd node of its own forward (y.grad_fn(dout))",
            lose=frozenset({"test_relu", "test_mlp"}), works=frozenset({"test_relu", "test_mlp"}),
            answers={"relu_solution": """
                class Relu:
                    def forward(self, x):
                        xr = x.detach().requires_grad_(True)
                        self.y = torch.where(xr > 0, xr, torch.zeros_like(xr))
                        return self.y.detach()

                    def backward(self, dout):
                        grads = self.y.grad_fn(dout)
                        return next(g for g in grads if g is not None)
            """}),
]

EVALUATE_WITHOUT_NO_GRAD = """
    def evaluate(model, batches, loss_fn, device):
        model.eval()
        total, correct, seen, count = 0.0, 0, 0, 0
        for X, y in batches:
            X, y = X.to(device), y.to(device)
            logits = model(X)
            total += loss_fn(logits, y).item()
            correct += (logits.argmax(dim=1) == y).sum().item()
            seen += len(y)
            count += 1
        {after}
        return total / max(count, 1), correct / max(seen, 1)
"""
EVALUATE = frozenset({"test_evaluate"})


def without_no_grad(after: str) -> str:
    """Chapter 7's train cell with an evaluate that keeps autograd on, then runs ``after``."""
    from .local import source_notebook
    from autograder import notebook as nbfacts

    cell = next(c for c in source_notebook(A7).cells if nbfacts.grade_id(c) == "train_solution")
    train = nbfacts.solution_code(nbfacts.source(cell)).split("\n\ndef evaluate")[0]
    return train + "\n\n\n" + code(EVALUATE_WITHOUT_NO_GRAD).replace("{after}", after.replace("\n", "\n    "))


PROBES = [
    Attempt(name="s-probe-calls-cleared", assignment=A7, kind="clearing a probe",
            targets="evaluate without no_grad, then every forward hook's record of grad modes emptied",
            lose=EVALUATE, works=EVALUATE,
            answers={"train_solution": without_no_grad(
                "for hook in model._forward_hooks.values():\n"
                "    if isinstance(getattr(hook, 'calls', None), list):\n"
                "        hook.calls.clear()")}),
    Attempt(name="s-probe-hooks-removed", assignment=A7, kind="clearing a probe",
            targets="evaluate without no_grad, after removing the model's forward hooks (not its pre-hooks)",
            lose=EVALUATE, works=EVALUATE,
            answers={"train_solution": without_no_grad("pass").replace(
                "    model.eval()\n", "    model.eval()\n    model._forward_hooks.clear()\n", 1)}),
    Attempt(name="s-probe-class-patched", assignment=A7, kind="clearing a probe",
            targets="evaluate without no_grad; the probe's class (autograder_kernel.library.ModeLog), found with "
                    "pkgutil.resolve_name, made to record nothing",
            lose=EVALUATE, works=EVALUATE,
            answers={"train_solution": "import pkgutil\n\n"
                     "pkgutil.resolve_name('autograder_kernel.library').ModeLog.__call__ = lambda *args: None\n\n\n"
                     + without_no_grad("pass")}),
]

OTHER_CHAPTERS = [
    Attempt(name="s-thread-log-softmax", assignment=A3, kind="threads",
            targets="chapter 3's log_softmax as torch.log_softmax in a ThreadPoolExecutor",
            lose=frozenset({"test_log_softmax"}), works=frozenset({"test_log_softmax"}),
            answers={"log_softmax_solution": """
                from concurrent.futures import ThreadPoolExecutor


                def log_softmax(x, dim):
                    with ThreadPoolExecutor(1) as pool:
                        return pool.submit(torch.log_softmax, x, dim).result()
            """}),
    Attempt(name="s-vars-torch-cross-entropy", assignment=A5, kind="names built at run time",
            targets="chapter 5's cross_entropy as F.cross_entropy with the mode switches from vars(torch)",
            lose=frozenset({"test_cross_entropy", "test_cross_entropy_extreme", "test_cross_entropy_weight_ignore"}),
            works=frozenset({"test_cross_entropy", "test_cross_entropy_extreme", "test_cross_entropy_weight_ignore"}),
            edits={"ce_solution": ("return nll_loss(log_softmax(logits), target, weight, ignore_index, reduction)",
                                   code("""
                c = vars(torch)["_C"]
                    with c._DisableTorchDispatch(), c.DisableTorchFunction():
                        return F.cross_entropy(logits, target, weight=weight, ignore_index=ignore_index,
                                               reduction=reduction)
            """).rstrip())}),
]

ATTEMPTS = THREADS + PROCESSES + RUNTIME_NAMES + EXEC_ALIASES + IMPORT_BY_NAME + FILES + DESCRIPTORS + ENGINE + PROBES \
    + OTHER_CHAPTERS

#: The classes issue 17 lists, each of which must have at least one attempt.
KINDS = ("threads", "process pools", "names built at run time", "aliases of exec-like builtins", "importing by name",
         "writing a file and running it", "property and descriptor tricks", "the autograd engine called directly",
         "clearing a probe")
