// The sandbox page in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core):
// load http://ADMIN/sandbox, send a purchase with the form, see it approved field by field and
// listed in the live list of decisions (server-sent events), and save a screenshot.
//
//   node scripts/sandbox-browser.cjs http://127.0.0.1:9583 OUT_DIR
//
// Run by scripts/sandbox-browser (which finds or installs playwright-core), itself run by
// scripts/e2e against the sandbox it started. Exits 1 on any failure, with what was seen.
"use strict";

const { chromium } = require("playwright-core");
const path = require("path");
const fs = require("fs");

const [admin, outDir] = process.argv.slice(2);
if (!admin || !outDir) {
  console.error("usage: sandbox-browser.cjs ADMIN_URL OUT_DIR");
  process.exit(2);
}
const STEP_MS = 15000;

async function main() {
  fs.mkdirSync(outDir, { recursive: true });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    // Root in a container has no user namespaces for Chromium's sandbox.
    args: process.getuid && process.getuid() === 0 ? ["--no-sandbox"] : [],
  });
  const problems = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    page.setDefaultTimeout(STEP_MS);
    page.on("pageerror", (e) => problems.push("page error: " + e.message));
    page.on("console", (m) => {
      if (m.type() === "error") problems.push("console error: " + m.text());
    });
    await page.goto(admin + "/sandbox");
    // The sandbox fills its token in: the cards load and the live list connects by themselves.
    await page.waitForSelector("#cards tbody tr[data-card='C-0018']");
    await page.waitForFunction(() => document.getElementById("live-state").textContent === "(live)");

    await page.selectOption("#card", "C-0018");
    await page.fill("#amount", "15000");
    await page.fill("#currency", "KRW");
    await page.click("#send");
    await page.waitForFunction(() => document.getElementById("result-code").textContent !== "");
    const code = await page.textContent("#result-code");
    if (code !== "00") throw new Error("the purchase was answered " + code + ", not 00");
    const cell = (de, col) =>
      page.textContent(`#fields tr[data-de='${de}'] td:nth-child(${col})`);
    const pan = await cell(2, 3);
    const stan = await cell(11, 4);
    const approval = await cell(38, 4);
    if (pan !== "400000******0018") throw new Error("DE 2 shown as " + pan);
    if (!/^[0-9A-Z]{6}$/.test(approval)) throw new Error("DE 38 shown as " + approval);

    // The live list shows the approval, by its STAN, from the event stream.
    const item = page.locator("#live li[data-type='authorization.approved']", { hasText: "STAN " + stan });
    await item.first().waitFor();
    const listed = await item.first().textContent();
    if (!listed.includes(approval)) throw new Error("the live item lacks the approval code: " + listed);

    const text = await page.textContent("body");
    if (/\b(4000001|5100002)\d{9}\b/.test(text)) throw new Error("a clear card number on the page");
    const shot = path.join(outDir, "sandbox.png");
    await page.screenshot({ path: shot, fullPage: true });
    if (problems.length) throw new Error(problems.join("\n"));
    console.log(`sandbox page: purchase approved (STAN ${stan}, approval ${approval}), listed live; screenshot ${shot}`);
  } finally {
    await browser.close();
  }
}

main().catch((e) => {
  console.error("sandbox page test failed: " + (e && e.stack ? e.stack : e));
  process.exit(1);
});
