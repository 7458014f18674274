"""civis.io file helpers of the official client against the platform."""

from __future__ import annotations

import hashlib
import io
import os
import time

import pytest
import requests

from ..polling import wait_until

civis = pytest.importorskip("civis")


def test_file_round_trip_single_upload(client):
    payload = os.urandom(200_000) + "ünïcødé\r\n".encode()
    file_id = civis.io.file_to_civis(io.BytesIO(payload), "blob.bin", client=client)
    info = client.files.get(file_id)
    assert info.name == "blob.bin" and info.file_size == len(payload)
    assert info.file_url and info.download_url
    out = io.BytesIO()
    civis.io.civis_to_file(file_id, out, client=client)
    assert out.getvalue() == payload


def test_file_round_trip_multipart(client, platform, tmp_path, monkeypatch):
    # 12 MiB with the threshold lowered: three 5 MiB-or-so parts, PUT in parallel
    # (civis loads its io modules lazily: patch the namespace the function uses)
    monkeypatch.setitem(civis.io.file_to_civis.__globals__, "MIN_MULTIPART_SIZE", 2**20)
    src = tmp_path / "big.bin"
    data = os.urandom(12 * 2**20 + 12345)
    src.write_bytes(data)
    file_id = civis.io.file_to_civis(str(src), client=client)
    assert platform.store.objects.raw(file_id)["numParts"] >= 2  # it went through multipart
    dest = tmp_path / "back.bin"
    civis.io.civis_to_file(file_id, str(dest), client=client)
    assert hashlib.sha256(dest.read_bytes()).digest() == hashlib.sha256(data).digest()
    assert client.files.get(file_id).file_size == len(data)


@pytest.mark.slow
def test_multipart_upload_of_a_51_mib_file_without_patching(client, tmp_path):
    src = tmp_path / "huge.bin"
    with open(src, "wb") as f:
        for _ in range(51):
            f.write(os.urandom(2**20))
        f.write(b"tail")
    file_id = civis.io.file_to_civis(str(src), "huge.bin", client=client)
    assert client.files.get(file_id).file_size == src.stat().st_size
    dest = tmp_path / "huge.back"
    civis.io.civis_to_file(file_id, str(dest), client=client)
    assert dest.stat().st_size == src.stat().st_size


def test_json_round_trip(client):
    obj = {"a": [1, 2.5, None], "ü": "日本", "nested": {"t": True}}
    file_id = civis.io.json_to_file(obj, name="obj.json", client=client)
    assert civis.io.file_to_json(file_id, client=client) == obj


def test_dataframe_file_round_trip(client):
    import pandas as pd

    df = pd.DataFrame({"x": [1, 2], "y": ["a,b", None]})
    file_id = civis.io.dataframe_to_file(df, name="frame.csv", client=client, index=False)
    back = civis.io.file_to_dataframe(file_id, client=client)
    assert back["x"].tolist() == [1, 2]
    assert back.loc[0, "y"] == "a,b" and pd.isna(back.loc[1, "y"])


def test_signed_links_expire(client):
    file_id = civis.io.file_to_civis(io.BytesIO(b"short-lived"), "s.txt", client=client)
    soon = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3))
    url = client.files.get(file_id, link_expires_at=soon).file_url
    assert requests.get(url, timeout=30).content == b"short-lived"
    wait_until(
        lambda: requests.get(url, timeout=30).status_code == 403,
        "the link to expire",
        timeout=10,
        interval=0.2,
    )
    forged = url.replace("signature=", "signature=0")
    assert requests.get(forged, timeout=30).status_code == 403


def test_file_without_upload_has_no_url_and_expired_file_is_gone(client):
    created = client.files.post("never-uploaded.txt")
    assert client.files.get(created.id).file_url is None
    gone = civis.io.file_to_civis(
        io.BytesIO(b"old"), "old.txt", expires_at="2001-01-01", client=client
    )
    with pytest.raises(civis.base.EmptyResultError):
        civis.io.civis_to_file(gone, io.BytesIO(), client=client)
