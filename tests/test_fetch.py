"""Fetchers against a local HTTP server on 127.0.0.1 serving archives that the tests build."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import tarfile
import threading
import zipfile
from importlib import resources
from pathlib import Path

import pytest

from clipbias.data.adapters import get_source, load_ieat, source_names
from clipbias.data.fetch import (
    MARKER,
    MIRROR_ENV,
    ChecksumError,
    IncompleteDownloadError,
    ManualDownloadRequired,
    UnsafeArchiveError,
    UnverifiedDownloadError,
    fetch,
    main,
    resolve_url,
)

DOWNLOADABLE = [n for n in source_names() if get_source(n).kind == "download"]
MANUAL = [n for n in source_names() if get_source(n).kind == "manual"]
# A 1x1 PNG, so the fetched iEAT folder can be read by its adapter.
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d4944415478da63f8cfc0f01f0005000201a3e5d6a6"
                    "0000000049454e44ae426082")


class _Server:
    """Files served by path; paths in ``truncate_once`` answer their first request short."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.truncate_once: set[str] = set()
        self.requests: list[str] = []


@pytest.fixture
def server():
    """A threaded HTTP server on an ephemeral port of 127.0.0.1, shut down after the test."""
    state = _Server()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.lstrip("/")
            state.requests.append(path)
            body = state.files.get(path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if path in state.truncate_once:
                state.truncate_once.discard(path)
                self.wfile.write(body[: len(body) // 2])
                self.close_connection = True
                return
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def _tar(members: dict[str, bytes], *, symlink: tuple[str, str] | None = None,
         gz: bool = True) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        if symlink:
            info = tarfile.TarInfo(symlink[0])
            info.type = tarfile.SYMTYPE
            info.linkname = symlink[1]
            tf.addfile(info)
    return buf.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _payload(name: str) -> tuple[bytes, dict[str, bytes]]:
    """An archive in the item's format and layout, and the files expected in its folder."""
    src = get_source(name)
    if src.archive == "file":
        data = b"name,acc\nViT-B-32,0.5\n"
        return data, {src.filename: data}
    content = {"insect-flower/flower/1.png": PNG, "insect-flower/insect/2.png": PNG,
               "notes/readme.txt": b"hello"}
    prefix = "/".join(p for p in (("top" if src.strip_top else ""), src.subdir or "") if p)
    members = {f"{prefix}/{k}" if prefix else k: v for k, v in content.items()}
    if src.subdir:  # something outside the kept folder, which must not be unpacked
        members["top/README.md" if src.strip_top else "README.md"] = b"outside"
    archive = _zip(members) if src.archive == "zip" else _tar(members, gz=src.archive == "tar.gz")
    return archive, content


def _serve(server: _Server, name: str, data: bytes) -> str:
    server.files[get_source(name).filename] = data
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("name", DOWNLOADABLE)
def test_each_fetcher_downloads_verifies_and_unpacks(name, server, tmp_path, monkeypatch):
    monkeypatch.setenv(MIRROR_ENV, server.base)
    archive, expected = _payload(name)
    digest = _serve(server, name, archive)
    dest = fetch(name, data_root=tmp_path, sha256=digest)
    assert dest == tmp_path / get_source(name).dest
    for rel, data in expected.items():
        assert (dest / rel).read_bytes() == data
    assert not (dest / "README.md").exists()
    marker = json.loads((dest / MARKER).read_text())
    assert marker["sha256"] == digest and marker["verified"] is True
    assert sorted(p.name for p in tmp_path.iterdir()) == [get_source(name).dest]  # no temp left


def test_fetched_ieat_is_readable_by_its_adapter(server, tmp_path, monkeypatch):
    monkeypatch.setenv(MIRROR_ENV, server.base)
    archive, _ = _payload("ieat")
    dest = fetch("ieat", data_root=tmp_path, sha256=_serve(server, "ieat", archive))
    manifest = load_ieat(dest)
    assert sorted(manifest.table["concept"]) == ["flower", "insect"]
    assert manifest.missing_files().count == 0


def test_second_fetch_does_nothing(server, tmp_path, monkeypatch):
    monkeypatch.setenv(MIRROR_ENV, server.base)
    archive, _ = _payload("ieat")
    digest = _serve(server, "ieat", archive)
    fetch("ieat", data_root=tmp_path, sha256=digest)
    fetch("ieat", data_root=tmp_path, sha256=digest)
    assert len(server.requests) == 1


def test_wrong_checksum_is_refused_and_leaves_nothing(server, tmp_path, monkeypatch):
    monkeypatch.setenv(MIRROR_ENV, server.base)
    archive, _ = _payload("ieat")
    _serve(server, "ieat", archive)
    with pytest.raises(ChecksumError, match="expected"):
        fetch("ieat", data_root=tmp_path, sha256="0" * 64)
    assert list(tmp_path.iterdir()) == []


def test_truncated_download_is_refused_then_a_retry_works(server, tmp_path, monkeypatch):
    monkeypatch.setenv(MIRROR_ENV, server.base)
    archive, _ = _payload("ieat")
    digest = _serve(server, "ieat", archive)
    server.truncate_once.add(get_source("ieat").filename)
    with pytest.raises(IncompleteDownloadError, match="again"):
        fetch("ieat", data_root=tmp_path, sha256=digest)
    assert list(tmp_path.iterdir()) == []
    dest = fetch("ieat", data_root=tmp_path, sha256=digest)
    assert (dest / "insect-flower" / "flower" / "1.png").read_bytes() == PNG


@pytest.mark.parametrize("members", [
    {"top/data/experiments/../../../evil.txt": b"x"},
    {"/etc/evil.txt": b"x"},
])
def test_path_traversal_and_absolute_entries_are_refused(members, server, tmp_path, monkeypatch):
    monkeypatch.setenv(MIRROR_ENV, server.base)
    digest = _serve(server, "ieat", _tar({"top/data/experiments/a/b/ok.png": PNG, **members}))
    with pytest.raises(UnsafeArchiveError):
        fetch("ieat", data_root=tmp_path, sha256=digest)
    assert list(tmp_path.iterdir()) == []
    assert not (tmp_path.parent / "evil.txt").exists()


def test_symlink_entries_are_refused(server, tmp_path, monkeypatch):
    monkeypatch.setenv(MIRROR_ENV, server.base)
    archive = _tar({"top/data/experiments/a/b/ok.png": PNG},
                   symlink=("top/data/experiments/a/b/link.png", "/etc/passwd"))
    digest = _serve(server, "ieat", archive)
    with pytest.raises(UnsafeArchiveError, match="link"):
        fetch("ieat", data_root=tmp_path, sha256=digest)
    assert list(tmp_path.iterdir()) == []


def test_zip_top_folder_is_stripped_and_macos_folders_skipped(server, tmp_path, monkeypatch):
    monkeypatch.setenv(MIRROR_ENV, server.base)
    digest = _serve(server, "oasis", _zip({"OASIS/OASIS.csv": b"Theme\n", "OASIS/Images/a.jpg": PNG,
                                           "__MACOSX/OASIS/._a.jpg": b"fork"}))
    dest = fetch("oasis", data_root=tmp_path, sha256=digest)
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.name != MARKER) == [
        "Images", "Images/a.jpg", "OASIS.csv"]


def test_zip_traversal_is_refused(server, tmp_path, monkeypatch):
    monkeypatch.setenv(MIRROR_ENV, server.base)
    digest = _serve(server, "oasis", _zip({"OASIS/../../evil.txt": b"x"}))
    with pytest.raises(UnsafeArchiveError):
        fetch("oasis", data_root=tmp_path, sha256=digest)
    assert list(tmp_path.iterdir()) == []


def test_unknown_hash_needs_explicit_trust(server, tmp_path, monkeypatch):
    monkeypatch.setenv(MIRROR_ENV, server.base)
    assert get_source("ieat").sha256 is None
    archive, _ = _payload("ieat")
    digest = _serve(server, "ieat", archive)
    with pytest.raises(UnverifiedDownloadError, match="--trust-unverified"):
        fetch("ieat", data_root=tmp_path)
    assert server.requests == []  # refused before downloading
    dest = fetch("ieat", data_root=tmp_path, trust_unverified=True)
    marker = json.loads((dest / MARKER).read_text())
    assert marker == {**marker, "sha256": digest, "verified": False}


def test_pinned_hash_matches_the_shipped_table_and_is_verified(server, tmp_path, monkeypatch):
    """The registry's openclip-results hash is that of the copy shipped in the zoo's resources."""
    shipped = (resources.files("clipbias.zoo") / "resources" / "openclip_results.csv").read_bytes()
    assert get_source("openclip-results").sha256 == hashlib.sha256(shipped).hexdigest()
    monkeypatch.setenv(MIRROR_ENV, server.base)
    _serve(server, "openclip-results", shipped)
    dest = fetch("openclip-results", data_root=tmp_path)
    marker = json.loads((dest / MARKER).read_text())
    assert marker["verified"] is True
    assert (dest / "openclip_results.csv").read_bytes() == shipped


@pytest.mark.parametrize("name", MANUAL)
def test_click_through_datasets_give_instructions(name, tmp_path):
    with pytest.raises(ManualDownloadRequired) as err:
        fetch(name, data_root=tmp_path)
    text = str(err.value)
    assert str(tmp_path / get_source(name).dest) in text and get_source(name).url in text
    assert list(tmp_path.iterdir()) == []


def test_url_resolution_prefers_argument_then_mirror_then_registry(monkeypatch):
    src = get_source("ieat")
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    assert resolve_url(src) == src.url
    monkeypatch.setenv(MIRROR_ENV, "http://mirror.example/base/")
    assert resolve_url(src) == f"http://mirror.example/base/{src.filename}"
    assert resolve_url(src, url="http://x.example/y.tgz") == "http://x.example/y.tgz"


def test_command_line_fetch_list_and_manual(server, tmp_path, monkeypatch, capsys):
    archive, _ = _payload("ieat")
    digest = _serve(server, "ieat", archive)
    args = ["--data-root", str(tmp_path), "--mirror", server.base]
    assert main(["fetch", "ieat", *args]) == 1  # no pinned hash, no flag
    assert "--sha256" in capsys.readouterr().err
    assert main(["fetch", "ieat", *args, "--sha256", digest]) == 0
    assert main(["fetch", "ieat", *args, "--sha256", digest]) == 0
    assert "already present" in capsys.readouterr().out
    assert main(["fetch", "fairface", "--data-root", str(tmp_path)]) == 1
    assert "cannot be downloaded automatically" in capsys.readouterr().out
    monkeypatch.setenv("CLIPBIAS_DATA", str(tmp_path))
    assert main(["list"]) == 0
    listing = capsys.readouterr().out
    assert "ieat" in listing and "fairface" in listing
    assert Path(tmp_path / "ieat" / MARKER).is_file()


def test_command_line_trust_unverified_prints_the_computed_sha256(server, tmp_path, capsys):
    archive, _ = _payload("ieat")
    digest = _serve(server, "ieat", archive)
    assert get_source("ieat").sha256 is None  # nothing pinned: the user must trust or pin
    args = ["--data-root", str(tmp_path), "--mirror", server.base]
    assert main(["fetch", "ieat", *args, "--trust-unverified"]) == 0
    out = capsys.readouterr().out
    assert f"sha256 {digest}" in out and f"--sha256 {digest}" in out
    marker = json.loads((tmp_path / get_source("ieat").dest / MARKER).read_text())
    assert marker["sha256"] == digest and marker["verified"] is False
    # a verified fetch has nothing to pin and says nothing about an unverified hash
    assert main(["fetch", "ieat", *args, "--sha256", digest, "--force"]) == 0
    assert "unverified" not in capsys.readouterr().out
