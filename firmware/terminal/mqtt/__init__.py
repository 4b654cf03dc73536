"""MQTT 3.1.1 for the terminal: a sans-I/O packet codec (packets) and a non-blocking client."""
