// Cairn explorer: a dependency-free single page over the node's /api/.
// Views are hash-routed (#/, #/block/5, #/tx/HASH, #/account/ADDR,
// #/validators, #/evidence). Every value from the chain is inserted with
// textContent, never as HTML: monikers and Put values are user input.
// data-testid attributes are stable hooks for tests/browser/explorer.mjs:
// rename them only together with it.
"use strict";

const POLL_MS = 2000;
const state = { status: null, monikers: new Map(), monikersAt: 0, seenHeights: new Set(), route: "" };

// ---------- tiny DOM helpers ----------
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
const link = (href, text, cls, testid) => h("a", { href, class: cls, "data-testid": testid }, text);
const short = (s, n = 10) => (s && s.length > 2 * n + 1 ? s.slice(0, n) + "…" + s.slice(-6) : s || "");
const mono = (text, title, testid) => h("span", { class: "mono", title: title || text, "data-testid": testid }, text);
const badge = (text, kind) => h("span", { class: "badge " + kind }, text);
const fmtInt = (s) => (s === null || s === undefined ? "—" : BigInt(s).toLocaleString("en-US"));

function ago(iso) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "";
  const s = Math.max(0, Math.round((Date.now() - t) / 1000));
  if (s < 60) return s + "s ago";
  if (s < 3600) return Math.floor(s / 60) + "m ago";
  if (s < 86400) return Math.floor(s / 3600) + "h ago";
  return Math.floor(s / 86400) + "d ago";
}
function when(iso) {
  return h("span", { title: iso }, iso ? iso.replace("T", " ").replace(/\.\d+Z$/, "Z") + " (" + ago(iso) + ")" : "—");
}

async function api(path) {
  const r = await fetch("/api" + path, { headers: { accept: "application/json" } });
  let body = null;
  try { body = await r.json(); } catch (_) { /* not JSON */ }
  if (!r.ok) throw new Error((body && body.error) || r.status + " " + r.statusText);
  return body;
}

function view(...children) {
  const main = document.getElementById("view");
  main.replaceChildren(...children.flat().filter(Boolean));
}
function errorBox(e) { return h("div", { class: "error" }, String(e.message || e)); }
function kv(rows) {
  return h("div", { class: "panel" }, h("div", { class: "kv" },
    rows.filter(Boolean).flatMap(([k, v]) => [h("div", {}, k), h("div", {}, v === null || v === undefined ? "—" : v)])));
}
function table(headers, rows, empty) {
  if (!rows.length) return h("div", { class: "panel" }, h("div", { class: "empty" }, empty || "Nothing here yet."));
  return h("div", { class: "panel" }, h("table", {},
    h("thead", {}, h("tr", {}, headers.map(([t, cls]) => h("th", { class: cls }, t)))),
    h("tbody", {}, rows)));
}
function codeBadge(code) {
  if (code === null || code === undefined) return badge("pending", "muted");
  return code === 0 ? badge("success", "ok") : badge("failed · code " + code, "bad");
}
function addrLink(addr, testid) {
  if (!addr) return "—";
  const name = state.monikers.get(addr);
  return h("span", {}, link("#/account/" + addr, name || short(addr), null, testid), name ? h("span", { class: "muted mono" }, " " + short(addr, 6)) : null);
}
function validatorName(consensusAddr) {
  const name = state.monikers.get(consensusAddr);
  return name ? h("span", { title: consensusAddr }, name) : mono(short(consensusAddr), consensusAddr);
}

// ---------- live status ----------
async function refreshMonikers(force) {
  if (!force && Date.now() - state.monikersAt < 30000) return;
  try {
    const v = await api("/validators");
    state.monikers = new Map();
    for (const x of v.validators) {
      state.monikers.set(x.consensus_address, x.moniker);
      state.monikers.set(x.operator, x.moniker);
    }
    state.monikersAt = Date.now();
  } catch (_) { /* keep the old names */ }
}

async function pollStatus() {
  const pill = document.getElementById("sync-pill");
  try {
    const s = await api("/status");
    const changed = !state.status || state.status.latest_height !== s.latest_height;
    state.status = s;
    document.getElementById("latest-height").textContent = s.latest_height;
    document.getElementById("chain-id").textContent = s.chain_id;
    document.getElementById("foot-node").textContent = s.moniker + " · node " + short(s.node_id, 8) + " · v" + s.version;
    pill.textContent = s.catching_up ? "catching up" : "live";
    pill.className = "pill " + (s.catching_up ? "syncing" : "live");
    if (changed && isHome()) renderHome(true);
  } catch (e) {
    pill.textContent = "unreachable";
    pill.className = "pill down";
  }
}

