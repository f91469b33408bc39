// The sandbox page: the test cards (GET /v1/simulate/cards), a form that sends a simulated
// authorization or reversal (POST /v1/simulate/*) and shows the answer field by field, and
// the latest decisions from the ledger's events (GET /v1/events/stream, server-sent events).
// Everything shown comes masked from the switch; values go into the page as text, never HTML.
"use strict";

const FIELD_NAMES = {
  2: "card number (PAN)", 3: "processing code", 4: "amount", 6: "amount, cardholder billing",
  7: "transmitted (MMDDhhmmss)", 10: "conversion rate", 11: "STAN", 12: "local time",
  13: "local date", 14: "expiry", 15: "business date", 18: "merchant category",
  19: "acquirer country", 22: "entry mode", 32: "acquirer", 37: "retrieval reference",
  38: "approval code", 39: "response code", 41: "terminal", 42: "merchant", 48: "additional data (CVV2)",
  49: "currency", 51: "billing currency", 52: "PIN block", 54: "balances", 55: "chip data",
  90: "original", 95: "replacement amounts",
};

const CODES = {
  "00": "approved", "10": "partially approved", "12": "invalid transaction", "13": "invalid amount",
  "14": "unknown card", "30": "format error", "41": "lost card", "43": "stolen card",
  "51": "insufficient funds", "54": "expired card", "55": "incorrect PIN", "57": "not permitted",
  "61": "amount limit", "62": "restricted card", "63": "security violation", "65": "frequency limit",
  "75": "PIN tries exceeded", "82": "CVV or cryptogram failure", "91": "issuer unavailable",
  "94": "duplicate transmission", "N7": "CVV2 mismatch",
};

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "card-switch-sandbox-token";
const MAX_LIVE = 50;
let events = null;

