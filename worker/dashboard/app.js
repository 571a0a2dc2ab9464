/*
 * imgpulld dashboard. Plain JavaScript, no build step, no external resource.
 *
 * State comes from one WebSocket, /ws/image-pull-all with subscribe_all: snapshots, updates and
 * deletions are applied to a Map of jobs; after a disconnect (a daemon reload closes with 1001)
 * the page reconnects with ?since=<epoch>:<seq> and receives only what changed, or "resync"
 * and fresh snapshots. Nothing polls while the socket is up.
 *
 * Rendering happens once per animation frame at most, whatever the message rate: messages only
 * mark what changed. Long lists (jobs, tasks) are virtualised: only the rows in view exist.
 * Text from the cluster is only ever set with textContent or attributes, never parsed as HTML.
 */
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const TASK_STATES = ['pending', 'pulling', 'retrying', 'succeeded', 'failed', 'cancelled', 'unknown', 'keeping'];
  const ACTIVE = new Set(['pending', 'pulling', 'keeping']);
  const TOKEN_KEY = 'imgpulld-token';
  const JOB_ROW = 56;
  const TASK_ROW = 29;
  const TASK_ALL = 150;
  const LOG_MAX_LINES = 20000;
  const DATA_FRAME_MS = 100;

  /* ---------------------------------------------------------------- token and HTTP */

  let token = '';
  try {
    token = localStorage.getItem(TOKEN_KEY) || '';
  } catch (e) {
    token = '';
  }

  function authHeaders(extra) {
    const h = Object.assign({}, extra || {});
    if (token) h.Authorization = 'Bearer ' + token;
    return h;
  }

  function b64url(s) {
    const bytes = new TextEncoder().encode(s);
    let bin = '';
    for (const b of bytes) bin += String.fromCharCode(b);
    return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  /* The token rides in Sec-WebSocket-Protocol: base64url form (any token fits), plus the "bearer" marker the server echoes. */
  function wsProtocols() {
    return token ? ['base64url.bearer.' + b64url(token), 'bearer'] : [];
  }

  function wsURL(path) {
    return (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + path;
  }

  async function api(method, path, body) {
    const opts = { method, headers: authHeaders(body ? { 'Content-Type': 'application/json' } : null), cache: 'no-store' };
    if (body) opts.body = JSON.stringify(body);
    const r = await fetch(path, opts);
    let doc = null;
    try {
      doc = await r.json();
    } catch (e) {
      doc = null;
    }
    return { status: r.status, doc };
  }

  function errorText(res) {
    const e = res.doc && res.doc.error;
    return e && e.message ? e.message : 'HTTP ' + res.status;
  }

  function authProblem(res) {
    if (res.status === 401) {
      return token
        ? 'The daemon refused this token (401: ' + errorText(res) + '). Check it and enter it again above.'
        : 'This listener needs a bearer token (401). Enter it above.';
    }
    if (res.status === 403) return 'This token may only read (403: ' + errorText(res) + '). Starting and cancelling pulls need an admin token.';
    return null;
  }

  function banner(text, ok) {
    const b = $('auth-msg');
    b.textContent = text || '';
    b.hidden = !text;
    b.classList.toggle('ok', !!ok);
  }

  /* ---------------------------------------------------------------- formatting */

  function fmtTime(iso) {
    if (!iso) return '';
    const d = new Date(iso);
    if (isNaN(d)) return String(iso);
    const now = new Date();
    return d.toDateString() === now.toDateString() ? d.toLocaleTimeString() : d.toLocaleString();
  }

  function fmtBytes(n) {
    if (n == null) return '';
    const u = ['B', 'kB', 'MB', 'GB', 'TB'];
    let i = 0;
    let v = Number(n);
    while (v >= 1000 && i < u.length - 1) {
      v /= 1000;
      i++;
    }
    return (i ? v.toFixed(1) : String(v)) + ' ' + u[i];
  }

  function fmtMs(n) {
    if (n == null) return '';
    return n < 1000 ? n + ' ms' : (n / 1000).toFixed(n < 10000 ? 2 : 1) + ' s';
  }

  /* Any value the API sends, as text: an object with a reason and a message (a failure) reads
     "reason: message", other objects "key=value, ...", arrays their items. */
  function fmtValue(v) {
    if (v == null) return '';
    if (Array.isArray(v)) return v.map(fmtValue).join(', ');
    if (typeof v === 'object') {
      if ('reason' in v || 'message' in v) return [v.reason, v.message].filter((x) => x != null && x !== '').join(': ');
      return Object.keys(v).map((k) => k + '=' + fmtValue(v[k])).join(', ');
    }
    return String(v);
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = String(text);
    return e;
  }

  /* ---------------------------------------------------------------- the job store */

  const jobs = new Map();
  let epoch = null;
  let seq = 0;
  let storeGen = 0; /* bumped on every change: views re-render when it moved */
  let orderDirty = true; /* the jobs list must be filtered and sorted again */

  function applyJob(m) {
    const j = m.job;
    if (!j || typeof j.id !== 'string') return;
    const old = jobs.get(j.id);
    if (old && m.epoch === epoch && typeof old.version === 'number' && old.version > j.version) return;
    jobs.set(j.id, j);
    /* The list's order depends on the state and times only; other changes just refill a row. */
    if (!old || old.state !== j.state || old.finished_at !== j.finished_at || old.created_at !== j.created_at) orderDirty = true;
  }

  function onJobMessage(text) {
    let m;
    try {
      m = JSON.parse(text);
    } catch (e) {
      return;
    }
    switch (m.type) {
      case 'resync':
        jobs.clear();
        orderDirty = true;
        seq = 0;
        epoch = null;
        stats.resyncs++;
        break;
      case 'snapshot':
      case 'update':
        if (m.epoch !== epoch) epoch = m.epoch;
        applyJob(m);
        break;
      case 'deleted':
        if (m.epoch !== epoch) epoch = m.epoch;
        jobs.delete(m.id);
        orderDirty = true;
        break;
      case 'error':
        banner('The daemon answered an error on the job watch: ' + (m.message || m.code));
        return;
      default:
        return;
    }
    if (typeof m.seq === 'number' && m.seq > seq) seq = m.seq;
    stats.messages++;
    storeGen++;
    scheduleData();
  }

  /* ---------------------------------------------------------------- the job watch socket */

  let ws = null;
  let retryTimer = 0;
  let retryDelay = 250;
  let authBlocked = false;
  const stats = { connects: 0, messages: 0, resyncs: 0, renders: 0, renderMaxMs: 0 };

  function setConn(kind, text) {
    const c = $('conn');
    c.className = 'conn conn-' + kind;
    c.dataset.state = kind;
    c.dataset.connects = String(stats.connects);
    $('conn-text').textContent = text;
    c.title = kind === 'live' ? 'Live: changes arrive as they happen' : text;
  }

  async function probeAuth() {
    try {
      const res = await api('GET', '/api/v1/images/pull-failed?limit=1');
      const p = authProblem(res);
      if (p) {
        authBlocked = true;
        banner(p);
        setConn('down', 'no access');
        return false;
      }
      authBlocked = false;
      if ($('auth-msg').textContent.startsWith('The daemon refused') || $('auth-msg').textContent.startsWith('This listener')) banner('');
      return true;
    } catch (e) {
      return true; /* the daemon is unreachable: the socket's retry handles it */
    }
  }

  function connect() {
    if (ws || authBlocked) return;
    clearTimeout(retryTimer);
    const q = epoch ? '?since=' + encodeURIComponent(epoch + ':' + seq) : '';
    let sock;
    try {
      sock = new WebSocket(wsURL('/ws/image-pull-all' + q), wsProtocols());
    } catch (e) {
      setConn('down', 'cannot connect');
      return;
    }
    ws = sock;
    let opened = false;
    setConn('connecting', epoch ? 'resuming' : 'connecting');
    sock.onopen = () => {
      opened = true;
      stats.connects++;
      retryDelay = 250;
      sock.send(JSON.stringify({ op: 'subscribe_all' }));
      setConn('live', 'live');
    };
    sock.onmessage = (ev) => onJobMessage(ev.data);
    sock.onclose = async (ev) => {
      if (ws === sock) ws = null;
      if (sock.replaced) return;
      setConn('down', ev.code === 1001 ? 'reconnecting (daemon reload)' : 'reconnecting');
      /* A refused handshake shows as 1006 without a status: ask REST whether it was the token. */
      if (!opened && !(await probeAuth())) return;
      const delay = ev.code === 1001 ? 50 : retryDelay;
      retryDelay = Math.min(retryDelay * 2, 8000);
      retryTimer = setTimeout(connect, delay + Math.random() * 100);
    };
  }

  function reconnectNow() {
    if (ws) {
      ws.replaced = true;
      ws.close(1000);
      ws = null;
    }
    authBlocked = false;
    probeAuth().then((ok) => {
      if (ok) connect();
    });
  }

  /* ---------------------------------------------------------------- rendering loop */

  let frameQueued = false;
  function schedule() {
    if (!frameQueued) {
      frameQueued = true;
      requestAnimationFrame(frame);
    }
  }

  /*
   * Changes from the daemon are drawn at most every DATA_FRAME_MS: at 100 changes a second a
   * frame per change would spend the main thread on style, layout and paint for updates nobody
   * can read that fast. Scrolling, typing and navigation draw on the next frame.
   */
  let lastFrame = 0;
  let dataTimer = 0;
  function scheduleData() {
    if (frameQueued || dataTimer) return;
    const wait = lastFrame + DATA_FRAME_MS - performance.now();
    if (wait <= 0) schedule();
    else
      dataTimer = setTimeout(() => {
        dataTimer = 0;
        schedule();
      }, wait);
  }

  function frame() {
    frameQueued = false;
    const t0 = performance.now();
    lastFrame = t0;
    if (view === 'jobs') renderJobs();
    else if (view === 'job') renderJob();
    if (view === 'logs') flushLog();
    const took = performance.now() - t0;
    stats.renders++;
    if (took > stats.renderMaxMs) stats.renderMaxMs = took;
  }

  /* ---------------------------------------------------------------- views and routing */

  let view = 'jobs';
  let currentJob = null;

  function show(name) {
    view = name;
    for (const v of ['jobs', 'job', 'new', 'logs']) $('view-' + v).hidden = v !== name;
    const current = { 'nav-jobs': name === 'jobs' || name === 'job', 'nav-new': name === 'new' };
    for (const id of Object.keys(current)) {
      if (current[id]) $(id).setAttribute('aria-current', 'page');
      else $(id).removeAttribute('aria-current');
    }
  }

  function route() {
    const parts = (location.hash.replace(/^#\/?/, '') || '').split('/').filter(Boolean).map(decodeURIComponent);
    if (parts[0] !== 'logs') closeLog(false);
    if (parts[0] === 'job' && parts[1]) {
      currentJob = parts[1];
      jobRendered = null;
      show('job');
      $('job-msg').hidden = true;
    } else if (parts[0] === 'new') {
      show('new');
    } else if (parts[0] === 'logs' && parts[1] && parts[2]) {
      show('logs');
      openLogView(parts[1], parts[2]);
    } else {
      show('jobs');
      orderDirty = true;
    }
    schedule();
  }

  /* ---------------------------------------------------------------- node grid */

  function taskLabel(t) {
    let s = t.node + ': ' + t.state;
    if (t.reason) s += ' (' + t.reason + ')';
    return s;
  }

  /* A list row shows at most rowCells cells (what seven lines of dense cells hold) and says how many more there are. */
  function fillGrid(grid, tasks, big) {
    const n = tasks.length;
    const shown = big ? n : Math.min(n, rowCells);
    let more = grid.lastElementChild && grid.lastElementChild.classList.contains('more') ? grid.lastElementChild : null;
    if (more) more.remove();
    while (grid.childElementCount > shown) grid.lastElementChild.remove();
    while (grid.childElementCount < shown) {
      const c = el('span', 'c');
      if (big) c.setAttribute('role', 'img');
      grid.appendChild(c);
    }
    grid.classList.toggle('dense', !big && n > 100);
    let i = 0;
    for (const c of grid.children) {
      const t = tasks[i++];
      const cls = 'c st-' + t.state;
      if (c.className !== cls) c.className = cls;
      const label = taskLabel(t);
      if (c.title !== label) {
        c.title = label;
        if (big) c.setAttribute('aria-label', label);
      }
      if (c.dataset.node !== t.node) c.dataset.node = t.node;
      if (c.dataset.state !== t.state) c.dataset.state = t.state;
    }
    const counts = {};
    for (const t of tasks) counts[t.state] = (counts[t.state] || 0) + 1;
    if (shown < n) {
      const hidden = {};
      for (let k = shown; k < n; k++) hidden[tasks[k].state] = (hidden[tasks[k].state] || 0) + 1;
      more = more || el('span', 'more');
      setText(more, '+' + (n - shown) + ' more' + (hidden.failed ? ', ' + hidden.failed + ' failed' : ''));
      more.title = Object.keys(hidden).map((k) => hidden[k] + ' ' + k).join(', ') + ': open the job to see every node';
      grid.appendChild(more);
    }
    const summary = Object.keys(counts).map((k) => counts[k] + ' ' + k).join(', ');
    setAttr(grid, 'aria-label', 'Node states: ' + (summary || 'no nodes'));
  }

  function legend() {
    const ul = $('legend');
    for (const s of TASK_STATES) {
      const li = el('li');
      const sw = el('span', 'grid');
      const c = el('span', 'c st-' + s);
      c.setAttribute('aria-hidden', 'true');
      sw.appendChild(c);
      li.appendChild(sw);
      li.appendChild(el('span', null, s));
      ul.appendChild(li);
    }
  }

  /* ---------------------------------------------------------------- jobs list (virtualised) */

  let order = [];
  let orderGen = 0;
  const rows = new Map(); /* job id -> row */
  const freeRows = [];
  let rowCells = 320; /* cells a list row shows; from its grid's width once a row exists */

  function jobMatches(j, st, text) {
    if (st === 'active' ? !ACTIVE.has(j.state) : st && j.state !== st) return false;
    if (!text) return true;
    if (j.id.toLowerCase().includes(text) || String(j.image).toLowerCase().includes(text)) return true;
    if (j.error && String(j.error.reason || '').toLowerCase().includes(text)) return true;
    for (const t of j.tasks || []) if (String(t.node).toLowerCase().includes(text)) return true;
    return false;
  }

  /* Active jobs first, newest first; then finished ones, most recently finished first. */
  function orderKey(j) {
    const active = ACTIVE.has(j.state);
    return (active ? '0' : '1') + (active ? j.created_at : j.finished_at || j.created_at || '');
  }

  function jobOrder(a, b) {
    if (a.k !== b.k) {
      if (a.k[0] !== b.k[0]) return a.k[0] < b.k[0] ? -1 : 1;
      return a.k < b.k ? 1 : -1;
    }
    return a.j.id < b.j.id ? -1 : 1;
  }

  function computeOrder() {
    const st = $('jobs-state').value;
    const text = $('jobs-text').value.trim().toLowerCase();
    const out = [];
    const counts = {};
    for (const j of jobs.values()) {
      counts[j.state] = (counts[j.state] || 0) + 1;
      if (jobMatches(j, st, text)) out.push({ k: orderKey(j), j });
    }
    out.sort(jobOrder);
    order = out.map((x) => x.j);
    const parts = Object.keys(counts).sort().map((k) => counts[k] + ' ' + k);
    setText($('jobs-summary'), jobs.size + ' jobs' + (parts.length ? ' · ' + parts.join(', ') : '') + (order.length !== jobs.size ? ' · ' + order.length + ' shown' : ''));
    $('jobs-spacer').style.height = order.length * JOB_ROW + 'px';
    $('jobs-empty').hidden = jobs.size !== 0;
  }

  function makeRow() {
    const r = freeRows.pop();
    if (r) return r;
    const a = el('a', 'jrow');
    a.setAttribute('role', 'listitem');
    const id = el('span', 'id');
    const img = el('span', 'img');
    const stc = el('span');
    const badge = el('span', 'badge');
    const why = el('span', 'why');
    stc.append(badge, why);
    const counts = el('span', 'counts');
    const grid = el('span', 'grid');
    grid.setAttribute('role', 'img');
    a.append(id, img, stc, counts, grid);
    return { el: a, id, img, badge, why, counts, grid, job: null, index: -1 };
  }

  function countsText(j) {
    const n = j.nodes || {};
    let s = (n.succeeded || 0) + '/' + (n.desired || 0) + ' succeeded';
    if (n.failed) s += ', ' + n.failed + ' failed';
    if (n.pulling) s += ', ' + n.pulling + ' pulling';
    return s;
  }

  /* Writes only what changed: an unchanged write still costs the browser a style check. */
  function setText(e, v) {
    if (e.textContent !== v) e.textContent = v;
  }

  function setAttr(e, name, v) {
    if (e.getAttribute(name) !== v) e.setAttribute(name, v);
  }

  function fillRow(r, j) {
    setAttr(r.el, 'href', '#/job/' + encodeURIComponent(j.id));
    setAttr(r.el, 'data-id', j.id);
    setAttr(r.el, 'data-state', j.state);
    setAttr(r.el, 'aria-label', j.id + ', ' + j.image + ', ' + j.state + ', ' + countsText(j));
    setText(r.id, j.id);
    setText(r.img, j.image);
    setAttr(r.img, 'title', j.image);
    setText(r.badge, j.state);
    setAttr(r.badge, 'class', 'badge st-' + j.state);
    setText(r.why, j.error ? [j.error.reason, j.error.cause].filter(Boolean).join(' · ') : '');
    setAttr(r.why, 'title', j.error && j.error.message ? j.error.message : '');
    setText(r.counts, countsText(j));
    fillGrid(r.grid, j.tasks || [], false);
  }

  function renderJobs() {
    const box = $('jobs-scroll');
    /* Read the geometry first: reading it after the writes below would force a layout. */
    const top = box.scrollTop;
    const h = box.clientHeight || 600;
    const anyRow = rows.values().next().value;
    if (anyRow) {
      /* Dense cells take 6 px and a row's grid holds seven lines; room is kept for "+N more". */
      const w = anyRow.grid.clientWidth;
      const cap = w > 0 ? Math.max(60, Math.floor((w + 1) / 6) * 7 - 14) : rowCells;
      if (cap !== rowCells) {
        rowCells = cap;
        for (const r of rows.values()) r.job = null; /* refill every row with the new capacity */
      }
    }
    if (orderDirty || ($('jobs-text').value && orderGen !== storeGen)) {
      computeOrder();
      orderDirty = false;
    } else if (orderGen !== storeGen) {
      /* Same order: rows pick up the new job objects by id. */
      for (let i = 0; i < order.length; i++) {
        const j = jobs.get(order[i].id);
        if (j) order[i] = j;
      }
    }
    orderGen = storeGen;
    const first = Math.max(0, Math.floor(top / JOB_ROW) - 4);
    const last = Math.min(order.length, Math.ceil((top + h) / JOB_ROW) + 4);
    const want = new Set();
    for (let i = first; i < last; i++) {
      const j = order[i];
      want.add(j.id);
      let r = rows.get(j.id);
      if (!r) {
        r = makeRow();
        rows.set(j.id, r);
        r.job = null;
        r.index = -1;
        box.appendChild(r.el);
      }
      if (r.index !== i) {
        r.el.style.transform = 'translateY(' + i * JOB_ROW + 'px)';
        r.index = i;
      }
      if (r.job !== j) {
        fillRow(r, j);
        r.job = j;
      }
    }
    for (const [id, r] of rows) {
      if (!want.has(id)) {
        r.el.remove();
        rows.delete(id);
        if (freeRows.length < 64) freeRows.push(r);
      }
    }
  }

  /* ---------------------------------------------------------------- one job */

  const JOB_KNOWN = new Set(['id', 'image', 'state', 'tasks', 'nodes', 'error', 'version']);
  const TASK_COLUMNS = [
    ['node', 'Node'], ['state', 'State'], ['reason', 'Reason'], ['message', 'Message'], ['cause', 'Cause'],
    ['attempts', 'Attempts'], ['pull_ms', 'Pull time'], ['image_bytes', 'Image size'], ['updated_at', 'Updated'],
  ];
  const TASK_HIDDEN = new Set(['namespace', 'pod']);
  let jobRendered = null;
  let taskSort = { key: 'node', dir: 1 };
  let taskCols = [];
  let taskRows = [];
  let taskWindowDirty = false;

  function renderFacts(j) {
    const dl = $('job-facts');
    dl.replaceChildren();
    const add = (k, v) => {
      if (v == null || v === '') return;
      dl.append(el('dt', null, k), el('dd', null, v));
    };
    add('image', j.image);
    add('nodes', countsText(j) + ' of ' + ((j.nodes || {}).desired || 0));
    if (j.error) {
      add('problem', [j.error.reason, j.error.cause].filter(Boolean).join(' · '));
      add('problem message', j.error.message);
    }
    for (const k of Object.keys(j)) {
      if (JOB_KNOWN.has(k)) continue;
      const v = j[k];
      add(k.replace(/_/g, ' '), /_at$/.test(k) && v ? fmtTime(v) + ' (' + v + ')' : fmtValue(v));
    }
  }

  function renderChart(j) {
    const box = $('job-chart');
    const NS = 'http://www.w3.org/2000/svg';
    const pts = (j.tasks || []).filter((t) => typeof t.pull_ms === 'number').sort((a, b) => b.pull_ms - a.pull_ms);
    box.replaceChildren();
    if (!pts.length) {
      box.appendChild(el('p', 'muted', 'No pull times yet: they appear as nodes finish pulling.'));
      return;
    }
    const W = 560;
    const H = 160;
    const padL = 44;
    const padB = 18;
    const max = pts[0].pull_ms || 1;
    const svg = document.createElementNS(NS, 'svg');
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    svg.setAttribute('role', 'img');
    const med = pts[Math.floor(pts.length / 2)].pull_ms;
    svg.setAttribute('aria-label', 'Pull times of ' + pts.length + ' nodes: longest ' + fmtMs(max) + ' (' + pts[0].node + '), median ' + fmtMs(med) + ', shortest ' + fmtMs(pts[pts.length - 1].pull_ms));
    const bw = (W - padL - 4) / pts.length;
    pts.forEach((t, i) => {
      const h = Math.max(1, ((H - padB - 8) * t.pull_ms) / max);
      const r = document.createElementNS(NS, 'rect');
      r.setAttribute('x', String(padL + i * bw));
      r.setAttribute('y', String(H - padB - h));
      r.setAttribute('width', String(Math.max(1, bw - (bw > 4 ? 1 : 0))));
      r.setAttribute('height', String(h));
      r.setAttribute('fill', t.state === 'failed' ? '#c0262d' : '#2463c7');
      const title = document.createElementNS(NS, 'title');
      title.textContent = t.node + ': ' + fmtMs(t.pull_ms) + (t.image_bytes != null ? ', ' + fmtBytes(t.image_bytes) : '');
      r.appendChild(title);
      svg.appendChild(r);
    });
    const text = (x, y, s, anchor) => {
      const e = document.createElementNS(NS, 'text');
      e.setAttribute('x', String(x));
      e.setAttribute('y', String(y));
      e.setAttribute('class', 'axis');
      if (anchor) e.setAttribute('text-anchor', anchor);
      e.textContent = s;
      svg.appendChild(e);
    };
    text(padL - 4, 12, fmtMs(max), 'end');
    text(padL - 4, H - padB, '0', 'end');
    text(padL, H - 4, pts.length + ' nodes, slowest first; median ' + fmtMs(med));
    const line = document.createElementNS(NS, 'line');
    line.setAttribute('x1', String(padL));
    line.setAttribute('x2', String(padL));
    line.setAttribute('y1', '4');
    line.setAttribute('y2', String(H - padB));
    line.setAttribute('stroke', '#8793a1');
    svg.appendChild(line);
    box.appendChild(svg);
  }

  function taskText(t, key) {
    const v = t[key];
    if (key === 'pull_ms') return fmtMs(v);
    if (key === 'image_bytes') return fmtBytes(v);
    if (/_at$/.test(key)) return fmtTime(v);
    return fmtValue(v);
  }

  function renderTaskHead() {
    const tr = $('tasks-head');
    tr.replaceChildren();
    for (const [key, label] of taskCols) {
      const th = el('th');
      th.setAttribute('scope', 'col');
      th.setAttribute('aria-sort', taskSort.key === key ? (taskSort.dir > 0 ? 'ascending' : 'descending') : 'none');
      const b = el('button', null, label + (taskSort.key === key ? (taskSort.dir > 0 ? ' ▲' : ' ▼') : ''));
      b.type = 'button';
      b.dataset.key = key;
      b.title = 'Sort by ' + label.toLowerCase();
      th.appendChild(b);
      tr.appendChild(th);
    }
    const th = el('th', null, 'Log');
    th.setAttribute('scope', 'col');
    tr.appendChild(th);
  }

  function computeTaskRows(j) {
    const st = $('tasks-state').value;
    const node = $('tasks-node').value.trim().toLowerCase();
    const text = $('tasks-text').value.trim().toLowerCase();
    const out = (j.tasks || []).filter((t) => {
      if (st && t.state !== st) return false;
      if (node && !String(t.node).toLowerCase().includes(node)) return false;
      if (text) {
        let hay = '';
        for (const k of Object.keys(t)) if (k !== 'node') hay += ' ' + fmtValue(t[k]).toLowerCase();
        if (!hay.includes(text)) return false;
      }
      return true;
    });
    const k = taskSort.key;
    const d = taskSort.dir;
    out.sort((a, b) => {
      const x = a[k];
      const y = b[k];
      if (x == null && y == null) return a.node < b.node ? -1 : 1;
      if (x == null) return 1;
      if (y == null) return -1;
      if (x < y) return -d;
      if (x > y) return d;
      return a.node < b.node ? -1 : 1;
    });
    taskRows = out;
    $('tasks-count').textContent = out.length + ' of ' + (j.tasks || []).length + ' tasks';
  }

  function renderTaskWindow(j) {
    const box = $('tasks-scroll');
    const body = $('tasks-body');
    /* Up to TASK_ALL rows are all drawn (text wraps); beyond, rows have one height and only those in view exist. */
    const virtual = taskRows.length > TASK_ALL;
    $('tasks').classList.toggle('compact', virtual);
    const top = Math.max(0, box.scrollTop - TASK_ROW);
    const h = box.clientHeight || 500;
    const first = virtual ? Math.max(0, Math.floor(top / TASK_ROW) - 5) : 0;
    const last = virtual ? Math.min(taskRows.length, Math.ceil((top + h) / TASK_ROW) + 10) : taskRows.length;
    const frag = document.createDocumentFragment();
    const spacer = (n) => {
      const tr = el('tr');
      tr.setAttribute('aria-hidden', 'true');
      const td = el('td');
      td.colSpan = taskCols.length + 1;
      td.style.height = n * TASK_ROW + 'px';
      td.style.padding = '0';
      td.style.border = '0';
      tr.appendChild(td);
      return tr;
    };
    if (first > 0) frag.appendChild(spacer(first));
    for (let i = first; i < last; i++) {
      const t = taskRows[i];
      const tr = el('tr');
      tr.dataset.node = t.node;
      tr.dataset.state = t.state;
      for (const [key] of taskCols) {
        const td = el('td', key === 'message' ? 'msg' : key === 'attempts' || key === 'pull_ms' || key === 'image_bytes' ? 'num' : null);
        if (key === 'state') {
          td.appendChild(el('span', 'badge st-' + t.state, t.state));
        } else {
          td.textContent = taskText(t, key);
          if (/_at$/.test(key) && t[key]) td.title = t[key];
          else if (virtual && td.textContent.length > 40) td.title = td.textContent;
        }
        td.dataset.key = key;
        tr.appendChild(td);
      }
      const td = el('td');
      const a = el('a', null, 'log');
      a.href = '#/logs/' + encodeURIComponent(j.id) + '/' + encodeURIComponent(t.node);
      a.setAttribute('aria-label', 'Log of ' + t.node);
      td.appendChild(a);
      tr.appendChild(td);
      frag.appendChild(tr);
    }
    if (last < taskRows.length) frag.appendChild(spacer(taskRows.length - last));
    body.replaceChildren(frag);
  }

  function renderJob(force) {
    const j = jobs.get(currentJob);
    $('job-title').textContent = 'Job ' + currentJob;
    if (!j) {
      $('job-state').textContent = jobs.size || ws ? 'not in the table' : 'loading';
      $('job-state').className = 'badge';
      $('job-cancel').hidden = true;
      return;
    }
    const changed = force || jobRendered !== j;
    if (changed) {
      $('job-state').textContent = j.state;
      $('job-state').className = 'badge st-' + j.state;
      $('job-cancel').hidden = !ACTIVE.has(j.state);
      renderFacts(j);
      fillGrid($('job-grid'), j.tasks || [], true);
      renderChart(j);
      const extra = [];
      for (const t of j.tasks || [])
        for (const k of Object.keys(t))
          if (!TASK_HIDDEN.has(k) && !TASK_COLUMNS.some((c) => c[0] === k) && !extra.includes(k)) extra.push(k);
      const cols = TASK_COLUMNS.concat(extra.map((k) => [k, k.replace(/_/g, ' ')]));
      const colKey = cols.map((c) => c[0]).join(',');
      if (colKey !== taskCols.map((c) => c[0]).join(',') || force) {
        taskCols = cols;
        renderTaskHead();
      }
      computeTaskRows(j);
      jobRendered = j;
    }
    if (changed || taskWindowDirty) renderTaskWindow(j);
    taskWindowDirty = false;
  }

  /* ---------------------------------------------------------------- cancel */

  function askCancel() {
    const j = jobs.get(currentJob);
    if (!j) return;
    $('confirm-text').textContent = 'Job ' + j.id + ' (' + j.image + ') will stop on every node that has not finished; its Kubernetes Jobs are deleted.';
    const d = $('confirm');
    d.showModal();
    $('confirm-no').focus();
  }

  async function doCancel() {
    $('confirm').close();
    const id = currentJob;
    const msg = $('job-msg');
    msg.classList.remove('ok');
    try {
      const res = await api('DELETE', '/api/v1/images/pull-jobs/' + encodeURIComponent(id));
      if (res.status === 202) {
        msg.textContent = 'Job ' + id + ' cancelled.';
        msg.classList.add('ok');
      } else {
        msg.textContent = authProblem(res) || 'Cancel failed (' + res.status + '): ' + errorText(res);
      }
    } catch (e) {
      msg.textContent = 'Cancel failed: the daemon could not be reached.';
    }
    msg.hidden = false;
  }

  /* ---------------------------------------------------------------- new pull */

  const FIELDS = ['images', 'image', 'node_selector', 'all_nodes', 'nodes', 'pull_policy', 'timeout_seconds', 'backoff_limit',
    'deadline_seconds', 'parallelism', 'pull_secrets', 'ttl_seconds_after_finished', 'keep', 'refresh_seconds', 'pod_selector'];
  const FIELD_SLOT = { images: 'image', image: 'image', node_selector: 'nodes', all_nodes: 'nodes', nodes: 'nodes', pod_selector: 'nodes' };
  const FIELD_INPUT = { image: 'f-images', nodes: 'f-nodes' };

  /* The field an API message names: the earliest whole-word field name in it (the longest at one place). */
  function fieldOf(message) {
    let best = null;
    let at = Infinity;
    for (const f of FIELDS) {
      const re = new RegExp('(^|[^a-z_])' + f + '(?![a-z_])');
      const m = re.exec(message);
      if (m) {
        const pos = m.index + m[1].length;
        if (pos < at || (pos === at && f.length > best.length)) {
          at = pos;
          best = f;
        }
      }
    }
    return best;
  }

  function clearFormErrors() {
    for (const p of document.querySelectorAll('#pull-form .field-error')) p.textContent = '';
    for (const i of document.querySelectorAll('#pull-form [aria-invalid]')) i.removeAttribute('aria-invalid');
  }

  function formError(field, text) {
    const slot = field ? FIELD_SLOT[field] || field : null;
    const p = slot && $('err-' + slot) ? $('err-' + slot) : $('err-form');
    p.textContent = text;
    const input = slot ? $(FIELD_INPUT[slot] || 'f-' + slot) : null;
    if (input) {
      if (slot === 'nodes') {
        const target = document.querySelector('input[name="target"]:checked').value;
        const which = target === 'selector' ? $('f-selector') : target === 'nodes' ? $('f-nodes') : null;
        if (which) {
          which.setAttribute('aria-invalid', 'true');
          which.focus();
        }
      } else {
        input.setAttribute('aria-invalid', 'true');
        input.focus();
      }
    }
  }

  function splitList(s) {
    return s.split(/[\s,]+/).map((x) => x.trim()).filter(Boolean);
  }

  /*
   * A label selector in kubectl's syntax: "k=v", "k==v", "k!=v", "k in (a,b)", "k notin (a,b)",
   * "k", "!k", separated by commas. Equalities alone give the plain {label: value} object;
   * anything else a LabelSelector with matchLabels and matchExpressions. The daemon validates.
   */
  function parseSelector(text) {
    const parts = [];
    let depth = 0;
    let cur = '';
    for (const ch of text) {
      if (ch === '(') depth++;
      if (ch === ')') depth--;
      if (ch === ',' && depth === 0) {
        parts.push(cur);
        cur = '';
      } else cur += ch;
    }
    parts.push(cur);
    const labels = {};
    const exprs = [];
    for (const raw of parts.map((x) => x.trim()).filter(Boolean)) {
      let m;
      if ((m = /^(\S+?)\s+(in|notin)\s*\((.*)\)$/.exec(raw))) {
        exprs.push({ key: m[1], operator: m[2] === 'in' ? 'In' : 'NotIn', values: m[3].split(',').map((x) => x.trim()).filter(Boolean) });
      } else if ((m = /^(\S+?)\s*!=\s*(\S*)$/.exec(raw))) {
        exprs.push({ key: m[1], operator: 'NotIn', values: [m[2]] });
      } else if ((m = /^(\S+?)\s*==?\s*(\S*)$/.exec(raw))) {
        labels[m[1]] = m[2];
      } else if ((m = /^!\s*(\S+)$/.exec(raw))) {
        exprs.push({ key: m[1], operator: 'DoesNotExist' });
      } else if (/^\S+$/.test(raw)) {
        exprs.push({ key: raw, operator: 'Exists' });
      } else {
        throw { field: 'node_selector', message: 'node_selector: "' + raw + '" is not a label requirement (k=v, k!=v, k in (a,b), k notin (a,b), k, !k)' };
      }
    }
    if (!exprs.length) return labels;
    const sel = { matchExpressions: exprs };
    if (Object.keys(labels).length) sel.matchLabels = labels;
    return sel;
  }

  function buildPull() {
    const body = {};
    const images = $('f-images').value.split('\n').map((x) => x.trim()).filter(Boolean);
    if (images.length === 1) body.image = images[0];
    else if (images.length > 1) body.images = images;
    const target = document.querySelector('input[name="target"]:checked').value;
    if (target === 'nodes') {
      body.nodes = splitList($('f-nodes').value);
    } else if (target === 'selector') {
      body.node_selector = parseSelector($('f-selector').value);
    } else {
      body.all_nodes = true;
    }
    if ($('f-pull_policy').value) body.pull_policy = $('f-pull_policy').value;
    for (const k of ['timeout_seconds', 'backoff_limit', 'deadline_seconds', 'parallelism', 'ttl_seconds_after_finished', 'refresh_seconds']) {
      const v = $('f-' + k).value.trim();
      if (v === '') continue;
      const n = Number(v);
      if (!Number.isInteger(n)) throw { field: k, message: k + ': must be a whole number' };
      body[k] = n;
    }
    const secrets = splitList($('f-pull_secrets').value);
    if (secrets.length) body.pull_secrets = secrets;
    if ($('f-keep').checked) body.keep = true;
    return body;
  }

  async function submitPull(ev) {
    ev.preventDefault();
    clearFormErrors();
    const result = $('pull-result');
    result.replaceChildren();
    let body;
    try {
      body = buildPull();
    } catch (e) {
      formError(e.field, e.message);
      return;
    }
    $('pull-submit').disabled = true;
    try {
      const res = await api('POST', '/api/v1/images/pull', body);
      if (res.status === 202 && res.doc && Array.isArray(res.doc.jobs)) {
        const ids = res.doc.jobs.map((j) => j.id);
        for (const j of res.doc.jobs) if (!jobs.has(j.id)) jobs.set(j.id, j);
        storeGen++;
        orderDirty = true;
        result.append('Started ');
        ids.forEach((id, i) => {
          const a = el('a', null, id);
          a.href = '#/job/' + encodeURIComponent(id);
          if (i) result.append(', ');
          result.append(a);
        });
        if (ids.length === 1) location.hash = '#/job/' + encodeURIComponent(ids[0]);
      } else {
        const p = authProblem(res);
        if (p) formError(null, p);
        else {
          const m = errorText(res);
          formError(fieldOf(m), m);
        }
      }
    } catch (e) {
      formError(null, 'The daemon could not be reached.');
    } finally {
      $('pull-submit').disabled = false;
    }
  }

  function syncTargetInputs() {
    const target = document.querySelector('input[name="target"]:checked').value;
    $('f-nodes').disabled = target !== 'nodes';
    $('f-selector').disabled = target !== 'selector';
  }

  /* ---------------------------------------------------------------- pod logs */

  const log = {
    sock: null, job: '', node: '', paused: false, pending: [], shown: 0, lastTs: '', atLastTs: 0, skipUntil: '',
    skipAtTs: 0, partial: '', decoder: null, ended: false, userClosed: false,
  };

  function logStatus(text, isErr) {
    const p = $('logs-status');
    p.replaceChildren();
    const s = el('span', isErr ? 'err' : null, text);
    p.appendChild(s);
  }

  function logNote(text) {
    log.pending.push({ note: text });
    schedule();
  }

  function openLogView(job, node) {
    if (log.job === job && log.node === node && log.sock) return;
    closeLog(false);
    log.job = job;
    log.node = node;
    log.lastTs = '';
    log.atLastTs = 0;
    $('logs-out').replaceChildren();
    log.shown = 0;
    log.pending = [];
    $('logs-title').textContent = 'Log of ' + node + ' (job ' + job + ')';
    $('logs-back').href = '#/job/' + encodeURIComponent(job);
    openLog(false);
  }

  function openLog(resume) {
    closeLog(false);
    const q = new URLSearchParams();
    q.set('job', log.job);
    q.set('node', log.node);
    q.set('timestamps', 'true'); /* always: the position to reopen from; hidden unless asked for */
    q.set('follow', $('l-follow').checked ? 'true' : 'false');
    const c = $('l-container').value.trim();
    if (c) q.set('container', c);
    log.skipUntil = '';
    log.skipAtTs = 0;
    if (resume && log.lastTs) {
      q.set('sinceTime', log.lastTs.slice(0, 23) + 'Z'); /* milliseconds; the lines before lastTs are skipped */
      log.skipUntil = log.lastTs;
      log.skipAtTs = log.atLastTs;
    } else {
      const tail = $('l-tail').value.trim();
      if (tail !== '') q.set('tailLines', tail);
      if (!resume) {
        $('logs-out').replaceChildren();
        log.shown = 0;
        log.lastTs = '';
        log.atLastTs = 0;
      }
    }
    log.decoder = new TextDecoder('utf-8');
    log.partial = '';
    log.ended = false;
    log.userClosed = false;
    let sock;
    try {
      sock = new WebSocket(wsURL('/ws/pod-logs?' + q.toString()), wsProtocols());
    } catch (e) {
      logStatus('Cannot open the log stream: ' + e.message, true);
      return;
    }
    sock.binaryType = 'arraybuffer';
    log.sock = sock;
    let opened = false;
    sock.onopen = () => {
      opened = true;
    };
    logStatus(resume ? 'Reopening from ' + log.lastTs + '…' : 'Opening…');
    $('l-close').disabled = false;
    $('l-pause').disabled = false;
    $('l-reopen').disabled = true;
    sock.onmessage = (ev) => {
      if (typeof ev.data === 'string') onLogControl(ev.data);
      else onLogBytes(ev.data);
    };
    sock.onclose = async (ev) => {
      if (log.sock !== sock) return;
      log.sock = null;
      onLogBytes(null);
      $('l-close').disabled = true;
      $('l-reopen').disabled = false;
      if (log.userClosed) {
        logStatus('Closed. Reopen to go on from where it stopped.');
      } else if (!log.ended) {
        let why = 'The stream closed (code ' + ev.code + (ev.reason ? ': ' + ev.reason : '') + ').';
        if (ev.code === 1006 && !opened) {
          /* A refused handshake hides the daemon's answer from the page: ask REST what stands in the way. */
          const res = await api('GET', '/api/v1/images/pull-jobs/' + encodeURIComponent(log.job)).catch(() => null);
          const p = res && authProblem(res);
          const task = res && res.status === 200 && res.doc ? (res.doc.tasks || []).find((t) => t.node === log.node) : null;
          if (p) why = p;
          else if (res && res.status === 404) why = 'The job is no longer in the table.';
          else if (res && res.status === 200 && !task) why = 'The job has no task on node ' + log.node + '.';
          else if (task && ['succeeded', 'failed', 'cancelled'].includes(task.state))
            why = 'The task is ' + task.state + ' and its pod is gone: a finished pull\'s Job and pod are removed after its ttl_seconds_after_finished, and a cancel deletes them at once.';
          else why = 'The daemon refused the log stream.';
        }
        logStatus(why + ' Reopen to go on from where it stopped.', ev.code !== 1000 && ev.code !== 1001);
      }
      schedule();
    };
  }

  function onLogControl(text) {
    let m;
    try {
      m = JSON.parse(text);
    } catch (e) {
      return;
    }
    if (m.type === 'waiting') {
      logStatus('Waiting for the ' + (m.reason === 'container_waiting' ? 'container to start' : 'pod') + ' (up to ' + m.timeout_s + ' s)…');
    } else if (m.type === 'started') {
      const c = m.container === null ? '(its only one)' : m.container; // null: the apiserver chose
      logStatus('Streaming ' + m.namespace + '/' + m.pod + ' container ' + c + '.');
      logNote('— started ' + m.pod + ' / ' + c + ' —');
    } else if (m.type === 'end') {
      log.ended = true;
      logStatus('The log ended: ' + m.reason + '. Reopen to go on from where it stopped.');
      logNote('— ended: ' + m.reason + ' —');
    } else if (m.type === 'error') {
      log.ended = true;
      logStatus('Error ' + m.code + ': ' + m.message, true);
      logNote('— error ' + m.code + ': ' + m.message + ' —');
    }
  }

  function takeLine(line) {
    const sp = line.indexOf(' ');
    let ts = '';
    let rest = line;
    if (sp > 0 && /^\d{4}-\d\d-\d\dT/.test(line)) {
      ts = line.slice(0, sp);
      rest = line.slice(sp + 1);
    }
    if (ts && log.skipUntil) {
      if (ts < log.skipUntil) return;
      if (ts === log.skipUntil && log.skipAtTs > 0) {
        log.skipAtTs--;
        return;
      }
      log.skipUntil = '';
    }
    if (ts) {
      if (ts === log.lastTs) log.atLastTs++;
      else {
        log.lastTs = ts;
        log.atLastTs = 1;
      }
    }
    log.pending.push({ ts, text: rest });
  }

  function onLogBytes(buf) {
    const s = buf ? log.decoder.decode(buf, { stream: true }) : log.decoder ? log.decoder.decode() : '';
    const text = log.partial + s;
    const parts = text.split('\n');
    log.partial = parts.pop();
    if (!buf && log.partial) {
      parts.push(log.partial);
      log.partial = '';
    }
    for (const line of parts) takeLine(line);
    if (log.pending.length > LOG_MAX_LINES * 2) log.pending.splice(0, log.pending.length - LOG_MAX_LINES * 2);
    schedule();
  }

  function flushLog() {
    if (log.paused || !log.pending.length) return;
    const out = $('logs-out');
    const stamps = $('l-timestamps').checked;
    const batch = log.pending.splice(0, 5000);
    let buf = '';
    const frag = document.createDocumentFragment();
    for (const l of batch) {
      if (l.note) {
        if (buf) frag.appendChild(document.createTextNode(buf));
        buf = '';
        frag.appendChild(el('span', 'note', l.note + '\n'));
      } else {
        buf += (stamps && l.ts ? l.ts + ' ' : '') + l.text + '\n';
        log.shown++;
      }
    }
    if (buf) frag.appendChild(document.createTextNode(buf));
    out.appendChild(frag);
    while (out.childNodes.length > 200 && log.shown > LOG_MAX_LINES) {
      const n = out.firstChild;
      log.shown -= (n.textContent.match(/\n/g) || []).length;
      n.remove();
    }
    if ($('l-scroll').checked) out.scrollTop = out.scrollHeight;
    if (log.pending.length) schedule();
  }

  function closeLog(user) {
    if (log.sock) {
      log.userClosed = !!user;
      const s = log.sock;
      if (!user) log.sock = null;
      s.close(1000);
    }
  }

  function togglePause() {
    log.paused = !log.paused;
    $('l-pause').textContent = log.paused ? 'Resume' : 'Pause';
    $('l-pause').setAttribute('aria-pressed', String(log.paused));
    if (log.paused) logStatus('Paused: lines are kept and shown on resume.');
    schedule();
  }

  /* ---------------------------------------------------------------- wiring */

  function init() {
    legend();
    $('token').value = token;
    $('token-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      token = $('token').value.trim();
      try {
        if (token) localStorage.setItem(TOKEN_KEY, token);
        else localStorage.removeItem(TOKEN_KEY);
      } catch (e) {
        /* storage disabled: the token lives for this page only */
      }
      banner('');
      reconnectNow();
    });
    $('token-clear').addEventListener('click', () => {
      $('token').value = '';
      $('token-form').requestSubmit();
    });
    $('jobs-state').addEventListener('change', () => {
      orderDirty = true;
      $('jobs-scroll').scrollTop = 0;
      schedule();
    });
    $('jobs-text').addEventListener('input', () => {
      orderDirty = true;
      schedule();
    });
    $('jobs-scroll').addEventListener('scroll', schedule, { passive: true });
    $('tasks-scroll').addEventListener('scroll', () => {
      taskWindowDirty = true;
      schedule();
    }, { passive: true });
    for (const id of ['tasks-state', 'tasks-node', 'tasks-text']) {
      $(id).addEventListener('input', () => {
        jobRendered = null;
        schedule();
      });
    }
    $('tasks-head').addEventListener('click', (ev) => {
      const b = ev.target.closest('button');
      if (!b) return;
      const k = b.dataset.key;
      taskSort = taskSort.key === k ? { key: k, dir: -taskSort.dir } : { key: k, dir: 1 };
      renderTaskHead();
      jobRendered = null;
      schedule();
    });
    $('job-cancel').addEventListener('click', askCancel);
    $('confirm-no').addEventListener('click', () => $('confirm').close());
    $('confirm-yes').addEventListener('click', doCancel);
    $('pull-form').addEventListener('submit', submitPull);
    for (const r of document.querySelectorAll('input[name="target"]')) r.addEventListener('change', syncTargetInputs);
    syncTargetInputs();
    $('logs-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      openLog(false);
    });
    $('l-reopen').addEventListener('click', () => openLog(true));
    $('l-close').addEventListener('click', () => closeLog(true));
    $('l-pause').addEventListener('click', togglePause);
    $('l-timestamps').addEventListener('change', () => logStatus('Timestamps apply to the lines that come from now on.'));
    window.addEventListener('hashchange', route);
    window.addEventListener('resize', schedule);
    /* Read-only figures for operators and tests: the page's view of the table. */
    window.imgpulld = Object.freeze({
      jobs: () => Array.from(jobs.values(), (j) => ({ id: j.id, state: j.state, version: j.version })),
      position: () => ({ epoch, seq }),
      stats: () => Object.assign({ live: !!ws && ws.readyState === 1 }, stats),
    });
    route();
    probeAuth().then((ok) => {
      if (ok) connect();
    });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
