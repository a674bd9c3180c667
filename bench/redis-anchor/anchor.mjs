// The anchor of scripts/bench-redis.sh: MSAL Node's own distributed cache,
// DistributedCachePlugin(ICacheClient, IPartitionManager), on the `redis` npm
// client, as its documentation wires it: one blob per partition key, read
// before and written after every cache access. Token requests are answered
// in-process by a fake network client (no identity provider involved).
//
//   node anchor.mjs lookup URL PREFIX N TOKENS   # lookups of a cached token (each reads the blob)
//   node anchor.mjs large  URL PREFIX N TOKENS   # the same in a partition of TOKENS tokens
//   node anchor.mjs update URL PREFIX PROC WORKERS SECONDS   # concurrent acquisitions that write
//   node anchor.mjs count  URL PREFIX            # access tokens in the partition's blob
// Prints one line `RESULT key=value ...`.
import { ConfidentialClientApplication, DistributedCachePlugin } from "@azure/msal-node";
import { createClient } from "redis";

const [mode, url, prefix, ...rest] = process.argv.slice(2);
const CLIENT = "client-bench", TENANT = "tenant-1";
const partitionKey = `${prefix}:${CLIENT}_${TENANT}_AppTokenCache`;

const redis = createClient({ url });
await redis.connect();
const cacheClient = { get: async (k) => (await redis.get(k)) ?? "", set: async (k, v) => { await redis.set(k, v); return v; } };
const partitionManager = { getKey: async () => partitionKey, extractKey: async () => partitionKey };

let seq = 0;
const json = (obj) => ({ headers: {}, status: 200, body: obj });
const networkClient = {
  async sendGetRequestAsync(u) {
    if (u.includes("discovery/instance")) {
      return json({ tenant_discovery_endpoint: `https://login.microsoftonline.com/${TENANT}/v2.0/.well-known/openid-configuration`,
        metadata: [{ preferred_network: "login.microsoftonline.com", preferred_cache: "login.windows.net",
          aliases: ["login.microsoftonline.com", "login.windows.net", "login.microsoft.com", "sts.windows.net"] }] });
    }
    return json({ token_endpoint: `https://login.microsoftonline.com/${TENANT}/oauth2/v2.0/token`,
      authorization_endpoint: `https://login.microsoftonline.com/${TENANT}/oauth2/v2.0/authorize`,
      issuer: `https://login.microsoftonline.com/${TENANT}/v2.0`, end_session_endpoint: "https://x/logout" });
  },
  async sendPostRequestAsync() {
    seq += 1;
    return json({ token_type: "Bearer", expires_in: 3599, ext_expires_in: 3599, access_token: `tok-${process.pid}-${seq}` });
  },
};

const app = new ConfidentialClientApplication({
  auth: { clientId: CLIENT, authority: `https://login.microsoftonline.com/${TENANT}`, clientSecret: "s" },
  cache: { cachePlugin: new DistributedCachePlugin(cacheClient, partitionManager) },
  system: { networkClient },
});
const acquire = (scope) => app.acquireTokenByClientCredential({ scopes: [scope] });

function percentiles(us) {
  us.sort((a, b) => a - b);
  const p = (q) => us[Math.min(us.length - 1, Math.floor(q * us.length))];
  return `p50_us=${p(0.5).toFixed(1)} p99_us=${p(0.99).toFixed(1)} n=${us.length}`;
}

async function timedLookups(n, scope) {
  const r = await acquire(scope); // warm: the token is cached
  if (!r.fromCache) throw new Error("expected a cache hit");
  const us = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    const res = await acquire(scope);
    us.push(Number(process.hrtime.bigint() - t0) / 1000);
    if (!res.fromCache) throw new Error("lookup went to the network");
  }
  return us;
}

/** A partition of `tokens` app tokens (one per resource), in msal-node's own format. */
async function seed(tokens) {
  await redis.del(partitionKey);
  await acquire("api://res-0/.default");
  const doc = JSON.parse(await redis.get(partitionKey));
  const [[key0, at0]] = Object.entries(doc.AccessToken);
  for (let r = 1; r < tokens; r++) {
    const target = `api://res-${r}/.default`;
    doc.AccessToken[key0.replace("api://res-0/.default", target)] = { ...at0, target, secret: `tok-seed-${r}` };
  }
  await redis.set(partitionKey, JSON.stringify(doc));
}

let out;
if (mode === "lookup" || mode === "large") {
  const [n, tokens] = rest.map(Number);
  await seed(tokens);
  // A fresh application, as another process of the fleet would be.
  out = percentiles(await timedLookups(n, `api://res-${Math.floor(tokens / 2)}/.default`));
} else if (mode === "update") {
  const [proc, workers, seconds] = rest.map(Number);
  const end = Date.now() + seconds * 1000;
  let ok = 0, failed = 0;
  await Promise.all(Array.from({ length: workers }, async (_, w) => {
    for (let i = 0; Date.now() < end; i++) {
      try {
        await acquire(`api://res-${i % 50}/p${proc}-w${w}-i${i}`);
        ok += 1;
      } catch { failed += 1; }
    }
  }));
  out = `ok=${ok} failed=${failed}`;
} else if (mode === "count") {
  const blob = await redis.get(partitionKey);
  out = `tokens=${blob ? Object.keys(JSON.parse(blob).AccessToken ?? {}).length : 0}`;
  await redis.del(partitionKey);
} else {
  throw new Error(`unknown mode ${mode}`);
}
console.log(`RESULT ${out}`);
await redis.quit();
