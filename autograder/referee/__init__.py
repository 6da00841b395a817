"""The referee: runs every test cell outside the student's process and decides its verdict.

Modules: :mod:`.session` (proxies for the student's objects over the data-only channel),
:mod:`.names` (which names a test cell takes from the notebook), :mod:`.cell` (running one
test cell), :mod:`.static` (the static check of the answer cells against the exercise's rule
table: :mod:`.program` reads the cells, :mod:`.opaque` finds what it cannot see through).
"""
