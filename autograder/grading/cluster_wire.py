"""What crosses the network between ``grade --dask`` and its Dask workers: data, never objects.

Once per batch the client hands every Dask worker a :class:`Job` (inside the worker
plugin, :mod:`.cluster_worker`): the prepared course as a zip archive
(:class:`CourseBundle`: source notebooks, release, gradebook), the grading settings, every
test's points, and the client's :class:`Version`. Then, per student, a :class:`Request`
goes out (the notebooks' bytes) and a :class:`Reply` comes back (the
:class:`~.answer.Answer` and the feedback pages). Requests and replies are JSON documents
in UTF-8 bytes: nothing a student wrote is ever pickled, and a reply is read back only as
these fields, checked.
"""
from __future__ import annotations

import base64
import io
import json
import sys
import zipfile
from dataclasses import dataclass, fields
from pathlib import Path, PurePosixPath

from .answer import Answer
from .worker import Task, WorkerSettings


class WireError(ValueError):
    """A request, reply or course archive that is not what this module writes."""


@dataclass(frozen=True)
class Version:
    """What a Dask worker must share with the client to grade for it: the grader's code (a
    sha256 over ``autograder/`` and ``autograder_kernel/``, as in the result cache's key),
    torch's release (its build suffix, ``+cpu`` or ``+cu128``, may differ), nbgrader's, and
    Python's major.minor."""

    code: str
    torch: str
    nbgrader: str
    python: str

    @classmethod
    def here(cls) -> "Version":
        from importlib.metadata import version

        from .merge import digest, grader_code

        return cls(digest(grader_code()), version("torch").split("+")[0], version("nbgrader"),
                   "%d.%d" % sys.version_info[:2])

    def differences(self, client: "Version") -> list[str]:
        """``["torch 2.12.0 (the client has 2.13.0)", ...]``: what this worker has that ``client`` has not."""
        out = []
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(client, f.name)
            if mine != theirs:
                shown = (mine[:12], theirs[:12]) if f.name == "code" else (mine, theirs)
                label = "grading package" if f.name == "code" else f.name
                out.append(f"{label} {shown[0]} (the client has {shown[1]})")
        return out


#: What of a prepared course (``OUT/course``) a grading worker needs, as :func:`.batch._workers` copies it.
COURSE_PARTS = ("source", "release", "gradebook.db")


@dataclass(frozen=True)
class CourseBundle:
    """The prepared course's ``source/``, ``release/`` and ``gradebook.db`` as a zip archive."""

    archive: bytes

    @classmethod
    def pack(cls, course: Path) -> "CourseBundle":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
            for part in COURSE_PARTS:
                top = course / part
                for path in sorted([top] if top.is_file() else top.rglob("*")):
                    if path.is_file():
                        zf.write(path, path.relative_to(course).as_posix())
        return cls(buffer.getvalue())

    def unpack(self, dest: Path) -> Path:
        """Write the course under ``dest`` (made); return ``dest``."""
        with zipfile.ZipFile(io.BytesIO(self.archive)) as zf:
            for name in zf.namelist():
                parts = PurePosixPath(name).parts
                if not parts or parts[0] not in COURSE_PARTS or ".." in parts or PurePosixPath(name).is_absolute():
                    raise WireError(f"unexpected member {name!r} in the course archive")
            zf.extractall(dest)
        return dest


@dataclass(frozen=True)
class Job:
    """Everything a Dask worker needs for one batch, sent once.

    ``settings``: the grading settings as the client would give its own workers; a worker
    fills in its own folders, bubblewrap and uid. ``sandbox``: whether kernels must run under
    bubblewrap (a worker without it is refused). ``wall``: seconds per submission.
    ``max_scores``: ``{grade_id: points}`` of every test, for rows of notebooks that did not run.
    """

    course: CourseBundle
    settings: WorkerSettings
    sandbox: bool
    wall: float
    max_scores: dict[str, float]
    version: Version


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@dataclass(frozen=True)
class Request:
    """One student to grade: ``notebooks`` maps a notebook name to the bytes handed in."""

    student: str
    notebooks: dict[str, bytes]

    @classmethod
    def of(cls, task: Task) -> "Request":
        return cls(task.student, {name: Path(path).read_bytes() for name, path in task.notebooks.items()})

    def to_bytes(self) -> bytes:
        notebooks = {name: _b64(data) for name, data in self.notebooks.items()}
        return json.dumps({"student": self.student, "notebooks": notebooks}).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> "Request":
        try:
            doc = json.loads(data)
            notebooks = {str(k): base64.b64decode(v, validate=True) for k, v in doc["notebooks"].items()}
            request = cls(str(doc["student"]), notebooks)
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise WireError(f"not a grading request: {err!r}") from err
        if any(not name or "/" in name or name.startswith(".") for name in [request.student, *notebooks]):
            raise WireError(f"unsafe names in the request for {request.student!r}")
        return request

    def write(self, folder: Path) -> Task:
        """The notebooks written under ``folder/in``; a :class:`~.worker.Task` whose feedback
        pages go to ``folder/feedback``."""
        (folder / "in").mkdir(parents=True)
        paths = {}
        for name, data in self.notebooks.items():
            paths[name] = str(folder / "in" / f"{name}.ipynb")
            Path(paths[name]).write_bytes(data)
        return Task(self.student, paths, str(folder / "feedback"))


@dataclass(frozen=True)
class Reply:
    """A graded student: the answer, and ``pages``: ``{notebook name: feedback page (HTML)}``."""

    answer: Answer
    pages: dict[str, str]

    def to_bytes(self) -> bytes:
        return json.dumps({"answer": self.answer.to_json(), "pages": self.pages}).encode()

    @classmethod
    def from_bytes(cls, data: bytes, student: str, names: set[str]) -> "Reply":
        """Read a reply for ``student``; only pages named in ``names`` (the assignment's notebooks) are taken."""
        try:
            doc = json.loads(data)
            answer = Answer.from_json(doc["answer"])
            pages = {str(k): str(v) for k, v in doc["pages"].items()}
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise WireError(f"not a grading reply: {err!r}") from err
        if answer.student != student or not set(pages) <= names:
            raise WireError(f"a reply for {answer.student!r} with pages {sorted(pages)} came for {student!r}")
        return cls(answer, pages)
