"""Files through the real HTTP server: immutable contents, link lifetimes, expiry,
odd names, crash leftovers and bad ids, as ordinary users (and a second user)."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
import requests

from civis_jupyter.platform import LocalPlatform
from civis_jupyter.platform.behaviours.files import new_file

from ..polling import wait_until

civis = pytest.importorskip("civis")

TIMEOUT = 30


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def link_expiry(url: str) -> int:
    return int(urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["expires"][0])


class User:
    """An API user of a platform, over plain HTTP."""

    def __init__(self, endpoint: str, key: str):
        self.endpoint = endpoint
        self.key = key
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {key}"

    def url(self, path: str) -> str:
        return self.endpoint + path

    def create(self, name: str, **body: Any) -> dict[str, Any]:
        r = self.http.post(self.url("files"), json={"name": name, **body}, timeout=TIMEOUT)
        assert r.status_code == 201, r.text
        return r.json()

    def info(self, file_id: int, **params: Any) -> requests.Response:
        return self.http.get(self.url(f"files/{file_id}"), params=params, timeout=TIMEOUT)

    def download(self, file_id: int) -> bytes:
        info = self.info(file_id)
        assert info.status_code == 200, info.text
        got = requests.get(info.json()["fileUrl"], timeout=TIMEOUT)
        assert got.status_code == 200, got.text
        return got.content

    def multipart(self, name: str, parts: list[bytes]) -> dict[str, Any]:
        body = {"name": name, "numParts": len(parts)}
        r = self.http.post(self.url("files/multipart"), json=body, timeout=TIMEOUT)
        assert r.status_code == 201, r.text
        created = r.json()
        for url, data in zip(created["uploadUrls"], parts):
            assert requests.put(url, data=data, timeout=TIMEOUT).status_code == 200
        return created

    def complete(self, file_id: int, session: requests.Session | None = None) -> requests.Response:
        session = session or self.http
        return session.post(self.url(f"files/multipart/{file_id}/complete"), timeout=TIMEOUT)


def form_upload(created: dict[str, Any], data: bytes) -> requests.Response:
    """The official client's way: fields with ``key`` first, the file last."""
    fields = created["uploadFields"]
    form = [(k, (None, v)) for k, v in fields.items()] + [("file", ("f", data))]
    return requests.post(created["uploadUrl"], files=form, timeout=TIMEOUT)


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    data_dir = tmp_path_factory.mktemp("files-security")
    with (
        LocalPlatform(data_dir=data_dir, execute=False, rate_limit=10**6) as p,
        pytest.MonkeyPatch.context() as mp,
    ):
        mp.setenv("CIVIS_API_ENDPOINT", p.endpoint)
        mp.delenv("CIVIS_API_KEY", raising=False)
        yield p


@pytest.fixture(scope="module")
def alice(platform: LocalPlatform) -> User:
    return User(platform.endpoint, platform.create_user("alice"))


@pytest.fixture(scope="module")
def bob(platform: LocalPlatform) -> User:
    return User(platform.endpoint, platform.create_user("bob"))


# -- a complete file never changes ------------------------------------------------------


def test_an_upload_form_cannot_be_used_twice(alice):
    created = alice.create("once.bin")
    assert form_upload(created, b"original").status_code == 204
    again = form_upload(created, b"replaced!")
    assert again.status_code == 403, again.text
    assert "<Code>AccessDenied</Code>" in again.text and "cannot be reused" in again.text
    assert alice.download(created["id"]) == b"original"
    assert alice.info(created["id"]).json()["fileSize"] == len(b"original")


def test_two_uploads_racing_on_one_form_store_exactly_one_whole(alice):
    created = alice.create("race.bin")
    payloads = [os.urandom(2_000_000), os.urandom(2_000_000)]
    barrier = threading.Barrier(2)
    statuses: list[int] = [0, 0]

    def upload(i: int) -> None:
        barrier.wait(TIMEOUT)
        statuses[i] = form_upload(created, payloads[i]).status_code

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    assert sorted(statuses) == [204, 403]
    assert alice.download(created["id"]) == payloads[statuses.index(204)]


