// The dashboard: polls the admin JSON API every second and draws the
// broker's figures, clients, subscriptions and retained messages; the
// pane speaks MQTT over WebSockets with mqtt.js.
//
// Client ids, topics and payloads come from anyone who can connect, so
// every value reaches the page through textContent and createElement only.

import { Client } from "./mqtt.js";

const $ = (id) => document.getElementById(id);
const POLL_MS = 1000;
const HISTORY = 120; // seconds of rates the chart keeps
const MAX_MESSAGES = 200; // received messages the pane keeps
const LIST_LIMIT = 1000; // the API's largest page

// el builds an element: props may set className, text, title, testid,
// and data (dataset entries); children are nodes or strings (as text).
function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  if (props.className) e.className = props.className;
  if (props.text !== undefined) e.textContent = String(props.text);
  if (props.title !== undefined) e.title = String(props.title);
  if (props.testid) e.dataset.testid = props.testid;
  for (const [k, v] of Object.entries(props.data || {})) e.dataset[k] = String(v);
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

async function api(path, options = {}) {
  const resp = await fetch("api/v1/" + path, { cache: "no-store", ...options });
  let body = null;
  try {
    body = await resp.json();
  } catch {
    // not JSON: the status says enough
  }
  if (!resp.ok) throw new Error((body && body.error) || resp.status + " " + resp.statusText);
  return body;
}

const number = new Intl.NumberFormat("en");
const decimal = new Intl.NumberFormat("en", { maximumFractionDigits: 1 });

function rate(v) {
  return v < 10 ? decimal.format(v) : number.format(Math.round(v));
}

function bytes(v) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return decimal.format(v) + " " + units[i];
}

function duration(s) {
  s = Math.floor(s);
  const d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
  const parts = [];
  if (d) parts.push(d + "d");
  if (d || h) parts.push(h + "h");
  if (d || h || m) parts.push(m + "m");
  parts.push((s % 60) + "s");
  return parts.join(" ");
}

const PROTOCOLS = { 3: "MQTT 3.1", 4: "MQTT 3.1.1", 5: "MQTT 5.0" };

function showError(node, err) {
  node.textContent = err ? String(err.message || err) : "";
}

// --- figures and rates -----------------------------------------------------

let previous = null;
const history = []; // {in, out} messages per second, oldest first

function renderOverview(ov) {
  $("version").textContent = "v" + ov.version;
  $("uptime").textContent = "up " + duration(ov.uptime_seconds);
  $("stat-clients").textContent = number.format(ov.clients_connected);
  $("stat-sessions").textContent = number.format(ov.sessions);
  $("stat-subscriptions").textContent = number.format(ov.subscriptions);
  $("stat-retained").textContent = number.format(ov.retained);
  $("stat-dropped").textContent = number.format(ov.dropped);
  $("stat-dropped").parentElement.classList.toggle("warn", ov.dropped > 0);
  // The broker's uptime is the clock: polls that arrive late do not
  // make the rates jump.
  const dt = previous ? ov.uptime_seconds - previous.uptime_seconds : 0;
  if (dt > 0 && ov.publish_received >= previous.publish_received) {
    const r = {
      in: (ov.publish_received - previous.publish_received) / dt,
      out: (ov.publish_sent - previous.publish_sent) / dt,
      bin: (ov.bytes_received - previous.bytes_received) / dt,
      bout: (ov.bytes_sent - previous.bytes_sent) / dt,
    };
    $("stat-rate-in").textContent = rate(r.in);
    $("stat-rate-out").textContent = rate(r.out);
    $("stat-bytes-in").textContent = bytes(r.bin) + "/s";
    $("stat-bytes-out").textContent = bytes(r.bout) + "/s";
    history.push(r);
    if (history.length > HISTORY) history.shift();
    drawChart();
  }
  previous = ov;
}

function drawChart() {
  const canvas = $("rate-chart");
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(canvas.clientWidth * dpr)), h = Math.max(1, Math.round(canvas.clientHeight * dpr));
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
  }
  const ctx = canvas.getContext("2d");
  const css = getComputedStyle(document.documentElement);
  ctx.clearRect(0, 0, w, h);
  const top = Math.max(1, ...history.map((r) => Math.max(r.in, r.out)));
  const pad = 4 * dpr;
  const x = (i) => w - (history.length - 1 - i) * (w / (HISTORY - 1));
  const y = (v) => h - pad - (v / top) * (h - 2 * pad);
  ctx.strokeStyle = css.getPropertyValue("--grid").trim();
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(0, y(top));
  ctx.lineTo(w, y(top));
  ctx.moveTo(0, y(0));
  ctx.lineTo(w, y(0));
  ctx.stroke();
  for (const [key, color] of [["in", "--in"], ["out", "--out"]]) {
    ctx.strokeStyle = css.getPropertyValue(color).trim();
    ctx.lineWidth = 2 * dpr;
    ctx.beginPath();
    history.forEach((r, i) => (i ? ctx.lineTo(x(i), y(r[key])) : ctx.moveTo(x(i), y(r[key]))));
    ctx.stroke();
  }
  ctx.fillStyle = css.getPropertyValue("--muted").trim();
  ctx.font = 11 * dpr + "px sans-serif";
  ctx.fillText(rate(top) + "/s", pad, y(top) + 12 * dpr);
}

