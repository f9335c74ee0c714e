"""FireWorks as an adapter: the FireTask that runs campaign steps (:mod:`.tasks`), the
builder that turns "what runs next" into Fireworks (:mod:`.builder`), submission and
local workers (:mod:`.manager`), the FireWorks fixes (:mod:`.fixes`, applied by
:mod:`.patching`) and the start-up hook (:mod:`.hook`) that applies them and perovflow's
thread and BLAS settings (:mod:`.process_settings`).

Importing this package imports nothing: the start-up hook loads :mod:`.hook` in every
Python process of the environment.
"""
