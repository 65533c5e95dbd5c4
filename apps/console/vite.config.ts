import { defineConfig } from 'vite';

// React's JSX is compiled by Vite's own esbuild (tsconfig "jsx": "react-jsx"); no Babel plugin is needed for a
// production build. `npm run dev` proxies the API to a manager on :8080.
export default defineConfig({
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    chunkSizeWarningLimit: 400,
    rollupOptions: {
      // React Query marks its hooks "use client" for server-component bundlers; meaningless in a browser bundle.
      onwarn(warning, warn) {
        if (warning.code !== 'MODULE_LEVEL_DIRECTIVE') warn(warning);
      },
    },
  },
  server: { proxy: { '/api': 'http://127.0.0.1:8080' } },
});