// --- lists -------------------------------------------------------------------

// Each list is redrawn only when its answer changed, so a button under
// the pointer stays where it is.
const drawn = new Map();

function changed(key, value) {
  const s = JSON.stringify(value);
  if (drawn.get(key) === s) return false;
  drawn.set(key, s);
  return true;
}

function countText(node, page) {
  node.textContent = page.total > page.items.length ? page.items.length + " of " + page.total : String(page.total);
}

function emptyRow(cols, text) {
  const td = el("td", { className: "empty", text });
  td.colSpan = cols;
  return el("tr", {}, td);
}

function renderClients(page) {
  countText($("clients-count"), page);
  const rows = page.items.map((c) => {
    const button = el("button", { className: "small danger", text: "Disconnect", testid: "client-disconnect", title: "Disconnect " + c.client_id });
    button.type = "button";
    button.addEventListener("click", () => disconnect(c.client_id, button));
    return el("tr", { testid: "client-row", data: { clientId: c.client_id } },
      el("td", { className: "mono", text: c.client_id, testid: "client-id" }),
      el("td", { text: c.username || "" }),
      el("td", { className: "mono", text: c.remote_addr || "", title: c.listener || "" }),
      el("td", { text: PROTOCOLS[c.protocol_version] || String(c.protocol_version) }),
      el("td", { className: "num", text: c.keep_alive ? c.keep_alive + " s" : "none" }),
      el("td", { className: "num", text: c.subscriptions.length, title: c.subscriptions.map((s) => s.filter).join("\n") }),
      el("td", { className: "num", text: c.queued, title: bytes(c.queued_bytes) + " queued, " + c.inflight + " in flight" }),
      el("td", {}, button));
  });
  $("clients-body").replaceChildren(...(rows.length ? rows : [emptyRow(8, "no connected clients")]));
}

async function disconnect(id, button) {
  button.disabled = true;
  try {
    await api("clients/" + encodeURIComponent(id), { method: "DELETE" });
    showError($("api-error"), null);
  } catch (e) {
    showError($("api-error"), e);
    button.disabled = false;
  }
  refresh();
}

function renderSubscriptions(page) {
  countText($("subs-count"), page);
  const rows = page.items.map((s) => el("tr", { testid: "subscription-row" },
    el("td", { className: "mono", text: s.client_id }),
    el("td", { className: "mono", text: s.filter, testid: "subscription-filter" }),
    el("td", { className: "num", text: s.qos })));
  $("subs-body").replaceChildren(...(rows.length ? rows : [emptyRow(3, "no subscriptions")]));
}

function preview(m) {
  if (m.payload === null) return { text: "binary, " + m.size + " bytes", className: "binary" };
  const text = m.payload.length > 120 ? m.payload.slice(0, 120) + "…" : m.payload;
  return { text: m.size > m.payload.length ? text + " …" : text, className: "mono" };
}

function renderRetained(page) {
  countText($("retained-count"), page);
  const rows = page.items.map((m) => {
    const button = el("button", { className: "small danger", text: "Delete", testid: "retained-delete", title: "Delete the retained message of " + m.topic });
    button.type = "button";
    button.addEventListener("click", () => deleteRetained(m.topic, button));
    const p = preview(m);
    return el("tr", { testid: "retained-row", data: { topic: m.topic } },
      el("td", { className: "mono", text: m.topic, testid: "retained-topic" }),
      el("td", { className: p.className, text: p.text, testid: "retained-payload", title: m.publisher ? "from " + m.publisher : "" }),
      el("td", { className: "num", text: bytes(m.size) }),
      el("td", { className: "num", text: m.qos }),
      el("td", {}, button));
  });
  $("retained-body").replaceChildren(...(rows.length ? rows : [emptyRow(5, "no retained messages")]));
}

async function deleteRetained(topic, button) {
  button.disabled = true;
  try {
    await api("retained?topic=" + encodeURIComponent(topic), { method: "DELETE" });
    showError($("api-error"), null);
  } catch (e) {
    showError($("api-error"), e);
    button.disabled = false;
  }
  refresh();
}

// --- topic tree ----------------------------------------------------------------

