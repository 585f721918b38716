"""The course around the chapters: one Colab address, one runs folder, one title style."""

import importlib.util
import json
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

from dcgan_tf import paths
from dcgan_tf.course import colab_links

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
FORK, FORK_BRANCH = "https://github.com/you/fork", "dev"


def cells(path):
    return json.loads(Path(path).read_text())["cells"]


def text(cell):
    return "".join(cell["source"])


def code_of(path):
    return [text(c) for c in cells(path) if c["cell_type"] == "code"]


# --- Colab: one address --------------------------------------------------------------


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_badge_and_setup_cell_use_the_one_address(path):
    owner, name = colab_links.REPO.removeprefix("https://github.com/").split("/")
    badge = (f"(https://colab.research.google.com/github/{owner}/{name}/blob/"
             f"{colab_links.BRANCH}/notebooks/{path.name})")
    assert badge in text(cells(path)[0]), f"{path.name}: badge is not {badge}"
    setup = code_of(path)[0]
    assert f'os.environ.get("DCGAN_REPO", "{colab_links.REPO}")' in setup
    assert f'os.environ.get("DCGAN_BRANCH", "{colab_links.BRANCH}")' in setup
    assert colab_links.problems(path) == []
    everything = "\n".join(text(c) for c in cells(path))
    others = set(re.findall(r"https://github\.com/[\w.-]+/[\w.-]+", everything))
    placeholder = "https://github.com/YOU/dcgan-tf"  # the prose's example of a fork
    assert others <= {colab_links.REPO, placeholder}, f"{path.name}: other addresses {others}"


