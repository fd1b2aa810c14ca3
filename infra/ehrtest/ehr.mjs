// ehr.mjs: an EHR for tests, made of real software. panva's oidc-provider (npm,
// pinned in infra/ses/package.json) is the EHR's authorization server, set up
// for the SMART App Launch 2.2 EHR launch: the `launch` and `aud` parameters,
// PKCE S256 required, the SMART scopes, `fhirUser` in the id_token, `patient`
// in the token response, its own sign-in and consent pages, and its own
// dynamic client registration (RFC 7591, at /reg) by which an app's client is
// registered. Beside it, in the same process, the EHR's FHIR API serves a
// Patient and its Conditions from the FHIR fixtures in infra/ehrtest/fhir,
// reading the access token with the provider's own AccessToken lookup, and
// {iss}/.well-known/smart-configuration.
//
//   node ehr.mjs <config.json>
//
// One process serves many tenants, one per test: a tenant is a registered
// client with its own FHIR base ({origin}/t/{id}/fhir, the iss of its
// launches), the launches it started and the charts they open, and the parts
// of the EHR to break for it. A tenant's chart page, {origin}/t/{id}/chart,
// opens an app's launch inside a frame, as an EHR that embeds SMART apps. A test adds its tenant with
// POST /_test/tenants and changes its breaks with PUT /_test/tenants/{id}/break,
// both with the bearer token of the config. The config (written by the Go kit,
// infra/ehrtest) names the fixtures, node_modules and that token. The process
// listens on a free 127.0.0.1 port, prints one line of JSON, {"issuer"}, when
// it serves, and exits when its standard input closes (the test binary that
// started it has ended).

