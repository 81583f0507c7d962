"""The `harness` command: one sub-command per verb (list, run/sweep, status, audit, report,
data). Every user error ends as one line on stderr and exit code 2, never a traceback."""
from harness.cli.main import main

__all__ = ["main"]
