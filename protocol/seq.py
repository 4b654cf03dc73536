# Sequence and time rules for money-moving requests (debit_req, void_req).
#
# The sequence number IS the AES-DUKPT transaction counter: the terminal advances it and
# persists it before sending, so it only grows, even across reboots; a retransmission carries the
# same counter and the same bytes. The server keeps, per device, the highest counter it has
# accepted and the result it sent for each counter:
#   - a counter it has answered         -> RETRANSMIT: send the stored result again, unchanged
#   - a counter above the highest seen  -> NEW: process it (after the MAC and time checks)
#   - a counter it is still working on  -> IN_PROGRESS: ignore, its result is on its way
#   - any other counter (lower, unknown)-> REPLAY: refuse with the "replay" error
# The time window applies to NEW requests only: a retransmission after a long outage must still
# get its stored result.

NEW = "new"
RETRANSMIT = "retransmit"
IN_PROGRESS = "in_progress"
REPLAY = "replay"

PAST_WINDOW_S = 300  # a new request may be this old (send delays, queued reconnects)
FUTURE_WINDOW_S = 120  # and this far ahead of the server clock (board clock drift)


def classify(seq, highest_seen, answered, in_progress=False):
    """Decide what a request with counter `seq` is.

    highest_seen: the highest counter accepted from this device, 0 if none yet;
    answered: True when a result is stored for exactly this counter;
    in_progress: True when this exact counter is being processed now.
    """
    if answered:
        return RETRANSMIT
    if in_progress:
        return IN_PROGRESS
    if seq > highest_seen:
        return NEW
    return REPLAY


def ts_in_window(ts, now, past=PAST_WINDOW_S, future=FUTURE_WINDOW_S):
    return now - past <= ts <= now + future
