// The osms console: a page per hash route (#/region, #/clinic/ID, #/appeals, #/system), each drawn from
// the services' APIs through the console's proxy (/api/<service>/v1/...) with the key kept in this tab's
// sessionStorage. Every value shown comes from an API answer; nothing is computed here but sums for
// display and the month list of the trend charts. Languages: Russian, Kazakh, English (i18n.js).
"use strict";

const LANGUAGES = [["ru", "Русский", "ru-RU"], ["kk", "Қазақша", "kk-KZ"], ["en", "English", "en-US"]];
let lang = localStorage.getItem("osms.lang") || "ru";
if (!LANGUAGES.some(([code]) => code === lang)) lang = "ru";
const locale = () => LANGUAGES.find(([code]) => code === lang)[2];
const t = (k) => (I18N[lang] && I18N[lang][k]) || I18N.en[k] || k;

// ------------------------------------------------------------------ session

const session = {
  get key() { return sessionStorage.getItem("osms.key"); },
  get role() { return sessionStorage.getItem("osms.role"); },     // "operator" or "clinic"
  get clinic() { return sessionStorage.getItem("osms.clinic"); },
  start(key, role, clinic) {
    sessionStorage.setItem("osms.key", key);
    sessionStorage.setItem("osms.role", role);
    if (clinic) sessionStorage.setItem("osms.clinic", clinic); else sessionStorage.removeItem("osms.clinic");
  },
  end() { ["osms.key", "osms.role", "osms.clinic"].forEach((k) => sessionStorage.removeItem(k)); },
};

// ------------------------------------------------------------------ API

class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || String(status));
    this.status = status;
    this.problem = problem;
  }
}

async function api(service, path, params, body, key, asText) {
  const url = new URL(`/api/${service}/v1/${path}`, location.origin);
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  }
  const headers = { Authorization: `Bearer ${key || session.key}` };
  if (body) headers["Content-Type"] = "application/json";
  let r;
  try {
    r = await fetch(url, { method: body ? "POST" : "GET", headers, body: body ? JSON.stringify(body) : undefined });
  } catch (e) {
    throw new ApiError(0, { title: t("network_error") });
  }
  if (asText && r.ok) return r.text();
  let data = null;
  try { data = await r.json(); } catch (e) { data = null; }
  if (!r.ok) {
    const err = new ApiError(r.status, data || { title: r.statusText });
    // A key revoked while the page is open: back to the sign-in page, with the reason.
    if (r.status === 401 && !key) { signOut(t("key_refused")); }
    throw err;
  }
  return data;
}

function problemText(err) {
  if (!(err instanceof ApiError)) return `${t("unexpected")}: ${err.message}`;
  const p = err.problem || {};
  const head = err.status ? `${t("error")} ${err.status}` : t("error");
  let text = `${head}: ${p.title || ""}${p.detail ? " — " + p.detail : ""}`;
  for (const e of p.errors || []) text += `\n• ${(e.loc || []).join(".")}: ${e.msg}`;
  return text;
}

// ------------------------------------------------------------------ DOM helpers

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const page = () => document.getElementById("page");
const errorBox = (err) => h("div", { class: "error", role: "alert" }, problemText(err));
const pct = (x) => (x === null || x === undefined ? "—" : `${(x * 100).toFixed(1)} %`);
const num = (x) => (x === null || x === undefined ? "—" : Number(x).toLocaleString(locale()));
const money = (x) => (x === null || x === undefined ? "—" : Number(x).toLocaleString(locale(),
  { minimumFractionDigits: 2, maximumFractionDigits: 2 }));

// A table: columns [{key, label, num, fmt, sortable, cell}], rows of objects. Sortable columns sort in
// the page, or with `onSort(key, desc)` ask the API for that order (a paged list); `data-value` keeps the
// API's raw value beside its display.
function table(id, columns, rows, sort, onSort) {
  const state = { ...(sort || {}) };
  const tbody = h("tbody");
  const heads = columns.map((c) => h("th", {
    class: [c.num ? "num" : "", c.sortable ? "sortable" : ""].join(" ").trim() || null,
    dataset: { key: c.key },
    onclick: c.sortable ? () => {
      state.desc = state.key === c.key ? !state.desc : false; state.key = c.key;
      if (onSort) onSort(state.key, state.desc); else fill();
    } : null,
  }, c.label));
  function fill() {
    const sorted = [...rows];
    if (state.key && !onSort) {
      const col = columns.find((c) => c.key === state.key);
      const val = col.sortValue || ((r) => r[col.key]);
      sorted.sort((a, b) => {
        const x = val(a), y = val(b);
        const cmp = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
        return state.desc ? -cmp : cmp;
      });
    }
    heads.forEach((th) => {
      th.classList.remove("sorted-asc", "sorted-desc");
      if (th.dataset.key === state.key) th.classList.add(state.desc ? "sorted-desc" : "sorted-asc");
    });
    tbody.replaceChildren(...sorted.map((r) => h("tr", { class: r._class || null, dataset: r._id ? { id: r._id } : null },
      columns.map((c) => h("td", { class: c.num ? "num" : null, dataset: { key: c.key, value: r[c.key] ?? "" } },
        c.cell ? c.cell(r) : c.fmt ? c.fmt(r[c.key]) : (r[c.key] ?? "—"))))));
  }
  fill();
  return h("table", { id }, h("thead", {}, h("tr", {}, heads)), tbody);
}

