"""SMS providers behind one interface; settings.SMS_GATEWAY picks the one that sends."""

from __future__ import annotations

from django.conf import settings

from sms.gateways.base import Gateway


def get_gateway(name: str | None = None) -> Gateway:
    from sms.gateways.mailpro import MailproGateway
    from sms.gateways.sandbox import SandboxGateway
    from sms.gateways.twilio import TwilioGateway

    name = name or settings.SMS_GATEWAY
    classes: dict[str, type[Gateway]] = {
        "sandbox": SandboxGateway,
        "mailpro": MailproGateway,
        "twilio": TwilioGateway,
    }
    if name not in classes:
        raise KeyError(name)
    return classes[name].from_settings()
