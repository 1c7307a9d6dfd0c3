"""Command-line building and output parsing (no device needed)."""

from __future__ import annotations

import shlex
from collections.abc import Callable

import pytest

from emufleet.device import _commands as cmd
from emufleet.errors import InputError


@pytest.mark.parametrize("text", ["; rm -rf /", "it's \"quoted\"", "$(reboot)", "a && b || c", "`id`",
                                  "back\\slash", "x > /sdcard/y", "a|b", "*?[]{}~#!"])
def test_input_text_is_one_literal_argument(text: str) -> None:
    line = cmd.input_text_command(text)
    argv = shlex.split(line)  # what a POSIX shell would pass to `input`
    assert argv[:2] == ["input", "text"]
    assert len(argv) == 3
    assert argv[2].replace("%s", " ") == text


def test_input_text_spaces_become_percent_s() -> None:
    assert shlex.split(cmd.input_text_command("a b"))[2] == "a%sb"


@pytest.mark.parametrize("text", ["", "héllo", "line\nbreak", "100%sure"])
def test_input_text_rejects_what_input_cannot_type(text: str) -> None:
    with pytest.raises(InputError) as err:
        cmd.input_text_command(text)
    assert err.value.field == "text"


def test_su_command_quotes_the_whole_command() -> None:
    line = cmd.su_command("cp /sdcard/a.xml '/data/data/p/shared_prefs/deviceAccount:.xml'")
    assert shlex.split(line) == ["su", "-c", "cp /sdcard/a.xml '/data/data/p/shared_prefs/deviceAccount:.xml'"]


def test_app_start_commands() -> None:
    assert cmd.app_start_command("jp.pokemon.pokemontcgp", "com.unity3d.player.UnityPlayerActivity",
                                 "0x10018000") == ("am start -W -n jp.pokemon.pokemontcgp/"
                                                   "com.unity3d.player.UnityPlayerActivity -f 0x10018000")
    assert cmd.app_start_command("a.b") == "monkey -p a.b -c android.intent.category.LAUNCHER 1"
    assert cmd.app_stop_command("a.b") == "am force-stop a.b"


@pytest.mark.parametrize("call", [lambda: cmd.app_start_command("a.b; reboot"),
                                  lambda: cmd.app_start_command("a.b", "X; reboot"),
                                  lambda: cmd.app_start_command("a.b", "X", "1; reboot"),
                                  lambda: cmd.app_stop_command("$(reboot)"),
                                  lambda: cmd.key_event_command("BACK; reboot"),
                                  lambda: cmd.getprop_command("a b"),
                                  lambda: cmd.app_stop_command("a.b\n"),  # `$` let a trailing newline through
                                  lambda: cmd.app_stop_command("a.b\u00e9"),  # \w matched any letter
                                  lambda: cmd.key_event_command("\u0663")])  # \d matched any digit
def test_injection_through_names_is_refused(call: Callable[[], object]) -> None:
    with pytest.raises(InputError):
        call()


def test_key_event_forms() -> None:
    assert cmd.key_event_command("KEYCODE_BACK") == "input keyevent KEYCODE_BACK"
    assert cmd.key_event_command(4) == "input keyevent 4"


def test_parse_window_size_prefers_override() -> None:
    assert cmd.parse_window_size("Physical size: 540x960\n") == (540, 960)
    assert cmd.parse_window_size("Physical size: 1080x1920\nOverride size: 540x960\n") == (540, 960)
    with pytest.raises(ValueError):
        cmd.parse_window_size("wm: not found")


def test_parse_foreground_app() -> None:
    out = ("  mCurrentFocus=Window{3c2f6a1 u0 jp.pokemon.pokemontcgp/com.unity3d.player.UnityPlayerActivity}\n"
           "  mFocusedApp=ActivityRecord{1 u0 jp.pokemon.pokemontcgp/.X t5}\n")
    assert cmd.parse_foreground_app(out) == "jp.pokemon.pokemontcgp"
    assert cmd.parse_foreground_app("  mFocusedApp=ActivityRecord{1 u0 com.mumu.launcher/.Launcher t1}") == \
        "com.mumu.launcher"
    assert cmd.parse_foreground_app("  mCurrentFocus=null\n") is None
