// The dra status page: polls the admin API every second (/v1/peers,
// /v1/routes, /v1/stats and /metrics) and draws the peer table, the rates,
// the Result-Codes and the latency chart. No framework, no build step.
'use strict';

const POLL_MS = 1000;
const WINDOW_MS = 5000; // rates and quantiles over the last 5 s
const HISTORY_MS = 120000; // the latency chart
const TOKEN_KEY = 'dra.admin.token';

let token = sessionStorage.getItem(TOKEN_KEY) || '';
let samples = []; // {t: agent clock in ms, m: parsed /metrics, s: /v1/stats}
let latency = []; // {t, p50, p99, a50, a99} in seconds
let routesAt = 0;
let identity = '';
let polls = 0;

class Unauthorized extends Error {}

const $ = (sel) => document.querySelector(sel);

// el builds an element; text is set with textContent, never parsed as HTML
// (peer identities and error messages come from the network).
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function td(text, cls) { return el('td', cls, text); }

// get fetches an admin endpoint with the token, if any; the agent's clock
// (X-Dra-Time, ms) times the sample so that rates do not depend on the
// browser's timers.
async function get(path, as) {
  const headers = {};
  if (token) headers.Authorization = 'Bearer ' + token;
  const r = await fetch(path, { headers, cache: 'no-store' });
  if (r.status === 401) throw new Unauthorized(path);
  if (!r.ok) {
    const e = new Error(path + ': ' + r.status);
    e.status = r.status;
    throw e;
  }
  const t = Number(r.headers.get('X-Dra-Time')) || Date.now();
  return { t, body: as === 'text' ? await r.text() : await r.json() };
}

