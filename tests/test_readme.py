"""The README's config reference and the parser agree: no undocumented key, no documented ghost."""

import re

from tests.harness import ROOT

README = (ROOT / "README.md").read_text()
PARSER = (ROOT / "stack_config.py").read_text()

# The _Section methods that read a key; `s.path(...)` and friends only name one.
READERS = r"(?:string|integer|number|boolean|strings|section|get)"


def documented_keys() -> set[str]:
    table = README.split("## Config reference", 1)[1].split("\n## ", 1)[0]
    keys = set()
    for cell in re.findall(r"^\| `([^`]+)`(?: / `([^`]+)`)?(?: / `([^`]+)`)?", table, re.M):
        for key in filter(None, cell):
            keys.update(re.sub(r"\[\]", "", key).split("."))
    return keys


def section_variables() -> set[str]:
    """Names that hold a _Section: annotated parameters and variables assigned a (sub)section."""
    return (set(re.findall(r"\b(\w+): _Section\b", PARSER))
            | set(re.findall(r"\b(\w+) = (?:\w+\.section|_Section)\(", PARSER)))


def key_helpers() -> set[str]:
    """Functions and lambdas that take a key name and read it from a section, e.g. _model_id(s, "model", ...)."""
    functions = re.findall(r"\bdef (\w+)\(\w+: _Section, name: str", PARSER)
    lambdas = re.findall(rf"\b(\w+) = lambda name\b[^:]*: \w+\.{READERS}\(\s*name\b", PARSER)
    return {*functions, *lambdas}


def parsed_keys() -> set[str]:
    """Every key the parser reads through a section (not other dicts: `raw.get`, `secrets.get`)."""
    receivers = "|".join(sorted(section_variables()))
    keys = set(re.findall(rf'\b(?:{receivers})\.{READERS}\(\s*"(\w+)"', PARSER))
    for helper in key_helpers():
        keys.update(re.findall(rf'\b{helper}\((?:\s*\w+\s*,)?\s*"(\w+)"', PARSER))
    return keys


def tuple_literal(name: str) -> set[str]:
    """The string items of a module-level tuple, e.g. _TOP_LEVEL_KEYS = ("network", ...), over several lines."""
    body = re.search(rf"^{name} = \(([^)]*)\)", PARSER, re.M).group(1)
    return set(re.findall(r'"(\w+)"', body))


def test_the_parser_is_read_whole():
    assert {"s", "existing", "gh"} <= section_variables()
    assert {"vpcId", "clientId", "loraR", "huggingFaceId", "preset", "model", "trainData", "ingressTlsSecret"} <= parsed_keys()
    # Plain dictionaries and Section.path are no config reads.
    assert not {"huggingFaceToken", "ragLlmApiKey", "gpuNodeGroups"} & parsed_keys()


def test_every_parsed_key_is_documented():
    assert parsed_keys(), "the parser's keys were found"
    assert parsed_keys() - documented_keys() == set()


def test_every_documented_key_is_parsed():
    top_level = tuple_literal("_TOP_LEVEL_KEYS")
    secrets = tuple_literal("SECRET_KEYS")  # top-level keys read by _parse_secrets, not through a section
    assert secrets and {"jupyterhub", "chatbot"} <= top_level
    provider_keys = {"aws:region", "aws:defaultTags"}  # the AWS provider's namespace, read from the raw map
    assert documented_keys() - parsed_keys() - top_level - secrets - provider_keys == set()


def test_the_preset_table_is_what_the_fit_says():
    """README "Model presets": one row per preset, its serving and tuning verdict on one L4 recomputed."""
    from presets.catalog import gpu_instance_catalog, model_presets
    from presets.fit import ServingSettings, TuningSettings, fit_serving, fit_tuning

    l4 = gpu_instance_catalog()["g6.xlarge"]
    rows = re.findall(r"^\| `([\w.-]+)` \| `([\w./-]+)` \| (yes|no) \| (\d+) / (\d+) \| ([^|]+) \|$", README, re.M)
    assert [r[0] for r in rows] == list(model_presets()), "the table lists every preset, in the catalogue's order"
    for name, hf_id, gated, default, maximum, verdict in rows:
        m = model_presets()[name]
        assert (hf_id, gated == "yes", int(default), int(maximum)) == (
            m.hugging_face_id, m.gated, m.default_context_length, m.max_context_length)
        serves = fit_serving(m, l4, ServingSettings(m.default_context_length), 100) is not None
        tunes = [t for t in m.tuning if fit_tuning(m, l4, TuningSettings(t, 4, 1024, 32), 100) is not None]
        assert verdict.startswith("serves;" if serves else "does not serve;"), name
        assert verdict.endswith(("tunes with " + " or ".join(tunes)) if tunes else
                                ("not tuned here" if not m.tuning else "tunes on larger GPUs only")), name


def test_every_exception_is_in_the_security_section():
    """tests/exceptions.py and the README's "Security choices, and the exceptions" name the same objects."""
    from tests.exceptions import NAMESPACE_LEVELS, WAIVERS

    section = README.split("## Security choices, and the exceptions", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`((?:Deployment|StatefulSet|DaemonSet|Job|Pod) [\w-]+/[\w-]+)`", section))
    assert named == {w.owner for w in WAIVERS}
    for namespace, (level, _) in NAMESPACE_LEVELS.items():
        assert re.search(rf"`{namespace}` namespace[^.]*`{level}`", section), namespace