def test_parts_and_completion_after_completion_are_refused(alice):
    created = alice.multipart("m.bin", [b"ab", b"cd"])
    assert alice.complete(created["id"]).status_code == 204
    late = requests.put(created["uploadUrls"][0], data=b"XX", timeout=TIMEOUT)
    assert late.status_code == 404 and "<Code>NoSuchUpload</Code>" in late.text
    again = alice.complete(created["id"])
    assert again.status_code == 409
    assert "already complete" in again.json()["errorDescription"]
    official = civis.APIClient(api_key=alice.key)
    with pytest.raises(civis.base.CivisAPIError) as err:
        official.files.post_multipart_complete(created["id"])
    assert err.value.status_code == 409
    assert alice.download(created["id"]) == b"abcd"


def test_concurrent_completions_one_wins_the_others_get_409(alice, platform):
    for trial in range(3):
        parts = [os.urandom(300_000) for _ in range(3)]
        created = alice.multipart(f"c{trial}.bin", parts)
        barrier = threading.Barrier(4)
        statuses: list[int] = []

        def complete(
            file_id: int = created["id"],
            barrier: threading.Barrier = barrier,
            statuses: list[int] = statuses,
        ) -> None:
            session = requests.Session()
            session.headers["Authorization"] = f"Bearer {alice.key}"
            barrier.wait(TIMEOUT)
            statuses.append(alice.complete(file_id, session).status_code)

        threads = [threading.Thread(target=complete) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(TIMEOUT)
        assert sorted(statuses) == [204, 409, 409, 409]
        assert alice.download(created["id"]) == b"".join(parts)
        assert not (platform.blobs.root / "parts" / str(created["id"])).exists()


def test_another_user_cannot_complete_or_change_my_file(alice, bob):
    created = alice.multipart("mine.bin", [b"x"])
    assert alice.complete(created["id"], bob.http).status_code == 404
    r = bob.http.patch(bob.url(f"files/{created['id']}"), json={"expiresAt": None})
    assert r.status_code == 404
    assert alice.complete(created["id"]).status_code == 204


# -- link lifetimes and file expiry -------------------------------------------------


def test_download_links_live_30_minutes_by_default_and_36_hours_at_most(alice):
    created = alice.create("l.txt")
    form_upload(created, b"link")
    now = time.time()
    default = alice.info(created["id"]).json()["fileUrl"]
    assert now + 1800 - 5 <= link_expiry(default) <= time.time() + 1800 + 1
    wanted = int(time.time() + 35 * 3600)
    ok = alice.info(created["id"], link_expires_at=iso(wanted)).json()
    assert link_expiry(ok["fileUrl"]) == link_expiry(ok["downloadUrl"]) == wanted
    assert requests.get(ok["fileUrl"], timeout=TIMEOUT).content == b"link"
    for bad in (iso(time.time() + 37 * 3600), iso(time.time() - 60), "soon"):
        r = alice.info(created["id"], link_expires_at=bad)
        assert r.status_code == 400, (bad, r.text)
        assert "link_expires_at" in r.json()["errorDescription"]
    skewed = alice.info(created["id"], link_expires_at=iso(time.time() + 36 * 3600 + 30))
    assert link_expiry(skewed.json()["fileUrl"]) <= time.time() + 36 * 3600
    official = civis.APIClient(api_key=alice.key)
    with pytest.raises(civis.base.CivisAPIError) as err:
        official.files.get(created["id"], link_expires_at=iso(time.time() + 48 * 3600))
    assert err.value.status_code == 400


def test_links_stop_when_the_file_expires_and_its_bytes_are_deleted(alice, platform):
    expires = time.time() + 600
    created = alice.create("e.txt", expiresAt=iso(expires))
    assert form_upload(created, b"expiring").status_code == 204
    info = alice.info(created["id"], link_expires_at=iso(time.time() + 35 * 3600)).json()
    assert link_expiry(info["fileUrl"]) <= expires  # never outlives the file
    assert requests.get(info["fileUrl"], timeout=TIMEOUT).content == b"expiring"
    assert platform.blobs.path(created["id"]).is_file()
    patched = alice.http.patch(
        alice.url(f"files/{created['id']}"), json={"expiresAt": "2001-01-01T00:00:00Z"}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["fileUrl"] is None
    gone = requests.get(info["fileUrl"], timeout=TIMEOUT)
    assert gone.status_code == 404 and "expired" in gone.text
    assert not platform.blobs.path(created["id"]).exists()
    again = alice.info(created["id"]).json()
    assert again["fileUrl"] is None and again["downloadUrl"] is None
    assert form_upload(created, b"back again").status_code in (204, 403)
    assert not platform.blobs.path(created["id"]).exists()  # an expired file takes no bytes


def test_expired_bytes_are_deleted_at_start_without_any_access(tmp_path):
    data = tmp_path / "data"
    with LocalPlatform(data_dir=data, execute=False) as p:
        user = User(p.endpoint, p.create_user("carol"))
        expires = time.time() + 1.5
        short = user.create("short.txt", expiresAt=iso(expires))
        kept = user.create("kept.txt", expiresAt=None)
        assert form_upload(short, b"short-lived").status_code == 204
        assert form_upload(kept, b"kept").status_code == 204
        short_path, kept_path = p.blobs.path(short["id"]), p.blobs.path(kept["id"])
    wait_until(lambda: time.time() > expires + 0.1, "the file to expire", timeout=TIMEOUT)
    assert short_path.is_file()  # nothing touched it after it expired
    with LocalPlatform(data_dir=data, execute=False) as p:
        assert not short_path.exists()
        assert kept_path.read_bytes() == b"kept"
        user = User(p.endpoint, user.key)
        assert user.info(short["id"]).json()["fileUrl"] is None


# -- names -------------------------------------------------------------------------------

ODD_NAMES = [
    ".",
    "..",
    "a/b.csv",
    "dir/",
    "/",
    "..\\..",
    "100%.csv",
    "%2e%2e",
    "what?.txt",
    "#hash",
    "x" * 1024,
    "日本語 ü.csv",
    " leading and trailing .csv ",
    "line\r\nbreak: yes",
]


@pytest.mark.parametrize("name", ODD_NAMES, ids=lambda n: repr(n)[:20])
def test_odd_names_get_working_links_and_keep_their_bytes(alice, name):
    created = alice.create(name)
    payload = os.urandom(1000) + name.encode("utf-8", "surrogatepass")
    assert form_upload(created, payload).status_code == 204
    info = alice.info(created["id"])
    assert info.status_code == 200, info.text
    assert info.json()["name"] == name
    for key in ("fileUrl", "downloadUrl"):
        got = requests.get(info.json()[key], timeout=TIMEOUT)
        assert got.status_code == 200, got.text
        assert got.content == payload
        assert "\n" not in got.headers["Content-Disposition"]


@pytest.mark.parametrize("name", [".", "..", "a/b.csv"], ids=repr)
def test_odd_names_round_trip_with_the_official_client(alice, name):
    client = civis.APIClient(api_key=alice.key)
    file_id = civis.io.file_to_civis(io.BytesIO(b"odd " * 100), name, client=client)
    out = io.BytesIO()
    civis.io.civis_to_file(file_id, out, client=client)
    assert out.getvalue() == b"odd " * 100


@pytest.mark.parametrize("name", ["", "   ", "x" * 1025, 7, None, "\ud800", "a\ud800b.csv"])
def test_empty_overlong_non_string_and_invalid_unicode_names_are_400(alice, name):
    r = alice.http.post(alice.url("files"), json={"name": name}, timeout=TIMEOUT)
    assert r.status_code == 400, r.text
    assert "name" in r.json()["errorDescription"] or "surrogate" in r.json()["errorDescription"]


@pytest.mark.parametrize("name", ["\ud800", "a\ud800b.csv", "\udcff.txt"], ids=repr)
def test_a_stored_name_with_a_lone_surrogate_still_gets_a_working_link(alice, platform, name):
    # the API refuses such names, but the platform's own paths (exports named after
    # files on disk, older data dirs) can store them: their files stay readable
    user = platform.store.identity.user_for_token(alice.key)
    created = new_file(platform, user, name)
    platform.blobs.write_bytes(created["id"], b"surrogate")
    info = alice.info(created["id"])
    assert info.status_code == 200, info.text
    assert info.json()["name"] == name
    got = requests.get(info.json()["fileUrl"], timeout=TIMEOUT)
    assert got.status_code == 200 and got.content == b"surrogate"


# -- bad ids and bodies ----------------------------------------------------------------------


def test_bad_ids_and_bodies_are_4xx_never_5xx(alice):
    own = alice.create("own.txt")["id"]
    huge, huger = str(2**63), "9" * 30
    calls: list[tuple[str, str, Any]] = [
        ("get", f"files/{huge}", None),
        ("get", f"files/{huger}", None),
        ("get", "files/0", None),
        ("get", "files/%C2%B2", None),
        ("post", "files/multipart/%D9%A3/complete", None),
        ("patch", f"files/{huge}", {"name": "x"}),
        ("put", f"files/{huger}", {"name": "x", "expiresAt": None}),
        ("post", f"files/multipart/{huge}/complete", None),
        ("post", "files/multipart/0/complete", None),
        ("post", f"files/multipart/{own}/complete", None),  # not a multipart upload
        ("post", "files/preprocess/csv", {"fileId": "abc"}),
        ("post", "files/preprocess/csv", {"fileId": 2**70}),
        ("post", "files/preprocess/csv", {"fileId": True}),
        ("post", "files/preprocess/csv", {"fileId": [1]}),
        ("post", "files/preprocess/csv", {"fileId": 1.5}),
        ("post", "files/multipart", {"name": "m", "numParts": "abc"}),
        ("post", "files/multipart", {"name": "m", "numParts": True}),
        ("post", "files/multipart", {"name": "m", "numParts": 10**30}),
        ("post", "files/multipart", {"name": "m", "numParts": 1.5}),
        ("post", "files", {"name": "x", "expiresAt": "9999-12-31T23:59:59-14:00"}),
        ("post", "files", {"name": "x", "expiresAt": "garbage"}),
        ("post", "files", {"name": "x", "expiresAt": 12}),
        ("post", "files", {"name": "x", "description": {"a": 1}}),
        ("patch", f"files/{own}", {"expiresAt": "nope"}),
        ("patch", f"files/{own}", {"name": 5}),
        ("patch", f"files/{own}", [1]),
        ("put", f"files/{own}", {"name": "only-a-name.txt"}),
    ]
    for verb, path, body in calls:
        r = alice.http.request(verb, alice.url(path), json=body, timeout=TIMEOUT)
        assert 400 <= r.status_code < 500, (verb, path, body, r.status_code, r.text)
    r = alice.info(own, link_expires_at="garbage")
    assert r.status_code == 400
    renamed = alice.http.put(
        alice.url(f"files/{own}"), json={"name": "new.txt", "expiresAt": None}, timeout=TIMEOUT
    )
    assert renamed.status_code == 200 and renamed.json()["name"] == "new.txt"
    assert renamed.json()["expiresAt"] is None


def test_bad_blob_urls_are_4xx_never_5xx(alice):
    created = alice.create("b.txt")
    form_upload(created, b"b")
    good = alice.info(created["id"]).json()["fileUrl"]
    parts = urllib.parse.urlsplit(good)
    root = f"{parts.scheme}://{parts.netloc}/_blobs"
    sig = urllib.parse.parse_qs(parts.query)["signature"][0]
    urls = [
        ("get", f"{root}/files/{'9' * 30}/x?expires=1&signature={sig}"),
        ("get", f"{root}/files/{created['id']}/x?expires=1e99&signature={sig}"),
        ("get", f"{root}/files/{created['id']}/x?expires={'9' * 40}&signature={sig}"),
        ("get", f"{root}/files/{created['id']}/x?expires=1&signature=%F0%9F%98%80"),
        ("get", f"{root}/files/{created['id']}/%ED%A0%80?{parts.query}"),
        ("put", f"{root}/parts/{created['id']}/{'9' * 9}?expires=1&signature=x"),
        ("put", f"{root}/parts/{'9' * 30}/0?expires=1&signature=x"),
        ("post", f"{root}/upload/{'9' * 30}"),
    ]
    for verb, url in urls:
        r = requests.request(verb, url, data=b"x", timeout=TIMEOUT)
        assert 400 <= r.status_code < 500, (verb, url, r.status_code, r.text)


# -- crash leftovers ----------------------------------------------------------------------

SERVE = """
import sys, time
from civis_jupyter.platform import LocalPlatform
p = LocalPlatform(data_dir=sys.argv[1], execute=False)
p.start()
print(p.endpoint, flush=True)
time.sleep(3600)
"""


def _stalled_upload(created: dict[str, Any], release: threading.Event) -> Iterator[bytes]:
    """A form body that sends its fields and part of the file, then waits."""
    boundary = "stall-boundary"
    for key, value in created["uploadFields"].items():
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'
        ).encode()
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n\r\n'
    ).encode()
    yield os.urandom(256 * 1024)
    release.wait(TIMEOUT)


