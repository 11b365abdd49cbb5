"""snnx.datasets downloads against a local HTTP server (127.0.0.1) that misbehaves on request; no internet."""

from __future__ import annotations

import hashlib
import os
import re
import socket
import threading
import time
import urllib.error
import urllib.request
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import h5py
import numpy as np
import pytest

from snnx.datasets import ChecksumError, DownloadError, OfflineError, _fetch, download, fetch
from snnx.datasets._heidelberg import load_heidelberg


class _Handler(BaseHTTPRequestHandler):
    """Serves ``server.files``; each request takes the next action of ``server.plans[path]`` (default "ok").

    Actions: ``ok``; ``corrupt`` (every byte inverted); ``ignore_range`` (200 with the whole file);
    ``cut:K`` (announce the full length, send K bytes, close); ``stall:K`` (send K bytes, then wait);
    ``status:N`` (answer HTTP N).
    """

    def log_message(self, *args):
        pass

    def do_GET(self):
        server = self.server
        requested = self.headers.get("Range")
        with server.lock:
            server.requests.append((self.path, requested))
            plan = server.plans.get(self.path)
            action = plan.pop(0) if plan else "ok"
        data = server.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        if action.startswith("status:"):
            self.send_error(int(action.split(":")[1]))
            return
        if action == "corrupt":
            data = bytes(b ^ 0xFF for b in data)
        start = 0
        if requested and action != "ignore_range":
            start = int(re.fullmatch(r"bytes=(\d+)-", requested)[1])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if action.startswith(("cut:", "stall:")):
            self.wfile.write(body[: int(action.split(":")[1])])
            self.wfile.flush()
            if action.startswith("stall:"):
                time.sleep(0.6)
            self.close_connection = True
            return
        self.wfile.write(body)


