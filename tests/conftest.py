import contextlib

import pytest

from tests.support.cluster import Server


@contextlib.contextmanager
def running_server(tmp_path_factory, *extra: str):
    root = tmp_path_factory.mktemp("kubeling")
    srv = Server(data_dir=root / "data", home=root / "home")
    srv.home.mkdir()
    srv.start(list(extra))
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real kubeling server (API server and controller-manager), shared by one module's tests."""
    with running_server(tmp_path_factory) as srv:
        yield srv


@pytest.fixture(scope="module")
def api_only_server(tmp_path_factory):
    """A kubeling server without controllers or scheduler: what is written stays as written."""
    with running_server(tmp_path_factory, "--controllers", "", "--disable-scheduler") as srv:
        yield srv
