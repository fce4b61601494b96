"""Bring a running broker's ACL in line with the rendered one, over the dynamic-security `$CONTROL` API.

The plugin reads its ACL file only at start-up, so after a registry change (device added, revoked,
ingest worker added) the broker on this host is told the difference: roles and accounts created,
changed or deleted, nothing else touched. Passwords never travel this way; they live in the password
file, which the broker re-reads on SIGHUP. The admin account that sends the commands is local to
the broker host (its password file is 0600 next to the config) and may do nothing but this.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
import uuid

import paho.mqtt.client as mqtt

from cloud_sync.broker import CONTROL_RESPONSE, CONTROL_TOPIC, BrokerFiles, BrokerSettings
from cloud_sync.registry import ADMIN_USERNAME
from storelens.errors import UnavailableError

log = logging.getLogger(__name__)

COMMANDS_PER_MESSAGE = 100  # keeps each $CONTROL message far below the broker's packet cap
LOOPBACK = ("127.0.0.1", "::1", "localhost")


def _acls(role: dict) -> set[tuple[str, str, bool]]:
    return {(a["acltype"], a["topic"], bool(a.get("allow", False))) for a in role.get("acls", [])}


def _clients(state: dict) -> dict[str, set[str]]:
    return {c["username"]: {r["rolename"] for r in c.get("roles", [])} for c in state.get("clients", [])}


def _role_commands(current: dict[str, set], wanted: dict[str, set]) -> list[dict]:
    out = []
    for name, acls in sorted(wanted.items()):
        if name not in current:
            out.append({"command": "createRole", "rolename": name,
                        "acls": [{"acltype": t, "topic": p, "allow": a} for t, p, a in sorted(acls)]})
            continue
        out += [{"command": "addRoleACL", "rolename": name, "acltype": t, "topic": p, "allow": a, "priority": 0}
                for t, p, a in sorted(acls - current[name])]
        out += [{"command": "removeRoleACL", "rolename": name, "acltype": t, "topic": p}
                for t, p, _a in sorted(current[name] - acls)]
    return out


def _client_commands(current: dict[str, set], wanted: dict[str, set]) -> list[dict]:
    out = []
    for user, roles in sorted(wanted.items()):
        if user not in current:
            out.append({"command": "createClient", "username": user, "roles": [{"rolename": r} for r in sorted(roles)]})
            continue
        out += [{"command": "addClientRole", "username": user, "rolename": r} for r in sorted(roles - current[user])]
        out += [{"command": "removeClientRole", "username": user, "rolename": r} for r in sorted(current[user] - roles)]
    # deleteClient also disconnects a connected client of that name.
    out += [{"command": "deleteClient", "username": u} for u in sorted(set(current) - set(wanted))]
    return out


def plan(current: dict, wanted: dict) -> list[dict]:
    """$CONTROL commands turning `current` (listClients/listRoles data) into `wanted` (the ACL document)."""
    roles_now = {r["rolename"]: _acls(r) for r in current.get("roles", [])}
    roles_wanted = {r["rolename"]: _acls(r) for r in wanted["roles"]}
    commands = _role_commands(roles_now, roles_wanted) + _client_commands(_clients(current), _clients(wanted))
    return commands + [{"command": "deleteRole", "rolename": r} for r in sorted(set(roles_now) - set(roles_wanted))]


class AdminSession:
    """One MQTT connection as the broker admin; `call(commands)` returns the plugin's responses."""

    def __init__(self, files: BrokerFiles, settings: BrokerSettings, timeout_s: float = 10.0) -> None:
        self.timeout_s = timeout_s
        self.host = "127.0.0.1" if settings.bind in ("0.0.0.0", "::", "") else settings.bind
        self._responses: dict[str, dict] = {}
        self._arrived = threading.Condition()
        self._ready = threading.Event()
        self._refusal: str | None = None
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=ADMIN_USERNAME, protocol=mqtt.MQTTv5)
        self.client.username_pw_set(ADMIN_USERNAME, files.admin_secret.read_text().strip())
        self.client.tls_set(ca_certs=str(files.tls.ca_cert), cert_reqs=ssl.CERT_REQUIRED)
        # The chain is still verified; the name is not, as a fleet certificate rarely names 127.0.0.1.
        self.client.tls_insecure_set(self.host in LOOPBACK)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_a: self._ready.set()
        self.client.on_message = self._on_message
        self.port = settings.port

    def __enter__(self) -> AdminSession:
        try:
            self.client.connect(self.host, self.port, keepalive=30)
        except (OSError, ssl.SSLError) as exc:
            raise UnavailableError(f"broker {self.host}:{self.port}: cannot connect as admin ({exc})") from None
        self.client.loop_start()
        if not self._ready.wait(self.timeout_s) or self._refusal:
            self.close()
            raise UnavailableError(f"broker {self.host}:{self.port}: admin session refused "
                                   f"({self._refusal or 'no answer'})")
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client, _u, _f, reason_code, _p) -> None:
        if reason_code.is_failure:
            self._refusal = str(reason_code)
            self._ready.set()
            return
        client.subscribe(CONTROL_RESPONSE, qos=1)

    def _on_message(self, _c, _u, msg) -> None:
        try:
            responses = json.loads(msg.payload).get("responses", [])
        except (ValueError, AttributeError):
            return
        with self._arrived:
            for response in responses:
                self._responses[str(response.get("correlationData"))] = response
            self._arrived.notify_all()

    def call(self, commands: list[dict]) -> list[dict]:
        tagged = [{**c, "correlationData": uuid.uuid4().hex} for c in commands]
        self.client.publish(CONTROL_TOPIC, json.dumps({"commands": tagged}), qos=1)
        keys = [c["correlationData"] for c in tagged]
        with self._arrived:
            done = self._arrived.wait_for(lambda: all(k in self._responses for k in keys), self.timeout_s)
            if not done:
                raise UnavailableError(f"broker {self.host}:{self.port}: no answer to {len(tagged)} ACL command(s)")
            return [self._responses.pop(k) for k in keys]


def sync_running_broker(files: BrokerFiles, settings: BrokerSettings) -> int:
    """Apply files.acl to the broker running on this host; returns how many commands it took."""
    wanted = json.loads(files.acl.read_text())
    with AdminSession(files, settings) as admin:
        listed = admin.call([{"command": "listClients", "verbose": True}, {"command": "listRoles", "verbose": True}])
        current = {"clients": listed[0].get("data", {}).get("clients", []),
                   "roles": listed[1].get("data", {}).get("roles", [])}
        commands = plan(current, wanted)
        for start in range(0, len(commands), COMMANDS_PER_MESSAGE):
            chunk = commands[start:start + COMMANDS_PER_MESSAGE]
            failed = [(c, r["error"]) for c, r in zip(chunk, admin.call(chunk), strict=True) if r.get("error")]
            if failed:
                command, error = failed[0]
                raise UnavailableError(f"broker refused ACL change {command['command']} "
                                       f"({command.get('username') or command.get('rolename')}): {error}")
    if commands:
        log.info("running broker's ACL updated (%d change(s))", len(commands))
    return len(commands)
