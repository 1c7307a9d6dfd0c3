"""Fuzzing the loaders people feed by hand: the shipped files, a seeded mutator, one runner per loader.

Shared by ``tests/fuzz`` (a small deterministic campaign plus named hostile cases) and ``benchmarks/fuzz.py``
(a large one). A run :meth:`Workspace.run` s one input through the loader the CLI uses and returns
``"accepted"`` or ``"located"`` (one of our :class:`~emufleet.errors.InputError` s naming the file); anything else
it raises is a crash. Each runner also checks that the bad file did not take the shipped files next to it down.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from pathlib import Path

import yaml

from emufleet import db
from emufleet.accounts.store import scan_account_files
from emufleet.accounts.xmlfile import parse_account_xml
from emufleet.errors import InputError
from emufleet.groups import LaunchOverrides
from emufleet.groups.store import GroupStore, load_group
from emufleet.hosts.registry import HostStore
from emufleet.pools.definition import PoolDefinition
from emufleet.pools.leases import LeaseOwner
from emufleet.pools.pool import Pool
from emufleet.pools.registry import discover
from emufleet.routines import RoutineRegistry
from emufleet.vision import TemplateSet
from tests.fuzz import classes
from tests.fuzz.classes import GENERATED_KINDS

__all__ = ["ALL_KINDS", "KINDS", "SHIPPED", "Mutator", "Workspace"]

REPO = Path(__file__).resolve().parents[2]
SHIPPED: dict[str, list[Path]] = {
    "routine": sorted((REPO / "routines").rglob("*.yaml")),
    "pool": sorted((REPO / "pools").glob("*.yaml")),
    "group": sorted((REPO / "groups").glob("*.yaml")),
    "templates": [REPO / "templates" / "registry.yaml"],
    "account": sorted((REPO / "accounts").glob("*.xml")),
}
KINDS = tuple(SHIPPED)
ALL_KINDS = KINDS + GENERATED_KINDS
"""The mutated shipped kinds, then the generated classes (:mod:`tests.fuzz.classes`)."""

_COMMON = [b"\xff", b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98", b"\x00", b"\r", b"\t", b"'", b'"', b"<", b">", b"&",
           "é".encode(), "😀".encode(), b"\xef\xbb\xbf", b"\xff\xfe", b"9" * 5000, b"A" * 300, b"../" * 40,
           b"/etc/passwd", b"-1", b"0"]
_YAML = [b"&a ", b"*a", b"<<: *a", b"[", b"]", b"{", b"}", b": ", b"- ", b"\n  ", b"|", b"? ", b"!!binary ",
         b"!!python/object:os.system ", b"!!set ", b"!!timestamp ", b"%YAML 1.1\n", b"---\n", b"...\n", b".inf",
         b"-.inf", b".nan", b"1e300", b"99999999999999999999999", b"now-99999999999d", b"now-1000000d",
         b"../../x.png", b'"\\ud800"', b'"\\0"', b"~", b"null", b"yes", b"2025-13-45", b"0001-01-01T00:00:00+01:00",
         b"1:2:3:4:5", b"0x" + b"f" * 40, b"[" * 3000, b"{a: " * 200]
_XML = [b"<!DOCTYPE map [<!ENTITY x 'injected@evil.invalid'>]>", b"&x;", b"<!ENTITY x SYSTEM 'file:///etc/passwd'>",
        b"]]>", b"<![CDATA[", b"&#0;", b"&#xD800;", b"&#x1F600;", b"<?xml version='1.0' encoding='utf-16'?>",
        b"encoding='shift_jis'", b"encoding='bogus'", b"encoding='utf-32'", b"<string name='deviceAccount'>",
        b"</map>", b"<map>", b"<a>" * 3000]
_SCALARS = [".inf", "-.inf", ".nan", "1e300", "-1", "0", 10**21, -(2**70), "now-99999999999d", "now-1000000d",
            "9" * 5000, "../../x.png", "/etc/passwd", "../pools/demo", "x" * 10000, [], {}, None, True, "é😀",
            "'; DROP TABLE accounts; --", "$(reboot)", "`id`", "%d%n", "{{x}}", "${x}", 1.5, "2025-13-45"]


class Mutator:
    """Deterministic mutations of a shipped file (``random.Random(seed)``): one to three byte-level edits, a
    value replaced in the parsed tree, a re-encoding, or a splice with another shipped file of the same kind."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def input_for(self, kind: str) -> bytes:
        """One input of ``kind``: a mutation of a shipped file, or a generated one (:data:`GENERATED_KINDS`)."""
        if kind in GENERATED_KINDS:
            return classes.generate(self.rng, kind)
        return self.mutate(self.rng.choice(SHIPPED[kind]).read_bytes(), kind)

    def mutate(self, data: bytes, kind: str) -> bytes:
        ops: list[Callable[[bytes, str], bytes]] = [self._flip, self._insert, self._delete, self._duplicate,
                                                    self._truncate, self._splice, self._replace_value]
        if kind == "account":
            ops.append(self._reencode)
        else:
            ops += [self._tree, self._tree, self._alias_bomb]
        for _ in range(self.rng.choice((1, 1, 2, 3))):
            data = self.rng.choice(ops)(data, kind)
        return data

    def _pos(self, data: bytes) -> int:
        return self.rng.randrange(len(data) + 1)

    def _flip(self, data: bytes, kind: str) -> bytes:
        if not data:
            return data
        i = self._pos(data[:-1])
        return data[:i] + bytes([self.rng.randrange(256)]) + data[i + 1:]

    def _insert(self, data: bytes, kind: str) -> bytes:
        i = self._pos(data)
        token = self.rng.choice(_COMMON + (_XML if kind == "account" else _YAML))
        return data[:i] + token + data[i:]

    def _delete(self, data: bytes, kind: str) -> bytes:
        i = self._pos(data)
        return data[:i] + data[i + self.rng.randrange(1, 64):]

    def _duplicate(self, data: bytes, kind: str) -> bytes:
        i = self._pos(data)
        chunk = data[i:i + self.rng.randrange(1, 200)]
        return data[:i] + chunk * self.rng.choice((2, 3, 50)) + data[i:]

    def _truncate(self, data: bytes, kind: str) -> bytes:
        return data[:self._pos(data)]

    def _splice(self, data: bytes, kind: str) -> bytes:
        other = self.rng.choice(SHIPPED[kind]).read_bytes()
        return data[:self._pos(data)] + other[self._pos(other):]

    def _replace_value(self, data: bytes, kind: str) -> bytes:
        pattern = rb">([^<]*)<" if kind == "account" else rb":[ \t]+([^\s#,}\]]+)"
        spots = list(re.finditer(pattern, data))
        if not spots:
            return data
        spot = self.rng.choice(spots)
        value = str(self.rng.choice(_SCALARS)).encode()
        return data[:spot.start(1)] + value + data[spot.end(1):]

    def _reencode(self, data: bytes, kind: str) -> bytes:
        text = data.decode("utf-8", errors="replace")
        encoding = self.rng.choice(("utf-16", "utf-16-le", "utf-16-be", "utf-32", "latin-1", "cp1252"))
        if self.rng.random() < 0.5:
            text = re.sub(r"encoding='[^']*'", f"encoding='{encoding}'", text)
        if self.rng.random() < 0.5:
            text = text.replace("<map>", "<!DOCTYPE map [<!ENTITY x 'injected@evil.invalid'>]>\n<map>", 1)
            text = text.replace("demo_", "&x;demo_", 1)
        return text.encode(encoding, errors="replace")

    def _tree(self, data: bytes, kind: str) -> bytes:
        """A leaf of the parsed document replaced by a hostile value, dumped back: valid YAML, hostile fields."""
        # Independent of the loader under test: skip documents with aliases (an earlier mutation may have made a
        # bomb; the event stream shows aliases without expanding them), then a plain safe_load.
        try:
            if any(isinstance(event, yaml.AliasEvent) for event in yaml.parse(data)):
                return data
            tree = yaml.safe_load(data)
        except Exception:  # noqa: BLE001 - PyYAML's constructors raise anything on hostile input (`!!timestamp x`:
            return data    # AttributeError; UnicodeDecodeError, huge integers: ValueError); emufleet's loader maps them
        slots: list[tuple[object, object]] = []

        def walk(node: object) -> None:
            items = list(node.items()) if isinstance(node, dict) else \
                list(enumerate(node)) if isinstance(node, list) else []
            for key, child in items:
                slots.append((node, key))
                walk(child)

        walk(tree)
        if not slots:
            return data
        parent, key = self.rng.choice(slots)
        value = self.rng.choice(_SCALARS)
        if isinstance(value, str) and value in (".inf", "-.inf", ".nan", "1e300"):
            value = float(value.replace(".", "", 1) if value.endswith(("inf", "nan")) else value)
        parent[key] = value  # type: ignore[index]
        return yaml.safe_dump(tree, allow_unicode=True, sort_keys=False, width=1 << 16).encode()

    def _alias_bomb(self, data: bytes, kind: str) -> bytes:
        levels = self.rng.randrange(3, 12)
        lines = ["x0: &x0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
        lines += [f"x{i}: &x{i} [" + ", ".join([f"*x{i - 1}"] * 10) + "]" for i in range(1, levels)]
        spots = list(re.finditer(rb": ([^\n]+)", data))
        if spots:  # one value, anywhere in the file, becomes the bomb
            spot = self.rng.choice(spots)
            data = data[:spot.start(1)] + f"*x{levels - 1}".encode() + data[spot.end(1):]
        return "\n".join(lines).encode() + b"\n" + data


def assert_all(items: object) -> None:
    """``assert all(items)`` as a call (for the loaders table of :meth:`Workspace._special`)."""
    assert all(items), "a special file took shipped ones down"  # type: ignore[call-overload]


class Workspace:
    """A scratch project under ``root`` where each input is loaded next to copies of the shipped files.

    Layout: ``root/p/{routines,pools,groups,templates}`` hold the shipped files (templates link to the shipped
    images) and ``root/p/accounts`` links to the shipped accounts, so ``watched_paths: [../accounts]`` resolves;
    a migrated SQLite database serves ``Pool.test()``.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.project = root / "p"
        for kind, folder in (("routine", "routines"), ("pool", "pools"), ("group", "groups")):
            for path in SHIPPED[kind]:
                rel = path.relative_to(REPO / folder)
                (self.project / folder / rel).parent.mkdir(parents=True, exist_ok=True)
                (self.project / folder / rel).write_bytes(path.read_bytes())
        (self.project / "templates").mkdir(parents=True)
        (self.project / "templates" / "images").symlink_to(REPO / "templates" / "images")
        (self.project / "accounts").symlink_to(REPO / "accounts")
        (self.project / "inbox").mkdir()
        for path in SHIPPED["account"]:
            (self.project / "inbox" / path.name).write_bytes(path.read_bytes())
        self.templates = TemplateSet.load(REPO / "templates" / "registry.yaml")
        self.shipped_routines = RoutineRegistry.load(self.project / "routines", self.templates).keys()
        url = f"sqlite:///{root / 'fuzz.db'}"
        db.upgrade(url)
        self.engine = db.engine(url)

    def close(self) -> None:
        self.engine.dispose()

    def run(self, kind: str, data: bytes) -> str:
        """Load ``data`` as a ``kind`` file; ``"accepted"`` or ``"located"``, anything else propagates.

        Raises:
            AssertionError: the input took a shipped file next to it down, or an error names no file.
        """
        try:
            getattr(self, f"_{kind}")(data)
        except InputError as exc:
            assert exc.file, f"unlocated {type(exc).__name__}: {exc}"
            return "located"
        return "accepted"

    def _routine(self, data: bytes) -> None:
        target = self.project / "routines" / "zz_fuzz.yaml"
        target.write_bytes(data)
        try:
            registry = RoutineRegistry.load(self.project / "routines", self.templates)
        finally:
            target.unlink()
        assert set(self.shipped_routines) <= set(registry.keys()), "a bad routine took shipped ones down"
        errors = registry.invalid().get("zz_fuzz")
        if errors:
            raise errors[0]

    def _pool(self, data: bytes) -> None:
        target = self.project / "pools" / "zz_fuzz.yaml"
        target.write_bytes(data)
        try:
            entries = discover(self.project / "pools")
            assert all(e.definition for e in entries if e.path != target), "a bad pool took shipped ones down"
            definition = PoolDefinition.load(target)  # on its own: its pool_name may repeat a shipped one's
        finally:
            target.unlink()
        Pool(definition, self.engine, LeaseOwner("fuzz", "fuzz")).test()

    def _group(self, data: bytes) -> None:
        target = self.project / "groups" / "zz_fuzz.yaml"
        target.write_bytes(data)
        try:
            listing = GroupStore(self.project / "groups").list()
            assert "demo" in listing.groups, "a bad group took shipped ones down"
            load_group(target).with_overrides(LaunchOverrides(bots=1, stagger=0.5))
        finally:
            target.unlink()

    def _templates(self, data: bytes) -> None:
        target = self.project / "templates" / "registry.yaml"
        target.write_bytes(data)
        try:
            TemplateSet.load(target)
        finally:
            target.unlink()

    def _special(self, data: bytes) -> None:
        registry = self.project / "templates" / "registry.yaml"

        def templates() -> None:
            registry.write_bytes(SHIPPED["templates"][0].read_bytes())
            try:
                assert len(TemplateSet.load(self.project / "templates")) == len(self.templates)
            finally:
                registry.unlink()

        def routines() -> None:
            assert set(self.shipped_routines) <= set(RoutineRegistry.load(self.project / "routines",
                                                                          self.templates).keys())

        def accounts() -> None:
            found, errors = scan_account_files([self.project / "inbox"])
            assert len(found) == len(SHIPPED["account"]) and not errors, errors

        loaders = {"routines": routines, "templates": templates, "accounts": accounts,
                   "pools": lambda: assert_all(e.definition for e in discover(self.project / "pools")),
                   "groups": lambda: assert_all(["demo" in GroupStore(self.project / "groups").list().groups]),
                   "hosts": lambda: HostStore(self.project / "hosts").list()}
        classes.run_special(self.project, data, loaders)

    def _encoding(self, data: bytes) -> None:
        classes.run_encoding(self.project / "inbox" / "zz_encoding.xml", data)

    def _image(self, data: bytes) -> None:
        classes.run_image(self.project / "templates" / "images" / "zz_image.png", data)

    def _cli(self, data: bytes) -> None:
        classes.run_cli(self.project, data, str(self.engine.url))

    def _account(self, data: bytes) -> None:
        target = self.project / "inbox" / "zz_fuzz.xml"
        target.write_bytes(data)
        try:
            found, errors = scan_account_files([self.project / "inbox"])
        finally:
            target.unlink()
        names = {creds.device_account for creds, path in found if path.name != target.name}
        assert len(names) == len(SHIPPED["account"]), "a bad account file took shipped ones down"
        assert "injected@evil.invalid" not in {c.device_account for c, _ in found}, "an entity was expanded"
        parse_account_xml(data, target)
