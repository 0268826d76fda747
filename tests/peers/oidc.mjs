// A real OpenID provider (oidc-provider) on a loopback port, for the login tests.
//
//   node oidc.mjs '{"port": 0, "clients": [{"client_id": ..., "client_secret": ...,
//                    "redirect_uris": [...]}]}'
//
// Prints one JSON line {"issuer": ...} once it listens; closing stdin stops it. Who signs in
// is set by the test (POST /__test/login with the account's claims): the login interaction
// completes itself with that account and consent is granted, so a browser-less client
// following redirects gets straight back to the relying party with a code.
//
// Test controls, each a POST under /__test/ (they exist only in this launcher):
//   login   {sub, email, ...claims}   the account of the next sign-in
//   tamper  {mode}   the next token response's ID token is re-signed with a change:
//                    other-key | other-audience | expired | wrong-nonce
//   rotate  {}       a new signing key replaces the current one (a new kid)
//   down    {down}   answer 503 to everything but /__test while true
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import Provider from 'oidc-provider';
import { SignJWT, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK } from 'jose';

const config = JSON.parse(process.argv[2] || '{}');
let nextAccount = null;
let tamper = null;
let down = false;
let signingJwk = await newKey();
let provider;
const accounts = new Map(); // sub -> claims; outlives key rotations

async function newKey(kid = randomUUID()) {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  return { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' };
}

function build(issuer) {
  const p = new Provider(issuer, {
    clients: config.clients.map((c) => ({
      grant_types: ['authorization_code'],
      response_types: ['code'],
      post_logout_redirect_uris: c.post_logout_redirect_uris || [],
      ...c,
    })),
    jwks: { keys: [signingJwk] },
    cookies: { keys: ['test-cookie-key'] },
    scopes: ['openid', 'email', 'profile', 'groups'],
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name'],
      groups: ['groups', 'department'],
    },
    features: { devInteractions: { enabled: false }, rpInitiatedLogout: { enabled: true } },
    pkce: { required: () => true },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(_ctx, id) {
      const claims = accounts.get(id);
      return claims && { accountId: id, claims: async () => ({ ...claims, sub: id }) };
    },
    async loadExistingGrant(ctx) {
      // Consent is given on the account's behalf: the tests are about the relying party.
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope('openid email profile groups');
      await grant.save();
      return grant;
    },
  });
  p.use(async (ctx, next) => {
    await next();
    if (ctx.path === '/token' && tamper && ctx.body && ctx.body.id_token) {
      ctx.body = { ...ctx.body, id_token: await tampered(ctx.body.id_token, tamper) };
      tamper = null;
    }
  });
  for (const event of ['server_error', 'authorization.error', 'grant.error']) {
    p.on(event, (_ctx, err) => process.stderr.write(`${event}: ${err.stack}\n`));
  }
  return p;
}

async function tampered(idToken, mode) {
  const claims = decodeJwt(idToken);
  const { kid } = decodeProtectedHeader(idToken);
  let jwk = signingJwk;
  const now = Math.floor(Date.now() / 1000);
  if (mode === 'other-key') jwk = await newKey(kid); // same kid, other key: the signature fails
  if (mode === 'other-audience') claims.aud = 'another-client';
  if (mode === 'expired') Object.assign(claims, { iat: now - 7200, exp: now - 3600 });
  if (mode === 'wrong-nonce') claims.nonce = 'a-nonce-from-another-login';
  const key = await importJWK(jwk, 'RS256');
  return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid }).sign(key);
}

async function body(req) {
  let raw = '';
  for await (const chunk of req) raw += chunk;
  return raw ? JSON.parse(raw) : {};
}

async function control(req, res, issuer) {
  const data = await body(req);
  const what = req.url.slice('/__test/'.length);
  if (what === 'login') {
    nextAccount = data.sub;
    accounts.set(data.sub, data);
  } else if (what === 'tamper') {
    tamper = data.mode;
  } else if (what === 'rotate') {
    signingJwk = await newKey();
    provider = build(issuer);
  } else if (what === 'down') {
    down = Boolean(data.down);
  } else {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ kid: signingJwk.kid }));
}

async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  if (details.prompt.name !== 'login' || !nextAccount) {
    res.writeHead(400).end(`no account set for prompt ${details.prompt.name}`);
    return;
  }
  await provider.interactionFinished(req, res, { login: { accountId: nextAccount } }, {
    mergeWithLastSubmission: false,
  });
}

const server = http.createServer((req, res) => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const handle = async () => {
    if (req.url.startsWith('/__test/')) return control(req, res, issuer);
    if (down) return res.writeHead(503, { 'content-type': 'text/plain' }).end('maintenance');
    if (req.url.startsWith('/interaction/')) return interaction(req, res);
    return provider.callback()(req, res);
  };
  handle().catch((err) => {
    process.stderr.write(`${err.stack}\n`);
    if (!res.headersSent) res.writeHead(500).end(String(err));
  });
});

server.listen(config.port || 0, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  provider = build(issuer);
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
