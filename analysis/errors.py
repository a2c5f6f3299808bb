"""The one error type analysis/ raises for bad input."""


class InputError(ValueError):
    """Input that cannot be analysed; the message names the row, column or field at fault.

    The command line prints it as a one-line error and exits with status 2.
    """
