/** Builds the web UI (./web) into dist/ui, which src/ui/server.ts serves. `npm run build:ui`. */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

export default defineConfig({
  root: fileURLToPath(new URL('./web', import.meta.url)),
  base: '/',
  plugins: [react()],
  logLevel: 'warn',
  build: {
    outDir: fileURLToPath(new URL('../../dist/ui', import.meta.url)),
    emptyOutDir: true,
    chunkSizeWarningLimit: 2000,
    sourcemap: false,
  },
  // `npm run dev:ui`: the UI with hot reload on :5173, the API of an engine running on :5000.
  server: { proxy: { '/api': 'http://127.0.0.1:5000' } },
});
