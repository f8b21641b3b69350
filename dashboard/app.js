// app.js - the dashboard: polls GET /v1/dashboard and draws it (no
// libraries; the charts are drawn on <canvas>).  The token comes from the
// URL fragment (#token=..., which browsers never send to the server) or
// the login form, is kept in sessionStorage and sent in the Authorization
// header only.  See docs/dashboard.md.
'use strict';

(function () {
  const POLL_MS = 2000;
  const KEY = 'graviton.token';
  const $ = (id) => document.getElementById(id);
  let token = sessionStorage.getItem(KEY) || '';
  let timer = null;

  // A #token=... fragment logs in and is removed from the address bar.
  const m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  if (m) {
    token = decodeURIComponent(m[1]);
    sessionStorage.setItem(KEY, token);
    history.replaceState(null, '', location.pathname + location.search);
  }

  // ---- helpers ------------------------------------------------------------

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function size(n) {
    const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
    let i = 0;
    n = Number(n) || 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(n < 10 ? 1 : 0) : String(Math.round(n))) + ' ' + u[i];
  }

  function count(n) { return (Number(n) || 0).toLocaleString('en'); }

  function dur(s) {
    if (s === null || s === undefined) return '--:--';
    s = Math.max(0, Math.round(s));
    const h = Math.floor(s / 3600), mn = Math.floor((s % 3600) / 60), sec = s % 60;
    const p = (x) => String(x).padStart(2, '0');
    return (h ? h + ':' + p(mn) : String(mn)) + ':' + p(sec);
  }

  function ago(ms, now) {
    if (!ms) return 'never';
    const s = Math.max(0, (now - ms) / 1000);
    if (s < 90) return Math.round(s) + ' s ago';
    if (s < 5400) return Math.round(s / 60) + ' min ago';
    if (s < 172800) return Math.round(s / 3600) + ' h ago';
    return Math.round(s / 86400) + ' d ago';
  }

  function bar(frac, hi) {
    const b = el('div', 'bar' + (hi ? ' hi' : ''));
    const f = el('div');
    f.style.width = Math.max(0, Math.min(100, frac * 100)).toFixed(1) + '%';
    b.appendChild(f);
    return b;
  }

  function api(method, path) {
    const h = {};
    if (token) h.Authorization = 'Bearer ' + token;
    return fetch(path, { method: method, headers: h, cache: 'no-store',
                         credentials: 'omit', referrerPolicy: 'no-referrer' });
  }

  // ---- login --------------------------------------------------------------

  function showLogin(msg) {
    $('main').hidden = true;
    $('login').hidden = false;
    $('logout').hidden = true;
    $('login-error').textContent = msg || '';
    $('conn').textContent = 'token needed';
  }

  $('login-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    token = $('login-token').value.trim();
    $('login-token').value = '';
    sessionStorage.setItem(KEY, token);
    poll();
  });

  $('logout').addEventListener('click', () => {
    sessionStorage.removeItem(KEY);
    token = '';
    showLogin('');
  });

  // ---- actions (the admin token only) ---------------------------------------

  function action(path, what) {
    api('POST', path).then((r) => r.json().then((d) => {
      note(r.ok ? what + ': job ' + d.job : what + ': ' + (d.message || r.status));
      poll();
    })).catch((e) => note(what + ': ' + e));
  }
  $('act-repair').addEventListener('click', () => action('/v1/repair', 'repair'));
  $('act-scrub').addEventListener('click', () => action('/v1/scrub', 'scrub'));
  $('act-rebalance').addEventListener('click', () =>
    action('/v1/rebalance?dry_run=1', 'rebalance plan'));

  function note(text) { $('conn').textContent = text; }

  // ---- drawing ----------------------------------------------------------------

  function card(k, v, cls, id) {
    const c = el('div', 'card' + (cls ? ' ' + cls : ''));
    const ve = el('div', 'v', v);
    if (id) ve.id = id;
    c.appendChild(ve);
    c.appendChild(el('div', 'k', k));
    return c;
  }

  function drawSummary(d) {
    const box = $('summary');
    box.replaceChildren();
    const c = d.cluster;
    if (!c) {
      box.appendChild(el('p', 'muted', 'gathering the first figures…'));
      return;
    }
    const s = c.status;
    box.append(
      card('blobs', count(s.blobs), '', 'blobs'),
      card('bytes', size(s.bytes), '', 'bytes'),
      card('factor (avg)', s.factor + ' (' + Number(s.avg_factor).toFixed(2) + ')', '', 'factor'),
      card('under-replicated', count(s.under_replicated), s.under_replicated ? 'warn' : '',
           'under_replicated'),
      card('over-replicated', count(s.over_replicated), '', 'over_replicated'),
      card('lost', count(s.lost), s.lost ? 'bad' : '', 'lost'),
      card('healthy sectors', s.healthy_sectors + ' / ' + s.sectors,
           s.healthy_sectors < s.sectors ? 'warn' : '', 'healthy_sectors'),
      card('repaired (bytes)', size(c.repair.bytes_copied)),
      card('scrubbed (bytes)', size(c.scrub.bytes)));
    $('refreshed').textContent = 'cluster figures from ' + ago(c.refreshed_ms, d.now_ms) +
      ' (scan took ' + Math.round(c.scan_ms) + ' ms); placement ' + s.strategy +
      ', min-replicas ' + s.min_replicas;
  }

  function drawSectors(d) {
    const box = $('sectors');
    box.replaceChildren();
    const zones = new Map();
    for (const s of d.sectors || []) {
      const z = s.zone || '(no zone)', r = s.rack || '(no rack)';
      if (!zones.has(z)) zones.set(z, new Map());
      const racks = zones.get(z);
      if (!racks.has(r)) racks.set(r, []);
      racks.get(r).push(s);
    }
    if (!zones.size) box.appendChild(el('p', 'muted', 'no sectors'));
    for (const [z, racks] of [...zones].sort()) {
      const ze = el('div', 'zone');
      ze.appendChild(el('h3', '', 'zone ' + z));
      for (const [r, list] of [...racks].sort()) {
        ze.appendChild(el('div', 'muted small', 'rack ' + r));
        const re = el('div', 'rack');
        for (const s of list.sort((a, b) => a.id.localeCompare(b.id))) {
          const room = s.free !== undefined ? s.used + s.free : s.capacity;
          const frac = room ? s.used / room : 0;
          const se = el('div', 'sector' + (s.healthy ? '' : ' unhealthy'));
          se.dataset.sector = s.id;
          se.appendChild(el('div', 'id', s.id));
          se.appendChild(bar(frac, frac > 0.9));
          se.appendChild(el('div', 'small', size(s.used) + ' of ' + size(room) + ' (' +
                                         (frac * 100).toFixed(1) + '%)'));
          const st = el('div', 'small ' + (s.healthy ? 'ok' : 'bad'),
                        (s.healthy ? 'healthy' : 'unhealthy') + ', ' + s.state);
          se.appendChild(st);
          if (!s.healthy && s.reason) se.appendChild(el('div', 'small bad', s.reason));
          se.appendChild(el('div', 'small muted', 'oldest verification: ' +
            (s.oldest_verified_ms === null ? 'no replicas'
                                           : ago(s.oldest_verified_ms, d.now_ms))));
          re.appendChild(se);
        }
        ze.appendChild(re);
      }
      box.appendChild(ze);
    }
  }

  function drawJobs(d) {
    const box = $('jobs');
    box.replaceChildren();
    const jobs = d.jobs || [];
    if (!jobs.length) box.appendChild(el('p', 'muted', 'no jobs yet'));
    for (const j of jobs.slice(0, 12)) {
      const je = el('div', 'job');
      je.dataset.job = j.job;
      je.dataset.state = j.state;
      const title = 'job ' + j.job + ' · ' + j.kind + (j.dry_run ? ' (dry run)' : '') + ' · ';
      je.appendChild(el('span', '', title));
      je.appendChild(el('span', j.state === 'failed' ? 'bad' : j.state === 'done' ? 'ok' : '',
                        j.state));
      const p = j.progress;
      if (p) {
        je.appendChild(bar(p.fraction));
        je.appendChild(el('div', 'small progress',
          (p.fraction * 100).toFixed(1) + '% · ' + size(p.bytes_done) + ' of ' +
          size(p.bytes_total) + ' · ' + count(p.items_done) + ' of ' + count(p.items_total) +
          ' items · ' + size(p.rate_bytes_per_second) + '/s · ETA ' + dur(p.eta_seconds)));
      } else {
        je.appendChild(el('div', 'small muted', 'started ' + ago(j.started_ms, d.now_ms) +
          (j.finished_ms ? ', took ' + dur((j.finished_ms - j.started_ms) / 1000) : '')));
      }
      box.appendChild(je);
    }
  }

  function drawQueue(d) {
    const box = $('queue');
    box.replaceChildren();
    const q = d.queue;
    if (!q) { box.appendChild(el('p', 'muted', 'unknown')); return; }
    box.appendChild(el('p', '', count(q.queued) + ' queued, ' + count(q.dead) +
                                ' dead letters'));
    if (!q.entries.length) return;
    const t = el('table');
    const h = el('tr');
    for (const c of ['key', 'reason', 'attempts', 'next']) h.appendChild(el('th', '', c));
    t.appendChild(h);
    for (const e of q.entries) {
      const tr = el('tr');
      tr.appendChild(el('td', 'key', e.key.slice(0, 22) + '…'));
      tr.appendChild(el('td', '', e.reason));
      tr.appendChild(el('td', '', e.dead ? e.attempts + ' (dead)' : e.attempts));
      tr.appendChild(el('td', '', e.next_attempt_ms > d.now_ms
        ? 'in ' + dur((e.next_attempt_ms - d.now_ms) / 1000) : 'due'));
      t.appendChild(tr);
    }
    box.appendChild(t);
  }

  function drawEvents(d) {
    const box = $('events');
    box.replaceChildren();
    if (!(d.events || []).length) box.appendChild(el('li', 'muted', 'nothing yet'));
    for (const e of d.events || []) {
      const li = el('li', e.level === 'warn' ? 'warn' : '');
      li.appendChild(el('span', 'muted small',
                        new Date(e.t_ms).toISOString().slice(11, 19) + 'Z  '));
      li.appendChild(document.createTextNode(e.message));
      box.appendChild(li);
    }
  }

  const COLORS = ['#3d6fd1', '#2e8b57', '#c98a00', '#c0392b'];

  // Lines of `series` ([name, values]) over the last hour against t_ms.
  function chart(canvas, legend, t, series, fmt, now) {
    const g = canvas.getContext('2d');
    const W = canvas.width, H = canvas.height, L = 60, B = 20, T = 8, R = 8;
    g.clearRect(0, 0, W, H);
    let max = 0;
    for (const [, v] of series) for (const x of v) max = Math.max(max, x);
    max = max > 0 ? max * 1.1 : 1;
    const t0 = now - 3600 * 1000;
    const X = (ms) => L + (W - L - R) * Math.max(0, ms - t0) / (3600 * 1000);
    const Y = (v) => H - B - (H - B - T) * v / max;
    g.strokeStyle = '#dde1e8';
    g.fillStyle = '#6b7385';
    g.font = '11px sans-serif';
    g.lineWidth = 1;
    for (let i = 0; i <= 4; i++) {
      const v = max * i / 4, y = Y(v);
      g.beginPath(); g.moveTo(L, y); g.lineTo(W - R, y); g.stroke();
      g.fillText(fmt(v), 2, y + 4);
    }
    for (let m = 0; m <= 60; m += 15) {
      const x = X(t0 + m * 60000);
      g.fillText(m === 60 ? 'now' : '-' + (60 - m) + ' min', x - 14, H - 5);
    }
    legend.replaceChildren();
    series.forEach(([name, v], k) => {
      g.strokeStyle = COLORS[k % COLORS.length];
      g.lineWidth = 2;
      g.beginPath();
      v.forEach((y, i) => { if (i) g.lineTo(X(t[i]), Y(y)); else g.moveTo(X(t[i]), Y(y)); });
      g.stroke();
      const s = el('span');
      const sw = el('i');
      sw.style.background = COLORS[k % COLORS.length];
      s.append(sw, name + ' ' + fmt(v.length ? v[v.length - 1] : 0));
      legend.appendChild(s);
    });
  }

  function drawCharts(d) {
    const h = d.history;
    if (!h) return;
    const num = (v) => (v >= 100 ? Math.round(v) : v.toFixed(1)) + '/s';
    chart($('chart-requests'), $('legend-requests'), h.t_ms,
          [['all', h.requests_per_second], ['puts', h.puts_per_second],
           ['reads', h.gets_per_second], ['errors', h.errors_per_second]], num, d.now_ms);
    chart($('chart-repair'), $('legend-repair'), h.t_ms,
          [['repaired', h.repair_bytes_per_second]], (v) => size(v) + '/s', d.now_ms);
  }

  function draw(d) {
    $('login').hidden = true;
    $('main').hidden = false;
    $('logout').hidden = !token;
    $('actions').hidden = !!d.read_only;
    $('mode').textContent = d.read_only ? 'read-only' : '';
    drawSummary(d);
    drawSectors(d);
    drawJobs(d);
    drawQueue(d);
    drawEvents(d);
    drawCharts(d);
    $('conn').textContent = 'updated ' + new Date(d.now_ms).toISOString().slice(11, 19) + 'Z';
  }

  // ---- polling ----------------------------------------------------------------

  function poll() {
    clearTimeout(timer);
    api('GET', '/v1/dashboard').then((r) => {
      if (r.status === 401) {
        showLogin(token ? 'that token was refused' : '');
        return null;
      }
      if (!r.ok) throw new Error('HTTP ' + r.status);
      return r.json();
    }).then((d) => {
      if (!d) return;
      draw(d);
      timer = setTimeout(poll, POLL_MS);
    }).catch((e) => {
      $('conn').textContent = 'server unreachable (' + e.message + '), retrying';
      timer = setTimeout(poll, POLL_MS);
    });
  }

  poll();
})();