// parseMetrics reads the Prometheus text format: name -> [{l, v}].
function parseMetrics(text) {
  const out = new Map();
  const lineRe = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
  const labelRe = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  for (const line of text.split('\n')) {
    if (!line.startsWith('dra_')) continue;
    const m = lineRe.exec(line);
    if (!m) continue;
    const l = {};
    if (m[2]) {
      labelRe.lastIndex = 0;
      let p;
      while ((p = labelRe.exec(m[2])) !== null) {
        l[p[1]] = p[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
      }
    }
    if (!out.has(m[1])) out.set(m[1], []);
    out.get(m[1]).push({ l, v: Number(m[3]) });
  }
  return out;
}

// sumBy adds the series of name that pass keep, by key(labels).
function sumBy(m, name, key, keep) {
  const out = new Map();
  for (const s of (m && m.get(name)) || []) {
    if (keep && !keep(s.l)) continue;
    const k = key ? key(s.l) : '';
    out.set(k, (out.get(k) || 0) + s.v);
  }
  return out;
}

// base is the oldest sample of the rate window before the newest.
function base() {
  const cur = samples[samples.length - 1];
  for (const s of samples) {
    if (s !== cur && cur.t - s.t <= WINDOW_MS + POLL_MS / 2) return s;
  }
  return samples.length > 1 ? samples[samples.length - 2] : null;
}

// rates turns two sums into per-second rates (a counter that went down,
// after a restart, counts from zero).
function rates(curMap, baseMap, dt) {
  const out = new Map();
  for (const [k, v] of curMap) {
    const b = baseMap.get(k) || 0;
    out.set(k, ((v >= b ? v - b : v) * 1000) / dt);
  }
  return out;
}

function rateOf(name, key, keep) {
  const cur = samples[samples.length - 1];
  const b = base();
  if (!cur || !b || !cur.m || !b.m || cur.t <= b.t) return null;
  return rates(sumBy(cur.m, name, key, keep), sumBy(b.m, name, key, keep), cur.t - b.t);
}

function total(map) {
  if (!map) return null;
  let s = 0;
  for (const v of map.values()) s += v;
  return s;
}

// quantile interpolates like PromQL's histogram_quantile over the bucket
// increases of the window.
function quantile(q, name, keep) {
  const r = rateOf(name, (l) => l.le, keep);
  if (!r) return null;
  const b = [...r].map(([le, v]) => [le === '+Inf' ? Infinity : Number(le), v]).sort((x, y) => x[0] - y[0]);
  if (!b.length) return null;
  const n = b[b.length - 1][1];
  if (!(n > 0)) return null;
  const rank = q * n;
  let prevLe = 0, prevC = 0;
  for (const [le, c] of b) {
    if (c >= rank) {
      if (le === Infinity) return prevLe;
      if (c === prevC) return le;
      return prevLe + ((le - prevLe) * (rank - prevC)) / (c - prevC);
    }
    prevLe = le;
    prevC = c;
  }
  return prevLe;
}

function fmtRate(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return '–';
  if (v >= 10000) return (v / 1000).toFixed(1) + 'k';
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

function fmtDur(s) {
  if (s === null || s === undefined || Number.isNaN(s)) return '–';
  if (s >= 1) return s.toFixed(2) + ' s';
  if (s >= 0.001) return (s * 1000).toFixed(s >= 0.1 ? 0 : 1) + ' ms';
  return (s * 1e6).toFixed(0) + ' µs';
}

function fmtSince(iso, now) {
  if (!iso) return '';
  const d = Math.max(0, (now - Date.parse(iso)) / 1000);
  if (d < 60) return Math.floor(d) + 's';
  if (d < 3600) return Math.floor(d / 60) + 'm ' + Math.floor(d % 60) + 's';
  if (d < 86400) return Math.floor(d / 3600) + 'h ' + Math.floor((d % 3600) / 60) + 'm';
  return Math.floor(d / 86400) + 'd ' + Math.floor((d % 86400) / 3600) + 'h';
}

function cls(code) { return 'c' + String(code).charAt(0); }

function setTile(k, text, level) {
  const e = document.querySelector('#tiles [data-k="' + k + '"]');
  e.textContent = text;
  e.className = 'v' + (level ? ' ' + level : '');
}

function banner(text) {
  const b = $('#banner');
  b.hidden = !text;
  b.textContent = text || '';
}

function statePill(state) {
  const s = String(state || '');
  const level = /open/i.test(s) ? 'ok' : /closed/i.test(s) ? 'bad' : 'warn';
  return el('span', 'pill ' + level, s || '?');
}

function watchdogPill(wd) {
  const level = { OKAY: 'ok', SUSPECT: 'warn', DOWN: 'bad', REOPEN: 'info', INITIAL: 'info' }[wd] || '';
  return el('span', 'pill ' + level, wd || '?');
}

function renderPeers(peers, now) {
  const inRate = rateOf('dra_requests_total', (l) => l.peer);
  const ansRate = rateOf('dra_answers_total', (l) => l.peer, (l) => l.source === 'relayed');
  const codeRate = rateOf('dra_answers_total', (l) => l.peer + '\u0000' + l.result_code, (l) => l.source === 'relayed');
  const cur = samples.length ? samples[samples.length - 1].m : null;
  const pending = sumBy(cur, 'dra_peer_pending', (l) => l.peer);
  const wq = sumBy(cur, 'dra_peer_write_queue', (l) => l.peer);
  const rows = [];
  // Peers that cannot be used come first: on a wall, problems at the top.
  const usable = (p) => (/open/i.test(p.state) && p.watchdog === 'OKAY' ? 1 : 0);
  const sorted = [...peers].sort((a, b) => usable(a) - usable(b) || a.identity.localeCompare(b.identity));
  for (const p of sorted) {
    const tr = el('tr');
    tr.dataset.peer = p.identity;
    if (!usable(p)) tr.className = 'down';
    const id = td(p.identity, 'id');
    if (p.realm) { id.append(' '); id.append(el('span', 'realm', p.realm)); }
    if (p.removed) { id.append(' '); id.append(el('span', 'pill warn', 'removed')); }
    tr.append(id);
    const st = td(); st.dataset.k = 'state'; st.append(statePill(p.state)); tr.append(st);
    const wd = td(); wd.dataset.k = 'watchdog'; wd.append(watchdogPill(p.watchdog)); tr.append(wd);
    const addr = td(p.address || '');
    if (p.role) { addr.append(' '); addr.append(el('span', 'dim', p.role + (p.tls ? ', TLS' : ''))); }
    if (p.last_error) { addr.append(el('div', 'err', p.last_error)); }
    tr.append(addr);
    const ri = td(inRate ? fmtRate(inRate.get(p.identity) || 0) : '–', 'n'); ri.dataset.k = 'in'; tr.append(ri);
    const ra = td(ansRate ? fmtRate(ansRate.get(p.identity) || 0) : '–', 'n'); ra.dataset.k = 'answers'; tr.append(ra);
    const codes = td(); codes.dataset.k = 'codes';
    if (codeRate) {
      const mine = [];
      for (const [k, v] of codeRate) {
        const [peer, code] = k.split('\u0000');
        if (peer === p.identity && v > 0) mine.push([code, v]);
      }
      mine.sort((a, b) => b[1] - a[1]);
      for (const [code, v] of mine) codes.append(el('span', 'chip ' + cls(code), code + ' ' + fmtRate(v)));
    }
    tr.append(codes);
    const pe = td(pending.has(p.identity) ? pending.get(p.identity) : '–', 'n'); pe.dataset.k = 'pending'; tr.append(pe);
    tr.append(td(wq.has(p.identity) ? wq.get(p.identity) : '–', 'n'));
    tr.append(td(fmtSince(p.since, now), 'dim'));
    rows.push(tr);
  }
  if (!rows.length) {
    const tr = el('tr'); const c = td('no peers', 'empty'); c.colSpan = 10; tr.append(c); rows.push(tr);
  }
  $('#peers').replaceChildren(...rows);
  let up = 0;
  for (const p of peers) up += usable(p);
  setTile('peers', up + ' / ' + peers.length, up < peers.length ? 'warn' : 'ok');
}

function renderRoutes(routes) {
  const rows = routes.map((r) => {
    const tr = el('tr');
    tr.append(td(r.name || ''), td(r.realm || '*'), td(r.application || '*'),
      td(r.commands && r.commands.length ? r.commands.join(', ') : 'all'),
      td([r.origin_host, r.origin_realm].filter(Boolean).join(' @ ') || 'any'));
    const a = td(); a.append(el('span', 'pill ' + (r.action === 'redirect' ? 'warn' : 'info'), r.action)); tr.append(a);
    const hops = (r.peers || []).map((h) => h.host + ' (' + h.priority + '/' + h.weight + ')');
    if (r.redirect && r.redirect.hosts) hops.push('→ ' + r.redirect.hosts.join(', '));
    tr.append(td(hops.join(', ') || '–'), td(r.timeout || 'default'));
    return tr;
  });
  if (!rows.length) {
    const tr = el('tr'); const c = td('no routes', 'empty'); c.colSpan = 8; tr.append(c); rows.push(tr);
  }
  $('#routes').replaceChildren(...rows);
}

function renderCodes() {
  const r = rateOf('dra_answers_total', (l) => l.result_code);
  const rows = [];
  if (r) {
    const list = [...r].filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1]);
    const max = list.length ? list[0][1] : 1;
    for (const [code, v] of list) {
      const tr = el('tr');
      tr.dataset.code = code;
      tr.append(td(code), td(fmtRate(v) + '/s', 'n'));
      const bar = td(); bar.style.width = '60%';
      const b = el('div', 'bar ' + cls(code)); b.style.width = Math.max(1, (100 * v) / max) + '%';
      bar.append(b); tr.append(bar);
      rows.push(tr);
    }
  }
  if (!rows.length) {
    const tr = el('tr'); tr.append(td(r ? 'no answers in the last 5 s' : 'waiting for /metrics', 'empty')); rows.push(tr);
  }
  $('#codes').replaceChildren(...rows);
}

