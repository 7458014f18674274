"""Blob store: contents on disk, signed uploads and downloads over real HTTP."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import threading
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import tornado.httpserver
import tornado.netutil
import tornado.web

from civis_jupyter.platform.blobs import (
    BlobAccessError,
    BlobError,
    Blobs,
    _MultipartFormParser,
    routes,
)


@pytest.fixture
def blobs(tmp_path: Path) -> Blobs:
    return Blobs(tmp_path / "blobs", b"test-secret")


@pytest.fixture
def base_url(blobs: Blobs) -> Iterator[str]:
    """Serve the blob routes on 127.0.0.1 from a background event loop."""
    ready = threading.Event()
    state: dict = {}

    def serve() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        app = tornado.web.Application(routes(blobs))
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        server = tornado.httpserver.HTTPServer(app)
        server.add_sockets(sockets)
        state.update(loop=loop, server=server, port=sockets[0].getsockname()[1])
        ready.set()
        loop.run_forever()
        server.stop()
        loop.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    assert ready.wait(10)
    yield f"http://127.0.0.1:{state['port']}/"
    state["loop"].call_soon_threadsafe(state["loop"].stop)
    t.join(10)


def form_upload(url: str, fields: dict, data) -> requests.Response:
    """Upload the way the official client does: key first, file last."""
    form = OrderedDict(key=fields["key"])
    form.update({k: v for k, v in fields.items() if k != "key"})
    form["file"] = data
    return requests.post(url, files=form, timeout=30)


def test_form_upload_then_signed_download_round_trips_bytes(blobs, base_url):
    url, fields = blobs.upload_form(base_url, 7)
    payload = os.urandom(300_000) + b"\r\n--boundary-lookalike\r\n" + os.urandom(10)
    r = form_upload(url, fields, io.BytesIO(payload))
    assert r.status_code == 204, r.text
    assert blobs.size(7) == len(payload)
    dl = blobs.download_url(base_url, 7, "data ünï.bin", time.time() + 60)
    got = requests.get(dl, timeout=30)
    assert got.status_code == 200
    assert got.content == payload
    assert "attachment" in got.headers["Content-Disposition"]


def test_upload_with_forged_signature_is_refused_and_nothing_stored(blobs, base_url):
    url, fields = blobs.upload_form(base_url, 8)
    fields["signature"] = "0" * 64
    r = form_upload(url, fields, io.BytesIO(b"abc"))
    assert r.status_code == 403
    assert "<Code>SignatureDoesNotMatch</Code>" in r.text
    assert not blobs.exists(8)


def test_upload_policy_for_another_file_is_refused(blobs, base_url):
    _, fields = blobs.upload_form(base_url, 9)
    other_url, _ = blobs.upload_form(base_url, 10)
    r = form_upload(other_url, fields, io.BytesIO(b"abc"))
    assert r.status_code == 403
    assert not blobs.exists(10)


def test_expired_upload_policy_is_refused(blobs, base_url):
    url, fields = blobs.upload_form(base_url, 11, expires_in=-1)
    r = form_upload(url, fields, io.BytesIO(b"abc"))
    assert r.status_code == 403
    assert "expired" in r.text


def test_upload_without_file_field_is_a_bad_request(blobs, base_url):
    url, fields = blobs.upload_form(base_url, 12)
    r = requests.post(url, files=fields, timeout=30)
    assert r.status_code == 400
    assert not blobs.exists(12)


def test_expired_download_url_answers_403(blobs, base_url):
    blobs.write_bytes(3, b"hello")
    dl = blobs.download_url(base_url, 3, "x.txt", time.time() - 1)
    r = requests.get(dl, timeout=30)
    assert r.status_code == 403
    assert "<Code>AccessDenied</Code>" in r.text


def test_tampered_download_url_answers_403(blobs, base_url):
    blobs.write_bytes(3, b"hello")
    blobs.write_bytes(4, b"secret")
    dl = blobs.download_url(base_url, 3, "x.txt", time.time() + 60)
    r = requests.get(dl.replace("/files/3/", "/files/4/"), timeout=30)
    assert r.status_code == 403
    later = int(time.time() + 3600)
    r = requests.get(
        dl.replace(
            urllib.parse.parse_qs(urllib.parse.urlparse(dl).query)["expires"][0],
            str(later),
        ),
        timeout=30,
    )
    assert r.status_code == 403


def test_download_of_file_without_contents_is_404(blobs, base_url):
    r = requests.get(blobs.download_url(base_url, 99, "x", time.time() + 60))
    assert r.status_code == 404


def test_multipart_parts_are_joined_in_order(blobs, base_url, tmp_path):
    parts = [os.urandom(1_000_000), os.urandom(5), os.urandom(700_001)]
    urls = blobs.part_urls(base_url, 21, len(parts))
    # upload out of order, streaming from a file like the official client does
    for i in (2, 0, 1):
        src = tmp_path / f"p{i}"
        src.write_bytes(parts[i])
        with open(src, "rb") as f:
            r = requests.put(urls[i], data=f, timeout=30)
        assert r.status_code == 200, r.text
    assert blobs.complete_multipart(21, len(parts)) == sum(map(len, parts))
    dl = blobs.download_url(base_url, 21, "big.bin", time.time() + 60)
    with requests.get(dl, stream=True, timeout=30) as r:
        digest = hashlib.sha256()
        for chunk in r.iter_content(65536):
            digest.update(chunk)
    assert digest.hexdigest() == hashlib.sha256(b"".join(parts)).hexdigest()
    assert not (blobs.root / "parts" / "21").exists()


def test_multipart_complete_with_missing_part_names_it(blobs, base_url):
    urls = blobs.part_urls(base_url, 22, 3)
    requests.put(urls[0], data=b"a", timeout=30)
    requests.put(urls[2], data=b"c", timeout=30)
    with pytest.raises(BlobError, match=r"part\(s\) 2 of 3"):
        blobs.complete_multipart(22, 3)
    assert not blobs.exists(22)


def test_part_url_cannot_be_reused_for_another_part(blobs, base_url):
    url = blobs.part_urls(base_url, 23, 2)[0]
    r = requests.put(url.replace("/23/0?", "/23/1?"), data=b"x", timeout=30)
    assert r.status_code == 403
    assert not blobs.part_path(23, 1).exists()


def test_link_shares_contents_and_delete_removes_them(blobs):
    blobs.write_bytes(1, b"abc")
    assert blobs.link(1, 2) == 3
    assert blobs.path(2).read_bytes() == b"abc"
    blobs.delete(1)
    assert not blobs.exists(1)
    assert blobs.path(2).read_bytes() == b"abc"
    with pytest.raises(BlobError):
        blobs.link(1, 5)


def test_check_upload_fields_requires_all_fields(blobs):
    with pytest.raises(BlobAccessError):
        blobs.check_upload_fields(1, {"key": "files/1"})


def test_form_parser_handles_byte_by_byte_input():
    boundary = b"xyzzy"
    body = (
        b'--xyzzy\r\nContent-Disposition: form-data; name="key"\r\n\r\nfiles/1'
        b'\r\n--xyzzy\r\nContent-Disposition: form-data; name="file"; '
        b'filename="f"\r\n\r\nline1\r\n--xyzz not a boundary\r\nend'
        b"\r\n--xyzzy--\r\n"
    )
    sink = io.BytesIO()
    seen = {}

    def start(fields):
        seen.update(fields)
        return sink

    parser = _MultipartFormParser(boundary, start)
    for i in range(len(body)):
        parser.feed(body[i : i + 1])
    assert parser.done and parser.got_file
    assert seen == {"key": "files/1"}
    assert sink.getvalue() == b"line1\r\n--xyzz not a boundary\r\nend"


def test_blobs_refuse_an_empty_secret(tmp_path):
    with pytest.raises(ValueError):
        Blobs(tmp_path, b"")
