"""Downloads with checksum, resume and progress: :func:`download`.

:func:`download` fetches one URL into one file with the standard library
(:mod:`urllib.request`): it resumes broken transfers with HTTP ``Range``
requests, verifies md5/sha256 digests, moves the file into place atomically and
uses a verified file already there without touching the network.
:func:`snnx.datasets.fetch` (``_fetch.py``) builds the SHD/SSC downloads on it.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import math
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from pathlib import Path

from snnx.datasets._common import check_int

_HEX_DIGITS = {"md5": 32, "sha256": 64}
_USER_AGENT = "snnx-download (Python urllib)"
_MAX_RESTARTS = 2


class DownloadError(OSError):
    """A download failed: the server refused it, or it broke off more often than ``retries`` allows.

    The bytes received so far stay in ``PATH.part``; calling :func:`download`
    (or :func:`fetch`) again resumes from there.
    """


class OfflineError(DownloadError):
    """The server could not be reached (no network, DNS failure, refused or timed-out connection).

    The message names the URL, the full path where the file can be put by hand,
    and the digest it must have.
    """


class ChecksumError(DownloadError, ValueError):
    """A downloaded file does not match its expected digest (an :class:`OSError` and a :class:`ValueError`).

    The message names the file, the expected and the actual digests. The
    mismatching file has been deleted.
    """


class _Interrupted(Exception):
    """A transfer that broke off (counts against ``retries``); ``progressed``: it received bytes."""

    def __init__(self, reason: str, progressed: bool):
        super().__init__(reason)
        self.reason, self.progressed = reason, progressed


class _Restart(Exception):
    """The ``.part`` did not fit the server's file and was deleted: start again from zero."""


class _Unreachable(Exception):
    """The server could not be reached."""


def _check_digest(name: str, value) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"`{name}` must be a hexadecimal string, got {type(value).__name__} {value!r}")
    digest = value.strip().lower()
    if len(digest) != _HEX_DIGITS[name] or not re.fullmatch(r"[0-9a-f]+", digest):
        raise ValueError(f"`{name}` must be {_HEX_DIGITS[name]} hexadecimal digits, got {value!r}")
    return digest


def _check_path(name: str, value) -> Path:
    if not isinstance(value, (str, os.PathLike)) or isinstance(os.fspath(value), bytes):
        raise TypeError(f"`{name}` must be a str or os.PathLike path, got {type(value).__name__} {value!r}")
    return Path(os.fspath(value)).expanduser()


def _check_progress(progress) -> bool:
    if progress is None:
        isatty = getattr(sys.stderr, "isatty", None)
        return bool(isatty and isatty())
    if not isinstance(progress, bool):
        raise TypeError(f"`progress` must be None, True or False, got {type(progress).__name__} {progress!r}")
    return progress


def _digests(path: Path, algorithms, chunk_size: int) -> dict[str, str]:
    """Hex digests of the file ``path`` for each of ``algorithms``, read once in blocks."""
    hashes = {name: hashlib.new(name, usedforsecurity=False) for name in algorithms}
    with open(path, "rb") as f:
        while block := f.read(chunk_size):
            for h in hashes.values():
                h.update(block)
    return {name: h.hexdigest() for name, h in hashes.items()}


def _describe(expected: dict[str, str], actual: dict[str, str]) -> str:
    return ", ".join(f"{name} expected {expected[name]}, got {actual[name]}" for name in expected)


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """``(start, total)`` of a ``Content-Range: bytes START-END/TOTAL`` (or ``bytes */TOTAL``) header."""
    match = re.fullmatch(r"\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)\s*", value or "")
    if match is None:
        return None, None
    start = int(match[1]) if match[1] is not None else None
    return start, (int(match[2]) if match[2] != "*" else None)


def _content_length(value: str | None) -> int | None:
    return int(value) if value is not None and value.strip().isdigit() else None


