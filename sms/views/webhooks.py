"""Provider callbacks: delivery reports and inbound texts. Public (providers have no session),
so each request must carry the provider's signature; CSRF does not apply to them."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from dashboard.errors import SwitchboardError
from sms.gateways import get_gateway
from sms.gateways.base import Gateway
from sms.services.inbound import receive_inbound
from sms.services.messages import record_status_report

TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def _verified_gateway(request: HttpRequest, name: str) -> Gateway | HttpResponse:
    try:
        gateway = get_gateway(name)
    except KeyError:
        raise Http404("No such SMS gateway.") from None
    if not gateway.verify(request):
        return HttpResponse("Bad signature.", status=403, content_type="text/plain")
    return gateway


def _ok(name: str) -> HttpResponse:
    if name == "twilio":
        return HttpResponse(TWIML_EMPTY, content_type="text/xml")
    return HttpResponse("ok", content_type="text/plain")


@csrf_exempt
@login_not_required
@require_POST
def status_callback(request: HttpRequest, gateway: str) -> HttpResponse:
    verified = _verified_gateway(request, gateway)
    if isinstance(verified, HttpResponse):
        return verified
    try:
        record_status_report(gateway=gateway, report=verified.parse_status(request))
    except SwitchboardError as exc:
        return HttpResponse(exc.message, status=400, content_type="text/plain")
    return _ok(gateway)


@csrf_exempt
@login_not_required
@require_POST
def inbound(request: HttpRequest, gateway: str) -> HttpResponse:
    verified = _verified_gateway(request, gateway)
    if isinstance(verified, HttpResponse):
        return verified
    try:
        sms = verified.parse_inbound(request)
    except SwitchboardError as exc:
        return HttpResponse(exc.message, status=400, content_type="text/plain")
    if not sms.sender:
        return HttpResponse("An inbound message needs a sender.", status=400)
    receive_inbound(gateway=gateway, sms=sms)
    return _ok(gateway)