let retainedTopics = [];
const liveTopics = new Map(); // topic -> messages the pane received

function renderTree() {
  const root = { children: new Map() };
  const node = (topic) => {
    let n = root;
    const levels = topic.split("/");
    levels.forEach((level, i) => {
      if (!n.children.has(level)) {
        n.children.set(level, { level, path: levels.slice(0, i + 1).join("/"), children: new Map(), retained: false, live: 0 });
      }
      n = n.children.get(level);
    });
    return n;
  };
  for (const t of retainedTopics) node(t).retained = true;
  for (const [t, count] of liveTopics) node(t).live += count;
  const draw = (n) => {
    const kids = [...n.children.values()].sort((a, b) => (a.level < b.level ? -1 : a.level > b.level ? 1 : 0));
    return kids.map((k) => {
      const label = k.level === ""
        ? el("span", { className: "tree-label empty", text: "(empty level)" })
        : el("span", { className: "tree-label mono", text: k.level, testid: "tree-label" });
      const li = el("li", { testid: "tree-node", title: k.path, data: { topic: k.path } }, label);
      if (k.retained) li.append(el("span", { className: "mark retained", text: "R", title: "retained message" }));
      if (k.live) li.append(el("span", { className: "mark live", text: k.live, title: k.live + " received" }));
      if (k.children.size) li.append(el("ul", {}, ...draw(k)));
      return li;
    });
  };
  const items = draw(root);
  $("topic-tree").replaceChildren(...(items.length ? items : [el("li", { className: "empty", text: "no topics yet" })]));
}

let treeQueued = false;
function queueTree() {
  if (treeQueued) return;
  treeQueued = true;
  requestAnimationFrame(() => {
    treeQueued = false;
    renderTree();
  });
}

// --- polling -------------------------------------------------------------------

let timer = 0;
let polling = false, pollAgain = false;

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "") q.set(k, v);
  return q.toString();
}

// refresh polls now; a call while a poll is out runs once more after it.
async function refresh() {
  if (polling) {
    pollAgain = true;
    return;
  }
  polling = true;
  clearTimeout(timer);
  const status = $("api-status");
  try {
    const [ov, clients, subs, retained] = await Promise.all([
      api("overview"),
      api("clients?" + query({ limit: LIST_LIMIT, prefix: $("clients-prefix").value })),
      api("subscriptions?" + query({ limit: LIST_LIMIT, filter: $("subs-filter").value.trim() })),
      api("retained?" + query({ limit: LIST_LIMIT, filter: $("retained-filter").value.trim() })),
    ]);
    renderOverview(ov);
    if (changed("clients", clients)) renderClients(clients);
    if (changed("subs", subs)) renderSubscriptions(subs);
    if (changed("retained", retained)) {
      renderRetained(retained);
      retainedTopics = retained.items.map((m) => m.topic);
      queueTree();
    }
    status.textContent = "live";
    status.dataset.state = "ok";
    showError($("api-error"), null);
  } catch (e) {
    status.textContent = "API unreachable";
    status.dataset.state = "error";
    showError($("api-error"), e);
  }
  polling = false;
  if (pollAgain) {
    pollAgain = false;
    refresh();
  } else {
    timer = setTimeout(refresh, POLL_MS);
  }
}

function onInput(id) {
  let t = 0;
  $(id).addEventListener("input", () => {
    clearTimeout(t);
    t = setTimeout(refresh, 300);
  });
}

// --- the browser's MQTT client -------------------------------------------------

let mqtt = null;

function setConnected(state, text) {
  const s = $("ws-status");
  s.dataset.state = state;
  s.textContent = text;
  $("ws-connect").textContent = state === "disconnected" ? "Connect" : "Disconnect";
  $("sub-button").disabled = state !== "connected";
  $("pub-button").disabled = state !== "connected";
  for (const id of ["ws-url", "ws-client-id", "ws-username", "ws-password"]) $(id).disabled = state !== "disconnected";
}

async function findWebSocketListener() {
  try {
    const ls = await api("listeners");
    const ws = ls.find((l) => l.protocol === "websockets" && !l.socket && l.port > 0);
    if (!ws) {
      showError($("pane-error"), "The broker has no WebSocket listener: add one (listener 8080, protocol websockets) to use this pane.");
      return;
    }
    if ($("ws-url").value === "") {
      $("ws-url").value = (ws.tls ? "wss://" : "ws://") + location.hostname + ":" + ws.port + "/mqtt";
    }
  } catch (e) {
    showError($("pane-error"), e);
  }
}

