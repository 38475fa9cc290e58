"""The project's error base class.

Every error that bad input can cause (a missing file, an unknown model name, parameters the core
cannot take, a broken tool install) derives from :class:`UqvitError`.  The command line prints
these as one line and exits with status 2; any other exception is a bug and keeps its traceback.
This module imports nothing, so every layer (the integer contract included) may use it.
"""


class UqvitError(Exception):
    """An error the user can fix; its message says what was wrong and what to do."""


class UserError(UqvitError, ValueError):
    """Bad command-line input found by a command itself (not by argparse)."""
