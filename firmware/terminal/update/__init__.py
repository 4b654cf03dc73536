"""Firmware updates: signed manifests, file-level delta over MQTT, A/B slots, trial boot and
rollback. Imported only when an update is in flight (an offer arrived, or the boot selector
found a trial or a report to send): nothing here weighs on an idle terminal."""
