"""Control surface of a running simulator: a JSON-lines socket (for the CLI) and an in-band shell command.

Two ways in, one handler (:func:`handle_request`):

* **Control socket.** ``emufleet sim up`` listens on ``127.0.0.1:<control_port>`` (written to its state file). One
  request per connection, one JSON object per line, e.g. ``{"op": "fault", "serial": "127.0.0.1:16384",
  "kind": "latency", "options": {"screencap_ms": 50}}`` → ``{"ok": true, ...}``. It works whatever state the
  instance is in (``refuse``/``silent`` can be cleared), and needs no adb server.
* **``emufleet-sim`` shell command**, handled by the fake shell itself, so it works through plain adb::

      adb -s 127.0.0.1:16384 shell emufleet-sim state            # print the current state
      adb -s 127.0.0.1:16384 shell emufleet-sim state home       # show another state
      adb -s 127.0.0.1:16384 shell emufleet-sim fault latency screencap_ms=80
      adb -s 127.0.0.1:16384 shell emufleet-sim clear [KIND]
      adb -s 127.0.0.1:16384 shell emufleet-sim events [N]      # JSON lines
      adb -s 127.0.0.1:16384 shell emufleet-sim status

  ``refuse``, ``silent`` and ``reboot`` cut the connection that carries the command, so they are applied 50 ms
  after the reply; clearing ``refuse``/``silent`` needs the control socket (adb cannot reach the instance).

Ops: ``status``, ``fault`` (serial, kind, options), ``clear`` (serial, kind?), ``state`` (serial, name?),
``events`` (serial, n?).
"""

from __future__ import annotations

import asyncio
import json
import socket
from dataclasses import asdict
from typing import TYPE_CHECKING

from emufleet.boundary import JsonObject
from emufleet.errors import SimulatorError
from emufleet.sim.faults import parse_fault
from emufleet.sim.shell import Context, register

if TYPE_CHECKING:
    from emufleet.sim.server import Simulator

__all__ = ["InBandControl", "handle_request", "in_band_request", "parse_options", "send_request", "serve_control",
           "simulator_status"]

_DISRUPTIVE = ("refuse", "silent", "reboot")
_IN_BAND_DELAY_S = 0.05


def simulator_status(sim: Simulator) -> JsonObject:
    """Scenario, base port and per-instance status of a simulator."""
    return {"scenario": sim.scenario.name, "scenario_path": str(sim.scenario.path), "base_port": sim.base_port,
            "instances": [inst.status() for inst in sim.instances]}


def handle_request(sim: Simulator, request: JsonObject) -> JsonObject:
    """Apply one control request; returns ``{"ok": True, …}`` or ``{"ok": False, "error": …}``."""
    try:
        return {"ok": True, **_apply(sim, request)}
    except (SimulatorError, KeyError, TypeError, ValueError) as exc:
        return {"ok": False, "error": str(exc)}


def _apply(sim: Simulator, request: JsonObject) -> JsonObject:
    op = request.get("op")
    if op == "status":
        return {"simulator": simulator_status(sim)}
    if op not in ("fault", "clear", "state", "events"):
        raise SimulatorError(f"unknown op {op!r} (status, fault, clear, state, events)")
    inst = sim.instance(request.get("serial", 0))
    if op == "fault":
        inst.inject_fault(str(request["kind"]), **dict(request.get("options") or {}))
        return {"serial": inst.serial, "faults": inst.faults}
    if op == "clear":
        inst.clear_faults(request.get("kind"))
        return {"serial": inst.serial, "faults": inst.faults}
    if op == "state":
        if request.get("name"):
            inst.set_state(str(request["name"]))
        return {"serial": inst.serial, "state": inst.state}
    events = [asdict(e) for e in inst.events]
    n = request.get("n")
    return {"serial": inst.serial, "events": events[-int(n):] if n else events}


