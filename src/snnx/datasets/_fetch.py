"""The SHD and SSC releases of the Zenke lab: :func:`fetch` downloads, verifies and extracts them.

Built on :func:`snnx.datasets.download`; the files are the Spiking Heidelberg
Digits (SHD) and Spiking Speech Commands (SSC) of Cramer et al. (2022),
https://zenkelab.org/datasets/.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import warnings
import zipfile
from pathlib import Path, PurePosixPath, PureWindowsPath

from snnx.datasets._download import DownloadError, _check_path, download

#: Where :func:`fetch` downloads from unless ``base_url`` or ``SNNX_DATA_MIRROR`` name a mirror.
ZENKE_URL = "https://zenkelab.org/datasets/"

# name -> split -> (archive on the server, md5 of the archive). The md5 digests are the ones tonic 1.7.0
# publishes for the same URLs (tonic/datasets/hsd.py). The site also serves .h5.gz versions of the same
# files; snnx uses the zip archives.
_REGISTRY: dict[str, dict[str, tuple[str, str]]] = {
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


def _default_cache_dir() -> Path:
    if os.environ.get("SNNX_DATA_DIR"):
        return Path(os.environ["SNNX_DATA_DIR"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "snnx"


def _unsafe_member(name: str) -> bool:
    posix = name.replace("\\", "/")
    return posix.startswith("/") or PureWindowsPath(name).drive != "" or ".." in PurePosixPath(posix).parts


def _marker(h5: Path) -> Path:
    return h5.with_name(h5.name + ".json")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _is_extracted(h5: Path, archive_name: str, md5: str) -> bool:
    """Whether ``h5`` was extracted from the verified archive, per its marker, and still has its content
    (the sha256 the marker recorded); a changed file is reported and extracted again."""
    try:
        info = json.loads(_marker(h5).read_text())
        recorded = (
            isinstance(info, dict)
            and info.get("archive") == archive_name
            and info.get("md5") == md5
            and h5.is_file()
        )
        if not recorded:
            return False
        if h5.stat().st_size == info.get("size") and _sha256(h5) == info.get("sha256"):
            return True
    except (OSError, ValueError):
        return False
    warnings.warn(
        f"{h5}: the cached file does not match the sha256 recorded when it was extracted from "
        f"{archive_name} (it was changed or corrupted); extracting it again",
        stacklevel=3,
    )
    return False


def _write_atomic(path: Path, write) -> None:
    """Call ``write(f)`` on a temporary file next to ``path``, then move it to ``path``."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _extract(archive: Path, h5: Path, archive_name: str, md5: str) -> None:
    """Extract the ``.h5`` member of the verified ``archive`` to ``h5`` and record that in its marker."""
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            for info in infos:
                if _unsafe_member(info.filename):
                    raise DownloadError(
                        f"{archive}: refusing to extract member {info.filename!r}: archive members must be "
                        "relative paths without '..'"
                    )
            files = [info for info in infos if not info.is_dir()]
            wanted = [info for info in files if PurePosixPath(info.filename).name == h5.name]
            wanted = wanted or [info for info in files if info.filename.endswith(".h5")]
            if len(wanted) != 1:
                raise DownloadError(
                    f"{archive} should hold one file {h5.name!r}; it holds {[i.filename for i in files]}"
                )
            with zf.open(wanted[0]) as src:
                _write_atomic(h5, lambda out: shutil.copyfileobj(src, out, 1 << 20))
    except zipfile.BadZipFile as err:
        raise DownloadError(
            f"{archive} is not a readable zip archive ({err}); delete it and fetch again"
        ) from err
    info = {
        "archive": archive_name,
        "md5": md5,
        "member": wanted[0].filename,
        "size": h5.stat().st_size,
        "sha256": _sha256(h5),
    }
    _write_atomic(_marker(h5), lambda f: f.write(json.dumps(info, indent=1).encode()))


