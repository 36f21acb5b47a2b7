import pytest

from tests.support.cluster import namespace_for


@pytest.fixture
def ns(server, request):
    """A fresh namespace named after the test."""
    name = namespace_for(request.node.name)
    server.kubectl("create", "namespace", name)
    return name
