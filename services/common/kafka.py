"""What every Kafka client of osms is given: the bootstrap servers and the deployment's security
(TLS and SASL/SCRAM), from the settings, so a producer, a consumer and an admin client connect alike."""
from __future__ import annotations

from typing import Any

from services.common.settings import Settings


def client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for AIOKafkaProducer, AIOKafkaConsumer, AIOKafkaAdminClient and AIOKafkaClient."""
    options: dict[str, Any] = {"bootstrap_servers": settings.kafka_bootstrap,
                               "security_protocol": settings.kafka_security_protocol}
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        from aiokafka.helpers import create_ssl_context

        options["ssl_context"] = create_ssl_context(cafile=settings.kafka_ssl_cafile,
                                                    certfile=settings.kafka_ssl_certfile,
                                                    keyfile=settings.kafka_ssl_keyfile)
    if settings.kafka_security_protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        password = settings.kafka_sasl_password
        options["sasl_plain_password"] = password.get_secret_value() if password else None
    return options
