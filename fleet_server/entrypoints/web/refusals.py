"""What the consoles' services refuse, in French: the codes of service_layer's Refused
(partner console, operator console, partner creation) turned into the sentences the pages show.
A code this module does not know is shown as it is, so a new one is visible and gets its
sentence added here."""

from fleet_server.service_layer import partner_console
from fleet_server.service_layer.accounts_policy import PASSWORD_MAX, PASSWORD_MIN
from fleet_server.service_layer.refusals import Refused
from protocol import errors

AMOUNT_FIELDS = {"amount": "Montant", "max_amount": "Montant maximum", "balance": "Solde",
                 "cap": "Plafond", "value": "Valeur"}

# A terminal's claim with its label's code (device_lifecycle.ClaimRefused codes).
CLAIMS = {
    "claim_code_malformed": "Code mal saisi : 9 caractères, imprimés XXXX-XXXXX sur l'étiquette.",
    "claim_code_wrong": "Ce code ne correspond pas à ce terminal (vérifiez le numéro et le code "
                        "de l'étiquette).",
    "claim_attempts_exceeded": "Trop de codes erronés : réessayez dans un moment.",
    "device_retired": "Ce terminal est retiré du service.",
    "not_allocated": "Ce terminal ne vous est pas encore alloué : contactez le programme.",
    "allocated_to_other_partner": "Ce code ne correspond pas à ce terminal (vérifiez le numéro "
                                  "et le code de l'étiquette).",
    "already_claimed": "Ce terminal est déjà en service.",
    "no_signed_agreement": "Il faut une convention signée avant de mettre un terminal en "
                           "service.",
    "partner_cannot_pay": "Votre structure ne peut pas encaisser (bons plans uniquement ou "
                          "suspendue).",
}

SENTENCES = {
    # Both consoles.
    "partner_unknown": "Partenaire introuvable.",
    "program_unknown": "Programme inconnu.",
    "terminal_unknown": "Terminal introuvable.",
    # The partner console.
    "assistance_unavailable": "L'assistance en ligne n'est pas disponible : appelez-la.",
    "help_request_incomplete": "Demande incomplète : choisissez un motif et décrivez le "
                               "problème (3 caractères au moins).",
    "operation_unknown": "Opération introuvable.",
    "already_voided": "Opération déjà annulée.",
    "in_batch": "Remboursement déjà demandé (lot {batch_id}) : annulez d'abord ce lot dans "
                "« Remboursements ».",
    "batch_unknown": "Lot introuvable.",
    "batch_not_cancellable": "Seul un lot dont le remboursement est demandé (pas encore payé) "
                             "peut être annulé.",
    "category_unknown": "Catégorie inconnue : choisissez-la dans la liste.",
    "agreement_exists": "Une convention existe déjà pour ce programme et cette catégorie.",
    "nothing_to_export": "Aucune opération à exporter.",
    "no_batch_to_export": "Aucun lot de remboursement à exporter.",
    # The operator console.
    "category_invalid": "Catégorie invalide (lettres minuscules, chiffres, - ou _).",
    "category_definition_invalid": "Catégorie invalide : code en lettres minuscules, "
                                   "chiffres, - ou _ (32 au plus), libellé de 1 à "
                                   "{label_max} caractères.",
    "category_not_listed": "Catégorie « {category} » inconnue : ajoutez-la d'abord dans "
                           "« Catégories ».",
    "status_unknown": "Statut inconnu.",
    "partner_unknown_to_ledger": "Partenaire inconnu du registre des opérations.",
    "agreement_unknown": "Convention introuvable.",
    "agreement_move_refused": "Ce changement de statut n'est pas permis (demandée → acceptée "
                              "→ signée → résiliée).",
    "program_name_invalid": "Nom de programme invalide.",
    "market_year_invalid": "Millésime invalide (année).",
    "pots_missing": "Au moins une cagnotte.",
    "pots_repeated": "Une cagnotte par catégorie.",
    "card_unreadable": "Code de carte illisible.",
    "card_or_pot_unknown": "Carte ou cagnotte inconnue.",
    "card_unknown": "Carte inconnue.",
    "load_refused": "Chargement impossible : {reason}",
    "voucher_count_invalid": "Nombre de bons : de 1 à {most}.",
    "series_size_invalid": "De 1 à {most} coupons par série.",
    "allocation_refused": "Allocation impossible : {reason}",
    "state_change_refused": "Changement impossible : {reason}",
    # Creating a partner (service_layer/partners.py).
    "name_invalid": "Nom invalide (1 à 120 caractères).",
    "phone_invalid": "Téléphone invalide.",
    "email_invalid": "E-mail invalide.",
    "address_invalid": "Adresse invalide (300 caractères au plus, une ligne).",
    "partner_id_invalid": "Code de partenaire invalide.",
    "partner_exists": "Ce partenaire existe déjà.",
}


