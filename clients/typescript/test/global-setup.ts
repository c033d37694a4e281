// One service for every test file of a run (starting one means initdb and migrations: several seconds). Its URL,
// and the origin the browser test must serve the page from (the one in CORS_ORIGINS), reach the test files
// through the environment.
import { freePort, type Service, startService } from './service.ts';

let service: Service | undefined;

export async function globalSetup(): Promise<void> {
  const allowedOrigin = `http://127.0.0.1:${await freePort()}`;
  service = await startService([allowedOrigin]);
  process.env.BOSUN_TEST_API_URL = service.url;
  process.env.BOSUN_TEST_ALLOWED_ORIGIN = allowedOrigin;
}

export async function globalTeardown(): Promise<void> {
  await service?.stop();
}
