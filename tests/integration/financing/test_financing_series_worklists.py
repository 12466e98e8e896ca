"""Monthly series and clinic worklists against the real servers: a clinic's and a region's series equal
the figures of each month's first day and the month's statements (a closed month's frozen money,
adjustments included); the range is bounded (422) and a clinic key reads only its own clinic (403); the
worklists list exactly the clinic's attached people of each kind on the date asked, paged, sorted and as
CSV, and a person who moved away is on the new clinic's lists, not the old one's.

Closing a month is global, so this module runs a financing of its own (its database and consumer group)."""
from __future__ import annotations

import csv
import dataclasses
import io
from datetime import date, timedelta
from decimal import Decimal

import pytest

from services.common import clock
from services.common.app import create_app
from services.financing import app as financing, domain
from services.financing.consumer import CONSUMER
from tests.support.financing_events import attached, caught_up, clinic, paid, publish, visit
from tests.support.inproc import key_headers, running
from tests.support.people import clinic_id, iin

TODAY = clock.today()
THIS = TODAY.replace(day=1)
CLOSED = domain.month_after(THIS, -2)
FIRST = domain.month_after(THIS, -5)
LONG_AGO = domain.month_after(THIS, -30)
FAR = TODAY + timedelta(days=400)


def ym(month: date) -> str:
    return month.strftime("%Y-%m")


@pytest.fixture(scope="module")
async def own(settings):
    mine = settings.model_copy(update={"db_prefix": f"{settings.db_prefix}series_"})
    spec = dataclasses.replace(financing.spec, consumers=[dataclasses.replace(CONSUMER, group="financing-series")])
    app = create_app(spec, mine)
    async with running(app) as client:
        yield app, client


@pytest.fixture(scope="module")
async def town(own):
    """Two clinics of one region and their people; C is a clinic of another region."""
    app, client = own
    a, b, c = clinic_id(), clinic_id(), clinic_id()
    region = f"region-{a}"
    people = {name: iin(date(1960 + k, 5, 5), "M" if k % 2 else "F") for k, name in enumerate(
        ["never", "turning", "recent", "grace", "lapsed", "moved", "late", "later", "b1", "b2"])}
    p = people
    events = [clinic(a, region, "urban"), clinic(b, region, "rural"), clinic(c, f"other-{a}", "urban"),
              *(attached(p[n], a, LONG_AGO, 1) for n in ("never", "turning", "recent", "grace", "lapsed", "moved", "late", "later")),
              attached(p["b1"], b, LONG_AGO, 1), attached(p["b2"], b, LONG_AGO, 1),
              attached(p["moved"], c, TODAY - timedelta(days=30), 2),
              visit(p["turning"], a, "T-1", TODAY - timedelta(days=350)),
              visit(p["recent"], a, "R-1", TODAY - timedelta(days=10)),
              visit(p["grace"], a, "G-1", TODAY - timedelta(days=40)),
              # active and insured until 44 and 40 days from now: past the 30 days the lists look ahead
              visit(p["later"], a, "L-2", TODAY - timedelta(days=320)),
              paid(p["later"], 1, [(LONG_AGO, TODAY + timedelta(days=40))]),
              visit(p["b1"], b, "B-1", FIRST + timedelta(days=3)),
              paid(p["turning"], 1, [(LONG_AGO, FAR)]), paid(p["recent"], 1, [(LONG_AGO, FAR)]),
              paid(p["grace"], 1, [(LONG_AGO, TODAY + timedelta(days=10))]),
              paid(p["lapsed"], 1, [(LONG_AGO, TODAY - timedelta(days=5))]),
              paid(p["b2"], 1, [(FIRST, FAR)]), paid(p["late"], 1, [(LONG_AGO, FAR)])]
    await publish(events)
    await caught_up(client)
    return a, b, c, region, people


