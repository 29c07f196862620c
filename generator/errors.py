"""The one exception type the CLI turns into a single line and exit code 2."""


class UserError(ValueError):
    """Bad input from the user: unknown model, bad shape, unreadable file, no GPU where needed."""
