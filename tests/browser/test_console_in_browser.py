"""The console in a real browser (Debian's headless Chromium driven by Playwright): the four services and
the console run as processes, a region's clinics are seeded through the APIs, and what a person sees is
held to what the APIs answer. Screenshots go to .local/screenshots/ for a person to look at."""
from __future__ import annotations

import asyncio
import itertools
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright import sync_api as playwright_api

from bench.processes import ServiceProcess
from services.common import clock
from services.common.keys import create, revoke
from services.common.settings import get_settings
from tests.support.registry_helpers import BACKDATED
from tests.support.keys import headers
from tests.support.people import bin_, clinic_id, iin, iins


pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / ".local" / "screenshots"
CHROMIUM = os.environ.get("OSMS_CHROMIUM", "/usr/bin/chromium")
# Playwright's own browser download cannot be fetched here: the system Chromium, quiet and offline.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SERVICES = ("contributions", "registry", "financing", "feedback")
TODAY = clock.today()
REGION = f"Aral {uuid.uuid4().hex[:6]}"
SEEN_ON = TODAY - timedelta(days=3)


@pytest.fixture(scope="module")
def system():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: deploy/local/install.sh --browser installs Debian's chromium")
    auth("admin")  # databases and keys exist before the services start
    procs = {name: ServiceProcess(name) for name in SERVICES}
    with ThreadPoolExecutor(len(procs)) as pool:  # each migrates its own database: side by side
        list(pool.map(ServiceProcess.start, procs.values()))
    ports = {f"OSMS_{name.upper()}_PORT": str(p.port) for name, p in procs.items()}
    procs["console"] = ServiceProcess("console", env=ports).start()
    yield {name: p.url for name, p in procs.items()}
    for p in procs.values():
        p.stop()


