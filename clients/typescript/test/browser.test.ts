// The demo page in a real browser (Debian's chromium driven by playwright-core), served from its own loopback
// origin, calling the real service on another: it works from an origin in CORS_ORIGINS, and the browser refuses
// the same page served from an origin that is not.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { type Browser, chromium, type Page } from 'playwright-core';
import { build } from 'vite';

import { createClient } from '../src/client/client/index.ts';
import {
  authLogin,
  authSignup,
  invitationsCreateInvitation,
  invitationsListInvitations,
  projectsCreateProject,
  tasksCreateTask,
  teamsCreateTeam,
} from '../src/client/index.ts';
import { testEnvironment } from './service.ts';
import { bodyOf, messagesTo } from './smtp.ts';
import { type Site, serveFolder } from './static.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const EMAIL = 'lin@example.com';
const PASSWORD = 'correct-horse-battery';
const TITLES = ['Ship the client', 'Review the contract'] as const;

const skip = existsSync(CHROMIUM) ? false : `chromium not found at ${CHROMIUM}: apt-get install chromium`;

const INVITEE = 'sam@example.com';
const PENDING = 'pending@example.com';

const { apiUrl, allowedOrigin, mailDir } = testEnvironment();
let dist: string;
let allowed: Site;
let refused: Site;
let browser: Browser;

let teamId = '';
let ownerToken = '';

async function seed(url: string): Promise<void> {
  let token = '';
  const ok = { client: createClient({ baseUrl: url, auth: () => token }), throwOnError: true } as const;
  await authSignup({ ...ok, body: { email: INVITEE, password: PASSWORD, full_name: 'Sam' } });
  const { data: user } = await authSignup({ ...ok, body: { email: EMAIL, password: PASSWORD, full_name: 'Lin' } });
  token = (await authLogin({ ...ok, body: { username: EMAIL, password: PASSWORD } })).data.access_token;
  ownerToken = token;
  const { data: team } = await teamsCreateTeam({ ...ok, body: { name: 'Web' } });
  teamId = team.id;
  await invitationsCreateInvitation({ ...ok, path: { team_id: team.id }, body: { email: PENDING, role: 'admin' } });
  const { data: project } = await projectsCreateProject({ ...ok, path: { team_id: team.id }, body: { name: 'Launch' } });
  const [first, second] = TITLES;
  const path = { project_id: project.id };
  await tasksCreateTask({ ...ok, path, body: { title: first, priority: 'urgent', assignee_id: user.id, due_date: '2030-06-30' } });
  await tasksCreateTask({ ...ok, path, body: { title: second, status: 'in_progress' } });
}

before(async () => {
  if (skip) return;
  dist = mkdtempSync(path.join(tmpdir(), 'bosun-page-'));
  await build({
    configFile: path.join(import.meta.dirname, '..', 'vite.config.ts'),
    build: { outDir: dist, emptyOutDir: true },
    logLevel: 'warn',
  });
  allowed = await serveFolder(dist, Number(new URL(allowedOrigin).port));
  refused = await serveFolder(dist);
  await seed(apiUrl);
  browser = await chromium.launch({ executablePath: CHROMIUM, chromiumSandbox: process.getuid?.() !== 0 });
});

after(async () => {
  await browser?.close();
  await Promise.all([allowed?.close(), refused?.close()]);
  if (dist) rmSync(dist, { recursive: true, force: true });
});

async function logIn(page: Page, origin: string, email = EMAIL, url = `${origin}/?api=${encodeURIComponent(apiUrl)}`): Promise<void> {
  await page.goto(url);
  await page.getByLabel('Email', { exact: true }).fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
}

test('from an allowed origin, the page logs in and lists the project tasks', { skip }, async () => {
  const page = await browser.newPage({ viewport: { width: 900, height: 420 } });
  await logIn(page, allowed.origin);
  const rows = page.getByRole('table', { name: 'Tasks' }).locator('tbody tr');
  await rows.first().waitFor();
  const titles = await rows.locator('td:first-child').allTextContents();
  assert.deepEqual(titles.sort(), [...TITLES].sort());
  assert.equal(await page.getByRole('combobox', { name: 'Project' }).locator('option:checked').textContent(), 'Web / Launch');
  // The owner sees the team's pending invitations.
  const pending = page.getByRole('table', { name: 'Pending invitations to Web' }).locator('tbody tr');
  await pending.first().waitFor();
  assert.deepEqual(await pending.first().locator('td').allTextContents().then((cells) => cells.slice(0, 3)), [PENDING, 'admin', 'Lin']);
  assert.equal(await page.getByRole('alert').count(), 0);
  if (process.env.SCREENSHOT_DIR) {
    await page.screenshot({ path: path.join(process.env.SCREENSHOT_DIR, 'allowed-origin.png'), fullPage: true });
  }
  await page.close();
});