function renderTiles(stats) {
  const cur = samples[samples.length - 1];
  const b = base();
  let reqRate = null;
  if (b && b.s && cur.s && cur.t > b.t) reqRate = (Math.max(0, cur.s.requests - b.s.requests) * 1000) / (cur.t - b.t);
  setTile('req', fmtRate(reqRate));
  const ans = rateOf('dra_answers_total', (l) => l.result_code);
  const all = total(ans);
  setTile('ans', fmtRate(all));
  if (ans && all > 0) {
    let bad = 0;
    for (const [code, v] of ans) if (/^[35]/.test(code)) bad += v;
    const pct = (100 * bad) / all;
    setTile('err', pct.toFixed(pct < 10 ? 2 : 1) + '%', pct >= 5 ? 'bad' : pct >= 1 ? 'warn' : 'ok');
  } else {
    setTile('err', '–');
  }
  const pend = cur.m ? total(sumBy(cur.m, 'dra_peer_pending')) : null;
  setTile('pending', pend === null ? '–' : String(pend));
  const ev = rateOf('dra_router_events_total', (l) => l.event);
  const fo = ev ? ev.get('failover') || 0 : null;
  const to = ev ? ev.get('timeout') || 0 : null;
  setTile('fo', fmtRate(fo), fo > 0 ? 'warn' : '');
  setTile('to', fmtRate(to), to > 0 ? 'bad' : '');
  const shed = total(rateOf('dra_requests_shed_total'));
  setTile('shed', fmtRate(shed), shed > 0 ? 'bad' : '');
  const rl = stats.reloads;
  if (rl) {
    setTile('reloads', rl.ok + ' / ' + rl.failed, rl.failed > 0 && !rl.last_ok ? 'bad' : '');
    const t = document.querySelector('#tiles [data-k="reloads"]');
    t.title = rl.last_error ? 'last refused: ' + rl.last_error : '';
  }
}