def beside_the_browser(fn, *args):
    """Runs fn in a thread of its own: the test support's key helpers use asyncio.run, which cannot run in
    the thread where Playwright's sync API keeps its event loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args).result()


def auth(role: str = "admin", scope: str | None = None) -> dict[str, str]:
    return beside_the_browser(headers, role, scope)


def call(method: str, url: str, role: str = "admin", scope: str | None = None, **kw) -> httpx.Response:
    return httpx.request(method, url, headers=auth(role, scope), timeout=30, **kw)


def api_json(url: str, **params) -> dict | list:
    r = call("GET", url, "operator", params=params)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture(scope="module")
def seeded(system):
    """Three clinics of one region with different shares: people attached 60 days ago, some of them seen
    last week, some on last month's payroll. Returns the clinics' ids once financing shows all of it."""
    reg, con, fin = system["registry"], system["contributions"], system["financing"]
    plan = {clinic_id("AR"): (3, 1, 1), clinic_id("AR"): (2, 2, 0), clinic_id("AR"): (4, 0, 3)}
    attached_on = (TODAY - timedelta(days=60)).isoformat()
    seen_on = SEEN_ON.isoformat()
    payroll = []
    for n, (clinic, (people, seen, insured)) in enumerate(plan.items()):
        r = call("PUT", f"{reg}/v1/clinics/{clinic}", json={"name": f"Aral polyclinic {n + 1}", "region": REGION,
                                                           "settlement": "urban" if n else "rural"})
        assert r.status_code == 201, r.text
        persons = iins(people)
        for person in persons:
            r = call("POST", f"{reg}/v1/attachments", json={  # further back than a clinic reaches: an admin's
                "iin": person, "clinic_id": clinic, "reason": "choice", "effective_date": attached_on,
                "backdate_reason": BACKDATED})
            assert r.status_code == 201, r.text
        r = call("POST", f"{reg}/v1/visits", "clinic", clinic, json={"visits": [
            {"visit_id": f"v-{i}", "clinic_id": clinic, "iin": p, "date": seen_on, "kind": "consultation",
             "practitioner_id": f"dr-{i % 2}"} for i, p in enumerate(persons[:seen])]}) if seen else None
        assert r is None or all(x["status"] == "recorded" for x in r.json()["results"]), r and r.text
        payroll += [{"iin": p, "income": "400000.00", "kind": "employee"} for p in persons[:insured]]
    last_month = (TODAY.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    r = call("POST", f"{con}/v1/payrolls", json={"employer_bin": bin_(), "period": last_month,
                                                  "reference": f"browser-{REGION}", "rows": payroll})
    assert r.status_code == 201, r.text

    deadline = time.monotonic() + 60
    while True:
        listed = call("GET", f"{fin}/v1/clinics", params={"region": REGION, "limit": 1000}).json()
        got = {c["clinic_id"]: (c["attached"], c["active"], c["insured"]) for c in listed.get("clinics", [])}
        if got == plan:
            break
        assert time.monotonic() < deadline, f"financing did not catch up: {got} != {plan}"
        time.sleep(0.2)
    return list(plan)


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, system):
    context = browser.new_context(viewport={"width": 1360, "height": 1000}, locale="en-US")
    pg = context.new_page()
    failures: list[str] = []
    pg.on("pageerror", lambda exc: failures.append(str(exc)))
    pg.set_default_timeout(30_000)
    yield pg
    context.close()
    assert not failures, f"script errors on the page: {failures}"


def shot(pg, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"console-{name}.png"
    pg.screenshot(path=str(path), full_page=True)
    return path


def sign_in(pg, console: str, key: str, clinic: str = "", lang: str = "en") -> None:
    pg.goto(console + "/")
    pg.evaluate("lang => localStorage.setItem('osms.lang', lang)", lang)
    pg.reload()
    pg.fill("#key", key)
    pg.fill("#clinic", clinic)
    pg.click("#signin button[type=submit]")


def key_of(role: str, scope: str | None = None) -> str:
    return auth(role, scope)["Authorization"].removeprefix("Bearer ")


def rows_of(pg, table_id: str) -> list[dict]:
    """The table's rows as the API's raw values (each cell's data-value), in the order shown."""
    return pg.eval_on_selector_all(f"#{table_id} tbody tr", """rows => rows.map(r => Object.fromEntries(
        [...r.querySelectorAll('td')].map(td => [td.dataset.key, td.dataset.value])))""")


def chart_series(pg, chart_id: str) -> list[list]:
    pg.wait_for_selector(f"#{chart_id}[data-drawn=true]")
    return pg.evaluate("id => echarts.getInstanceByDom(document.getElementById(id)).getOption().series"
                       ".map(s => s.data)", chart_id)


def drawn_marks(pg, chart_id: str) -> set[tuple[int, int]]:
    """(series, data index) of each mark the chart drew: a bar of some height, a point of a line. From
    zrender's display list: the elements ECharts tags with the data they stand for."""
    return {tuple(x) for x in pg.evaluate("""id => {
        const ecData = el => Object.keys(el).filter(k => k.startsWith('__ec_inner_')).map(k => el[k])
                                 .find(v => v && v.dataIndex !== undefined);
        return echarts.getInstanceByDom(document.getElementById(id)).getZr().storage.getDisplayList()
            .filter(el => ecData(el) && !(el.shape && el.shape.height === 0))
            .map(el => [ecData(el).seriesIndex, ecData(el).dataIndex]);
    }""", chart_id)}


def marks_of(series: list[list], zero_drawn: bool) -> set[tuple[int, int]]:
    return {(s, i) for s, data in enumerate(series) for i, v in enumerate(data)
            if v is not None and (v != 0 or zero_drawn)}


def months_back(n: int, anchor=TODAY) -> dict[str, str]:
    """The `from` and `to` of the n months up to the anchor's."""
    index = anchor.year * 12 + anchor.month - 1 - (n - 1)
    return {"from": f"{index // 12:04d}-{index % 12 + 1:02d}", "to": anchor.strftime("%Y-%m")}


def same_figures(shown: dict, api: dict) -> bool:
    return (int(shown["attached"]), int(shown["active"]), int(shown["insured"]), float(shown["active_share"]),
            float(shown["insured_share"]), shown["monthly_amount"]) == \
        (api["attached"], api["active"], api["insured"], api["active_share"], api["insured_share"],
         api["monthly_amount"])


def test_operator_sees_the_region_with_the_apis_figures_and_charts(page, system, seeded):
    console, fin = system["console"], system["financing"]
    sign_in(page, console, key_of("operator"))
    page.wait_for_selector("#region-select")
    page.goto(f"{console}/#/region?name={REGION}")
    page.wait_for_selector(f"#region-clinics tbody tr[data-id='{seeded[0]}']")

    api = api_json(f"{fin}/v1/clinics", region=REGION, limit=1000)["clinics"]
    shown = rows_of(page, "region-clinics")
    # Worst first: the API's own order (lowest active share first), with the same figures.
    assert [r["clinic_id"] for r in shown] == [c["clinic_id"] for c in api]
    for row, figures in zip(shown, api):
        assert same_figures(row, figures), (row, figures)
    totals = api_json(f"{fin}/v1/regions/{REGION}/financing")
    assert page.get_attribute("#total-attached", "data-value") == str(totals["attached"]) == "9"
    assert float(page.get_attribute("#total-insured-share", "data-value")) == totals["insured_share"]
    assert page.get_attribute("#total-amount", "data-value") == totals["monthly_amount"]

    # The shares chart is drawn from the same figures: its data, and a bar for each non-zero share.
    active, insured = chart_series(page, "chart-region-shares")
    assert active == [c["active_share"] for c in api] and insured == [c["insured_share"] for c in api]
    assert drawn_marks(page, "chart-region-shares") == marks_of([active, insured], zero_drawn=False)

    # The trend: 24 first days of months, point by point the region's monthly series; this month's point is
    # the region on the 1st.
    active_trend, insured_trend = chart_series(page, "chart-region-trend")
    series = api_json(f"{fin}/v1/regions/{REGION}/financing/series", **months_back(24))["months"]
    assert active_trend == [m["active_share"] for m in series] and len(series) == 24
    assert insured_trend == [m["insured_share"] for m in series]
    first = api_json(f"{fin}/v1/regions/{REGION}/financing", date=TODAY.replace(day=1).isoformat())
    assert (active_trend[-1], insured_trend[-1]) == (first["active_share"], first["insured_share"])
    assert drawn_marks(page, "chart-region-trend") == marks_of([active_trend, insured_trend], zero_drawn=True)

    # Sorting in the page: by attached, most first.
    page.click("#region-clinics th[data-key=attached]")
    page.click("#region-clinics th[data-key=attached]")
    assert [int(r["attached"]) for r in rows_of(page, "region-clinics")] == [4, 3, 2]
    shot(page, "region")


def test_a_clinics_statement_cell_by_cell_equals_the_apis(page, system, seeded):
    console, fin, reg = system["console"], system["financing"], system["registry"]
    clinic = seeded[1]
    month, on = TODAY.strftime("%Y-%m"), SEEN_ON.isoformat()
    sign_in(page, console, key_of("operator"))
    page.wait_for_selector("#region-select")
    page.goto(f"{console}/#/clinic/{clinic}?date={on}&month={month}")
    page.wait_for_selector("#statement-lines tbody tr")

    statement = api_json(f"{fin}/v1/clinics/{clinic}/statements/{month}")
    shown = rows_of(page, "statement-lines")
    keys = ["age_group", "sex", "active", "insured", "people", "age_sex_coefficient", "activity_coefficient",
            "insurance_coefficient", "amount"]
    assert [[r[k] for k in keys] for r in shown] == \
        [[str(line[k]).lower() if isinstance(line[k], bool) else str(line[k]) for k in keys]
         for line in statement["lines"]]
    assert page.get_attribute("#statement-summary", "data-amount") == statement["monthly_amount"]

    figures = api_json(f"{fin}/v1/clinics/{clinic}/financing", date=on)
    assert page.get_attribute("#fig-attached", "data-value") == str(figures["attached"]) == "2"
    assert page.get_attribute("#fig-monthly_amount", "data-value") == figures["monthly_amount"]
    # Practitioner volumes (registry) on the figures' date: the two doctors seen that day.
    page.wait_for_selector("#practitioner-volumes tbody tr")
    volumes = api_json(f"{reg}/v1/clinics/{clinic}/practitioner-volumes", date=on)["practitioners"]
    assert sorted((r["practitioner_id"], int(r["visits"])) for r in rows_of(page, "practitioner-volumes")) == \
        sorted((v["practitioner_id"], v["visits"]) for v in volumes) == [("dr-0", 1), ("dr-1", 1)]
    active, insured = chart_series(page, "chart-clinic-trend")
    series = api_json(f"{fin}/v1/clinics/{clinic}/financing/series", **months_back(24, SEEN_ON))["months"]
    assert active == [m["active_share"] for m in series] and insured == [m["insured_share"] for m in series]
    assert drawn_marks(page, "chart-clinic-trend") == marks_of([active, insured], zero_drawn=True)
    first = api_json(f"{fin}/v1/clinics/{clinic}/financing", date=SEEN_ON.replace(day=1).isoformat())
    assert (active[-1], insured[-1]) == (first["active_share"], first["insured_share"])
    shot(page, "clinic")

    # A date the API refuses (more than 24 months ahead): its 422, readable, on the page.
    page.goto(f"{console}/#/clinic/{clinic}?date={TODAY.year + 3}-01-01")
    error = page.wait_for_selector("#view .error").text_content()
    assert error.startswith("Error 422") and "date" in error


def test_a_clinics_worklists_page_by_page_as_the_api_gives_them(page, system, seeded):
    console, fin = system["console"], system["financing"]
    clinic = seeded[0]      # 3 people: 1 seen, 1 insured
    sign_in(page, console, key_of("operator"))
    page.wait_for_selector("#region-select")
    page.goto(f"{console}/#/clinic/{clinic}")
    page.wait_for_selector("#worklist tbody tr")
    api = api_json(f"{fin}/v1/clinics/{clinic}/worklists/inactive")
    assert api["total"] == 2
    assert [r["iin"] for r in rows_of(page, "worklist")] == [p["iin"] for p in api["people"]]
    assert page.get_attribute("#worklist-summary", "data-total") == "2"
    shot(page, "worklist")

    # Another list, a page of one row, the next page.
    page.select_option("#worklist-kind", "uninsured")
    page.wait_for_selector("#worklist-summary[data-kind=uninsured]")
    uninsured = api_json(f"{fin}/v1/clinics/{clinic}/worklists/uninsured")
    assert [r["iin"] for r in rows_of(page, "worklist")] == [p["iin"] for p in uninsured["people"]]
    page.fill("#worklist-limit", "1")
    page.click("#worklist-card .controls button:text('Show')")
    page.wait_for_function("document.querySelectorAll('#worklist tbody tr').length === 1")
    assert rows_of(page, "worklist")[0]["iin"] == uninsured["people"][0]["iin"]
    page.click("#worklist-next")
    page.wait_for_function(f"document.querySelector('#worklist tbody tr td')?.dataset.value === "
                           f"'{uninsured['people'][1]['iin']}'")
    # Sorted by the API: by IIN, descending.
    page.click("#worklist th[data-key=iin]")
    page.click("#worklist th[data-key=iin]")
    page.wait_for_function("location.hash.includes('wl_order=-iin')")
    page.wait_for_selector("#worklist tbody tr")
    descending = api_json(f"{fin}/v1/clinics/{clinic}/worklists/uninsured", order_by="-iin", limit=1)
    assert rows_of(page, "worklist")[0]["iin"] == descending["people"][0]["iin"]
    # The CSV export: the whole list.
    page.click("#worklist-csv")
    page.wait_for_selector("#worklist-status[data-rows]")
    assert page.get_attribute("#worklist-status", "data-rows") == str(uninsured["total"])

    # Page parameters the API refuses: its 422, in words, on the page.
    page.goto(f"{console}/#/clinic/{clinic}?wl=inactive&wl_limit=5000")
    error = page.wait_for_selector("#worklist-error").text_content()
    assert "cannot be shown" in error and "Error 422" in error and "limit" in error
    shot(page, "worklist-bad-page")


def test_a_clinic_key_sees_its_own_clinic_only(page, system, seeded):
    console = system["console"]
    own, other = seeded[1], seeded[2]
    key = key_of("clinic", own)
    sign_in(page, console, key)
    page.wait_for_function("document.querySelector('#signin-message').textContent.includes(\"clinic's code\")")

    sign_in(page, console, key, clinic=other)
    page.wait_for_function("document.querySelector('#signin-message').textContent.includes('not the key of clinic')")

    sign_in(page, console, key, clinic=own)
    page.wait_for_selector("#fig-attached")
    assert page.get_attribute("#fig-attached", "data-value") == "2"
    assert page.eval_on_selector_all("#nav a", "as => as.map(a => a.id)") == ["nav-clinic"]
    # Its own worklists, as the API gives them to its key.
    page.wait_for_selector("#worklist-summary")
    own_list = call("GET", f"{system['financing']}/v1/clinics/{own}/worklists/inactive", "clinic", own).json()
    assert page.get_attribute("#worklist-summary", "data-total") == str(own_list["total"])
    assert len(rows_of(page, "worklist")) == len(own_list["people"])
    page.goto(f"{console}/#/region")
    page.wait_for_selector("#view .error, #page > .error")
    assert "own clinic only" in page.text_content("#page")
    page.goto(f"{console}/#/clinic/{other}")
    error = page.wait_for_selector("#view .error")
    assert "403" in error.text_content() and "own clinic" in error.text_content()
    assert other not in page.text_content("#page").replace(f"#/clinic/{other}", "").split("403")[0]
    # Its held visits (a man's cervical screening, held at intake), as the registry gives them to its key.
    man = iin(birth=date(1970, 2, 2), sex="M")
    r = call("POST", f"{system['registry']}/v1/visits", "clinic", own, json={"visits": [
        {"visit_id": f"held-{man}", "clinic_id": own, "iin": man, "date": SEEN_ON.isoformat(),
         "kind": "screening_cervical", "practitioner_id": "dr-9"}]})
    assert r.json()["results"][0]["integrity"] == "held", r.text
    held = call("GET", f"{system['registry']}/v1/integrity/held", "clinic", own).json()["visits"]
    assert held and {v["clinic_id"] for v in held} == {own}
    page.goto(f"{console}/#/clinic/{own}")
    page.wait_for_selector("#held-visits tbody tr")
    assert [(r["visit_id"], r["date"], r["kind"]) for r in rows_of(page, "held-visits")] == \
        [(v["visit_id"], v["date"], v["kind"]) for v in held]
    assert "kind vs. sex" in page.text_content("#held-visits")
    # Point-of-care eligibility: the status and until when.
    page.goto(f"{console}/#/clinic/{own}")
    page.fill("#eligibility-iins", "\n".join(iins(2)))
    page.click("#eligibility-check")
    page.wait_for_selector("#eligibility tbody tr")
    assert [r["status"] for r in rows_of(page, "eligibility")] == ["not_insured", "not_insured"]
    shot(page, "clinic-key")


def test_a_wrong_or_revoked_key_gets_the_sign_in_page_with_a_message(page, system, seeded):
    console = system["console"]
    sign_in(page, console, "osms_000000000000_not-a-key")
    page.wait_for_function("document.querySelector('#signin-message').textContent.includes('unknown or revoked')")
    sign_in(page, console, "rubbish")
    page.wait_for_function("document.querySelector('#signin-message').textContent.includes('unknown or revoked')")
    assert "Traceback" not in page.content()
    shot(page, "wrong-key")

    key = beside_the_browser(asyncio.run, create(get_settings(), "operator", None, "to be revoked"))
    sign_in(page, console, key)
    page.wait_for_selector("#region-select")
    assert beside_the_browser(asyncio.run, revoke(get_settings(), key.split("_")[1])) == 4
    deadline = time.monotonic() + 30  # a verified key is trusted up to 10 s (services/common/auth.py)
    for hop in itertools.cycle(("#/system", "#/region")):
        if page.query_selector("#signin") is not None:
            break
        assert time.monotonic() < deadline, "a revoked key still shows pages"
        page.evaluate("hash => { location.hash = hash; }", hop)
        page.wait_for_timeout(500)
    page.wait_for_function("document.querySelector('#signin-message').textContent.includes('unknown or revoked')")


def test_appeals_and_system_pages(page, system, seeded):
    console, fb, fin = system["console"], system["feedback"], system["financing"]
    r = call("POST", f"{fb}/v1/appeals", "operator", json={
        "channel": "call_center", "kind": "complaint", "category": "quality_of_care", "region": REGION,
        "iin": iins(1)[0], "clinic_id": seeded[0], "text": "waited four hours"})
    assert r.status_code == 201, r.text
    appeal = r.json()["appeal_id"]
    assert call("POST", f"{fb}/v1/appeals/{appeal}/transitions", "operator", json={"to": "in_review"}).status_code == 200

    sign_in(page, console, key_of("operator"))
    page.wait_for_selector("#region-select")
    page.goto(f"{console}/#/appeals?region={REGION}")
    page.wait_for_selector(f"#appeals-by-region tr[data-id='{REGION}']")
    row = next(r for r in rows_of(page, "appeals-by-region") if r["region"] == REGION)
    stats = api_json(f"{fb}/v1/stats", region=REGION)
    assert (int(row["appeals"]), int(row["open"]), int(row["overdue"])) == (1, 1, stats["overdue"])
    assert page.get_attribute("#stats-appeals", "data-value") == "1"
    shares = chart_series(page, "chart-categories")[0]
    assert shares == list(stats["by_category_share"].values()) and 1.0 in shares
    page.click(f"#appeals-list a[href='#/appeals/{appeal}']")
    page.wait_for_selector("#appeal-transitions tbody tr")
    assert [r["to"] for r in rows_of(page, "appeal-transitions")] == ["registered", "in_review"]
    shot(page, "appeal")

    page.click("#nav-system")
    page.wait_for_selector("#rules-horizon tbody tr")
    page.wait_for_selector("#consumer-lag tbody tr")
    lag = api_json(f"{fin}/v1/consumer-lag")
    assert len(rows_of(page, "consumer-lag")) == len(lag)
    services = {r["service"] for r in rows_of(page, "rules-horizon")}
    assert services == set(SERVICES)
    shot(page, "system")


def test_the_language_switch(page, system, seeded):
    sign_in(page, system["console"], key_of("operator"), lang="ru")
    page.wait_for_selector("#region-select")
    assert page.text_content("#nav-region") == "Регион"
    page.select_option("#lang", "en")
    page.wait_for_function("document.querySelector('#nav-region').textContent === 'Region'")
    page.wait_for_selector("#region-select")
    # Kazakh, kept for the next visit.
    page.select_option("#lang", "kk")
    page.wait_for_function("document.querySelector('#nav-region').textContent === 'Өңір'")
    page.wait_for_selector("#region-totals")
    assert page.text_content("#signout") == "Шығу" and "Бекітілген" in page.text_content("#region-totals")
    assert page.evaluate("document.documentElement.lang") == "kk"
    page.reload()
    page.wait_for_selector("#region-totals")
    assert page.text_content("#nav-region") == "Өңір"
    shot(page, "kazakh")


@pytest.mark.parametrize("service", [*SERVICES, "console"])
def test_docs_and_the_console_need_nothing_but_this_machine(page, system, service):
    """Every request to anything but 127.0.0.1 is refused; Swagger UI (and the console's charts) still
    render from the service's own files."""
    refused: list[str] = []

    def only_local(route):
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    if service == "console":
        sign_in(page, system["console"], key_of("operator"))
        page.wait_for_selector("#chart-region-shares[data-drawn=true] svg")
    else:
        page.goto(system[service] + "/docs")
        page.wait_for_selector(".swagger-ui .opblock-summary-path")
        assert page.eval_on_selector_all(".swagger-ui .opblock", "els => els.length") >= 3
        shot(page, f"docs-{service}")
    assert refused == []
