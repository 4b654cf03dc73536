# The heartbeat message (protocol.messages "heartbeat"), from raw runtime and driver values.
# Drivers report odd values (negative heap after a glitch, rssi of +31 for "unknown", floats,
# None): every value is clamped or dropped to fit the schema, so building never raises on
# them and a heartbeat always goes out. No I/O here.

from protocol import messages, topics

_CODE_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_"
_U32 = 0xFFFFFFFF
_SCANNER = ("ok", "fault", "absent")


def _int(value, lo, hi, default):
    try:
        v = int(value)
    except Exception:  # None, nan, text: use the default
        return default
    if v < lo:
        return lo
    if v > hi:
        return hi
    return v


def _text(value, hi, default):
    # Printable characters only (the schema refuses control characters and surrogates).
    if value is None:
        return default
    out = []
    for ch in str(value)[:hi]:
        c = ord(ch)
        out.append("?" if c < 0x20 or c == 0x7F or 0xD800 <= c <= 0xDFFF else ch)
    text = "".join(out)
    return text if text else default


def _code(value, default):
    text = str(value).lower() if value is not None else ""
    out = "".join([ch for ch in text if ch in _CODE_CHARS])[:16]
    return out if out else default


def build_heartbeat(device_id, ts, uptime_s, heap, fw, boots, reset_cause, journal_seq,
                    scanner_state, rssi=None, last_error=None, drift=None, sales=None):
    """-> (topic, payload bytes)."""
    fields = {
        "dev": device_id,
        "ts": _int(ts, messages.TS_MIN, messages.TS_MAX, messages.TS_MIN),
        "up": _int(uptime_s, 0, _U32, 0),
        "heap": _int(heap, 0, 1 << 30, 0),
        "fw": _text(fw, 24, "unknown"),
        "boots": _int(boots, 0, _U32, 0),
        "rst": _code(reset_cause, "unknown"),
        "jn": _int(journal_seq, 0, _U32, 0),
        "scn": scanner_state if scanner_state in _SCANNER else "fault",
    }
    if rssi is not None:
        value = _int(rssi, -127, 0, None)
        if value is not None:
            fields["rssi"] = value
    if last_error is not None:
        err = _text(last_error, 64, None)
        if err is not None:
            fields["err"] = err
    if drift is not None:
        value = _int(drift, -86400, 86400, None)
        if value is not None:
            fields["drift"] = value
    if sales is not None:
        value = _int(sales, 0, _U32, None)
        if value is not None:
            fields["sales"] = value
    message = messages.build("heartbeat", fields)
    return topics.topic(device_id, "heartbeat"), messages.encode(message)
