"""Whether a Karpenter NodePool can provision a node for a pending pod, as Karpenter 1.14.1 decides it.

Read from kubernetes-sigs/karpenter v1.14.1 (6e7eab7a0f485d7225eb98995fad9b66c79b322b) and
aws/karpenter-provider-aws v1.14.1; "core:" and "aws:" below name files in those repositories.
The checks are core:pkg/controllers/provisioning/scheduling/nodeclaim.go `CanAdd`: the pool's taints
must be tolerated, then the pool's requirements must be `Compatible` with the pod's, with undefined
well-known labels allowed. Before that the provisioner drops pods that fail its `Validate`
(core:pkg/controllers/provisioning/provisioner.go) and NodePools that are static (`spec.replicas`) or
being deleted (`NewScheduler` there).

Not modelled: whether the pool's instance types and offerings can meet the pod's resource requests and
well-known label values (e.g. a pod asking for `instance-family: g5` on a pool of g6 sizes passes
here, fails there), `spec.limits`, `minValues`, the NodePool's Ready condition, topology spread,
pod (anti-)affinity, volume topology, DRA, existing and in-flight nodes, and preferred node affinity,
which the scheduler relaxes away (core:.../scheduling/preferences.go). One quirk of that relaxation is
left out too: it drops required nodeSelectorTerms before preferred terms, so a pod with both can miss
an earlier term that fits alone; here every required term is tried on its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# core:pkg/apis/v1/labels.go WellKnownLabels, plus what aws:pkg/apis/v1/labels.go init() inserts.
WELL_KNOWN_LABELS = frozenset(
    (
        "karpenter.sh/nodepool karpenter.sh/capacity-type topology.kubernetes.io/zone topology.kubernetes.io/region "
        "node.kubernetes.io/instance-type kubernetes.io/arch kubernetes.io/os node.kubernetes.io/windows-build "
        "topology.k8s.aws/zone-id"
    ).split()
    + [
        "karpenter.k8s.aws/" + name
        for name in (
            "capacity-reservation-id capacity-reservation-type capacity-reservation-interruptible "
            "instance-hypervisor instance-encryption-in-transit-supported instance-category "
            "instance-capability-flex instance-family instance-generation instance-size instance-local-nvme "
            "instance-cpu instance-cpu-manufacturer instance-cpu-sustained-clock-speed-mhz instance-memory "
            "instance-ebs-bandwidth instance-network-bandwidth instance-gpu-name instance-gpu-manufacturer "
            "instance-gpu-count instance-gpu-memory instance-accelerator-name instance-accelerator-manufacturer "
            "instance-accelerator-count instance-tenancy placement-group-id placement-group-partition"
        ).split()
    ]
)
# core:pkg/apis/v1/labels.go RestrictedLabelDomains (aws adds its own group) and RestrictedLabels.
RESTRICTED_LABEL_DOMAINS = ("karpenter.sh", "karpenter.k8s.aws")
RESTRICTED_LABELS = frozenset({"kubernetes.io/hostname"})
# core:pkg/apis/v1/labels.go NormalizedLabels: applied to every requirement's key (requirement.go).
NORMALIZED_LABELS = {
    "failure-domain.beta.kubernetes.io/zone": "topology.kubernetes.io/zone",
    "failure-domain.beta.kubernetes.io/region": "topology.kubernetes.io/region",
    "beta.kubernetes.io/arch": "kubernetes.io/arch",
    "beta.kubernetes.io/os": "kubernetes.io/os",
    "beta.kubernetes.io/instance-type": "node.kubernetes.io/instance-type",
}
# core:pkg/apis/v1/nodeclaim_validation.go SupportedNodeSelectorOps (Gte/Lte are Karpenter's own).
OPERATORS = frozenset({"In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt", "Gte", "Lte"})
_NEGATIVE = ("NotIn", "DoesNotExist")
_INT = re.compile(r"[+-]?[0-9]+")  # what Go's strconv.Atoi accepts


def _within_bounds(value: str, gte: int | None, lte: int | None) -> bool:
    # core:pkg/scheduling/requirement.go withinBounds: with a bound set, a non-integer value is out.
    if gte is None and lte is None:
        return True
    if not _INT.fullmatch(value):
        return False
    return (gte is None or int(value) >= gte) and (lte is None or int(value) <= lte)


def _bounds(a: Requirement, b: Requirement) -> tuple[int | None, int | None]:
    # maxIntPtr of the lower bounds, minIntPtr of the upper ones (a missing bound is no bound).
    gte = [x for x in (a.gte, b.gte) if x is not None]
    lte = [x for x in (a.lte, b.lte) if x is not None]
    return (max(gte) if gte else None), (min(lte) if lte else None)


@dataclass(frozen=True)
class Requirement:
    """core:pkg/scheduling/requirement.go: a value set (or its complement) with optional integer bounds."""

    key: str
    complement: bool
    values: frozenset[str] = frozenset()
    gte: int | None = None  # inclusive; Gt N is kept as >= N+1
    lte: int | None = None  # inclusive; Lt N is kept as <= N-1

    @classmethod
    def new(cls, key: str, operator: str, values: list[str] | tuple[str, ...] = ()) -> Requirement:
        # NewRequirementWithFlexibility: In/DoesNotExist are plain sets, NotIn/Exists/Gt/Lt complements.
        key = NORMALIZED_LABELS.get(key, key)
        if operator in ("In", "DoesNotExist", "NotIn", "Exists"):
            chosen = frozenset(values) if operator in ("In", "NotIn") else frozenset()
            return cls(key, operator in ("NotIn", "Exists"), chosen)
        if operator not in OPERATORS:
            raise ValueError(f"unsupported operator {operator!r} for {key}")
        bound = int(values[0])
        offset = {"Gt": 1, "Gte": 0, "Lt": -1, "Lte": 0}[operator]
        if operator.startswith("G"):
            return cls(key, True, gte=bound + offset)
        return cls(key, True, lte=bound + offset)

    @property
    def operator(self) -> str:
        # Operator(): a bounded complement with no values reads as Exists.
        if self.complement:
            return "NotIn" if self.values else "Exists"
        return "In" if self.values else "DoesNotExist"

    def __str__(self) -> str:
        # String(), with Go's fmt of a sorted []string.
        text = f"{self.key} {self.operator}"
        if self.operator in ("In", "NotIn"):
            text += " [" + " ".join(sorted(self.values)) + "]"
        text += "" if self.gte is None else f" >={self.gte}"
        return text + ("" if self.lte is None else f" <={self.lte}")

    def intersection(self, other: Requirement) -> Requirement:
        # Intersection(): how requirements on one key combine (Requirements.Add).
        complement = self.complement and other.complement
        gte, lte = _bounds(self, other)
        if gte is not None and lte is not None and gte > lte:
            return Requirement(self.key, False)
        if complement:
            values = self.values | other.values
        elif self.complement:
            values = other.values - self.values
        elif other.complement:
            values = self.values - other.values
        else:
            values = self.values & other.values
        values = frozenset(v for v in values if _within_bounds(v, gte, lte))
        return Requirement(self.key, complement, values, *((gte, lte) if complement else (None, None)))

    def has_intersection(self, other: Requirement) -> bool:
        # HasIntersection(): whether any value satisfies both.
        gte, lte = _bounds(self, other)
        if gte is not None and lte is not None and gte > lte:
            return False
        if self.complement and other.complement:
            return True
        if self.complement or other.complement:
            plain, comp = (other, self) if self.complement else (self, other)
            return any(v not in comp.values and _within_bounds(v, gte, lte) for v in plain.values)
        return any(v in other.values and _within_bounds(v, gte, lte) for v in self.values)


class Requirements(dict[str, Requirement]):
    """core:pkg/scheduling/requirements.go Requirements: one Requirement per key, intersected on Add."""

    def add(self, *requirements: Requirement) -> Requirements:
        for req in requirements:
            self[req.key] = req.intersection(self[req.key]) if req.key in self else req
        return self

    def compatible(self, pod: Requirements) -> str | None:
        """Compatible(pod, AllowUndefinedWellKnownLabels), self being the pool's: None, or why not."""
        for key in sorted(pod):
            # A custom label the pool doesn't define is denied, unless the pod only rules values out.
            if key not in WELL_KNOWN_LABELS and key not in self and pod[key].operator not in _NEGATIVE:
                return f'label "{key}" does not have known values'
        errors = []  # Intersects(): keys both define must share a value, unless both only rule values out.
        for key in sorted(self.keys() & pod.keys()):
            pool_req, pod_req = self[key], pod[key]
            if pool_req.has_intersection(pod_req):
                continue
            if pod_req.operator in _NEGATIVE and pool_req.operator in _NEGATIVE:
                continue
            errors.append(f"key {key}, {pod_req} not in {pool_req}")
        return "; ".join(errors) or None


