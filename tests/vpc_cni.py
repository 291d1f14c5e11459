"""NetworkPolicy as the AWS VPC CNI enforces it: the network-policy controller turns each policy into
PolicyEndpoints (addresses and ports), the node agent writes them into eBPF maps on each pod's veth.

Read at aws/amazon-network-policy-controller-k8s ecc7e6a79394528bdb397e1fbd927dae64383bec
(2026-05-18) and aws/aws-network-policy-agent c8619c056b4c3a7156d2e3538864de3bc9faab82 (2026-08-21).
Where this differs from the API's semantics (tests/network_policy.py), the cluster does this.

The controller (pkg/resolvers/endpoints.go):
- C1 `computeIngressEndpoints`: a rule's ports are resolved once (`resolveIngressPorts`): numbers as
  they are, names against the container ports of the pods the policy selects (`getIngressRulesPorts`);
  a rule with ports of which none resolves is skipped. No `from`: 0.0.0.0/0; an ipBlock: its CIDR and
  excepts; pod and namespace selectors: the IP of each matching pod.
- C2 `computeEgressEndpoints`: no `to`: 0.0.0.0/0 with the rule's numeric ports (a named port is
  dropped; only named ports: nothing, `buildAllowAllEgress`); an ipBlock: likewise; pod and namespace
  selectors: each matching pod's IP, the ports resolved on that pod (`getPortList`: a name the pod
  lacks is dropped, a number is kept as it is; none left: the pod is skipped)...
- C3 ...and, in every namespace the peer selects, the ClusterIP of each non-headless Service whose
  *selector*, read as a set of labels, matches the peer's podSelector (`getMatchingServiceClusterIPs`:
  `svcSelector.Matches(labels.Set(svc.Spec.Selector))`): the Service's selector must hold every
  matchLabels pair of the podSelector (and meet its expressions). A peer without podSelector admits
  every Service of the namespace. This is the only way a pod reaches a ClusterIP besides an ipBlock
  that covers the Service range (the agent sees packets before kube-proxy's DNAT, the function's doc).
- C4 port translation (`getMatchingServicePort`; pkg/k8s/service_utils.go `LookupServiceListenPort`,
  `LookupListenPortFromPodSpec`): a rule port P becomes the Service port whose targetPort is P (same
  type: number for number, name for name), else the Service port whose targetPort names or numbers
  the container port P resolves to on a pod the Service selects. The entry is {port: that Service
  port, endPort: the rule's endPort, unchanged}. A rule port no Service port matches is dropped (so a
  range admits the ClusterIP only if it *starts* at the targetPort); none left: no entry for the
  Service. A numeric rule port whose Service port has a named targetPort is dropped if the name
  resolves, on some selected pod, to a port the rule does not admit (`hasTargetPortBypass`).
- C5 `IsServiceHeadless`: no ClusterIP entry for a Service with clusterIP None (its clients resolve the
  pods' addresses, judged as pod traffic).

The agent (pkg/fwruleprocessor/fw_rule_processor.go `ComputeMapEntriesFromEndpointRules`,
pkg/ebpf/c/tc.v4egress.bpf.c and tc.v4ingress.bpf.c, controllers/policyendpoints_controller.go):
- A1 programs on the pod's host-side veth: egress sees the packet as the pod sent it, destination the
  ClusterIP and Service port; ingress sees it after the DNAT: source the client pod's IP, destination
  port the pod's.
- A2 one LPM trie per direction and pod, keyed by the remote address; the entries of every policy
  selecting the pod are merged per CIDR; a CIDR inherits the ports of each shorter CIDR containing it
  unless it lies in that CIDR's excepts; every except CIDR that is not itself an entry gets a deny-all
  entry, whichever rule it came from. The longest matching prefix alone decides (`evaluateNamespace
  PolicyByLookUp`): no entry: deny (for a pod policies apply to).
- A3 the node's own IP gets an allow-all entry in both maps and rules naming it are skipped
  (`shouldSkipRule`): kubelet's probes, which come from the node's IP, always pass, and a pod always
  reaches its node's IP, on every port (the API only lets the node *in*).
- A4 a port matches when the protocol is equal (or any) and start is 0 (any), or port == start, or
  start < port <= end: a translated {port: 8000, endPort: 5670} admits 8000 alone.
- A5 at most 24 port entries per CIDR (`MAX_PORT_PROTOCOL`; `ComputeTrieValue` drops the rest, in map
  order): reported here as a fault.
- A6 no address is special: 169.254.169.254 and other link-local addresses are judged like any other
  (nothing in the agent exempts or blocks them).
- A7 a pod some policy selects is POLICIES_APPLIED; a direction without rules and not isolated by a
  policy's policyTypes gets a 0.0.0.0/0 catch-all entry; isolated without rules: only the node's IP.
  A pod no policy selects is DEFAULT_ALLOW in the "standard" mode (the VPC CNI's default, which the
  program keeps) and DEFAULT_DENY in "strict" (`cleanupPod`, `utils.IsStrictMode`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from tests.network_policy import NAMESPACE_NAME_LABEL, selects

STANDARD, STRICT = "standard", "strict"
ANY = "ANY"  # CATCH_ALL_PROTOCOL: every protocol and port
DENY = "DENY"  # DENY_ALL_PROTOCOL: an except block's entry
MAX_PORT_PROTOCOL = 24
ALL_V4 = "0.0.0.0/0"
# EKS gives Services addresses from one of these when the cluster sets no serviceIpv4Cidr, as the program
# does (the EKS API's KubernetesNetworkConfigRequest.serviceIpv4Cidr: "either"): tests hold for both.
EKS_SERVICE_CIDRS = ("10.100.0.0/16", "172.20.0.0/16")
# A CIDR as ipaddress parses it; firewall_map skips the rules whose block is not IPv4.
Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class ContainerPort:
    number: int
    name: str | None = None
    protocol: str = "TCP"


@dataclass(frozen=True)
class Pod:
    name: str
    namespace: str
    labels: Mapping[str, str]
    ip: str
    ports: tuple[ContainerPort, ...] = ()
    host_network: bool = False

    def lookup(self, port: int | str, protocol: str) -> tuple[int, str | None] | None:
        """`LookupContainerPortAndName` (pkg/k8s/pod_utils.go): a number the pod does not declare is
        kept as it is, a name it does not declare fails."""
        for p in self.ports:
            if p.protocol == protocol and (p.name == port if isinstance(port, str) else p.number == port):
                return p.number, p.name
        return None if isinstance(port, str) else (port, None)

    def first_named(self, name: str, protocol: str) -> int | None:
        return next((p.number for p in self.ports if p.name == name and p.protocol == protocol), None)


@dataclass(frozen=True)
class ServicePort:
    port: int
    target_port: int | str
    protocol: str = "TCP"
    name: str = ""


@dataclass(frozen=True)
class Service:
    namespace: str
    name: str
    selector: Mapping[str, str]
    ports: tuple[ServicePort, ...]
    cluster_ip: str | None  # None: headless

    @property
    def ident(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class L4:
    protocol: str  # TCP, UDP, SCTP, ANY or DENY
    port: int | None = None  # None: every port
    end_port: int | None = None

    def matches(self, protocol: str, port: int) -> bool:
        """tc.v4egress.bpf.c / tc.v4ingress.bpf.c `evaluateNamespacePolicyByLookUp` (A4)."""
        if self.protocol not in (ANY, protocol):
            return False
        start, end = self.port or 0, self.end_port or 0
        return start == 0 or port == start or start < port <= end


@dataclass(frozen=True)
class EndpointInfo:
    """One entry of a PolicyEndpoint: an address block and the ports it may use."""

    cidr: str
    excepts: tuple[str, ...] = ()
    ports: tuple[L4, ...] = ()


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str

    def __bool__(self) -> bool:
        return self.allowed


def _policy_ports(rule: Mapping[str, Any]) -> list[dict[str, Any]]:
    # The API server defaults a port's protocol to TCP.
    return [{**p, "protocol": p.get("protocol", "TCP")} for p in rule.get("ports") or []]


def _cidr_port(p: Mapping[str, Any]) -> L4 | None:
    """`convertToPolicyInfoPortForCIDRs`: a named port cannot apply to an address block."""
    if p.get("port") is None:
        return L4(p["protocol"], None, p.get("endPort"))
    if isinstance(p["port"], str):
        return None
    return L4(p["protocol"], p["port"], p.get("endPort"))


def _policy_types(spec: Mapping[str, Any]) -> list[str]:
    return spec.get("policyTypes") or (["Ingress"] + (["Egress"] if spec.get("egress") else []))


class Controller:
    """amazon-network-policy-controller-k8s: a NetworkPolicy's rules as PolicyEndpoint entries."""

    def __init__(
        self,
        policies: Iterable[Mapping[str, Any]],
        namespace_labels: Mapping[str, Mapping[str, str]],
        pods: Iterable[Pod],
        services: Iterable[Service],
    ):
        self.policies = list(policies)
        self.namespace_labels = {ns: {**labels, NAMESPACE_NAME_LABEL: ns} for ns, labels in namespace_labels.items()}
        self.pods = [p for p in pods if not p.host_network]
        self.services = list(services)

    def namespaces(self, policy_namespace: str, peer: Mapping[str, Any]) -> list[str]:
        if "namespaceSelector" not in peer:
            return [policy_namespace]
        return [ns for ns, labels in self.namespace_labels.items() if selects(peer["namespaceSelector"], labels)]

    def _pods(self, namespace: str, selector: Mapping[str, Any] | None) -> list[Pod]:
        return [p for p in self.pods if p.namespace == namespace and selects(selector, p.labels)]

    def selected(self, policy: Mapping[str, Any]) -> list[Pod]:
        return self._pods(policy["metadata"]["namespace"], policy["spec"].get("podSelector"))

    @staticmethod
    def pod_ports(pod: Pod, ports: Sequence[Mapping[str, Any]]) -> list[L4]:
        """`getPortList`."""
        found = []
        for p in ports:
            if p.get("port") is None:
                found.append(L4(p["protocol"], None, p.get("endPort")))
                continue
            resolved = pod.lookup(p["port"], p["protocol"])
            if resolved is not None:
                found.append(L4(p["protocol"], resolved[0], p.get("endPort")))
        return found

    def ingress(self, policy: Mapping[str, Any]) -> list[EndpointInfo]:
        found = []
        namespace = policy["metadata"]["namespace"]
        for rule in policy["spec"].get("ingress") or []:
            ports = _policy_ports(rule)
            if any(isinstance(p.get("port"), str) for p in ports):
                resolved = list(dict.fromkeys(l4 for pod in self.selected(policy) for l4 in self.pod_ports(pod, ports)))
            else:
                resolved = [l4 for p in ports if (l4 := _cidr_port(p)) is not None]
            if ports and not resolved:
                continue
            if not rule.get("from"):
                found.append(EndpointInfo(ALL_V4, (), tuple(resolved)))
                continue
            for peer in rule["from"]:
                if "ipBlock" in peer:
                    found.append(
                        EndpointInfo(
                            peer["ipBlock"]["cidr"], tuple(peer["ipBlock"].get("except") or ()), tuple(resolved)
                        )
                    )
                    continue
                for ns in self.namespaces(namespace, peer):
                    found += [
                        EndpointInfo(pod.ip, (), tuple(resolved)) for pod in self._pods(ns, peer.get("podSelector"))
                    ]
        return found

    def egress(self, policy: Mapping[str, Any]) -> list[EndpointInfo]:
        found = []
        namespace = policy["metadata"]["namespace"]
        for rule in policy["spec"].get("egress") or []:
            ports = _policy_ports(rule)
            cidr_ports = [l4 for p in ports if (l4 := _cidr_port(p)) is not None]
            if not rule.get("to"):
                if not ports or cidr_ports:
                    found.append(EndpointInfo(ALL_V4, (), tuple(cidr_ports)))
                continue
            for peer in rule["to"]:
                if "ipBlock" in peer:
                    if not ports or cidr_ports:
                        found.append(
                            EndpointInfo(
                                peer["ipBlock"]["cidr"], tuple(peer["ipBlock"].get("except") or ()), tuple(cidr_ports)
                            )
                        )
                    continue
                for ns in self.namespaces(namespace, peer):
                    for pod in self._pods(ns, peer.get("podSelector")):
                        pod_ports = self.pod_ports(pod, ports)
                        if not ports or pod_ports:
                            found.append(EndpointInfo(pod.ip, (), tuple(pod_ports)))
                    for svc in self.services:
                        if svc.namespace == ns and (
                            entry := self.cluster_ip_entry(svc, peer.get("podSelector"), ports)
                        ):
                            found.append(entry)
        return found

    def why_no_cluster_ip(
        self, svc: Service, selector: Mapping[str, Any] | None, ports: Sequence[Mapping[str, Any]]
    ) -> str | None:
        """`getMatchingServiceClusterIPs` for one Service and one peer: None if it admits the ClusterIP."""
        if svc.cluster_ip is None:
            return f"{svc.ident} is headless"
        if not selects(selector, svc.selector):
            return (
                f"the podSelector {dict(sorted(((selector or {}).get('matchLabels') or {}).items()))} is not contained "
                f"in the selector of Service {svc.ident} {dict(sorted(svc.selector.items()))}"
            )
        if ports and not self._service_ports(svc, ports):
            return (
                f"no rule port starts at a targetPort of Service {svc.ident} "
                f"({[p.target_port for p in svc.ports]}; the rule's ports: "
                f"{[(p.get('port'), p.get('endPort')) for p in ports]})"
            )
        return None

    def cluster_ip_entry(
        self, svc: Service, selector: Mapping[str, Any] | None, ports: Sequence[Mapping[str, Any]]
    ) -> EndpointInfo | None:
        if self.why_no_cluster_ip(svc, selector, ports) is not None:
            return None
        assert svc.cluster_ip is not None  # why_no_cluster_ip refuses a headless Service
        return EndpointInfo(svc.cluster_ip, (), tuple(self._service_ports(svc, ports)))

    def backends(self, svc: Service) -> list[Pod]:
        # labels.Set(svc.Spec.Selector).AsSelector(): an empty selector matches every pod.
        return [
            p
            for p in self.pods
            if p.namespace == svc.namespace and all(p.labels.get(k) == v for k, v in svc.selector.items())
        ]

    def _service_ports(self, svc: Service, ports: Sequence[Mapping[str, Any]]) -> list[L4]:
        found = []
        for p in ports:
            if p.get("port") is None:
                found.append(L4(p["protocol"], None, p.get("endPort")))
                continue
            listen = self._listen_port(svc, p["port"], p["protocol"])
            if listen is None:
                continue
            if isinstance(p["port"], int) and self._target_port_bypass(svc, listen, p["protocol"], ports):
                continue
            found.append(L4(p["protocol"], listen, p.get("endPort")))
        return found

    def _listen_port(self, svc: Service, port: int | str, protocol: str) -> int | None:
        """`getMatchingServicePort`: the Service's own targetPorts first, then the selected pods' ports."""
        for sp in svc.ports:
            if type(sp.target_port) is type(port) and sp.target_port == port and sp.protocol == protocol:
                return sp.port
        for pod in self.backends(svc):
            resolved = pod.lookup(port, protocol)
            if resolved is None:
                continue
            number, name = resolved
            for sp in svc.ports:
                if sp.protocol == protocol and (
                    sp.target_port == name if isinstance(sp.target_port, str) else sp.target_port == number
                ):
                    return sp.port
        return None

    def _target_port_bypass(self, svc: Service, listen: int, protocol: str, ports: Sequence[Mapping[str, Any]]) -> bool:
        """`hasTargetPortBypass`: a named targetPort that lands on a port the rule does not admit."""
        name = next(
            (
                sp.target_port
                for sp in svc.ports
                if sp.port == listen and sp.protocol == protocol and isinstance(sp.target_port, str)
            ),
            None,
        )
        if name is None:
            return False
        for pod in self.backends(svc):
            number = pod.first_named(name, protocol)
            if number is not None and not any(
                p["protocol"] == protocol
                and (
                    p.get("port") is None
                    or (isinstance(p["port"], int) and p["port"] <= number <= p.get("endPort", p["port"]))
                )
                for p in ports
            ):
                return True
        return False


