import functools

import pytest

from tests.harness import Graph, managed_gpu_config, run_program, stack_names


@functools.cache
def graph_of(stack: str) -> Graph:
    """One program run per stack file, shared by every test that reads its graph."""
    return run_program(stack)


@pytest.fixture(params=stack_names())
def graph(request) -> Graph:
    return graph_of(request.param)


@pytest.fixture
def dev() -> Graph:
    return graph_of("dev")


@pytest.fixture
def prod() -> Graph:
    return graph_of("prod")


@functools.cache
def _managed_gpu() -> Graph:
    return run_program("dev", managed_gpu_config())


@pytest.fixture
def managed_gpu() -> Graph:
    """The dev stack with a managed GPU node group instead of Karpenter pools (the opt-in path)."""
    return _managed_gpu()
