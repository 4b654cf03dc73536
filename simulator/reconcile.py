"""What the terminals showed against what the ledger holds, and the run's report. Pure: it gets
the sales (Sale records), the ledger's operations and the wallets, and counts.

- lost: an approval a terminal showed (its authorisation code) that the ledger lacks, or a
  ledger operation of one of the run's terminals that no terminal showed as approved (money
  moved and the counter staff was told otherwise); a cancellation shown but not in the ledger,
  or the reverse, counts too.
- duplicated: a ledger operation no terminal showed, for the same terminal, code and amount as
  one it did show: one sale debited twice.
- wallets: every card's pots end at initial - approved + voided, to the cent, from what the
  terminals showed.
"""

from collections import Counter, defaultdict


def percentile(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return round(ordered[low] + (ordered[high] - ordered[low]) * (rank - low), 1)


def reconcile(sales, operations: list[dict], devices: set[str], initial: dict,
              final: dict) -> dict:
    debits = [s for s in sales if s.kind != "void"]
    problems: list[str] = []
    lost = duplicated = 0
    shown = {}
    for s in debits:
        if s.outcome != "approved" or s.auth is None:
            continue
        if (s.device_id, s.auth) in shown:  # one ledger operation, two sales handed over
            lost += 1
            problems.append(f"lost: {s.device_id} showed approval {s.auth} again, for another "
                            f"sale of {s.token}")
            continue
        shown[(s.device_id, s.auth)] = s
    ours = [op for op in operations if op.get("device_id") in devices]
    in_ledger = {(op["device_id"], op["auth_code"]): op for op in ours}
    for key, sale in shown.items():
        op = in_ledger.get(key)
        if op is None:
            lost += 1
            problems.append(f"lost: {key[0]} showed approval {key[1]} for {sale.token}, "
                            "the ledger has no such operation")
        elif (op["status"] == "voided") != sale.voided:
            lost += 1
            problems.append(f"lost: {key[0]} auth {key[1]}: ledger says {op['status']}, the "
                            f"terminal showed {'a cancellation' if sale.voided else 'none'}")
    approvals_seen = Counter((s.device_id, s.token, s.amount_cents) for s in shown.values())
    for key, op in in_ledger.items():
        if key in shown:
            continue
        same = (op["device_id"], op["token"], op["amount_cents"])
        if approvals_seen[same]:
            duplicated += 1
            problems.append(f"duplicated: {op['id']} debits {op['token']} again for "
                            f"{op['device_id']}")
        else:
            lost += 1
            problems.append(f"lost: ledger operation {op['id']} ({op['device_id']}, "
                            f"{op['token']}, {op['amount_cents']}) was never shown approved")
    mismatches = _wallets(shown.values(), initial, final, problems)
    return {"lost": lost, "duplicated": duplicated, "wallet_mismatches": mismatches,
            "ledger_operations": len(ours), "problems": problems[:50]}


def _wallets(approved, initial: dict, final: dict, problems: list[str]) -> int:
    expected = {card: dict(pots) for card, pots in initial.items()}
    for sale in approved:
        if sale.token in expected and not sale.voided and sale.category:
            expected[sale.token][sale.category] -= sale.amount_cents
    mismatches = 0
    for card, pots in expected.items():
        for category, cents in pots.items():
            got = final.get(card, {}).get(category)
            if got != cents:
                mismatches += 1
                problems.append(f"wallet {card} {category}: ledger {got}, expected {cents} "
                                "(initial - approved + voided)")
    return mismatches


def summarize(sales, elapsed_s: float) -> dict:
    debits = [s for s in sales if s.kind != "void"]
    voids = [s for s in sales if s.kind == "void"]
    declined = Counter(s.code for s in debits if s.outcome == "declined")
    errors = Counter(s.code or s.outcome for s in debits if s.outcome in ("error", "unresolved"))
    not_sent = Counter(s.code for s in debits if s.outcome == "not_sent")
    latencies = [s.latency_ms for s in sales if s.latency_ms is not None]
    approved = sum(1 for s in debits if s.outcome == "approved")
    by_kind: dict = defaultdict(Counter)
    for s in debits:
        by_kind[s.kind][s.outcome if s.outcome != "declined" else s.code] += 1
    return {
        "attempted": len(debits), "approved": approved,
        "declined": dict(sorted(declined.items())),
        "errors": sum(errors.values()), "errors_by_code": dict(sorted(errors.items())),
        "not_sent": dict(sorted(not_sent.items())),
        "voids": {"attempted": len(voids),
                  "approved": sum(1 for s in voids if s.outcome == "approved")},
        "latency_ms": {"p50": percentile(latencies, 50), "p95": percentile(latencies, 95),
                       "p99": percentile(latencies, 99), "count": len(latencies)},
        "elapsed_s": round(elapsed_s, 2),
        "sales_per_s": round(sum(1 for s in debits if s.latency_ms is not None)
                             / elapsed_s, 2) if elapsed_s > 0 else 0.0,
        "by_kind": {kind: dict(c) for kind, c in sorted(by_kind.items())},
    }