@pytest.fixture(autouse=True)
def _no_proxy_no_env(monkeypatch):
    for var in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(var, raising=False)
        monkeypatch.delenv(var.upper(), raising=False)
    for var in ("SNNX_DATA_DIR", "SNNX_DATA_MIRROR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.lock = threading.Lock()
    httpd.files, httpd.plans, httpd.requests = {}, {}, []
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture
def payload(server):
    data = np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes()
    server.files["/data.bin"] = data
    return data, server.url + "/data.bin"


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def closed_port_url(path: str) -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/{path}"


def test_download_verifies_and_then_uses_the_cache(server, payload, tmp_path):
    data, url = payload
    target = tmp_path / "sub" / "data.bin"
    sha = hashlib.sha256(data).hexdigest()
    assert download(url, target, md5=md5(data).upper(), sha256=sha, progress=False) == target
    assert target.read_bytes() == data
    assert not (tmp_path / "sub" / "data.bin.part").exists()
    assert server.requests == [("/data.bin", None)]
    assert download(url, str(target), md5=md5(data), sha256=sha) == target
    assert len(server.requests) == 1  # verified cache: no request
    target.write_bytes(b"anything")  # without a checksum an existing file is trusted
    download(url, target)
    assert len(server.requests) == 1 and target.read_bytes() == b"anything"


def test_corrupted_download_is_retried_from_zero(server, payload, tmp_path):
    data, url = payload
    server.plans["/data.bin"] = ["corrupt"]
    target = download(url, tmp_path / "data.bin", md5=md5(data), progress=False)
    assert target.read_bytes() == data
    assert server.requests == [("/data.bin", None), ("/data.bin", None)]


def test_always_corrupted_raises_checksum_error(server, payload, tmp_path):
    data, url = payload
    server.plans["/data.bin"] = ["corrupt"] * 5
    target = tmp_path / "data.bin"
    bad = md5(bytes(b ^ 0xFF for b in data))
    with pytest.raises(ChecksumError, match=rf"data\.bin.*md5 expected {md5(data)}, got {bad}") as info:
        download(url, target, md5=md5(data), retries=2, progress=False)
    assert isinstance(info.value, OSError) and isinstance(info.value, ValueError)
    assert len(server.requests) == 3
    assert not target.exists() and not (tmp_path / "data.bin.part").exists()


def test_interrupted_download_resumes_with_range(server, payload, tmp_path):
    data, url = payload
    server.plans["/data.bin"] = ["cut:1000"]
    target = download(url, tmp_path / "data.bin", md5=md5(data), progress=False)
    assert target.read_bytes() == data
    assert server.requests == [("/data.bin", None), ("/data.bin", "bytes=1000-")]


def test_server_ignoring_range_restarts_cleanly(server, payload, tmp_path):
    data, url = payload
    server.plans["/data.bin"] = ["cut:1000", "ignore_range"]
    target = download(url, tmp_path / "data.bin", progress=False)  # no checksum: the bytes alone must match
    assert target.read_bytes() == data
    assert server.requests == [("/data.bin", None), ("/data.bin", "bytes=1000-")]


def test_read_timeout_resumes(server, payload, tmp_path):
    data, url = payload
    server.plans["/data.bin"] = ["stall:700"]
    target = download(url, tmp_path / "data.bin", md5=md5(data), timeout=0.2, progress=False)
    assert target.read_bytes() == data
    assert server.requests[1] == ("/data.bin", "bytes=700-")


def test_too_many_interruptions_keep_the_part_and_resume_later(server, payload, tmp_path):
    data, url = payload
    server.plans["/data.bin"] = ["cut:10"] * 2
    target = tmp_path / "data.bin"
    with pytest.raises(
        DownloadError,
        match=rf"{re.escape(url)} to {re.escape(str(target))} failed 2 times.*"
        r"20 bytes received are kept in .*data\.bin\.part.*resumes",
    ):
        download(url, target, md5=md5(data), retries=1, progress=False)
    assert not target.exists()
    assert (tmp_path / "data.bin.part").read_bytes() == data[:20]
    download(url, target, md5=md5(data), progress=False)
    assert target.read_bytes() == data and server.requests[-1] == ("/data.bin", "bytes=20-")


def test_range_not_satisfiable(server, payload, tmp_path):
    data, url = payload
    part = tmp_path / "data.bin.part"
    part.write_bytes(data)  # complete already: the server answers 416, the checksum accepts it
    download(url, tmp_path / "data.bin", md5=md5(data), progress=False)
    assert (tmp_path / "data.bin").read_bytes() == data
    assert server.requests == [("/data.bin", "bytes=5000-")]
    part = tmp_path / "other.bin.part"
    part.write_bytes(data + b"junk")  # longer than the file: start again from zero
    download(url, tmp_path / "other.bin", progress=False)
    assert (tmp_path / "other.bin").read_bytes() == data
    assert server.requests[1:] == [("/data.bin", "bytes=5004-"), ("/data.bin", None)]


def test_corrupted_cache_is_replaced_with_a_warning(server, payload, tmp_path):
    data, url = payload
    target = tmp_path / "data.bin"
    target.write_bytes(data[:-1] + b"x")
    with pytest.warns(UserWarning, match=rf"{re.escape(str(target))} does not match its checksum"):
        download(url, target, md5=md5(data), progress=False)
    assert target.read_bytes() == data and len(server.requests) == 1


def test_offline_error_says_where_to_put_the_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    url = closed_port_url("data.bin")
    digest = "0123456789abcdef0123456789abcdef"
    with pytest.raises(
        OfflineError,
        match=rf"could not reach {re.escape(url)}.*put it at "
        rf"{re.escape(str(tmp_path / 'data.bin'))}.*md5 must be {digest}",
    ) as info:
        download(url, "data.bin", md5=digest, progress=False)
    assert isinstance(info.value, OSError)
    assert not (tmp_path / "data.bin").exists()


def test_http_errors(server, payload, tmp_path):
    data, url = payload
    with pytest.raises(DownloadError, match=r"/missing\.bin answered HTTP 404"):
        download(server.url + "/missing.bin", tmp_path / "missing.bin", progress=False)
    assert len(server.requests) == 1  # not retried
    server.plans["/data.bin"] = ["status:503"]  # a server error is retried
    download(url, tmp_path / "data.bin", md5=md5(data), progress=False)
    assert (tmp_path / "data.bin").read_bytes() == data and len(server.requests) == 3


def test_download_argument_errors(tmp_path):
    url = "http://127.0.0.1:1/x"
    with pytest.raises(ValueError, match=r"`md5` must be 32 hexadecimal digits, got 'xyz'"):
        download(url, tmp_path / "x", md5="xyz")
    with pytest.raises(ValueError, match=r"`sha256` must be 64 hexadecimal digits"):
        download(url, tmp_path / "x", sha256="ab" * 16)
    with pytest.raises(ValueError, match=r"`retries` must be >= 0, got -1"):
        download(url, tmp_path / "x", retries=-1)
    with pytest.raises(ValueError, match=r"`url` must be an http, https or file URL, got 'ftp://h/x'"):
        download("ftp://h/x", tmp_path / "x")
    with pytest.raises(ValueError, match=r"`timeout` must be a positive number of seconds, got 0"):
        download(url, tmp_path / "x", timeout=0)
    with pytest.raises(TypeError, match=r"`progress` must be None, True or False, got str 'yes'"):
        download(url, tmp_path / "x", progress="yes")
    with pytest.raises(IsADirectoryError, match=r"is a folder"):
        download(url, tmp_path)


def test_progress_bar_on_stderr_only_when_asked(server, payload, tmp_path, capsys):
    data, url = payload
    download(url, tmp_path / "quiet.bin", progress=None)  # stderr is captured, not a terminal
    download(url, tmp_path / "silent.bin", progress=False)
    assert capsys.readouterr().err == ""
    download(url, tmp_path / "shown.bin", progress=True)
    assert "shown.bin" in capsys.readouterr().err
    assert (tmp_path / "shown.bin").read_bytes() == data


def write_heidelberg(path, times, units, labels):
    """A file in the layout of the Zenke-lab SHD/SSC releases (vlen datasets under ``spikes``)."""
    with h5py.File(path, "w") as f:
        spikes = f.create_group("spikes")
        vlen = [
            (name, values, dtype)
            for name, values, dtype in (("times", times, np.float32), ("units", units, np.uint16))
        ]
        for name, values, dtype in vlen:
            data = np.array([np.asarray(v, dtype) for v in values] + [None], dtype=h5py.vlen_dtype(dtype))
            spikes.create_dataset(name, data=data[:-1])
        f.create_dataset("labels", data=np.asarray(labels, np.uint16))


def zip_bytes(tmp_path, member: str, content: bytes) -> bytes:
    archive = tmp_path / "archive.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(zipfile.ZipInfo(member), content)
    return archive.read_bytes()


@pytest.fixture
def shd_mirror(server, tmp_path, monkeypatch):
    """The server holds SHD-like train/test archives under /mirror/; the registry names their md5s."""
    source = tmp_path / "source"
    source.mkdir()
    write_heidelberg(source / "train.h5", [[0.05, 0.55], [0.95]], [[3, 699], [10]], [4, 11])
    write_heidelberg(source / "test.h5", [[0.25]], [[1]], [19])
    registry = {}
    for split in ("train", "test"):
        archive = zip_bytes(source, f"shd_{split}.h5", (source / f"{split}.h5").read_bytes())
        server.files[f"/mirror/shd_{split}.h5.zip"] = archive
        registry[split] = (f"shd_{split}.h5.zip", md5(archive))
    monkeypatch.setitem(_fetch._REGISTRY, "shd", registry)
    return server


def test_fetch_end_to_end(shd_mirror, tmp_path):
    cache = tmp_path / "cache"
    paths = fetch("shd", cache, base_url=shd_mirror.url + "/mirror", progress=False)
    assert paths == {"train": cache / "shd_train.h5", "test": cache / "shd_test.h5"}
    x, y = load_heidelberg(paths["train"], num_steps=10)
    expected = np.zeros((10, 2, 700), np.uint8)
    expected[0, 0, 3] = expected[5, 0, 699] = expected[9, 1, 10] = 1  # floor(t * 10 / 1 s)
    np.testing.assert_array_equal(x, expected)
    assert y.tolist() == [4, 11]
    assert load_heidelberg(paths["test"], num_steps=10)[1].tolist() == [19]
    assert len(shd_mirror.requests) == 2
    assert fetch("shd", cache, base_url=shd_mirror.url + "/mirror/") == paths
    assert len(shd_mirror.requests) == 2  # extracted and verified: no network
    test_h5 = paths["test"].read_bytes()
    paths["test"].write_bytes(test_h5[:100])  # damaged: extracted again from the archive still there
    with pytest.warns(UserWarning, match=r"shd_test\.h5: the cached file does not match the sha256"):
        fetch("shd", cache, base_url=shd_mirror.url + "/mirror/")
    assert paths["test"].read_bytes() == test_h5 and len(shd_mirror.requests) == 2
    flipped = bytearray(test_h5)
    flipped[len(flipped) // 2] ^= 0xFF  # same size, one byte changed: HDF5 itself may not notice
    paths["test"].write_bytes(bytes(flipped))
    with pytest.warns(UserWarning, match=r"shd_test\.h5: the cached file does not match the sha256"):
        fetch("shd", cache, base_url=shd_mirror.url + "/mirror/")
    assert paths["test"].read_bytes() == test_h5 and len(shd_mirror.requests) == 2
    for split in ("train", "test"):
        (cache / f"shd_{split}.h5.zip").unlink()
    fetch("shd", cache, base_url=shd_mirror.url + "/mirror/")  # the markers vouch for the .h5 files
    assert len(shd_mirror.requests) == 2
    paths["test"].unlink()
    fetch("shd", cache, base_url=shd_mirror.url + "/mirror/")
    assert paths["test"].read_bytes() == test_h5
    assert shd_mirror.requests[2:] == [("/mirror/shd_test.h5.zip", None)]
    assert sorted(p.name for p in cache.iterdir()) == [
        "shd_test.h5",
        "shd_test.h5.json",
        "shd_test.h5.zip",
        "shd_train.h5",
        "shd_train.h5.json",
    ]


def test_fetch_reads_the_environment(shd_mirror, tmp_path, monkeypatch):
    monkeypatch.setenv("SNNX_DATA_DIR", str(tmp_path / "env-cache"))
    monkeypatch.setenv("SNNX_DATA_MIRROR", shd_mirror.url + "/mirror/")
    paths = fetch("shd", progress=False)
    assert paths["train"] == tmp_path / "env-cache" / "shd_train.h5" and paths["train"].is_file()
    assert [path for path, _ in shd_mirror.requests] == [
        "/mirror/shd_train.h5.zip",
        "/mirror/shd_test.h5.zip",
    ]


@pytest.mark.parametrize("member", ["../shd_train.h5", "/abs/shd_train.h5"])
def test_fetch_refuses_unsafe_archive_members(server, tmp_path, monkeypatch, member):
    archive = zip_bytes(tmp_path, member, b"payload")
    server.files["/shd_train.h5.zip"] = archive
    monkeypatch.setitem(_fetch._REGISTRY, "shd", {"train": ("shd_train.h5.zip", md5(archive))})
    cache = tmp_path / "cache"
    with pytest.raises(DownloadError, match=rf"refusing to extract member {re.escape(repr(member))}"):
        fetch("shd", cache, base_url=server.url, progress=False)
    assert not (tmp_path / "shd_train.h5").exists() and not (cache / "shd_train.h5").exists()


def test_fetch_name_errors(tmp_path):
    with pytest.raises(ValueError, match=r"`name` must be one of \['shd', 'ssc'\], got 'nmnist'"):
        fetch("nmnist", tmp_path)
    with pytest.raises(TypeError, match=r"`name` must be a str, got int 3"):
        fetch(3, tmp_path)


def test_fetch_offline_names_the_archive_and_its_md5(tmp_path):
    base = closed_port_url("")
    with pytest.raises(
        OfflineError,
        match=rf"{re.escape(base)}shd_train\.h5\.zip.*put it at "
        rf"{re.escape(str(tmp_path / 'shd_train.h5.zip'))}.*f3252aeb598ac776c1b526422d90eecb",
    ):
        fetch("shd", tmp_path, base_url=base, progress=False)


def test_fetch_defaults_to_zenke_lab_and_xdg_cache(tmp_path, monkeypatch):
    def unreachable(request, timeout):
        raise urllib.error.URLError(OSError("no network in tests"))

    monkeypatch.setattr(urllib.request, "urlopen", unreachable)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    target = tmp_path / "xdg" / "snnx" / "ssc_train.h5.zip"
    with pytest.raises(
        OfflineError,
        match=rf"https://zenkelab\.org/datasets/ssc_train\.h5\.zip.*"
        rf"{re.escape(str(target))}.*d102be95e7144fcc0553d1f45ba94170",
    ):
        fetch("ssc", progress=False)


def test_registry_matches_the_published_files():
    # file names from https://zenkelab.org/datasets/, md5 digests as published by tonic 1.7.0 (hsd.py)
    assert _fetch.ZENKE_URL == "https://zenkelab.org/datasets/"
    assert _fetch._REGISTRY == {
        "shd": {
            "train": ("shd_train.h5.zip", "f3252aeb598ac776c1b526422d90eecb"),
            "test": ("shd_test.h5.zip", "1503a5064faa34311c398fb0a1ed0a6f"),
        },
        "ssc": {
            "train": ("ssc_train.h5.zip", "d102be95e7144fcc0553d1f45ba94170"),
            "valid": ("ssc_valid.h5.zip", "b4eee3516a4a90dd0c71a6ac23a8ae43"),
            "test": ("ssc_test.h5.zip", "a35ff1e9cffdd02a20eb850c17c37748"),
        },
    }


def test_file_urls_work_for_local_copies(tmp_path):
    data = os.urandom(3000)
    (tmp_path / "copy.bin").write_bytes(data)
    target = download((tmp_path / "copy.bin").as_uri(), tmp_path / "out" / "copy.bin", md5=md5(data))
    assert target.read_bytes() == data
