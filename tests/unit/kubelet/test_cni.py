"""The node's CNI config: what the conflist says, and that it is written atomically and only on change."""

from __future__ import annotations

import json
import os

import pytest

from kubeling.kubelet.cni import CONFLIST_NAME, conflist, write_conflist


def test_conflist_chains_bridge_with_host_local_then_portmap():
    conf = conflist("10.42.3.0/24", data_dir="/data/cni/networks")
    assert (conf["cniVersion"], conf["name"]) == ("1.0.0", "kubeling")
    bridge, portmap = conf["plugins"]
    assert bridge == {
        "type": "bridge", "bridge": "kubeling0", "isGateway": True, "ipMasq": True, "hairpinMode": True,
        "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.42.3.0/24"}]],
                 "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "/data/cni/networks"},
    }
    assert portmap == {"type": "portmap", "capabilities": {"portMappings": True}}
    # containerd brings up lo itself: no loopback plugin in the chain.
    assert all(p["type"] != "loopback" for p in conf["plugins"])


def test_conflist_names_and_default_data_dir():
    conf = conflist("10.244.251.0/24", bridge="kt0", name="test-net")
    assert conf["name"] == "test-net" and conf["plugins"][0]["bridge"] == "kt0"
    assert "dataDir" not in conf["plugins"][0]["ipam"]  # host-local's own default


def test_write_conflist_creates_the_dir_and_a_readable_file(tmp_path):
    path = write_conflist(tmp_path / "net.d", "10.42.0.0/24", data_dir=tmp_path / "ipam")
    assert path == tmp_path / "net.d" / CONFLIST_NAME
    assert json.loads(path.read_text()) == conflist("10.42.0.0/24", data_dir=str(tmp_path / "ipam"))
    assert path.stat().st_mode & 0o777 == 0o644
    assert os.listdir(tmp_path / "net.d") == [CONFLIST_NAME]  # no temporary file left behind


def test_write_conflist_leaves_an_unchanged_file_alone(tmp_path):
    path = write_conflist(tmp_path, "10.42.0.0/24")
    before = path.stat()
    assert write_conflist(tmp_path, "10.42.0.0/24") == path
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_write_conflist_replaces_the_file_when_the_cidr_changes(tmp_path):
    path = write_conflist(tmp_path, "10.42.0.0/24")
    inode = path.stat().st_ino
    write_conflist(tmp_path, "10.42.1.0/24")
    assert json.loads(path.read_text())["plugins"][0]["ipam"]["ranges"] == [[{"subnet": "10.42.1.0/24"}]]
    assert path.stat().st_ino != inode  # renamed over, never rewritten in place
    assert os.listdir(tmp_path) == [CONFLIST_NAME]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = write_conflist(tmp_path, "10.42.0.0/24")

    def broken(*_a):
        raise OSError("disk full")
    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        write_conflist(tmp_path, "10.42.1.0/24")
    assert "10.42.0.0/24" in path.read_text()
    assert os.listdir(tmp_path) == [CONFLIST_NAME]