def test_colab_links_check_passes_on_the_checkout():
    out = subprocess.run([sys.executable, "-m", "dcgan_tf.course.colab_links", "--check"],
                         cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_rewrite_points_a_copy_at_a_fork(tmp_path):
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks",
                    ignore=shutil.ignore_patterns("runs", ".ipynb_checkpoints"))
    (tmp_path / "dcgan_tf" / "course").mkdir(parents=True)
    shutil.copy(ROOT / "dcgan_tf" / "course" / "colab_links.py", tmp_path / "dcgan_tf" / "course")
    out = subprocess.run([sys.executable, "-m", "dcgan_tf.course.colab_links", "--repo", FORK,
                          "--branch", FORK_BRANCH, "--root", str(tmp_path)],
                         cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    module = (tmp_path / "dcgan_tf" / "course" / "colab_links.py").read_text()
    assert 'REPO = "https://github.com/you/fork"' in module and 'BRANCH = "dev"' in module
    for original in NOTEBOOKS:
        copy = tmp_path / "notebooks" / original.name
        first = text(cells(copy)[0])
        assert ("https://colab.research.google.com/github/you/fork/blob/dev/notebooks/"
                f"{original.name})") in first
        assert "dcgan-tf/dcgan-tf" not in json.dumps(cells(copy))
        setup = code_of(copy)[0]
        assert 'os.environ.get("DCGAN_REPO", "https://github.com/you/fork")' in setup
        assert 'os.environ.get("DCGAN_BRANCH", "dev")' in setup
        assert colab_links.problems(copy, FORK, FORK_BRANCH) == []
        # Everything but the badge cell and the set-up cell is left as it was.
        keep = lambda cs: [text(c) for c in cs[1:] if text(c) != text(
            next(x for x in cs if x["cell_type"] == "code"))]
        assert keep(cells(copy)) == keep(cells(original))
    assert all(colab_links.problems(nb) == [] for nb in NOTEBOOKS), "the checkout changed"


def test_rewrite_refuses_an_address_colab_cannot_open(tmp_path):
    out = subprocess.run([sys.executable, "-m", "dcgan_tf.course.colab_links", "--repo",
                          "https://gitlab.com/you/fork", "--root", str(tmp_path)],
                         cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 2 and "https://github.com/OWNER/NAME" in out.stderr


class FakeIPython:
    def __init__(self):
        self.magics = []

    def run_line_magic(self, name, line):
        self.magics.append((name, line))


def run_setup_cell(kit: Path, on_colab: bool, monkeypatch):
    """Execute the set-up cell as IPython would, with the kit folder moved to `kit`."""
    from IPython.core.inputtransformer2 import TransformerManager

    source = TransformerManager().transform_cell(colab_links.setup_cell())
    source = source.replace(f'"{colab_links.KIT_DIR}"', repr(str(kit)))
    assert repr(str(kit)) in source
    shell = FakeIPython()
    if on_colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(sys, "path", list(sys.path))
    exec(compile(source, "setup-cell", "exec"), {"get_ipython": lambda: shell})
    return shell


def test_setup_cell_stops_with_a_clear_message_when_the_clone_fails(tmp_path, monkeypatch):
    missing = str(tmp_path / "no-such-repo")
    monkeypatch.setenv("DCGAN_REPO", missing)
    with pytest.raises(SystemExit) as err:
        run_setup_cell(tmp_path / "kit", True, monkeypatch)
    message = str(err.value)
    assert missing in message and "DCGAN_REPO" in message and "upload" in message
    assert not (tmp_path / "kit").exists()


def test_setup_cell_clones_the_configured_repo_and_installs_it(tmp_path, monkeypatch):
    repo = tmp_path / "fork"
    repo.mkdir()
    (repo / "marker.txt").write_text("the fork\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(repo)]
    for args in (["init", "-q", "-b", "course"], ["add", "."], ["commit", "-qm", "x"]):
        subprocess.run(git + args, check=True, capture_output=True)
    monkeypatch.setenv("DCGAN_REPO", str(repo))
    monkeypatch.setenv("DCGAN_BRANCH", "course")
    kit = tmp_path / "kit"
    shell = run_setup_cell(kit, True, monkeypatch)
    assert (kit / "marker.txt").read_text() == "the fork\n"
    assert shell.magics[0] == ("pip", "install -q --no-deps -e {KIT}")
    assert sys.path[0] == str(kit)


def test_setup_cell_outside_colab_only_imports(tmp_path, monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("ran a command"))
    shell = run_setup_cell(tmp_path / "kit", False, monkeypatch)
    assert shell.magics == [] and not (tmp_path / "kit").exists()


# --- one runs folder -------------------------------------------------------------------


def test_runs_dir_follows_dcgan_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("DCGAN_RUNS", str(tmp_path / "elsewhere"))
    assert paths.runs_dir() == tmp_path / "elsewhere"
    assert (tmp_path / "elsewhere").is_dir()


def test_runs_dir_is_the_checkouts_whatever_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("DCGAN_RUNS", raising=False)
    for cwd in (tmp_path, ROOT / "notebooks", ROOT):
        monkeypatch.chdir(cwd)
        assert paths.runs_dir() == ROOT / "runs"


def test_runs_dir_of_an_installed_copy_is_the_working_directorys(tmp_path, monkeypatch):
    site = tmp_path / "site-packages" / "dcgan_tf"
    site.mkdir(parents=True)
    shutil.copy(ROOT / "dcgan_tf" / "paths.py", site)
    spec = importlib.util.spec_from_file_location("installed_paths", site / "paths.py")
    installed = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(installed)
    monkeypatch.delenv("DCGAN_RUNS", raising=False)
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    assert installed.checkout_root() is None
    assert installed.runs_dir() == tmp_path / "work" / "runs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_write_runs_only_under_runs_dir(path):
    code = "\n".join(code_of(path))
    hard = re.findall(r"""["'](?:\.\.?/)?runs(?:/[^"']*)?["']""", code)
    assert not hard, f"{path.name}: hard-coded runs paths {hard}; use runs_dir()"
    if re.search(r"\btrain(_or_load)?\(", code):
        assert "runs_dir()" in code, f"{path.name} trains but never calls runs_dir()"


def test_chapter_3_reuses_chapter_2s_run_folder():
    two, three = (next(p for p in NOTEBOOKS if p.name.startswith(n)) for n in ("02", "03"))
    for path in (two, three):
        code = "\n".join(code_of(path))
        assert "chapter_run(PROFILE)" in code, path.name
        folder = re.search(r"(runs_dir\(\)|RUNS) / RUN_NAME", code)
        assert folder, f"{path.name}: the run folder is not under runs_dir()"
        if folder.group(1) == "RUNS":
            assert "RUNS = runs_dir()" in code, path.name


def test_git_ignores_the_runs_folder():
    out = subprocess.run(["git", "check-ignore", "-q", "runs/faces_small/log.csv"], cwd=ROOT)
    assert out.returncode == 0


# --- titles, licence, stale text -------------------------------------------------------


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_title_is_chapter_n(path):
    title = text(cells(path)[0]).splitlines()[0]
    number = re.match(r"0*(\d+[a-z]?)_", path.name).group(1)
    assert re.fullmatch(rf"# Chapter {number}: \S.*", title), f"{path.name}: {title!r}"


@pytest.mark.parametrize("here, following", list(zip(NOTEBOOKS, NOTEBOOKS[1:])),
                         ids=lambda p: p.name)
def test_every_chapter_but_the_last_ends_with_a_link_to_the_next(here, following):
    last = text(cells(here)[-1])
    assert f"]({following.name})" in last, f"{here.name}: no link to {following.name}"


def test_no_notebook_or_readme_links_a_file_the_repo_lacks():
    sources = {p: "\n".join(text(c) for c in cells(p) if c["cell_type"] == "markdown")
               for p in NOTEBOOKS}
    sources[ROOT / "README.md"] = (ROOT / "README.md").read_text()
    sources.update({p: p.read_text() for p in (ROOT / "docs").glob("*.md")})
    missing = []
    for path, body in sources.items():
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", body):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (path.parent / target).exists():
                missing.append(f"{path.relative_to(ROOT)} -> {target}")
    assert not missing, missing


def test_license_is_mit():
    licence = (ROOT / "LICENSE").read_text()
    assert licence.startswith("MIT License")
    assert "Copyright (c) 2026 the dcgan-tf authors" in licence


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_prose_states_no_training_time_in_minutes(path):
    """Times depend on the machine: a cell prints the measured one instead."""
    prose = "\n".join(text(c) for c in cells(path) if c["cell_type"] == "markdown")
    stated = re.findall(r"\b\d+(?:\.\d+)?[- ]minutes?(?: run)?", prose)
    assert not stated, f"{path.name}: {stated}"
