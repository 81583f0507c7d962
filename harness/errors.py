"""The one exception type the CLI turns into a one-line message (never a traceback)."""


class HarnessError(Exception):
    """A problem the user can fix. The message says what is wrong and what to do, on one line."""
