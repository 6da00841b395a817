"""The part of the course's grader that runs inside the student's (sandboxed) kernel.

It holds no check, no reference and no test: only the channel's data format
(:mod:`.codec`), the best-effort operator recorder (:mod:`.recorder`, also used by the
checks when a student runs the tests in JupyterLab) and the server that answers the
referee's requests (:mod:`.server`). The grader binds this folder, read-only, into the
sandbox; nothing else of the course is there.
"""
