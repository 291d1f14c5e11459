"""The README's config reference and the parser agree: no undocumented key, no documented ghost."""

import re

from tests.harness import ROOT

README = (ROOT / "README.md").read_text()
PARSER = (ROOT / "stack_config.py").read_text()


def documented_keys() -> set[str]:
    table = README.split("## Config reference", 1)[1].split("\n## ", 1)[0]
    keys = set()
    for cell in re.findall(r"^\| `([^`]+)`(?: / `([^`]+)`)?(?: / `([^`]+)`)?", table, re.M):
        for key in filter(None, cell):
            keys.update(re.sub(r"\[\]", "", key).split("."))
    return keys


def parsed_keys() -> set[str]:
    return set(re.findall(r'\b(?:s|existing)\.(?:string|integer|boolean|strings|section|get)\(\s*"(\w+)"', PARSER))


def test_every_parsed_key_is_documented():
    assert parsed_keys(), "the parser's keys were found"
    assert parsed_keys() - documented_keys() == set()


def test_every_documented_key_is_parsed():
    top_level = set(re.findall(r'"(\w+)"', PARSER.split("_TOP_LEVEL_KEYS = ", 1)[1].split("\n", 1)[0]))
    assert documented_keys() - parsed_keys() - top_level - {"aws:region"} == set()