function token() {
  return $("token").value.trim();
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

async function api(method, path, body) {
  const init = { method, headers: { Authorization: "Bearer " + token() } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  const json = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    const m = json.error ? json.error.code + ": " + json.error.message : "HTTP " + resp.status;
    throw new Error(m);
  }
  return json;
}

function showError(e) {
  const p = $("error");
  p.textContent = e ? String(e.message || e) : "";
  p.hidden = !e;
}

async function loadCards() {
  const list = await api("GET", "/v1/simulate/cards");
  const body = $("cards").tBodies[0];
  const select = $("card");
  body.replaceChildren();
  select.replaceChildren();
  for (const c of list.items) {
    const tr = el("tr");
    tr.dataset.card = c.id;
    for (const v of [c.id, c.pan_masked, c.expiry, c.status, c.pin ? "yes" : ""]) tr.append(el("td", v));
    const what = el("td");
    for (const o of c.outcome) what.append(el("div", o));
    tr.append(what);
    tr.addEventListener("click", () => { select.value = c.id; select.focus(); });
    body.append(tr);
    const opt = el("option", c.id + "  " + c.pan_masked + "  " + c.outcome[0]);
    opt.value = c.id;
    select.append(opt);
  }
}

function showResult(r) {
  const code = r.response_code || "";
  $("result-code").textContent = code;
  $("result-code").className = code === "00" || code === "10" ? "ok" : "declined";
  $("result-text").textContent = CODES[code] || "";
  $("result-approval").textContent = r.approval_code ? "approval code " + r.approval_code : "";
  $("req-mti").textContent = r.request.mti;
  $("resp-mti").textContent = r.response.mti;
  const fields = new Set([...Object.keys(r.request.fields), ...Object.keys(r.response.fields)]);
  const body = $("fields").tBodies[0];
  body.replaceChildren();
  for (const n of [...fields].map(Number).sort((a, b) => a - b)) {
    const tr = el("tr");
    tr.dataset.de = n;
    tr.append(el("td", n), el("td", FIELD_NAMES[n] || ""),
      el("td", r.request.fields[n] ?? ""), el("td", r.response.fields[n] ?? ""));
    body.append(tr);
  }
  $("result").hidden = false;
  if (r.request.mti === "0100" && (code === "00" || code === "10")) {
    $("orig-acquirer").value = r.network_key.acquirer;
    $("orig-stan").value = r.network_key.stan;
    $("orig-transmitted").value = r.network_key.transmitted;
  }
}

function kind() {
  return document.querySelector("input[name=kind]:checked").value;
}

async function send(ev) {
  ev.preventDefault();
  showError(null);
  $("send").disabled = true;
  try {
    let r;
    if (kind() === "reversal") {
      const body = { original: {
        acquirer: $("orig-acquirer").value.trim(),
        stan: $("orig-stan").value.trim(),
        transmitted: $("orig-transmitted").value.trim(),
      } };
      if ($("keep").value !== "") body.keep_minor = Number($("keep").value);
      r = await api("POST", "/v1/simulate/reversal", body);
    } else {
      const body = {
        card_id: $("card").value,
        amount_minor: Number($("amount").value),
        currency: $("currency").value.trim(),
        entry_mode: $("entry-mode").value,
      };
      for (const [k, id] of [["mcc", "mcc"], ["country", "country"], ["pin", "pin"], ["cvv2", "cvv2"]]) {
        const v = $(id).value.trim();
        if (v !== "") body[k] = v;
      }
      r = await api("POST", "/v1/simulate/authorization", body);
    }
    showResult(r);
  } catch (e) {
    showError(e);
  } finally {
    $("send").disabled = false;
  }
}

function addLive(e) {
  let ce;
  try { ce = JSON.parse(e.data); } catch (_) { return; }
  const d = ce.data || {};
  const li = el("li", null, ce.type.replace(/\./g, "-"));
  li.dataset.type = ce.type;
  const when = (ce.time || "").replace("T", " ").replace(/\.\d+/, "").replace("Z", " UTC");
  li.append(el("span", when, "time"), el("span", ce.type, "type"));
  if (d.card_id || d.pan_masked) li.append(el("span", (d.card_id || "") + " " + (d.pan_masked || ""), "card"));
  if (d.amount) li.append(el("span", d.amount.minor + " " + (d.amount.currency || ""), "amount"));
  if (d.response_code) {
    // The meaning of a code is an authorization's; a reversal's or an advice's 00 is "recorded".
    const meaning = ce.type.startsWith("authorization.") ? CODES[d.response_code] || "" : "";
    li.append(el("span", (d.response_code + " " + meaning).trim(), "code"));
    li.dataset.code = d.response_code;
  }
  if (d.approval_code) li.append(el("span", d.approval_code, "approval"));
  if (d.network_key) li.append(el("span", "STAN " + d.network_key.stan, "stan"));
  const list = $("live");
  list.prepend(li);
  while (list.children.length > MAX_LIVE) list.lastElementChild.remove();
}

function connectEvents() {
  if (events) events.close();
  $("live").replaceChildren();
  // EventSource cannot send headers: the token goes in the query, on this path only.
  events = new EventSource("/v1/events/stream?backlog=20&access_token=" + encodeURIComponent(token()));
  events.onopen = () => { $("live-state").textContent = "(live)"; };
  events.onerror = () => { $("live-state").textContent = "(reconnecting)"; };
  events.onmessage = addLive;
  for (const t of ["authorization.approved", "authorization.declined", "reversal.recorded",
    "advice.recorded", "hold.released", "hold.expired", "hold.captured", "card.updated",
    "business_date.changed", "clearing.posted"]) {
    events.addEventListener(t, addLive);
  }
}

async function start() {
  showError(null);
  $("token-state").textContent = "";
  try {
    await loadCards();
    $("token-state").textContent = "ok";
    connectEvents();
  } catch (e) {
    $("token-state").textContent = "";
    showError(e);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const given = document.querySelector("meta[name=sandbox-token]").content;
  $("token").value = given || localStorage.getItem(TOKEN_KEY) || "";
  $("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    localStorage.setItem(TOKEN_KEY, token());
    start();
  });
  for (const r of document.querySelectorAll("input[name=kind]")) {
    r.addEventListener("change", () => {
      $("purchase-fields").hidden = kind() === "reversal";
      $("reversal-fields").hidden = kind() !== "reversal";
    });
  }
  $("simulate").addEventListener("submit", send);
  if (token()) start();
});
