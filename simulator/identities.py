"""Identities of simulated terminals, made through the provisioning code path.

A device is registered with the fleet (its keys derived from the server's BDK, allocated to a
partner and activated) and its files are written into a flash directory as key injection writes
them onto a board: device.json by terminal.keys.KeyVault.provision (device id, Initial Key ID,
Initial Key, command key; the IK becomes DUKPT registers at first boot) and config.json (board
and broker). When provisioning offers a function that writes a device's files into a directory
(provisioning.flash.provision_into_directory), that function is used instead of the two writes
below, so the simulator follows whatever provisioning does.
"""

import json
import os
from pathlib import Path

from terminal.keys import KeyVault

SIM_MODEL = "esp32-gm65"  # what a simulated terminal reports as its hardware model


def _provisioning_writer():
    try:
        from provisioning.flash import provision_into_directory
    except ImportError:  # not in this version of provisioning
        return None
    return provision_into_directory


def write_flash(root: Path, secrets, broker_host, broker_port: int | None) -> None:
    """device.json + config.json for the simulated board, secrets readable by the owner only.
    broker_host: a name, or a cluster's nodes as [[host, port], ...] (broker_port unused)."""
    root = Path(root)
    broker = ({"hosts": broker_host} if isinstance(broker_host, list)
              else {"host": broker_host, "port": broker_port})
    config = {"board": "unix_sim", "broker": broker}
    writer = _provisioning_writer()
    if writer is not None:
        writer(root, secrets, config)  # the same files and writing code as a board gets
        return
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    KeyVault.provision(str(root), secrets.device_id, secrets.initial_key_id,
                       secrets.initial_key_hex, secrets.command_key_hex)
    (root / "config.json").write_text(json.dumps(config))


def make_identity(control, partner_id: str, root: Path, broker_host: str,
                  broker_port: int) -> str:
    """Register a device for `partner_id` through `control` (the fleet's registry in this
    process, or its REST API), write its flash directory; returns the device id."""
    secrets = control.register_device(partner_id, SIM_MODEL)
    write_flash(root, secrets, broker_host, broker_port)
    return secrets.device_id
