// Opens the ComfyUI frontend in headless Chromium and, for every UI workflow given, loads it, converts it with the
// frontend's own graphToPrompt, records node boxes (to catch overlaps and nodes too small for their widgets) and saves
// a screenshot (THUMBS: also a JPEG thumbnail per workflow). With RERUN=<workflow.json>, queues that workflow twice
// from the UI and reloads the page, recording the PICD reports shown after each step (they must survive the cache).
// usage: node frontend_check.mjs URL SHOT_DIR WORKFLOW.json...   (needs puppeteer-core; CHROMIUM=/usr/bin/chromium)
import { readFileSync, mkdirSync } from "node:fs";
import { basename } from "node:path";
import puppeteer from "puppeteer-core";

const [url, shotDir, ...workflowPaths] = process.argv.slice(2);
mkdirSync(shotDir, { recursive: true });
const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--window-size=1400,900"],
});
const errors = [];
const page = await browser.newPage();
await page.setViewport({ width: 1400, height: 900 });
page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
page.on("pageerror", (e) => errors.push(String(e)));
page.on("dialog", (d) => d.accept());  // "leave with unsaved changes?" on reload

async function openApp() {
  await page.waitForFunction(() => (window.app ?? window.comfyAPI?.app?.app)?.extensions?.length > 0,
                             { timeout: 90000 });
  await page.keyboard.press("Escape");  // close the templates dialog shown on first start
  await new Promise((r) => setTimeout(r, 500));
}
await page.goto(url, { waitUntil: "networkidle2", timeout: 90000 });
await openApp();

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const names = await page.evaluate(() => (window.app ?? window.comfyAPI.app.app).extensions.map((e) => e.name));
const workflows = {};
for (const path of workflowPaths) {
  const name = basename(path, ".json");
  const wf = JSON.parse(readFileSync(path, "utf8"));
  const result = await page.evaluate(async (wf) => {
    const app = window.app ?? window.comfyAPI.app.app;
    await app.loadGraphData(wf);
    const prompt = await app.graphToPrompt();
    const nodes = app.graph._nodes.map((n) => {
      const min = n.computeSize ? n.computeSize() : n.size;
      return { id: n.id, type: n.type, title: n.title, bounding: Array.from(n.getBounding()), size: Array.from(n.size),
               min: Array.from(min), widgets: (n.widgets ?? []).map((w) => [w.name, w.value]) };
    });
    // show the graph from its top-left corner, as large as fits but never below the zoom where titles are drawn
    const xs = nodes.map((n) => n.bounding[0]), ys = nodes.map((n) => n.bounding[1]);
    const x2 = nodes.map((n) => n.bounding[0] + n.bounding[2]), y2 = nodes.map((n) => n.bounding[1] + n.bounding[3]);
    const [minx, miny, maxx, maxy] = [Math.min(...xs), Math.min(...ys), Math.max(...x2), Math.max(...y2)];
    const canvas = app.canvas, W = canvas.canvas.width - 120, H = canvas.canvas.height - 160;
    const scale = Math.max(0.65, Math.min(W / (maxx - minx), H / (maxy - miny), 1.0));
    canvas.ds.scale = scale;
    canvas.ds.offset = [80 / scale - minx, 110 / scale - miny];
    canvas.setDirty(true, true);
    return { prompt: prompt.output, nodes };
  }, wf);
  await sleep(800);
  await page.screenshot({ path: `${shotDir}/${name}.png` });
  if (process.env.THUMBS) {
    await page.screenshot({ path: `${process.env.THUMBS}/${name}.jpg`, type: "jpeg", quality: 70,
                            clip: { x: 60, y: 90, width: 840, height: 630 } });  // the graph, without toolbars and toasts
  }
  workflows[name] = result;
}

let rerun = null;
if (process.env.RERUN) {
  const wf = JSON.parse(readFileSync(process.env.RERUN, "utf8"));
  const reports = () => page.evaluate(() => {
    const app = window.app ?? window.comfyAPI.app.app;
    return Object.fromEntries(app.graph._nodes.filter((n) => n.type.startsWith("PICD_"))
      .map((n) => [n.type, { report: n.picdReport ?? null, images: (n.imgs ?? []).length }]));
  });
  const queueAndWait = async () => {
    const before = await page.evaluate(async () => Object.keys(await (await fetch("/api/history")).json()).length);
    await page.evaluate(async () => { await (window.app ?? window.comfyAPI.app.app).queuePrompt(0, 1); });
    for (let i = 0; i < 600; i++) {
      await sleep(1000);
      const done = await page.evaluate(async (before) => {
        const h = await (await fetch("/api/history")).json();
        const q = await (await fetch("/api/queue")).json();
        return Object.keys(h).length > before && q.queue_running.length === 0 && q.queue_pending.length === 0;
      }, before);
      if (done) break;
    }
    await sleep(1500);
  };
  await page.evaluate(async (wf) => { await (window.app ?? window.comfyAPI.app.app).loadGraphData(wf); }, wf);
  await queueAndWait();
  const first = await reports();
  await page.evaluate(() => {  // forget what the first run showed: a cached rerun must send it again
    for (const n of (window.app ?? window.comfyAPI.app.app).graph._nodes) { delete n.picdReport; }
  });
  await queueAndWait();
  const second = await reports();
  await page.screenshot({ path: `${shotDir}/rerun.png` });
  // a fresh tab, as after closing and reopening the browser: the workflow comes back from local storage
  let reloaded = null, reloadError = null;
  try {
    await sleep(2000);  // let the frontend store the workflow
    const fresh = await browser.newPage();
    await fresh.setViewport({ width: 1400, height: 900 });
    fresh.on("dialog", (d) => d.accept());
    await fresh.goto(url, { waitUntil: "networkidle2", timeout: 90000 });
    await fresh.waitForFunction(() => (window.app ?? window.comfyAPI?.app?.app)?.graph?._nodes?.some(
      (n) => n.type === "PICD_MLICEncode"), { timeout: 60000 });
    await sleep(3000);
    reloaded = await fresh.evaluate(() => {
      const app = window.app ?? window.comfyAPI.app.app;
      return Object.fromEntries(app.graph._nodes.filter((n) => n.type.startsWith("PICD_"))
        .map((n) => [n.type, { report: n.picdReport ?? null, images: (n.imgs ?? []).length }]));
    });
    await fresh.screenshot({ path: `${shotDir}/reloaded.png` });
  } catch (e) {
    reloadError = String(e);
  }
  rerun = { first, second, reloaded, reloadError };
}
await browser.close();
console.log(JSON.stringify({ names, workflows, rerun, errors }));