// renderLatency adds a point to the chart, placed by the browser's clock
// (the quantiles themselves come from the agent's counters).
function renderLatency() {
  const now = Date.now();
  const relayed = (l) => l.source === 'relayed';
  const pt = {
    t: now,
    p50: quantile(0.5, 'dra_request_duration_seconds_bucket', relayed),
    p99: quantile(0.99, 'dra_request_duration_seconds_bucket', relayed),
    a50: quantile(0.5, 'dra_request_agent_duration_seconds_bucket', relayed),
    a99: quantile(0.99, 'dra_request_agent_duration_seconds_bucket', relayed),
  };
  latency.push(pt);
  latency = latency.filter((p) => now - p.t <= HISTORY_MS);
  for (const k of ['p50', 'p99', 'a50', 'a99']) {
    document.querySelector('.lat [data-k="' + k + '"]').textContent = fmtDur(pt[k]);
  }
  drawChart(now);
}

function drawChart(now) {
  const c = $('#chart');
  const dpr = window.devicePixelRatio || 1;
  const w = c.clientWidth || 560, h = c.clientHeight || 220;
  if (c.width !== Math.round(w * dpr)) { c.width = Math.round(w * dpr); c.height = Math.round(h * dpr); }
  const g = c.getContext('2d');
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  const left = 56, right = 8, top = 8, bottom = 20;
  const pw = w - left - right, ph = h - top - bottom;
  let max = 0;
  for (const p of latency) for (const k of ['p99', 'p50', 'a99', 'a50']) if (p[k] > max) max = p[k];
  max = niceMax(max || 0.001);
  g.font = '11px system-ui, sans-serif';
  g.fillStyle = '#8696a7';
  g.strokeStyle = '#27313d';
  g.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const y = top + ph - (ph * i) / 4;
    g.beginPath(); g.moveTo(left, y + 0.5); g.lineTo(left + pw, y + 0.5); g.stroke();
    g.textAlign = 'right'; g.textBaseline = 'middle';
    g.fillText(fmtDur((max * i) / 4), left - 6, y);
  }
  g.textAlign = 'center'; g.textBaseline = 'top';
  for (let s = 120; s >= 0; s -= 30) {
    g.fillText(s ? '-' + s + 's' : 'now', left + pw - (pw * s * 1000) / HISTORY_MS, top + ph + 5);
  }
  const series = [['p99', '#f0883e'], ['p50', '#58a6ff'], ['a99', '#f0534b'], ['a50', '#3fb950']];
  for (const [k, color] of series) {
    g.strokeStyle = color;
    g.lineWidth = 2;
    g.beginPath();
    let started = false;
    for (const p of latency) {
      if (p[k] === null) { started = false; continue; }
      const x = left + pw - (pw * (now - p.t)) / HISTORY_MS;
      const y = top + ph - (ph * Math.min(p[k], max)) / max;
      if (started) g.lineTo(x, y); else g.moveTo(x, y);
      started = true;
    }
    g.stroke();
  }
}