def _transfer(url: str, part: Path, *, verifiable: bool, timeout: float, chunk_size: int, show) -> None:
    """Append the rest of ``url`` to ``part`` (or rewrite it); returns when ``part`` holds the whole file."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as err:
        with contextlib.closing(err):
            if err.code == 416 and have:  # nothing left past `have` bytes: complete, or longer than the file
                _, total = _content_range(err.headers.get("Content-Range"))
                if total == have or (total is None and verifiable):
                    return  # the checksum (when known) decides
                part.unlink()
                raise _Restart(f"the server's file has {total} bytes but {part} held {have}") from err
            if err.code in (408, 429) or err.code >= 500:
                raise _Interrupted(f"HTTP {err.code} {err.reason}", progressed=False) from err
            raise DownloadError(f"{url} answered HTTP {err.code} ({err.reason}); check the URL") from err
    except urllib.error.URLError as err:
        raise _Unreachable(str(err.reason)) from err
    except (OSError, http.client.HTTPException) as err:
        raise _Interrupted(f"{type(err).__name__}: {err}", progressed=False) from err
    with response:
        status = response.status or 200  # file: URLs have no status
        start, total = _content_range(response.headers.get("Content-Range"))
        length = _content_length(response.headers.get("Content-Length"))
        if status == 206:
            if start != have:
                part.unlink(missing_ok=True)
                raise _Restart(f"asked for bytes {have}- but the server sent bytes from {start}")
            mode = "ab"
            if total is None and length is not None:
                total = have + length
        else:  # 200: the server ignored the range (or none was asked); start from zero
            have, mode, total = 0, "wb", length
        # read1: at most one read of the socket, so the bytes that came before a timeout are not lost
        read = getattr(response, "read1", response.read)
        received = 0
        show(have, total)
        with open(part, mode) as f:
            while True:
                try:
                    block = read(chunk_size)
                except (OSError, http.client.HTTPException) as err:
                    raise _Interrupted(f"{type(err).__name__}: {err}", progressed=received > 0) from err
                if not block:
                    break
                f.write(block)
                received += len(block)
                show(have + received, total)
            f.flush()
            os.fsync(f.fileno())
    if total is not None and have + received < total:
        raise _Interrupted(
            f"the connection closed after {have + received} of {total} bytes", progressed=received > 0
        )


@contextlib.contextmanager
def _progress_bar(enabled: bool, description: str):
    """A ``show(completed, total)`` callback drawing a rich progress bar on stderr (or doing nothing)."""
    if not enabled:
        yield lambda completed, total: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(TextColumn("{task.description}"), *columns, console=Console(stderr=True)) as bar:
        task = bar.add_task(description, total=None)
        yield lambda completed, total: bar.update(task, completed=completed, total=total)


def _offline_message(url: str, path: Path, part: Path, expected: dict[str, str], reason: str) -> str:
    target = os.path.abspath(path)
    message = (
        f"could not reach {url} ({reason}): this machine may be offline, or the server is down. "
        f"Download the file on a machine that can reach it and put it at {target}"
    )
    if expected:
        checks = " and ".join(
            f"its {name} must be {d} (`{name}sum {target}`)" for name, d in expected.items()
        )
        message += f"; then check it: {checks}"
    else:
        message += " (no checksum is known for it)"
    if part.exists() and part.stat().st_size:
        message += f". {part.stat().st_size} bytes received earlier are kept in {part}; running again resumes"
    return message


def download(
    url: str,
    path: str | os.PathLike,
    *,
    md5: str | None = None,
    sha256: str | None = None,
    retries: int = 3,
    progress: bool | None = None,
    timeout: float = 30.0,
    chunk_size: int = 1 << 20,
) -> Path:
    """Download ``url`` to the file ``path``, resuming, verifying and caching.

    - **Cache.** When ``path`` exists and matches ``md5``/``sha256``, it is
      returned without any network access. When it exists but does not match
      (a corrupted cache), a :class:`UserWarning` naming it is issued and the
      file is downloaded again. Without a checksum an existing ``path`` is
      trusted as it is.
    - **Resume.** Bytes stream into ``path + ".part"``. When a ``.part`` is
      there already, only the rest is asked for (``Range: bytes=N-``); a
      server that answers with the whole file (HTTP 200) restarts it from
      zero, and one that answers 416 (nothing past ``N``) leaves the ``.part``
      to the checksum when it is complete, or deletes it otherwise.
    - **Retries.** A transfer that breaks off (connection dropped, fewer bytes
      than ``Content-Length``, a read timeout, HTTP 408/429/5xx) keeps the
      ``.part`` and is resumed, up to ``retries`` more attempts; one that
      received bytes resumes at once, one that did not waits 0.5 s, 1 s, 2 s,
      ... (at most 8 s) first. A digest mismatch deletes the ``.part`` and
      starts again from zero, which counts against ``retries`` too.
    - **Atomic.** Only a complete, verified file is moved to ``path``
      (:func:`os.replace`); ``path`` never holds a partial file.
    - **Progress.** A rich progress bar on stderr.

    Args:
        url: ``http://``, ``https://`` or ``file://`` URL of the file.
        path: where the file goes; missing parent folders are created.
        md5: expected md5 hex digest (32 digits, any case), or None.
        sha256: expected sha256 hex digest (64 digits), or None. Both may be
            given; each is checked.
        retries: further attempts after the first (0: try once).
        progress: draw the progress bar (True), never (False), or when stderr
            is a terminal (None).
        timeout: seconds to wait for the connection and for each read.
        chunk_size: bytes read (and hashed) at a time.

    Returns:
        ``path`` as a :class:`pathlib.Path`.

    Raises:
        TypeError, ValueError: an argument of the wrong type or value (``md5``
            that is not 32 hexadecimal digits, ``url`` of another scheme, ...).
        IsADirectoryError: ``path`` is a folder.
        OfflineError: the server cannot be reached; the message says where to
            put the file by hand and the digest it must have.
        ChecksumError: the file still did not match after ``retries`` more
            attempts; the download (``.part``) is deleted and nothing new is
            moved to ``path`` (a corrupted file that was there stays, and the
            next call warns about it again).
        DownloadError: the server refused the file (HTTP 404, ...), or the
            transfer broke off more than ``retries`` times; the bytes received
            stay in ``path + ".part"`` and calling again resumes.

    Example:
        >>> download("https://example.org/data.zip", "data.zip", md5="...")  # doctest: +SKIP
    """
    if not isinstance(url, str):
        raise TypeError(f"`url` must be a str, got {type(url).__name__} {url!r}")
    if urllib.parse.urlsplit(url).scheme.lower() not in ("http", "https", "file"):
        raise ValueError(f"`url` must be an http, https or file URL, got {url!r}")
    path = _check_path("path", path)
    expected = {
        name: digest
        for name, digest in (("md5", _check_digest("md5", md5)), ("sha256", _check_digest("sha256", sha256)))
        if digest is not None
    }
    retries = check_int("retries", retries, 0)
    chunk_size = check_int("chunk_size", chunk_size, 1)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"`timeout` must be a number of seconds, got {type(timeout).__name__} {timeout!r}")
    if not math.isfinite(timeout) or timeout <= 0:
        raise ValueError(f"`timeout` must be a positive number of seconds, got {timeout}")
    show_bar = _check_progress(progress)
    if path.is_dir():
        raise IsADirectoryError(f"`path` {str(path)!r} is a folder; give the file to download into")

    if path.exists():
        if not expected:
            return path
        actual = _digests(path, expected, chunk_size)
        if actual == expected:
            return path
        warnings.warn(
            f"{path} does not match its checksum ({_describe(expected, actual)}): the cached file is "
            f"corrupted or incomplete; downloading it again from {url}",
            UserWarning,
            stacklevel=2,
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    failures = restarts = 0
    with _progress_bar(show_bar, path.name) as show:
        while True:
            try:
                _transfer(
                    url, part, verifiable=bool(expected), timeout=timeout, chunk_size=chunk_size, show=show
                )
            except _Restart as err:
                restarts += 1
                if restarts > _MAX_RESTARTS:
                    raise DownloadError(
                        f"{url} keeps answering with byte ranges that do not fit: {err}"
                    ) from None
                continue
            except _Interrupted as err:
                failures += 1
                if failures > retries:
                    kept = part.stat().st_size if part.exists() else 0
                    raise DownloadError(
                        f"downloading {url} to {path} failed {failures} times (last: {err.reason}); "
                        f"{kept} bytes received are kept in {part}: running the download again resumes "
                        "from there"
                    ) from err.__cause__
                if not err.progressed:
                    time.sleep(min(0.5 * 2 ** (failures - 1), 8.0))
                continue
            except _Unreachable as err:
                raise OfflineError(_offline_message(url, path, part, expected, str(err))) from err.__cause__
            if expected:
                actual = _digests(part, expected, chunk_size)
                if actual != expected:
                    part.unlink()
                    failures += 1
                    if failures > retries:
                        raise ChecksumError(
                            f"{path} downloaded from {url} does not match its checksum "
                            f"({_describe(expected, actual)}) in {failures} attempts; the download was "
                            "deleted. A mirror may serve another version of the file"
                        )
                    continue
            os.replace(part, path)
            return path
