// Generates src/client from the committed OpenAPI document: `npm run generate` (or `uv run poe client`).
import { defineConfig } from '@hey-api/openapi-ts';

export default defineConfig({
  input: '../../openapi.json',
  output: {
    path: 'src/client',
    // Explicit `.ts` specifiers: Node runs the tests straight from the sources (type stripping), Vite bundles them.
    module: { extension: '.ts' },
  },
  plugins: [
    '@hey-api/client-fetch',
    '@hey-api/typescript',
    '@hey-api/sdk',
    '@tanstack/react-query',
  ],
});
