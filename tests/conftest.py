import functools

import pytest

from tests.harness import Graph, run_program, stack_names


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
