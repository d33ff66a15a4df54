// minisip4fb's dashboard script: fills the call list from /api/calls, keeps
// it live from /events (server-sent events) and sends the actions. Caller
// data only ever goes into textContent, never into HTML.
"use strict";

const T = JSON.parse(document.getElementById("i18n").textContent);
const t = (key) => T[key] || key;
const body = document.body;
const lang = document.documentElement.lang || "en";

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function say(text, bad) {
  const m = document.getElementById("msg");
  if (!m) return;
  m.textContent = text;
  m.className = bad ? "error" : "ok";
}

async function post(url, data) {
  const r = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(data),
  });
  let answer = {};
  try {
    answer = await r.json();
  } catch (e) {
    answer = { error: r.statusText };
  }
  if (!r.ok) throw new Error(answer.error || String(r.status));
  return answer;
}

// --- the call list -----------------------------------------------------

const calls = document.getElementById("calls");

// The filters as the form holds them: blocked only, rule, one day (the
// browser's local day, sent as an RFC 3339 range).
function filters() {
  const f = document.getElementById("filters");
  const date = f.elements.date.value;
  let since = null;
  let until = null;
  if (date) {
    const start = new Date(date + "T00:00:00");
    since = start.toISOString();
    until = new Date(start.getTime() + 86400000).toISOString();
  }
  return {
    blocked: f.elements.blocked.checked,
    rule: f.elements.rule.value,
    since: since,
    until: until,
  };
}

// Kept from the household: everything but ring and answer (Action::blocks).
const blocks = (rec) => rec.decision !== "ring" && rec.decision !== "answer";

function wanted(rec, f) {
  if (f.blocked && !blocks(rec)) return false;
  if (f.rule && rec.rule !== f.rule) return false;
  const at = Date.parse(rec.time);
  if (f.since && at < Date.parse(f.since)) return false;
  if (f.until && at >= Date.parse(f.until)) return false;
  return true;
}

const key = (rec) => rec.time + "|" + (rec.caller || "");

function number(rec) {
  return rec.caller_e164 || rec.caller;
}

function when(rec) {
  const d = new Date(rec.time);
  return isNaN(d) ? rec.time : d.toLocaleString(lang, { dateStyle: "short", timeStyle: "medium" });
}

function fill(tr, rec) {
  tr.replaceChildren();
  tr.dataset.key = key(rec);
  tr.className = blocks(rec) ? "blocked" : "rang";
  tr.append(el("td", "time", when(rec)));
  const who = el("td", "who");
  // The number as people read it (the server's one rendering: `shown`).
  who.append(el("span", "number", rec.shown || t("who.anonymous")));
  if (rec.name && rec.name !== rec.caller) who.append(el("span", "name", rec.name));
  tr.append(who);
  const called = el("td", "called", rec.called || "");
  // With several accounts, the line the call came in on.
  if (rec.account && Number(document.querySelector("#calls")?.dataset.accounts) > 1) {
    called.append(el("span", "line", rec.account));
  }
  tr.append(called);
  const why = el("td", "decision");
  // The call log's words in the page's language (`shown_…`, asked for
  // with `lang=`), else as they are.
  why.append(el("span", "badge d-" + rec.decision, rec.shown_decision || rec.decision));
  if (rec.log_only) {
    why.append(el("small", "", " (" + t("log_only_short") + ": " + (rec.shown_action || rec.action) + ")"));
  }
  why.append(el("span", "reason", rec.shown_reason || rec.reason));
  tr.append(why);
  tr.append(el("td", "outcome", rec.shown_outcome || rec.outcome || t("running")));
  tr.append(el("td", "n", rec.bye_ms == null ? "" : rec.bye_ms.toFixed(1) + " ms"));
  const act = el("td", "actions");
  const n = number(rec);
  // Nothing to do about another phone of the Box (`**622`); a contact of
  // the Box's phonebook is neither blocked, reported nor added again.
  if (n && rec.class !== "internal") {
    const button = (what, label, run) => {
      const b = el("button", what, t(label));
      b.type = "button";
      b.dataset.action = what;
      b.addEventListener("click", () => run(rec, b));
      act.append(b);
    };
    if (body.dataset.block && !rec.contact) button("block", "block", block);
    if (body.dataset.allow) button("allow", "allow", allow);
    if (body.dataset.report && !rec.contact) button("report", "report", openReport);
    if (body.dataset.phonebook && !rec.contact) button("phonebook", "to_phonebook", openBook);
  }
  tr.append(act);
  return tr;
}

function show(rec, f) {
  if (!wanted(rec, f)) return;
  const tbody = calls.tBodies[0];
  const old = Array.from(tbody.rows).find((r) => r.dataset.key === key(rec));
  if (old) {
    fill(old, rec);
  } else {
    tbody.prepend(fill(el("tr"), rec));
  }
  document.getElementById("empty").hidden = tbody.rows.length > 0;
}

// Calls heard live while the list loads: shown once it is in, so that a
// call logged between the list's query and its arrival is not lost.
let arriving = null;

async function load() {
  arriving = [];
  try {
    await fetchList();
  } finally {
    const heard = arriving;
    arriving = null;
    for (const rec of heard) show(rec, filters());
  }
}

