"""NetworkPolicy evaluation, as the API defines it (networking.k8s.io/v1), over pods with addresses.

A flow from one pod to a port of another is allowed when the source is not isolated for egress or
some egress rule of a policy selecting it admits the destination, and likewise for the destination's
ingress. A rule admits a peer by pod and namespace selectors (matchLabels and matchExpressions; a
bare podSelector means the policy's own namespace) or by ipBlock (the pod's address inside `cidr`
and outside every `except`), and a port by number, number range (`endPort`) or name, a name being
resolved against the destination pod's container ports. Pods get addresses in the VPC's CIDR, as
the VPC CNI gives them: an ipBlock that excludes private ranges excludes pods.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # set by the API server on every namespace


@dataclass(frozen=True)
class Endpoint:
    """The pods of one workload, as policies see them."""

    name: str
    namespace: str
    labels: Mapping[str, str]
    ip: str
    ports: Mapping[str, int] = field(default_factory=dict)  # container port name -> number (TCP)
    numbers: tuple[int, ...] = ()  # every declared TCP container port
    pod: bool = True  # False: an address outside the cluster, which only an ipBlock matches


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A LabelSelector: an empty one selects everything."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for e in selector.get("matchExpressions") or []:
        key, op, values = e["key"], e["operator"], e.get("values") or []
        present = key in labels
        if (
            (op == "In" and not (present and labels[key] in values))
            or (op == "NotIn" and present and labels[key] in values)
            or (op == "Exists" and not present)
            or (op == "DoesNotExist" and present)
        ):
            return False
    return True


def _in_block(ip: str, block: Mapping[str, Any]) -> bool:
    address = ipaddress.ip_address(ip)
    return address in ipaddress.ip_network(block["cidr"]) and not any(
        address in ipaddress.ip_network(e) for e in block.get("except") or []
    )


class Evaluator:
    def __init__(self, policies: Iterable[dict[str, Any]], namespace_labels: Mapping[str, Mapping[str, str]]):
        self.policies = list(policies)
        self.namespace_labels = {ns: {**labels, NAMESPACE_NAME_LABEL: ns} for ns, labels in namespace_labels.items()}

    def _selecting(self, e: Endpoint, direction: str) -> list[dict[str, Any]]:
        found = []
        for p in self.policies:
            spec = p["spec"]
            types = spec.get("policyTypes") or (["Ingress"] + (["Egress"] if spec.get("egress") else []))
            if (
                p["metadata"]["namespace"] == e.namespace
                and direction in types
                and selects(spec.get("podSelector"), e.labels)
            ):
                found.append(p)
        return found

    def _peer(self, peer: Mapping[str, Any], policy_namespace: str, other: Endpoint) -> bool:
        if "ipBlock" in peer:
            return _in_block(other.ip, peer["ipBlock"])
        if not other.pod:
            return False
        if "namespaceSelector" in peer:
            ns_ok = selects(
                peer["namespaceSelector"],
                self.namespace_labels.get(other.namespace, {NAMESPACE_NAME_LABEL: other.namespace}),
            )
        else:
            ns_ok = other.namespace == policy_namespace
        return ns_ok and selects(peer.get("podSelector"), other.labels)

    @staticmethod
    def _port(rule: Mapping[str, Any], destination: Endpoint, port: int) -> bool:
        specs = rule.get("ports")
        if not specs:
            return True
        for p in specs:
            if p.get("protocol", "TCP") != "TCP":
                continue
            number = p.get("port")
            if number is None:
                return True
            if isinstance(number, str):
                number = destination.ports.get(number)
                if number is None:
                    continue  # a name the destination does not declare matches nothing
                if number == port:
                    return True
            elif number <= port <= p.get("endPort", number):
                return True
        return False

    def _admits(self, e: Endpoint, other: Endpoint, destination: Endpoint, port: int, direction: str) -> bool:
        policies = self._selecting(e, direction)
        if not policies:
            return True  # not isolated in this direction
        rules_key, peers_key = ("egress", "to") if direction == "Egress" else ("ingress", "from")
        return any(
            self._port(rule, destination, port)
            and (
                not rule.get(peers_key)
                or any(self._peer(x, p["metadata"]["namespace"], other) for x in rule[peers_key])
            )
            for p in policies
            for rule in p["spec"].get(rules_key) or []
        )

    def allows(self, source: Endpoint, destination: Endpoint, port: int) -> bool:
        return self._admits(source, destination, destination, port, "Egress") and self._admits(
            destination, source, destination, port, "Ingress"
        )

    def flows(self, endpoints: Iterable[Endpoint]) -> set[tuple[str, str, int]]:
        """(source, destination, port) for every allowed pod-to-pod flow to a declared port."""
        eps = list(endpoints)
        return {
            (s.name, d.name, port)
            for s in eps
            for d in eps
            if s is not d
            for port in d.numbers
            if self.allows(s, d, port)
        }


def addresses(cidr: str, count: int) -> list[str]:
    """Distinct pod addresses in the VPC's range (the VPC CNI gives pods VPC addresses)."""
    network = ipaddress.ip_network(cidr)
    hosts = network.hosts()
    for _ in range(10):  # skip the subnet's first addresses, as AWS reserves them
        next(hosts)
    return [str(next(hosts)) for _ in range(count)]
