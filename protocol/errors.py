# Decline and error codes shared by the terminal and the server.
#
# A code is a short ASCII string: stable on the wire, readable in logs. Each has a French text
# that fits the 128x64 screen (at most two lines of 16 characters, 32 in all) and an
# English text for logs. "decline" codes are business refusals shown to the counter staff;
# "error" codes are technical problems with the request itself.

DECLINE = "decline"
ERROR = "error"

# One line per code: "code|kind|French text|English log text", the business declines from
# the ledger or the partner's rights first, then the device and request problems. The French
# text keeps its accents for the web console; the terminal folds it to ASCII with
# text.ascii_fold() for its 8x8 font.
# One string rather than a dict of tuples: a terminal looks a text up only on a refusal, and
# 37 tuples with their 74 strings would hold about 4 KB of its heap for good (8 KB on 64 bits),
# while this string stays in flash when the code runs from a ROMFS partition. CODES, the same
# table as a dict (code -> (kind, French text, English text)), is built on first use, for the
# server (module __getattr__ below).
_TABLE = """
insufficient_balance|decline|Solde insuffisant|insufficient balance in the pot
over_purchase_cap|decline|Plafond par achat dépassé|over per-purchase cap
unknown_code|decline|Code inconnu|unknown card or voucher code
code_unreadable|decline|Code illisible, rescannez|code check character mismatch
code_mistyped|decline|Code erroné|typed code check character mismatch
voucher_used|decline|Coupon déjà utilisé|voucher already used
voucher_expired|decline|Coupon périmé|voucher outside its market year
voucher_amount|decline|Montant du coupon attendu|amount is not the voucher value
coupon_out_of_order|decline|Coupon précédent d'abord|coupon out of order
not_in_agreement|decline|Hors de votre convention|not allowed by the agreement
partner_cannot_pay|decline|Encaissement non autorisé|partner cannot take payments
category_unknown|decline|Catégorie inconnue|unknown category
category_required|decline|Choisir une catégorie|category required for this code
amount_invalid|decline|Montant invalide|amount must be a positive number of cents
amount_over_max|decline|Montant trop élevé|amount over the program maximum
beneficiary_blocked|decline|Carte bloquée|beneficiary card blocked
void_unknown|decline|Opération introuvable|operation to cancel not found
void_not_allowed|decline|Annulation impossible|reimbursement already requested
already_voided|decline|Déjà annulée|operation already cancelled
device_unknown|error|Terminal inconnu|unknown device
device_inactive|error|Terminal non actif|device not active
device_retired|error|Terminal retiré|device retired
bad_mac|error|Signature invalide|bad message authentication code
replay|error|Requête rejouée|replayed sequence number
ts_out_of_window|error|Horloge à régler|timestamp outside the accepted window
counter_exhausted|error|Clés épuisées|DUKPT transaction counter exhausted
key_replaced|error|Clé remplacée|new request under the key replaced by a re-key
malformed|error|Message invalide|malformed message
too_large|error|Message trop long|message over the size limit
bad_version|error|Version incompatible|unsupported protocol version
bad_type|error|Message invalide|field of the wrong type
missing_field|error|Message incomplet|required field missing
unknown_field|error|Message invalide|field not allowed in this message
out_of_range|error|Valeur hors limites|field value out of bounds
bad_topic|error|Sujet invalide|topic does not match the device
expired|error|Commande expirée|command expired
service_unavailable|error|Service indisponible|ledger unavailable, try again
internal_error|error|Erreur interne|internal error
"""


def _entry(code):
    """[kind, French text, English text] of a known code, else None."""
    if type(code) is not str or not code or "|" in code or "\n" in code:
        return None
    at = _TABLE.find("\n" + code + "|")
    if at < 0:
        return None
    return _TABLE[at + 1:_TABLE.find("\n", at + 1)].split("|")[1:]


def __getattr__(name):
    if name != "CODES":
        raise AttributeError(name)
    table = {}
    for line in _TABLE.split("\n"):
        if line:
            code, kind, french, english = line.split("|")
            table[code] = (kind, french, english)
    globals()["CODES"] = table
    return table


class ProtocolError(Exception):
    """The one exception protocol parsers raise: a known code plus a detail for logs."""

    def __init__(self, code, detail=""):
        if _entry(code) is None:
            detail = code + (": " + detail if detail else "")
            code = "internal_error"
        super().__init__(code, detail)
        self.code = code
        self.detail = detail

    def __str__(self):
        if self.detail:
            return self.code + ": " + self.detail
        return self.code


def is_known(code):
    return _entry(code) is not None


def kind_of(code):
    entry = _entry(code)
    return entry[0] if entry else ERROR


def text_fr(code):
    return (_entry(code) or _entry("internal_error"))[1]


def text_en(code):
    return (_entry(code) or _entry("internal_error"))[2]