// ECharts with the SVG renderer: the drawn points are elements a test (or a person's tools) can count.
function chart(id, option) {
  const el = h("div", { id, class: "chart" });
  requestAnimationFrame(() => {
    const c = echarts.init(el, null, { renderer: "svg" });
    c.setOption({ animation: false, tooltip: { trigger: "axis" }, legend: { top: 0 },
      grid: { left: 50, right: 20, top: 40, bottom: 70 }, ...option });
    el.dataset.drawn = "true";
  });
  return el;
}

function shareAxis() {
  return { type: "value", min: 0, max: 1, axisLabel: { formatter: (v) => `${Math.round(v * 100)} %` } };
}

// The first day of each of the 24 months up to the anchor's month.
function last24Months(anchorIso) {
  const [y, m] = anchorIso.split("-").map(Number);
  const out = [];
  for (let i = 23; i >= 0; i--) {
    const d = new Date(Date.UTC(y, m - 1 - i, 1));
    out.push(d.toISOString().slice(0, 10));
  }
  return out;
}

// The active and insured shares on the first day of each of the 24 months up to the anchor's, from
// financing's monthly series (`seriesPath`: a clinic's or a region's), in one request.
async function trendChart(id, anchorIso, seriesPath) {
  const months = last24Months(anchorIso).map((d) => d.slice(0, 7));
  const s = await api("financing", seriesPath, { from: months[0], to: months[months.length - 1] });
  const byMonth = Object.fromEntries(s.months.map((m) => [m.month, m]));
  const of = (key) => months.map((m) => (byMonth[m] ? byMonth[m][key] : null));
  return chart(id, {
    xAxis: { type: "category", data: months },
    yAxis: shareAxis(),
    series: [
      { name: t("active_share"), type: "line", data: of("active_share") },
      { name: t("insured_share"), type: "line", data: of("insured_share") },
    ],
  });
}

// ------------------------------------------------------------------ reference data

let clinicsCache = null;

// Every clinic of the registry (paged by `after`), for the names and the regions.
async function allClinics() {
  if (clinicsCache) return clinicsCache;
  const clinics = [];
  let after = null;
  do {
    const p = await api("registry", "clinics", { limit: 1000, after });
    clinics.push(...p.clinics);
    after = p.next_after;
  } while (after);
  clinicsCache = clinics;
  return clinics;
}

async function regions() {
  return [...new Set((await allClinics()).map((c) => c.region))].sort((a, b) => a.localeCompare(b));
}

