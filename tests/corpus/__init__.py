"""The grading corpora of issue 17, as data: what a class hands in, and what it should get.

* :mod:`.honest`: correct notebooks in the styles a real class writes (every one: full
  marks, status ``graded``, and ``nbgrader validate`` passes);
* :mod:`.shortcuts`: a student who read the grader's source, using torch's own answers or
  tampering (every one: loses the tested points, or the row is ``flagged``);
* :mod:`.robustness`: odd hand-ins (duplicated or moved test cells, exotic exceptions, old
  notebook formats), each with the per-test scores it should get;
* :mod:`.alternatives`: torch's own formulations of every answer, for the checks alone.

:mod:`.model` holds the record types and builds a notebook from one; :mod:`.batches`
grades every corpus's notebooks of one assignment in one ``grade`` run; :mod:`.local`
runs test cells in this process (or a forked child) against functions defined here.
"""
