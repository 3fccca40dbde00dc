// The portal in a real headless Chromium, against a running server (the
// Rust test crates/cli/tests/browser.rs starts `printwatch demo` and runs
// this). Environment: PW_URL (http://127.0.0.1:PORT), PW_EMAIL,
// PW_PASSWORD (the demo's administrator), PW_CHROMIUM (the browser),
// PW_SHOTS (where screenshots go). Exits non-zero with the reason on the
// first failure.
//
// Steps: enrol the administrator's second factor through the API; sign in
// with the keyboard only (e-mail, password, then the authenticator's
// code); the dashboard; find a device by its serial and open its page; the
// reports page and its CSV download; the agents page (create one: the
// activation code and the line that activates it, shown once); a
// customer's user neither sees nor opens another customer's device (by
// link or by editing the id in the address); axe-core on every page (no
// serious or critical violation); screenshots at phone and desktop widths.

import { createHmac } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const url = process.env.PW_URL;
const email = process.env.PW_EMAIL;
const password = process.env.PW_PASSWORD;
const shots = process.env.PW_SHOTS || 'screenshots';
mkdirSync(shots, { recursive: true });

function fail(message) {
  console.error(`FAILED: ${message}`);
  process.exit(1);
}

function check(condition, message) {
  if (!condition) fail(message);
}

// RFC 6238 TOTP (SHA-1, 6 digits, 30 s), as authenticator apps compute it.
function base32(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0, value = 0;
  const out = [];
  for (const c of text.replace(/=+$/, '').toUpperCase()) {
    value = (value << 5) | alphabet.indexOf(c);
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

function totp(secret, at = Date.now()) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 1000 / 30)));
  const mac = createHmac('sha1', secret).update(counter).digest();
  const offset = mac[mac.length - 1] & 0xf;
  const code = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(code).padStart(6, '0');
}

// The API, as a script would call it.
async function api(method, path, { token, cookie, csrf, body } = {}) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  if (cookie) headers.cookie = cookie;
  if (csrf) headers['x-csrf-token'] = csrf;
  const response = await fetch(url + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: response.status, json, text, headers: response.headers };
}

async function axe(page, name) {
  // Through the DevTools protocol, which the page's CSP does not govern
  // (a <script> tag would be refused, as it should be).
  await page.evaluate(AXE);
  const result = await page.evaluate(async () =>
    // eslint-disable-next-line no-undef
    await axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'] }));
  const bad = result.violations.filter(v => v.impact === 'serious' || v.impact === 'critical');
  check(bad.length === 0,
    `axe on ${name}: ${bad.map(v => `${v.id} (${v.impact}): ${v.nodes.map(n => n.target).join(' ')}`).join('; ')}`);
  console.log(`axe ${name}: ${result.violations.length} minor violations, ${result.passes.length} rules passed`);
}

async function shoot(browser, page, name) {
  await page.screenshot({ path: `${shots}/${name}-desktop.png`, fullPage: true });
  const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 1 });
  await phone.context().addCookies(await page.context().cookies());
  await phone.goto(page.url());
  await phone.screenshot({ path: `${shots}/${name}-phone.png`, fullPage: true });
  await phone.close();
}

// 1. A token for the script's own API calls; then the administrator enrols
//    a second factor (the API, as the portal's settings page will).
const token = (await api('POST', '/api/v1/login', { body: { email, password } })).json?.token;
check(token, 'an API token');
const login = await api('POST', '/api/v1/login', { body: { email, password, session: true } });
check(login.status === 200, `API session login: ${login.status} ${login.text}`);
const cookie = login.headers.get('set-cookie').split(';')[0];
const csrf = login.json.csrf_token;
const enrol = await api('POST', '/api/v1/me/totp', { cookie, csrf, body: { password } });
check(enrol.status === 200, `TOTP enrolment: ${enrol.status} ${enrol.text}`);
const secret = base32(enrol.json.secret);
const confirm = await api('POST', '/api/v1/me/totp/confirm', { cookie, csrf, body: { code: totp(secret) } });
check(confirm.status === 204, `TOTP confirmation: ${confirm.status} ${confirm.text}`);

