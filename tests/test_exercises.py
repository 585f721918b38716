"""The exercises' machinery (dcgan_tf.course.exercises) and the rule every chapter follows."""

import json
import re
from pathlib import Path

import pytest

from dcgan_tf.course import exercises

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
ANSWER = re.compile(r"^([A-Z][A-Z0-9_]*) = None\s*(#.*)?$")
PREDICTION = "PREDICT"  # answers named PREDICT...: a guess the check compares with a measurement


def code_cells(path):
    return ["".join(c["source"]) for c in json.loads(path.read_text())["cells"]
            if c["cell_type"] == "code"]


def answers(path) -> list[tuple[str, str]]:
    """(answer name, the check cell after its answer cell) of a notebook."""
    cells = code_cells(path)
    found = []
    for i, cell in enumerate(cells):
        found += [(m.group(1), cells[i + 1]) for m in map(ANSWER.match, cell.splitlines()) if m]
    return found


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "01_x.py").write_text("# ruff: noqa\nimport math\n# %% MY_A\nMY_A = base + 1\n"
                                      "# %% MY_B\nMY_B = None\n")
    (tmp_path / "02_y.py").write_text("# %% MY_C\nMY_C = math_free = 3\n")
    return tmp_path


def test_solution_runs_in_a_copy_of_the_namespace(folder):
    ns = {"base": 41, "MY_A": None}
    assert exercises.solution("MY_A", ns, folder) == 42
    assert ns == {"base": 41, "MY_A": None}  # the student's variables are untouched
    assert exercises.solution("MY_C", {}, folder) == 3


def test_missing_unassigned_and_duplicate_solutions_are_named(folder):
    with pytest.raises(exercises.SolutionError, match="no solution for MY_Z"):
        exercises.solution("MY_Z", {}, folder)
    with pytest.raises(exercises.SolutionError, match="MY_B block does not assign MY_B"):
        exercises.solution("MY_B", {}, folder)
    (folder / "03_z.py").write_text("# %% MY_A\nMY_A = 1\n")
    with pytest.raises(exercises.SolutionError, match="MY_A is solved in both"):
        exercises.all_solutions(folder)


def test_answer_and_record_act_only_when_checking(monkeypatch):
    monkeypatch.delenv(exercises.ENV, raising=False)
    assert exercises.answer("MY_ANYTHING", 7, {}) == 7  # a student's answer passes through
    exercises.record("MY_ANYTHING", False)  # and a wrong one only gets the check's message
    monkeypatch.setenv(exercises.ENV, "1")
    with pytest.raises(exercises.SolutionError, match="rejected the kit's solution for MY_X"):
        exercises.record("MY_X", False)
    exercises.record("MY_X", True)


def test_notebook_runs_set_checking_on():
    text = (ROOT / "notebooks" / "conftest.py").read_text()
    assert f'os.environ["{exercises.ENV}"] = "1"' in text


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_chapter_has_exercises_whose_checks_run_the_solutions(path):
    found = answers(path)
    assert len(found) >= 2, f"{path.name}: {len(found)} answer cells; a chapter has 2 or 3"
    solved = [(n, check) for n, check in found if not n.startswith(PREDICTION)]
    assert solved, f"{path.name}: every exercise is a prediction; one needs a solution"
    solutions = exercises.solution_blocks(exercises.SOLUTIONS / f"{path.stem}.py")
    for name, check in solved:
        assert name in solutions, f"{path.name}: no solution for {name}"
        assert f'{name} = exercises.answer("{name}", {name}, globals())' in check, name
        assert f'exercises.record("{name}", ' in check, name
    assert set(solutions) == {n for n, _ in solved}, f"{path.name}: stale solutions"


def test_answer_names_are_unique_across_the_kit():
    exercises.all_solutions()  # raises on a name solved twice
    names = [n for p in NOTEBOOKS for n, _ in answers(p)]
    assert len(names) == len(set(names))
