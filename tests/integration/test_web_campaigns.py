"""Starting a firmware update campaign from the operator's console page, over HTTP (FastAPI's
test client) on SQLite and PostgreSQL: a published signed release, the French form with its
choices, the campaign's page with its target and pacing, refusals in French, the operator
role only. The same service call as POST /api/v1/campaigns (UpdateService.start)."""

import re
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from test_web_console import csrf, logged_in, message

from fleet_server.bootstrap import bootstrap
from fleet_server.service_layer import registry
from fleet_server.service_layer import updates_releases as rel
from fleet_server.service_layer.campaigns_ports import CampaignError
from fleet_server.settings import Settings

MASTER = "web-campaigns-test-master-secret-0123456789"
FORM = {"release": "1.1.0", "target_kind": "model", "model": "esp32_gm65", "percent": "100",
        "max_per_minute": "40", "base_per_minute": "4", "ramp": "1,5", "start_delay_s": "30",
        "failure_pct": "25", "min_devices": "3", "device_timeout_s": "600",
        "max_retries": "2"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fleet(request, tmp_path, monkeypatch):
    key = ec.generate_private_key(ec.SECP256R1())
    monkeypatch.setenv("FLEET_RELEASE_KEYS", rel.public_key_bytes(key.public_key()).hex())
    url = (f"sqlite:///{tmp_path}/fleet.sqlite3" if request.param == "sqlite"
           else request.getfixturevalue("fresh_postgres_url"))
    fleet = bootstrap(Settings(db_url=url, master_secret=MASTER, settlement_enabled=False))
    files = {"main.py": b"print('1.1.0')\n", "lib.bin": b"L" * 3000}
    entries = [{"path": p, "size": len(d), "sha256": rel.sha256_hex(d)}
               for p, d in files.items()]
    manifest = rel.build_manifest("1.1.0", ["esp32_gm65", "unix_sim"], entries)
    fleet.updates.publish(rel.ReleaseCandidate(
        manifest, rel.sign_manifest(key, manifest),
        {rel.sha256_hex(d): d for d in files.values()}))
    yield fleet
    fleet.close()


def error(page) -> str:
    found = re.search(r'class="error"[^>]*>([^<]+)', page.text)
    return found.group(1).replace("&#39;", "'").replace("&amp;", "&") if found else ""


def test_operator_starts_a_campaign_from_the_page(fleet):
    for _ in range(3):
        registry.register_device(fleet.uow(), fleet.keys, "esp32-gm65", datetime.now(UTC))
    registry.register_device(fleet.uow(), fleet.keys, "esp32s3-gm805", datetime.now(UTC))
    op = logged_in(fleet, "operateur@maj.example", "operator")
    token = csrf(op.get("/operator/updates"))
    page = op.post("/operator/partners", data={"csrf_token": token, "name": "Librairie Sud"})
    partner = str(page.url).rsplit("/", 1)[1]

    # The form offers the published release, the partners and the release's board models.
    page = op.get("/operator/updates")
    assert "Lancer une campagne" in page.text
    assert '<option value="1.1.0"' in page.text
    assert f'<option value="{partner}"' in page.text and "Librairie Sud" in page.text
    assert '<option value="esp32_gm65"' in page.text and '<option value="unix_sim"' in page.text

    page = op.post("/operator/updates/campaigns", data=dict(FORM, csrf_token=token))
    assert page.status_code == 200 and "/operator/updates/campaigns/C" in str(page.url)
    campaign_id = str(page.url).rsplit("/", 1)[1]
    assert message(page) == (f"Campagne {campaign_id} lancée : version 1.1.0 vers 3 "
                             "terminal(aux).")
    facts = re.sub(r"\s+", " ", page.text)
    assert "Modèle de carte esp32_gm65" in facts
    assert "de 4 à 40 terminaux par minute, × 1,5 par minute" in facts
    assert "délai aléatoire jusqu'à 30 s" in facts.replace("&#39;", "'")
    assert "au-delà de 25 % d'échecs, après 3 terminaux terminés" in \
        facts.replace("&#39;", "'")
    assert "600 s par étape, 2 nouvelle(s) tentative(s)" in facts
    view = fleet.updates.show(campaign_id)
    assert view["state"] == "running" and view["total"] == 3
    assert view["rules"]["ramp"] == 1.5 and view["rules"]["failure_threshold"] == 0.25
    assert view["target"]["model"] == "esp32_gm65" and view["target"]["percent"] == 100
    listing = op.get("/operator/updates").text
    assert f'href="/operator/updates/campaigns/{campaign_id}"' in listing
    assert "En cours" in listing

    # A partner's terminals, a tenth of them: the campaign names its target.
    page = op.post("/operator/updates/campaigns", data=dict(
        FORM, csrf_token=token, target_kind="partner", partner=partner, percent="10"))
    assert f"Partenaire {partner}, 10 % du parc visé" in page.text
    # Bad input is refused with its French message and the form keeps what was typed.
    refusals = [
        ({"release": "9.9.9"}, "Version inconnue : « 9.9.9 » n'est pas publiée."),
        ({"target_kind": "partner", "partner": ""}, "Cible vide"),
        ({"target_kind": "devices", "devices": " , "}, "Cible vide"),
        ({"percent": "0"}, "Le pourcentage du parc va de 1 à 100."),
        ({"percent": "dix"}, "« Pourcentage du parc visé » : un nombre entier attendu"),
        ({"base_per_minute": "50"}, "Cadence hors limites"),
        ({"ramp": "nan"}, "« Accélération (× par minute) » : un nombre attendu"),
        ({"max_retries": "11"}, "Valeur hors limites"),
        ({"device_timeout_s": "5"}, "Valeur hors limites"),
        ({"failure_pct": "150"}, "Valeur hors limites"),
        ({"target_kind": "everything"}, "Choisissez le type de cible."),
    ]
    for change, expected in refusals:
        page = op.post("/operator/updates/campaigns", data=dict(FORM, csrf_token=token,
                                                                **change))
        assert page.status_code == 422 and error(page).startswith(expected), (change, page.text)
    assert 'value="dix"' in op.post("/operator/updates/campaigns", data=dict(
        FORM, csrf_token=token, percent="dix")).text
    assert len(fleet.updates.campaigns.list_campaigns()) == 2
    # An explicit list of terminals goes to them whatever their board.
    ids = [d["device_id"] for d in fleet.updates.campaigns.devices(campaign_id)]
    page = op.post("/operator/updates/campaigns", data=dict(
        FORM, csrf_token=token, target_kind="devices", devices=",\n".join(ids[:2])))
    assert "2 terminal(aux) listé(s)" in page.text.replace("&#39;", "'")
    assert op.get("/operator/updates/campaigns/NOPE").status_code == 404


def test_only_the_operator_starts_a_campaign(fleet):
    op = logged_in(fleet, "operateur@maj.example", "operator")
    support = logged_in(fleet, "support@maj.example", "support")
    token = csrf(op.get("/operator/updates"))
    page = op.post("/operator/partners", data={"csrf_token": token, "name": "Garage Nord"})
    partner = str(page.url).rsplit("/", 1)[1]
    admin = logged_in(fleet, "admin@garage.example", "partner_admin", partner)
    for client in (support, admin):
        own = csrf(client.get("/account"))
        page = client.post("/operator/updates/campaigns", data=dict(FORM, csrf_token=own,
                                                                    target_kind="all"))
        assert page.status_code == 403
        assert client.get("/operator/updates").status_code == 403
        assert client.get("/operator/updates/campaigns/X").status_code == 403
    # Without the session's CSRF token even the operator is refused.
    page = op.post("/operator/updates/campaigns", data=dict(FORM, target_kind="all"))
    assert page.status_code == 403
    assert fleet.updates.campaigns.list_campaigns() == []


def test_the_api_and_the_page_share_the_service_checks(fleet):
    service = fleet.updates
    with pytest.raises(CampaignError, match="unknown rule"):
        service.start("1.1.0", {"all": True}, {"max_per_minut": 5})
    with pytest.raises(CampaignError, match="wrong type"):
        service.start("1.1.0", {"all": True}, {"max_per_minute": "5"})
    with pytest.raises(CampaignError, match="wrong type"):
        service.start("1.1.0", {"all": True}, {"allow_downgrade": 1})
    with pytest.raises(CampaignError, match="unknown target"):
        service.start("1.1.0", {"everyone": True}, {})
    view = service.start("1.1.0", {"all": True}, {"ramp": 3}, "API-SHAPE")
    assert view["rules"]["ramp"] == 3 and view["target"]["all"] is True
