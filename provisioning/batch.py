"""A provisioning batch: N terminals of one model registered with the fleet, each with its keys
(key injection: the Initial Key and command key, never the BDK), its TLS key and certificate
from the fleet CA, and its claim code; a label sheet and a manifest for the batch.

    OUT/manifest.json          (0600) devices, Initial Key IDs, certificate serials, claim codes
    OUT/labels.pdf, labels-N.png       device id + claim code QR, to print and stick on the box
    OUT/<device id>/device.json (0600) what KeyVault.provision writes (IK, command key)
    OUT/<device id>/key.der     (0600) the device's TLS private key (DER, as MicroPython reads)
    OUT/<device id>/cert.der, ca.der   its certificate and the fleet root it trusts

The manifest is rewritten after every device, so an interrupted batch lists exactly the devices
whose files are complete (at most one more is registered with the fleet and can be retired).
"""

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from fleet_server.adapters.pki import CertificateAuthority
from fleet_server.adapters.secure_files import ensure_private_dir, write_private, write_public
from provisioning.flash import device_json
from provisioning.labels import Label, write_sheets

MAX_COUNT = 10_000
MODEL = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


class BatchError(Exception):
    pass


@dataclass(frozen=True)
class BatchResult:
    out_dir: Path
    device_ids: list[str]
    sheets: list[Path]


def check_request(model: str, count: int) -> None:
    if not MODEL.match(model or ""):
        raise BatchError(f"model {model!r}: lower-case letters, digits, '-' or '_', at most 32")
    if not 1 <= count <= MAX_COUNT:
        raise BatchError(f"count must be between 1 and {MAX_COUNT}, not {count}")


def run_batch(fleet, ca: CertificateAuthority, model: str, count: int, out_dir: Path,
              formats=("pdf", "png"), progress: Callable[[int, int, str], None] | None = None,
              now: datetime | None = None) -> BatchResult:
    from fleet_server.service_layer import registry

    check_request(model, count)
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise BatchError(f"{out_dir} is not empty: give each batch its own folder")
    ensure_private_dir(out_dir)
    ca.init()
    root_der = ca.root_der_path.read_bytes()
    now = now or datetime.now(UTC)
    manifest = {"model": model, "created_at": now.isoformat(), "ca_root_sha256":
                _sha256(root_der), "devices": []}
    labels = []
    for n in range(1, count + 1):
        secrets = registry.register_device(fleet.uow(), fleet.keys, model, now)
        cred = ca.issue_device(secrets.device_id)
        folder = out_dir / secrets.device_id
        write_private(folder / "device.json", device_json(secrets))
        write_private(folder / "key.der", cred.key_der)
        write_public(folder / "cert.der", cred.cert_der)
        write_public(folder / "ca.der", root_der)
        claim = getattr(secrets, "claim_code", None)
        manifest["devices"].append({
            "device_id": secrets.device_id, "initial_key_id": secrets.initial_key_id,
            "cert_serial": format(cred.serial, "x"),
            "cert_not_after": cred.not_after.isoformat(), "claim_code": claim})
        write_private(out_dir / "manifest.json", json.dumps(manifest, indent=1).encode())
        if claim:
            labels.append(Label(secrets.device_id, claim, model))
        if progress:
            progress(n, count, secrets.device_id)
    sheets = write_sheets(labels, out_dir, formats) if labels else []
    return BatchResult(out_dir, [d["device_id"] for d in manifest["devices"]], sheets)


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def find_device_dir(device_id: str, search: Path) -> Path:
    """The batch folder of a device: SEARCH/<id> or SEARCH/<batch>/<id>."""
    search = Path(search)
    for candidate in [search / device_id, *sorted(search.glob(f"*/{device_id}"))]:
        if (candidate / "device.json").exists():
            return candidate
    raise BatchError(f"no provisioning files for {device_id} under {search} (run `provision "
                     "batch` first, or pass --from with the batch folder)")


def load_device(folder: Path):
    """(secrets, tls) from a device's batch folder."""
    from types import SimpleNamespace

    try:
        cfg = json.loads((folder / "device.json").read_text())
        secrets = SimpleNamespace(device_id=cfg["device_id"],
                                  initial_key_id=cfg["initial_key_id"],
                                  initial_key_hex=cfg["initial_key"],
                                  command_key_hex=cfg["command_key"])
        tls = {part: (folder / f"{part}.der").read_bytes() for part in ("cert", "key", "ca")}
    except (OSError, ValueError, KeyError) as err:
        raise BatchError(f"incomplete provisioning files in {folder}: {err}") from None
    return secrets, tls
