// Drives the explorer page in Debian's chromium as a user would: watch the
// live height advance, search a tx by its hash, click through to its block,
// back to the tx, then to the sender's account, and check that each page shows
// what the node's JSON-RPC says. Saves a screenshot of each page.
//
//   node tests/browser/explorer.mjs <rpc-url> <tx-hash> <sender-address> <out-dir>
//
// Exit code 0 when every check passed, 1 on a failed check (a failure.png is
// saved), 2 on bad usage. Run by node/tests/browser.rs against a live testnet.
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { chromium } from "playwright-core";

const STEP_MS = 20_000;
const ADVANCE_MS = 30_000;

const [rpc, txArg, senderArg, outDir] = process.argv.slice(2);
if (!outDir) {
  console.error("usage: node explorer.mjs <rpc-url> <tx-hash> <sender-address> <out-dir>");
  process.exit(2);
}
const txHash = txArg.replace(/^0x/i, "").toUpperCase();
const sender = senderArg.toUpperCase();
// The page prints integers with en-US grouping ("1,234").
const plain = (s) => s.trim().replace(/,/g, "");

async function jsonRpc(method, params) {
  const r = await fetch(rpc, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  const v = await r.json();
  if (v.error) throw new Error(`${method}: ${v.error.message}`);
  return v.result;
}

function check(ok, what) {
  if (!ok) throw new Error("check failed: " + what);
  console.log("ok   " + what);
}

// What the page must show, from the CometBFT JSON-RPC (not the page's /api).
const tx = await jsonRpc("tx", { hash: "0x" + txHash });
const txHeight = tx.height;
const block = await jsonRpc("block", { height: txHeight });
const query = await jsonRpc("abci_query", { path: "/store/account", data: sender });
// The state's account value: borsh of { balance: u64, nonce: u64 }.
const acct = Buffer.from(query.response.value, "base64");
if (acct.length !== 16) throw new Error(`account value is ${acct.length} bytes, expected 16: has the layout changed?`);
const balance = acct.readBigUInt64LE(0).toString();
const nonce = acct.readBigUInt64LE(8).toString();
console.log(`expect tx ${txHash} at height ${txHeight}, block ${block.block_id.hash}, sender balance ${balance} nonce ${nonce}`);

await mkdir(outDir, { recursive: true });
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
let failed = false;
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
page.setDefaultTimeout(STEP_MS);
const pageErrors = [];
page.on("pageerror", (e) => pageErrors.push(String(e)));
page.on("console", (m) => {
  if (m.type() === "error") pageErrors.push("console: " + m.text());
});

const byId = (id) => page.locator(`[data-testid="${id}"]`);
/** Waits until the element's text satisfies `pred`, and returns that text. */
async function textOf(id, pred, what, ms = STEP_MS) {
  const deadline = Date.now() + ms;
  let last = null;
  while (Date.now() < deadline) {
    if ((await byId(id).count()) === 1) {
      last = await byId(id).innerText();
      if (pred(last)) return last;
    }
    await page.waitForTimeout(100);
  }
  throw new Error(`${what}: [data-testid=${id}] never matched (last text: ${JSON.stringify(last)})`);
}
async function shot(name) {
  const file = path.join(outDir, name);
  await page.screenshot({ path: file, fullPage: true });
  console.log("saved " + file);
}

try {
  await page.goto(rpc.replace(/\/$/, "") + "/explorer");

  // The live height is shown, then advances without a reload.
  const h0 = Number(plain(await textOf("latest-height", (t) => /^[\d,]+$/.test(t.trim()), "latest height shown")));
  const h1 = Number(plain(await textOf("latest-height", (t) => Number(plain(t)) > h0, `height advances past ${h0}`, ADVANCE_MS)));
  check(h1 > h0, `latest height advanced from ${h0} to ${h1}`);
  check((await byId("block-row").count()) > 0, "the home page lists blocks");
  await shot("home.png");

  // Search the tx by its hash, as typed by a user (lower case).
  await byId("search-input").fill(txHash.toLowerCase());
  await byId("search-submit").click();
  await textOf("tx-hash", (t) => t.trim() === txHash, "tx page after search");
  check(page.url().endsWith("#/tx/" + txHash), "search leads to #/tx/" + txHash);
  check((await byId("tx-result").innerText()).includes("success"), "tx shown as successful");
  const blockLink = byId("tx-block-link");
  check(plain((await blockLink.innerText()).replace("#", "")) === txHeight, `tx links to block ${txHeight}`);
  await shot("tx.png");

  // Its block, by clicking the link.
  await blockLink.click();
  await textOf("block-height", (t) => plain(t) === txHeight, "block page");
  check(page.url().endsWith("#/block/" + txHeight), "block page URL");
  check((await byId("block-hash").innerText()).trim() === block.block_id.hash, "block hash matches JSON-RPC");
  const txInBlock = page.locator(`[data-testid="tx-link"][href="#/tx/${txHash}"]`);
  check((await txInBlock.count()) === 1, "block lists the tx");
  await shot("block.png");

  // Back to the tx from the block's list, then to the sender's account.
  await txInBlock.click();
  await textOf("tx-hash", (t) => t.trim() === txHash, "tx page from the block");
  await byId("tx-sender-link").click();
  await textOf("account-address", (t) => t.trim() === sender, "account page");
  check(page.url().endsWith("#/account/" + sender), "account page URL");
  check(plain(await byId("account-balance").innerText()) === balance, `balance ${balance} shown`);
  check(plain(await byId("account-nonce").innerText()) === nonce, `nonce ${nonce} shown`);
  check(
    (await page.locator(`[data-testid="tx-link"][href="#/tx/${txHash}"]`).count()) === 1,
    "account lists the tx among its recent transactions",
  );
  await shot("account.png");

  check(pageErrors.length === 0, "no script errors on the page" + (pageErrors.length ? ": " + pageErrors.join("; ") : ""));
} catch (e) {
  failed = true;
  console.error(String(e.stack || e));
  await page.screenshot({ path: path.join(outDir, "failure.png"), fullPage: true }).catch(() => {});
  console.error("saved " + path.join(outDir, "failure.png"));
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