const browser = await chromium.launch({
  executablePath: process.env.PW_CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu'],
});
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors = [];
  // A CSP violation or a script error shows in the console: none allowed.
  // (Answers with an error status, the 401 of a sign-in step or a missing
  // favicon, are logged too: they are not the page's fault.)
  page.on('console', m => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text());
  });
  page.on('pageerror', e => errors.push(String(e)));

  // 2. Signed out, the portal sends to the sign-in page.
  await page.goto(url + '/devices');
  check(page.url().includes('/login?next='), `signed out, /devices went to ${page.url()}`);
  await axe(page, 'sign-in');
  await shoot(browser, page, 'sign-in');

  // 3. Keyboard only: the e-mail field has the focus; Tab, type, Enter.
  check(await page.evaluate(() => document.activeElement?.id) === 'email', 'the e-mail field has the focus');
  await page.keyboard.type(email);
  await page.keyboard.press('Tab');
  await page.keyboard.type(password);
  await page.keyboard.press('Enter');
  await page.waitForSelector('#totp');
  check(await page.evaluate(() => document.activeElement?.id) === 'totp', 'the code field has the focus');
  // The confirmation used this step's code: the next step's is accepted
  // (one step of clock skew either way), and used only once.
  await page.keyboard.type(totp(secret, Date.now() + 30_000));
  await page.keyboard.press('Enter');
  await page.waitForURL(u => u.pathname === '/devices');
  check(await page.locator('h1').textContent() === 'Devices', 'back on the device list after signing in');

  // 4. The dashboard.
  await page.goto(url + '/');
  const heading = await page.locator('h1').textContent();
  check(heading === 'Today', `dashboard heading: ${heading}`);
  const total = await page.locator('main p').first().textContent();
  check(/\d+ devices? in all/.test(total), `dashboard total: ${total}`);
  await axe(page, 'dashboard');
  await shoot(browser, page, 'dashboard');

  // 5. Find a device by its serial and open its page.
  const devices = (await api('GET', '/api/v1/devices', { token })).json.devices;
  check(devices.length > 0, 'the demo has devices');
  const target = devices.find(d => d.serial) || fail('a device with a serial');
  await page.goto(url + '/devices');
  await axe(page, 'device list');
  await shoot(browser, page, 'devices');
  await page.fill('#q', target.serial);
  await page.click('form[role=search] button');
  await page.waitForURL(u => u.searchParams.get('q') === target.serial);
  const links = page.locator('table.devices tbody a');
  check(await links.count() === 1, `one device found by serial ${target.serial}`);
  await links.first().click();
  await page.waitForURL(u => u.pathname === `/devices/${target.id}`);
  check((await page.content()).includes(target.serial), 'the device page shows its serial');
  // The meter chart: uPlot draws on a canvas, from the API's readings.
  await page.waitForSelector('#meter-chart canvas', { timeout: 10_000 });
  const legend = await page.locator('#meter-chart .u-legend').textContent();
  check(/total/.test(legend), `the chart's legend names the total meter: ${legend}`);
  await axe(page, 'device');
  await shoot(browser, page, 'device');

  // 6. The reports page, and its CSV download.
  await page.goto(url + '/reports');
  check(await page.locator('h1').textContent() === 'Reports', 'the reports page');
  await axe(page, 'reports');
  await shoot(browser, page, 'reports');
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.click('text=Page volume per customer (CSV)'),
  ]);
  const csvPath = `${shots}/page-volume-by-customer.csv`;
  await download.saveAs(csvPath);
  const csv = readFileSync(csvPath, 'utf8');
  check(csv.startsWith('month,tenant_id,customer,devices,pages'), `the CSV download: ${csv.slice(0, 200)}`);
  console.log(`downloaded ${download.suggestedFilename()}: ${csv.trim().split('\n').length - 1} customer rows`);

  // 6b. The agents page: create one, its activate line shown once.
  await page.click('nav a[href="/agents"]');
  await page.waitForURL(u => u.pathname === '/agents');
  check(await page.locator('h1').textContent() === 'Agents', 'the agents page');
  await axe(page, 'agents');
  await page.fill('#name', 'Browser test agent');
  const customers = await page.locator('#tenant_id option').count();
  if (customers > 1) await page.selectOption('#tenant_id', { index: 1 });
  await page.click('form.new-agent button');
  await page.waitForSelector('code.command');
  const line = (await page.locator('code.command').textContent()).trim();
  check(new RegExp(`^printwatch agent activate --server ${url.replace(/[.]/g, '[.]')} --code \\d+-[A-Z0-9-]+$`).test(line),
    `the activate line: ${line}`);
  const code = line.split(' ').pop();
  await axe(page, 'activation code');
  await page.click('a[href="/agents"]');
  await page.waitForURL(u => u.pathname === '/agents');
  const listed = await page.content();
  check(listed.includes('Browser test agent') && !listed.includes(code), 'the new agent listed, its code not shown again');
  await shoot(browser, page, 'agents');

  // 7. Another customer's user sees none of it.
  const other = await api('POST', '/api/v1/tenants', { token, body: { name: 'Elsewhere Ltd' } });
  check(other.status === 201, `a second customer: ${other.status} ${other.text}`);
  const user = await api('POST', '/api/v1/users', {
    token,
    body: { tenant_id: other.json.id, email: 'it@elsewhere.example', password: 'a long enough password', role: 'admin' },
  });
  check(user.status === 201, `its user: ${user.status} ${user.text}`);
  const theirs = await browser.newContext();
  const them = await theirs.newPage();
  await them.goto(url + '/login');
  await them.fill('#email', 'it@elsewhere.example');
  await them.fill('#password', 'a long enough password');
  await them.click('form.signin button');
  await them.waitForURL(u => u.pathname === '/');
  await them.goto(url + '/devices');
  check(await them.locator('table.devices tbody tr').count() === 0, 'another customer lists no device');
  const response = await them.goto(url + `/devices/${target.id}`);
  check(response.status() === 404, `another customer opening /devices/${target.id}: ${response.status()}`);
  check(!(await them.content()).includes(target.serial), 'no serial of another customer');
  await theirs.close();

  // The account page: the enrolled authenticator and how to replace it.
  await page.click('header .who a[href="/account"]');
  await page.waitForURL(u => u.pathname === '/account');
  check((await page.content()).includes('An authenticator is enrolled'), 'the account page shows the second factor');
  await axe(page, 'account');

  // 8. Sign out (the form, with its CSRF token).
  await page.click('form[action="/logout"] button');
  await page.waitForURL(u => u.pathname === '/login');
  await page.goto(url + '/');
  check(page.url().includes('/login'), 'signed out, the dashboard is out of reach');

  check(errors.length === 0, `console errors (CSP violations?): ${errors.join(' | ')}`);
  console.log('the portal in Chromium: all steps passed');
} finally {
  await browser.close();
}
