import type { Plugin } from "vite";
import { defineConfig } from "vitest/config";

// A short fingerprint of a built file (FNV-1a, 32 bits): enough to tell one build from the next.
function fingerprint(content: string | Uint8Array): string {
  const bytes = typeof content === "string" ? new TextEncoder().encode(content) : content;
  let hash = 0x811c9dc5;
  for (const byte of bytes) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  return hash.toString(16).padStart(8, "0");
}

/**
 * The script and stylesheet keep fixed names (assets/console.js, assets/console.css) so Envoy's
 * routes to them, rendered into the committed deployment configs, do not change with every build;
 * index.html asks for them with `?v=<fingerprint>`, so browsers may still keep each version for good.
 */
function versionedAssets(): Plugin {
  return {
    name: "seatmesh-versioned-assets",
    apply: "build",
    transformIndexHtml: {
      order: "post",
      handler(html, context) {
        const bundle = context.bundle ?? {};
        return html.replace(/(src|href)="\/(assets\/[^"?]+)"/g, (whole, attribute: string, path: string) => {
          const file = bundle[path];
          if (!file) return whole;
          const content = file.type === "chunk" ? file.code : file.source;
          return `${attribute}="/${path}?v=${fingerprint(content)}"`;
        });
      },
    },
  };
}

// The console is served by Envoy from web/dist (one direct_response route per file), so the build
// must be reproducible byte for byte: `make check-web` rebuilds elsewhere and compares.
export default defineConfig({
  base: "/",
  plugins: [versionedAssets()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
    // One stylesheet and one script (no dynamic imports): few files, few Envoy routes.
    cssCodeSplit: false,
    assetsInlineLimit: 0,
    target: "es2022",
    rolldownOptions: {
      output: {
        entryFileNames: "assets/console.js",
        assetFileNames: "assets/console[extname]",
      },
    },
  },
  // `npm run dev` serves the console with live reload and sends its calls to a running `make run`.
  server: {
    proxy: { "^/seatmesh\\.": "http://127.0.0.1:8080" },
  },
  test: {
    include: ["tests/**/*.test.ts"],
    environment: "node",
  },
});
