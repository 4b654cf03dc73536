# A rollback statement: the release key's permission for terminals to install a release older
# than the one they run (docs/updates.md). The update offer's "dg" carries its signature (ECDSA
# P-256 over SHA-256, r || s in hex, like a manifest's); the terminal rebuilds these bytes from
# the release it fetched and checks them against its release keys. The offer is MACed with the
# command key, which the server holds: were "dg" a plain flag, whoever holds that key could roll
# terminals back to any older signed release (one with a known flaw). The release key stays off
# the server, so a rollback is the operator's decision, signed like a release.

LABEL = "ct-rollback-v1"


def statement(version, manifest_sha):
    """The signed bytes: the release's version and its manifest's SHA-256 (hex)."""
    return (LABEL + "\n" + version + "\n" + manifest_sha.lower()).encode()
