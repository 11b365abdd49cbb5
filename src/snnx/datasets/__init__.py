"""Datasets as time-major spike arrays ``(T, N, ...)`` with integer labels ``(N,)``, in memory or streamed.

``digits`` needs nothing beyond scikit-learn; ``shd``/``ssc`` read the
Heidelberg HDF5 files (:func:`fetch` downloads them); ``nmnist``/``dvs_gesture``
need the optional ``tonic`` (``pip install 'snnx[data]'``). Every loader takes
``process_index``/``process_count`` and returns that process's shard.

For data that should not be read into memory at once, a random-access source
(:class:`HeidelbergSource`, :class:`EventFrames`, :class:`ArraySource`) feeds a
:class:`Loader`: grain worker processes read and bit-pack the samples, and
:func:`snnx.train.fit` takes the loader as its data. :class:`PackedCache` bins a
source once into a file on disk, so later epochs only copy bytes.
"""

from snnx.datasets._arrays import ArraySource as ArraySource
from snnx.datasets._cache import PackedCache as PackedCache
from snnx.datasets._digits import digits as digits
from snnx.datasets._digits import digits_images as digits_images
from snnx.datasets._download import ChecksumError as ChecksumError
from snnx.datasets._download import DownloadError as DownloadError
from snnx.datasets._download import OfflineError as OfflineError
from snnx.datasets._download import download as download
from snnx.datasets._fetch import fetch as fetch
from snnx.datasets._heidelberg import HeidelbergSource as HeidelbergSource
from snnx.datasets._heidelberg import load_heidelberg as load_heidelberg
from snnx.datasets._heidelberg import shd as shd
from snnx.datasets._heidelberg import ssc as ssc
from snnx.datasets._loader import DataError as DataError
from snnx.datasets._loader import Loader as Loader
from snnx.datasets._tonic import EventFrames as EventFrames
from snnx.datasets._tonic import dvs_gesture as dvs_gesture
from snnx.datasets._tonic import nmnist as nmnist

__all__ = [
    "ArraySource",
    "ChecksumError",
    "DataError",
    "DownloadError",
    "EventFrames",
    "HeidelbergSource",
    "Loader",
    "OfflineError",
    "PackedCache",
    "digits",
    "digits_images",
    "download",
    "dvs_gesture",
    "fetch",
    "load_heidelberg",
    "nmnist",
    "shd",
    "ssc",
]
