"""The one exception type for a user's mistake: the CLI prints its message and exits with 2."""


class LookinsideError(Exception):
    """Bad input or bad usage, said in one sentence that names what is wrong and where."""
