"""Feature matching as a recognizer: OpenCV keypoints (SIFT, ORB, or AKAZE where the build has it) and a RANSAC
homography.

For UI drawn at another scale or rotation than its reference image, where a template's fixed-size correlation
fails. Keypoints of the reference (computed once) are matched with the device pixels under the region by
brute force (L2 for SIFT, Hamming for the binary ORB/AKAZE descriptors), filtered by Lowe's ratio test (0.75),
and a homography is fitted with RANSAC
(3 px). The hit's box is the bounding box of the reference's corners projected onto the screen; the score is
the share of ratio-test matches that are RANSAC inliers, and a hit also needs ``min_inliers`` inliers and a
projected outline that is convex and between 1/25 and 25 times the reference's area (a homography fitted to a few
coincident points folds or collapses).

Textured references of at least ~40×40 px work best: tiny flat crops have no keypoints (then nothing is found).
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

from emufleet.errors import VisionError
from emufleet.vision.matching import Screen
from emufleet.vision.recognizers.base import Recognition, Recognizer, hit_from_device, locate, recognizer
from emufleet.vision.space import Region

__all__ = ["FeatureRecognizer"]

_RATIO = 0.75
_RANSAC_PX = 3.0


def _detector(method: str) -> tuple[cv2.Feature2D, int]:
    """The detector and its descriptors' norm. OpenCV 5 moved AKAZE out of the main module (opencv-contrib)."""
    if method == "sift":
        return cv2.SIFT.create(), cv2.NORM_L2
    if method == "orb":
        return cv2.ORB.create(nfeatures=5000), cv2.NORM_HAMMING
    if method == "akaze":
        if not hasattr(cv2, "AKAZE_create"):
            raise VisionError(f"feature method 'akaze' is not in this OpenCV build ({cv2.__version__}): use sift")
        return cv2.AKAZE_create(), cv2.NORM_HAMMING
    raise VisionError(f"unknown feature method {method!r} (sift, orb, akaze)")


def _grey(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


@recognizer
class FeatureRecognizer(Recognizer):
    """Find ``image`` (BGR or grey uint8, device-pixel scale or any other) by keypoints and a homography.

    Args:
        image: the reference picture (a template's ``image``, a crop of a device frame).
        name: its label in evidence.
        method: ``"sift"`` (default: robust to scale and rotation), ``"orb"`` (faster, binary), or ``"akaze"``
            (only where the OpenCV build has it: OpenCV 5 moved it to contrib).
        threshold: minimum inlier share in [0, 1] (default 0.4).
        min_inliers: minimum RANSAC inliers (default 12, at least 4).

    Raises ``VisionError`` for an unknown method, an empty image or a reference without keypoints.
    """

    NAME = "features"

    def __init__(self, image: np.ndarray, *, name: str = "image", method: Literal["sift", "orb", "akaze"] = "sift",
                 threshold: float = 0.4, min_inliers: int = 12) -> None:
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.size == 0:
            raise VisionError("features: the reference must be a non-empty uint8 image")
        if min_inliers < 4 or not 0.0 <= threshold <= 1.0:
            raise VisionError(f"features: min_inliers {min_inliers} < 4 or threshold {threshold} outside [0, 1]")
        self.name, self.method, self.threshold, self.min_inliers = name, method, threshold, min_inliers
        self._detector, norm = _detector(method)
        grey = _grey(image)
        self._keypoints, self._descriptors = self._detector.detectAndCompute(grey, None)
        if self._descriptors is None or len(self._keypoints) < min_inliers:
            raise VisionError(f"features: the reference {name!r} has {len(self._keypoints)} keypoints, fewer than "
                              f"min_inliers={min_inliers} (too small or too flat: use a template)")
        h, w = grey.shape
        self._corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32).reshape(-1, 1, 2)
        self._area = float(w * h)
        self._matcher = cv2.BFMatcher(norm)

    def recognize(self, screen: Screen, region: Region | None = None) -> Recognition:
        space = screen.space
        area, rect = locate(space, region)
        label = f"features {self.name}"
        grey = _grey(screen.frame[rect.y1: rect.y2, rect.x1: rect.x2])
        keypoints, descriptors = self._detector.detectAndCompute(grey, None)
        if descriptors is None or len(keypoints) < 2:
            return Recognition.of(self.NAME, label, self.threshold, area, [])
        pairs = self._matcher.knnMatch(self._descriptors, descriptors, k=2)
        good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < _RATIO * p[1].distance]
        if len(good) < 4:
            return Recognition.of(self.NAME, label, self.threshold, area, [])
        src = np.array([self._keypoints[m.queryIdx].pt for m in good], np.float32).reshape(-1, 1, 2)
        dst = np.array([keypoints[m.trainIdx].pt for m in good], np.float32).reshape(-1, 1, 2)
        homography, inlier_mask = cv2.findHomography(src, dst, cv2.RANSAC, _RANSAC_PX)
        if homography is None:
            return Recognition.of(self.NAME, label, self.threshold, area, [])
        inliers = int(inlier_mask.sum())
        outline = cv2.perspectiveTransform(self._corners, homography).reshape(-1, 2)
        score = inliers / len(good)
        if inliers < self.min_inliers or not _plausible(outline, self._area):
            score = min(score, 0.99 * self.threshold)  # kept as evidence, never as a hit
        x1, y1 = np.floor(outline.min(axis=0)).astype(int)
        x2, y2 = np.ceil(outline.max(axis=0)).astype(int)
        box = Region(int(x1) + rect.x1, int(y1) + rect.y1, max(int(x2), int(x1) + 1) + rect.x1,
                     max(int(y2), int(y1) + 1) + rect.y1).clip(space.device_width, space.device_height)
        if box is None:
            return Recognition.of(self.NAME, label, self.threshold, area, [])
        return Recognition.of(self.NAME, label, self.threshold, area, [hit_from_device(space, box, score)])


def _plausible(outline: np.ndarray, area: float) -> bool:
    """A convex quadrilateral between 1/25 and 25 times the reference's area: a folded or collapsed projection (a
    homography fitted to a few coincident keypoints) is a bad fit, not a find."""
    quad = outline.astype(np.float32).reshape(-1, 1, 2)
    return bool(cv2.isContourConvex(quad)) and area / 25.0 <= cv2.contourArea(quad) <= area * 25.0
