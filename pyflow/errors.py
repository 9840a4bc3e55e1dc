"""The one exception type the CLI turns into a single error line and a nonzero exit."""


class FlowError(Exception):
    """A user-facing error: bad config, bad input, missing tool, failed stage.

    The message must be one line that says what is wrong and, where possible, how to fix it.
    """