import { createPrivateKey, generateKeyPairSync, randomBytes, sign, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const fixtures = config.fixtures_dir;

// oidc-provider lives in infra/ses/node_modules (the project's pinned npm tools).
const require = createRequire(join(config.node_modules, 'package.json'));
const { default: Provider } = await import(pathToFileURL(require.resolve('oidc-provider')).href);

// The scopes the EHR knows. Clinical scopes beyond handoff's ask exist so that
// a client asking for more would be granted more (which handoff must refuse).
const SMART_SCOPES = ['launch', 'fhirUser', 'patient/Patient.r', 'patient/Patient.rs',
  'patient/Condition.r', 'patient/Condition.rs', 'patient/Observation.rs', 'patient/*.rs'];

function readJSON(name) {
  return JSON.parse(readFileSync(join(fixtures, name + '.json'), 'utf8'));
}

// tenants: id → {id, clientID, fhirBase, launches, charts, broken}; byClient:
// client_id → tenant.
const tenants = new Map();
const byClient = new Map();

// chartsOf reads a tenant's charts (patient id → {patient, conditions}) from
// the fixtures its config names.
function chartsOf(spec) {
  const charts = new Map();
  for (const [id, chart] of Object.entries(spec || {})) {
    const patient = chart.patient_resource ? structuredClone(chart.patient_resource) : readJSON(chart.patient);
    patient.id = id;
    const conditions = (chart.conditions || []).map(readJSON).concat(chart.condition_resources || []).map((c) => {
      c.subject = { reference: `Patient/${id}` };
      return c;
    });
    charts.set(id, { patient, conditions });
  }
  return charts;
}

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingJWK = { ...privateKey.export({ format: 'jwk' }), kid: 'ehr-1', alg: 'RS256', use: 'sig' };

function b64url(buf) {
  return Buffer.from(buf).toString('base64url');
}

// resign signs an id_token's claims again, with the EHR's key or, to break
// the signature, with a fresh key under the same kid.
function resign(idToken, changes, otherKey) {
  const [h, p] = idToken.split('.');
  const header = JSON.parse(Buffer.from(h, 'base64url'));
  const payload = { ...JSON.parse(Buffer.from(p, 'base64url')), ...changes };
  const input = b64url(JSON.stringify(header)) + '.' + b64url(JSON.stringify(payload));
  const key = otherKey ? generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
    : createPrivateKey({ key: signingJWK, format: 'jwk' });
  return input + '.' + b64url(sign('sha256', Buffer.from(input), key));
}

function never() {
  return new Promise(() => {});
}

// down answers nothing at all: the connection is cut, as when the EHR's
// server is gone.
function down(ctx) {
  ctx.req.socket.destroy();
  return never();
}

// refuse is the EHR's part that a tenant broke: "down" cuts the connection,
// hanging there never answers. It returns undefined for a part that works.
function refuse(ctx, tenant, part) {
  const b = tenant?.broken || {};
  if (b.down) {
    return down(ctx);
  }
  if (b.hang === part) {
    return never();
  }
  return undefined;
}

function bearer(ctx) {
  const [scheme, value] = (ctx.get('authorization') || '').split(' ');
  return scheme && scheme.toLowerCase() === 'bearer' ? value || '' : '';
}

const adminToken = Buffer.from(config.admin_token);
function isAdmin(ctx) {
  const got = Buffer.from(bearer(ctx));
  return got.length === adminToken.length && timingSafeEqual(got, adminToken);
}

async function readBody(ctx) {
  const chunks = [];
  for await (const c of ctx.req) {
    chunks.push(c);
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
}

const server = createServer();
server.listen(0, '127.0.0.1', () => {
  const origin = `http://127.0.0.1:${server.address().port}`;
  // code_challenge → {tenant, launch}, recorded at the authorization
  // request, read when the code that carries the challenge is exchanged.
  const launchOf = new Map();

  const provider = new Provider(origin, {
    jwks: { keys: [signingJWK] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    scopes: ['openid', ...SMART_SCOPES],
    claims: { openid: ['sub'], fhirUser: ['fhirUser'] },
    conformIdTokenClaims: false,
    extraParams: ['launch', 'aud'],
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true }, registration: { enabled: true } },
    ttl: { AccessToken: 300, AuthorizationCode: 60, IdToken: 300, Interaction: 600, Session: 3600, Grant: 3600 },
    async findAccount(ctx, id) {
      const tenant = byClient.get(ctx.oidc?.client?.clientId);
      const base = tenant ? tenant.fhirBase : `${origin}/fhir`;
      return {
        accountId: id,
        async claims() {
          return { sub: id, fhirUser: `${base}/Practitioner/${encodeURIComponent(id)}` };
        },
      };
    },
    async extraTokenClaims(ctx) {
      const code = ctx?.oidc?.entities?.AuthorizationCode;
      const l = code && launchOf.get(code.codeChallenge);
      return l ? { patient: l.tenant.launches[l.launch] } : undefined;
    },
  });
  provider.proxy = false;

  // The test's own door: add a tenant, change what is broken for it.
  provider.use(async (ctx, next) => {
    if (!ctx.path.startsWith('/_test/')) {
      return next();
    }
    if (!isAdmin(ctx)) {
      ctx.status = 401;
      return undefined;
    }
    let m;
    if (ctx.path === '/_test/tenants' && ctx.method === 'POST') {
      const spec = await readBody(ctx);
      const id = `t${tenants.size + 1}`;
      const tenant = {
        id, clientID: spec.client_id, fhirBase: `${origin}/t/${id}/fhir`, launches: spec.launches || {},
        charts: chartsOf(spec.charts), broken: spec.break || {},
      };
      tenants.set(id, tenant);
      byClient.set(tenant.clientID, tenant);
      ctx.body = { id, fhir: tenant.fhirBase };
      return undefined;
    }
    if ((m = /^\/_test\/tenants\/(t\d+)\/break$/.exec(ctx.path)) && ctx.method === 'PUT' && tenants.has(m[1])) {
      tenants.get(m[1]).broken = await readBody(ctx);
      ctx.status = 204;
      return undefined;
    }
    ctx.status = 404;
    return undefined;
  });

  // A tenant's chart page: the EHR's own page that opens an app inside a
  // frame, as an EHR embeds a SMART app (the launch URL given as app, with
  // iss and launch added). It is the EHR's site: the origin an app lets
  // frame its pages.
  provider.use(async (ctx, next) => {
    const m = /^\/t\/(t\d+)\/chart$/.exec(ctx.path);
    if (!m || ctx.method !== 'GET') {
      return next();
    }
    const tenant = tenants.get(m[1]);
    const app = String(ctx.query.app || '');
    const launch = String(ctx.query.launch || '');
    if (!tenant || !/^https?:\/\/[^\s"<>]+$/.test(app) || !(launch in tenant.launches)) {
      ctx.status = 404;
      return undefined;
    }
    const src = `${app}?iss=${encodeURIComponent(tenant.fhirBase)}&launch=${encodeURIComponent(launch)}`
      .replaceAll('&', '&amp;');
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'html';
    ctx.body = '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Chart</title></head>'
      + `<body><main><h1>Chart</h1><iframe name="app" title="App" src="${src}" width="380" height="800"></iframe>`
      + '</main></body></html>';
    return undefined;
  });

  // Each tenant's FHIR API and its SMART configuration.
  provider.use(async (ctx, next) => {
    const m = /^\/t\/(t\d+)\/fhir(\/.*)?$/.exec(ctx.path);
    if (!m) {
      return next();
    }
    const tenant = tenants.get(m[1]);
    const path = m[2] || '';
    if (!tenant) {
      ctx.status = 404;
      return undefined;
    }
    ctx.set('Cache-Control', 'no-store');
    if (path === '/.well-known/smart-configuration') {
      const refused = refuse(ctx, tenant, 'discovery');
      if (refused) {
        return refused;
      }
      ctx.body = {
        issuer: origin,
        jwks_uri: `${origin}/jwks`,
        authorization_endpoint: `${origin}/auth`,
        token_endpoint: `${origin}/token`,
        registration_endpoint: `${origin}/reg`,
        grant_types_supported: ['authorization_code'],
        token_endpoint_auth_methods_supported: ['none'],
        scopes_supported: ['openid', ...SMART_SCOPES],
        response_types_supported: ['code'],
        code_challenge_methods_supported: ['S256'],
        capabilities: ['launch-ehr', 'client-public', 'context-ehr-patient', 'sso-openid-connect',
          'permission-patient', 'permission-v2'],
      };
      return undefined;
    }
    return refuse(ctx, tenant, 'fhir') || fhir(ctx, tenant, path);
  });

  async function fhir(ctx, tenant, path) {
    const outcome = (status, code, text) => {
      ctx.status = status;
      ctx.type = 'application/fhir+json';
      ctx.body = { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, diagnostics: text }] };
    };
    const value = bearer(ctx);
    const token = value ? await provider.AccessToken.find(value) : undefined;
    if (!token || token.isExpired || byClient.get(token.clientId) !== tenant) {
      ctx.set('WWW-Authenticate', value ? 'Bearer error="invalid_token"' : 'Bearer');
      return outcome(401, 'login', 'a valid access token is required');
    }
    const granted = new Set(token.scope.split(' '));
    const patientID = token.extra?.patient;
    const allowed = (type, letter) => [...granted].some((s) => {
      const p = /^patient\/(\*|[A-Za-z]+)\.([cruds]+|read|\*)$/.exec(s);
      return p && (p[1] === '*' || p[1] === type)
        && (p[2] === '*' || p[2] === 'read' || p[2].includes(letter));
    });
    let m;
    if ((m = /^\/Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(path)) && ctx.method === 'GET') {
      if (!allowed('Patient', 'r') || m[1] !== patientID) {
        return outcome(403, 'forbidden', 'the token does not grant this Patient');
      }
      const chart = tenant.charts.get(m[1]);
      if (!chart) {
        return outcome(404, 'not-found', 'no such Patient');
      }
      ctx.type = 'application/fhir+json';
      ctx.body = chart.patient;
      return undefined;
    }
    if (path === '/Condition' && ctx.method === 'GET') {
      const subject = String(ctx.query.patient || '').replace(/^Patient\//, '');
      if (!allowed('Condition', 's') || subject !== patientID) {
        return outcome(403, 'forbidden', 'the token does not grant a search of this patient\'s Conditions');
      }
      const statuses = ctx.query['clinical-status'] ? String(ctx.query['clinical-status']).split(',') : null;
      const found = (tenant.charts.get(subject)?.conditions || []).filter((c) => !statuses
        || statuses.includes(c.clinicalStatus?.coding?.[0]?.code));
      ctx.type = 'application/fhir+json';
      ctx.body = {
        resourceType: 'Bundle',
        type: 'searchset',
        total: found.length,
        link: [{ relation: 'self', url: tenant.fhirBase + path + (ctx.querystring ? `?${ctx.querystring}` : '') }],
        entry: found.map((c) => ({ fullUrl: `${tenant.fhirBase}/Condition/${c.id}`, resource: c, search: { mode: 'match' } })),
      };
      return undefined;
    }
    return outcome(404, 'not-supported', 'this EHR serves Patient reads and Condition searches');
  }

  // The authorization request: the launch must be one the EHR started for
  // the client's tenant, and aud must name that tenant's FHIR base (SMART
  // App Launch 2.2).
  provider.use(async (ctx, next) => {
    if (ctx.path === '/auth' && ctx.method === 'GET' && ctx.query.client_id) {
      const tenant = byClient.get(ctx.query.client_id);
      const refused = refuse(ctx, tenant, 'auth');
      if (refused) {
        return refused;
      }
      const { launch, aud } = ctx.query;
      if (!tenant || !launch || !(launch in tenant.launches) || aud !== tenant.fhirBase) {
        ctx.status = 400;
        ctx.type = 'text/plain';
        ctx.body = 'this EHR did not start that launch, or aud is not its FHIR base';
        return undefined;
      }
      if (ctx.query.code_challenge) {
        launchOf.set(ctx.query.code_challenge, { tenant, launch });
      }
    }
    return next();
  });

  // The token response: `patient` from the launch, and the breaks a test asks for.
  provider.use(async (ctx, next) => {
    if (ctx.path !== '/token') {
      return next();
    }
    await next();
    const tenant = byClient.get(ctx.oidc?.client?.clientId);
    const refused = refuse(ctx, tenant, 'token');
    if (refused) {
      return refused;
    }
    const body = ctx.body;
    const broken = tenant?.broken || {};
    if (ctx.status !== 200 || !body || !body.access_token) {
      return undefined;
    }
    const token = await provider.AccessToken.find(body.access_token);
    if (token?.extra?.patient && !broken.no_patient) {
      body.patient = token.extra.patient;
    }
    if (broken.wider_scope) {
      body.scope = `${body.scope} ${broken.wider_scope}`;
    }
    if (body.id_token && (broken.id_token_aud || broken.id_token_key)) {
      const changes = broken.id_token_aud ? { aud: broken.id_token_aud } : {};
      body.id_token = resign(body.id_token, changes, !!broken.id_token_key);
    }
    return undefined;
  });

  server.on('request', provider.callback());
  process.stdout.write(JSON.stringify({ issuer: origin }) + '\n');
});

// The test binary that started this EHR holds its standard input: when the
// binary ends, however it ends, so does the EHR.
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => process.exit(0));
}
