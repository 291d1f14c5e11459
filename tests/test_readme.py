"""The documentation's tables that come from the code: the preset table of docs/presets.md (the fit's
verdicts) and docs/security.md (the waivers). The README is a landing page that links them
(tests/test_docs.py); the config reference is docs/configuration.md, generated and checked by
tests/test_config_reference.py."""

import re

from tests.harness import ROOT

PRESETS_PAGE = (ROOT / "docs" / "presets.md").read_text()
SECURITY_PAGE = (ROOT / "docs" / "security.md").read_text()


def test_the_preset_table_is_what_the_fit_says():
    """docs/presets.md: one row per preset, its serving and finetune verdict on one L4 recomputed."""
    from presets.catalog import gpu_instance_catalog, model_presets
    from presets.fit import FinetuneSettings, ServingSettings, fit_finetune, fit_serving

    l4 = gpu_instance_catalog()["g6.xlarge"]
    rows = re.findall(
        r"^\| `([\w.-]+)` \| `([\w./-]+)` \| (yes|no) \| (\d+) / (\d+) \| ([^|]+) \|$", PRESETS_PAGE, re.M
    )
    assert [r[0] for r in rows] == list(model_presets()), "the table lists every preset, in the catalogue's order"
    for name, hf_id, gated, default, maximum, verdict in rows:
        m = model_presets()[name]
        assert (hf_id, gated == "yes", int(default), int(maximum)) == (
            m.hugging_face_id,
            m.gated,
            m.default_context_length,
            m.max_context_length,
        )
        serves = fit_serving(m, l4, ServingSettings(m.default_context_length), 100) is not None
        tunes = [t for t in m.finetune if fit_finetune(m, l4, FinetuneSettings(t, 4, 1024, 32), 100) is not None]
        assert verdict.startswith("serves;" if serves else "does not serve;"), name
        assert verdict.endswith(
            ("tunes with " + " or ".join(tunes))
            if tunes
            else ("not tuned here" if not m.finetune else "tunes on larger GPUs only")
        ), name


def test_every_exception_is_in_the_security_section():
    """tests/exceptions.py and docs/security.md ("Security choices, and the exceptions") name the same objects."""
    from tests.exceptions import NAMESPACE_LEVELS, WAIVERS

    title, section = SECURITY_PAGE.split("\n", 1)
    assert title == "# Security choices, and the exceptions"
    named = set(re.findall(r"`((?:Deployment|StatefulSet|DaemonSet|Job|Pod) [\w-]+/[\w-]+)`", section))
    assert named == {w.owner for w in WAIVERS}
    for namespace, (level, _) in NAMESPACE_LEVELS.items():
        assert re.search(rf"`{namespace}` namespace[^.]*`{level}`", section), namespace
