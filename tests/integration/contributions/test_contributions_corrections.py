"""Payroll corrections and reversals, and caps across an employer's payrolls of a month, against the
real PostgreSQL and Kafka: amounts, versions, statuses and the contribution-paid events that follow."""
from __future__ import annotations


from services.contributions import domain
from services.contributions.app import app
from tests.support.contributions_api import THIS_MONTH
from tests.support.inproc import eventually, key_headers
from tests.support.kafka import read_topic
from tests.support.people import bin_, iins

PERIOD = domain.month_str(THIS_MONTH - 1)


def row(iin: str, income: str, kind: str = "employee") -> dict:
    return {"iin": iin, "income": income, "kind": kind}


async def submit(client, employer: str, reference: str, rows: list[dict], period: str = PERIOD) -> dict:
    r = await client.post("/v1/payrolls", json={"employer_bin": employer, "period": period, "reference": reference,
                                                "rows": rows})
    assert r.status_code == 201, r.text
    return r.json()


async def latest_event(person: str, version: int) -> dict:
    async def check():
        got = [e["value"]["data"] for e in await read_topic("contribution-paid") if e["key"] == person]
        return next((d for d in got if d["status_version"] == version), None)

    return await eventually(check, timeout=20)


async def status(client, person: str) -> dict:
    return (await client.get(f"/v1/persons/{person}/status")).json()


async def test_a_correction_recounts_each_person_and_records_the_difference(client):
    employer = bin_()
    kept, raised, dropped, added = iins(4)
    first = await submit(client, employer, "oct", [row(kept, "300000.00"), row(raised, "100000.00"),
                                                   row(dropped, "200000.00")])
    # 3% and 2% of 600,000
    assert (first["employer_deduction_total"], first["employee_contribution_total"]) == ("18000.00", "12000.00")
    body = {"reference": "oct-fix", "rows": [row(kept, "300000.00"), row(raised, "150000.00"),
                                              row(added, "50000.00")]}
    r = await client.post(f"/v1/payrolls/{first['payroll_id']}/corrections", json=body)
    assert r.status_code == 201, r.text
    fix = r.json()
    assert (fix["version"], fix["rows"]) == (2, 3)
    # +50,000 for raised, -200,000 for dropped, +50,000 for added: -100,000 in all
    assert (fix["employer_deduction_difference"], fix["employee_contribution_difference"]) == ("-3000.00", "-2000.00")
    assert (fix["employer_deduction_total"], fix["employee_contribution_total"]) == ("15000.00", "10000.00")
    diffs = {d["iin"]: d for d in fix["differences"]}
    assert set(diffs) == {kept, raised, dropped, added}
    assert (diffs[dropped]["income_before"], diffs[dropped]["income_after"],
            diffs[dropped]["employer_deduction_difference"]) == ("200000.00", "0.00", "-6000.00")
    assert diffs[kept]["employee_contribution_difference"] == "0.00"
    assert (diffs[added]["income_before"], diffs[added]["employee_contribution_difference"]) == ("0.00", "1000.00")

    again = await client.post(f"/v1/payrolls/{first['payroll_id']}/corrections", json=body)
    assert again.status_code == 201 and again.json() == fix
    other = await client.post(f"/v1/payrolls/{first['payroll_id']}/corrections",
                              json={**body, "rows": body["rows"][:1]})
    assert other.status_code == 409 and other.json()["rule"] == "reference_reused"

    read = (await client.get(f"/v1/payrolls/{first['payroll_id']}")).json()
    assert read["version"] == 2
    assert [(v["version"], v["reference"], v["employer_deduction_total"], v["employer_deduction_difference"])
            for v in read["versions"]] == [(1, "oct", "18000.00", None), (2, "oct-fix", "15000.00", "-3000.00")]
    assert {(x["iin"], x["income"], x["employer_deduction"]) for x in read["rows"]} == \
        {(kept, "300000.00", "9000.00"), (raised, "150000.00", "4500.00"), (added, "50000.00", "1500.00")}

    gone = await status(client, dropped)
    assert (gone["status"], gone["reason"]) == ("not_insured", "none")
    assert (await status(client, added))["last_covered_month"] == PERIOD
    event = await latest_event(dropped, 2)
    assert event["status"] == "not_insured" and event["insured_periods"] == [] and event["covered_months"] == []
    assert (await latest_event(added, 1))["covered_months"] == [PERIOD]