async def test_a_clinics_series_equals_its_figures_on_each_months_first_day(own, town):
    app, client = own
    a, b, _, region, _ = town
    months = [domain.month_after(FIRST, k) for k in range(7)]
    got = {}
    for c in (a, b):
        r = await client.get(f"/v1/clinics/{c}/financing/series", params={"from": ym(FIRST), "to": ym(months[-1])})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["clinic_id"] == c and [m["month"] for m in body["months"]] == [ym(m) for m in months]
        for point, month in zip(body["months"], months):
            f = (await client.get(f"/v1/clinics/{c}/financing", params={"date": month.isoformat()})).json()
            for field in ("attached", "active", "insured", "active_share", "insured_share", "monthly_amount",
                          "rules_version"):
                assert point[field] == f[field], (c, month, field)
            assert point["counted_on"] == month.isoformat() and point["closed"] is False
        got[c] = body["months"]
    assert got[a][0]["attached"] == 8 and got[b][-1]["attached"] == 2
    r = await client.get(f"/v1/regions/{region}/financing/series", params={"from": ym(FIRST), "to": ym(months[-1])})
    assert r.status_code == 200, r.text
    whole = r.json()
    assert whole["clinics"] == 2
    for k, point in enumerate(whole["months"]):
        for field in ("attached", "active", "insured"):
            assert point[field] == got[a][k][field] + got[b][k][field]
        assert Decimal(point["monthly_amount"]) == Decimal(got[a][k]["monthly_amount"]) + \
            Decimal(got[b][k]["monthly_amount"])


async def test_a_closed_months_series_point_is_its_frozen_statement_and_corrections_land_in_the_open_one(own, town):
    app, client = own
    a, _, _, region, people = town
    operator = await key_headers(app, "operator")
    r = await client.post(f"/v1/statements/{ym(CLOSED)}/close", headers=operator)
    assert r.status_code in (200, 201), r.text
    # A late visit dated before the closed month's first day: that day's cell changes (inactive -> active).
    await publish([visit(people["late"], a, "L-1", CLOSED - timedelta(days=3))])
    await caught_up(client)
    opened = domain.month_after(CLOSED)
    r = await client.get(f"/v1/clinics/{a}/financing/series", params={"from": ym(CLOSED), "to": ym(opened)})
    closed_point, open_point = r.json()["months"]
    frozen = (await client.get(f"/v1/clinics/{a}/statements/{ym(CLOSED)}")).json()
    current = (await client.get(f"/v1/clinics/{a}/statements/{ym(opened)}")).json()
    assert closed_point["closed"] is True and closed_point["monthly_amount"] == frozen["monthly_amount"]
    assert open_point["closed"] is False and open_point["monthly_amount"] == current["monthly_amount"]
    assert Decimal(open_point["adjustments_amount"]) == Decimal(current["adjustments_amount"]) > 0
    # The figures of the closed month's first day are the projection's: the late visit counts there.
    assert closed_point["active"] == (await client.get(
        f"/v1/clinics/{a}/financing", params={"date": CLOSED.isoformat()})).json()["active"]
    whole = (await client.get(f"/v1/regions/{region}/financing/series",
                              params={"from": ym(CLOSED), "to": ym(opened)})).json()["months"]
    totals = (await client.get(f"/v1/regions/{region}/financing", params={"date": opened.isoformat()})).json()
    assert whole[1]["monthly_amount"] == totals["monthly_amount"]
    assert whole[0]["closed"] is True
    # A clinic with nobody in the closed month has no frozen statement: an empty one, closed.
    _, _, c, _, _ = town
    r = await client.get(f"/v1/clinics/{c}/statements/{ym(CLOSED)}")
    assert r.status_code == 200 and r.json()["closed"] is True and r.json()["lines"] == [], r.text


async def test_series_ranges_are_bounded_and_a_clinic_reads_only_its_own(own, town):
    app, client = own
    a, b, _, region, _ = town
    url = f"/v1/clinics/{a}/financing/series"
    for params in ({"from": "2026-05", "to": "2026-04"}, {"from": "2023-01", "to": "2026-01"},
                   {"from": "2026-13", "to": "2026-12"}, {"from": "2026-01"}, {"to": "2026-01"},
                   {"from": ym(THIS), "to": ym(domain.month_after(THIS, 25))}, {"from": "0000-01", "to": "0001-01"},
                   {"from": "0001-01", "to": "0001-12"}):
        r = await client.get(url, params=params)
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", (params, r.text)
    assert (await client.get(url, params={"from": "2023-01", "to": "2025-12"})).status_code == 200
    own_key = await key_headers(app, "clinic", a)
    params = {"from": ym(FIRST), "to": ym(THIS)}
    assert (await client.get(url, params=params, headers=own_key)).status_code == 200
    assert (await client.get(f"/v1/clinics/{b}/financing/series", params=params, headers=own_key)).status_code == 403
    assert (await client.get(f"/v1/regions/{region}/financing/series", params=params,
                             headers=own_key)).status_code == 403
    assert (await client.get(f"/v1/clinics/{clinic_id()}/financing/series", params=params)).status_code == 404
    # The first day there is: no day before it to sum up to.
    r = await client.get(f"/v1/regions/{region}/financing", params={"date": "0001-01-01"})
    assert r.status_code == 200 and r.json()["attached"] == 0, r.text
    assert (await client.get("/v1/regions/nowhere-at-all/financing/series", params=params)).status_code == 404


