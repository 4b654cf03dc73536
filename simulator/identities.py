"""Identities of simulated terminals, made through the provisioning code path.

A device is registered with the fleet (its keys derived from the server's BDK, allocated to a
partner and activated) and its files are written into a flash directory as key injection writes
them onto a board: device.json by terminal.keys.KeyVault.provision (device id, Initial Key ID,
Initial Key, command key; the IK becomes DUKPT registers at first boot) and config.json (board
and broker). Both are written by provisioning's own code for a directory
(provisioning.flash.provision_into_directory), so the simulator follows whatever provisioning
does.
"""

from pathlib import Path

from provisioning.flash import provision_into_directory

SIM_MODEL = "esp32-gm65"  # what a simulated terminal reports as its hardware model


def write_flash(root: Path, secrets, broker_host, broker_port: int | None) -> None:
    """device.json + config.json for the simulated board, secrets readable by the owner only.
    broker_host: a name, or a cluster's nodes as [[host, port], ...] (broker_port unused)."""
    root = Path(root)
    broker = ({"hosts": broker_host} if isinstance(broker_host, list)
              else {"host": broker_host, "port": broker_port})
    config = {"board": "unix_sim", "broker": broker}
    provision_into_directory(root, secrets, config)  # the same files and code as a board gets


def make_identity(control, partner_id: str, root: Path, broker_host: str,
                  broker_port: int) -> str:
    """Register a device for `partner_id` through `control` (the fleet's registry in this
    process, or its REST API), write its flash directory; returns the device id."""
    secrets = control.register_device(partner_id, SIM_MODEL)
    write_flash(root, secrets, broker_host, broker_port)
    return secrets.device_id
