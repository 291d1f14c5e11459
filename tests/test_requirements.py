"""requirements.txt is what `pulumi up` installs into the program's environment (Pulumi.yaml's
`virtualenv`), so it must pin every third-party package the program imports, and nothing else.

The dev environment installs far more (the images' requirements, the test tools), so an import
that only the dev environment satisfies passes every other test and fails the first `pulumi up`:
pydantic (the stack config's models) was missing here until this test."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

from tests.harness import ROOT

# What Pulumi runs: the entry point and the packages it imports (not scripts/, tests/, images/).
PROGRAM = [ROOT / "__main__.py", *(ROOT / d for d in ("infra", "workloads", "presets", "stack_config", "private_host"))]
FIRST_PARTY = {"infra", "workloads", "presets", "stack_config", "private_host"}


def program_files() -> list[Path]:
    return [p for entry in PROGRAM for p in ([entry] if entry.is_file() else sorted(entry.rglob("*.py")))]


def imported_top_level_modules(files: list[Path]) -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                modules.setdefault(name.split(".")[0], path)
    return modules


def third_party(modules: dict[str, Path]) -> dict[str, Path]:
    return {
        m: p
        for m, p in modules.items()
        if m not in sys.stdlib_module_names and m not in FIRST_PARTY and m != "__future__"
    }


def canonical(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


def pinned(requirements: Path) -> dict[str, str]:
    pins = {}
    for line in requirements.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep and version, f"{requirements.name}: {line!r} is not pinned with =="
            pins[canonical(name)] = version
    return pins


def distributions_of(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the distributions that install it, as the environment's metadata says."""
    installed = importlib.metadata.packages_distributions()
    return {m: {canonical(d) for d in installed.get(m, [])} for m in modules}


def test_the_program_imports_only_what_requirements_txt_pins_and_pins_only_what_it_imports():
    imports = third_party(imported_top_level_modules(program_files()))
    dists = distributions_of(imports)
    unknown = {m: str(p.relative_to(ROOT)) for m, d in dists.items() if not d for p in [imports[m]]}
    assert not unknown, f"imports no installed distribution provides: {unknown}"
    pins = pinned(ROOT / "requirements.txt")

    missing = {m: (sorted(d), str(imports[m].relative_to(ROOT))) for m, d in dists.items() if not d & pins.keys()}
    assert not missing, f"imported by the program but not pinned in requirements.txt: {missing}"

    needed = {d for ds in dists.values() for d in ds}
    unused = sorted(pins.keys() - needed)
    assert not unused, f"pinned in requirements.txt but imported nowhere in the program: {unused}"


def test_each_pin_is_the_version_this_environment_tests():
    for name, version in pinned(ROOT / "requirements.txt").items():
        assert importlib.metadata.version(name) == version, name


def test_the_scan_finds_a_third_party_import(tmp_path: Path):
    program = tmp_path / "mod.py"
    program.write_text("import os\nfrom pydantic import BaseModel\nfrom infra import vpc\nfrom . import x\n")
    assert set(third_party(imported_top_level_modules([program]))) == {"pydantic"}
    assert distributions_of({"pydantic": program}) == {"pydantic": {"pydantic"}}