ACCOUNTS = {
    "email_invalid": "Adresse e-mail invalide",
    "role_unknown": "Rôle inconnu",
    "partner_role_mismatch": "Un compte partenaire est rattaché à un partenaire, et lui seul",
    "email_taken": "Cette adresse e-mail a déjà un compte, ou le partenaire est inconnu",
    "no_account": "Aucun compte pour cette adresse",
    "account_disabled": "Ce compte est désactivé : réactivez-le d'abord",
    "passwords_differ": "Les deux mots de passe ne sont pas identiques",
    "link_invalid": "Lien invalide ou expiré",
    "link_spent": "Lien invalide, déjà utilisé ou expiré (24 heures)",
}
# What a password must have (accounts_policy.password_problems' codes), then must not have.
PASSWORD_NEEDS = {"too_short": f"au moins {PASSWORD_MIN} caractères",
                  "too_long": f"au plus {PASSWORD_MAX} caractères",
                  "no_upper": "au moins une majuscule", "no_lower": "au moins une minuscule",
                  "no_digit": "au moins un chiffre",
                  "no_special": "au moins un caractère spécial (par exemple ! ? @ # %)"}
PASSWORD_BANS = {"has_space": "aucun espace", "has_control": "aucun caractère de contrôle"}


def password_refusal(problems: list[str]) -> str:
    """One sentence for what password_problems found: what it must have, then what it must
    not ("doit comporter ... aucun espace" would say the opposite of the rule)."""
    needed = [PASSWORD_NEEDS[p] for p in problems if p in PASSWORD_NEEDS]
    banned = [PASSWORD_BANS[p] for p in problems if p in PASSWORD_BANS]
    parts = []
    if needed:
        parts.append("doit comporter " + ", ".join(needed))
    if banned:
        parts.append(("il " if needed else "") + "ne doit comporter " + " ni ".join(banned))
    return "Le mot de passe " + " ; ".join(parts)


def switched(user, active: bool) -> str:
    """What the console says after switching an account (or an invitation) on or off."""
    if not user.activated:
        return (f"Invitation de {user.email} réactivée : la personne obtient son lien par "
                "« Mot de passe oublié »." if active else
                f"Invitation de {user.email} annulée : son lien ne fonctionne plus.")
    return f"Compte {user.email} {'réactivé' if active else 'désactivé'}."


def sentence(code: str, **details) -> str:
    if code == "amount_invalid":
        return f"{AMOUNT_FIELDS.get(details.get('field'), 'Montant')} invalide : en euros, " \
               "par exemple 12,50"
    if code == "claim_refused":
        return CLAIMS.get(details.get("reason"), "Mise en service refusée.")
    if code == "ledger_refused":  # the ledger's decline code: the terminal's own words
        return errors.text_fr(details.get("reason") or "internal_error")
    if code == "password_weak":
        return password_refusal(details.get("problems") or [])
    text = SENTENCES.get(code) or ACCOUNTS.get(code)
    return text.format(**details) if text else code


def text(refusal: Refused) -> str:
    """The French sentence for a service's refusal."""
    return sentence(refusal.code, **refusal.details)


TILL = {"malformed": "Formulaire expiré : rechargez la page",
        "replay": "Cette vente est déjà enregistrée : rechargez la caisse"}
AMOUNTS = {"format": "Montant invalide : en euros, par exemple 12,50",
           "range": "Montant invalide : plus de 0 € et au plus 100 000 €"}


def till_result(result) -> str:
    """What the online till says about a sale (online_till.TillResult), as a terminal would."""
    if result.approved:
        return "Paiement accepté"
    if result.code == "amount_invalid":
        return AMOUNTS.get(result.detail, AMOUNTS["format"])
    return TILL.get(result.code) or errors.text_fr(result.code or "internal_error")


# "Ma structure": what is wrong with a field (partner_data.clean_profile, bank_details).
PROFILE = {
    "value_invalid": "Valeur trop longue ou caractères non permis",
    "iban_without_bic": "IBAN et BIC vont ensemble",
    "department_invalid": "Département invalide (01 à 95, 2A, 2B, 971 à 976)",
    "phone_invalid": "Téléphone invalide",
    "website_invalid": "Adresse de site invalide (https://...)",
    "iban_format": "IBAN invalide : deux lettres de pays, deux chiffres de contrôle, puis le "
                   "numéro de compte",
    "iban_country": "IBAN invalide : pays {country} non pris en charge (zone SEPA)",
    "iban_length": "IBAN invalide : {expected} caractères attendus pour {country}, "
                   "{typed} saisis",
    "iban_checksum": "IBAN invalide : la clé de contrôle ne correspond pas (faute de frappe ?)",
    "bic_format": "BIC invalide : 8 ou 11 caractères (banque, pays, lieu, agence)",
    "bic_country": "BIC invalide : pays {bic_country} différent de celui de l'IBAN "
                   "({iban_country})",
    "siret_format": "SIRET invalide : 14 chiffres",
    "siret_checksum": "SIRET invalide : la clé de contrôle ne correspond pas",
    "postcode_format": "Code postal invalide : 5 chiffres",
}


def profile_problem(problem: Refused) -> str:
    text = PROFILE.get(problem.code)
    return text.format(**problem.details) if text else sentence(problem.code,
                                                                **problem.details)


def cancel_blocker(op) -> str | None:
    """Why this operation cannot be cancelled now (beside its greyed button), or None."""
    found = partner_console.cancel_blocker(op)
    return text(found) if found else None
