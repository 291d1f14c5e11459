"""The Pod Security Standards as the API server's admission enforces them, on a pod template.

Each check follows kubernetes/pod-security-admission `policy/check_*.go` (the IDs are theirs):
what a level forbids, which fields it reads (pod, init, regular and ephemeral containers, as
`visitContainers`), and the Kubernetes version a rule starts at. A namespace labelled
`pod-security.kubernetes.io/enforce: <level>` refuses pods that fail a check of that level, as of
its `enforce-version`: `latest`, or any version past the API server's own, means the server's own
(policy/registry.go caps it). Versions from 1.25 (older ones read seccomp annotations, not here).
With the UserNamespacesPodSecurityStandards gate off, as by default, before 1.35 a pod in a user
namespace (`hostUsers: false`) is checked like any other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

LEVELS = ("privileged", "baseline", "restricted")
Version = tuple[int, int]
OLDEST = (1, 25)


def policy_version(label: str | None, cluster: Version) -> Version:
    """The version a namespace's `enforce-version` label evaluates at, on a cluster of `cluster`."""
    if not label or label == "latest":
        return cluster
    major, minor = label.lstrip("v").split(".")[:2]
    return min((int(major), int(minor)), cluster)


@dataclass(frozen=True)
class Violation:
    check: str  # the check's ID in pod-security-admission
    detail: str


