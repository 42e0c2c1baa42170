// rzone console: plain JavaScript, no build step. Every figure comes from
// the serving node's /v1 API (which forwards as usual) and /v1/ui/series.
"use strict";

// ---- helpers ---------------------------------------------------------

const tokenKey = "rzone-token"; // sessionStorage: nothing outlives the tab

async function api(method, path, body) {
  const headers = {};
  const token = sessionStorage.getItem(tokenKey);
  if (token) headers["Authorization"] = "Bearer " + token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, {
    method, headers, cache: "no-store",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
  if (!resp.ok) {
    const msg = data && data.error ? data.error.code + ": " + data.error.message : resp.status + " " + text;
    const err = new Error(msg);
    err.status = resp.status;
    throw err;
  }
  return data;
}

// h builds an element: h("td", {class: "num"}, "12", child, ...).
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid === undefined || kid === null || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}

function money(minor) {
  if (minor === undefined || minor === null) return "";
  const neg = minor < 0;
  const v = Math.abs(minor);
  const s = Math.floor(v / 100).toLocaleString("en-US") + "." + String(v % 100).padStart(2, "0");
  return (neg ? "-" : "") + s;
}

function when(ts) {
  if (!ts) return "";
  const d = new Date(ts);
  if (isNaN(d)) return ts;
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

function secondsLeft(ts) {
  if (!ts) return null;
  return (new Date(ts).getTime() - Date.now()) / 1000;
}

function kv(pairs) {
  return h("dl", { class: "kv" }, pairs.filter(Boolean).map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

function table(cols, rows, attrs) {
  if (!rows.length) return h("div", { class: "empty" }, "none");
  return h("div", { class: "scroll" }, h("table", attrs || {},
    h("thead", {}, h("tr", {}, cols.map(c => h("th", { class: c.num ? "num" : null }, c.label)))),
    h("tbody", {}, rows.map(r => h("tr", r.attrs || {}, cols.map(c => h("td", { class: c.num ? "num" : null }, c.get(r))))))));
}

function ranges(nums) {
  const out = [];
  for (let i = 0; i < nums.length; i++) {
    let j = i;
    while (j + 1 < nums.length && nums[j + 1] === nums[j] + 1) j++;
    out.push(i === j ? String(nums[i]) : nums[i] + "–" + nums[j]);
    i = j;
  }
  return out.join(", ");
}

function showError(err) {
  const el = document.getElementById("error");
  if (!err) { el.hidden = true; el.textContent = ""; return; }
  el.hidden = false;
  el.textContent = String(err.message || err);
  if (err.status === 401 || err.status === 403) {
    el.textContent += " — this node wants an API token: type it in the field at the top right and press Enter.";
    document.getElementById("token").focus();
  }
}

function badge(text, cls) { return h("span", { class: "badge " + cls }, text); }

// confirmAction shows the confirmation dialog and resolves true on OK.
function confirmAction(title, text, ok) {
  const dlg = document.getElementById("confirm");
  document.getElementById("confirm-title").textContent = title;
  document.getElementById("confirm-text").textContent = text;
  document.getElementById("confirm-ok").textContent = ok;
  return new Promise(resolve => {
    dlg.addEventListener("close", () => resolve(dlg.returnValue === "ok"), { once: true });
    dlg.showModal();
  });
}

// ---- charts: SVG drawn by hand ----------------------------------------

const palette = ["#2463eb", "#c7302b", "#1a8a4a", "#c77700", "#6b46c1", "#0f8a8a", "#a23b72"];

// lineChart draws series [{name, points: [[t, v|null]]}] over the last
// spanMs milliseconds into a fresh element. data-max holds the largest
// value drawn and data-points the number of non-null points, for tests.
function lineChart(id, title, unit, series, spanMs) {
  const W = chartWidth(), H = 200, L = 44, R = 10, T = 10, B = 24;
  const now = Date.now(), t0 = now - spanMs;
  let max = 0, count = 0;
  for (const s of series) for (const [, v] of s.points) if (v !== null && v !== undefined) { max = Math.max(max, v); count++; }
  const top = niceCeil(max);
  const x = t => L + (W - L - R) * (t - t0) / spanMs;
  const y = v => T + (H - T - B) * (1 - v / top);
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("class", "chart");
  svg.setAttribute("id", id);
  svg.dataset.max = String(max);
  svg.dataset.points = String(count);
  const add = (tag, attrs, text) => {
    const el = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    if (text !== undefined) el.textContent = text;
    svg.append(el);
    return el;
  };
  for (let i = 0; i <= 4; i++) {
    const v = top * i / 4;
    add("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#e3e8ee" });
    add("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end" }, fmtNum(v));
  }
  for (let m = 0; m <= spanMs / 60000; m += Math.max(1, Math.round(spanMs / 60000 / 5))) {
    const t = now - m * 60000;
    add("text", { x: x(t), y: H - 6, "text-anchor": m === 0 ? "end" : "middle" }, m === 0 ? "now" : "-" + m + "m");
  }
  series.forEach((s, i) => {
    let d = "";
    let pen = false;
    for (const [t, v] of s.points) {
      if (t < t0 || v === null || v === undefined) { pen = false; continue; }
      d += (pen ? "L" : "M") + x(t).toFixed(1) + " " + y(v).toFixed(1);
      pen = true;
    }
    if (d) add("path", { d, fill: "none", stroke: s.color || palette[i % palette.length], "stroke-width": 1.8, "vector-effect": "non-scaling-stroke" });
  });
  return h("div", { class: "card" },
    h("div", { class: "card-head" }, h("h2", {}, title), h("span", { class: "muted" }, unit)),
    svg,
    h("div", { class: "legend" }, series.map((s, i) => h("span", {},
      h("i", { style: "background:" + (s.color || palette[i % palette.length]) }), s.name + " " + last(s.points)))));
}

// chartWidth is the width in pixels a chart gets in a card of the page's
// grid (see style.css), so that its text is drawn at its real size.
function chartWidth() {
  const narrow = window.innerWidth <= 600;
  const avail = Math.min(1400, window.innerWidth) - (narrow ? 20 : 32);
  const cols = narrow ? 1 : Math.max(1, Math.floor((avail + 12) / (340 + 12)));
  return Math.max(200, Math.floor((avail - 12 * (cols - 1)) / cols) - 30);
}

function last(points) {
  for (let i = points.length - 1; i >= 0; i--) if (points[i][1] !== null && points[i][1] !== undefined) return fmtNum(points[i][1]);
  return "–";
}

function niceCeil(v) {
  if (v <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function fmtNum(v) {
  if (v === null || v === undefined) return "–";
  if (Math.abs(v) >= 100) return Math.round(v).toLocaleString("en-US");
  if (Math.abs(v) >= 10) return v.toFixed(1).replace(/\.0$/, "");
  return v.toFixed(2).replace(/\.?0+$/, "") || "0";
}

// ---- pages -------------------------------------------------------------

// Each page is {title, render(view, args)} and may return a refresh
// function; the router calls it every second until the page changes.

function zoneCard(z, withLink) {
  const left = secondsLeft(z.lease_until);
  const lease = z.lease_valid
    ? h("span", { class: "good" }, "valid, " + (left === null ? "?" : Math.max(0, left).toFixed(1) + " s left"))
    : h("span", { class: "bad" }, "expired" + (z.lease_until ? " at " + when(z.lease_until) : ""));
  const f = z.failover;
  return h("section", { class: "card zone-card", "data-zone": z.zone, "data-phase": z.phase, "data-leader": z.leader || "" },
    h("div", { class: "card-head" },
      h("h2", {}, withLink ? h("a", { href: "#/zone/" + encodeURIComponent(z.zone) }, "Zone " + z.zone) : "Zone " + z.zone),
      badge(z.phase, "phase phase-" + z.phase)),
    kv([
      ["leader", z.leader ? z.leader + " (term " + z.term + ")" : h("span", { class: "bad" }, "none")],
      ["lease", lease],
      ["backup zone", z.backup || "–"],
      ["shards", z.shards.length + (z.shards.length ? " (" + ranges(z.shards) + ")" : "")],
      ["route epoch", z.epoch],
      ["last index", z.last_index],
      ["ready", z.ready ? "yes" : h("span", { class: "bad" }, "no")],
      f && [z.phase === "normal" ? "last failover store" : "failover store", (f.store || "–") + ", " + f.payments + " payments, " + money(f.amount)],
      z.guard_gap && ["guard", h("span", { class: "bad" }, "gap: marks may be missing")],
    ]),
    h("h3", {}, "Voters"),
    table([
      { label: "node", get: r => r.node },
      { label: "state", get: r => r.state },
      { label: "applied", num: true, get: r => r.applied_index },
      { label: "lag", num: true, get: r => r.lag_entries },
      { label: "contact ms", num: true, get: r => r.last_contact_ms ?? "never" },
    ], z.voters || []),
    h("h3", {}, "Async followers"),
    table([
      { label: "node", get: r => r.node },
      { label: "group", get: r => r.group },
      { label: "lag entries", num: true, get: r => r.lag_entries },
      { label: "lag ms", num: true, get: r => r.last_contact_ms ?? "never" },
      { label: "ready", get: r => r.ready ? "yes" : "no" },
    ], z.followers || [], { class: "followers" }));
}

const pages = {};

pages.cluster = {
  title: "Cluster",
  render(view) {
    const zones = h("div", { class: "grid", id: "zones" });
    const members = h("div", { id: "members" });
    view.append(h("h1", {}, "Cluster"), zones, h("h2", {}, "Gossip members"), members);
    return async () => {
      const [zl, ml] = await Promise.all([api("GET", "/v1/zones"), api("GET", "/v1/members")]);
      zones.replaceChildren(...zl.zones.map(z => zoneCard(z, true)));
      const list = (ml.members || []).slice().sort((a, b) => a.id.localeCompare(b.id));
      members.replaceChildren(h("div", { class: "card" },
        h("div", { class: "muted" }, "failure detection within " + ml.detection_time_ms + " ms"),
        table([
          { label: "node", get: m => m.id },
          { label: "zone", get: m => m.zone },
          { label: "state", get: m => h("span", { class: m.state === "alive" ? "good" : "bad" }, m.state) },
          { label: "roles", get: m => (m.roles || []).join(", ") },
          { label: "api", get: m => m.http_addr },
          { label: "since", get: m => when(m.since) },
        ], list, { id: "members-table" })));
    };
  },
};

// phaseLog remembers, per zone, the phases this tab has seen and when.
const phaseLog = {};

function notePhase(z) {
  const log = phaseLog[z.zone] || (phaseLog[z.zone] = []);
  if (!log.length || log[log.length - 1].phase !== z.phase) log.push({ phase: z.phase, at: new Date().toISOString() });
}

pages.zone = {
  title: "Zone",
  render(view, args) {
    let name = args[0];
    const head = h("div", {});
    const body = h("div", {});
    view.append(head, body);
    return async () => {
      const zl = await api("GET", "/v1/zones");
      zl.zones.forEach(notePhase);
      if (!name && zl.zones.length) name = zl.zones[0].zone;
      const names = zl.zones.map(z => z.zone).join(",");
      if (head.dataset.names !== names) head.replaceChildren(h("h1", {}, "Zone ", h("select", {
        id: "zone-select", onchange: e => { location.hash = "#/zone/" + encodeURIComponent(e.target.value); },
      }, zl.zones.map(z => h("option", { value: z.zone, selected: z.zone === name }, z.zone)))));
      head.dataset.names = names;
      const z = zl.zones.find(z => z.zone === name);
      if (!z) { body.replaceChildren(h("div", { class: "empty" }, "no zone " + name)); return; }
      const left = secondsLeft(z.lease_until);
      const leaseText = z.lease_valid ? "valid, " + Math.max(0, left).toFixed(1) + " s left, held by " + (z.leader || "nobody") : "expired";
      const failover = h("button", {
        class: "danger", id: "failover-btn", disabled: z.phase !== "normal",
        onclick: async () => {
          if (!await confirmAction("Fail over zone " + z.zone + "?",
            "Zone " + z.zone + "'s lease is " + leaseText + ". Its shards go to a failover store in zone " + z.backup +
            " once the lease has run out; the zone serves nothing until it is recovered.", "Fail over zone " + z.zone)) return;
          // The operator confirmed with the lease shown: a zone that holds
          // it is failed over by force.
          await act(() => api("POST", "/v1/zones/" + encodeURIComponent(z.zone) + "/failover?wait=0s" + (z.lease_valid ? "&force=true" : "")));
        },
      }, "Fail over…");
      const recover = h("button", {
        class: "primary", id: "recover-btn", disabled: z.phase !== "failover",
        onclick: async () => {
          if (!await confirmAction("Recover zone " + z.zone + "?",
            "Zone " + z.zone + " is in phase " + z.phase + " and its lease is " + leaseText +
            ". Recovery reconciles the failover store's payments into the zone and hands its shards back.", "Recover zone " + z.zone)) return;
          await act(() => api("POST", "/v1/zones/" + encodeURIComponent(z.zone) + "/recover?wait=0s"));
        },
      }, "Recover…");
      const f = z.failover;
      const steps = f ? [
        ["started", f.started], ["lease end", f.lease_until], ["promoted", f.promoted],
        ["recovering", f.recovering], ["recovered", f.recovered],
      ] : [];
      const rep = f && f.report;
      body.replaceChildren(
        h("div", { class: "grid" },
          zoneCard(z, false),
          h("section", { class: "card" },
            h("h2", {}, "Failover"),
            h("div", { class: "actions" }, failover, recover),
            f ? [
              h("h3", {}, "Timeline" + (f.auto ? " (automatic)" : "")),
              h("ul", { class: "timeline", id: "timeline" }, steps.map(([label, ts]) =>
                h("li", { class: ts ? "done" : "", "data-step": label }, label, h("span", { class: "when" }, ts ? when(ts) : "–")))),
              kv([
                ["store", f.store || "–"], ["seeded from", f.seed || "–"],
                ["blacklist", f.blacklist], ["isolated", (f.isolated || []).length],
                ["store payments", h("span", { id: "store-payments" }, f.payments)],
                ["store amount", h("span", { id: "store-amount" }, money(f.amount))], ["voided", f.voided],
              ]),
            ] : h("div", { class: "empty" }, "no failover recorded for this zone"),
            h("h3", {}, "Phases seen by this tab"),
            h("ul", { class: "timeline", id: "phase-log" }, (phaseLog[z.zone] || []).map(p =>
              h("li", { class: "done", "data-phase": p.phase }, p.phase, h("span", { class: "when" }, when(p.at)))))),
          h("section", { class: "card", id: "report" },
            h("h2", {}, "Last reconciliation"),
            rep ? [
              kv([["shards", rep.shards], ["taken", rep.taken], ["kept", rep.kept], ["merged", rep.merged],
                ["unmerged", rep.unmerged || 0], ["duration", rep.duration_ms + " ms"],
                ["violations", (rep.violations || []).length ? h("span", { class: "bad" }, rep.violations.join(", ")) : "none"]]),
              h("h3", {}, "Voided payments"),
              table([
                { label: "user", get: r => r.user }, { label: "key", get: r => r.key },
                { label: "amount", num: true, get: r => money(r.amount) },
                { label: "zone amount", num: true, get: r => money(r.zone_amount) },
              ], rep.voided || []),
              h("h3", {}, "Contradicted keys"),
              table([
                { label: "user", get: r => r.user }, { label: "key", get: r => r.key },
                { label: "zone", get: r => r.zone.status + " " + money(r.zone.amount) + " @" + r.zone.index },
                { label: "store", get: r => r.store.status + " " + money(r.store.amount) + " @" + r.store.index },
              ], rep.contradicted || [], { id: "contradicted" }),
            ] : h("div", { class: "empty" }, "no reconciliation yet"))));
    };
  },
};

async function act(f) {
  try { await f(); showError(null); await refreshNow(); } catch (e) { showError(e); }
}

// limitLog keeps, per run, the concurrency limit seen at each poll.
const limitLog = {};

function thisCycle() {
  const d = new Date();
  return d.getUTCFullYear() + String(d.getUTCMonth() + 1).padStart(2, "0");
}

pages.runs = {
  title: "Runs",
  render(view) {
    const list = h("div", { class: "grid", id: "runs" });
    const form = h("form", { class: "inline", id: "run-form", onsubmit: async e => {
      e.preventDefault();
      const job = form.querySelector("#run-job").value, cycle = form.querySelector("#run-cycle").value.trim();
      await act(() => api("POST", "/v1/jobs/" + encodeURIComponent(job) + "/runs", { cycle }));
    } },
      h("label", {}, "Job ", h("select", { id: "run-job" }, ["statement", "reminder", "autodebit"].map(j => h("option", { value: j }, j)))),
      h("label", {}, "Cycle ", h("input", { id: "run-cycle", value: thisCycle(), size: 7, pattern: "[0-9]{6}", title: "YYYYMM" })),
      h("button", { class: "primary", id: "run-start" }, "Start run"));
    view.append(h("h1", {}, "Batch runs"), form, list);
    return async () => {
      const [rl, series] = await Promise.all([api("GET", "/v1/runs"), api("GET", "/v1/ui/series").catch(() => null)]);
      const runs = (rl.runs || []).slice().sort((a, b) => b.id - a.id);
      const now = Date.now();
      for (const r of runs) {
        const log = limitLog[r.id] || (limitLog[r.id] = []);
        if (r.state === "running" || !log.length) log.push([now, r.limit]);
      }
      // The node's samples reach back before this tab was opened.
      for (const p of (series && series.points) || []) {
        for (const [id, limit] of Object.entries(p.limits || {})) {
          const log = limitLog[id] || (limitLog[id] = []);
          if (!log.some(q => Math.abs(q[0] - p.t) < 500)) log.push([p.t, limit]);
        }
      }
      for (const log of Object.values(limitLog)) log.sort((a, b) => a[0] - b[0]);
      list.replaceChildren(...(runs.length ? runs.map(runCard) : [h("div", { class: "empty" }, "no runs yet")]));
    };
  },
};

function runCard(r) {
  const pct = r.users_total > 0 ? Math.min(100, Math.floor(100 * r.users_done / r.users_total)) : (r.state === "done" ? 100 : 0);
  const stat = (label, v, cls) => h("span", { class: cls }, label + " ", h("b", {}, v));
  const log = limitLog[r.id] || [];
  const span = Math.max(60000, log.length ? Date.now() - log[0][0] : 0);
  return h("section", { class: "card run-card", "data-run": r.id, "data-state": r.state, "data-pct": pct },
    h("div", { class: "card-head" }, h("h2", {}, "#" + r.id + " " + r.job + " " + r.cycle), badge(r.state, "st-" + r.state)),
    h("div", { class: "progress" + (pct === 100 ? " done" : "") }, h("div", { style: "width:" + pct + "%" })),
    h("div", { class: "stats" },
      stat("users", r.users_done + " / " + r.users_total + " (" + pct + " %)"),
      stat("tasks", r.tasks_done + " / " + r.tasks_total),
      stat("open", r.tasks_open), stat("leased", r.tasks_leased),
      h("span", { class: "users-per-s" }, "users/s ", h("b", {}, fmtNum(r.users_per_second))),
      stat("limit", r.state === "running" ? r.limit : "–"),
      stat("failures", r.failures, r.failures ? "bad" : ""), stat("gen failures", r.gen_failures, r.gen_failures ? "bad" : ""),
      stat("expired", r.expired), stat("fenced", r.fenced, r.fenced ? "bad" : ""), stat("skipped", r.skipped),
      r.gray && stat("gray", r.gray_active ? "active" : "done")),
    kv([["created", when(r.created_at)], r.finished_at && ["finished", when(r.finished_at)]]),
    lineChart("limit-" + r.id, "Concurrency limit", "tasks in flight", [{ name: "limit", points: log }], span),
    r.state === "running" && h("div", { class: "actions" }, h("button", {
      class: "danger cancel-run", onclick: async () => {
        if (!await confirmAction("Cancel run #" + r.id + "?", r.job + " for " + r.cycle + ": " + r.users_done + " of " + r.users_total +
          " users done. Tasks not yet leased are dropped.", "Cancel run #" + r.id)) return;
        await act(() => api("POST", "/v1/runs/" + r.id + "/cancel"));
      },
    }, "Cancel…")));
}

pages.account = {
  title: "Account",
  render(view, args) {
    const out = h("div", { id: "account" });
    const form = h("form", { class: "inline", onsubmit: e => {
      e.preventDefault();
      location.hash = "#/account/" + encodeURIComponent(form.querySelector("#user").value.trim());
    } }, h("label", {}, "User ", h("input", { id: "user", value: args[0] || "", inputmode: "numeric", size: 12 })),
      h("button", { class: "primary", id: "lookup" }, "Look up"));
    view.append(h("h1", {}, "Account"), form, out);
    if (args[0]) showAccount(out, args[0]);
    return null; // an account is read once per lookup, not every second
  },
};

async function showAccount(out, user) {
  const u = encodeURIComponent(user);
  let acct;
  try {
    acct = await api("GET", "/v1/accounts/" + u);
  } catch (e) {
    out.replaceChildren(h("div", { class: "card bad" }, e.message));
    return;
  }
  const [bills, notes] = await Promise.all([
    api("GET", "/v1/accounts/" + u + "/bills").catch(e => ({ error: e })),
    api("GET", "/v1/accounts/" + u + "/notifications").catch(e => ({ error: e })),
  ]);
  const payments = h("div", { id: "payments" });
  const repayOut = h("div", { id: "repayment" });
  const repayForm = h("form", { class: "inline", onsubmit: async e => {
    e.preventDefault();
    const key = repayForm.querySelector("input").value.trim();
    try {
      const r = await api("GET", "/v1/accounts/" + u + "/repayments/" + encodeURIComponent(key));
      repayOut.replaceChildren(kv([["key", r.key], ["amount", money(r.amount)], ["status", r.status], ["cycle", r.cycle || "oldest first"],
        ["allocations", (r.allocations || []).map(a => a.cycle + ": " + money(a.amount)).join(", ") || "–"], ["at", when(r.created_at)]]));
    } catch (err) { repayOut.replaceChildren(h("div", { class: "bad" }, err.message)); }
  } }, h("input", { placeholder: "repayment key", size: 18 }), h("button", {}, "Find repayment"));
  out.replaceChildren(
    h("div", { class: "grid" },
      h("section", { class: "card", id: "account-figures" },
        h("h2", {}, "User " + acct.user + (acct.isolated ? " (isolated: may be stale until reconciled)" : "")),
        kv([["credit limit", money(acct.credit_limit)], ["used", money(acct.used)], ["pending", money(acct.pending)],
          ["available", money(acct.available)], ["accepted", money(acct.accepted)], ["repaid", money(acct.repaid)],
          ["created", when(acct.created_at)], ["updated", when(acct.updated_at)]])),
      h("section", { class: "card" }, h("h2", {}, "Repayments"),
        h("div", { class: "muted" }, "Repaid in total: " + money(acct.repaid) + ". Look one up by its key:"),
        repayForm, repayOut)),
    h("section", { class: "card" }, h("h2", {}, "Bills by cycle"),
      bills.error ? h("div", { class: "bad" }, bills.error.message) : table([
        { label: "cycle", get: b => b.cycle }, { label: "status", get: b => b.status },
        { label: "principal", num: true, get: b => money(b.principal) }, { label: "fees", num: true, get: b => money(b.fees) },
        { label: "paid", num: true, get: b => money(b.paid) }, { label: "outstanding", num: true, get: b => money(b.outstanding) },
        { label: "payments", num: true, get: b => b.payments }, { label: "due", get: b => b.due_date },
        { label: "statement", get: b => b.statement_at ? money(b.statement) + " at " + when(b.statement_at) : "–" },
      ], (bills.bills || []).map(b => Object.assign({ attrs: { "data-cycle": b.cycle } }, b)), { id: "bills" })),
    h("section", { class: "card" }, h("h2", {}, "Payments"), payments),
    h("section", { class: "card" }, h("h2", {}, "Notifications"),
      notes.error ? h("div", { class: "bad" }, notes.error.message) : table([
        { label: "key", get: n => n.key }, { label: "job", get: n => n.job }, { label: "cycle", get: n => n.cycle },
        { label: "amount", num: true, get: n => money(n.amount) }, { label: "due", get: n => n.due_date },
        { label: "created", get: n => when(n.created_at) },
        { label: "delivery", get: n => n.delivered_at ? h("span", { class: "good" }, "delivered " + when(n.delivered_at)) : h("span", { class: "muted" }, "pending") },
      ], notes.notifications || [], { id: "notifications" })));
  await loadPayments(payments, u, "");
}

const pageSize = 20;

async function loadPayments(box, u, after) {
  let pl;
  try {
    pl = await api("GET", "/v1/accounts/" + u + "/payments?limit=" + pageSize + (after ? "&after=" + encodeURIComponent(after) : ""));
  } catch (e) {
    box.replaceChildren(h("div", { class: "bad" }, e.message));
    return;
  }
  box.replaceChildren(
    table([
      { label: "key", get: p => p.key }, { label: "amount", num: true, get: p => money(p.amount) },
      { label: "merchant", get: p => p.merchant }, { label: "status", get: p => p.status },
      { label: "cycle", get: p => p.cycle }, { label: "created", get: p => when(p.created_at) },
      { label: "posted", get: p => when(p.posted_at) },
    ], (pl.payments || []).map(p => Object.assign({ attrs: { "data-key": p.key } }, p)), { id: "payments-table" }),
    h("div", { class: "actions" },
      after && h("button", { onclick: () => loadPayments(box, u, "") }, "First page"),
      pl.next && h("button", { id: "payments-next", onclick: () => loadPayments(box, u, pl.next) }, "Next page")));
}

const lagColors = {};

pages.charts = {
  title: "Live charts",
  render(view) {
    const box = h("div", { class: "grid", id: "charts" });
    view.append(h("h1", {}, "Live charts ", h("span", { class: "muted" }, "last 10 minutes, sampled by this node each second")), box);
    return async () => {
      const s = await api("GET", "/v1/ui/series");
      const pts = s.points || [];
      const span = 10 * 60 * 1000;
      const lagSeries = key => (s.zones || []).map((z, i) => ({
        name: "zone " + z, color: palette[i % palette.length],
        points: pts.map(p => [p.t, p.lag && p.lag[z] ? p.lag[z][key] : null]),
      }));
      box.replaceChildren(
        lineChart("chart-payments", "Payments/s", "cluster-wide", [{ name: "payments/s", points: pts.map(p => [p.t, p.payments_per_s]) }], span),
        lineChart("chart-latency", "Apply latency", "ms", [
          { name: "p50", points: pts.map(p => [p.t, p.apply_p50_ms]) },
          { name: "p99", points: pts.map(p => [p.t, p.apply_p99_ms]) }], span),
        lineChart("chart-lag", "Follower lag", "entries, worst async follower per zone", lagSeries("entries"), span),
        lineChart("chart-lag-ms", "Follower contact", "ms since a follower last heard from its leader", lagSeries("ms"), span));
    };
  },
};

// ---- router ------------------------------------------------------------

let refresh = null, timer = null, generation = 0, busy = false;

// refreshNow runs the page's refresh unless one is still under way.
async function refreshNow() {
  if (!refresh || busy) return;
  const gen = generation;
  busy = true;
  try {
    await refresh();
    if (gen === generation) showError(null);
  } catch (e) {
    if (gen === generation) showError(e);
  } finally {
    busy = false;
  }
}

function route() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  const name = pages[parts[0]] ? parts[0] : "cluster";
  generation++;
  clearInterval(timer);
  showError(null);
  for (const a of document.querySelectorAll("header nav a")) a.classList.toggle("active", a.dataset.page === name);
  const view = document.getElementById("view");
  view.replaceChildren();
  view.dataset.page = name;
  document.title = pages[name].title + " · rzone";
  refresh = pages[name].render(view, parts.slice(1));
  if (refresh) {
    refreshNow();
    timer = setInterval(refreshNow, 1000);
  }
}

document.getElementById("node").textContent = "served by " + location.host;
document.getElementById("token").value = sessionStorage.getItem(tokenKey) || "";
document.getElementById("token-form").addEventListener("submit", e => {
  e.preventDefault();
  const v = document.getElementById("token").value.trim();
  if (v) sessionStorage.setItem(tokenKey, v); else sessionStorage.removeItem(tokenKey);
  refreshNow();
});
window.addEventListener("hashchange", route);
route();
