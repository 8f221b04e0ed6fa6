import { defineConfig } from 'vite';

/**
 * `vite build dashboard` (npm run build:dashboard) -> dashboard/dist: index.html, config-free, plus hashed
 * files under assets/. Relative base so the same build works at `/` locally and behind CloudFront.
 */
export default defineConfig({
  base: './',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // Every asset is a file: a data: URI would need a looser img-src in the CSP.
    assetsInlineLimit: 0,
    // Every supported browser has modulepreload; the polyfill is dead weight.
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
  },
});
