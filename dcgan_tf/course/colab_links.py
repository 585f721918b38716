"""The kit's public address: the one place every Colab badge and set-up cell must agree with.

Point the notebooks at your own copy (a GitHub fork: Colab opens notebooks from GitHub) with

    python -m dcgan_tf.course.colab_links --repo https://github.com/YOU/dcgan-tf [--branch main]

It rewrites REPO and BRANCH below, every notebook's badge and every set-up cell;
`--check` only reports the notebooks that disagree (tests/test_course.py runs it).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from dcgan_tf.config import InputError
from dcgan_tf.fileio import read_json, write_json, write_text

REPO = "https://github.com/dcgan-tf/dcgan-tf"
BRANCH = "main"
KIT_DIR = "/content/dcgan-tf"  # where the set-up cell clones the kit on Colab

_GITHUB = re.compile(r"https://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?/?")
_BADGE = re.compile(r"https://colab\.research\.google\.com/github/[^)\s]+")
_SETUP = """\
import os, subprocess, sys
# The kit's address; to use your copy, set os.environ["DCGAN_REPO"] in a cell above.
REPO = os.environ.get("DCGAN_REPO", "{repo}")
BRANCH = os.environ.get("DCGAN_BRANCH", "{branch}")
KIT = "{kit}"
if "google.colab" in sys.modules:  # Colab: fetch the kit, install it over Colab's own TF
    if not os.path.isdir(KIT):
        clone = subprocess.run(["git", "clone", "-q", "--depth", "1", "--branch", BRANCH,
                                REPO, KIT], capture_output=True, text=True)
        if clone.returncode != 0:
            raise SystemExit(
                f"Could not clone the kit from {{REPO}} (branch {{BRANCH}}): "
                f"{{clone.stderr.strip()}}\\nTo fix it, set os.environ['DCGAN_REPO'] (and "
                f"DCGAN_BRANCH) to your copy of the kit in a cell above, or upload the kit "
                f"to {{KIT}} (Files panel), then run this cell again.")
    %pip install -q --no-deps -e {{KIT}}
    %pip install -q "opencv-python-headless<5"
    sys.path.insert(0, KIT)

import dcgan_tf.groundtruth  # the kit and its drawn sets, before TensorFlow (docs/benchmarks.md)"""


def parse_repo(repo: str) -> tuple[str, str]:
    """(owner, name) of a https://github.com/OWNER/NAME address; ValueError otherwise."""
    match = _GITHUB.fullmatch(repo)
    if not match:
        raise InputError(f"{repo!r}: expected https://github.com/OWNER/NAME (Colab badges "
                         "open notebooks from GitHub)")
    return match.group(1), match.group(2)


def badge_url(notebook: str, repo: str = REPO, branch: str = BRANCH) -> str:
    """The Colab link that opens notebooks/<notebook> of repo at branch."""
    owner, name = parse_repo(repo)
    return f"https://colab.research.google.com/github/{owner}/{name}/blob/{branch}/" \
           f"notebooks/{notebook}"


def setup_cell(repo: str = REPO, branch: str = BRANCH) -> str:
    """The source of every notebook's set-up cell (its first code cell)."""
    return _SETUP.format(repo=repo, branch=branch, kit=KIT_DIR)


def _source(cell) -> str:
    return "".join(cell["source"])


def problems(notebook: Path, repo: str = REPO, branch: str = BRANCH) -> list[str]:
    """What in one notebook disagrees with repo and branch (empty: all agrees)."""
    cells = read_json(notebook)["cells"]
    found = _BADGE.findall(_source(cells[0])) if cells else []
    out = []
    if found != [badge_url(notebook.name, repo, branch)]:
        out.append(f"{notebook}: first cell's Colab links {found}, expected "
                   f"[{badge_url(notebook.name, repo, branch)}]")
    code = [c for c in cells if c["cell_type"] == "code"]
    if not code or _source(code[0]) != setup_cell(repo, branch):
        out.append(f"{notebook}: the first code cell is not the set-up cell of "
                   "dcgan_tf.course.colab_links.setup_cell()")
    return out


def rewrite(root: Path, repo: str, branch: str = BRANCH) -> list[Path]:
    """Point the badges, set-up cells and this module of the checkout at root to repo."""
    parse_repo(repo)
    module = root / "dcgan_tf" / "course" / "colab_links.py"
    text = module.read_text()
    text = re.sub(r'^REPO = ".*"$', f'REPO = "{repo}"', text, count=1, flags=re.M)
    text = re.sub(r'^BRANCH = ".*"$', f'BRANCH = "{branch}"', text, count=1, flags=re.M)
    write_text(module, text)
    changed = [module]
    for path in notebooks(root):
        nb = read_json(path)
        first = _BADGE.sub(badge_url(path.name, repo, branch), _source(nb["cells"][0]))
        nb["cells"][0]["source"] = first.splitlines(keepends=True)
        code = next(c for c in nb["cells"] if c["cell_type"] == "code")
        code["source"] = setup_cell(repo, branch).splitlines(keepends=True)
        write_json(path, nb)
        changed.append(path)
    return changed


def notebooks(root: Path) -> list[Path]:
    """The chapters: notebooks/<digit>*.ipynb."""
    return sorted((root / "notebooks").glob("[0-9]*.ipynb"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dcgan_tf.course.colab_links",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", help=f"https://github.com/OWNER/NAME (now {REPO})")
    parser.add_argument("--branch", default=None, help=f"branch to open (now {BRANCH})")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2],
                        help="the checkout to rewrite (default: this one)")
    parser.add_argument("--check", action="store_true", help="only report disagreements")
    args = parser.parse_args(argv)
    if args.check or not args.repo:
        found = [p for nb in notebooks(args.root) for p in problems(nb)]
        print("\n".join(found) or f"every notebook points at {REPO} ({BRANCH})")
        return 1 if found else 0
    try:
        changed = rewrite(args.root, args.repo, args.branch or BRANCH)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{len(changed)} files now point at {args.repo} ({args.branch or BRANCH})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
