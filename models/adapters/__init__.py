"""One adapter per model family, all returning `models.detections.Detections`."""

from models.adapters.base import Adapter, SingleSessionAdapter
from models.adapters.ssd import SsdAnchorAdapter
from models.adapters.two_stage import MaskClassifier, TwoStageAdapter, YuNetFaces
from models.adapters.ultraface import UltraFaceAdapter
from models.adapters.yolo import YoloAdapter

__all__ = [
    "Adapter",
    "MaskClassifier",
    "SingleSessionAdapter",
    "SsdAnchorAdapter",
    "TwoStageAdapter",
    "UltraFaceAdapter",
    "YoloAdapter",
    "YuNetFaces",
]
