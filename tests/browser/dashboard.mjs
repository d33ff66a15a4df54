// The dashboard in a real browser (Debian's chromium, headless), driven by
// playwright-core. Started by tests/browser.rs, which runs the daemon and
// the emulated Box and places calls when this script asks:
//   stdout "CALL <number> [<display name>]"  ->  stdin "<outcome>" once the
//   call is over; "PRESS <number> <keys>": a call that presses the keys
//   once answered.
// Any failed check throws: the script prints "FAIL …" and exits 1.
//
// usage: node dashboard.mjs BASE_URL PASSWORD SCREENSHOT.png

import { chromium } from "playwright-core";
import { createInterface } from "node:readline";

const [base, password, screenshot] = process.argv.slice(2);
const input = createInterface({ input: process.stdin });
const replies = input[Symbol.asyncIterator]();

async function call(number, keys) {
  console.log(keys ? `PRESS ${number} ${keys}` : `CALL ${number}`);
  const r = await replies.next();
  if (r.done) throw new Error("the test went away");
  return r.value.trim();
}

function check(ok, what) {
  if (!ok) throw new Error(what);
  console.log(`ok: ${what}`);
}

const problems = [];
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
  ],
  timeout: 30000,
});
const timer = setTimeout(() => {
  console.log("FAIL the browser test ran over 120 s");
  process.exit(1);
}, 120000);