// niceMax rounds a chart's top up to 1, 2 or 5 times a power of ten.
function niceMax(v) {
  const e = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (v <= m * e) return m * e;
  return 10 * e;
}

async function poll() {
  try {
    const wantRoutes = Date.now() - routesAt > 10000;
    const [peers, stats, metrics, routes, cfg] = await Promise.all([
      get('/v1/peers'),
      get('/v1/stats'),
      get('/metrics', 'text').catch((e) => (e instanceof Unauthorized ? Promise.reject(e) : null)),
      wantRoutes ? get('/v1/routes') : null,
      identity ? null : get('/v1/config').catch(() => null),
    ]);
    const now = stats.t;
    samples.push({ t: now, m: metrics ? parseMetrics(metrics.body) : null, s: stats.body });
    samples = samples.filter((s) => now - s.t <= WINDOW_MS * 2);
    const id = cfg && cfg.body && cfg.body.config && cfg.body.config.identity;
    if (id && id.origin_host) {
      identity = id.origin_host;
      $('#identity').textContent = identity + ' · ' + (id.origin_realm || '');
      document.title = 'dra · ' + identity;
    }
    if (routes) { renderRoutes(routes.body); routesAt = Date.now(); }
    renderPeers(peers.body, now);
    renderTiles(stats.body);
    renderCodes();
    renderLatency();
    banner(metrics ? '' : 'The agent serves no /metrics (telemetry.metrics.prometheus is off): rates and latency are not shown.');
    $('#dot').className = 'dot ok';
    $('#clock').textContent = 'live · ' + new Date(now).toLocaleTimeString();
    polls++;
    document.body.dataset.polls = String(polls);
  } catch (e) {
    $('#dot').className = 'dot bad';
    if (e instanceof Unauthorized) {
      banner('This agent needs a token for reads: enter admin.read_token (or admin.token) above. It is kept in this tab only (sessionStorage).');
      $('#clock').textContent = 'no token';
    } else {
      banner('Cannot reach the agent: ' + e.message);
      $('#clock').textContent = 'stale';
    }
  }
}

// tokenFromFragment takes a token given as /#token=... (a wall screen's
// browser started on that address), keeps it like a typed one and removes
// it from the address bar and the history entry. A fragment is never sent
// to the server.
function tokenFromFragment() {
  const m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  if (!m) return;
  token = decodeURIComponent(m[1]);
  sessionStorage.setItem(TOKEN_KEY, token);
  history.replaceState(null, '', location.pathname + location.search);
}

function main() {
  tokenFromFragment();
  const input = $('#token');
  input.value = token;
  $('#tokenform').addEventListener('submit', (ev) => {
    ev.preventDefault();
    token = input.value.trim();
    if (token) sessionStorage.setItem(TOKEN_KEY, token); else sessionStorage.removeItem(TOKEN_KEY);
    routesAt = 0;
    poll();
  });
  $('#forget').addEventListener('click', () => {
    token = '';
    input.value = '';
    sessionStorage.removeItem(TOKEN_KEY);
  });
  const loop = async () => {
    await poll();
    setTimeout(loop, POLL_MS);
  };
  loop();
}

main();
