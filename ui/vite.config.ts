import { defineConfig } from 'vitest/config';

// The built UI goes to ../dist, where tauri.conf.json's frontendDist points (relative to src-tauri/).
export default defineConfig({
  clearScreen: false,
  server: { port: 5173, strictPort: true },
  build: { outDir: '../dist', emptyOutDir: true, target: 'es2022', sourcemap: false },
  test: { environment: 'jsdom', globals: true, include: ['tests/**/*.test.ts'] },
});
