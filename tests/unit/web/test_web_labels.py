"""The console's French words for the codes services and terminals record: nothing English
reaches a page (device states, timeline kinds and summaries, reset causes, diagnostic details,
campaign states and reasons, refusals of the support services)."""

import pytest

from fleet_server.entrypoints.web import labels


@pytest.mark.parametrize("stored, shown", [
    ("redémarrage (power_on), démarrage n° 3", "redémarrage (mise sous tension), démarrage n° 3"),
    ("redémarrage (watchdog), démarrage n° 9", "redémarrage (chien de garde (blocage)), "
                                               "démarrage n° 9"),
    ("lecteur : fault", "lecteur : en panne"),
    ("lecteur : ok", "lecteur : en service"),
    ("diagnostic en attente (terminal offline) par a@b.fr",
     "diagnostic en attente (terminal hors ligne) par a@b.fr"),
    ("journal : refusé (bad_mac), après le délai",
     "journal : refusé (signature invalide), après le délai"),
    ("en ligne", "en ligne"),
    ("intervention n° 3 : statut : in_progress", "intervention n° 3 : statut : en cours"),
    ("redémarrage (brand_new_cause)", "redémarrage (brand_new_cause)"),  # unknown: as it is
])
def test_timeline_summaries_are_shown_in_french(stored, shown):
    assert labels.event_text(stored) == shown


def test_every_timeline_kind_and_device_state_has_a_french_word():
    from fleet_server.domain.devices import STATES
    from fleet_server.domain.support import EVENT_KINDS
    assert all(labels.event_kind(k) != k for k in EVENT_KINDS)
    assert all(labels.device_state(s) != s for s in STATES)
    assert labels.device_state("active") == "en service"


def test_every_campaign_state_and_device_step_has_a_french_word():
    from fleet_server.service_layer.campaigns_ports import CAMPAIGN_STATES, FINAL, IN_FLIGHT
    from protocol.messages import UPDATE_STATES
    for code in CAMPAIGN_STATES:
        assert labels.CAMPAIGN_STATES[code] != code
    for code in set(FINAL + IN_FLIGHT + tuple(UPDATE_STATES) + ("pending",)):
        assert labels.campaign_device_state(code) != code, code


@pytest.mark.parametrize("reason, shown", [
    ("failure rate 3/5 over 20%", "3 échec(s) sur 5 terminaux terminés, au-delà de 20 %"),
    ("cancelled", "annulée par l'opérateur"),
    ("stuck in downloading", "bloqué à l'étape « téléchargement »"),
    (None, ""),
])
def test_campaign_reasons_in_french(reason, shown):
    assert labels.campaign_reason(reason) == shown


def test_diagnostic_details_and_refusals_in_french():
    assert labels.check_detail("state", "fault") == "état : en panne"
    assert labels.check_detail("drift_s", 3) == "décalage : 3 s"
    assert labels.check_detail("free", 83_148) == "mémoire libre : 81,2 Kio"
    assert labels.check_detail("pending", 0) == "vente en attente : aucune"
    assert labels.refusal("expired") == "Commande expirée"
    assert labels.reset_cause("power_on") == "mise sous tension"


def test_refusals_of_the_support_services_in_french():
    assert labels.support_error("an intervention resolved cannot become in_progress") == \
        "une intervention « Résolue » ne peut pas passer à « En cours »."
    assert labels.support_error("this terminal is retired") == "ce terminal est retiré du parc."


@pytest.mark.parametrize("size, shown", [(0, "0 octet"), (1, "1 octet"), (812, "812 octets"),
                                         (1024, "1,0 Ko"), (1270, "1,2 Ko"),
                                         (3_565_158, "3,4 Mo"), (5 * 1024 ** 3, "5,0 Go")])
def test_file_sizes_in_french_units(size, shown):
    assert labels.file_size(size) == shown