try {
  // A German browser: the dashboard answers in German.
  const context = await browser.newContext({
    locale: "de-DE",
    viewport: { width: 1280, height: 760 },
  });
  const page = await context.newPage();
  page.setDefaultTimeout(10000);
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("requestfailed", (r) => {
    // The event stream ends when a page is left, and a page left early
    // cancels what it still loads (its icon, say): the browser's doing
    // (net::ERR_ABORTED), not the server's.
    const why = r.failure()?.errorText;
    if (new URL(r.url()).pathname !== "/events" && why !== "net::ERR_ABORTED") problems.push(`request failed: ${r.url()} ${why}`);
  });
  page.on("response", (r) => {
    if (r.status() >= 400 && !r.url().endsWith("/login")) problems.push(`HTTP ${r.status()}: ${r.url()}`);
  });

  // With a password every page wants the login.
  await page.goto(`${base}/calls`);
  check(new URL(page.url()).pathname === "/login", "a page without a session goes to the login");
  await page.fill("input[name=password]", password);
  await Promise.all([page.waitForURL(`${base}/`), page.click("button")]);
  await page.waitForSelector("#registration.reg-registered");
  check((await page.textContent("#registration")) === "angemeldet", "the status says registered, in German");
  const copy = await page.textContent("table.status");
  check(/\d+ Nummern und \d+ Spam-Bereiche/.test(copy), "the status names PhoneBlock's numbers and spam ranges");
  // The shield off and on again from the status page.
  await Promise.all([page.waitForEvent("load"), page.click("#shield-toggle")]);
  check((await page.textContent("#shield")).startsWith("aus"), "the shield switched off");
  await Promise.all([page.waitForEvent("load"), page.click("#shield-toggle")]);
  check((await page.textContent("#shield")).startsWith("an"), "and on again");
  // The key-press check: a caller from abroad presses the key asked for.
  // The status page reloads on challenge_passed and shows the pass; it is
  // kept for good, then taken back.
  const passed = await call("00442079460000", "5");
  check(passed === "TerminatedByPhone", `a caller from abroad was asked and passed (${passed})`);
  await page.waitForSelector("button.pass-keep[data-number='+442079460000']");
  check((await page.textContent("table.status")).includes("Tastenprüfung bestanden"), "the status page lists the pass, in German");
  await Promise.all([page.waitForEvent("load"), page.click("button.pass-keep")]);
  check((await page.textContent("table.status")).includes("+442079460000 dauerhaft"), "the pass kept for good");
  await Promise.all([page.waitForEvent("load"), page.click("button.pass-remove")]);
  check(!(await page.textContent("table.status")).includes("+442079460000"), "the pass taken back");

  // The call list, live.
  await page.goto(`${base}/calls`);
  await page.waitForSelector("#live.on");
  let loads = 0;
  page.on("load", () => loads++);
  const row = (n) => `#calls tbody tr[data-key$="|${n}"]`;
  const rang = await call("0305551234");
  check(rang === "RangUntilCancelled", `the first call from 0305551234 rang (${rang})`);
  await page.waitForSelector(row("0305551234"), { timeout: 2000 });
  check(loads === 0, "the call appeared without a reload");
  await page.waitForFunction(
    (sel) => document.querySelector(sel)?.querySelector(".outcome")?.textContent === "Anrufer hat aufgegeben",
    row("0305551234"),
  );
  check(true, "its outcome followed live, in German");
  const reason = await page.textContent(`${row("0305551234")} .reason`);
  check(reason.startsWith("Standard (klingeln): keine Regel trifft auf +49"), `its reason in German: ${reason}`);

  // What a caller sends is shown as text, never run as markup.
  const evil = "<img src=x onerror=window.pwned=1>Mallory";
  check((await call(`0221987654 ${evil}`)) === "RangUntilCancelled", "a call with markup in its name rang");
  await page.waitForSelector(row("0221987654"));
  const shown = await page.textContent(`${row("0221987654")} .name`);
  check(shown === evil, `the name is shown as sent: ${shown}`);
  check(
    (await page.$$("#calls img")).length === 0 && (await page.evaluate(() => window.pwned)) === undefined,
    "and never runs",
  );

  // Block it: the next call is terminated.
  await page.click(`${row("0305551234")} button.block`);
  await page.waitForFunction(() => document.querySelector("#msg")?.textContent.includes("gesperrt"));
  check((await page.textContent("#msg")).includes("+49305551234"), "block: the number went to the block list");
  const until = async (number, want) => {
    let got = "";
    for (let i = 0; i < 20 && got !== want; i++) {
      // The daemon reloads the rules when the list changes: give it the time.
      await page.waitForTimeout(i === 0 ? 300 : 500);
      got = await call(number);
    }
    return got;
  };
  const again = await until("0305551234", "TerminatedByPhone");
  check(again === "TerminatedByPhone", `the next call from it was terminated (${again})`);
  await page.waitForFunction(
    (sel) => document.querySelector(sel)?.querySelector(".badge")?.textContent === "beenden",
    row("0305551234"),
  );
  check(loads === 0, "the terminated call is listed live");
  const why = await page.textContent(`${row("0305551234")} .reason`);
  check(/^Regel \d+ ".*": \+49305551234 steht in /.test(why), `why, in German: ${why}`);

  // Block another one also on the Box's call-barring list: the Box itself
  // turns its next call away.
  check((await call("0891234567")) === "RangUntilCancelled", "a call from 0891234567 rang");
  await page.waitForSelector(row("0891234567"));
  const bar = await page.textContent("label.bar");
  check(bar.includes("Sperren") && bar.includes("Rufsperre"), `the call-barring box says it belongs to Block: ${bar}`);
  await page.check("#bar-too");
  await page.click(`${row("0891234567")} button.block`);
  await page.waitForFunction(() => document.querySelector("#msg")?.textContent.includes("+49891234567"));
  await page.uncheck("#bar-too");
  const barred = await until("0891234567", "BarredByBox");
  check(barred === "BarredByBox", `the Box turned the next call away (${barred})`);

  // Allow another number, put it into a Box phonebook.
  check((await call("0401234567")) === "RangUntilCancelled", "a call from 0401234567 rang");
  await page.waitForSelector(row("0401234567"));
  await page.click(`${row("0401234567")} button.allow`);
  await page.waitForFunction(() => document.querySelector("#msg")?.textContent.includes("erlaubt"));
  check(true, "allow: the number went to the allow list");
  await page.click(`${row("0401234567")} button.phonebook`);
  await page.waitForSelector("#book-dialog[open]");
  const books = await page.$$eval("#book-dialog select[name=book] option", (o) => o.map((x) => x.textContent));
  check(books.includes("Telefonbuch"), `the Box's phonebooks to choose from: ${books}`);
  await page.fill("#book-dialog input[name=name]", "Praxis Dr. Weber");
  await page.click("#book-dialog button[value=ok]");
  await page.waitForFunction(() => document.querySelector("#msg")?.textContent.includes("Telefonbuch"));
  check(!(await page.getAttribute("#msg", "class")).includes("error"), "added to the Box's phonebook");

  // Report the blocked number to PhoneBlock.
  await page.click(`${row("0305551234")} button.report`);
  await page.waitForSelector("#report-dialog[open]");
  await page.selectOption("#report-dialog select[name=rating]", "G_FRAUD");
  await page.fill("#report-dialog input[name=comment]", "Gewinnspiel-Betrug");
  await page.click("#report-dialog button[value=ok]");
  await page.waitForFunction(() => document.querySelector("#msg")?.textContent.includes("PhoneBlock"));
  check(!(await page.getAttribute("#msg", "class")).includes("error"), "reported to PhoneBlock");

  // Filters: blocked only.
  await page.check("input[name=blocked]");
  await Promise.all([page.waitForURL(/blocked=1/), page.click("#filters button")]);
  await page.waitForSelector(row("0305551234"));
  const decisions = await page.$$eval("#calls tbody .badge", (b) => b.map((x) => x.textContent));
  check(decisions.length > 0 && decisions.every((d) => d !== "klingeln"), `blocked only: ${decisions}`);
  // Every call and its buttons fit a 1280 px window: nothing scrolls sideways.
  await page.uncheck("input[name=blocked]");
  await Promise.all([page.waitForURL((u) => !u.search.includes("blocked=1")), page.click("#filters button")]);
  await page.waitForSelector(row("0221987654"));
  const wide = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  check(wide[0] <= wide[1], `the call list fits 1280 px (${wide[0]} of ${wide[1]})`);

  // Statistics: a chart and the numbers blocked most.
  await page.goto(`${base}/stats`);
  const bars = await page.$$eval("svg.chart rect.blocked", (r) => r.filter((x) => Number(x.getAttribute("height")) > 0).length);
  check(bars >= 1, `the chart has today's blocked calls (${bars} bar)`);
  check((await page.textContent("main")).includes("+49305551234"), "the most blocked numbers list it");
  // The chart's top label stands above the bars, not over them.
  const clear = await page.evaluate(() => {
    const label = document.querySelector("svg.chart text.max").getBBox();
    return Array.from(document.querySelectorAll("svg.chart rect")).every((r) => {
      const b = r.getBBox();
      return b.height === 0 || b.y >= label.y + label.height || b.x + b.width <= label.x || b.x >= label.x + label.width;
    });
  });
  check(clear, "the chart's top label is clear of the bars");

  // Rules, in order, with how often each matched.
  await page.goto(`${base}/rules`);
  const rules = await page.$$eval("table.rules tbody tr, table.rules tr", (rows) =>
    rows.map((r) => Array.from(r.cells).map((c) => c.textContent.trim())),
  );
  const blockRule = rules.find((r) => r[1] === "blocked from the web");
  check(blockRule && Number(blockRule[4]) >= 1, `the block-list rule matched (${JSON.stringify(blockRule)})`);
  check(/^Liste .*block\.txt \(\d+ Nummer(n)?\)$/.test(blockRule[2]) && blockRule[3] === "beenden", `the rule in German: ${blockRule}`);

  // English, by the switch, kept for the next pages.
  await page.click("header a.lang");
  check((await page.textContent("nav a[aria-current]")) === "Rules", "switched to English");
  await page.goto(`${base}/calls`);
  await page.waitForSelector("#live.on");
  check((await page.textContent("h1")) === "Calls", "English is kept");
  await page.waitForSelector(row("0305551234"));
  await page.waitForFunction(
    (sel) => document.querySelector(sel)?.querySelector(".outcome")?.textContent === "terminated",
    row("0305551234"),
  );
  const reasonEn = await page.textContent(`${row("0305551234")} .reason`);
  check(/^rule \d+ ".*": \+49305551234 in /.test(reasonEn), `the reason in English: ${reasonEn}`);
  await page.goto(`${base}/stats`);
  const days = await page.$$eval("svg.chart text:not(.max)", (t) => t.map((x) => x.textContent));
  check(days.length > 0 && days.every((d) => /^[A-Z][a-z]{2} \d{1,2}$/.test(d)), `English dates: ${days}`);
  // The README's picture: the blocked calls, in English.
  const premium = await call("09001234567 Gewinnspiel GmbH");
  check(premium === "TerminatedByPhone", `a premium-rate caller was terminated (${premium})`);
  await page.goto(`${base}/calls?blocked=1`);
  await page.waitForSelector(row("09001234567"));
  await page.screenshot({ path: screenshot });
  console.log(`screenshot: ${screenshot}`);

  check(problems.length === 0, `no console errors, failed requests or error answers: ${problems.join("; ")}`);
  console.log("PASS");
  clearTimeout(timer);
  await browser.close();
  process.exit(0);
} catch (e) {
  console.log(`FAIL ${e.message.split("\n")[0]}`);
  if (problems.length) console.log(`seen: ${problems.join("; ")}`);
  await browser.close().catch(() => {});
  process.exit(1);
}
