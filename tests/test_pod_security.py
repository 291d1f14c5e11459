"""The Pod Security checker (tests/pod_security.py) refuses what admission refuses, at each level, and
every pod the cluster gets passes the level its namespace enforces (test_workloads.py applies it)."""

from __future__ import annotations

import copy

import pytest

from tests import workload_model as wm
from tests.harness import Graph
from tests.pod_security import checks_of, policy_version, violations

RESTRICTED_POD = {
    "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
    "containers": [
        {
            "name": "app",
            "image": "app:1",
            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
        }
    ],
    "volumes": [{"name": "scratch", "emptyDir": {}}, {"name": "conf", "configMap": {"name": "c"}}],
}


def checks(spec, level, meta=None, version=(1, 34)) -> set[str]:
    return {v.check for v in violations(meta or {}, spec, level, version)}


def changed(change) -> dict:
    spec = copy.deepcopy(RESTRICTED_POD)
    change(spec)
    return spec


def test_a_restricted_pod_passes_every_level():
    for level in ("privileged", "baseline", "restricted"):
        assert checks(RESTRICTED_POD, level) == set()


@pytest.mark.parametrize(
    "change,baseline,restricted",
    [
        # privileged container: refused at baseline already
        (lambda s: s["containers"][0]["securityContext"].update(privileged=True), {"privileged"}, {"privileged"}),
        # a hostPath volume: baseline's hostPathVolumes, and restricted's volume types instead
        (
            lambda s: s["volumes"].append({"name": "host", "hostPath": {"path": "/var/run"}}),
            {"hostPathVolumes"},
            {"restrictedVolumes"},
        ),
        # no seccomp profile anywhere: allowed at baseline, refused at restricted
        (lambda s: s["securityContext"].pop("seccompProfile"), set(), {"seccompProfile_restricted"}),
        # an unconfined profile: refused at both
        (
            lambda s: s["securityContext"].update(seccompProfile={"type": "Unconfined"}),
            {"seccompProfile_baseline"},
            {"seccompProfile_restricted"},
        ),
        (lambda s: s.update(hostNetwork=True), {"hostNamespaces"}, {"hostNamespaces"}),
        (lambda s: s.update(hostPID=True), {"hostNamespaces"}, {"hostNamespaces"}),
        (
            lambda s: s["containers"][0].update(ports=[{"containerPort": 80, "hostPort": 80}]),
            {"hostPorts"},
            {"hostPorts"},
        ),
        (
            lambda s: s["containers"][0]["securityContext"]["capabilities"].update(add=["SYS_ADMIN"]),
            {"capabilities_baseline"},
            {"capabilities_restricted"},
        ),
        (
            lambda s: s["containers"][0]["securityContext"]["capabilities"].update(add=["CHOWN"]),
            set(),
            {"capabilities_restricted"},
        ),
        (
            lambda s: s["containers"][0]["securityContext"]["capabilities"].update(add=["NET_BIND_SERVICE"]),
            set(),
            set(),
        ),
        (lambda s: s["containers"][0]["securityContext"].pop("capabilities"), set(), {"capabilities_restricted"}),
        (
            lambda s: s["containers"][0]["securityContext"].pop("allowPrivilegeEscalation"),
            set(),
            {"allowPrivilegeEscalation"},
        ),
        (lambda s: s["securityContext"].pop("runAsNonRoot"), set(), {"runAsNonRoot"}),
        (lambda s: s["containers"][0]["securityContext"].update(runAsNonRoot=False), set(), {"runAsNonRoot"}),
        (lambda s: s["containers"][0]["securityContext"].update(runAsUser=0), set(), {"runAsUser"}),
        (lambda s: s["containers"][0]["securityContext"].update(procMount="Unmasked"), {"procMount"}, {"procMount"}),
        (
            lambda s: s["containers"][0]["securityContext"].update(seLinuxOptions={"type": "spc_t"}),
            {"seLinuxOptions"},
            {"seLinuxOptions"},
        ),
        (
            lambda s: s["containers"][0]["securityContext"].update(appArmorProfile={"type": "Unconfined"}),
            {"appArmorProfile"},
            {"appArmorProfile"},
        ),
        (
            lambda s: s["securityContext"].update(sysctls=[{"name": "kernel.msgmax", "value": "1"}]),
            {"sysctls"},
            {"sysctls"},
        ),
        (
            lambda s: s["securityContext"].update(sysctls=[{"name": "net.ipv4.tcp_keepalive_time", "value": "60"}]),
            set(),
            set(),
        ),
        (
            lambda s: s["containers"][0].update(readinessProbe={"httpGet": {"host": "10.0.0.1", "port": 80}}),
            {"hostProbesAndHostLifecycle"},
            {"hostProbesAndHostLifecycle"},
        ),
        (
            lambda s: s["volumes"].append({"name": "nfs", "nfs": {"server": "n", "path": "/"}}),
            set(),
            {"restrictedVolumes"},
        ),
        # an init container counts as much as the main one
        (
            lambda s: s.update(initContainers=[{"name": "init", "securityContext": {"privileged": True}}]),
            {"privileged"},
            {"privileged", "allowPrivilegeEscalation", "capabilities_restricted"},
        ),
    ],
)
def test_each_check_refuses_what_admission_refuses(change, baseline, restricted):
    spec = changed(change)
    assert checks(spec, "privileged") == set()
    assert checks(spec, "baseline") == baseline
    assert checks(spec, "restricted") == restricted


