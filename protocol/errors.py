# Decline and error codes shared by the terminal and the server.
#
# A code is a short ASCII string: stable on the wire, readable in logs. Each has a French text
# that fits the 128x64 screen (at most two lines of 16 characters, 32 in all) and an
# English text for logs. "decline" codes are business refusals shown to the counter staff;
# "error" codes are technical problems with the request itself.

DECLINE = "decline"
ERROR = "error"

# code: (kind, French text, English log text). The French text keeps its accents for the web
# console; the terminal folds it to ASCII with text.ascii_fold() for its 8x8 font.
CODES = {
    # Business declines from the ledger or the partner's rights.
    "insufficient_balance": (DECLINE, "Solde insuffisant", "insufficient balance in the pot"),
    "over_purchase_cap": (DECLINE, "Plafond par achat dépassé", "over per-purchase cap"),
    "unknown_code": (DECLINE, "Code inconnu", "unknown card or voucher code"),
    "code_unreadable": (DECLINE, "Code illisible, rescannez", "code check character mismatch"),
    "voucher_used": (DECLINE, "Chèque déjà utilisé", "voucher already used"),
    "voucher_expired": (DECLINE, "Chèque périmé", "voucher outside its market year"),
    "voucher_amount": (DECLINE, "Montant du chèque attendu", "amount is not the voucher value"),
    "coupon_out_of_order": (DECLINE, "Coupon précédent non validé", "coupon out of order"),
    "not_in_agreement": (DECLINE, "Hors de votre convention", "not allowed by the agreement"),
    "partner_cannot_pay": (DECLINE, "Encaissement non autorisé", "partner cannot take payments"),
    "category_unknown": (DECLINE, "Catégorie inconnue", "unknown category"),
    "category_required": (DECLINE, "Choisir une catégorie", "category required for this code"),
    "amount_invalid": (DECLINE, "Montant invalide", "amount must be a positive number of cents"),
    "amount_over_max": (DECLINE, "Montant trop élevé", "amount over the program maximum"),
    "beneficiary_blocked": (DECLINE, "Carte bloquée", "beneficiary card blocked"),
    "void_unknown": (DECLINE, "Opération introuvable", "operation to cancel not found"),
    "void_not_allowed": (DECLINE, "Annulation impossible", "reimbursement already requested"),
    "already_voided": (DECLINE, "Déjà annulée", "operation already cancelled"),
    # Device and request problems.
    "device_unknown": (ERROR, "Terminal inconnu", "unknown device"),
    "device_inactive": (ERROR, "Terminal non actif", "device not active"),
    "bad_mac": (ERROR, "Signature invalide", "bad message authentication code"),
    "replay": (ERROR, "Requête rejouée", "replayed sequence number"),
    "ts_out_of_window": (ERROR, "Horloge à régler", "timestamp outside the accepted window"),
    "counter_exhausted": (ERROR, "Clés épuisées", "DUKPT transaction counter exhausted"),
    "malformed": (ERROR, "Message invalide", "malformed message"),
    "too_large": (ERROR, "Message trop long", "message over the size limit"),
    "bad_version": (ERROR, "Version incompatible", "unsupported protocol version"),
    "bad_type": (ERROR, "Message invalide", "field of the wrong type"),
    "missing_field": (ERROR, "Message incomplet", "required field missing"),
    "unknown_field": (ERROR, "Message invalide", "field not allowed in this message"),
    "out_of_range": (ERROR, "Valeur hors limites", "field value out of bounds"),
    "bad_topic": (ERROR, "Sujet invalide", "topic does not match the device"),
    "expired": (ERROR, "Commande expirée", "command expired"),
    "service_unavailable": (ERROR, "Service indisponible", "ledger unavailable, try again"),
    "internal_error": (ERROR, "Erreur interne", "internal error"),
}


class ProtocolError(Exception):
    """The one exception protocol parsers raise: a known code plus a detail for logs."""

    def __init__(self, code, detail=""):
        if code not in CODES:
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
    return code in CODES


def kind_of(code):
    entry = CODES.get(code)
    return entry[0] if entry else ERROR


def text_fr(code):
    entry = CODES.get(code)
    return entry[1] if entry else CODES["internal_error"][1]


def text_en(code):
    entry = CODES.get(code)
    return entry[2] if entry else CODES["internal_error"][2]
