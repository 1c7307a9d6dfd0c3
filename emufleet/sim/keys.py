"""Android key codes: ``input keyevent`` accepts names (``KEYCODE_BACK``, ``BACK``) or numbers (``4``)."""

from __future__ import annotations

__all__ = ["KEYCODES", "key_code", "key_name"]

KEYCODES: dict[str, int] = {
    "KEYCODE_UNKNOWN": 0, "KEYCODE_SOFT_LEFT": 1, "KEYCODE_SOFT_RIGHT": 2, "KEYCODE_HOME": 3, "KEYCODE_BACK": 4,
    "KEYCODE_CALL": 5, "KEYCODE_ENDCALL": 6, **{f"KEYCODE_{d}": 7 + d for d in range(10)},
    "KEYCODE_STAR": 17, "KEYCODE_POUND": 18, "KEYCODE_DPAD_UP": 19, "KEYCODE_DPAD_DOWN": 20,
    "KEYCODE_DPAD_LEFT": 21, "KEYCODE_DPAD_RIGHT": 22, "KEYCODE_DPAD_CENTER": 23, "KEYCODE_VOLUME_UP": 24,
    "KEYCODE_VOLUME_DOWN": 25, "KEYCODE_POWER": 26, "KEYCODE_CAMERA": 27, "KEYCODE_CLEAR": 28,
    **{f"KEYCODE_{chr(ord('A') + i)}": 29 + i for i in range(26)},
    "KEYCODE_COMMA": 55, "KEYCODE_PERIOD": 56, "KEYCODE_TAB": 61, "KEYCODE_SPACE": 62, "KEYCODE_ENTER": 66,
    "KEYCODE_DEL": 67, "KEYCODE_MENU": 82, "KEYCODE_SEARCH": 84, "KEYCODE_ESCAPE": 111, "KEYCODE_FORWARD_DEL": 112,
    "KEYCODE_VOLUME_MUTE": 164, "KEYCODE_APP_SWITCH": 187, "KEYCODE_SLEEP": 223, "KEYCODE_WAKEUP": 224,
}
_NAMES = {code: name for name, code in KEYCODES.items()}


def key_code(key: str | int) -> int | None:
    """``"KEYCODE_BACK"``, ``"BACK"``, ``"4"`` or ``4`` → 4; ``None`` for an unknown name."""
    if isinstance(key, int):
        return key
    text = key.strip().upper()
    if text.isdigit():
        return int(text)
    return KEYCODES.get(text if text.startswith("KEYCODE_") else f"KEYCODE_{text}")


def key_name(code: int) -> str:
    """4 → ``"KEYCODE_BACK"``; an unnamed code → its decimal text."""
    return _NAMES.get(code, str(code))
