# What each state of the counter application shows on the 128x64 screen: 8 lines of 16
# characters of an 8x8 ASCII font. The title is the first line. French texts are written with
# their accents and folded here, so that the wording stays readable in the source.

from protocol.errors import text_fr
from protocol.text import ascii_fold, format_cents, wrap

WIDTH = 16
HEIGHT = 8


def is_ascii(text):
    # Iterating allocates nothing (one-character strings are interned): most lines are plain
    # ASCII already, and folding them would build a list and a new string per line, per key.
    for ch in text:
        if ord(ch) > 127:
            return False
    return True


def fit(lines):
    """Any list of texts -> at most 8 ASCII lines of at most 16 characters."""
    out = []
    for i in range(min(len(lines), HEIGHT)):
        line = lines[i] if is_ascii(lines[i]) else ascii_fold(lines[i])
        out.append(line if len(line) <= WIDTH else line[:WIDTH])
    return out


def _right(text):
    # MicroPython's str has no rjust.
    return " " * (WIDTH - len(text)) + text if len(text) < WIDTH else text


def _kv(label, value):
    """Label on the left, value on the right; the label gives way when the line is full."""
    room = WIDTH - len(value) - 1
    if room <= 0:
        return value
    label = label[:room]
    return label + " " * (WIDTH - len(label) - len(value)) + value


def _text(message, width=WIDTH):
    return wrap(ascii_fold(message), width)


def token_line(kind, code):
    if kind == "card":
        return "Carte ****" + code[-4:]  # the whole card code is not for onlookers
    return "Coupon " + code  # vouchers and ordered coupons alike: "Coupon" at the counter


def unconfigured(online):
    return fit(["TERMINAL", "", "En attente de", "configuration", "",
                "En ligne" if online else "Hors ligne"])


def idle(partner, online, pending, update_queued):
    lines = ["PRET" if online else "HORS LIGNE"]
    lines += _text(partner or "")[:2]
    lines.append("Connecté" if online else "Non connecté")
    if pending:
        lines.append("Op. en attente")
    elif update_queued:
        lines.append("MAJ programmée")
    lines.append("")
    lines.append("Scannez le code" if online else "Vente impossible")
    lines.append("D: menu")
    return fit(lines)


def offline_refusal(what=None):
    # what "void": a cancellation was refused, else a sale. "annulation" and "impossible" as
    # one string split at need: two 10-letter constants would each take an identifier slot
    # at idle (docs/firmware.md, "Identifiers").
    refused = "annulation impossible".split() if what == "void" else ["vente impossible", ""]
    return fit(["HORS LIGNE", "", "Hors ligne -"] + refused +
               ["Aucune opération", "n'est gardée.", "B: retour"])


def busy_refusal(what=None):
    refused = "annulation impossible".split() if what == "void" else ["vente impossible", ""]
    return fit(["EN ATTENTE", "", "Une opération", "attend sa", "réponse:"] + refused +
               ["B: retour"])


def menu(can_void):
    return fit(["MENU", "1 Code carte", "2 Code coupon",
                "3 Annuler vente" if can_void else "3 Rien à annuler", "", "B: retour"])


def code_entry(mode, shown, letters, error):
    lines = ["CODE CARTE" if mode == "card" else "CODE COUPON"]
    lines.append("12 chiffres" if mode == "card" else "9 caractères")
    lines.append("")
    lines.append(shown + "_")
    lines.append(letters)
    lines += (_text(error) + ["", ""])[:2]  # one line or two: the key hint stays last
    lines.append("A:OK *:corr B:x")
    return fit(lines)


def category(cats, page):
    # At most 7 lines under the title: with 8 categories, two pages and "0" flips them.
    lines = ["CATEGORIE ?"]
    per_page = 7 if len(cats) <= 7 else 6
    start = page * per_page
    for i in range(start, min(start + per_page, len(cats))):
        lines.append(str(i + 1) + " " + cats[i].get("l", ""))
    if len(cats) > 7:
        lines.append("0: autres")
    return fit(lines)


def amount(token, cents, most, error):
    """most: the category's per-purchase cap, or the program maximum when it is lower."""
    lines = ["MONTANT", token, "", _right(format_cents(cents))]
    lines += (_text(error) + [""])[:2] if error else ["", ""]
    lines.append(_kv("Max", format_cents(most)))
    lines.append("A:OK *:corr B:<")
    return fit(lines)


