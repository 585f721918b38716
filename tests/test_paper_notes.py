"""The kit's notes on the paper (docs/paper_notes.md): present, linked, and cited correctly.

Every citation of the notes in the repository must name a section the notes have: code and
docs write "§N" (or "§N-M"), notebooks "paper notes, section N" or a Markdown link to
paper_notes.md#anchor. The old notes file, which never was in the repository, must not be
cited at all.
"""

import json
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTES = ROOT / "docs" / "paper_notes.md"
OLD_NOTES = "PAPER" + ".md"  # spelled in two parts so this file does not cite it itself
SIGN = "\u00a7"  # the section sign, escaped so this file's own patterns are not citations
LINK = "paper_notes" + ".md"  # likewise: the sample links below are not links to the notes
NUMBER = r"\d+(?:\.\d+)*"
# The paper's sections a student needs (architecture, training, data, results, latent
# space, limits): each must be a heading of the notes.
PAPER_SECTIONS = ("1", "2", "3", "4", "4.1", "4.1.1", "4.2", "4.3", "5", "5.1", "5.2", "6",
                  "6.1", "6.2", "6.3", "6.3.1", "6.3.2", "7")
REFERENCES = {
    "Radford et al. 2016 (the paper)": "1511.06434",
    "Goodfellow et al. 2014": "1406.2661",
    "Springenberg et al. 2014": "1412.6806",
    "Ioffe and Szegedy 2015": "1502.03167",
    "Kingma and Ba 2014": "1412.6980",
}


def repo_files(suffixes=(".py", ".md", ".ipynb")) -> list[Path]:
    """The checkout's text files: tracked ones and new ones git does not ignore."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the tracked files are unknown")
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout
    paths = (ROOT / name for name in listed.splitlines())
    return sorted(p for p in paths if p.suffix in suffixes and p.is_file())


def prose(path: Path) -> str:
    """A file's text; for a notebook, its cells' sources (the text a reader sees)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix != ".ipynb":
        return text
    cells = json.loads(text)["cells"]
    return "\n".join("".join(cell["source"]) for cell in cells)


def github_anchor(title: str) -> str:
    """The anchor GitHub gives a Markdown heading: lower case, punctuation dropped."""
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


def note_sections(text: str) -> dict[str, str]:
    """Section number -> anchor, for every heading of the notes that starts with a number."""
    sections = {}
    for title in re.findall(r"^#{2,6} +(.+?) *$", text, re.M):
        number = re.match(rf"({NUMBER})\.? ", title)
        if number:
            sections[number.group(1)] = github_anchor(title)
    return sections


def cited_sections(text: str) -> list[str]:
    """Section numbers a text cites: '§N', '§N-M', 'paper notes, section(s) N, M and K'."""
    cited = []
    for first, last in re.findall(rf"{SIGN} ?({NUMBER})(?: ?- ?({NUMBER}))?", text):
        cited += [first] + ([last] if last else [])
    for numbers in re.findall(rf"paper notes, sections? ({NUMBER}(?:(?:, | and |-){NUMBER})*)",
                              text, re.I):
        cited += re.findall(NUMBER, numbers)
    return cited


def note_links(text: str) -> list[tuple[str, str]]:
    """(link text, anchor) of every Markdown link to the notes; anchor '' if it has none."""
    return re.findall(r"\[([^\]]*)\]\([^)\s]*paper_notes\.md(?:#([^)\s]*))?\)", text)


def bad_citations(text: str, sections: dict[str, str]) -> list[str]:
    """Every citation in `text` of a section the notes lack, or a link to a wrong anchor."""
    bad = [f"{SIGN}{n}" for n in cited_sections(text) if n not in sections]
    anchors = set(sections.values())
    for label, anchor in note_links(text):
        number = re.search(rf"sections? ({NUMBER})", label)
        if anchor and anchor not in anchors:
            bad.append(f"[{label}](#{anchor}): no such heading")
        elif number and anchor != sections.get(number.group(1)):
            bad.append(f"[{label}](#{anchor}): not the anchor of section {number.group(1)}")
    return bad


# ------------------------------------------------------------------ the checkers themselves


def test_citation_parser_reads_every_style():
    text = (f"see {SIGN}3, {SIGN}6.1-6.3 and {SIGN} 4.1.1; "
            "paper notes, sections 5.1, 5.2 and 7; Paper notes, section 6.3.2")
    assert cited_sections(text) == ["3", "6.1", "6.3", "4.1.1", "5.1", "5.2", "7", "6.3.2"]


def test_anchors_are_githubs():
    # As GitHub renders them: the dots of "4.1.1" and the apostrophe vanish.
    assert github_anchor("4.1.1 De-duplication") == "411-de-duplication"
    assert github_anchor("5 Empirical validation of DCGANs' capabilities") == (
        "5-empirical-validation-of-dcgans-capabilities")


def test_bad_citations_are_caught():
    sections = {"3": "3-approach", "4.2": "42-faces"}
    good = f"{SIGN}3 and [paper notes, section 4.2](../docs/{LINK}#42-faces)"
    assert bad_citations(good, sections) == []
    assert bad_citations(f"{SIGN}3-9", sections) == [f"{SIGN}9"]
    assert len(bad_citations(f"[section 3]({LINK}#42-faces)", sections)) == 1
    assert len(bad_citations(f"[the notes](docs/{LINK}#8-appendix)", sections)) == 1


# ------------------------------------------------------------------ the repository


def test_no_file_cites_the_old_notes():
    citing = [str(p.relative_to(ROOT)) for p in repo_files()
              if p != NOTES and OLD_NOTES in p.read_text(encoding="utf-8")]
    assert not citing, f"these files cite {OLD_NOTES}, which is not in the repository " \
                       f"(cite docs/paper_notes.md instead): {citing}"


def test_every_citation_names_a_section_of_the_notes():
    sections = note_sections(NOTES.read_text(encoding="utf-8"))
    bad, n_cited = {}, 0
    for path in repo_files():
        text = prose(path)
        n_cited += len(cited_sections(text)) + len(note_links(text))
        if problems := bad_citations(text, sections):
            bad[str(path.relative_to(ROOT))] = problems
    assert not bad, f"citations of sections docs/paper_notes.md lacks: {bad}"
    assert n_cited > 10, f"only {n_cited} citations of the notes found: is the parser broken?"


def test_notes_have_the_papers_sections():
    sections = note_sections(NOTES.read_text(encoding="utf-8"))
    missing = [n for n in PAPER_SECTIONS if n not in sections]
    assert not missing, f"{NOTES}: no heading for the paper's sections {missing}"


def test_notes_link_the_paper_and_the_works_it_builds_on():
    text = NOTES.read_text(encoding="utf-8")
    linked = set(re.findall(r"\]\(https://arxiv\.org/abs/(\d{4}\.\d{4,5})\)", text))
    missing = {name: arxiv for name, arxiv in REFERENCES.items() if arxiv not in linked}
    assert not missing, f"{NOTES} does not link (arxiv.org/abs/ID): {missing}"


def test_notes_link_only_files_that_exist():
    text = NOTES.read_text(encoding="utf-8")
    targets = re.findall(r"\]\((?!https?://|#)([^)#\s]+)", text)
    missing = [t for t in targets if not (NOTES.parent / t).exists()]
    assert targets and not missing, f"{NOTES} links files the repository lacks: {missing}"
