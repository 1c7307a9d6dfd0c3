"""Recognizers: one interface (:class:`Recognizer`) and one result (:class:`Recognition` of :class:`Hit` s) for
every way of seeing the screen — templates, OCR, colour, feature matching — and third-party ones (plugins).

| name | class | module |
|---|---|---|
| ``template`` | :class:`TemplateRecognizer` | :mod:`.template` (:func:`emufleet.vision.match`, unchanged) |
| ``ocr`` | :class:`OcrRecognizer` | :mod:`.ocr` (rapidocr, loaded on first read: :mod:`emufleet.vision.ocr_engine`) |
| ``colour`` | :class:`ColourRecognizer` | :mod:`.colour` (RGB/HSV range share or count, mean colour) |
| ``features`` | :class:`FeatureRecognizer` | :mod:`.features` (ORB/AKAZE keypoints + homography) |

Importing this package never imports the OCR library.
"""

from emufleet.vision.recognizers.base import RECOGNIZERS, Hit, Recognition, Recognizer, get_recognizer, recognizer
from emufleet.vision.recognizers.colour import ColourRecognizer, mean_colour
from emufleet.vision.recognizers.features import FeatureRecognizer
from emufleet.vision.recognizers.ocr import OcrRecognizer, read_image
from emufleet.vision.recognizers.template import TemplateRecognizer

__all__ = ["RECOGNIZERS", "ColourRecognizer", "FeatureRecognizer", "Hit", "OcrRecognizer", "Recognition",
           "Recognizer", "TemplateRecognizer", "get_recognizer", "mean_colour", "read_image", "recognizer"]