def _containers(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for key in ("initContainers", "containers", "ephemeralContainers"):
        yield from spec.get(key) or []


def _ctx(c: dict[str, Any]) -> dict[str, Any]:
    return c.get("securityContext") or {}


def _names(containers) -> str:
    return ", ".join(f'"{c["name"]}"' for c in containers)


def _user_namespace(spec: dict[str, Any], version: Version) -> bool:
    """relaxPolicyForUserNamespacePod: from 1.35, a pod with hostUsers: false is exempt from some checks."""
    return version >= (1, 35) and spec.get("hostUsers") is False


# --- baseline ---------------------------------------------------------------------------------------


def host_process(meta, spec, version) -> str | None:
    setters = (
        ["pod"] if ((spec.get("securityContext") or {}).get("windowsOptions") or {}).get("hostProcess") else []
    ) + [c["name"] for c in _containers(spec) if (_ctx(c).get("windowsOptions") or {}).get("hostProcess")]
    return f"{', '.join(setters)} must not set securityContext.windowsOptions.hostProcess=true" if setters else None


def host_namespaces(meta, spec, version) -> str | None:
    used = [f"{k}=true" for k in ("hostNetwork", "hostPID", "hostIPC") if spec.get(k)]
    return ", ".join(used) or None


def privileged(meta, spec, version) -> str | None:
    bad = [c for c in _containers(spec) if _ctx(c).get("privileged")]
    return f"containers {_names(bad)} must not set securityContext.privileged=true" if bad else None


BASELINE_CAPABILITIES = {
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
}


def capabilities_baseline(meta, spec, version) -> str | None:
    bad = {
        cap
        for c in _containers(spec)
        for cap in ((_ctx(c).get("capabilities") or {}).get("add") or [])
        if cap not in BASELINE_CAPABILITIES
    }
    return f"capabilities.add must not include {sorted(bad)}" if bad else None


def host_path_volumes(meta, spec, version) -> str | None:
    bad = [v["name"] for v in spec.get("volumes") or [] if v.get("hostPath") is not None]
    return f"hostPath volumes {bad}" if bad else None


def host_ports(meta, spec, version) -> str | None:
    bad = sorted({p["hostPort"] for c in _containers(spec) for p in c.get("ports") or [] if p.get("hostPort")})
    return f"hostPorts {bad}" if bad else None


def host_probes_and_lifecycle(meta, spec, version) -> str | None:
    hosts = set()
    for c in _containers(spec):
        handlers = [c.get(k) or {} for k in ("livenessProbe", "readinessProbe", "startupProbe")]
        handlers += [(c.get("lifecycle") or {}).get(k) or {} for k in ("postStart", "preStop")]
        hosts |= {(h.get(a) or {}).get("host") for h in handlers for a in ("httpGet", "tcpSocket")} - {None, ""}
    return f"probe or lifecycle hosts {sorted(hosts)}" if hosts else None


def app_armor(meta, spec, version) -> str | None:
    bad = []
    pod_profile = (spec.get("securityContext") or {}).get("appArmorProfile")
    if pod_profile is not None and pod_profile.get("type") not in ("RuntimeDefault", "Localhost"):
        bad.append("pod")
    bad += [
        c["name"]
        for c in _containers(spec)
        if _ctx(c).get("appArmorProfile") is not None
        and _ctx(c)["appArmorProfile"].get("type") not in ("RuntimeDefault", "Localhost")
    ]
    bad += [
        k
        for k, v in (meta.get("annotations") or {}).items()
        if k.startswith("container.apparmor.security.beta.kubernetes.io/")
        and not (v == "" or v == "runtime/default" or v.startswith("localhost/"))
    ]
    return f"{bad} must not set a forbidden AppArmor profile" if bad else None


def se_linux(meta, spec, version) -> str | None:
    types = {"", "container_t", "container_init_t", "container_kvm_t"} | (
        {"container_engine_t"} if version >= (1, 31) else set()
    )
    options = [(spec.get("securityContext") or {}).get("seLinuxOptions") or {}]
    options += [_ctx(c).get("seLinuxOptions") or {} for c in _containers(spec)]
    bad = [o for o in options if (o.get("type") or "") not in types or o.get("user") or o.get("role")]
    return f"forbidden seLinuxOptions {bad}" if bad else None


def proc_mount(meta, spec, version) -> str | None:
    if _user_namespace(spec, version):
        return None
    bad = [c for c in _containers(spec) if _ctx(c).get("procMount") not in (None, "Default")]
    return f"containers {_names(bad)} must not set securityContext.procMount" if bad else None


def seccomp_baseline(meta, spec, version) -> str | None:
    profiles = [(spec.get("securityContext") or {}).get("seccompProfile")] + [
        _ctx(c).get("seccompProfile") for c in _containers(spec)
    ]
    bad = [p.get("type") for p in profiles if p is not None and p.get("type") not in ("RuntimeDefault", "Localhost")]
    return f"seccompProfile.type must not be {bad}" if bad else None


SAFE_SYSCTLS = {
    (1, 0): {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_unprivileged_port_start",
    },
    (1, 27): {"net.ipv4.ip_local_reserved_ports"},
    (1, 29): {
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    },
    (1, 32): {"net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"},
    (1, 37): {"net.ipv4.tcp_slow_start_after_idle", "net.ipv4.tcp_notsent_lowat"},
}


def sysctls(meta, spec, version) -> str | None:
    safe = set().union(*(names for since, names in SAFE_SYSCTLS.items() if version >= since))
    bad = [s["name"] for s in (spec.get("securityContext") or {}).get("sysctls") or [] if s["name"] not in safe]
    return f"forbidden sysctls {bad}" if bad else None


# --- restricted -------------------------------------------------------------------------------------

RESTRICTED_VOLUME_TYPES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


def restricted_volumes(meta, spec, version) -> str | None:
    allowed = RESTRICTED_VOLUME_TYPES | ({"image"} if version >= (1, 33) else set())  # image volumes: policy 0.33 on
    bad = sorted(
        {
            k
            for v in spec.get("volumes") or []
            for k, source in v.items()
            if k != "name" and source is not None and k not in allowed
        }
    )
    return f"restricted volume types {bad}" if bad else None


def _windows(spec) -> bool:
    """From 1.25 a pod with spec.os.name windows is exempt from the Linux-only checks."""
    return (spec.get("os") or {}).get("name") == "windows"


def allow_privilege_escalation(meta, spec, version) -> str | None:
    if _windows(spec):
        return None
    bad = [c for c in _containers(spec) if _ctx(c).get("allowPrivilegeEscalation") is not False]
    return f"containers {_names(bad)} must set securityContext.allowPrivilegeEscalation=false" if bad else None


def run_as_non_root(meta, spec, version) -> str | None:
    if _user_namespace(spec, version):
        return None
    pod = (spec.get("securityContext") or {}).get("runAsNonRoot")
    if pod is False:
        return "pod must not set securityContext.runAsNonRoot=false"
    explicit = [c for c in _containers(spec) if _ctx(c).get("runAsNonRoot") is False]
    if explicit:
        return f"containers {_names(explicit)} must not set securityContext.runAsNonRoot=false"
    implicit = [c for c in _containers(spec) if _ctx(c).get("runAsNonRoot") is None and pod is not True]
    return f"pod or containers {_names(implicit)} must set securityContext.runAsNonRoot=true" if implicit else None


def run_as_user(meta, spec, version) -> str | None:
    if _user_namespace(spec, version):
        return None
    bad = (["pod"] if (spec.get("securityContext") or {}).get("runAsUser") == 0 else []) + [
        c["name"] for c in _containers(spec) if _ctx(c).get("runAsUser") == 0
    ]
    return f"{bad} must not set runAsUser=0" if bad else None


def seccomp_restricted(meta, spec, version) -> str | None:
    if _windows(spec):
        return None
    pod_profile = (spec.get("securityContext") or {}).get("seccompProfile")
    valid = ("RuntimeDefault", "Localhost")
    if pod_profile is not None and pod_profile.get("type") not in valid:
        return f"pod must not set securityContext.seccompProfile.type to {pod_profile.get('type')!r}"
    bad = [
        c
        for c in _containers(spec)
        if _ctx(c).get("seccompProfile") is not None and _ctx(c)["seccompProfile"].get("type") not in valid
    ]
    if bad:
        return f"containers {_names(bad)} must not set securityContext.seccompProfile.type to an unconfined profile"
    implicit = [c for c in _containers(spec) if _ctx(c).get("seccompProfile") is None and pod_profile is None]
    return (
        (
            f'pod or containers {_names(implicit)} must set securityContext.seccompProfile.type to "RuntimeDefault" '
            'or "Localhost"'
        )
        if implicit
        else None
    )


def capabilities_restricted(meta, spec, version) -> str | None:
    if _windows(spec):
        return None
    no_drop = [c for c in _containers(spec) if "ALL" not in ((_ctx(c).get("capabilities") or {}).get("drop") or [])]
    added = {
        cap
        for c in _containers(spec)
        for cap in ((_ctx(c).get("capabilities") or {}).get("add") or [])
        if cap != "NET_BIND_SERVICE"
    }
    details = (
        [f'containers {_names(no_drop)} must set securityContext.capabilities.drop=["ALL"]'] if no_drop else []
    ) + ([f"capabilities.add must not include {sorted(added)}"] if added else [])
    return "; ".join(details) or None


def proc_mount_restricted(meta, spec, version) -> str | None:
    bad = [c for c in _containers(spec) if _ctx(c).get("procMount") not in (None, "Default")]
    return f"containers {_names(bad)} must not set securityContext.procMount" if bad else None


Check = Callable[[dict, dict, Version], "str | None"]
BASELINE: dict[str, Check] = {
    "windowsHostProcess": host_process,
    "hostNamespaces": host_namespaces,
    "privileged": privileged,
    "capabilities_baseline": capabilities_baseline,
    "hostPathVolumes": host_path_volumes,
    "hostPorts": host_ports,
    "hostProbesAndHostLifecycle": host_probes_and_lifecycle,
    "appArmorProfile": app_armor,
    "seLinuxOptions": se_linux,
    "procMount": proc_mount,
    "seccompProfile_baseline": seccomp_baseline,
    "sysctls": sysctls,
}
RESTRICTED: dict[str, Check] = {
    "restrictedVolumes": restricted_volumes,
    "allowPrivilegeEscalation": allow_privilege_escalation,
    "runAsNonRoot": run_as_non_root,
    "runAsUser": run_as_user,
    "seccompProfile_restricted": seccomp_restricted,
    "capabilities_restricted": capabilities_restricted,
    "procMount_restricted": proc_mount_restricted,
}
# A restricted check replaces the baseline check it tightens (`OverrideCheckIDs` upstream).
OVERRIDES = {
    "capabilities_restricted": "capabilities_baseline",
    "seccompProfile_restricted": "seccompProfile_baseline",
    "restrictedVolumes": "hostPathVolumes",
    "procMount_restricted": "procMount",
}
# Checks that start after OLDEST (their first `VersionedCheck`): before it, a level does not have them.
SINCE = {"hostProbesAndHostLifecycle": (1, 34), "procMount_restricted": (1, 35)}


def checks_of(level: str, version: Version) -> dict[str, Check]:
    """The checks of a level at a policy version, as policy/registry.go `populate` assembles them."""
    if level not in LEVELS:
        raise ValueError(f"unknown Pod Security level {level!r} (one of {LEVELS})")
    if version < OLDEST:
        raise ValueError(f"Pod Security before {OLDEST[0]}.{OLDEST[1]} is not modelled")
    present = lambda checks: {k: v for k, v in checks.items() if version >= SINCE.get(k, OLDEST)}
    if level == "privileged":
        return {}
    if level == "baseline":
        return present(BASELINE)
    restricted = present(RESTRICTED)
    overridden = {OVERRIDES[c] for c in restricted if c in OVERRIDES}
    return {**{k: v for k, v in present(BASELINE).items() if k not in overridden}, **restricted}


def violations(meta: dict[str, Any], spec: dict[str, Any], level: str, version: Version = (1, 34)) -> list[Violation]:
    """What admission at `level` refuses in a pod (its metadata and spec), at policy `version`."""
    found = []
    for check_id, check in checks_of(level, version).items():
        detail = check(meta, spec, version)
        if detail:
            found.append(Violation(check_id, detail))
    return found