def _expr(expression: dict[str, Any]) -> Requirement:
    return Requirement.new(expression["key"], expression["operator"], expression.get("values") or [])


def nodepool_requirements(nodepool: dict[str, Any]) -> Requirements:
    """The pool's requirements as core:.../scheduling/nodeclaimtemplate.go NewNodeClaimTemplate builds them:
    spec.template.spec.requirements, then each template label (plus karpenter.sh/nodepool and the
    node class label) as `In [value]`, then karpenter.sh/registered and /initialized `In [true]`."""
    template = nodepool.get("spec", {}).get("template", {})
    labels = dict(template.get("metadata", {}).get("labels") or {})
    labels["karpenter.sh/nodepool"] = nodepool["metadata"]["name"]
    if ref := template.get("spec", {}).get("nodeClassRef"):  # core:pkg/apis/v1/labels.go NodeClassLabelKey
        labels[f"{ref['group']}/{ref['kind'].lower()}"] = ref["name"]
    reqs = Requirements().add(*(_expr(r) for r in template.get("spec", {}).get("requirements") or []))
    reqs.add(*(Requirement.new(key, "In", [value]) for key, value in labels.items()))
    return reqs.add(*(Requirement.new(f"karpenter.sh/{k}", "In", ["true"]) for k in ("registered", "initialized")))


