"""The README's tour through a client generated from /openapi.json by
openapi-python-client (tests/openapi.rs): token, verify, a refused ID in
Arabic, the other registries, a security check, an SMS, the audit log.

Usage: python tour.py BASE_URL   (the generated package `bawaba_client` on PYTHONPATH)
"""

import sys
import time

from bawaba_client import AuthenticatedClient, Client
from bawaba_client.api.audit import audit_integrity, export_audit_events, query_audit_events
from bawaba_client.api.auth import issue_token
from bawaba_client.api.operations import readyz
from bawaba_client.api.security import read_security_check, submit_security_check
from bawaba_client.api.sms import read_sms, send_sms
from bawaba_client.api.verification import verify_commercial_register, verify_national_id, verify_real_estate
from bawaba_client.models import (
    CheckView,
    ClaimsDto,
    CompanyClaims,
    ContextDto,
    ContextDtoPurpose,
    EventsPage,
    ExportAuditEventsFormat,
    ProblemBody,
    PropertyClaims,
    SendSmsRequest,
    SendSmsRequestLang,
    SendSmsRequestParams,
    SendSmsRequestTemplate,
    SmsAccepted,
    SmsView,
    SubmitCheckRequest,
    SubmitCheckRequestCheckType,
    TokenRequest,
    TokenResponse,
    VerifyCompanyRequest,
    VerifyNationalIdRequest,
    VerifyPropertyRequest,
    VerifyReport,
)

BASE = sys.argv[1]


def expect(response, status, model):
    assert response.status_code == status, (response.status_code, response.content)
    assert isinstance(response.parsed, model), (type(response.parsed), response.content)
    return response.parsed


def token(client_id):
    form = TokenRequest(grant_type="client_credentials", client_id=client_id, client_secret=f"{client_id}-secret")
    answer = expect(issue_token.sync_detailed(client=Client(base_url=BASE), body=form), 200, TokenResponse)
    assert answer.token_type == "Bearer"
    return answer.access_token


def context(purpose, case_ref="SHR-2025-000123"):
    return ContextDto(operator_id="EMP-1001", purpose=ContextDtoPurpose(purpose), case_ref=case_ref)


# 1. A token for the demo center.
center = AuthenticatedClient(base_url=BASE, token=token("center-demo"))

# 2. Verify what a citizen claims.
claims = ClaimsDto.from_dict({"full_name": "محمد احمد علي", "birth_date": "1990-01-01", "gender": "male"})
body = VerifyNationalIdRequest(national_id="29001011300036", claims=claims, context=context("building_permit"))
answer = verify_national_id.sync_detailed(client=center, body=body)
assert answer.status_code == 200, answer.content
verified = answer.parsed
assert verified.outcome.value == "match", answer.content
assert verified.facts.card_status.value == "valid", answer.content
assert verified.fields.additional_properties["full_name"].match is True

# 3. A bad ID is refused locally, with the reason, in Arabic if asked.
arabic = AuthenticatedClient(base_url=BASE, token=center.token, headers={"Accept-Language": "ar"})
bad = VerifyNationalIdRequest(national_id="29002301300036", context=context("building_permit"))
problem = expect(verify_national_id.sync_detailed(client=arabic, body=bad), 400, ProblemBody)
assert problem.code.value == "invalid_national_id", problem
assert problem.errors[0].reason == "birth_date", problem
assert "الرقم القومي" in problem.detail, problem.detail

# 5. The other registries, a security check, an SMS.
company = VerifyCompanyRequest(
    registration_number="123456", office="ZAGAZIG", claims=CompanyClaims(trade_name="مخبز النور"),
    context=context("shop_license"),
)
answer = verify_commercial_register.sync_detailed(client=center, body=company)
assert answer.status_code == 200 and answer.parsed.outcome.value in ("match", "mismatch"), answer.content
prop = VerifyPropertyRequest(
    property_id="SHR-ZAG-000123", claims=PropertyClaims(owner_national_id="29001011300036"),
    context=context("property_services"),
)
answer = verify_real_estate.sync_detailed(client=center, body=prop)
assert answer.status_code == 200 and answer.parsed.facts is not None, answer.content

check = SubmitCheckRequest(
    national_id="29505058800051", check_type=SubmitCheckRequestCheckType("shop_license"), context=context("shop_license"),
)
answer = submit_security_check.sync_detailed(client=center, body=check)
accepted = expect(answer, 202, object)
assert answer.headers["location"] == f"/v1/security-checks/{accepted.id}", answer.headers
deadline = time.time() + 30
while True:
    view = expect(read_security_check.sync_detailed(accepted.id, client=center), 200, CheckView)
    if view.status.value != "pending" or time.time() > deadline:
        break
    time.sleep(0.5)
assert view.status.value == "not_cleared", view

sms = SendSmsRequest(
    to="01001234567", template=SendSmsRequestTemplate("request_status"), lang=SendSmsRequestLang("ar"),
    params=SendSmsRequestParams.from_dict({"case_ref": "SHR-2025-000123", "status": "in_review", "center": "مركز الزقازيق"}),
    context=context("status_notification"),
)
queued = expect(send_sms.sync_detailed(client=center, body=sms, idempotency_key="tour-1"), 202, SmsAccepted)
assert queued.to == "+201001234567", queued
message = expect(read_sms.sync_detailed(queued.id, client=center), 200, SmsView)
assert message.id == queued.id

# 4. The audit log, as an auditor.
auditor = AuthenticatedClient(base_url=BASE, token=token("auditor-demo"))
page = expect(query_audit_events.sync_detailed(client=auditor, subject="29001011300036"), 200, EventsPage)
assert any(e.action.value == "national_id.verify" and e.purpose == "building_permit" for e in page.events), page
report = expect(audit_integrity.sync_detailed(client=auditor), 200, VerifyReport)
assert report.ok, report
csv = export_audit_events.sync_detailed(client=auditor, format_=ExportAuditEventsFormat("csv"), subject="29001011300036")
assert csv.status_code == 200 and csv.content.startswith(b"id,seq,at,"), csv.content[:100]

# 6. Operations.
ready = readyz.sync_detailed(client=Client(base_url=BASE))
assert ready.status_code == 200 and ready.parsed.status in ("ready", "degraded"), ready.content

print("tour: done")
