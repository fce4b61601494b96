"""ansible/ passes ansible-lint (production profile) and a syntax check, and holds no plaintext secret."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_DIR = REPO / "ansible"
BIN = Path(sys.executable).parent
ROLES = ["ssh_hardening", "cloud_db", "broker", "ingest", "dashboard", "edge"]


def _run(*argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ANSIBLE_CONFIG": str(ANSIBLE_DIR / "ansible.cfg"), "NO_COLOR": "1",
           "PATH": f"{BIN}:{os.environ['PATH']}"}
    return subprocess.run(argv, cwd=ANSIBLE_DIR, env=env, capture_output=True, text=True, timeout=180)


@pytest.mark.slow
def test_ansible_lint_production_profile_passes():
    result = _run(str(BIN / "ansible-lint"), "--offline", "site.yml")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_syntax_check_with_example_inventory():
    result = _run(str(BIN / "ansible-playbook"), "--syntax-check", "-i", "inventories/example/hosts.yml", "site.yml")
    assert result.returncode == 0, result.stderr


def test_site_yml_deploys_every_role():
    plays = yaml.safe_load((ANSIBLE_DIR / "site.yml").read_text())
    deployed = [role["role"] for play in plays for role in play["roles"]]
    assert deployed == ROLES
    assert {p.name for p in (ANSIBLE_DIR / "roles").iterdir()} == {*ROLES, "common"}


def test_example_inventory_groups_devices_by_store():
    inv = yaml.safe_load((ANSIBLE_DIR / "inventories/example/hosts.yml").read_text())
    stores = inv["all"]["children"]["edge"]["children"]
    assert len(stores) >= 2
    for store in stores.values():
        assert re.fullmatch(r"[A-Za-z0-9_-]+", store["vars"]["storelens_store_id"])
        for host in store["hosts"].values():
            assert host["storelens_device_id"] and host["storelens_cameras"]


SECRET_KEY = re.compile(r"^\s*([\w]*(password|secret|_key|token)[\w]*):\s*(\S.*)$", re.I)


def _secret_assignments() -> list[tuple[Path, str, str]]:
    found = []
    for path in ANSIBLE_DIR.rglob("*.yml"):
        for line in path.read_text().splitlines():
            match = SECRET_KEY.match(line)
            if match:
                found.append((path, match.group(1), match.group(3)))
    return found


def test_no_plaintext_secret_in_the_repository():
    """Every secret-looking value is a vault_* reference, an empty default or a list/dict placeholder."""
    assignments = _secret_assignments()
    assert len(assignments) >= 5  # the scan sees the inventory and role defaults
    for path, key, value in assignments:
        value = value.strip().strip("\"'")
        ok = "vault_" in value or value in ("", "[]", "{}") or value.startswith("{{")
        assert ok, f"{path.relative_to(REPO)}: {key} holds a literal value"