def _node_affinity(pod_spec: dict[str, Any]) -> dict[str, Any]:
    return (pod_spec.get("affinity") or {}).get("nodeAffinity") or {}


def _required_terms(pod_spec: dict[str, Any]) -> list[dict[str, Any]]:
    required = _node_affinity(pod_spec).get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    return required.get("nodeSelectorTerms") or []


def pod_requirements(pod_spec: dict[str, Any]) -> list[Requirements]:
    """One Requirements per required nodeSelectorTerm (nodeSelector `In [value]` plus the term's
    matchExpressions), ORed; just the nodeSelector's when there are none. core:pkg/scheduling/requirements.go
    newPodRequirements takes the first term, and preferences.go removeRequiredNodeAffinityTerm drops it
    for the next while the pod fails. An empty term adds nothing, so it fits any pool."""
    selector = [Requirement.new(k, "In", [v]) for k, v in (pod_spec.get("nodeSelector") or {}).items()]
    terms = _required_terms(pod_spec) or [{}]
    return [Requirements().add(*selector, *(_expr(e) for e in t.get("matchExpressions") or [])) for t in terms]


def _restricted(key: str) -> bool:
    # core:pkg/apis/v1/labels.go IsRestrictedLabel.
    if key in WELL_KNOWN_LABELS:
        return False
    domain = key.split("/", 1)[0] if "/" in key else ""
    return any(domain == d or domain.endswith("." + d) for d in RESTRICTED_LABEL_DOMAINS) or key in RESTRICTED_LABELS