async def _listed(client, clinic: str, kind: str, **params) -> list[str]:
    r = await client.get(f"/v1/clinics/{clinic}/worklists/{kind}", params=params)
    assert r.status_code == 200, r.text
    return [x["iin"] for x in r.json()["people"]]


async def test_worklists_list_the_clinics_attached_people_of_each_kind(own, town):
    app, client = own
    a, _, c, _, p = town
    expect = {"inactive": {p["never"], p["lapsed"]},
              "turning_inactive": {p["turning"]},
              "uninsured": {p["never"], p["lapsed"]},
              "grace_ending": {p["grace"]}}
    for kind, want in expect.items():
        assert set(await _listed(client, a, kind)) == want, kind
    # The person who moved is the new clinic's (uninsured, never visited), no longer the old one's.
    assert await _listed(client, c, "inactive") == [p["moved"]]
    before_move = (TODAY - timedelta(days=60)).isoformat()
    assert p["moved"] in await _listed(client, a, "inactive", date=before_move)
    assert await _listed(client, c, "inactive", date=before_move) == []
    r = await client.get(f"/v1/clinics/{a}/worklists/turning_inactive")
    (row,) = r.json()["people"]
    assert row["last_visit"] == (TODAY - timedelta(days=350)).isoformat()
    assert row["active_until"] == (TODAY + timedelta(days=14)).isoformat()
    assert r.json()["horizon_days"] == 30 and r.json()["rules_version"].startswith("worklists@")
    (row,) = (await client.get(f"/v1/clinics/{a}/worklists/grace_ending")).json()["people"]
    assert row["insured_until"] == (TODAY + timedelta(days=10)).isoformat()


async def test_worklists_page_sort_and_export_csv(own, town):
    app, client = own
    a, _, _, _, p = town
    url = f"/v1/clinics/{a}/worklists/inactive"
    whole = (await client.get(url, params={"order_by": "iin"})).json()
    assert whole["total"] == 2 and [x["iin"] for x in whole["people"]] == sorted([p["never"], p["lapsed"]])
    backwards = await _listed(client, a, "inactive", order_by="-iin")
    assert backwards == sorted([p["never"], p["lapsed"]], reverse=True)
    page = (await client.get(url, params={"order_by": "iin", "limit": 1, "offset": 1})).json()
    assert page["total"] == 2 and [x["iin"] for x in page["people"]] == [whole["people"][1]["iin"]]
    r = await client.get(url, params={"format": "csv", "order_by": "iin"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == ["iin", "birth_date", "sex", "last_visit", "active_until", "insured_until"]
    assert [x[0] for x in rows[1:]] == [x["iin"] for x in whole["people"]]
    for params in ({"limit": 0}, {"limit": 1001}, {"offset": -1}, {"offset": "x"}, {"format": "xml"},
                   {"order_by": "name"}, {"date": "2026-02-30"}):
        r = await client.get(url, params=params)
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", (params, r.text)
    assert (await client.get(f"/v1/clinics/{a}/worklists/everyone")).status_code == 422
    assert (await client.get(f"/v1/clinics/{clinic_id()}/worklists/inactive")).status_code == 404


async def test_a_clinic_key_reads_only_its_own_worklists(own, town):
    app, client = own
    a, b, _, _, _ = town
    own_key = await key_headers(app, "clinic", a)
    r = await client.get(f"/v1/clinics/{a}/worklists/uninsured", headers=own_key)
    assert r.status_code == 200 and r.json()["total"] == 2
    for kind in ("inactive", "uninsured"):
        r = await client.get(f"/v1/clinics/{b}/worklists/{kind}", headers=own_key)
        assert r.status_code == 403 and "iin" not in r.text, r.text
        r = await client.get(f"/v1/clinics/{b}/worklists/{kind}", params={"format": "csv"}, headers=own_key)
        assert r.status_code == 403
    operator = await key_headers(app, "operator")
    assert (await client.get(f"/v1/clinics/{b}/worklists/inactive", headers=operator)).status_code == 200
