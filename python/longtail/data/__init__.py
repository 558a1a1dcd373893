"""Long-tailed data sets, and readers for the annotation formats of the long-tailed benchmarks.

* :func:`long_tailed_counts` and :func:`long_tailed_subset` build the CIFAR-LT style splits with
  the exact arithmetic and sampling of the reference code (kaidic/LDAM-DRW ``imbalance_cifar.py``);
  :class:`CIFAR10LT` and :class:`CIFAR100LT` apply them to torchvision's CIFAR (the ``vision``
  extra).
* :class:`ImageListDataset` (:class:`ImageNetLT`, :class:`PlacesLT`) reads the ``path label``
  list files of ImageNet-LT and Places-LT; :func:`read_inaturalist` and :func:`read_lvis` read the
  iNaturalist 2018 and LVIS JSON files.
* :func:`class_counts` counts labels per class; :func:`read_labels` and
  :func:`image_folder_labels` load labels from a file or an ImageFolder-style directory.

Labels are class indices ``0 .. C-1``; class counts are 1-D ``int64`` NumPy arrays, which every
``class_counts`` argument of the package accepts.

The code lives in one module per concern, all re-exported here: :mod:`._labels` (class counts,
labels files and folders), :mod:`.subsets` (long-tailed splits), :mod:`.cifar` (CIFAR-LT),
:mod:`.image_list` (ImageNet-LT / Places-LT list files) and :mod:`.annotations` (iNaturalist
and LVIS JSON).
"""

# IMG_EXTENSIONS, PathLike and PROFILES are not in __all__ but stay reachable here.
from longtail.data._labels import (  # noqa: F401
    IMG_EXTENSIONS,
    PathLike,
    class_counts,
    image_folder_labels,
    read_labels,
)
from longtail.data.annotations import (
    INaturalistAnnotations,
    LVISAnnotations,
    lvis_groups,
    read_inaturalist,
    read_lvis,
)
from longtail.data.cifar import CIFAR10LT, CIFAR100LT
from longtail.data.image_list import ImageListDataset, ImageNetLT, PlacesLT, read_image_list
from longtail.data.subsets import PROFILES, long_tailed_counts, long_tailed_subset  # noqa: F401

__all__ = [
    "CIFAR10LT",
    "CIFAR100LT",
    "INaturalistAnnotations",
    "ImageListDataset",
    "ImageNetLT",
    "LVISAnnotations",
    "PlacesLT",
    "class_counts",
    "image_folder_labels",
    "long_tailed_counts",
    "long_tailed_subset",
    "lvis_groups",
    "read_image_list",
    "read_inaturalist",
    "read_labels",
    "read_lvis",
]
