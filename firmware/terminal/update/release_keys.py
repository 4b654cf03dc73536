# Release public keys the firmware trusts: ECDSA P-256, SEC 1 uncompressed (04 || x || y), hex.
# Generated from the operator's key, which never leaves the operator's machine:
#     fleet release keygen --out release-key.pem \
#         --firmware-keys firmware/terminal/update/release_keys.py
# A terminal also trusts the keys listed in release_keys.json in its data directory (written
# at provisioning, like its command key), so a test fleet can use a key of its own.
KEYS = ()