def test_container_level_settings_satisfy_restricted_without_pod_level_ones():
    spec = changed(lambda s: s.pop("securityContext"))
    assert checks(spec, "restricted") == {"runAsNonRoot", "seccompProfile_restricted"}
    spec["containers"][0]["securityContext"].update(
        runAsNonRoot=True, seccompProfile={"type": "Localhost", "localhostProfile": "p"}
    )
    assert checks(spec, "restricted") == set()


def test_apparmor_annotations_are_read_from_the_pod_metadata():
    meta = {"annotations": {"container.apparmor.security.beta.kubernetes.io/app": "unconfined"}}
    assert checks(RESTRICTED_POD, "baseline", meta) == {"appArmorProfile"}
    assert (
        checks(
            RESTRICTED_POD,
            "baseline",
            {"annotations": {"container.apparmor.security.beta.kubernetes.io/app": "runtime/default"}},
        )
        == set()
    )


def test_rules_follow_the_clusters_version():
    probe_host = changed(lambda s: s["containers"][0].update(livenessProbe={"tcpSocket": {"host": "h", "port": 1}}))
    assert checks(probe_host, "baseline", version=(1, 33)) == set()  # hostProbesAndHostLifecycle starts at 1.34
    unmasked = changed(
        lambda s: (s["containers"][0]["securityContext"].update(procMount="Unmasked"), s.update(hostUsers=False))
    )
    assert checks(unmasked, "restricted", version=(1, 34)) == {"procMount"}
    assert checks(unmasked, "baseline", version=(1, 35)) == set()  # a user-namespace pod, from 1.35
    assert checks(unmasked, "restricted", version=(1, 35)) == {"procMount_restricted"}
    assert "procMount_restricted" not in checks_of("restricted", (1, 34)) and "procMount" in checks_of(
        "restricted", (1, 34)
    )
    assert "procMount_restricted" in checks_of("restricted", (1, 35)) and "procMount" not in checks_of(
        "restricted", (1, 35)
    )
    assert "hostProbesAndHostLifecycle" not in checks_of("baseline", (1, 33))
    image = changed(lambda s: s["volumes"].append({"name": "weights", "image": {"reference": "models:1"}}))
    assert checks(image, "restricted", version=(1, 32)) == {"restrictedVolumes"}  # image volumes: allowed from 1.33
    assert checks(image, "restricted", version=(1, 33)) == set()
    with pytest.raises(ValueError, match="before 1.25"):
        checks_of("restricted", (1, 24))


def test_a_namespaces_version_label_is_capped_at_the_clusters():
    assert policy_version("latest", (1, 34)) == (1, 34)
    assert policy_version(None, (1, 34)) == (1, 34)
    assert policy_version("v1.33", (1, 34)) == (1, 33)
    assert policy_version("v1.37", (1, 34)) == (1, 34)  # the API server evaluates no newer policy than its own


def test_odd_but_valid_fields_neither_crash_nor_pass_wrongly():
    stop_signal = changed(lambda s: s["containers"][0].update(lifecycle={"stopSignal": "SIGTERM"}))
    assert checks(stop_signal, "restricted") == set()
    null_volume = changed(lambda s: s["volumes"].append({"name": "x", "emptyDir": {}, "hostPath": None}))
    assert checks(null_volume, "restricted") == set()
    empty_profile = changed(lambda s: s["securityContext"].update(seccompProfile={}))
    assert checks(empty_profile, "restricted") == {"seccompProfile_restricted"}
    assert checks(empty_profile, "baseline") == {"seccompProfile_baseline"}


def test_an_unknown_level_is_an_error():
    with pytest.raises(ValueError, match="unknown Pod Security level"):
        violations({}, RESTRICTED_POD, "strict")


def test_every_pod_is_checked_at_its_namespaces_level(graph: Graph):
    """The levels the rule applies (the enforce labels), and that charts' pods are among the pods checked."""
    levels = {ns: labels["pod-security.kubernetes.io/enforce"] for ns, labels in wm.namespaces(graph).items()}
    by_level = {}
    for pod in wm.pods(graph):
        by_level.setdefault(levels[pod.namespace], set()).add(pod.owner)
    assert (
        "Deployment jupyterhub/hub" in by_level["restricted"]
        and "StatefulSet vector-db/qdrant" in by_level["restricted"]
    )
    assert "DaemonSet nvidia-device-plugin/nvidia-device-plugin" in by_level["privileged"]
