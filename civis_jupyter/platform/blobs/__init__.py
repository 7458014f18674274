"""File contents on disk, and the S3-like URLs that move them.

- :mod:`.storage`: the bytes (atomic writes, multipart parts, expiry);
- :mod:`.signing`: signed, expiring upload and download URLs;
- :mod:`.handlers`: the tornado routes that serve those URLs.

:class:`Blobs` is the service behaviours use: the storage, plus URLs whose
life never outlasts the file (a download link lives at most 36 hours, as on
Civis, and never past the file's own expiry).
"""

from __future__ import annotations

import time
from pathlib import Path

from .signing import BLOB_PREFIX, MAX_LINK_SECONDS, BlobAccessError, UrlSigner, url_name
from .storage import BlobConflict, BlobError, BlobStore, PendingWrite

__all__ = [
    "BLOB_PREFIX",
    "MAX_LINK_SECONDS",
    "BlobAccessError",
    "BlobConflict",
    "BlobError",
    "BlobStore",
    "Blobs",
    "PendingWrite",
    "UrlSigner",
    "url_name",
]


class Blobs(BlobStore):
    """File contents of a platform, with signed upload and download URLs.

    Parameters
    ----------
    data_dir : Path
        Directory for the contents (see :class:`BlobStore`).
    secret : bytes
        Key for the URL signatures.
    """

    def __init__(self, data_dir: Path, secret: bytes):
        self.signer = UrlSigner(secret)
        super().__init__(data_dir)

    def upload_form(
        self, base_url: str, file_id: int, expires_in: float = 3600
    ) -> tuple[str, dict[str, str]]:
        """The URL and form fields for the single upload of a file.

        See :meth:`UrlSigner.upload_form`; expired files' bytes are swept first.
        """
        self.maybe_sweep()
        return self.signer.upload_form(base_url, file_id, expires_in)

    def part_urls(
        self, base_url: str, file_id: int, num_parts: int, expires_in: float = 3600
    ) -> list[str]:
        """Presigned PUT URLs for the parts of a multipart upload.

        See :meth:`UrlSigner.part_urls`; expired files' bytes are swept first.
        """
        self.maybe_sweep()
        return self.signer.part_urls(base_url, file_id, num_parts, expires_in)

    def download_url(
        self, base_url: str, file_id: int, name: str, expires_at: float, inline: bool = False
    ) -> str:
        """A signed URL that serves the file's contents until ``expires_at``.

        Parameters
        ----------
        base_url : str
            The platform's root URL.
        file_id : int
            Platform file id.
        name : str
            File name (ends the URL path and names the download); any string.
        expires_at : float
            Unix time after which the URL answers 403; capped at 36 hours
            from now and at the file's own expiry.
        inline : bool
            Ask browsers to display rather than download.

        Returns
        -------
        str
        """
        self.maybe_sweep()
        wanted = min(expires_at, time.time() + MAX_LINK_SECONDS)
        file_expiry = self.expires_at(file_id)
        deadline = int(wanted if file_expiry is None else min(wanted, file_expiry))
        return self.signer.download_url(base_url, file_id, name, deadline, inline)
