// One service for every test file of a run (starting one means initdb and migrations: several seconds). Its URL,
// the origin the browser test must serve the page from (the one in CORS_ORIGINS) and the folder where the service's
// emails are filed (by a test SMTP server) reach the test files through the environment.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { freePort, type Service, startService } from './service.ts';
import { type MailSink, startMailSink } from './smtp.ts';

let service: Service | undefined;
let mail: MailSink | undefined;
let mailDir: string | undefined;

export async function globalSetup(): Promise<void> {
  const allowedOrigin = `http://127.0.0.1:${await freePort()}`;
  mailDir = mkdtempSync(path.join(tmpdir(), 'bosun-client-mail-'));
  mail = await startMailSink(mailDir);
  const port = await freePort();
  const apiUrl = `http://127.0.0.1:${port}`;
  const env = { SMTP_HOST: mail.host, SMTP_PORT: String(mail.port), SMTP_STARTTLS: 'false' };
  // Invitation links open the page on the allowed origin, talking to this service.
  const webAppUrl = `${allowedOrigin}/?api=${encodeURIComponent(apiUrl)}`;
  service = await startService([allowedOrigin], { ...env, WEB_APP_URL: webAppUrl }, port);
  process.env.BOSUN_TEST_API_URL = service.url;
  process.env.BOSUN_TEST_ALLOWED_ORIGIN = allowedOrigin;
  process.env.BOSUN_TEST_MAIL_DIR = mailDir;
}

export async function globalTeardown(): Promise<void> {
  await service?.stop();
  await mail?.close();
  if (mailDir) rmSync(mailDir, { recursive: true, force: true });
}