def _network(cidr: str) -> Network:
    return ipaddress.ip_network(cidr if "/" in cidr else f"{cidr}/32", strict=False)


def firewall_map(rules: Sequence[EndpointInfo], node_ip: str) -> dict[Network, tuple[L4, ...]]:
    """`ComputeMapEntriesFromEndpointRules` (A2, A3): the LPM trie's entries, IPv4 only."""
    node = _network(node_ip)
    entries: dict[Network, tuple[L4, ...]] = {node: (L4(ANY),)}
    merged: dict[Network, tuple[list[L4], list[str]]] = {}
    excepts: list[str] = []
    for rule in sorted(rules, key=lambda r: _network(r.cidr).prefixlen):  # a stable sort, as SliceStable
        excepts += rule.excepts
        net = _network(rule.cidr)
        if net.version != 4 or net.network_address == node.network_address:
            continue
        ports, rule_excepts = list(rule.ports) or [L4(ANY)], list(rule.excepts)
        if net in merged:
            ports += merged[net][0]
            rule_excepts += merged[net][1]
        else:
            for broader, (broader_ports, broader_excepts) in merged.items():
                if (
                    broader.prefixlen != 32
                    and broader.prefixlen < net.prefixlen
                    and net.network_address in broader
                    and not any(net.network_address in _network(e) for e in broader_excepts)
                ):
                    ports += broader_ports
        merged[net] = (ports, rule_excepts)
    for e in excepts:
        merged.setdefault(_network(e), ([L4(DENY)], []))
    for net, (ports, _) in merged.items():
        entries[net] = tuple(dict.fromkeys(ports))
    return entries


