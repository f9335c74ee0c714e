"""Exit codes of the ``perovflow`` command (docs/cli.md lists them for scripts and batch jobs)."""
from __future__ import annotations

OK = 0
FAILED = 1  # a campaign failed or did not finish; a file could not be written
BAD_INPUT = 2  # a flag, a campaign file or a request refused before anything was written
NOT_RUNNING = 3  # `db status` / `hook status`: the thing asked about is not there
DATABASE_UNREACHABLE = 4  # no server answered at the database's address in time
DATABASE_LOGIN_REFUSED = 5  # a server answered but refused the credentials
MISSING_EXTRA = 6  # the campaign needs an optional dependency that is not installed
INTERRUPTED = 130  # Ctrl-C or SIGTERM
