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

    // Live chat: a sandbox customer writes; a manager takes over, replies, notes, exports.
    const { createAgent: agent } = await api(`mutation { createAgent(input: {name: "Front desk", systemPrompt: "You help customers.", settings: {
      translation: {enabled: true, sourceLanguage: "en", autoDetect: true, translateIncoming: true, translateOutgoing: true},
      sentiment: {enabled: true, alertOnNegative: true, negativeThreshold: 0.3, escalateOnVeryNegative: false}}}) { id } }`);
    const { connectIntegration: channel } = await api('mutation($a: ID!) { connectIntegration(input: {agentId: $a, kind: SANDBOX, name: "Sandbox shop"}) { id state } }', { a: agent.id });
    const customer = (text) => api('mutation($i: ID!, $t: String!) { sandboxSendCustomerMessage(integrationId: $i, customer: "Maria", text: $t) }', { i: channel.id, t: text });
    await page.click('#tabs a[href="#chat"]');
    await page.waitForSelector('#chat-agent option:has-text("Front desk")', { state: 'attached' });
    await customer('Hola, ¿dónde está mi pedido? Estoy esperando desde el lunes.');
    await page.click('.conv:has-text("Maria")', { timeout: LIVE_MS });
    await page.waitForSelector('.msg.USER:has-text("dónde está mi pedido") .lang:has-text("ES")', { timeout: LIVE_MS });
    await page.waitForSelector('.msg.USER .sentiment');
    await page.waitForSelector('.msg.ASSISTANT', { timeout: LIVE_MS });
    step('a sandbox customer\'s message appeared with its language and sentiment, and the agent answered');
    await page.click('#take-over');
    await page.waitForSelector('#mode:has-text("MANUAL")');
    await page.waitForSelector('.conv.selected .manual');
    await customer('Is anybody there?');
    await page.waitForSelector('.msg.USER:has-text("Is anybody there?")', { timeout: LIVE_MS });
    step('taken over; the next message arrived live');
    await page.fill('#reply-form [name=text]', 'Hi Maria, I am checking your order now.');
    await page.click('#reply-form button[type=submit]');
    await page.waitForSelector('.msg.MANAGER:has-text("checking your order")');
    await page.waitForSelector('.msg.MANAGER .s-SENT', { timeout: LIVE_MS });
    await page.fill('#note-form [name=text]', 'Order 1234 is late: courier contacted.');
    await page.click('#note-form button[type=submit]');
    await page.waitForSelector('#notes li:has-text("courier contacted")');
    await page.waitForSelector('#agent-events li[data-kind="NOTE_ADDED"]', { timeout: LIVE_MS });
    await shot('live-chat');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export')]);
    const csv = fs.readFileSync(await download.path(), 'utf8');
    if (!csv.includes('checking your order') || !csv.includes('dónde está mi pedido')) throw new Error(`the export lacks the messages: ${csv}`);
    step(`replied, noted, exported ${download.suggestedFilename()} (${csv.split('\n').length} lines)`);

    // Agents: a bad setting is shown by its field; a WhatsApp device shows its QR code, and
    // the server is DEGRADED until its (pretend) phone is paired.
    await page.click('#tabs a[href="#agents"]');
    await page.click('#agent-list tr:has-text("Front desk")');
    await page.fill('#agent-form [name="wh.timezone"]', 'Mars/Olympus');
    await page.click('#agent-form button[type=submit]');
    await page.waitForSelector('.field-error[data-for="settings.working_hours.timezone"]');
    await shot('agent-field-error');
    await page.fill('#agent-form [name="wh.timezone"]', 'Europe/Madrid');
    await page.click('#agent-form button[type=submit]');
    await page.waitForSelector('.toast:has-text("Saved")');
    if (await page.$('.field-error')) throw new Error('the field error stayed after a good save');
    step('a bad time zone was shown by its field; a good one saved');
    await page.selectOption('#connect-form [name=kind]', 'WHATSAPP_DEVICE');
    await page.fill('#connect-form [name=name]', 'Shop phone');
    await page.click('#connect-form button[type=submit]');
    await page.waitForSelector('#health[data-seen~="DEGRADED"]', { timeout: LIVE_MS });
    await page.waitForSelector('img.qr[src^="data:image/png"]', { timeout: LIVE_MS }).then(() => shot('whatsapp-qr')).catch(() => {});
    await page.waitForSelector('#integrations tr[data-state="CONNECTED"]:has-text("Shop phone")', { timeout: LIVE_MS });
    await page.waitForSelector('#health[data-status="HEALTHY"]', { timeout: LIVE_MS });
    step(`health went ${await page.getAttribute('#health', 'data-seen')} while the device paired`);

    // Broadcasts: pasted recipients, sent to the end live.
    await page.click('#tabs a[href="#broadcasts"]');
    await page.selectOption('#broadcast-form [name=integration]', { label: 'Sandbox shop (SANDBOX)' });
    await page.fill('#broadcast-form [name=message]', 'Our shop opens at 10 tomorrow.');
    await page.fill('#broadcast-form [name=recipients]', Array.from({ length: 300 }, (_, i) => `customer-${i}`).join('\n'));
    await page.click('#broadcast-form button[type=submit]');
    await page.waitForSelector('#broadcast-progress .s-COMPLETED', { timeout: LIVE_MS });
    await page.waitForSelector('#broadcast-progress:has-text("300/300 sent")');
    await shot('broadcast');
    step('a broadcast to 300 pasted recipients was followed to COMPLETED');

    // Memorial media: a photo uploaded with progress, its thumbnail, animated and watched.
    await page.click('#tabs a[href="#media"]');
    await page.fill('#memorial-form [name=name]', 'Grandma Rosa');
    await page.click('#memorial-form button[type=submit]');
    const photo = await page.screenshot({ clip: { x: 0, y: 0, width: 320, height: 240 } });
    await page.setInputFiles('#memorial input[type=file]', { name: 'rosa.png', mimeType: 'image/png', buffer: photo });
    await page.waitForSelector('#thumbs .thumb img[src*="/thumbnail"]', { timeout: LIVE_MS });
    await page.waitForFunction(() => document.querySelector('#thumbs .thumb img').naturalWidth > 0);
    page.once('dialog', (dialog) => dialog.accept('We miss you.'));
    await page.click('#thumbs .thumb button:has-text("Animate")');
    await page.waitForSelector('#animation-steps li[data-status="DONE"]', { timeout: LIVE_MS });
    await page.waitForSelector('#animation video');
    await shot('memorial');
    step(`a photo was uploaded, shown as a thumbnail and animated: ${(await page.$$eval('#animation-steps li', (l) => l.map((li) => li.dataset.status))).join(' > ')}`);

    // Stats: today's charts, drawn as inline SVG.
    await page.click('#tabs a[href="#stats"]');
    await page.waitForFunction(() => [...document.querySelectorAll('#stats-body svg.chart rect.bar')].some((bar) => bar.getAttribute('height') > 0));
    const today = await page.textContent('#stats-body .card b');
    await shot('stats');
    step(`stats drawn: ${today} messages today`);
    await page.click('#tabs a[href="#chat"]');
    await page.click('.conv:has-text("Maria")');
    await page.waitForSelector('.msg.MANAGER');
    await page.screenshot({ path: path.join(shots, 'dashboard.png') });
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