def test_temporary_files_of_a_crashed_upload_are_removed_at_start(tmp_path):
    data = tmp_path / "data"
    server = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(data)], stdout=subprocess.PIPE, text=True
    )
    release = threading.Event()
    tmp_dir = data / "files" / "tmp"
    try:
        endpoint = server.stdout.readline().strip()
        assert endpoint.startswith("http://127.0.0.1:"), endpoint
        admin = User(endpoint, json.loads((data / "platform.json").read_text())["api_key"])
        created = admin.create("crash.bin")

        def upload() -> None:
            headers = {"Content-Type": "multipart/form-data; boundary=stall-boundary"}
            try:
                requests.post(
                    created["uploadUrl"],
                    data=_stalled_upload(created, release),
                    headers=headers,
                    timeout=TIMEOUT,
                )
            except requests.RequestException:
                pass  # the server is killed under it

        sender = threading.Thread(target=upload)
        sender.start()
        wait_until(
            lambda: any(f.stat().st_size > 0 for f in tmp_dir.iterdir()),
            "a temporary file",
            timeout=TIMEOUT,
        )
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(TIMEOUT)
        server.stdout.close()
        release.set()
    sender.join(TIMEOUT)
    assert list(tmp_dir.iterdir())  # left behind by the crash
    with LocalPlatform(data_dir=data, execute=False) as again:
        assert list(tmp_dir.iterdir()) == []
        assert not again.blobs.path(created["id"]).exists()
        # nothing half-written counts as complete: the form still works once
        path = urllib.parse.urlsplit(created["uploadUrl"]).path
        moved = dict(created, uploadUrl=again.endpoint.rstrip("/") + path)
        assert form_upload(moved, b"after the crash").status_code == 204
        user = User(again.endpoint, again.api_key)
        assert user.download(created["id"]) == b"after the crash"


def test_parts_left_by_a_crash_after_completion_are_removed_at_start(tmp_path):
    data = tmp_path / "data"
    with LocalPlatform(data_dir=data, execute=False) as p:
        user = User(p.endpoint, p.api_key)
        created = user.multipart("p.bin", [b"12", b"34"])
        assert user.complete(created["id"]).status_code == 204
        leftover = p.blobs.part_path(created["id"], 0)
    # a crash between publishing the file and removing its parts leaves them
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"12")
    with LocalPlatform(data_dir=data, execute=False) as p:
        assert not leftover.parent.exists()
        assert User(p.endpoint, p.api_key).download(created["id"]) == b"1234"
