import pytest

from fleet_server.adapters.mqtt_link import broker_uses_tls, parse_broker_url


def test_plain_and_tls_broker_urls_give_their_default_ports():
    assert parse_broker_url("mqtt://127.0.0.1") == ("127.0.0.1", 1883)
    assert parse_broker_url("mqtts://broker.example.org") == ("broker.example.org", 8883)
    assert parse_broker_url("mqtts://127.0.0.1:9883") == ("127.0.0.1", 9883)
    assert broker_uses_tls("mqtts://127.0.0.1") and not broker_uses_tls("mqtt://127.0.0.1")


@pytest.mark.parametrize("url", ["http://127.0.0.1:1883", "127.0.0.1:1883", "mqtt://"])
def test_other_urls_are_refused_with_the_expected_shape(url):
    with pytest.raises(ValueError, match="mqtt://host:port"):
        parse_broker_url(url)