async function toggleConnection(ev) {
  ev.preventDefault();
  if (mqtt) {
    mqtt.close("disconnected");
    return;
  }
  const url = $("ws-url").value.trim();
  if (!/^wss?:\/\//.test(url)) {
    showError($("pane-error"), "The WebSocket URL must start with ws:// or wss://");
    return;
  }
  const c = new Client();
  mqtt = c;
  c.onmessage = received;
  c.onclose = (reason) => {
    if (mqtt === c) mqtt = null;
    setConnected("disconnected", reason === "disconnected" ? "disconnected" : "disconnected: " + reason);
    $("ws-subs").replaceChildren();
  };
  setConnected("connecting", "connecting…");
  showError($("pane-error"), null);
  try {
    await c.connect(url, {
      clientId: $("ws-client-id").value.trim(),
      username: $("ws-username").value,
      password: $("ws-password").value,
      keepAlive: 30,
    });
    setConnected("connected", "connected");
  } catch (e) {
    showError($("pane-error"), e);
  }
}

async function subscribe(ev) {
  ev.preventDefault();
  const filter = $("sub-filter").value.trim();
  const qos = Number($("sub-qos").value);
  if (!mqtt || filter === "") return;
  const c = mqtt;
  try {
    const granted = await c.subscribe(filter, qos);
    if (granted >= 0x80) throw new Error("the broker refused the subscription to " + filter);
    showError($("pane-error"), null);
    const chips = $("ws-subs");
    for (const chip of chips.children) if (chip.dataset.filter === filter) chip.remove();
    const remove = el("button", { className: "small", text: "×", title: "Unsubscribe from " + filter });
    remove.type = "button";
    const chip = el("li", { testid: "ws-sub", data: { filter, granted } },
      el("span", { className: "mono", text: filter }), " ", el("span", { className: "muted", text: "QoS " + granted }), remove);
    remove.addEventListener("click", async () => {
      try {
        await c.unsubscribe(filter);
        chip.remove();
      } catch (e) {
        showError($("pane-error"), e);
      }
    });
    chips.append(chip);
  } catch (e) {
    showError($("pane-error"), e);
  }
}

async function publish(ev) {
  ev.preventDefault();
  if (!mqtt) return;
  const topic = $("pub-topic").value;
  const qos = Number($("pub-qos").value);
  const note = $("pub-status");
  note.textContent = "";
  try {
    if (topic === "" || /[+#]/.test(topic)) throw new Error("a topic to publish to has no wildcards and is not empty");
    await mqtt.publish(topic, $("pub-payload").value, { qos, retain: $("pub-retain").checked });
    note.textContent = qos ? "acknowledged" : "sent";
    showError($("pane-error"), null);
  } catch (e) {
    showError($("pane-error"), e);
  }
}

const strictUTF8 = new TextDecoder("utf-8", { fatal: true });

function payloadText(bytes) {
  try {
    return { text: strictUTF8.decode(bytes), binary: false };
  } catch {
    const hex = Array.from(bytes.subarray(0, 64), (b) => b.toString(16).padStart(2, "0")).join(" ");
    return { text: hex + (bytes.length > 64 ? " …" : ""), binary: true };
  }
}

function received(m) {
  liveTopics.set(m.topic, (liveTopics.get(m.topic) || 0) + 1);
  queueTree();
  const p = payloadText(m.payload);
  const flags = ["QoS " + m.qos];
  if (m.retain) flags.push("retained");
  if (m.dup) flags.push("dup");
  const li = el("li", { testid: "message" },
    el("div", { className: "msg-head" },
      el("span", { className: "msg-topic mono", text: m.topic, testid: "msg-topic" }),
      el("span", { className: "muted", text: flags.join(", ") + " · " + m.payload.length + " B · " + new Date().toLocaleTimeString() })),
    el("div", { className: "msg-payload " + (p.binary ? "binary" : "mono"), text: p.text, testid: "msg-payload" }));
  const list = $("messages");
  list.prepend(li);
  while (list.children.length > MAX_MESSAGES) list.lastElementChild.remove();
}

// --- start -----------------------------------------------------------------------

function start() {
  const id = new Uint8Array(4);
  crypto.getRandomValues(id);
  $("ws-client-id").value = "midge-dashboard-" + Array.from(id, (b) => b.toString(16).padStart(2, "0")).join("");
  $("ws-form").addEventListener("submit", toggleConnection);
  $("sub-form").addEventListener("submit", subscribe);
  $("pub-form").addEventListener("submit", publish);
  $("messages-clear").addEventListener("click", () => {
    $("messages").replaceChildren();
    liveTopics.clear();
    queueTree();
  });
  onInput("clients-prefix");
  onInput("subs-filter");
  onInput("retained-filter");
  window.addEventListener("resize", drawChart);
  setConnected("disconnected", "disconnected");
  renderTree();
  findWebSocketListener();
  refresh();
}

start();
