"""Check, before anything is seeded or started, that the ports a command will listen on are
free: a busy port otherwise shows as a traceback from deep inside uvicorn or the broker, after
the demo data was already written."""

import socket


class PortBusy(ValueError):
    """A port this command needs is taken; the message names it and the option to change it."""


def _free(host: str, port: int) -> bool:
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
            # As the servers bind: SO_REUSEADDR lets a port in TIME_WAIT be reused, not one in
            # use by a listening process.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
        return True
    except OSError:
        return False


def check_ports(settings, embedded_broker: bool, make_target: str | None = None) -> None:
    """Raise PortBusy for the first busy port among the web server's and, when the command
    starts it, the embedded broker's."""
    wanted = [(settings.http_host, settings.http_port, "web server", "--port", "PORT")]
    if embedded_broker:
        wanted.append((getattr(settings, "embedded_mqtt_host", "127.0.0.1"),
                       settings.embedded_mqtt_port, "embedded MQTT broker", "--mqtt-port",
                       "MQTT_PORT"))
    for host, port, what, option, make_var in wanted:
        if not _free(host, port):
            hint = f" (make {make_target} {make_var}=N)" if make_target else ""
            raise PortBusy(f"port {port} on {host} ({what}) is already in use: stop what uses "
                           f"it, or choose another port with {option} N{hint}")
