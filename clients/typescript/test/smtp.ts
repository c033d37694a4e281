// A small SMTP server on loopback for the tests: it files every message it receives in a folder (one `.eml` file
// each), so test files, which run in processes of their own, read what the service sent. Enough of SMTP for
// Python's smtplib without TLS or login: greeting, EHLO/HELO, MAIL, RCPT, DATA (dot-unstuffed), RSET, NOOP, QUIT.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';

export interface MailSink {
  host: string;
  port: number;
  close(): Promise<void>;
}

export function startMailSink(folder: string): Promise<MailSink> {
  mkdirSync(folder, { recursive: true });
  let received = 0;
  const server = createServer((socket) => {
    let pending = '';
    let data: string[] | undefined;
    const reply = (line: string) => socket.write(`${line}\r\n`);
    socket.setEncoding('utf8');
    reply('220 bosun-test-smtp');
    socket.on('data', (chunk: string) => {
      pending += chunk;
      for (let end = pending.indexOf('\r\n'); end >= 0; end = pending.indexOf('\r\n')) {
        const line = pending.slice(0, end);
        pending = pending.slice(end + 2);
        if (data) {
          if (line === '.') {
            received += 1;
            writeFileSync(path.join(folder, `${String(received).padStart(5, '0')}.eml`), data.join('\r\n'));
            data = undefined;
            reply('250 accepted');
          } else {
            data.push(line.startsWith('.') ? line.slice(1) : line);
          }
          continue;
        }
        const verb = line.split(' ', 1)[0]?.toUpperCase();
        if (verb === 'EHLO' || verb === 'HELO') reply('250 bosun-test-smtp');
        else if (verb === 'DATA') {
          data = [];
          reply('354 end with <CRLF>.<CRLF>');
        } else if (verb === 'QUIT') {
          reply('221 bye');
          socket.end();
        } else reply('250 ok');
      }
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (typeof address !== 'object' || !address) return reject(new Error('no port'));
      resolve({
        host: '127.0.0.1',
        port: address.port,
        close: () => new Promise((done) => server.close(() => done())),
      });
    });
  });
}

/** The text of a filed message's body, with its transfer encoding (quoted-printable or base64) undone. */
export function bodyOf(message: string): string {
  const split = message.indexOf('\r\n\r\n');
  const headers = message.slice(0, split);
  const body = message.slice(split + 4);
  const encoding = /^Content-Transfer-Encoding:\s*(\S+)/im.exec(headers)?.[1]?.toLowerCase();
  if (encoding === 'base64') return Buffer.from(body, 'base64').toString('utf8');
  if (encoding === 'quoted-printable') {
    const bytes = body.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    return Buffer.from(bytes, 'latin1').toString('utf8');
  }
  return body;
}

/** The messages filed so far that were sent to `address`, oldest first. */
export function messagesTo(folder: string, address: string): string[] {
  return readdirSync(folder)
    .sort()
    .map((name) => readFileSync(path.join(folder, name), 'utf8'))
    .filter((message) => new RegExp(`^To: ${address.replace(/[.+]/g, '\\$&')}\\r?$`, 'im').test(message));
}
