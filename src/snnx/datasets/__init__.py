"""Datasets as time-major spike arrays ``(T, N, ...)`` with integer labels ``(N,)``.

``digits`` needs nothing beyond scikit-learn; ``shd``/``ssc`` read the
Heidelberg HDF5 files you downloaded; ``nmnist``/``dvs_gesture`` need the
optional ``tonic`` (``pip install 'snnx[data]'``). Every loader takes
``process_index``/``process_count`` and returns that process's shard.
"""

from snnx.datasets._digits import digits as digits
from snnx.datasets._digits import digits_images as digits_images
from snnx.datasets._heidelberg import load_heidelberg as load_heidelberg
from snnx.datasets._heidelberg import shd as shd
from snnx.datasets._heidelberg import ssc as ssc
from snnx.datasets._tonic import dvs_gesture as dvs_gesture
from snnx.datasets._tonic import nmnist as nmnist

__all__ = ["digits", "digits_images", "dvs_gesture", "load_heidelberg", "nmnist", "shd", "ssc"]
