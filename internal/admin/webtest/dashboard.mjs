// Drives the admin dashboard in headless Chromium against a running
// midge (cmd/midge/dashboard_test.go starts one and runs this script):
// the clients table, the retained list and topic tree, the browser's own
// MQTT over WebSockets client, and that hostile topics and payloads stay
// text. It exits non-zero with a message on the first failure.
//
// Environment:
//   MIDGE_DASHBOARD_URL     the dashboard, e.g. http://127.0.0.1:9000/
//   MIDGE_ADMIN_USER        HTTP Basic user of the admin listener
//   MIDGE_ADMIN_PASSWORD    and its password
//   MIDGE_SCREENSHOT        where to write a full-page PNG
//   MIDGE_WATCHED_CLIENT    a client id that is connected (watched-client)
//   MIDGE_RETAINED_TOPIC    a retained topic (tree/<b>bold</b>/leaf)
//   MIDGE_DELETE_TOPIC      a retained topic to delete from the page
//   CHROMIUM                the browser (/usr/bin/chromium)

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const TIMEOUT = 60_000;
const PAYLOAD = "<img src=x onerror=window.pwned=1>hello";

function env(name, fallback) {
  const v = process.env[name] ?? fallback;
  if (v === undefined || v === "") {
    console.error(`dashboard test: ${name} is not set`);
    process.exit(2);
  }
  return v;
}

const url = env("MIDGE_DASHBOARD_URL");
const user = env("MIDGE_ADMIN_USER");
const password = env("MIDGE_ADMIN_PASSWORD");
const screenshot = env("MIDGE_SCREENSHOT");
const watched = env("MIDGE_WATCHED_CLIENT", "watched-client");
const retainedTopic = env("MIDGE_RETAINED_TOPIC", "tree/<b>bold</b>/leaf");
const deleteTopic = process.env.MIDGE_DELETE_TOPIC || "";
const executablePath = env("CHROMIUM", "/usr/bin/chromium");

class Failure extends Error {}

function fail(msg) {
  throw new Failure(msg);
}

// step names what is being checked, so a timeout says which wait failed.
async function step(name, fn) {
  const started = Date.now();
  try {
    await fn();
  } catch (e) {
    if (e instanceof Failure) throw new Failure(`${name}: ${e.message}`);
    throw new Failure(`${name}: ${e.message.split("\n")[0]}`);
  }
  console.log(`ok   ${name} (${Date.now() - started} ms)`);
}

// exactly finds the elements of a data-testid whose whole text is text.
function exactly(page, testid, text) {
  const escaped = text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return page.getByTestId(testid).filter({ hasText: new RegExp("^" + escaped + "$") });
}

const problems = []; // console errors and page errors, reported at the end