def confirm(token, label, cents, warning):
    lines = ["CONFIRMER ?", token, label or "", _right(format_cents(cents))]
    lines += (_text(warning) + ["", ""])[:2]
    lines.append("A: valider")
    lines.append("B: modifier")
    return fit(lines)


def waiting(is_void, cents, tries, note):
    lines = ["ANNULATION" if is_void else "ENVOI", "", "Patientez...", _right(format_cents(cents))]
    lines.append("")
    lines.append(note or ("Essai " + str(tries) if tries > 1 else ""))
    return fit(lines)


def recovering():
    return fit(["EN ATTENTE", "", "Opération", "précédente:", "attente de la", "réponse..."])


def no_answer():
    return fit(["PAS DE REPONSE", "", "Réessayez plus", "tard.", "Opération en",
                "attente.", "", "B: retour"])


def approved(cents, balance, auth):
    lines = ["VENTE ACCEPTEE", "", _right(format_cents(cents))]
    if balance is not None:
        lines.append(_kv("Solde", format_cents(balance)))
    if auth:
        lines.append(_kv("Auth", auth))
    lines += ["", "Touche: suite"]
    return fit(lines)


def voided(cents, auth):
    lines = ["VENTE ANNULEE", "", _right(format_cents(cents))]
    if auth:
        lines.append(_kv("Auth", auth))
    lines += ["", "Touche: suite"]
    return fit(lines)


def declined(code, is_void, final_error, cents=0):
    """cents: what the ledger would take instead (the cap, a coupon's value), 0 if nothing."""
    if final_error:
        title = "ERREUR"
    else:
        title = "ANNUL. REFUSEE" if is_void else "VENTE REFUSEE"
    lines = [title, ""] + (_text(text_fr(code)) + ["", ""])[:3]
    if cents and code == "over_purchase_cap":
        lines.append(_kv("Max", format_cents(cents)))
    elif cents and code == "voucher_amount":
        lines.append(_right(format_cents(cents)))
    else:
        lines.append("")
    lines.append("Touche: suite")
    return fit(lines)


def message(title, text):
    """Error screens and other notices: a title and a French text."""
    return fit([title, ""] + _text(text)[:4] + ["", "Touche: suite"])


def void_confirm(cents, token):
    return fit(["ANNULER ?", "Dernière vente:", token, _right(format_cents(cents)), "",
                "A: oui, annuler", "B: non"])


def update(state):
    return fit(["MISE A JOUR", "", "Mise à jour en", "cours...", "", state or "",
                "Ne pas éteindre"])


def led_for(app):
    """The LED pattern of the current state: a result keeps the colour it was given."""
    if app.state == "result":
        return app.led
    if app.state == "update":
        return "update"
    if app.pending is not None:
        return "wait"
    return "idle" if app.online else "offline"


def for_state(app):
    """The screen of the application's current state (app: a terminal.app.CounterApp)."""
    s = app.state
    if s == "idle":
        if app.config is None:
            return unconfigured(app.online)
        return idle(app.config.get("partner", ""), app.online, app.pending is not None,
                    app.update_state == "queued")
    if s == "menu":
        return menu(app.last_sale is not None)
    if s == "code":
        code = app.code
        letters = code.pending_key + ": " + code.pending_char() if code.pending_key else ""
        return code_entry(code.mode, code.display(), letters, app.error)
    if s == "category":
        return category(app.cats, app.page)
    token = token_line(app.kind, app.token) if app.token else ""
    if s == "lookup":  # a voucher's value asked of the server
        return fit(["COUPON", token, "", "Patientez...", "", "Ou tapez le", "montant",
                    "B: retour"])
    if s == "amount":
        return amount(token, app.amount.cents, app.amount.max_cents, app.error)
    if s == "confirm":
        warning = "Hors ligne!" if not app.online else app.error
        warning = "Op. en attente" if app.pending is not None else warning
        return confirm(token, app.cat.get("l") if app.cat else "", app.amount.cents, warning)
    if s == "void_confirm":
        return void_confirm(app.last_sale[1], app.last_sale[2])
    if s == "waiting":
        p = app.pending
        if p is None or p["kind"] is None:
            return recovering()
        return waiting(p["kind"] == "void", p["cents"], p["tries"], p["note"])
    if s == "no_answer":
        return no_answer()
    if s == "update":
        return update(app.update_state)
    return app.fixed or []
