// Drives the real msal-node 7.2 + msal-node-extensions 5.6 (installed by
// scripts/node-peers.sh; run with NODE_PATH=<its node_modules>) offline for the
// Rust interop tests. Every network call goes to a fake `system.networkClient`
// that answers Entra ID's instance discovery and OpenID configuration like the
// real service (so msal-node caches under the cloud's preferred alias,
// login.windows.net) and counts token requests. Each command prints one JSON
// object on stdout.
//
// Commands (PATH is the cache file, or the signal file of a keyring item):
//   cc_acquire PATH CLIENT SCOPE SECRET  acquireTokenByClientCredential; the token
//                                        endpoint answers SECRET
//   cc_cached PATH CLIENT SCOPE          the same, but a token request is an error
//   sign_in PATH CLIENT SCOPE RESPONSE   PublicClientApplication.acquireTokenByCode;
//                                        the token endpoint answers the JSON RESPONSE
//   pca_silent PATH CLIENT SCOPE [HAI]   getAllAccounts + acquireTokenSilent for the
//                                        first account, or the one with homeAccountId HAI
//                                        (token requests are errors)
//   pca_refresh PATH CLIENT SCOPE [HAI]  acquireTokenSilent with forceRefresh: reports
//                                        the refresh token msal-node sent
//   add_many PATH PREFIX N               N client-credential tokens, scopes PREFIX-0..N-1
//   delete_lockfiles PATH MILLIS         for MILLIS ms, what msal-node-extensions'
//                                        plugin does after every cache read once it has
//                                        held the lock once: "release" a lock it does not
//                                        hold, deleting the lockfile whoever holds it;
//                                        prints "ready" once its one real access is done
//   make_junk PATH                       concurrent FilePersistence saves until the
//                                        file is a whole document followed by junk
//
// Env: MSALX_PEER_BACKEND=keyring: PATH is the signal file of KeyRingPersistence
// (keytar item service=MSALX_KEYRING_SERVICE, account=MSALX_KEYRING_ACCOUNT).
// MSALX_PEER_TENANT: the tenant (default contoso.onmicrosoft.com).
"use strict";

const fs = require("fs");
const msal = require("@azure/msal-node");
const ext = require("@azure/msal-node-extensions");

const TENANT = process.env.MSALX_PEER_TENANT || "contoso.onmicrosoft.com";
const HOST = "login.microsoftonline.com";
const AUTHORITY = `https://${HOST}/${TENANT}`;
// Entra ID's answer for the public cloud (as published by instance discovery).
const PUBLIC_CLOUD = {
    preferred_network: "login.microsoftonline.com",
    preferred_cache: "login.windows.net",
    aliases: ["login.microsoftonline.com", "login.windows.net", "login.microsoft.com", "sts.windows.net"],
};

class FakeNetwork {
    constructor(tokenBody) {
        this.tokenBody = tokenBody; // null: a token request fails the command
        this.posts = 0;
        this.lastPost = null;
    }
    async sendGetRequestAsync(url) {
        if (url.includes("/discovery/instance")) {
            const body = {
                tenant_discovery_endpoint: `https://${HOST}/${TENANT}/v2.0/.well-known/openid-configuration`,
                "api-version": "1.1",
                metadata: [PUBLIC_CLOUD],
            };
            return { headers: {}, body, status: 200 };
        }
        if (url.includes("/.well-known/openid-configuration")) {
            const base = url.split("/v2.0/.well-known")[0];
            const body = {
                authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
                token_endpoint: `${base}/oauth2/v2.0/token`,
                issuer: `https://${HOST}/${TENANT}/v2.0`,
                jwks_uri: `${base}/discovery/v2.0/keys`,
                end_session_endpoint: `${base}/oauth2/v2.0/logout`,
            };
            return { headers: {}, body, status: 200 };
        }
        throw new Error(`unexpected GET ${url}`);
    }
    async sendPostRequestAsync(url, options) {
        this.posts += 1;
        this.lastPost = new URLSearchParams(options && options.body ? options.body : "");
        if (this.tokenBody === null) {
            throw new Error(`unexpected token request to ${url}`);
        }
        return { headers: {}, body: this.tokenBody, status: 200 };
    }
}

