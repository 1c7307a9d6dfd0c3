"""Regenerate this test scenario's images (drawn with OpenCV; the project's own art): ``python draw.py``."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent


def main() -> None:
    icon = np.full((100, 100, 3), (40, 160, 230), np.uint8)
    cv2.circle(icon, (50, 50), 36, (255, 255, 255), -1)
    cv2.putText(icon, "S", (33, 68), cv2.FONT_HERSHEY_SIMPLEX, 1.6, (40, 160, 230), 4, cv2.LINE_AA)
    cv2.imwrite(str(HERE / "icon.png"), icon)

    button = np.zeros((80, 200, 4), np.uint8)  # a rounded button with a transparent outside
    cv2.rectangle(button, (10, 0), (189, 79), (60, 200, 90, 255), -1)
    cv2.rectangle(button, (0, 10), (199, 69), (60, 200, 90, 255), -1)
    for cx, cy in ((10, 10), (189, 10), (10, 69), (189, 69)):
        cv2.circle(button, (cx, cy), 10, (60, 200, 90, 255), -1)
    cv2.putText(button, "OK", (70, 55), cv2.FONT_HERSHEY_SIMPLEX, 1.3, (255, 255, 255, 255), 3, cv2.LINE_AA)
    cv2.imwrite(str(HERE / "button.png"), button)

    title = np.zeros((960, 540, 3), np.uint8)
    for y in range(960):
        title[y, :] = (120 + y // 12, 60, 30 + y // 8)
    cv2.putText(title, "SIM GAME", (95, 380), cv2.FONT_HERSHEY_DUPLEX, 2.0, (255, 255, 255), 4, cv2.LINE_AA)
    cv2.putText(title, "tap to start", (165, 700), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (220, 220, 220), 2, cv2.LINE_AA)
    cv2.imwrite(str(HERE / "title.png"), title)


if __name__ == "__main__":
    main()
