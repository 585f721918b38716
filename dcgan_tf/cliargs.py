"""What the two command lines (python -m dcgan_tf, python -m data_prep) share: the parser's
one-line errors, the number types, and the exit-code table."""

from __future__ import annotations

import argparse

from dcgan_tf.config import InputError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_FAILED: "failure while running (training diverged, a step failed, or a bug)",
    EXIT_BAD_INPUT: "bad usage or input (an option or value, a file or folder, a run folder)",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C); run the same command again to resume",
}
BAD_INPUT = (InputError, FileNotFoundError, FileExistsError)  # -> EXIT_BAD_INPUT


def exit_code_text() -> str:
    """The exit-code table as the --help epilogs print it."""
    return "exit codes:\n" + "\n".join(f"  {c:>3}  {m}" for c, m in EXIT_CODES.items())


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line (and exit code 2)."""

    def error(self, message):
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see --help)\n")


def number(kind, ok, rule: str):
    """An argparse type: `kind(text)` if `ok` accepts it (NaN never does), else an error
    saying it must be `rule`."""
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"{text!r} must be {rule}")
        return value
    return parse


def positive(kind=int):
    return number(kind, lambda v: v > 0, "positive")


def at_least_zero(kind=int):
    return number(kind, lambda v: v >= 0, "0 or more")


def checked(check):
    """An argparse type: a float that `check` (one of dcgan_tf.config's) accepts."""
    def parse(text):
        try:
            return check(float(text))
        except ValueError as err:  # float()'s error, or check's InputError
            detail = err if isinstance(err, InputError) else f"expected a number, got {text!r}"
            raise argparse.ArgumentTypeError(str(detail)) from None
    return parse
