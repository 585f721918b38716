"""The chapters' exercises: the kit's own solutions, which CI runs so they stay right.

An exercise is an answer cell (`MY_CHANCE = None`) and a check cell that tells the student
whether the answer is right. The check cell starts with

    MY_CHANCE = exercises.answer("MY_CHANCE", MY_CHANCE, globals())

and ends with `exercises.record("MY_CHANCE", ok)`. For a student both do nothing. When
DCGAN_SOLUTIONS=1 (notebooks/conftest.py sets it for every pytest run of the notebooks),
`answer` returns the kit's solution instead, run in a copy of the notebook's variables, and
`record` fails the notebook if the check did not accept it.

Solutions live in notebooks/solutions/<notebook name>.py, one block per answer, each block
headed by a line `# %% NAME` and assigning NAME; answer names are unique across the kit.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

SOLUTIONS = Path(__file__).resolve().parents[2] / "notebooks" / "solutions"
ENV = "DCGAN_SOLUTIONS"


class SolutionError(AssertionError):
    """A solution is missing, does not assign its answer, or its check rejected it."""


def checking() -> bool:
    """True when the kit's solutions replace the answers (CI)."""
    return os.environ.get(ENV, "") == "1"


def solution_blocks(path) -> dict[str, str]:
    """{answer name: code} of a solutions file."""
    path = Path(path)
    if not path.exists():
        raise SolutionError(f"{path}: no solutions file")
    blocks, name = {}, None
    for line in path.read_text().splitlines():
        head = re.fullmatch(r"# %% (\w+)\s*", line)
        if head:
            name = head.group(1)
            blocks[name] = ""
        elif name:
            blocks[name] += line + "\n"
    return blocks


def all_solutions(folder=None) -> dict[str, tuple[Path, str]]:
    """{answer name: (file, code)} over every solutions file; names are unique in the kit."""
    found = {}
    for path in sorted(Path(folder or SOLUTIONS).glob("*.py")):
        for name, code in solution_blocks(path).items():
            if name in found:
                raise SolutionError(f"{name} is solved in both {found[name][0]} and {path}")
            found[name] = (path, code)
    return found


def solution(name: str, namespace: dict, folder=None):
    """The value the kit's solution gives `name`, run in a copy of `namespace`."""
    solutions = all_solutions(folder)
    if name not in solutions:
        raise SolutionError(f"no solution for {name} in {folder or SOLUTIONS} "
                            f"(a '# %% {name}' block)")
    path, code = solutions[name]
    scope = dict(namespace)  # the student's variables are left as they were
    exec(compile(code, f"{path}:{name}", "exec"), scope)
    if scope.get(name) is None:
        raise SolutionError(f"{path}: the {name} block does not assign {name}")
    return scope[name]


def answer(name: str, value, namespace: dict):
    """The student's `value`; under DCGAN_SOLUTIONS=1 the kit's solution instead."""
    return solution(name, namespace) if checking() else value


def record(name: str, ok: bool) -> None:
    """Under DCGAN_SOLUTIONS=1, fail loudly if the check rejected the kit's solution."""
    if checking() and not ok:
        raise SolutionError(f"the check rejected the kit's solution for {name}")
