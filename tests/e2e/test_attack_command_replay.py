"""Replaying a captured restart after the terminal rebooted, on real parts: the firmware on the
MicroPython binary, the project's Mosquitto and the fleet server. The terminal's id dedup is in
RAM; the persisted high-water mark of command times makes each command single use anyway."""

import pytest
from counter_terminal import Operator, counter, stack  # noqa: F401 (fixtures)
from test_firmware_sale import FirmwareProcess

from protocol import topics

pytestmark = [pytest.mark.broker, pytest.mark.micropython]


def test_a_restart_replayed_after_the_reboot_is_refused(
        stack, mosquitto, micropython_bin, counter):  # noqa: F811
    ops = Operator(mosquitto, stack, counter.dev)
    rebooted = None
    try:
        captured = ops.command("boot-1", "restart")
        assert ops.reply("boot-1")[1]["ok"] is True
        assert counter.proc.wait(20) == 3  # restarted
        rebooted = FirmwareProcess(micropython_bin, counter.root)
        rebooted.wait_screen("Librairie des")
        ops.publish(topics.topic(counter.dev, "command"), captured)
        _, reply = ops.reply("boot-1")
        assert reply["ok"] is False and reply["code"] == "replay"
        ops.command("ping-1", "ping")  # a new command still runs
        assert ops.reply("ping-1")[1]["ok"] is True
        assert rebooted.proc.poll() is None
    finally:
        ops.close()
        if rebooted is not None:
            rebooted.stop()
