"""Signed, expiring URLs that move file contents, like S3 presigned URLs.

An HMAC over the URL's purpose, file id, part and expiry time authorises:

- single uploads: a form POST to ``uploadUrl`` with the ``uploadFields``
  (``key``, ``policy``, ``signature``) first and ``file`` last, like an S3
  presigned POST;
- multipart uploads: one presigned PUT URL per part;
- downloads: a signed GET URL that stops working at its expiry time.

Expired, forged or malformed URLs raise :class:`BlobAccessError`, which the
handlers answer with an S3-style XML error.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any

__all__ = ["BLOB_PREFIX", "MAX_LINK_SECONDS", "BlobAccessError", "UrlSigner", "url_name"]

#: URL path prefix of the blob routes.
BLOB_PREFIX = "/_blobs"
#: Longest life of a signed download link (Civis allows 36 hours).
MAX_LINK_SECONDS = 36 * 3600
#: Longest URL path segment naming a download (in characters, before quoting).
MAX_URL_NAME = 255


class BlobAccessError(Exception):
    """A signed URL or upload policy is expired, forged, malformed or used up.

    Parameters
    ----------
    code : str
        S3-style error code (``AccessDenied``, ``SignatureDoesNotMatch``).
    message : str
        Human-readable reason.
    status : int, optional
        HTTP status of the answer (403 unless told).
    """

    def __init__(self, code: str, message: str, status: int = 403):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _join(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + path


def url_name(name: Any) -> str:
    """The last URL path segment naming a file's download.

    Any name works: the part after the last slash, lone surrogates replaced,
    at most 255 characters (keeping the extension), and ``file`` for names
    that would make no segment (empty, ``.``, ``..``).

    Parameters
    ----------
    name : Any
        The file's name.

    Returns
    -------
    str
        A non-empty name, safe to quote into a URL path.
    """
    text = str(name or "").encode("utf-8", "replace").decode("utf-8")
    base = text.replace("\\", "/").rsplit("/", 1)[-1]
    if len(base) > MAX_URL_NAME:
        _stem, dot, ext = base.rpartition(".")
        keep = dot + ext if dot and len(ext) < 16 else ""
        base = base[: MAX_URL_NAME - len(keep)] + keep
    if base.strip(".") == "" and len(base) <= 2:
        return "file"
    return base


class UrlSigner:
    """Makes and checks the signed URLs of file contents.

    Parameters
    ----------
    secret : bytes
        Key for the signatures (never empty).
    """

    def __init__(self, secret: bytes):
        if not secret:
            raise ValueError("URL signing needs a non-empty secret")
        self._secret = bytes(secret)

    def __repr__(self) -> str:
        return "UrlSigner(<secret>)"

    def _sign(self, *fields: Any) -> str:
        msg = "\n".join(str(f) for f in fields).encode("utf-8")
        return hmac.new(self._secret, msg, hashlib.sha256).hexdigest()

    def _check(self, signature: str | None, expires: str | None, *fields: Any) -> None:
        if not signature or not expires:
            raise BlobAccessError("AccessDenied", "Request is not signed")
        if not expires.isascii() or not expires.isdigit() or len(expires) > 18:
            raise BlobAccessError("AccessDenied", "Invalid expiry")
        deadline = int(expires)
        expected = self._sign(*fields, deadline)
        if not hmac.compare_digest(expected.encode(), str(signature).encode("utf-8", "replace")):
            raise BlobAccessError("SignatureDoesNotMatch", "The request signature does not match")
        if time.time() > deadline:
            raise BlobAccessError("AccessDenied", "Request has expired")

    # -- single uploads ----------------------------------------------------------------
    def upload_form(
        self, base_url: str, file_id: int, expires_in: float = 3600
    ) -> tuple[str, dict[str, str]]:
        """The URL and form fields for the single upload of a file.

        Parameters
        ----------
        base_url : str
            The platform's root URL (``http://127.0.0.1:port/``).
        file_id : int
            Platform file id.
        expires_in : float
            Seconds the policy stays valid.

        Returns
        -------
        (str, dict)
            ``uploadUrl`` and ``uploadFields`` (``key`` first).
        """
        key = f"files/{int(file_id)}"
        deadline = int(time.time() + expires_in)
        policy = _b64(json.dumps({"key": key, "expires": deadline}).encode())
        fields = {"key": key, "policy": policy, "signature": self._sign("post", key, policy)}
        return _join(base_url, f"{BLOB_PREFIX}/upload/{int(file_id)}"), fields

    def check_upload_fields(self, file_id: int, fields: Mapping[str, str]) -> None:
        """Verify the form fields of a single upload.

        Parameters
        ----------
        file_id : int
            The file named by the upload URL.
        fields : mapping
            The form fields received before the file.

        Raises
        ------
        BlobAccessError
            If the policy is forged, expired or for another file.
        """
        key, policy, sig = fields.get("key"), fields.get("policy"), fields.get("signature")
        if not key or not policy or not sig:
            raise BlobAccessError("AccessDenied", "key, policy and signature fields are required")
        expected = self._sign("post", key, policy)
        if not hmac.compare_digest(expected.encode(), sig.encode("utf-8", "replace")):
            raise BlobAccessError(
                "SignatureDoesNotMatch", "The upload policy signature does not match"
            )
        try:
            doc = json.loads(_unb64(policy))
            expires = float(doc.get("expires", 0))
        except (ValueError, TypeError, AttributeError):
            raise BlobAccessError("AccessDenied", "Malformed upload policy") from None
        if doc.get("key") != key or key != f"files/{int(file_id)}":
            raise BlobAccessError("AccessDenied", "The key does not match the policy")
        if time.time() > expires:
            raise BlobAccessError("AccessDenied", "Upload policy has expired")

    # -- multipart uploads -------------------------------------------------------------
    def part_urls(
        self, base_url: str, file_id: int, num_parts: int, expires_in: float = 3600
    ) -> list[str]:
        """Presigned PUT URLs for the parts of a multipart upload.

        Parameters
        ----------
        base_url : str
            The platform's root URL.
        file_id : int
            Platform file id.
        num_parts : int
            Number of parts.
        expires_in : float
            Seconds the URLs stay valid.

        Returns
        -------
        list of str
            One URL per part, in order.
        """
        deadline = int(time.time() + expires_in)
        urls = []
        for part in range(int(num_parts)):
            sig = self._sign("put", int(file_id), part, deadline)
            query = urllib.parse.urlencode({"expires": deadline, "signature": sig})
            urls.append(_join(base_url, f"{BLOB_PREFIX}/parts/{int(file_id)}/{part}?{query}"))
        return urls

    def check_part(
        self, file_id: int, part: int, expires: str | None, signature: str | None
    ) -> None:
        """Verify a part URL's signature and expiry.

        Raises
        ------
        BlobAccessError
            If the URL is forged or expired.
        """
        self._check(signature, expires, "put", int(file_id), int(part))

    # -- downloads ---------------------------------------------------------------------
    def download_url(
        self, base_url: str, file_id: int, name: str, deadline: int, inline: bool = False
    ) -> str:
        """A signed URL that serves a file's contents until ``deadline``.

        Parameters
        ----------
        base_url : str
            The platform's root URL.
        file_id : int
            Platform file id.
        name : str
            File name (ends the URL path and names the download); any string.
        deadline : int
            Unix time after which the URL answers 403.
        inline : bool
            Ask browsers to display rather than download.

        Returns
        -------
        str
        """
        disposition = "inline" if inline else "attachment"
        sig = self._sign("get", int(file_id), disposition, int(deadline))
        query = urllib.parse.urlencode(
            {"disposition": disposition, "expires": int(deadline), "signature": sig}
        )
        safe = urllib.parse.quote(url_name(name), safe="")
        return _join(base_url, f"{BLOB_PREFIX}/files/{int(file_id)}/{safe}?{query}")

    def check_download(
        self,
        file_id: int,
        disposition: str | None,
        expires: str | None,
        signature: str | None,
    ) -> None:
        """Verify a download URL.

        Raises
        ------
        BlobAccessError
            If the URL is forged or expired.
        """
        self._check(signature, expires, "get", int(file_id), disposition or "")