def _validation_error(pod_spec: dict[str, Any]) -> str | None:
    """core:pkg/controllers/provisioning/provisioner.go Validate: a failing pod is ignored by the provisioner."""
    terms = _required_terms(pod_spec)
    expressions = [{"key": k, "operator": "In"} for k in pod_spec.get("nodeSelector") or {}]
    expressions += [e for t in terms for e in t.get("matchExpressions") or []]
    for expression in expressions:  # validateNodeSelectorTerm -> nodeclaim_validation.go ValidateRequirement
        key = NORMALIZED_LABELS.get(expression["key"], expression["key"])
        if expression["operator"] not in OPERATORS:
            return f"key {key} has an unsupported operator {expression['operator']}"
        if _restricted(key):
            return f"using label {key} is not allowed as it might interfere with the internal provisioning logic"
    if any(t.get("matchFields") for t in terms):
        return "node selector term with matchFields is not supported"
    # validateKarpenterManagedLabelCanExist reads NewPodRequirements: the heaviest preference and first term.
    reqs = pod_requirements({**pod_spec, "affinity": {}})[0]
    if preferred := _node_affinity(pod_spec).get("preferredDuringSchedulingIgnoredDuringExecution"):
        heaviest = max(preferred, key=lambda p: p.get("weight", 0))
        reqs.add(*(_expr(e) for e in heaviest.get("preference", {}).get("matchExpressions") or []))
    reqs.add(*(_expr(e) for e in (terms[0].get("matchExpressions") or [] if terms else [])))
    if "karpenter.sh/nodepool" in reqs and reqs["karpenter.sh/nodepool"].operator == "DoesNotExist":
        return "configured to not run on a Karpenter provisioned node"
    return None


def _tolerates(toleration: dict[str, Any], taint: dict[str, Any]) -> bool:
    # k8s.io/api core/v1/toleration.go ToleratesTaint (v0.35.1, comparison operators on as Karpenter asks).
    if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
        return False
    if toleration.get("key") and toleration["key"] != taint.get("key"):
        return False
    operator = toleration.get("operator") or "Equal"
    value, taint_value = toleration.get("value") or "", taint.get("value") or ""
    if operator == "Equal":
        return value == taint_value
    if operator == "Exists":
        return True
    if operator in ("Lt", "Gt") and _INT.fullmatch(value) and _INT.fullmatch(taint_value):
        return int(taint_value) < int(value) if operator == "Lt" else int(taint_value) > int(value)
    return False


def _taint_text(taint: dict[str, Any]) -> str:  # core:pkg/utils/pretty/pretty.go Taint
    value = taint.get("value") or ""
    return f"{taint['key']}={value}:{taint['effect']}" if value else f"{taint['key']}:{taint['effect']}"


def incompatibility(pod_spec: dict[str, Any], nodepool: dict[str, Any]) -> str | None:
    """None when the NodePool can provision a node for the pod (a Deployment's spec.template.spec), else why not."""
    if error := _validation_error(pod_spec):
        return f"ignoring pod, {error}"
    if nodepool.get("spec", {}).get("replicas") is not None:
        return "static NodePool (spec.replicas): the provisioner does not schedule pending pods to it"
    if nodepool.get("metadata", {}).get("deletionTimestamp"):
        return "NodePool is being deleted"
    template_spec = nodepool.get("spec", {}).get("template", {}).get("spec", {})
    tolerations = pod_spec.get("tolerations") or []
    # core:pkg/scheduling/taints.go Tolerates, over the NodeClaim's spec.taints only: startupTaints are never
    # checked. PreferNoSchedule taints are skipped: scheduler.go NewScheduler turns on the relaxation
    # (preferences.go toleratePreferNoScheduleTaints) that tolerates them whenever a pool has one.
    untolerated = [
        f"did not tolerate taint {_taint_text(taint)}"
        for taint in template_spec.get("taints") or []
        if taint.get("effect") != "PreferNoSchedule" and not any(_tolerates(t, taint) for t in tolerations)
    ]
    if untolerated:
        return "; ".join(untolerated)
    pool = nodepool_requirements(nodepool)
    reasons = [pool.compatible(reqs) for reqs in pod_requirements(pod_spec)]
    if None in reasons:
        return None
    if len(reasons) == 1:
        return f"incompatible requirements, {reasons[0]}"
    return "; ".join(f"nodeSelectorTerms[{i}]: incompatible requirements, {r}" for i, r in enumerate(reasons))


def provisioning_pools(pod_spec: dict[str, Any], nodepools: list[dict[str, Any]]) -> list[str]:
    """Names of the NodePools that can provision the pod, in the order Karpenter tries them
    (core:pkg/utils/nodepool/nodepool.go OrderByWeight: weight descending, then name descending), so the
    first is the one it picks when instance types and limits don't intervene."""
    ordered = sorted(nodepools, key=lambda p: (p.get("spec", {}).get("weight") or 0, p["metadata"]["name"]))
    return [p["metadata"]["name"] for p in reversed(ordered) if incompatibility(pod_spec, p) is None]