def lookup(entries: Mapping[Network, tuple[L4, ...]], ip: str, protocol: str, port: int) -> Verdict:
    """The LPM lookup and the port loop of `evaluateNamespacePolicyByLookUp`."""
    address = ipaddress.ip_address(ip)
    matching = [n for n in entries if address in n]
    if not matching:
        return Verdict(False, f"no entry covers {ip}")
    net = max(matching, key=lambda n: n.prefixlen)
    values = entries[net]
    if len(values) > MAX_PORT_PROTOCOL:
        return Verdict(False, f"{net} has {len(values)} port entries; the agent keeps {MAX_PORT_PROTOCOL}")
    for v in values:
        if v.protocol == DENY:
            return Verdict(False, f"{ip} lies in an except block ({net}: deny all)")
        if v.matches(protocol, port):
            return Verdict(True, f"{net} admits {protocol} {port}")
    return Verdict(False, f"{net} admits {[(v.protocol, v.port, v.end_port) for v in values]}, not {protocol} {port}")


class Agent:
    """aws-network-policy-agent on the node: each pod's ingress and egress maps, and its verdicts."""

    def __init__(self, controller: Controller, node_ip: str, mode: str = STANDARD):
        assert mode in (STANDARD, STRICT), mode
        self.controller, self.node_ip, self.mode = controller, node_ip, mode
        self._maps: dict[tuple[str, str, str], dict[Network, tuple[L4, ...]] | None] = {}

    def policies(self, pod: Pod) -> list[Mapping[str, Any]]:
        return [
            p
            for p in self.controller.policies
            if p["metadata"]["namespace"] == pod.namespace and selects(p["spec"].get("podSelector"), pod.labels)
        ]

    def entries(self, pod: Pod, direction: str) -> dict[Network, tuple[L4, ...]] | None:
        """The pod's map for "Ingress" or "Egress"; None: no policy selects it (its default state decides)."""
        key = (pod.namespace, pod.ip, direction)
        if key not in self._maps:
            policies = self.policies(pod)
            if not policies:
                self._maps[key] = None
            else:
                resolve = self.controller.ingress if direction == "Ingress" else self.controller.egress
                rules = [e for p in policies for e in resolve(p)]
                isolated = any(direction in _policy_types(p["spec"]) for p in policies)
                if not rules and not isolated:
                    rules = [EndpointInfo(ALL_V4)]
                self._maps[key] = firewall_map(rules, self.node_ip)
        return self._maps[key]

    def _judge(self, pod: Pod, direction: str, remote: str, port: int, protocol: str) -> Verdict:
        entries = self.entries(pod, direction)
        if entries is None:
            if self.mode == STANDARD or remote == self.node_ip:
                return Verdict(True, f"no policy selects {pod.namespace}/{pod.name} ({self.mode} mode)")
            return Verdict(False, f"no policy selects {pod.namespace}/{pod.name} (strict mode: default deny)")
        verdict = lookup(entries, remote, protocol, port)
        return Verdict(verdict.allowed, f"{direction.lower()} of {pod.namespace}/{pod.name}: {verdict.reason}")

    def egress(self, pod: Pod, destination: str, port: int, protocol: str = "TCP") -> Verdict:
        return self._judge(pod, "Egress", destination, port, protocol)

    def ingress(self, pod: Pod, source: str, port: int, protocol: str = "TCP") -> Verdict:
        return self._judge(pod, "Ingress", source, port, protocol)

    def probe(self, pod: Pod, port: int) -> Verdict:
        """kubelet's probe, from the node's IP (A3)."""
        return self.ingress(pod, self.node_ip, port)

    def pod_to_pod(self, source: Pod, destination: Pod, port: int, protocol: str = "TCP") -> Verdict:
        out = self.egress(source, destination.ip, port, protocol)
        return self.ingress(destination, source.ip, port, protocol) if out else out

    def to_service(self, client: Pod, service: Service, port: int, protocol: str = "TCP") -> Verdict:
        """A call to a Service's name and port: egress pre-DNAT to the ClusterIP, ingress at each of its
        pods on the pod port (A1); a headless Service's clients call its pods directly (C5)."""
        service_port = next((p for p in service.ports if p.port == port and p.protocol == protocol), None)
        if service_port is None:
            return Verdict(False, f"Service {service.ident} has no {protocol} port {port}")
        backends = self.controller.backends(service)
        if not backends:
            return Verdict(False, f"Service {service.ident} selects no pod")
        for pod in backends:
            target = (
                pod.first_named(service_port.target_port, protocol)
                if isinstance(service_port.target_port, str)
                else service_port.target_port
            )
            if target is None:
                return Verdict(False, f"{pod.namespace}/{pod.name} declares no port {service_port.target_port!r}")
            if service.cluster_ip is None:
                out = self.egress(client, pod.ip, target, protocol)
            else:
                out = self.egress(client, service.cluster_ip, port, protocol)
                if not out:
                    return Verdict(False, f"{out.reason}; {self.explain(client, service, pod, target, protocol)}")
            if not out:
                return out
            into = self.ingress(pod, client.ip, target, protocol)
            if not into:
                return into
        return Verdict(True, f"{client.namespace}/{client.name} reaches {service.ident}:{port}")

    def explain(self, client: Pod, service: Service, pod: Pod, target: int, protocol: str) -> str:
        """Why the controller made no ClusterIP entry from the rules that name the Service's pods."""
        reasons = []
        for policy in self.policies(client):
            for rule in policy["spec"].get("egress") or []:
                ports = _policy_ports(rule)
                if ports and not any(l4.matches(protocol, target) for l4 in self.controller.pod_ports(pod, ports)):
                    continue
                for peer in rule.get("to") or []:
                    if (
                        "ipBlock" in peer
                        or pod.namespace not in self.controller.namespaces(policy["metadata"]["namespace"], peer)
                        or not selects(peer.get("podSelector"), pod.labels)
                    ):
                        continue
                    why = self.controller.why_no_cluster_ip(service, peer.get("podSelector"), ports)
                    reasons.append(
                        f"policy {policy['metadata']['namespace']}/{policy['metadata']['name']}: "
                        + (why or "its ClusterIP entry does not admit the Service port")
                    )
        return "; ".join(reasons) or f"no egress rule names the pods of {service.ident} on port {target}"