const userDataDir = mkdtempSync(join(tmpdir(), "midge-dashboard-chromium-"));
let context;
let exitCode = 0;
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    httpCredentials: { username: user, password },
    viewport: { width: 1400, height: 1000 },
    timeout: TIMEOUT,
  });
  context.setDefaultTimeout(TIMEOUT);
  const page = context.pages()[0] ?? (await context.newPage());
  page.on("console", (msg) => {
    if (msg.type() === "error") problems.push(`console error: ${msg.text()}`);
  });
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  page.on("response", (resp) => {
    // The 401 that asks for the credentials is expected; nothing else fails.
    if (resp.status() >= 400 && resp.status() !== 401) {
      problems.push(`HTTP ${resp.status()} for ${resp.request().method()} ${resp.url()}`);
    }
  });

  await step("open the dashboard", async () => {
    const resp = await page.goto(url, { waitUntil: "load" });
    if (!resp || !resp.ok()) fail(`status ${resp && resp.status()}`);
    const csp = resp.headers()["content-security-policy"] || "";
    if (!csp.includes("script-src 'self'")) fail(`no strict Content-Security-Policy: ${csp}`);
    await page.locator('#api-status[data-state="ok"]').waitFor();
  });

  await step(`the clients table shows ${watched}`, async () => {
    await exactly(page, "client-id", watched).waitFor();
    const row = page.locator('[data-testid="client-row"]', { has: exactly(page, "client-id", watched) });
    const cells = await row.locator("td").allTextContents();
    if (!cells[3].startsWith("MQTT 3.1.1")) fail(`protocol cell: ${JSON.stringify(cells)}`);
    if (!/^\d+ s$/.test(cells[4])) fail(`keep alive cell: ${JSON.stringify(cells)}`);
    if (cells[5] !== "1") fail(`subscriptions cell: ${JSON.stringify(cells)}`);
  });

  await step("the figures are numbers", async () => {
    await page.waitForFunction(() => /^\d/.test(document.getElementById("stat-rate-in").textContent));
    for (const id of ["stat-rate-in", "stat-rate-out", "stat-clients", "stat-sessions", "stat-subscriptions", "stat-retained", "stat-dropped"]) {
      const t = await page.getByTestId(id).textContent();
      if (!/^[\d.,]+$/.test(t)) fail(`${id} shows ${JSON.stringify(t)}`);
    }
  });

  await step("the browser client connects over WebSockets", async () => {
    const wsURL = await page.getByTestId("ws-url").inputValue();
    if (!/^ws:\/\/.+:\d+\/mqtt$/.test(wsURL)) fail(`WebSocket URL ${JSON.stringify(wsURL)}`);
    await page.getByTestId("ws-connect").click();
    await page.locator('#ws-status[data-state="connected"]').waitFor();
  });

  await step("subscribe to dash/# at QoS 2", async () => {
    await page.getByTestId("sub-filter").fill("dash/#");
    await page.getByTestId("sub-qos").selectOption("2");
    await page.getByTestId("sub-button").click();
    await page.locator('[data-testid="ws-sub"][data-filter="dash/#"][data-granted="2"]').waitFor();
  });

  await step("a retained QoS 2 message arrives, and its PUBREL is answered", async () => {
    const msg = page.locator('[data-testid="message"]', { has: exactly(page, "msg-topic", "dash/kept") });
    await exactly(page, "msg-payload", "exactly once").waitFor();
    const head = await msg.locator(".msg-head").textContent();
    if (!head.includes("QoS 2, retained")) fail(`message head ${JSON.stringify(head)}`);
    // The broker forgets the message only after our PUBCOMP.
    const id = await page.getByTestId("ws-client-id").inputValue();
    const deadline = Date.now() + TIMEOUT;
    for (;;) {
      const s = await page.evaluate(async (id) => (await fetch("api/v1/sessions/" + encodeURIComponent(id))).json(), id);
      if (s.inflight === 0) break;
      if (Date.now() > deadline) fail(`${s.inflight} message(s) still in flight to the page's client`);
      await new Promise((r) => setTimeout(r, 200));
    }
  });

  await step("a published message comes back as text", async () => {
    await page.getByTestId("pub-topic").fill("dash/test");
    await page.getByTestId("pub-payload").fill(PAYLOAD);
    await page.getByTestId("pub-qos").selectOption("1");
    await page.getByTestId("pub-button").click();
    await exactly(page, "pub-status", "acknowledged").waitFor();
    await exactly(page, "msg-payload", PAYLOAD).waitFor();
    const topic = await page.getByTestId("msg-topic").first().textContent();
    if (topic !== "dash/test") fail(`received topic ${JSON.stringify(topic)}`);
  });

  await step("the retained topic is listed as text", async () => {
    await exactly(page, "retained-topic", retainedTopic).waitFor();
  });

  await step("the topic tree shows the retained and the live topics", async () => {
    await page.waitForFunction((topics) => {
      const nodes = [...document.querySelectorAll('[data-testid="tree-node"]')];
      return topics.every((t) => nodes.some((n) => n.dataset.topic === t));
    }, [retainedTopic, "dash/test"]);
    const labels = await page.evaluate((topic) => {
      const out = [];
      for (let n = [...document.querySelectorAll('[data-testid="tree-node"]')].find((n) => n.dataset.topic === topic);
        n && n.dataset.testid === "tree-node"; n = n.parentElement.closest("li")) {
        out.unshift(n.querySelector(":scope > .tree-label").textContent);
      }
      return out;
    }, retainedTopic);
    const want = retainedTopic.split("/");
    if (JSON.stringify(labels) !== JSON.stringify(want)) fail(`tree path ${JSON.stringify(labels)}, want ${JSON.stringify(want)}`);
  });

  await step("no markup from the data ran", async () => {
    const seen = await page.evaluate(() => ({
      img: document.querySelectorAll("img").length,
      b: document.querySelectorAll("b").length,
      pwned: typeof window.pwned,
    }));
    if (seen.img || seen.b || seen.pwned !== "undefined") fail(`found ${JSON.stringify(seen)}`);
  });

  await step("full-page screenshot", async () => {
    // Let a second poll draw the rate chart before the picture.
    await page.waitForFunction(() => Number(document.getElementById("stat-clients").textContent) >= 2);
    await page.screenshot({ path: screenshot, fullPage: true });
  });

  if (deleteTopic) {
    await step(`delete the retained message of ${deleteTopic}`, async () => {
      const row = page.locator('[data-testid="retained-row"]', { has: exactly(page, "retained-topic", deleteTopic) });
      await row.getByTestId("retained-delete").click();
      await row.waitFor({ state: "detached" });
    });
  }

  await step(`disconnect ${watched}`, async () => {
    const row = page.locator('[data-testid="client-row"]', { has: exactly(page, "client-id", watched) });
    await row.getByTestId("client-disconnect").click();
    await row.waitFor({ state: "detached" });
  });

  await step("the browser client disconnects", async () => {
    await page.getByTestId("ws-connect").click();
    await page.locator('#ws-status[data-state="disconnected"]').waitFor();
  });

  if (problems.length) fail(problems.join("\n"));
} catch (e) {
  console.error(`FAIL ${e instanceof Failure ? e.message : e.stack || e}`);
  if (problems.length && !(e instanceof Failure && e.message.includes(problems[0]))) {
    console.error(problems.join("\n"));
  }
  exitCode = 1;
} finally {
  if (context) await context.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
}
if (exitCode === 0) console.log("dashboard test passed");
process.exit(exitCode);
