// Drives lookbook's web page in headless Chromium: upload a photo, expect at least 10
// results, move the similar ↔ diverse slider with the keyboard, expect the list to change,
// open a result with the keyboard, and save a screenshot; with WORDS.png, search by words
// (one of them unknown to the catalogue), expect results and the unknown word named, and save
// that screenshot too.
//   node page.mjs URL PHOTO SCREENSHOT.png [WORDS.png]
// Prints one JSON line of what it saw; exits 1 with the reason when a step fails.
import { chromium } from "playwright-core";

const [url, photo, screenshot, wordsShot] = process.argv.slice(2);
if (!url || !photo || !screenshot) {
  console.error("usage: node page.mjs URL PHOTO SCREENSHOT.png");
  process.exit(2);
}
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
// As root in a sandboxed machine with no network: no sandbox, no GPU, no background traffic.
const browser = await chromium.launch({
  executablePath,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
});
const seen = {};
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(url);
  await page.waitForSelector("#results li", { timeout: 15000 });
  seen.catalogue = await page.locator("#results li").count();

  const items = () => page.$$eval("#results .card", (cards) => cards.map((c) => c.dataset.item));
  await page.setInputFiles("#file", photo);
  await page.waitForFunction(() => /results, λ/.test(document.getElementById("status").textContent), null, { timeout: 60000 });
  seen.similar = await items();
  seen.card_names = await page.$$eval("#results .card .name", (names) => names.map((n) => n.textContent));
  seen.status = await page.textContent("#status");
  seen.query_boxes = await page.locator("#query-view .box").count();
  seen.query_box_labels = await page.$$eval("#query-view .box span", (spans) => spans.map((s) => s.textContent));
  seen.result_boxes = await page.locator("#results .box").count();
  seen.alt_missing = await page.$$eval("img", (imgs) => imgs.filter((i) => !i.alt).length);
  if (seen.similar.length < 10) throw new Error(`only ${seen.similar.length} results after the upload`);

  // The slider, by keyboard: End moves it to "diverse" (λ = 1).
  await page.focus("#diversity");
  await page.keyboard.press("End");
  await page.waitForFunction(() => /λ = 1\.00 \(/.test(document.getElementById("status").textContent), null, { timeout: 60000 });
  seen.diverse = await items();
  seen.lambda = await page.inputValue("#diversity");
  if (JSON.stringify(seen.diverse) === JSON.stringify(seen.similar)) throw new Error("moving the slider did not change the list");
  await page.screenshot({ path: screenshot, fullPage: true });

  // A result opened with the keyboard becomes the query.
  const first = seen.diverse[0];
  await page.focus("#results .card");
  await page.keyboard.press("Enter");
  await page.waitForFunction((id) => document.getElementById("results-title").textContent === "Like item " + id, first, { timeout: 60000 });
  seen.by_item = await items();

  if (wordsShot) {
    await page.fill("#words", "black jersey top zqxj");
    await page.press("#words", "Enter");
    await page.waitForFunction(() => /^Matching/.test(document.getElementById("results-title").textContent)
      && /results, λ/.test(document.getElementById("status").textContent), null, { timeout: 60000 });
    seen.words_title = await page.textContent("#results-title");
    seen.words_results = await items();
    seen.words_status = await page.textContent("#status");
    seen.words_names = await page.$$eval("#results .card .name", (names) => names.map((n) => n.textContent));
    if (seen.words_results.length < 5) throw new Error(`only ${seen.words_results.length} results for the words`);
    if (!/zqxj/.test(seen.words_status)) throw new Error("the unknown word is not named");
    await page.screenshot({ path: wordsShot, fullPage: true });
  }
  seen.page_errors = errors;
  if (errors.length) throw new Error("the page threw: " + errors.join("; "));
  console.log(JSON.stringify(seen));
} catch (error) {
  console.log(JSON.stringify(seen));
  console.error(String(error));
  process.exitCode = 1;
} finally {
  await browser.close();
}