async function fetchList() {
  const f = filters();
  const q = new URLSearchParams({ limit: "200", lang: lang });
  if (f.blocked) q.set("blocked", "true");
  if (f.rule) q.set("rule", f.rule);
  if (f.since) q.set("since", f.since);
  if (f.until) q.set("until", f.until);
  const r = await fetch("/api/calls?" + q, { credentials: "same-origin" });
  const list = await r.json();
  if (!r.ok) {
    say(list.error || r.statusText, true);
    return;
  }
  calls.tBodies[0].replaceChildren();
  for (const rec of list) show(rec, f);
  document.getElementById("empty").hidden = list.length > 0;
}

function live() {
  const dot = document.getElementById("live");
  const es = new EventSource("/events?lang=" + encodeURIComponent(lang));
  es.addEventListener("open", () => {
    dot.textContent = t("live");
    dot.className = "live on";
  });
  es.addEventListener("error", () => {
    dot.textContent = t("offline");
    dot.className = "live off";
  });
  for (const kind of ["call", "call_ended", "terminated"]) {
    es.addEventListener(kind, (e) => {
      const rec = JSON.parse(e.data);
      if (arriving) arriving.push(rec);
      else show(rec, filters());
    });
  }
}

async function block(rec, button) {
  const bar = document.getElementById("bar-too");
  button.disabled = true;
  try {
    const a = await post("/api/block", {
      number: rec.caller || number(rec),
      bar: !!(bar && bar.checked),
    });
    say(a.number + " " + t("blocked_into") + " " + a.list);
  } catch (e) {
    say(t("block") + ": " + t("failed") + ": " + e.message, true);
  } finally {
    button.disabled = false;
  }
}

async function allow(rec, button) {
  button.disabled = true;
  try {
    const a = await post("/api/allow", { number: rec.caller || number(rec) });
    say(a.number + " " + t("allowed_into") + " " + a.list);
  } catch (e) {
    say(t("allow") + ": " + t("failed") + ": " + e.message, true);
  } finally {
    button.disabled = false;
  }
}

function dialog(id, rec, done) {
  const d = document.getElementById(id);
  d.querySelector(".number").textContent = number(rec) + (rec.name ? " (" + rec.name + ")" : "");
  d.onclose = () => {
    if (d.returnValue === "ok") done(d.querySelector("form").elements);
  };
  d.returnValue = "";
  d.showModal();
  return d;
}

function openReport(rec) {
  dialog("report-dialog", rec, async (f) => {
    try {
      const a = await post("/api/report", {
        number: number(rec),
        rating: f.rating.value,
        comment: f.comment.value,
      });
      say(a.number + ": " + t("reported") + " (" + t("rating." + a.rating) + ")");
    } catch (e) {
      say(t("report") + ": " + t("failed") + ": " + e.message, true);
    }
  });
}

let books = null;

async function openBook(rec) {
  const d = document.getElementById("book-dialog");
  const f = d.querySelector("form").elements;
  f.name.value = rec.name || "";
  if (books === null) {
    try {
      const r = await fetch("/api/phonebooks", { credentials: "same-origin" });
      const list = await r.json();
      if (!r.ok) throw new Error(list.error || r.statusText);
      books = list;
      f.book.replaceChildren(...books.map((b) => {
        const o = el("option", "", b.name);
        o.value = b.id;
        return o;
      }));
    } catch (e) {
      say(t("to_phonebook") + ": " + t("failed") + ": " + e.message, true);
      return;
    }
  }
  dialog("book-dialog", rec, async (f) => {
    try {
      const a = await post("/api/phonebook", {
        number: rec.caller || number(rec),
        name: f.name.value,
        book: f.book.value,
      });
      say(a.number + ": " + t("added"));
    } catch (e) {
      say(t("to_phonebook") + ": " + t("failed") + ": " + e.message, true);
    }
  });
}

// --- the status page: shown again when the registration changes ----------

function status() {
  const toggle = document.getElementById("shield-toggle");
  toggle.addEventListener("click", async () => {
    toggle.disabled = true;
    try {
      await post("/api/shield", { on: !toggle.dataset.on });
      location.reload();
    } catch (e) {
      toggle.disabled = false;
      toggle.textContent = t("shield") + ": " + t("failed") + ": " + e.message;
    }
  });
  for (const b of document.querySelectorAll("button.door-open")) {
    b.addEventListener("click", async () => {
      b.disabled = true;
      try {
        await post("/api/doors/open", { rule: b.dataset.rule });
        location.reload();
      } catch (e) {
        b.disabled = false;
        b.textContent = t("doors.open") + ": " + t("failed") + ": " + e.message;
      }
    });
  }
  for (const b of document.querySelectorAll("button.pass-keep, button.pass-remove")) {
    const keep = b.classList.contains("pass-keep");
    b.addEventListener("click", async () => {
      b.disabled = true;
      try {
        await post(keep ? "/api/passes/keep" : "/api/passes/remove", { number: b.dataset.number });
        location.reload();
      } catch (e) {
        b.disabled = false;
        b.textContent = t(keep ? "passes.keep" : "passes.remove") + ": " + t("failed") + ": " + e.message;
      }
    });
  }
  const es = new EventSource("/events");
  const kinds = ["registered", "registration_lost", "registration_restored", "call_not_delivered", "phoneblock_synced", "door_locked", "challenge_passed"];
  for (const kind of kinds) {
    es.addEventListener(kind, () => location.reload());
  }
}

if (body.dataset.page === "calls") {
  // Live first, then the list: nothing logged in between is missed (the
  // rows are keyed, so a call in both is shown once).
  live();
  load();
} else if (body.dataset.page === "status") {
  status();
}
