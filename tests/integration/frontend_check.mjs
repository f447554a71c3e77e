// Opens the ComfyUI frontend in headless Chromium, waits for the extensions, reports the PICD extension's presence
// and any console/page errors that mention the pack, and saves a screenshot with a PICD node on the canvas.
// usage: node frontend_check.mjs URL SCREENSHOT.png WORKFLOW.json  (needs puppeteer-core; CHROMIUM=/usr/bin/chromium)
// Loads WORKFLOW (UI format) and prints the frontend's own API conversion of it (graphToPrompt) for comparison.
import { readFileSync } from "node:fs";
import puppeteer from "puppeteer-core";

const [url, shot, workflowPath] = process.argv.slice(2);
const workflow = JSON.parse(readFileSync(workflowPath, "utf8"));
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
await page.goto(url, { waitUntil: "networkidle2", timeout: 90000 });
await page.waitForFunction(() => (window.app ?? window.comfyAPI?.app?.app)?.extensions?.length > 0, { timeout: 90000 });
await page.keyboard.press("Escape");  // close the templates dialog shown on first start
const result = await page.evaluate(async (wf) => {
  const app = window.app ?? window.comfyAPI?.app?.app;
  const names = app.extensions.map((e) => e.name);
  await app.loadGraphData(wf);
  const prompt = await app.graphToPrompt();
  const encode = app.graph._nodes.find((n) => n.type === "PICD_MLICEncode");
  if (encode) encode.picdReport = "8517 B, 0.1040 bpp (screen, mlic q2; text 285 B, image 8180 B)";
  app.graph.setDirtyCanvas(true, true);
  return { names, nodeCreated: !!encode, prompt: prompt.output };
}, workflow);
await new Promise((r) => setTimeout(r, 1500));
await page.screenshot({ path: shot });
await browser.close();
console.log(JSON.stringify({ ...result, errors }));
