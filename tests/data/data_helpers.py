"""Small files in the formats of the long-tailed benchmarks, shared by the data tests."""

from __future__ import annotations

# Lines as in ImageNet_LT_train.txt / Places_LT_train.txt of the OLTR release.
IMAGENET_LT_LINES = """\
train/n01440764/n01440764_10026.JPEG 0
train/n01440764/n01440764_10027.JPEG 0
train/n01440764/n01440764_10029.JPEG 0
train/n01443537/n01443537_10007.JPEG 1

train/n01484850/n01484850_10016.JPEG 2
train/n01484850/n01484850_10036.JPEG 2
"""


PLACES_LT_LINES = """\
/a/airfield/00000001.jpg 0
/a/airfield/00000002.jpg 0
/a/airplane_cabin/00000001.jpg 1
"""
