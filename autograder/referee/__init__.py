"""The referee: runs every test cell outside the student's process and decides its verdict.

Modules: :mod:`.session` (proxies for the student's objects over the data-only channel),
:mod:`.names` (which names a test cell takes from the notebook), :mod:`.cell` (running one
test cell), :mod:`.scan` (the static scan of answer cells for escape hatches).
"""