def fetch(
    name: str,
    cache_dir: str | os.PathLike | None = None,
    *,
    base_url: str | None = None,
    progress: bool | None = None,
) -> dict[str, Path]:
    """Download, verify and extract the SHD or SSC spike files; returns the path of each split's ``.h5``.

    The Zenke-lab archives (https://zenkelab.org/datasets/, Cramer et al.
    2022) are downloaded with :func:`download` (resumed, md5-verified, with a
    progress bar) into the cache folder, and the ``.h5`` each holds is
    extracted next to it (to a temporary name, then moved into place).
    ``shd``: ``shd_train.h5.zip``, ``shd_test.h5.zip``; ``ssc``:
    ``ssc_train.h5.zip``, ``ssc_valid.h5.zip``, ``ssc_test.h5.zip``.

    Next to each ``X.h5`` a marker ``X.h5.json`` records the md5 of the
    archive it came from and the size and sha256 of the extracted file. A
    later call trusts an ``.h5`` whose marker names the expected md5 and whose
    sha256 is unchanged (hashing it takes about a second per GB), and then
    makes no network access, even when the ``.zip`` has been deleted to save
    space. A changed or corrupted ``.h5`` is never used silently: a warning
    names it, and the ``.zip`` is re-verified (downloaded again when missing or
    corrupted) and extracted again. Delete ``X.h5.json`` to force that. An
    ``.h5`` put there by hand, without a marker, is not used: put the ``.zip``
    there instead.

    The cache folder is ``cache_dir``, else the environment variable
    ``SNNX_DATA_DIR``, else ``$XDG_CACHE_HOME/snnx`` (``~/.cache/snnx`` when
    ``XDG_CACHE_HOME`` is unset).

    Args:
        name: ``"shd"`` (Spiking Heidelberg Digits) or ``"ssc"`` (Spiking
            Speech Commands).
        cache_dir: folder for the archives and the ``.h5`` files (created when
            missing); None: see above.
        base_url: URL of a folder serving the same file names, used instead of
            https://zenkelab.org/datasets/ (a mirror, or a local copy as
            ``file:///path/to/folder/``); None: the environment variable
            ``SNNX_DATA_MIRROR``, else the Zenke-lab site.
        progress: as in :func:`download`.

    Returns:
        ``{"train": Path, "test": Path}`` for ``shd``; ``ssc`` also has
        ``"valid"``. Each path is an ``.h5`` file for :func:`load_heidelberg`.

    Raises:
        TypeError, ValueError: ``name`` is not one of the known datasets, or
            another argument is of the wrong type.
        OfflineError: the server cannot be reached; the message names the
            ``.zip`` path to put the archive at by hand and its md5.
        ChecksumError, DownloadError: as in :func:`download`; also a
            ``DownloadError`` for an archive that is not a zip, holds no
            ``.h5``, or holds a member with an absolute path or ``..``.

    Example:
        >>> paths = fetch("shd")  # doctest: +SKIP
        >>> x, y = load_heidelberg(paths["train"], num_steps=100)  # doctest: +SKIP
    """
    if not isinstance(name, str):
        raise TypeError(f"`name` must be a str, got {type(name).__name__} {name!r}")
    if name not in _REGISTRY:
        raise ValueError(f"`name` must be one of {sorted(_REGISTRY)}, got {name!r}")
    root = _default_cache_dir() if cache_dir is None else _check_path("cache_dir", cache_dir)
    if base_url is None:
        base_url = os.environ.get("SNNX_DATA_MIRROR") or ZENKE_URL
    elif not isinstance(base_url, str):
        raise TypeError(f"`base_url` must be a str, got {type(base_url).__name__} {base_url!r}")
    base_url = base_url.rstrip("/") + "/"
    paths = {}
    for split, (archive_name, md5) in _REGISTRY[name].items():
        h5 = root / archive_name.removesuffix(".zip")
        if not _is_extracted(h5, archive_name, md5):
            archive = download(base_url + archive_name, root / archive_name, md5=md5, progress=progress)
            _extract(archive, h5, archive_name, md5)
        paths[split] = h5
    return paths
