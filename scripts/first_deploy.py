"""Predicts what `pulumi up` waits for and how long it takes, for each stack file:

    python -m scripts.first_deploy [stack ...]          (default: every Pulumi.<stack>.yaml)

Each stack is run under the test mocks (nothing reaches AWS) and its graph is read by
tests/deploy_model.py, which follows pulumi-kubernetes' await rules and AWS's creation times: once
as a first deploy (nothing exists yet), once against a running cluster (the AWS layer is up). It
prints the predicted duration, the resources that finish last, every awaited Kubernetes object with
its timeout, and exits 1 when anything awaited would time out.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from tests import deploy_model
from tests.harness import run_program, stack_names


def main(stacks: list[str], out: Callable[[str], None] = print) -> int:
    failed = False
    for stack in stacks or stack_names():
        graph = run_program(stack)
        for world in deploy_model.WORLDS:
            timeline = deploy_model.timeline(graph, world)
            deploy_model.report(timeline, out)
            failed = failed or bool(timeline.failures)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
