// A real OpenID provider, the certified `oidc-provider` package, for the portal's single
// sign-on tests: on a port of 127.0.0.1 that the system picks as it listens (so that no other
// process can take it meanwhile), printed as "listening on ISSUER", with one client,
// `portal`, whose redirect address is OIDC_REDIRECT. A person signs in by name: the
// `login_hint` of the authorization request, or the name typed into this provider's small
// sign-in form. Their claims come from the JSON file OIDC_ACCOUNTS, read at each sign-in, so
// that a test can take a group away. The file OIDC_MODE, read at each token request, makes
// the provider answer wrongly on purpose: "nonce", "issuer", "expired" or "other-key" rewrite
// the ID token.
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import Provider from "oidc-provider";

// The server listens first: the issuer names the port it got.
const server = http.createServer();
await new Promise((listening) => server.listen(0, "127.0.0.1", listening));
const issuer = `http://127.0.0.1:${server.address().port}`;
const signing = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
const other = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
const signingJwk = { ...signing.privateKey.export({ format: "jwk" }), kid: "signing", alg: "RS256", use: "sig" };

const accounts = () => JSON.parse(fs.readFileSync(process.env.OIDC_ACCOUNTS, "utf8"));
const mode = () => {
  try {
    return fs.readFileSync(process.env.OIDC_MODE, "utf8").trim();
  } catch {
    return "";
  }
};

const provider = new Provider(issuer, {
  clients: [{
    client_id: "portal",
    client_secret: "portal-client-secret",
    redirect_uris: [process.env.OIDC_REDIRECT],
    grant_types: ["authorization_code"],
    response_types: ["code"],
    token_endpoint_auth_method: "client_secret_basic",
  }],
  jwks: { keys: [signingJwk] },
  pkce: { required: () => true, methods: ["S256"] },
  scopes: ["openid", "email", "profile"],
  claims: { email: ["email", "email_verified"], profile: ["name", "groups"] },
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: false } },
  cookies: { keys: ["portal-tests-only"] },
  findAccount: async (ctx, id) => {
    const claims = accounts()[id];
    return claims && { accountId: id, claims: async () => ({ sub: id, ...claims }) };
  },
  // The portal is this provider's own client: no consent screen.
  loadExistingGrant: async (ctx) => {
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope("openid email profile");
    grant.addOIDCClaims(["email", "email_verified", "name", "groups"]);
    await grant.save();
    return grant;
  },
});

const b64url = (bytes) => Buffer.from(bytes).toString("base64url");

// The ID token signed again after one deliberate fault.
function spoiled(idToken, how) {
  const [h, p] = idToken.split(".");
  const payload = JSON.parse(Buffer.from(p, "base64url"));
  let key = signing.privateKey;
  if (how === "nonce") payload.nonce = "not-the-nonce";
  if (how === "issuer") payload.iss = "https://elsewhere.example";
  if (how === "expired") {
    payload.iat -= 7200;
    payload.exp = payload.iat + 60;
  }
  if (how === "other-key") key = other.privateKey;
  const body = b64url(JSON.stringify(payload));
  return `${h}.${body}.${b64url(crypto.sign("sha256", Buffer.from(`${h}.${body}`), key))}`;
}

async function formField(req, name) {
  let text = "";
  for await (const chunk of req) text += chunk;
  return new URLSearchParams(text).get(name) || "";
}

async function signIn(ctx, accountId) {
  if (!accounts()[accountId]) {
    ctx.status = 400;
    ctx.body = "unknown person";
    return;
  }
  const result = { login: { accountId } };
  ctx.redirect(await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false }));
}

provider.use(async (ctx, next) => {
  const at = ctx.path.match(/^\/interaction\/([^/]+)(\/login)?$/);
  if (at) {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    if (at[2] && ctx.method === "POST") return signIn(ctx, await formField(ctx.req, "login"));
    if (details.params.login_hint) return signIn(ctx, details.params.login_hint);
    ctx.type = "html";
    ctx.body = `<!doctype html><html lang="en"><head><title>Company sign-in</title></head><body><main>
      <h1>Company sign-in</h1>
      <form method="post" action="/interaction/${at[1]}/login">
      <label for="login">User</label> <input id="login" name="login" autocomplete="username">
      <button type="submit">Continue</button></form></main></body></html>`;
    return;
  }
  await next();
  const how = mode();
  if (ctx.path === "/token" && how && ctx.body && ctx.body.id_token) {
    ctx.body = { ...ctx.body, id_token: spoiled(ctx.body.id_token, how) };
  }
});

server.on("request", provider.callback());
console.log(`listening on ${issuer}`);