async function persistence(path) {
    if (process.env.MSALX_PEER_BACKEND === "keyring") {
        return ext.LibSecretPersistence.create(
            path, process.env.MSALX_KEYRING_SERVICE, process.env.MSALX_KEYRING_ACCOUNT);
    }
    return ext.FilePersistence.create(path);
}

async function config(path, client, net) {
    const plugin = new ext.PersistenceCachePlugin(await persistence(path));
    return {
        auth: { clientId: client, authority: AUTHORITY },
        cache: { cachePlugin: plugin },
        system: { networkClient: net },
    };
}

async function ccApp(path, client, net) {
    const c = await config(path, client, net);
    c.auth.clientSecret = "not-a-real-secret";
    return new msal.ConfidentialClientApplication(c);
}

function outcome(r, net) {
    return {
        access_token: r ? r.accessToken : null,
        from_cache: r ? r.fromCache : null,
        posts: net.posts,
    };
}

function failure(e, net) {
    return { error: e.errorCode || e.message, posts: net.posts };
}

async function ccAcquire(path, client, scope, secret) {
    const net = new FakeNetwork({ token_type: "Bearer", expires_in: 3599, ext_expires_in: 3599, access_token: secret });
    try {
        const r = await (await ccApp(path, client, net)).acquireTokenByClientCredential({ scopes: [scope] });
        return outcome(r, net);
    } catch (e) {
        return failure(e, net);
    }
}

async function ccCached(path, client, scope) {
    const net = new FakeNetwork(null);
    try {
        const r = await (await ccApp(path, client, net)).acquireTokenByClientCredential({ scopes: [scope] });
        return outcome(r, net);
    } catch (e) {
        return failure(e, net);
    }
}

async function signIn(path, client, scope, response) {
    const net = new FakeNetwork(JSON.parse(response));
    const pca = new msal.PublicClientApplication(await config(path, client, net));
    try {
        const r = await pca.acquireTokenByCode({ code: "fake-code", scopes: [scope], redirectUri: "http://localhost" });
        return { ...outcome(r, net), home_account_id: r.account.homeAccountId };
    } catch (e) {
        return failure(e, net);
    }
}

async function silent(path, client, scope, homeAccountId, forceRefresh, tokenBody) {
    const net = new FakeNetwork(tokenBody);
    const pca = new msal.PublicClientApplication(await config(path, client, net));
    const accounts = await pca.getTokenCache().getAllAccounts();
    const out = {
        accounts: accounts.map((a) => ({
            username: a.username,
            home_account_id: a.homeAccountId,
            id_token_oid: a.idTokenClaims ? a.idTokenClaims.oid : null,
        })),
    };
    const account = homeAccountId ? accounts.find((a) => a.homeAccountId === homeAccountId) : accounts[0];
    if (account) {
        try {
            const r = await pca.acquireTokenSilent({ account, scopes: [scope], forceRefresh });
            Object.assign(out, outcome(r, net));
        } catch (e) {
            Object.assign(out, failure(e, net));
        }
    }
    out.posts = net.posts;
    out.refresh_token_sent = net.lastPost ? net.lastPost.get("refresh_token") : null;
    return out;
}

async function addMany(path, prefix, n) {
    let errors = 0;
    const messages = [];
    for (let i = 0; i < Number(n); i += 1) {
        const scope = `${prefix}-${i}`;
        const net = new FakeNetwork({ token_type: "Bearer", expires_in: 3599, access_token: scope });
        try {
            await (await ccApp(path, "shared_client", net)).acquireTokenByClientCredential({ scopes: [scope] });
        } catch (e) {
            errors += 1;
            messages.push(e.errorCode || e.message);
        }
    }
    return { errors, messages: messages.slice(0, 3) };
}

