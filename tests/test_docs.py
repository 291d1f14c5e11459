"""The documentation pages: the README (a landing page), docs/*.md and each image's README.

Every relative link reaches a file of the repository, and an `#anchor` a heading of that file as
GitHub slugs it; no page names an issue of this project's tracker (the state is described as it is)
or a path of the machine the docs were written on; the README stays a landing page of at most 200
lines. Each check is also run on a page made broken on purpose, so none of them passes vacuously."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.harness import ROOT

README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "images").glob("*/README.md"))]
README_MAX_LINES = 200

FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1", re.S)
LINK = re.compile(r"!?\[(?:[^\]\n]|\][^(\n])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)  # https:, mailto:, ...
# "issue 6", "Issue #12", "issues 3", or "#12" as an issue reference; an upstream reference written
# in full, owner/repository#N, cites another project's tracker and is allowed.
ISSUE = re.compile(r"\bissues? #?\d+\b|(?:\b[\w.-]+/[\w.-]+|(?<!&))#\d+\b", re.I)
UPSTREAM = re.compile(r"^[\w.-]+/[\w.-]+#\d+$")
MACHINE_PATH = re.compile(r"(?<![\w.~-])/(?:work|tmp|root|home)/")


def prose(text: str) -> str:
    """The text outside fenced code blocks and code spans, where Markdown makes links."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup gone, lowercase, spaces to '-', punctuation but '-' and '_' dropped."""
    text = re.sub(r"`([^`]*)`", r"\1", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link in a heading: its text
    text = re.sub(r"<[^>]+>", "", text)
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading's anchor; a repeated heading gets -1, -2, ... as on GitHub."""
    seen: dict[str, int] = {}
    found = set()
    for heading in HEADING.findall(FENCE.sub("", path.read_text(encoding="utf-8"))):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def dead_links(page: Path, root: Path = ROOT) -> list[str]:
    problems = []
    for target in LINK.findall(prose(page.read_text(encoding="utf-8"))):
        if EXTERNAL.match(target):
            continue
        path_part, _, anchor = target.partition("#")
        file = (page.parent / path_part).resolve() if path_part else page
        if not file.exists():
            problems.append(f"{target}: no such file")
        elif anchor and (file.is_dir() or anchor not in anchors(file)):
            problems.append(f"{target}: no heading #{anchor} in {file.name}")
        elif root not in file.parents:
            problems.append(f"{target}: outside the repository")
    return problems


def issue_numbers(text: str) -> list[str]:
    return [m.group(0) for m in ISSUE.finditer(text) if not UPSTREAM.match(m.group(0))]


def machine_paths(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if MACHINE_PATH.search(line)]


def too_long(text: str) -> str | None:
    count = len(text.splitlines())
    return f"README.md has {count} lines; move detail to docs/" if count > README_MAX_LINES else None


def name(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def test_the_pages_are_there():
    names = {name(p) for p in PAGES}
    assert {"README.md", "docs/configuration.md", "docs/extending.md", "images/rag/README.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=name)
def test_every_relative_link_resolves(page: Path):
    assert dead_links(page) == []


@pytest.mark.parametrize("page", PAGES, ids=name)
def test_no_page_names_an_issue_number_or_a_path_of_this_machine(page: Path):
    text = page.read_text(encoding="utf-8")
    assert issue_numbers(text) == [], "describe the state as it is, not by issue"
    assert machine_paths(text) == []


def test_the_readme_is_a_landing_page():
    assert too_long(README.read_text(encoding="utf-8")) is None


def test_the_readme_links_every_docs_page():
    linked = {(README.parent / t.partition("#")[0]).resolve() for t in LINK.findall(prose(README.read_text()))}
    assert [name(p) for p in sorted((ROOT / "docs").glob("*.md")) if p.resolve() not in linked] == []


@pytest.mark.parametrize(
    "page", [p for p in PAGES if p.parent.name == "docs" and p.name != "configuration.md"], ids=name
)
def test_each_docs_page_starts_with_a_title_and_a_link_back(page: Path):
    first, blank, back = page.read_text(encoding="utf-8").splitlines()[:3]
    assert first.startswith("# ") and blank == "" and "](../README.md)" in back


# --- each check fails on what it guards against ------------------------------------------------------


def test_github_slugs():
    assert slug("What `pulumi up` waits for") == "what-pulumi-up-waits-for"
    assert slug("Security choices, and the exceptions") == "security-choices-and-the-exceptions"
    assert slug("The fit, for finetune (images/finetune, one GPU)") == "the-fit-for-finetune-imagesfinetune-one-gpu"
    assert slug("AWS access (IRSA)") == "aws-access-irsa"


def test_a_dead_link_or_anchor_is_found(tmp_path: Path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A\n\n## Two words\n\n## Two words\n")
    page = tmp_path / "README.md"
    page.write_text(
        "[ok](docs/a.md) [ok](docs/a.md#two-words) [ok](docs/a.md#two-words-1) [ok](#top) [web](https://x.y/z)\n"
        "`[in code](docs/gone.md)`\n\n```\n[in a fence](docs/gone.md)\n```\n\n# Top\n"
        "[dead](docs/gone.md) [bad anchor](docs/a.md#three-words) [here](#nowhere)\n"
    )
    (tmp_path.parent / "outside.md").write_text("# Outside\n")
    page.write_text(page.read_text() + "[escapes](../outside.md)\n")
    assert dead_links(page, root=tmp_path) == [
        "docs/gone.md: no such file",
        "docs/a.md#three-words: no heading #three-words in a.md",
        "#nowhere: no heading #nowhere in README.md",
        "../outside.md: outside the repository",
    ]


def test_issue_numbers_and_machine_paths_are_found():
    assert issue_numbers("Still to come: presets (issue 6), see Issue #12 and #7.") == ["issue 6", "Issue #12", "#7"]
    assert issue_numbers("skupperproject/skupper#779; [x](#anchor); port 8000; ## Heading; &#8211;") == []
    assert machine_paths("a\nrun /work/main/.venv/bin/python\n`/tmp/x`\n~/.cache/y and /var/lib/z") == [
        "run /work/main/.venv/bin/python",
        "`/tmp/x`",
    ]


def test_the_line_limit_bites():
    assert too_long("line\n" * README_MAX_LINES) is None
    assert too_long("line\n" * (README_MAX_LINES + 1)) == "README.md has 201 lines; move detail to docs/"
