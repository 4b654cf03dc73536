# Time rules for money-moving requests (debit_req, void_req) and code lookups (code_req).
#
# The sequence number IS the AES-DUKPT transaction counter: the terminal advances it and
# persists it before sending, so it only grows, even across reboots; a retransmission carries the
# same counter and the same bytes. The server's counter order (per device and key: a stored
# counter gets its stored result or is asked again, a new one must be above the highest
# accepted, anything else is a replay) is in fleet_server/service_layer/money_requests.py.
# The time window applies to new requests only: a retransmission after a long outage must still
# get its stored result.

PAST_WINDOW_S = 300  # a new request may be this old (send delays, queued reconnects)
FUTURE_WINDOW_S = 120  # and this far ahead of the server clock (board clock drift)


def ts_in_window(ts, now, past=PAST_WINDOW_S, future=FUTURE_WINDOW_S):
    return now - past <= ts <= now + future