async function deleteLockfiles(path, millis) {
    // One real access first: the plugin's lock keeps its file handle after
    // that first release, and from then on every "release" unlinks the
    // lockfile, held by anyone or not (CrossPlatformLock.unlock only checks
    // that handle).
    const plugin = new ext.PersistenceCachePlugin(await persistence(path));
    const net = new FakeNetwork({ token_type: "Bearer", expires_in: 3599, access_token: "deleter" });
    const app = new msal.ConfidentialClientApplication({
        auth: { clientId: "deleter", authority: AUTHORITY, clientSecret: "not-a-real-secret" },
        cache: { cachePlugin: plugin },
        system: { networkClient: net },
    });
    await app.acquireTokenByClientCredential({ scopes: ["deleter/.default"] });
    process.stdout.write("ready\n"); // the only write to the cache is done
    const lockfile = `${path}.lockfile`;
    const end = Date.now() + Number(millis);
    let deleted = 0; // unlinks of a lockfile that existed just before (someone else's)
    while (Date.now() < end) {
        if (fs.existsSync(lockfile)) {
            deleted += 1;
        }
        // The plugin's own code path after an access that changed nothing.
        await plugin.afterCacheAccess({ cacheHasChanged: false });
        await new Promise((r) => setImmediate(r));
    }
    return { deleted };
}

function docAndJunk(text) {
    try {
        JSON.parse(text);
        return false; // one whole document
    } catch (_) {
        // A whole document followed by something: the first `}` that closes it.
        for (let end = text.indexOf("}"); end >= 0; end = text.indexOf("}", end + 1)) {
            try {
                JSON.parse(text.slice(0, end + 1));
                return text.slice(end + 1).trim().length > 0;
            } catch (_) { /* keep looking */ }
        }
        return false;
    }
}

async function makeJunk(path) {
    // msal-node-extensions' FilePersistence.save is fs.writeFile: truncate, then
    // write. Two saves of one process (or of two processes) can interleave so
    // that a short document lands on top of the tail of a longer one.
    const p = await ext.FilePersistence.create(path);
    const doc = (n) => {
        const at = {};
        for (let i = 0; i < n; i += 1) {
            at[`-login.windows.net-accesstoken-junk_client-${TENANT}-scope-${i}--`] = {
                home_account_id: "", environment: "login.windows.net", credential_type: "AccessToken",
                client_id: "junk_client", secret: `junk-secret-${i}`, realm: TENANT, target: `scope-${i}`,
                cached_at: "1700000000", expires_on: "4102444800", extended_expires_on: "4102444800",
                token_type: "Bearer",
            };
        }
        return JSON.stringify({ Account: {}, IdToken: {}, AccessToken: at, RefreshToken: {}, AppMetadata: {} });
    };
    for (let attempt = 1; attempt <= 2000; attempt += 1) {
        await Promise.all([p.save(doc(40)), p.save(doc(3))]);
        const text = fs.readFileSync(path, "utf8");
        if (docAndJunk(text)) {
            return { attempts: attempt, bytes: text.length };
        }
    }
    return { error: "no interleaving seen in 2000 attempts" };
}

const COMMANDS = {
    cc_acquire: ccAcquire,
    cc_cached: ccCached,
    sign_in: signIn,
    pca_silent: (path, client, scope, hai) => silent(path, client, scope, hai, false, null),
    pca_refresh: (path, client, scope, hai) =>
        silent(path, client, scope, hai, true, { token_type: "Bearer", expires_in: 3599, access_token: "refreshed" }),
    add_many: addMany,
    delete_lockfiles: deleteLockfiles,
    make_junk: makeJunk,
};

const [cmd, ...args] = process.argv.slice(2);
COMMANDS[cmd](...args).then(
    (out) => console.log(JSON.stringify(out)),
    (e) => {
        console.error(e);
        process.exit(1);
    },
);
