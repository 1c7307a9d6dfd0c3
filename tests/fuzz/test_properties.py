"""Hypothesis over the entry points every loader shares: any bytes or text, a load or a located error.

Bounded (a few hundred examples each, a couple of seconds); the seeded mutator in ``test_hostile_input`` covers the
shipped files' structure, these cover what no mutation of them reaches.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emufleet.accounts import parse_account_xml
from emufleet.errors import InputError
from emufleet.groups.store import GroupStore
from emufleet.pools.definition import PoolDefinition
from emufleet.yamlio import decode_text, loads_yaml

pytestmark = pytest.mark.timeout(120)
BOUNDED = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
YAMLISH = st.text(alphabet=st.sampled_from(list("ab01:-[]{}&*!|>?'\"#,. \n\t<%@`~\\") + ["\x00", "é", "\ud800"]),
                  max_size=300)


def _loads_or_is_located(load: Callable[[], object], file: str) -> None:
    try:
        load()
    except InputError as exc:
        assert exc.file == file


@BOUNDED
@given(st.binary(max_size=2000))
def test_any_bytes_are_text_or_a_located_error(raw: bytes) -> None:
    _loads_or_is_located(lambda: loads_yaml(decode_text(raw, "b.yaml"), "b.yaml"), "b.yaml")


@BOUNDED
@given(YAMLISH)
def test_yaml_punctuation_soup_loads_or_is_located(text: str) -> None:
    _loads_or_is_located(lambda: loads_yaml(text, "s.yaml"), "s.yaml")


@BOUNDED
@given(YAMLISH)
def test_any_pool_text_is_a_definition_or_a_located_error(text: str) -> None:
    _loads_or_is_located(lambda: PoolDefinition.loads("pool_name: p\ninclude: [a]\n" + text, "p.yaml"), "p.yaml")


@BOUNDED
@given(st.binary(max_size=600), st.sampled_from(["utf-8", "utf-16", "utf-16-be", "utf-32", "latin-1"]))
def test_any_account_bytes_are_credentials_or_a_located_error(noise: bytes, encoding: str) -> None:
    text = (f"<?xml version='1.0' encoding='{encoding}'?><map><string name='deviceAccount'>"
            f"{noise.decode('latin-1')}</string><string name='devicePassword'>p</string></map>")
    _loads_or_is_located(lambda: parse_account_xml(text.encode(encoding, errors="replace"), "a.xml"), "a.xml")


@BOUNDED
@given(st.text(max_size=80))
def test_group_names_never_reach_outside_the_folder(tmp_path_factory: pytest.TempPathFactory, name: str) -> None:
    store = GroupStore(tmp_path_factory.getbasetemp() / "groups")
    try:
        path = store.path(name)
    except InputError:
        return
    assert path.parent == store.folder and path.name == name.replace(" ", "_") + ".yaml"
