"""The embedded broker's client-id rule, as `use_username_as_clientid` on Mosquitto's device
listener: a device's client id is its identity (the certificate CN), whatever its CONNECT says,
so a device certificate cannot connect under another device's client id, or the server's, and
throw that client off or wipe its persistent session.

amqtt (0.12) looks the session up by the CONNECT's client id, and deletes it for a clean
session, before it authenticates; a login it then refuses has already taken the session over.
So the CONNECT is authenticated first here: a refused one gets a fresh throwaway client id and
touches nobody's session; an accepted device gets its identity as client id. The rest is
amqtt's own Broker._initialize_client_session, unchanged.
"""

from amqtt.broker import Broker
from amqtt.errors import MQTTError
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
from amqtt.utils import gen_client_id


class IdentityBroker(Broker):
    async def _initialize_client_session(self, reader, writer, remote_address, remote_port):
        try:
            handler, session = await BrokerProtocolHandler.init_from_connect(
                reader, writer, self.plugins_manager)
        except MQTTError:
            await writer.close()
            raise
        await self._bind_identity(session)
        if session.clean_session:
            if session.client_id:
                await self._delete_session(session.client_id)
            else:
                session.client_id = gen_client_id()
            session.parent = 0
        elif session.client_id in self._sessions:
            # The new connection brings its will, keep-alive and credentials to the old session.
            existing, _ = self._sessions[session.client_id]
            for name in ("will_flag", "will_message", "will_topic", "will_qos", "keep_alive",
                         "username", "password"):
                setattr(existing, name, getattr(session, name))
            for name in ("fleet_role", "ssl_object"):  # who this connection is, for the plugins
                if hasattr(session, name):
                    setattr(existing, name, getattr(session, name))
            session = existing
            session.parent = 1
        else:
            session.parent = 0
        delay = self.config.get("timeout-disconnect-delay", 0)
        if session.keep_alive > 0 and isinstance(delay, int):
            session.keep_alive += delay
        return handler, session

    async def _bind_identity(self, session) -> None:
        if not await self._authenticate(session, None):
            session.client_id, session.clean_session = gen_client_id(), True
        elif getattr(session, "fleet_role", None) == "device":
            session.client_id = session.username  # the certificate's CN
