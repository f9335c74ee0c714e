"""FireWorks as an adapter: the FireTask that runs campaign steps (:mod:`.tasks`), the
builder that turns "what runs next" into Fireworks (:mod:`.builder`), submission and
local workers (:mod:`.manager`), and the fixes every process needs (:mod:`.fixes`,
installed by the start-up hook :mod:`.hook`).

Importing this package imports nothing: the start-up hook loads :mod:`.hook` in every
Python process of the environment.
"""