def serve_control(sim: Simulator, host: str = "127.0.0.1", port: int = 0) -> int:
    """Start the control socket on the simulator's loop; returns its port (closed by ``sim.stop()``)."""

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            try:
                request = json.loads(line)
                if not isinstance(request, dict):
                    raise ValueError("a request is a JSON object")
            except ValueError as exc:
                response: JsonObject = {"ok": False, "error": f"bad request: {exc}"}
            else:  # off the loop thread: the instance methods marshal socket work back onto the loop
                response = await asyncio.get_running_loop().run_in_executor(None, handle_request, sim, request)
            writer.write(json.dumps(response).encode() + b"\n")
            await writer.drain()
        finally:
            writer.close()

    async def start() -> int:
        server = await asyncio.start_server(client, host, port)
        sim.add_server(server)
        return int(server.sockets[0].getsockname()[1])

    return int(sim.call(start))


def send_request(port: int, request: JsonObject, *, host: str = "127.0.0.1",
                 timeout_s: float = 10.0) -> JsonObject:
    """Send one request to a control socket and return the response. Raises SimulatorError if unreachable."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.sendall(json.dumps(request).encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
    except OSError as exc:
        raise SimulatorError(f"simulator control socket {host}:{port} unreachable: {exc}") from exc
    try:
        response = json.loads(b"".join(chunks))
    except ValueError as exc:
        raise SimulatorError(f"bad reply from the simulator control socket: {exc}") from exc
    return dict(response)


class InBandControl:
    """The hook behind the ``emufleet-sim`` shell command of one simulator (runs on the loop thread)."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def __call__(self, request: JsonObject, delay_s: float = 0.0) -> JsonObject:
        loop = self.sim.loop
        if delay_s > 0 and loop is not None:
            loop.call_later(delay_s, handle_request, self.sim, request)
            return {"ok": True}
        return handle_request(self.sim, request)


def in_band_request(serial: str, argv: list[str]) -> JsonObject:
    """Turn ``emufleet-sim`` arguments into a request for instance ``serial``."""
    if not argv:
        raise SimulatorError("usage: emufleet-sim state [NAME] | fault KIND [k=v…] | clear [KIND] | events [N] | "
                             "status")
    op, rest = argv[0], argv[1:]
    request: JsonObject = {"op": op, "serial": serial}
    if op == "fault":
        if not rest:
            raise SimulatorError("usage: emufleet-sim fault KIND [key=value …]")
        request["kind"] = rest[0]
        request["options"] = parse_options(rest[1:])
    elif op == "clear":
        request["kind"] = rest[0] if rest else None
    elif op == "state":
        request["name"] = rest[0] if rest else None
    elif op == "events":
        request["n"] = int(rest[0]) if rest else None
    return request


def parse_options(items: list[str]) -> dict[str, str]:
    """``["down_s=1", "boot_s=2"]`` → ``{"down_s": "1", "boot_s": "2"}``; raises SimulatorError otherwise."""
    options: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SimulatorError(f"fault option {item!r}: write key=value")
        options[key] = value
    return options


@register("emufleet-sim")
def _emufleet_sim(ctx: Context, args: list[str]) -> int:
    hook = ctx.device.control
    if hook is None:
        return ctx.error("not attached to a simulator")
    try:
        request = in_band_request(ctx.device.serial, args)
        if request["op"] == "fault":
            parse_fault(request["kind"], request["options"])  # report bad options now, before deferring
            if request["kind"] in _DISRUPTIVE:
                hook(request, delay_s=_IN_BAND_DELAY_S)
                ctx.io.out(f"{request['kind']} in {_IN_BAND_DELAY_S * 1000:.0f} ms\n")
                return 0
    except (SimulatorError, ValueError) as exc:
        return ctx.error(str(exc))
    response = hook(request)
    if not response.get("ok"):
        return ctx.error(response.get("error", "failed"))
    if request["op"] == "state":
        ctx.io.out(f"{response['state']}\n")
    elif request["op"] == "events":
        ctx.io.out("".join(json.dumps(e) + "\n" for e in response["events"]))
    else:
        response.pop("ok")
        ctx.io.out(json.dumps(response) + "\n")
    return 0