test('from an origin not in CORS_ORIGINS, the browser refuses the calls and the page shows no data', { skip }, async () => {
  const page = await browser.newPage({ viewport: { width: 900, height: 420 } });
  const failed: string[] = [];
  const console: string[] = [];
  page.on('requestfailed', (request) => failed.push(`${request.method()} ${new URL(request.url()).pathname}`));
  page.on('console', (message) => console.push(message.text()));
  await logIn(page, refused.origin);
  const alert = page.getByRole('alert');
  await alert.waitFor();
  assert.match((await alert.textContent()) ?? '', /could not be reached from http:\/\/127\.0\.0\.1:\d+: the request was refused \(CORS\)/);
  assert.deepEqual(failed, ['POST /api/v1/auth/token']);
  assert.ok(
    console.some((line) => line.includes('blocked by CORS policy') && line.includes(refused.origin)),
    `no CORS refusal in the console: ${console.join(' | ')}`,
  );
  assert.equal(await page.getByRole('table').count(), 0);
  assert.equal(await page.getByText(TITLES[0]).count(), 0);
  if (process.env.SCREENSHOT_DIR) {
    await page.screenshot({ path: path.join(process.env.SCREENSHOT_DIR, 'refused-origin.png'), fullPage: true });
  }
  await page.close();
});

/** The invitation link of the newest email to `address`, once the service has sent it (it does so after answering). */
async function invitationLink(address: string): Promise<string> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const newest = messagesTo(mailDir, address).at(-1);
    const link = newest && /(http:\/\/\S+#invitation=[A-Za-z0-9_-]+)/.exec(bodyOf(newest))?.[1];
    if (link) return link;
    if (Date.now() > deadline) throw new Error(`no invitation email reached ${address}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test('an owner invites from the page; the invitee opens the emailed link, logs in and joins', { skip }, async () => {
  const owner = await browser.newPage({ viewport: { width: 900, height: 700 } });
  await logIn(owner, allowed.origin);
  const invitations = owner.getByRole('region', { name: 'Invitations to Web' });
  await invitations.getByLabel('Invite email').fill(INVITEE);
  await invitations.getByRole('button', { name: 'Invite' }).click();
  const rows = owner.getByRole('table', { name: 'Pending invitations to Web' }).locator('tbody tr');
  await rows.filter({ hasText: INVITEE }).waitFor();
  assert.equal(await owner.getByRole('alert').count(), 0);
  await owner.close();

  const link = await invitationLink(INVITEE);
  assert.ok(link.startsWith(`${allowed.origin}/?api=`), link);
  const invitee = await browser.newPage({ viewport: { width: 900, height: 700 } });
  await logIn(invitee, allowed.origin, INVITEE, link);
  assert.equal(await invitee.getByRole('combobox', { name: 'Project' }).count(), 0); // not in a team yet
  await invitee.getByRole('button', { name: 'Accept the invitation' }).click();
  const joined = invitee.getByRole('status');
  await joined.waitFor();
  assert.equal(await joined.textContent(), 'You joined Web as member.');
  // Now a member: the team's projects and tasks appear, and the token left the address bar.
  await invitee.getByRole('table', { name: 'Tasks' }).locator('tbody tr').first().waitFor();
  assert.equal(new URL(invitee.url()).hash, '');
  if (process.env.SCREENSHOT_DIR) {
    await invitee.screenshot({ path: path.join(process.env.SCREENSHOT_DIR, 'invitation-accepted.png'), fullPage: true });
  }
  await invitee.close();

  const client = createClient({ baseUrl: apiUrl, auth: () => ownerToken });
  const { data: left } = await invitationsListInvitations({ client, throwOnError: true, path: { team_id: teamId } });
  assert.deepEqual(left.items.map((item) => item.email), [PENDING]);
});
