import pytest

from tests.support.cluster import Server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real kubeling server, shared by the tests of one module."""
    root = tmp_path_factory.mktemp("kubeling")
    srv = Server(data_dir=root / "data", home=root / "home")
    srv.home.mkdir()
    srv.start()
    yield srv
    srv.stop()