async def test_a_reversal_uncovers_a_month_only_where_nothing_else_covers_it(client):
    employer, other_employer = bin_(), bin_()
    alone, twice = iins(2)
    payroll = await submit(client, employer, "wrong", [row(alone, "250000.00"), row(twice, "250000.00")])
    await submit(client, other_employer, "right", [row(twice, "90000.00")])
    r = await client.post(f"/v1/payrolls/{payroll['payroll_id']}/corrections", json={"reference": "rev", "rows": []})
    assert r.status_code == 201, r.text
    assert (r.json()["rows"], r.json()["employer_deduction_total"], r.json()["employee_contribution_total"]) == \
        (0, "0.00", "0.00")
    assert (await status(client, alone))["status"] == "not_insured"
    still = await status(client, twice)
    assert (still["status"], still["last_covered_month"]) == ("insured", PERIOD)
    # both got a new status_version: financing drops nothing stale
    assert (await latest_event(twice, 3))["status"] == "insured"
    assert (await latest_event(alone, 2))["status"] == "not_insured"
    mine = (await client.get(f"/v1/persons/{twice}/contributions")).json()["contributions"]
    assert [c["employer_bin"] for c in mine] == [other_employer]


async def test_caps_apply_to_the_months_total_from_one_employer(client):
    employer = bin_()
    person, other = iins(2)
    # 2026 caps: employer 40 МЗП = 3,400,000, employee 20 МЗП = 1,700,000 (85,000 МЗП)
    period = domain.month_str(max(THIS_MONTH - 1, domain.parse_month("2026-01")))
    a = await submit(client, employer, "part-1", [row(person, "1000000.00")], period)
    assert (a["employer_deduction_total"], a["employee_contribution_total"]) == ("30000.00", "20000.00")
    b = await submit(client, employer, "part-2", [row(person, "1000000.00")], period)
    # employee: 2% of 1,700,000 = 34,000 for the month, 20,000 already charged
    assert (b["employer_deduction_total"], b["employee_contribution_total"]) == ("30000.00", "14000.00")
    c = await submit(client, employer, "part-3", [row(person, "1400000.00")], period)
    # employer: 3% of 3,400,000 = 102,000, 60,000 charged; exactly at the cap
    assert (c["employer_deduction_total"], c["employee_contribution_total"]) == ("42000.00", "0.00")
    d = await submit(client, employer, "part-4", [row(person, "0.01"), row(other, "1000000.00")], period)
    assert (d["employer_deduction_total"], d["employee_contribution_total"]) == ("30000.00", "20000.00")
    # another employer's payroll is not capped by this one's
    e = await submit(client, bin_(), "elsewhere", [row(person, "1000000.00")], period)
    assert (e["employer_deduction_total"], e["employee_contribution_total"]) == ("30000.00", "20000.00")

    # Correcting the first payroll down to 400,000 (month total 2,800,000.01): employer 3% of it,
    # the employee still at the cap
    fix = await client.post(f"/v1/payrolls/{a['payroll_id']}/corrections",
                            json={"reference": "part-1-fix", "rows": [row(person, "400000.00")]})
    assert fix.status_code == 201, fix.text
    (diff,) = fix.json()["differences"]
    assert (diff["income_before"], diff["income_after"]) == ("3400000.01", "2800000.01")
    assert (diff["employer_deduction_difference"], diff["employee_contribution_difference"]) == ("-18000.00", "0.00")
    account = (await client.get(f"/v1/employers/{employer}/account")).json()
    (month,) = [p for p in account["periods"] if p["period"] == period]
    # declared: 102,000 - 18,000 + 34,000 for the person, 30,000 + 20,000 for the other
    assert month["declared"] == "168000.00"


