"""Blob store: contents on disk, signed uploads and downloads over real HTTP."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import shutil
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
    MAX_LINK_SECONDS,
    BlobAccessError,
    BlobConflict,
    BlobError,
    Blobs,
    url_name,
)
from civis_jupyter.platform.blobs.handlers import FormReader, routes

from ..polling import wait_until


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
        blobs.signer.check_upload_fields(1, {"key": "files/1"})


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

    parser = FormReader(boundary, start)
    for i in range(len(body)):
        parser.feed(body[i : i + 1])
    assert parser.done and parser.got_file
    assert seen == {"key": "files/1"}
    assert sink.getvalue() == b"line1\r\n--xyzz not a boundary\r\nend"


def test_blobs_refuse_an_empty_secret(tmp_path):
    with pytest.raises(ValueError):
        Blobs(tmp_path, b"")


# -- immutability, expiry, names, crash leftovers --------------------------------------


def test_a_used_upload_form_is_refused_and_the_contents_kept(blobs, base_url):
    url, fields = blobs.upload_form(base_url, 30)
    assert form_upload(url, fields, io.BytesIO(b"first")).status_code == 204
    again = form_upload(url, fields, io.BytesIO(b"second"))
    assert again.status_code == 403 and "cannot be reused" in again.text
    assert blobs.path(30).read_bytes() == b"first"
    assert list((blobs.root / "tmp").iterdir()) == []


def test_parts_after_completion_are_refused_and_completion_happens_once(blobs, base_url):
    urls = blobs.part_urls(base_url, 31, 2)
    for url, data in zip(urls, (b"ab", b"cd")):
        assert requests.put(url, data=data, timeout=30).status_code == 200
    assert blobs.complete_multipart(31, 2) == 4
    late = requests.put(urls[1], data=b"XX", timeout=30)
    assert late.status_code == 404 and "NoSuchUpload" in late.text
    with pytest.raises(BlobConflict):
        blobs.complete_multipart(31, 2)
    with pytest.raises(BlobConflict):
        blobs.open_upload(31)
    assert blobs.path(31).read_bytes() == b"abcd"
    assert not (blobs.root / "parts" / "31").exists()


def test_concurrent_completions_publish_once(blobs):
    parts = [os.urandom(500_000) for _ in range(4)]
    for i, data in enumerate(parts):
        with blobs.part_writer(32, i) as f:
            f.write(data)
    barrier = threading.Barrier(6)
    outcomes: list[str] = []

    def complete() -> None:
        barrier.wait(10)
        try:
            blobs.complete_multipart(32, len(parts))
            outcomes.append("won")
        except BlobConflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=complete) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(outcomes) == ["conflict"] * 5 + ["won"]
    assert blobs.path(32).read_bytes() == b"".join(parts)


def test_download_links_live_at_most_36_hours_and_never_past_the_file(blobs, base_url):
    blobs.write_bytes(40, b"x")
    far = blobs.download_url(base_url, 40, "x", time.time() + 30 * 86400)
    expires = int(urllib.parse.parse_qs(urllib.parse.urlsplit(far).query)["expires"][0])
    assert expires <= time.time() + MAX_LINK_SECONDS
    file_expiry = time.time() + 120
    blobs.set_expiry(40, file_expiry)
    capped = blobs.download_url(base_url, 40, "x", time.time() + 3600)
    expires = int(urllib.parse.parse_qs(urllib.parse.urlsplit(capped).query)["expires"][0])
    assert expires <= file_expiry
    assert requests.get(capped, timeout=30).content == b"x"


def test_an_expired_file_is_not_served_and_its_bytes_go_on_access(blobs, base_url):
    blobs.write_bytes(41, b"old")
    link = blobs.download_url(base_url, 41, "old.txt", time.time() + 3600)
    blobs.set_expiry(41, time.time() - 1)
    assert blobs.exists(41)  # not swept yet: the next sweep is a minute away
    r = requests.get(link, timeout=30)
    assert r.status_code == 404 and "expired" in r.text
    assert not blobs.exists(41)


def test_sweep_deletes_only_expired_bytes_and_expiry_survives_a_restart(tmp_path):
    now = time.time()
    blobs = Blobs(tmp_path / "b", b"s")
    for file_id, when in ((1, now + 100), (2, now + 200), (3, None)):
        blobs.write_bytes(file_id, b"data")
        blobs.set_expiry(file_id, when)
    blobs.set_expiry(2, now + 50)  # moved earlier: the old time must not count
    assert blobs.sweep(now=now + 10) == 0
    assert blobs.sweep(now=now + 60) == 1 and not blobs.exists(2)
    assert blobs.exists(1) and blobs.exists(3)
    again = Blobs(tmp_path / "b", b"s")
    assert again.expires_at(1) == pytest.approx(now + 100)
    assert again.expires_at(3) is None
    assert again.sweep(now=now + 150) == 1 and not again.exists(1) and again.exists(3)


def test_expired_bytes_are_swept_as_urls_are_made(tmp_path, monkeypatch):
    monkeypatch.setattr("civis_jupyter.platform.blobs.storage.SWEEP_INTERVAL", 0.0)
    blobs = Blobs(tmp_path / "b", b"s")
    blobs.write_bytes(1, b"old")
    blobs.write_bytes(2, b"new")
    expires = time.time() + 0.3
    blobs.set_expiry(1, expires)
    wait_until(lambda: time.time() > expires, "the clock to pass the expiry")
    assert blobs.exists(1)  # nothing has looked at file 1 since
    blobs.download_url("http://h/", 2, "n", time.time() + 60)
    assert not blobs.exists(1) and blobs.exists(2)


def test_bytes_sent_to_an_expired_file_are_dropped(blobs, base_url):
    blobs.set_expiry(42, time.time() - 1)
    url, fields = blobs.upload_form(base_url, 42)
    assert form_upload(url, fields, io.BytesIO(b"late")).status_code == 204
    assert not blobs.exists(42)
    assert list((blobs.root / "tmp").iterdir()) == []


@pytest.mark.parametrize(
    "name, segment",
    [
        (".", "file"),
        ("..", "file"),
        ("", "file"),
        ("a/..", "file"),
        ("dir/", "file"),
        ("a/b.csv", "b.csv"),
        ("a\\b.csv", "b.csv"),
        ("\ud800.txt", "?.txt"),
        ("...", "..."),
        ("x" * 300 + ".csv", "x" * 251 + ".csv"),
    ],
)
def test_url_name_makes_a_usable_segment_of_any_name(name, segment):
    assert url_name(name) == segment


@pytest.mark.parametrize(
    "name", [".", "..", "\ud800", "50%?#.csv", "a/b", "é" * 1024], ids=lambda n: repr(n)[:12]
)
def test_any_name_gets_a_link_that_serves_the_bytes(blobs, base_url, name):
    blobs.write_bytes(50, b"named")
    got = requests.get(blobs.download_url(base_url, 50, name, time.time() + 60), timeout=30)
    assert got.status_code == 200 and got.content == b"named"


def test_opening_removes_temporary_files_and_parts_of_complete_files(tmp_path):
    blobs = Blobs(tmp_path / "b", b"s")
    blobs.write_bytes(1, b"done")
    (blobs.root / "tmp" / "upload-crashed").write_bytes(b"half")
    (blobs.root / "parts" / "1").mkdir()
    (blobs.root / "parts" / "1" / "00000").write_bytes(b"do")
    (blobs.root / "parts" / "2").mkdir()  # an upload still under way: kept
    (blobs.root / "parts" / "2" / "00000").write_bytes(b"resume")
    again = Blobs(tmp_path / "b", b"s")
    assert list((again.root / "tmp").iterdir()) == []
    assert not (again.root / "parts" / "1").exists()
    assert (again.root / "parts" / "2" / "00000").read_bytes() == b"resume"
    assert again.path(1).read_bytes() == b"done"


def test_writes_recreate_directories_removed_under_the_store(blobs):
    for child in blobs.root.iterdir():
        shutil.rmtree(child)
    assert blobs.write_bytes(1, b"again") == 5
    blobs.set_expiry(1, time.time() + 60)
    assert blobs.path(1).read_bytes() == b"again"


# -- downloads served by tornado's StaticFileHandler -----------------------------------------


def _stored_link(blobs: Blobs, base_url: str, file_id: int, data: bytes, name: str) -> str:
    blobs.write_bytes(file_id, data)
    return blobs.download_url(base_url, file_id, name, time.time() + 600)


def test_a_range_request_answers_206_with_exactly_those_bytes(blobs, base_url):
    data = os.urandom(100_000)
    link = _stored_link(blobs, base_url, 40, data, "part.bin")
    got = requests.get(link, headers={"Range": "bytes=1000-1999"}, timeout=30)
    assert got.status_code == 206
    assert got.content == data[1000:2000]
    assert got.headers["Content-Range"] == f"bytes 1000-1999/{len(data)}"
    tail = requests.get(link, headers={"Range": "bytes=-10"}, timeout=30)
    assert tail.status_code == 206 and tail.content == data[-10:]
    assert requests.get(link, timeout=30).headers["Accept-Ranges"] == "bytes"


def test_a_range_past_the_end_answers_416(blobs, base_url):
    link = _stored_link(blobs, base_url, 41, b"0123456789", "small.txt")
    got = requests.get(link, headers={"Range": "bytes=50-60"}, timeout=30)
    assert got.status_code == 416
    assert got.headers["Content-Range"] == "bytes */10"


def test_a_known_etag_answers_304_without_a_body(blobs, base_url):
    link = _stored_link(blobs, base_url, 42, b"a,b\n1,2\n", "table.csv")
    first = requests.get(link, timeout=30)
    tag = first.headers["ETag"]
    assert first.status_code == 200 and first.headers["Content-Type"].startswith("text/csv")
    again = requests.get(link, headers={"If-None-Match": tag}, timeout=30)
    assert again.status_code == 304 and again.content == b""
    other = requests.get(link, headers={"If-None-Match": '"something-else"'}, timeout=30)
    assert other.status_code == 200 and other.content == b"a,b\n1,2\n"


def test_new_contents_get_a_new_etag(blobs, base_url):
    link = _stored_link(blobs, base_url, 43, b"first", "f.txt")
    tag = requests.get(link, timeout=30).headers["ETag"]
    blobs.write_bytes(43, b"second, longer")
    got = requests.get(link, headers={"If-None-Match": tag}, timeout=30)
    assert got.status_code == 200 and got.content == b"second, longer"
    assert got.headers["ETag"] != tag


def test_a_download_is_privately_cacheable_while_its_link_lives(blobs, base_url):
    blobs.write_bytes(44, b"x" * 10)
    link = blobs.download_url(base_url, 44, "x.gz", time.time() + 120)
    got = requests.get(link, timeout=30)
    cache = got.headers["Cache-Control"]
    assert cache.startswith("private, max-age=")
    assert 100 <= int(cache.rsplit("=", 1)[1]) <= 120
    assert got.headers["Content-Type"] == "application/gzip"
    assert "Last-Modified" in got.headers


def test_head_of_a_download_gives_its_size_and_no_body(blobs, base_url):
    link = _stored_link(blobs, base_url, 45, b"z" * 1234, "z.bin")
    got = requests.head(link, timeout=30)
    assert got.status_code == 200 and got.content == b""
    assert got.headers["Content-Length"] == "1234"
    assert "attachment" in got.headers["Content-Disposition"]


def test_a_refused_download_names_no_file_and_answers_xml(blobs, base_url):
    link = _stored_link(blobs, base_url, 46, b"secret", "s.txt")
    got = requests.get(link.replace("signature=", "signature=0"), timeout=30)
    assert got.status_code == 403
    assert got.headers["Content-Type"] == "application/xml"
    assert "Content-Disposition" not in got.headers
    assert b"secret" not in got.content
