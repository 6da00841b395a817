"""Grading a batch of submissions: ``python -m autograder grade`` (see :mod:`.cli`).

Modules: :mod:`.intake` (finding submissions, LMS naming), :mod:`.sandbox` (the kernel
under bubblewrap with limits), :mod:`.kernel_guard` (runs inside the kernel: integrity
snapshot), :mod:`.inject` (nbgrader preprocessors adding the guard to test cells),
:mod:`.verdict` (scores from an autograded notebook), :mod:`.worker` (one process
grading one submission at a time), :mod:`.pool` (N workers with time limits),
:mod:`.merge` (main gradebook, result cache), :mod:`.feedback`, :mod:`.report`.
"""