async def test_bad_corrections_are_refused(client):
    employer = bin_()
    person = iins(1)[0]
    payroll = await submit(client, employer, "p", [row(person, "100000.00")])
    url = f"/v1/payrolls/{payroll['payroll_id']}/corrections"
    unknown = await client.post("/v1/payrolls/00000000-0000-0000-0000-000000000000/corrections",
                                json={"reference": "x", "rows": []})
    assert unknown.status_code == 404
    assert (await client.post("/v1/payrolls/not-an-id/corrections", json={"reference": "x", "rows": []})).status_code \
        == 404
    bad = await client.post(url, json={"reference": "x", "rows": [row(person, "1.5"), row("123", "1.00")]})
    assert bad.status_code == 422
    assert [e["loc"][2:] for e in bad.json()["errors"]] == [[0, "income"], [1, "iin"]]
    reused = await client.post(url, json={"reference": "p", "rows": []})
    assert reused.status_code == 409  # the payroll's own reference

    mine = await key_headers(app, "employer", employer)
    theirs = await key_headers(app, "employer", bin_())
    assert (await client.post(url, json={"reference": "y", "rows": []}, headers=theirs)).status_code == 403
    assert (await client.get(f"/v1/payrolls/{payroll['payroll_id']}", headers=theirs)).status_code == 403
    ok = await client.post(url, json={"reference": "y", "rows": [row(person, "120000.00")]}, headers=mine)
    assert ok.status_code == 201, ok.text
    assert (await client.get(f"/v1/payrolls/{payroll['payroll_id']}", headers=mine)).json()["version"] == 2


async def test_a_gateways_batch_accepts_or_refuses_each_payroll_alone(client):
    first, second, third = bin_(), bin_(), bin_()
    a, b, c, d = iins(4)
    await submit(client, third, "earlier", [row(d, "1000000.00")])
    batch = [
        {"employer_bin": first, "period": PERIOD, "reference": "b-1", "rows": [row(a, "100000.00")]},
        {"employer_bin": second, "period": PERIOD, "reference": "b-2", "rows": [row(b, "1.5")]},
        {"employer_bin": third, "period": PERIOD, "reference": "earlier", "rows": [row(c, "1.00")]},
        {"employer_bin": third, "period": PERIOD, "reference": "b-4", "rows": [row(d, "1000000.00")]},
        {"employer_bin": first, "period": PERIOD, "reference": "b-5", "rows": [row(c, "50000.00")]},
    ]
    r = await client.post("/v1/payroll-batches", json={"payrolls": batch})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == [201, 422, 409, 201, 201]
    assert results[1]["errors"][0]["loc"] == ["body", "payrolls", 1, "rows", 0, "income"]
    assert results[2]["rule"] == "reference_reused"
    # the month already held 1,000,000 for d: the employee contribution capped at 1,700,000 in all
    assert (results[3]["employer_deduction_total"], results[3]["employee_contribution_total"]) == \
        ("30000.00", "14000.00")
    assert results[4]["employer_deduction_total"] == "1500.00"
    assert (await status(client, a))["status"] == "insured"
    assert (await status(client, b))["reason"] == "none"
    again = await client.post("/v1/payroll-batches", json={"payrolls": batch})
    assert [x.get("payroll_id") for x in again.json()["results"]] == [x.get("payroll_id") for x in results]
    assert (await latest_event(c, 1))["covered_months"] == [PERIOD]
    employer_key = await key_headers(app, "employer", first)
    assert (await client.post("/v1/payroll-batches", json={"payrolls": batch[:1]},
                              headers=employer_key)).status_code == 403
