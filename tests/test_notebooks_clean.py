"""Notebooks in git are chapters without outputs, each with a badge, set-up and parameters."""

import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))


def tracked(path: Path) -> bool:
    out = subprocess.run(["git", "ls-files", "--error-unmatch", str(path)], cwd=ROOT,
                         capture_output=True)
    return out.returncode == 0


def committed_json(path: Path) -> dict:
    """The notebook as committed (what a fresh clone gets), else the working copy."""
    rel = path.relative_to(ROOT).as_posix()
    out = subprocess.run(["git", "show", f"HEAD:{rel}"], cwd=ROOT, capture_output=True)
    return json.loads(out.stdout if out.returncode == 0 else path.read_text())


def test_there_are_numbered_chapters():
    names = [p.name for p in NOTEBOOKS]
    assert any(n.startswith("02_") for n in names), names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_holds_no_outputs(path):
    for nb in (committed_json(path), json.loads(path.read_text())):
        for i, cell in enumerate(nb["cells"]):
            if cell["cell_type"] == "code":
                assert cell.get("outputs") == [], f"{path.name}: cell {i} holds outputs"
                assert cell.get("execution_count") is None, f"{path.name}: cell {i} numbered"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_a_chapter(path):
    nb = json.loads(path.read_text())
    cells = nb["cells"]
    text = lambda c: "".join(c["source"])
    first_md = text(cells[0])
    assert cells[0]["cell_type"] == "markdown" and first_md.lstrip().startswith("# ")
    assert "colab.research.google.com/github/" in first_md and path.name in first_md
    code = [text(c) for c in cells if c["cell_type"] == "code"]
    assert "google.colab" in code[0], "first code cell must be the set-up cell"
    assert 'os.environ.get("DCGAN_PROFILE", "small")' in code[1], "second: parameters cell"
    assert sum("DCGAN_PROFILE" in c for c in code) == 1, "the profile is read in one place"
    assert sum(c["cell_type"] == "markdown" for c in cells) >= len(code) // 2, "prose"
    assert "summary" in text(cells[-1]).lower() or "summary" in text(cells[-2]).lower()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_prose_names_only_what_the_code_defines(path):
    """An upper-case name in the prose (TRAIN_MINUTES, ...) that no code cell uses is a
    placeholder someone forgot to fill in."""
    import re

    cells = json.loads(path.read_text())["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    prose = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    names = set(re.findall(r"\b[A-Z]{2,}[A-Z0-9]*_[A-Z0-9_]+\b", prose))
    undefined = {n for n in names if n not in code and n != "DCGAN_PROFILE"}
    assert not undefined, f"{path.name}: prose names {sorted(undefined)}, unknown to the code"