def service_addresses(cidr: str, services: Iterable[Any], first: int = 100) -> dict[tuple[str, str], str]:
    """A ClusterIP per (namespace, name), from the Service range (the API server allocates them)."""
    hosts = ipaddress.ip_network(cidr).hosts()
    for _ in range(first - 1):
        next(hosts)
    return {key: str(next(hosts)) for key in services}


@dataclass(frozen=True)
class DroppedRule:
    """An egress rule that, by the API, admits a Service's pods on its targetPort, but whose ClusterIP
    entry the controller does not make for that Service port: clients calling the Service are dropped."""

    policy: str
    rule: int
    service: str
    port: int
    reason: str


def _api_admits_port(ports: Sequence[Mapping[str, Any]], pod: Pod, port: int, protocol: str) -> bool:
    if not ports:
        return True
    for p in ports:
        if p["protocol"] != protocol:
            continue
        if (
            p.get("port") is None
            or (isinstance(p["port"], str) and pod.first_named(p["port"], protocol) == port)
            or (isinstance(p["port"], int) and p["port"] <= port <= p.get("endPort", p["port"]))
        ):
            return True
    return False


def dropped_service_rules(controller: Controller) -> list[DroppedRule]:
    found = []
    for policy in controller.policies:
        name = f"{policy['metadata']['namespace']}/{policy['metadata']['name']}"
        for index, rule in enumerate(policy["spec"].get("egress") or []):
            ports = _policy_ports(rule)
            for peer in rule.get("to") or []:
                if "ipBlock" in peer:
                    continue
                for ns in controller.namespaces(policy["metadata"]["namespace"], peer):
                    for svc in controller.services:
                        if svc.namespace != ns or svc.cluster_ip is None:
                            continue
                        entry = controller.cluster_ip_entry(svc, peer.get("podSelector"), ports)
                        for sp in svc.ports:
                            named = [
                                pod for pod in controller.backends(svc) if selects(peer.get("podSelector"), pod.labels)
                            ]
                            if not any(
                                _api_admits_port(ports, pod, target, sp.protocol)
                                for pod in named
                                if (
                                    target := pod.first_named(sp.target_port, sp.protocol)
                                    if isinstance(sp.target_port, str)
                                    else sp.target_port
                                )
                                is not None
                            ):
                                continue
                            if entry and (
                                not entry.ports or any(l4.matches(sp.protocol, sp.port) for l4 in entry.ports)
                            ):
                                continue
                            reason = controller.why_no_cluster_ip(svc, peer.get("podSelector"), ports)
                            if reason is None:
                                assert entry is not None  # cluster_ip_entry gives one whenever there is no reason
                                reason = (
                                    f"the translated ports {[(l4.port, l4.end_port) for l4 in entry.ports]} miss "
                                    f"Service port {sp.port}"
                                )
                            found.append(DroppedRule(name, index, svc.ident, sp.port, reason))
    return list(dict.fromkeys(found))
