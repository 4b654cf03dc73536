"""Device identities: keys, certificates, claim codes, labels, flashing with mpremote."""