// ---------- views ----------
function isHome() {
  const r = location.hash.replace(/^#/, "") || "/";
  return r === "/" || r === "";
}

async function renderHome(live) {
  await refreshMonikers(false);
  const s = state.status;
  let data;
  try { data = await api("/blocks?limit=20"); } catch (e) { view(errorBox(e)); return; }
  if (!isHome()) return;
  const first = state.seenHeights.size === 0;
  const rows = data.blocks.map((b) => {
    const fresh = live && !first && !state.seenHeights.has(b.height);
    state.seenHeights.add(b.height);
    return h("tr", { class: fresh ? "fresh" : null, "data-testid": "block-row" },
      h("td", {}, link("#/block/" + b.height, "#" + fmtInt(b.height))),
      h("td", {}, h("span", { title: b.time }, ago(b.time))),
      h("td", { "data-testid": "block-proposer" }, validatorName(b.proposer)),
      h("td", { class: "num", "data-testid": "block-txs" }, String(b.num_txs)),
      h("td", { class: "hide-sm" }, link("#/block/" + b.hash, short(b.hash, 8), "mono")),
      h("td", { class: "num hide-sm" }, b.size.toLocaleString("en-US") + " B"));
  });
  const lowest = data.blocks.length ? data.blocks[data.blocks.length - 1].height : null;
  const cards = s ? h("div", { class: "cards" },
    card("Latest height", fmtInt(s.latest_height)),
    card("Last block", s.latest_hash ? ago(s.latest_time) : "none yet"),
    card("Mempool", fmtInt(s.mempool_txs) + " txs"),
    card("Peers", String(s.peers)),
    card("Validators", String(new Set([...state.monikers.values()]).size || "—"))) : null;
  view(
    h("h1", {}, "Latest blocks", badge("live", "ok")),
    cards,
    table([["Height"], ["Age"], ["Proposer"], ["Txs", "num"], ["Hash", "hide-sm"], ["Size", "num hide-sm"]], rows, "No block committed yet."),
    lowest && BigInt(lowest) > 1n ? h("div", { class: "pager" }, h("span", { class: "muted" }, "Showing the 20 newest blocks"),
      link("#/blocks/" + lowest, "Older blocks →")) : null);
}
function card(k, v, testid) { return h("div", { class: "card" }, h("div", { class: "k" }, k), h("div", { class: "v", "data-testid": testid }, v)); }

async function renderOlder(before) {
  await refreshMonikers(false);
  const data = await api("/blocks?limit=50&before=" + encodeURIComponent(before));
  const rows = data.blocks.map((b) => h("tr", {},
    h("td", {}, link("#/block/" + b.height, "#" + fmtInt(b.height))),
    h("td", {}, when(b.time)),
    h("td", {}, validatorName(b.proposer)),
    h("td", { class: "num" }, String(b.num_txs)),
    h("td", { class: "hide-sm" }, link("#/block/" + b.hash, short(b.hash, 8), "mono"))));
  const lowest = data.blocks.length ? data.blocks[data.blocks.length - 1].height : null;
  view(h("h1", {}, "Blocks before #" + fmtInt(before)),
    table([["Height"], ["Time"], ["Proposer"], ["Txs", "num"], ["Hash", "hide-sm"]], rows),
    h("div", { class: "pager" }, link("#/", "← Latest"), lowest && BigInt(lowest) > 1n ? link("#/blocks/" + lowest, "Older →") : h("span")));
}

function txRow(t) {
  return h("tr", {},
    h("td", {}, link("#/tx/" + t.hash, short(t.hash, 8), "mono", "tx-link")),
    h("td", {}, t.kind),
    h("td", {}, addrLink(t.sender)),
    t.height !== undefined ? h("td", {}, link("#/block/" + t.height, "#" + fmtInt(t.height))) : null,
    h("td", { class: "num" }, t.fee ? fmtInt(t.fee) : "—"),
    h("td", {}, codeBadge(t.code)));
}

async function renderBlock(id) {
  await refreshMonikers(false);
  const b = await api("/blocks/" + encodeURIComponent(id));
  const flagBadge = (f) => f === "commit" ? badge("signed", "ok") : f === "nil" ? badge("voted nil", "warn") : badge("absent", "bad");
  const signed = b.signers.filter((s) => s.flag === "commit").length;
  const prev = BigInt(b.height) - 1n;
  view(
    h("h1", {}, h("span", {}, "Block #", h("span", { "data-testid": "block-height" }, fmtInt(b.height))),
      prev >= 1n ? link("#/block/" + prev, "← prev", "muted") : null,
      link("#/block/" + (BigInt(b.height) + 1n), "next →", "muted")),
    kv([
      ["Hash", mono(b.hash, null, "block-hash")],
      ["Time", when(b.time)],
      ["Proposer", h("span", {}, validatorName(b.proposer), " ", mono(b.proposer))],
      ["Transactions", String(b.txs.length)],
      ["Size", b.size.toLocaleString("en-US") + " bytes"],
      ["Chain", b.header.chain_id],
      ["Previous block", b.header.last_block_id.hash ? link("#/block/" + b.header.last_block_id.hash, b.header.last_block_id.hash, "mono") : "—"],
      ["App hash (before)", mono(b.header.app_hash)],
      ["App hash (after)", b.app_hash_after ? mono(b.app_hash_after) : "—"],
      ["Data hash", mono(b.header.data_hash)],
      ["Validators hash", mono(b.header.validators_hash)],
      ["Last commit hash", mono(b.header.last_commit_hash)],
    ]),
    h("h2", {}, "Transactions"),
    table([["Hash"], ["Type"], ["Sender"], ["Fee", "num"], ["Result"]], b.txs.map((t) => txRow({ ...t, height: undefined })), "No transactions in this block."),
    b.evidence.length ? [h("h2", {}, "Evidence"), evidenceTable(b.evidence)] : null,
    h("h2", {}, "Commit signers (" + signed + " of " + b.signers.length + ")"),
    table([["Validator"], ["Power", "num"], ["Vote"], ["Timestamp", "hide-sm"]], b.signers.map((s) => h("tr", {},
      h("td", {}, s.address ? validatorName(s.address) : "—"),
      h("td", { class: "num" }, s.power ? fmtInt(s.power) : "—"),
      h("td", {}, flagBadge(s.flag)),
      h("td", { class: "hide-sm" }, s.timestamp ? s.timestamp : "—"))), "The commit for this block is not available yet."));
}

function msgRows(msg, prefix) {
  const rows = [];
  for (const [k, v] of Object.entries(msg || {})) {
    const key = prefix ? prefix + "." + k : k;
    if (v && typeof v === "object" && !Array.isArray(v)) {
      if ("text" in v && Object.keys(v).length === 1) rows.push([key, h("span", { class: "pre" }, v.text)]);
      else if ("base64" in v && Object.keys(v).length === 1) rows.push([key + " (base64)", h("span", { class: "pre" }, v.base64)]);
      else rows.push(...msgRows(v, key));
    } else if (/^[0-9A-F]{40}$/.test(String(v))) rows.push([key, addrLink(String(v))]);
    else if (typeof v === "string" && /^[0-9]+$/.test(v)) rows.push([key, fmtInt(v)]);
    else rows.push([key, h("span", { class: "pre" }, typeof v === "string" ? v : JSON.stringify(v))]);
  }
  return rows;
}

async function renderTx(hash) {
  await refreshMonikers(false);
  const t = await api("/txs/" + encodeURIComponent(hash));
  view(
    h("h1", {}, "Transaction", h("span", { "data-testid": "tx-result" }, codeBadge(t.code))),
    kv([
      ["Hash", mono(t.hash, null, "tx-hash")],
      ["Block", link("#/block/" + t.height, "#" + fmtInt(t.height), null, "tx-block-link")],
      ["Position", String(t.index)],
      ["Time", t.time ? when(t.time) : "—"],
      ["Type", t.kind],
      ["Sender", addrLink(t.sender, "tx-sender-link")],
      ["Nonce", t.nonce],
      ["Fee", t.fee ? fmtInt(t.fee) : "—"],
      ["Size", t.size + " bytes"],
      t.code !== 0 ? ["Error", h("span", { class: "pre" }, (t.codespace ? t.codespace + ": " : "") + t.log)] : ["Log", t.log || "—"],
    ]),
    h("h2", {}, "Message"),
    kv(msgRows(t.msg).length ? msgRows(t.msg) : [["(no fields)", "—"]]),
    h("h2", {}, "Events"),
    table([["Type"], ["Attributes"]], (t.events || []).map((e) => h("tr", {},
      h("td", {}, badge(e.type, "muted")),
      h("td", {}, e.attributes.map((a) => h("div", {}, h("span", { class: "muted" }, a.key + " = "), /^[0-9A-F]{40}$/.test(a.value) ? addrLink(a.value) : h("span", { class: "mono" }, a.value)))))), "No events."));
}

async function renderAccount(addr) {
  await refreshMonikers(false);
  const a = await api("/accounts/" + encodeURIComponent(addr));
  view(
    h("h1", {}, "Account", a.validator_moniker ? badge("validator · " + a.validator_moniker, "ok") : null),
    h("div", { class: "cards" },
      card("Balance", fmtInt(a.balance), "account-balance"),
      card("Nonce", fmtInt(a.nonce), "account-nonce"),
      card("Delegated", fmtInt(a.delegated)),
      card("Unbonding", fmtInt(a.unbonding))),
    kv([["Address", mono(a.address, null, "account-address")]]),
    h("h2", {}, "Recent transactions"),
    table([["Hash"], ["Type"], ["Sender"], ["Block"], ["Fee", "num"], ["Result"]], a.txs.map(txRow), "No transactions involve this account."));
}

async function renderValidators() {
  const v = await api("/validators");
  await refreshMonikers(true);
  const rows = v.validators.map((x) => {
    const status = x.tombstoned ? badge("tombstoned", "bad") : x.jailed ? badge("jailed", "warn") : x.active ? badge("active", "ok") : badge("inactive", "muted");
    return h("tr", { "data-testid": "validator-row" },
      h("td", {}, h("strong", {}, x.moniker || "—")),
      h("td", {}, link("#/account/" + x.operator, short(x.operator), "mono")),
      h("td", { class: "hide-sm" }, mono(short(x.consensus_address), x.consensus_address)),
      h("td", { class: "num" }, fmtInt(x.stake)),
      h("td", { class: "num" }, fmtInt(x.power)),
      h("td", {}, h("div", { class: "bar", title: x.power_share_percent + "%" }, h("span", { style: "width:" + Math.min(100, x.power_share_percent) + "%" })),
        h("span", { class: "muted" }, x.power_share_percent.toFixed(2) + "%")),
      h("td", {}, status));
  });
  view(h("h1", {}, "Validators", badge(v.validators.length + " known", "muted"), badge("total power " + fmtInt(v.total_power), "muted")),
    table([["Moniker"], ["Operator"], ["Consensus address", "hide-sm"], ["Stake", "num"], ["Power", "num"], ["Share"], ["Status"]], rows, "No validators."));
}

function evidenceTable(list) {
  return table([["Type"], ["Validator"], ["Infraction height"], ["Included in"], ["Power"], ["Time", "hide-sm"]], list.map((e) => h("tr", {},
    h("td", {}, badge("duplicate vote", "bad")),
    h("td", {}, validatorName(e.validator)),
    h("td", {}, link("#/block/" + e.height, "#" + fmtInt(e.height)), " round " + e.round),
    h("td", {}, link("#/block/" + e.included_height, "#" + fmtInt(e.included_height))),
    h("td", {}, fmtInt(e.validator_power) + " / " + fmtInt(e.total_power)),
    h("td", { class: "hide-sm" }, e.time))), "No misbehaviour has been committed. Good.");
}

async function renderEvidence() {
  await refreshMonikers(false);
  const v = await api("/evidence");
  view(h("h1", {}, "Evidence"), h("p", { class: "muted" }, "Double-signing caught by validators and committed on chain; the offender is slashed, jailed and tombstoned."), evidenceTable(v.evidence));
}

// ---------- routing ----------
async function route() {
  const r = location.hash.replace(/^#/, "") || "/";
  state.route = r;
  const parts = r.split("/").filter(Boolean);
  for (const a of document.querySelectorAll(".tabs a")) {
    const tab = a.getAttribute("data-tab");
    a.classList.toggle("active", (tab === "home" && (parts.length === 0 || parts[0] === "blocks" || parts[0] === "block")) || tab === parts[0]);
  }
  try {
    if (parts.length === 0) { state.seenHeights.clear(); await renderHome(false); }
    else if (parts[0] === "blocks" && parts[1]) await renderOlder(parts[1]);
    else if (parts[0] === "block" && parts[1]) await renderBlock(parts[1]);
    else if (parts[0] === "tx" && parts[1]) await renderTx(parts[1]);
    else if (parts[0] === "account" && parts[1]) await renderAccount(parts[1]);
    else if (parts[0] === "validators") await renderValidators();
    else if (parts[0] === "evidence") await renderEvidence();
    else view(h("div", { class: "empty" }, "Unknown page. ", link("#/", "Go to the latest blocks.")));
  } catch (e) {
    if (state.route === r) view(errorBox(e), h("p", {}, link("#/", "← Latest blocks")));
  }
}

document.getElementById("search").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const input = document.getElementById("search-input");
  const q = input.value.trim();
  if (!q) return;
  try {
    const r = await api("/search?q=" + encodeURIComponent(q));
    location.hash = "#/" + r.kind + "/" + r.id;
    input.value = "";
  } catch (e) {
    view(errorBox(e), h("p", {}, link("#/", "← Latest blocks")));
  }
});

window.addEventListener("hashchange", route);
pollStatus().then(route);
setInterval(pollStatus, POLL_MS);