function routeParams() {
  const [path, query] = location.hash.replace(/^#/, "").split("?");
  return { parts: path.split("/").filter(Boolean), query: new URLSearchParams(query || "") };
}

// Navigates; the same address again draws the page again (a "Show" with unchanged inputs reloads).
function go(path, query) {
  const q = new URLSearchParams(Object.entries(query || {}).filter(([, v]) => v)).toString();
  const hash = `#/${path}${q ? "?" + q : ""}`;
  if (location.hash === hash) route(); else location.hash = hash;
}

// ------------------------------------------------------------------ sign-in

function signOut(message) {
  session.end();
  clinicsCache = null;
  renderSignIn(message);
}

function renderSignIn(message) {
  setChrome();
  const msg = h("p", { id: "signin-message", class: message ? "error" : null, role: message ? "alert" : null }, message || "");
  const key = h("input", { id: "key", type: "password", autocomplete: "off", required: true, placeholder: "osms_…" });
  const clinic = h("input", { id: "clinic", autocomplete: "off", placeholder: "KZO-0001" });
  const form = h("form", { id: "signin", onsubmit: async (ev) => {
    ev.preventDefault();
    msg.className = ""; msg.textContent = t("checking");
    const err = await signIn(key.value.trim(), clinic.value.trim());
    if (err) { msg.className = "error"; msg.setAttribute("role", "alert"); msg.textContent = err; }
  } },
  h("label", {}, t("api_key"), key),
  h("label", {}, t("clinic_code"), clinic, h("span", { class: "note" }, t("clinic_code_note"))),
  h("button", { class: "primary", type: "submit" }, t("sign_in")));
  page().replaceChildren(h("section", { class: "card signin" }, h("h1", {}, t("sign_in_title")), form, msg));
}

// Which key is this? An operator's reads the clinic list; a clinic's reads its own clinic's figures.
async function signIn(key, clinic) {
  if (!key) return t("key_required");
  try {
    await api("financing", "clinics", { limit: 1 }, null, key);
    session.start(key, "operator", null);
  } catch (err) {
    if (err.status === 401) return t("key_refused");
    if (err.status !== 403) return problemText(err);
    if (!clinic) return t("not_operator_key");
    try {
      await api("financing", `clinics/${encodeURIComponent(clinic)}/financing`, {}, null, key);
    } catch (err2) {
      if (err2.status === 403) return t("not_this_clinic").replace("{clinic}", clinic);
      if (err2.status === 404) return t("unknown_clinic").replace("{clinic}", clinic);
      return problemText(err2);
    }
    session.start(key, "clinic", clinic);
  }
  if (session.role === "clinic") go(`clinic/${encodeURIComponent(session.clinic)}`);
  else go("region");
  return null;
}

// ------------------------------------------------------------------ chrome

function setChrome() {
  document.documentElement.lang = lang;
  const switcher = document.getElementById("lang");
  switcher.replaceChildren(...LANGUAGES.map(([code, label]) => h("option", { value: code, selected: code === lang }, label)));
  switcher.value = lang;
  const signout = document.getElementById("signout");
  signout.textContent = t("sign_out");
  signout.hidden = !session.key;
  document.getElementById("who").textContent = session.key
    ? (session.role === "clinic" ? `${t("clinic")} ${session.clinic}` : t("operator")) : "";
  const current = routeParams().parts[0];
  const items = !session.key ? [] : session.role === "clinic"
    ? [["clinic", `clinic/${encodeURIComponent(session.clinic)}`, t("clinic")]]
    : [["region", "region", t("region")], ["clinic", "clinic", t("clinic")], ["appeals", "appeals", t("appeals")],
       ["system", "system", t("system")]];
  document.getElementById("nav").replaceChildren(...items.map(([name, path, label]) =>
    h("a", { href: `#/${path}`, id: `nav-${name}`, class: current === name ? "current" : null }, label)));
}

async function route() {
  if (!session.key) { renderSignIn(); return; }
  const { parts, query } = routeParams();
  setChrome();
  const view = { region: regionPage, clinic: clinicPage, appeals: appealsPage, system: systemPage }[parts[0]];
  if (!view) { go(session.role === "clinic" ? `clinic/${encodeURIComponent(session.clinic)}` : "region"); return; }
  if (session.role === "clinic" && parts[0] !== "clinic") {
    page().replaceChildren(h("div", { class: "error", role: "alert" }, t("operators_only")));
    return;
  }
  const root = h("div", { id: "view" }, h("p", { class: "note" }, t("loading")));
  page().replaceChildren(root);
  try {
    await view(root, parts.slice(1).map(decodeURIComponent), query);
  } catch (err) {
    if (session.key) root.replaceChildren(errorBox(err));
  }
}

// ------------------------------------------------------------------ Region

function figureColumns(nameOf) {
  return [
    { key: "clinic_id", label: t("clinic"), sortable: true,
      cell: (r) => h("a", { href: `#/clinic/${encodeURIComponent(r.clinic_id)}` }, r.clinic_id) },
    { key: "name", label: t("name"), sortable: true, cell: (r) => nameOf(r.clinic_id) },
    { key: "attached", label: t("attached"), num: true, sortable: true, fmt: num },
    { key: "active", label: t("active"), num: true, sortable: true, fmt: num },
    { key: "insured", label: t("insured"), num: true, sortable: true, fmt: num },
    { key: "active_share", label: t("active_share"), num: true, sortable: true, fmt: pct },
    { key: "insured_share", label: t("insured_share"), num: true, sortable: true, fmt: pct },
    { key: "monthly_amount", label: t("monthly_amount"), num: true, sortable: true, fmt: money,
      sortValue: (r) => Number(r.monthly_amount) },
  ];
}

async function regionPage(root, _, query) {
  const all = await regions();
  if (!all.length) { root.replaceChildren(h("p", {}, t("no_clinics"))); return; }
  const region = query.get("name") || all[0];
  const date = query.get("date") || "";
  const names = Object.fromEntries((await allClinics()).map((c) => [c.clinic_id, c.name]));
  const dateInput = h("input", { id: "region-date", type: "date", value: date });
  const select = h("select", { id: "region-select" }, all.map((r) => h("option", { value: r, selected: r === region }, r)));
  const controls = h("div", { class: "controls" },
    h("label", {}, t("region"), select), h("label", {}, t("date"), dateInput),
    h("button", { type: "button", onclick: () => go("region", { name: select.value, date: dateInput.value }) }, t("show")));
  select.addEventListener("change", () => go("region", { name: select.value, date: dateInput.value }));

  const [totals, list] = await Promise.all([
    api("financing", `regions/${encodeURIComponent(region)}/financing`, { date }),
    api("financing", "clinics", { region, date, limit: 1000, order_by: "active_share" }),
  ]);
  dateInput.value = totals.date;
  const rows = list.clinics.map((c) => ({ ...c, name: names[c.clinic_id] || "", _id: c.clinic_id }));
  const box = (id, label, value, fmt) => h("div", { id, dataset: { value } }, label, h("b", {}, fmt(value)));
  root.replaceChildren(
    h("h1", {}, `${t("region")}: ${region}`), controls,
    h("section", { class: "card" }, h("h2", {}, `${t("region_totals")} · ${totals.date}`),
      h("div", { class: "totals", id: "region-totals" },
        box("total-clinics", t("clinics"), totals.clinics, num),
        box("total-attached", t("attached"), totals.attached, num),
        box("total-active", t("active"), totals.active, num),
        box("total-insured", t("insured"), totals.insured, num),
        box("total-active-share", t("active_share"), totals.active_share, pct),
        box("total-insured-share", t("insured_share"), totals.insured_share, pct),
        box("total-amount", t("monthly_amount"), totals.monthly_amount, money)),
      h("p", { class: "note" }, `${t("rules_version")}: ${totals.rules_version}`)),
    h("section", { class: "card" }, h("h2", {}, t("clinics_worst_first")),
      table("region-clinics", figureColumns((id) => names[id] || ""), rows, { key: "active_share", desc: false })),
    h("div", { class: "grid2" },
      h("section", { class: "card" }, h("h2", {}, t("shares_by_clinic")), chart("chart-region-shares", {
        xAxis: { type: "category", data: rows.map((r) => r.clinic_id), axisLabel: { rotate: 30 } },
        yAxis: shareAxis(),
        series: [
          { name: t("active_share"), type: "bar", data: rows.map((r) => r.active_share) },
          { name: t("insured_share"), type: "bar", data: rows.map((r) => r.insured_share) },
        ],
      })),
      h("section", { class: "card", id: "region-trend-card" }, h("h2", {}, t("trend_24")), h("p", { class: "note" }, t("loading")))),
  );
  const trend = await trendChart("chart-region-trend", totals.date,
    `regions/${encodeURIComponent(region)}/financing/series`);
  document.getElementById("region-trend-card").replaceChildren(h("h2", {}, t("trend_24")), trend);
}

// ------------------------------------------------------------------ Clinic

async function clinicPage(root, parts, query) {
  let id = parts[0];
  if (!id && session.role === "clinic") id = session.clinic;
  if (!id) {
    const clinics = await allClinics();
    const pick = h("select", { id: "clinic-select" }, clinics.map((c) => h("option", { value: c.clinic_id }, `${c.clinic_id} · ${c.name}`)));
    root.replaceChildren(h("h1", {}, t("clinic")), h("div", { class: "controls" }, h("label", {}, t("clinic"), pick),
      h("button", { type: "button", onclick: () => go(`clinic/${encodeURIComponent(pick.value)}`) }, t("show"))));
    return;
  }
  const date = query.get("date") || "";
  const enc = encodeURIComponent(id);
  const [info, figures] = await Promise.all([
    api("registry", `clinics/${enc}`).catch((err) => { if (err.status === 404) return null; throw err; }),
    api("financing", `clinics/${enc}/financing`, { date }),
  ]);
  const month = query.get("month") || figures.date.slice(0, 7);
  const dateInput = h("input", { id: "clinic-date", type: "date", value: figures.date });
  const monthInput = h("input", { id: "statement-month", type: "month", value: month });
  const reload = () => go(`clinic/${enc}`, { date: dateInput.value, month: monthInput.value });
  const box = (key, label, value) => h("div", { id: `fig-${key}`, dataset: { value: figures[key] } }, label, h("b", {}, value));

  const statementCard = h("section", { class: "card", id: "statement-card" }, h("h2", {}, t("statement")), h("p", { class: "note" }, t("loading")));
  const volumesCard = h("section", { class: "card", id: "volumes-card" }, h("h2", {}, t("practitioner_volumes")), h("p", { class: "note" }, t("loading")));
  const trendCard = h("section", { class: "card", id: "clinic-trend-card" }, h("h2", {}, t("trend_24")), h("p", { class: "note" }, t("loading")));
  const worklistCard = h("section", { class: "card", id: "worklist-card" }, h("h2", {}, t("worklists")), h("p", { class: "note" }, t("loading")));
  const heldCard = h("section", { class: "card", id: "held-card" }, h("h2", {}, t("held_visits")), h("p", { class: "note" }, t("loading")));
  root.replaceChildren(
    h("h1", { id: "clinic-title" }, `${t("clinic")} ${id}${info ? " · " + info.name : ""}`),
    h("p", { class: "note" }, info ? `${t("region")}: ${info.region} · ${t("settlement")}: ${t(info.settlement)}` : ""),
    h("div", { class: "controls" }, h("label", {}, t("date"), dateInput), h("label", {}, t("statement_month"), monthInput),
      h("button", { type: "button", onclick: reload }, t("show"))),
    h("section", { class: "card" }, h("h2", {}, `${t("figures_on")} ${figures.date}`),
      h("div", { class: "totals", id: "clinic-figures" },
        box("attached", t("attached"), num(figures.attached)), box("active", t("active"), num(figures.active)),
        box("insured", t("insured"), num(figures.insured)), box("active_share", t("active_share"), pct(figures.active_share)),
        box("insured_share", t("insured_share"), pct(figures.insured_share)),
        box("monthly_amount", t("monthly_amount"), money(figures.monthly_amount))),
      h("p", { class: "note" }, `${t("rules_version")}: ${figures.rules_version}`)),
    trendCard, worklistCard, statementCard, volumesCard, heldCard, eligibilityCard());

  const settle = (card, title, work) => work.then((el) => card.replaceChildren(h("h2", {}, title), el))
    .catch((err) => card.replaceChildren(h("h2", {}, title), errorBox(err)));
  await Promise.all([
    settle(statementCard, `${t("statement")} · ${month}`, statementView(enc, month)),
    settle(volumesCard, `${t("practitioner_volumes")} · ${figures.date}`, volumesView(enc, figures.date)),
    settle(trendCard, t("trend_24"), trendChart("chart-clinic-trend", figures.date, `clinics/${enc}/financing/series`)),
    settle(worklistCard, t("worklists"), worklistView(enc, figures.date, query)),
    settle(heldCard, t("held_visits"), heldView(id)),
  ]);
}

// The clinic's worklists (financing): its attached people to reach, a page at a time, sorted by the API;
// the list's kind, page and order live in the address (wl, wl_offset, wl_limit, wl_order), so a page
// parameter the API refuses shows its 422 here, in words.
const WORKLISTS = ["inactive", "turning_inactive", "uninsured", "grace_ending"];

async function worklistView(enc, date, query) {
  const kind = WORKLISTS.includes(query.get("wl")) ? query.get("wl") : "inactive";
  const limit = query.get("wl_limit") || "20", offset = query.get("wl_offset") || "0";
  const order = query.get("wl_order") || "";
  const nav = (changes) => go(`clinic/${enc}`, { ...Object.fromEntries(query.entries()), ...changes });
  const kindSelect = h("select", { id: "worklist-kind" },
    WORKLISTS.map((k) => h("option", { value: k, selected: k === kind }, t(`wl_${k}`))));
  kindSelect.addEventListener("change", () => nav({ wl: kindSelect.value, wl_offset: "", wl_order: "" }));
  const limitInput = h("input", { id: "worklist-limit", type: "number", min: 1, max: 1000, value: limit, size: 5 });
  const status = h("span", { id: "worklist-status", class: "note" });
  const csv = h("button", { type: "button", id: "worklist-csv", onclick: async () => {
    try {
      const text = await api("financing", `clinics/${enc}/worklists/${kind}`, { date, order_by: order, format: "csv" },
        null, null, true);
      const link = h("a", { href: URL.createObjectURL(new Blob([text], { type: "text/csv" })),
        download: `${decodeURIComponent(enc)}-${kind}-${date}.csv` });
      document.body.append(link); link.click(); link.remove();
      status.textContent = `${t("exported")}: ${text.trim().split("\n").length - 1}`;
      status.dataset.rows = String(text.trim().split("\n").length - 1);
    } catch (err) { status.textContent = problemText(err); }
  } }, t("export_csv"));
  const prev = h("button", { type: "button", id: "worklist-prev" }, `← ${t("previous")}`);
  const next = h("button", { type: "button", id: "worklist-next" }, `${t("next")} →`);
  const controls = h("div", { class: "controls" }, h("label", {}, t("worklist"), kindSelect),
    h("label", {}, t("page_size"), limitInput),
    h("button", { type: "button", onclick: () => nav({ wl_limit: limitInput.value, wl_offset: "" }) }, t("show")),
    prev, next, csv, status);
  let list;
  try {
    list = await api("financing", `clinics/${enc}/worklists/${kind}`, { date, limit, offset, order_by: order });
  } catch (err) {
    if (err.status !== 422) throw err;
    return h("div", {}, controls, h("div", { class: "error", role: "alert", id: "worklist-error" },
      `${t("bad_page")}\n${problemText(err)}`));
  }
  const first = list.offset + 1, last = list.offset + list.people.length;
  prev.disabled = list.offset === 0;
  next.disabled = last >= list.total;
  prev.addEventListener("click", () => nav({ wl_offset: String(Math.max(0, list.offset - list.limit)) }));
  next.addEventListener("click", () => nav({ wl_offset: String(list.offset + list.limit) }));
  const desc = list.order_by.startsWith("-");
  const sortable = (key, label, fmt) => ({ key, label, sortable: true, fmt });
  const day = (d) => d || "—";
  return h("div", {}, controls,
    h("p", { id: "worklist-summary", class: "note", dataset: { total: list.total, kind } },
      list.total ? t("shown_of").replace("{first}", first).replace("{last}", last).replace("{total}", num(list.total))
        : t("none_in_list"),
      ` · ${t("date")}: ${list.date} · ${t("horizon")}: ${list.horizon_days}`),
    table("worklist", [
      sortable("iin", t("iin")), sortable("birth_date", t("birth_date"), day), { key: "sex", label: t("sex") },
      sortable("last_visit", t("last_visit"), day), sortable("active_until", t("active_until"), day),
      sortable("insured_until", t("insured_until"), day),
    ], list.people.map((p) => ({ ...p, _id: p.iin })), { key: list.order_by.replace(/^-/, ""), desc },
    (key, down) => nav({ wl_order: `${down ? "-" : ""}${key}`, wl_offset: "" })));
}

async function statementView(enc, month) {
  const s = await api("financing", `clinics/${enc}/statements/${encodeURIComponent(month)}`);
  const yes = (b) => (b ? t("yes") : t("no"));
  return h("div", {},
    h("p", { id: "statement-summary", dataset: { amount: s.monthly_amount, people: s.people } },
      `${t("counted_on")} ${s.counted_on} · ${t("settlement")}: ${t(s.settlement || "unknown")} · ${t("base_rate")}: ${money(s.base_rate)} · `
      + `${t("people")}: ${num(s.people)} · ${t("monthly_amount")}: ${money(s.monthly_amount)} · ${t("rules_version")}: ${s.rules_version}`),
    table("statement-lines", [
      { key: "age_group", label: t("age_group") }, { key: "sex", label: t("sex") },
      { key: "active", label: t("active"), fmt: yes }, { key: "insured", label: t("insured"), fmt: yes },
      { key: "people", label: t("people"), num: true, fmt: num },
      { key: "age_sex_coefficient", label: t("age_sex_coefficient"), num: true },
      { key: "activity_coefficient", label: t("activity_coefficient"), num: true },
      { key: "insurance_coefficient", label: t("insurance_coefficient"), num: true },
      { key: "amount", label: t("amount"), num: true, fmt: money },
    ], s.lines),
    s.lines.length ? null : h("p", { class: "note" }, t("no_lines")));
}

async function volumesView(enc, date) {
  const v = await api("registry", `clinics/${enc}/practitioner-volumes`, { date });
  return h("div", {}, h("p", { class: "note" }, `${t("daily_norm")}: ${v.daily_norm}`),
    table("practitioner-volumes", [
      { key: "practitioner_id", label: t("practitioner"), sortable: true },
      { key: "visits", label: t("visits"), num: true, sortable: true },
      { key: "patients", label: t("patients"), num: true, sortable: true },
      { key: "over_norm", label: t("over_norm"), fmt: (b) => (b ? t("yes") : t("no")) },
    ], v.practitioners.map((p) => ({ ...p, _class: p.over_norm ? "over" : null })), { key: "patients", desc: true }),
    v.practitioners.length ? null : h("p", { class: "note" }, t("no_visits")));
}

// The clinic's visits held by the padded-records checks and not yet decided (registry), oldest first.
async function heldView(id) {
  const page = await api("registry", "integrity/held", { clinic_id: id, limit: 200 });
  return h("div", {},
    table("held-visits", [
      { key: "visit_id", label: t("visit") }, { key: "date", label: t("date"), sortable: true },
      { key: "kind", label: t("kind") }, { key: "practitioner_id", label: t("practitioner"), sortable: true },
      { key: "reasons", label: t("reasons"), cell: (v) => v.reasons.map((r) => t(`r_${r}`)).join(", ") },
      { key: "held_at", label: t("held_at"), fmt: (x) => x.slice(0, 16).replace("T", " ") },
    ], page.visits),
    page.visits.length ? null : h("p", { class: "note" }, t("no_held")),
    page.next_after ? h("p", { class: "note" }, t("more_held")) : null);
}

// Point-of-care eligibility: up to 1,000 IINs, one a line (contributions' POST /v1/status-checks).
function eligibilityCard() {
  const input = h("textarea", { id: "eligibility-iins", rows: 3, cols: 40, placeholder: "900315400017" });
  const out = h("div", { id: "eligibility-results" });
  const check = async () => {
    const iins = input.value.split(/[\s,;]+/).filter(Boolean);
    if (!iins.length) return;
    try {
      const r = await api("contributions", "status-checks", null, { iins });
      out.replaceChildren(table("eligibility", [
        { key: "iin", label: t("iin") },
        { key: "status", label: t("status"), cell: (x) => (x.status ? t(`st_${x.status}`) : x.errors.join("; ")) },
        { key: "insured_until", label: t("insured_until") },
      ], r.results));
    } catch (err) { out.replaceChildren(errorBox(err)); }
  };
  return h("section", { class: "card" }, h("h2", {}, t("eligibility")),
    h("div", { class: "controls" }, input, h("button", { type: "button", id: "eligibility-check", onclick: check }, t("check"))), out);
}

// ------------------------------------------------------------------ Appeals

const OPEN = ["registered", "in_review", "extended"];

async function appealsPage(root, parts, query) {
  if (parts[0]) { await appealPage(root, parts[0]); return; }
  const all = await regions();
  const region = query.get("region") || "";
  const from = query.get("from") || "", to = query.get("to") || "";
  const perRegion = await Promise.all(all.map((r) => api("feedback", "stats", { region: r, from, to })));
  const byRegion = all.map((r, i) => ({
    region: r, open: OPEN.reduce((n, s) => n + (perRegion[i].by_status[s] || 0), 0), overdue: perRegion[i].overdue,
    appeals: perRegion[i].appeals, _id: r,
  }));
  const stats = await api("feedback", "stats", { region, from, to });
  const list = await api("feedback", "appeals", { region, limit: 50, overdue_first: true });
  const select = h("select", { id: "appeals-region" }, h("option", { value: "" }, t("all_regions")),
    all.map((r) => h("option", { value: r, selected: r === region }, r)));
  const fromInput = h("input", { type: "date", id: "appeals-from", value: from });
  const toInput = h("input", { type: "date", id: "appeals-to", value: to });
  const lookup = h("input", { id: "appeal-id", placeholder: "appeal_id", size: 38 });
  const countTable = (id, counts, shares) => table(id, [
    { key: "name", label: t("name") }, { key: "n", label: t("count"), num: true },
    ...(shares ? [{ key: "share", label: t("share_of_complaints"), num: true, fmt: pct }] : []),
  ], Object.entries(counts).map(([k, n]) => ({ name: t(k), n, share: shares ? shares[k] : null, _id: k })));
  root.replaceChildren(
    h("h1", {}, t("appeals")),
    h("section", { class: "card" }, h("h2", {}, t("open_overdue_by_region")),
      table("appeals-by-region", [
        { key: "region", label: t("region"), sortable: true }, { key: "appeals", label: t("appeals"), num: true, sortable: true },
        { key: "open", label: t("open"), num: true, sortable: true }, { key: "overdue", label: t("overdue"), num: true, sortable: true },
      ], byRegion, { key: "overdue", desc: true })),
    h("div", { class: "controls" }, h("label", {}, t("region"), select), h("label", {}, t("from"), fromInput),
      h("label", {}, t("to"), toInput),
      h("button", { type: "button", onclick: () => go("appeals", { region: select.value, from: fromInput.value, to: toInput.value }) }, t("show"))),
    h("section", { class: "card", id: "appeal-stats" }, h("h2", {}, `${t("statistics")} · ${region || t("all_regions")}`),
      h("div", { class: "totals" },
        h("div", { id: "stats-appeals", dataset: { value: stats.appeals } }, t("appeals"), h("b", {}, num(stats.appeals))),
        h("div", { id: "stats-overdue", dataset: { value: stats.overdue } }, t("overdue"), h("b", {}, num(stats.overdue))),
        h("div", { id: "stats-spot-share", dataset: { value: stats.resolved_on_spot_or_withdrawn_share ?? "" } },
          t("resolved_on_spot_or_withdrawn_share"), h("b", {}, pct(stats.resolved_on_spot_or_withdrawn_share)))),
      h("div", { class: "grid2" },
        h("div", {}, h("h2", {}, t("by_kind")), countTable("stats-kind", stats.by_kind),
          h("h2", {}, t("by_status")), countTable("stats-status", stats.by_status)),
        h("div", {}, h("h2", {}, t("by_category")), countTable("stats-category", stats.by_category, stats.by_category_share),
          chart("chart-categories", {
            tooltip: {}, xAxis: { type: "category", data: Object.keys(stats.by_category_share).map(t), axisLabel: { rotate: 30 } },
            yAxis: shareAxis(),
            series: [{ name: t("share_of_complaints"), type: "bar", data: Object.values(stats.by_category_share) }],
          })))),
    h("section", { class: "card" }, h("h2", {}, t("overdue_first")),
      h("div", { class: "controls" }, lookup, h("button", { type: "button", onclick: () => lookup.value && go(`appeals/${encodeURIComponent(lookup.value.trim())}`) }, t("open_appeal"))),
      table("appeals-list", [
        { key: "registration_number", label: t("registration_number"),
          cell: (a) => h("a", { href: `#/appeals/${a.appeal_id}` }, a.registration_number) },
        { key: "kind", label: t("kind"), fmt: t }, { key: "category", label: t("category"), fmt: (c) => (c ? t(c) : "—") },
        { key: "region", label: t("region") }, { key: "clinic_id", label: t("clinic") },
        { key: "status", label: t("status"), fmt: t }, { key: "registered_on", label: t("registered_on") },
        { key: "due_date", label: t("due_date"), cell: (a) => a.extended_due_date || a.due_date },
        { key: "overdue", label: t("overdue"), fmt: (b) => (b ? t("yes") : "") },
      ], list.appeals.map((a) => ({ ...a, _class: a.overdue ? "over" : null })))));
}

async function appealPage(root, id) {
  const a = await api("feedback", `appeals/${encodeURIComponent(id)}`);
  root.replaceChildren(
    h("h1", {}, `${t("appeal")} ${a.registration_number}`),
    h("p", {}, h("a", { href: "#/appeals" }, `← ${t("appeals")}`)),
    h("section", { class: "card" }, h("div", { class: "totals", id: "appeal-facts" },
      ...[["status", t(a.status)], ["kind", t(a.kind)], ["category", a.category ? t(a.category) : "—"], ["channel", t(a.channel)],
        ["region", a.region], ["clinic", a.clinic_id || "—"], ["registered_on", a.registered_on],
        ["due_date", a.extended_due_date || a.due_date], ["overdue", a.overdue ? t("yes") : t("no")]]
        .map(([k, v]) => h("div", { id: `appeal-${k}` }, t(k), h("b", {}, v)))),
      h("p", { class: "note" }, a.text)),
    h("section", { class: "card" }, h("h2", {}, t("lifecycle")),
      table("appeal-transitions", [
        { key: "at", label: t("at"), fmt: (x) => x.replace("T", " ").slice(0, 19) },
        { key: "from", label: t("from_status"), fmt: (s) => (s ? t(s) : "—") }, { key: "to", label: t("to_status"), fmt: t },
        { key: "by", label: t("by") }, { key: "note", label: t("note") }, { key: "due_date", label: t("due_date") },
      ], a.transitions)));
}

// ------------------------------------------------------------------ System

async function systemPage(root) {
  const services = ["contributions", "registry", "financing", "feedback"];
  const [lag, ...rules] = await Promise.all([
    api("financing", "consumer-lag").catch((err) => err),
    ...services.map((s) => api(s, "rules").catch((err) => err)),
  ]);
  const today = new Date();
  const horizon = [];
  services.forEach((s, i) => {
    if (rules[i] instanceof Error) return;
    for (const tb of rules[i].tables) {
      const last = tb.versions[tb.versions.length - 1];
      horizon.push({ service: s, table: tb.table, span: tb.span || "—", published_until: tb.published_until || t("until_replaced"),
        days: tb.published_until ? Math.round((new Date(tb.published_until) - today) / 86400000) : null,
        version: last ? last.version : "—", effective_from: last ? last.effective_from : "—",
        _class: tb.published_until && (new Date(tb.published_until) - today) / 86400000 < 60 ? "over" : null });
    }
  });
  const lagView = lag instanceof Error ? errorBox(lag) : h("div", {},
    h("p", { id: "lag-total", dataset: { value: lag.reduce((n, p) => n + p.lag, 0) } },
      `${t("lag_total")}: ${num(lag.reduce((n, p) => n + p.lag, 0))}`),
    table("consumer-lag", [
      { key: "topic", label: t("topic"), sortable: true }, { key: "partition", label: t("partition"), num: true, sortable: true },
      { key: "end_offset", label: t("end_offset"), num: true }, { key: "applied_offset", label: t("applied_offset"), num: true },
      { key: "lag", label: t("lag"), num: true, sortable: true },
    ], lag, { key: "lag", desc: true }));
  root.replaceChildren(
    h("h1", {}, t("system")),
    h("section", { class: "card" }, h("h2", {}, t("consumer_lag")), lagView),
    h("section", { class: "card" }, h("h2", {}, t("rules_horizon")),
      ...services.map((s, i) => (rules[i] instanceof Error ? h("div", {}, `${s}: `, errorBox(rules[i])) : null)),
      table("rules-horizon", [
        { key: "service", label: t("service"), sortable: true }, { key: "table", label: t("table"), sortable: true },
        { key: "span", label: t("span") }, { key: "version", label: t("version") }, { key: "effective_from", label: t("effective_from") },
        { key: "published_until", label: t("published_until"), sortable: true },
        { key: "days", label: t("days_left"), num: true, sortable: true, fmt: (d) => (d === null ? "—" : d),
          sortValue: (r) => (r.days === null ? Infinity : r.days) },
      ], horizon, { key: "days", desc: false })),
    h("p", { class: "note" }, t("outbox_note")));
}

// ------------------------------------------------------------------ start

document.getElementById("lang").addEventListener("change", (ev) => {
  lang = ev.target.value;
  localStorage.setItem("osms.lang", lang);
  route();
});
document.getElementById("signout").addEventListener("click", () => { session.end(); clinicsCache = null; go(""); });
window.addEventListener("hashchange", route);
route();
