// ehr.mjs: an EHR for tests, made of real software. panva's oidc-provider (npm,
// pinned in infra/ses/package.json) is the EHR's authorization server, set up
// for the SMART App Launch 2.2 EHR launch: the `launch` and `aud` parameters,
// PKCE S256 required, the SMART scopes, `fhirUser` in the id_token, `patient`
// in the token response, and its own sign-in and consent pages. Beside it, in
// the same process, the EHR's FHIR API serves a Patient and its Conditions from
// the FHIR fixtures in infra/ehrtest/fhir, reading the access token with the
// provider's own AccessToken lookup, and {iss}/.well-known/smart-configuration.
//
//   node ehr.mjs <config.json>
//
// The config (written by the Go kit, infra/ehrtest) names the client, its
// redirect URI, the launches and the charts they open, and which parts of the
// EHR to break. The process listens on a free 127.0.0.1 port and prints one
// line of JSON, {"issuer", "fhir"}, when it serves.

import { createPrivateKey, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const fixtures = config.fixtures_dir;
const broken = config.break || {};

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

// charts: patient id → {patient, conditions}, from the fixtures the config names.
const charts = new Map();
for (const [id, chart] of Object.entries(config.charts || {})) {
  const patient = readJSON(chart.patient);
  patient.id = id;
  const conditions = (chart.conditions || []).map((name) => {
    const c = readJSON(name);
    c.subject = { reference: `Patient/${id}` };
    return c;
  });
  charts.set(id, { patient, conditions });
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

const server = createServer();
server.listen(0, '127.0.0.1', () => {
  const origin = `http://127.0.0.1:${server.address().port}`;
  const fhirBase = `${origin}/fhir`;
  // code_challenge → launch id, recorded at the authorization request, read
  // when the code that carries the challenge is exchanged.
  const launchOf = new Map();

  const provider = new Provider(origin, {
    clients: [{
      client_id: config.client_id,
      redirect_uris: [config.redirect_uri],
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code'],
      response_types: ['code'],
    }],
    jwks: { keys: [signingJWK] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    scopes: ['openid', ...SMART_SCOPES],
    claims: { openid: ['sub'], fhirUser: ['fhirUser'] },
    conformIdTokenClaims: false,
    extraParams: ['launch', 'aud'],
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true } },
    ttl: { AccessToken: 300, AuthorizationCode: 60, IdToken: 300, Interaction: 600, Session: 3600, Grant: 3600 },
    async findAccount(ctx, id) {
      return {
        accountId: id,
        async claims() {
          return { sub: id, fhirUser: `${fhirBase}/Practitioner/${encodeURIComponent(id)}` };
        },
      };
    },
    async extraTokenClaims(ctx) {
      const code = ctx?.oidc?.entities?.AuthorizationCode;
      const launch = code && launchOf.get(code.codeChallenge);
      return launch ? { patient: config.launches[launch] } : undefined;
    },
  });
  provider.proxy = false;

  // The EHR's FHIR API and its SMART configuration.
  provider.use(async (ctx, next) => {
    if (ctx.path !== '/fhir' && !ctx.path.startsWith('/fhir/')) {
      return next();
    }
    ctx.set('Cache-Control', 'no-store');
    if (ctx.path === '/fhir/.well-known/smart-configuration') {
      if (broken.hang === 'discovery') {
        return never();
      }
      ctx.body = {
        issuer: origin,
        jwks_uri: `${origin}/jwks`,
        authorization_endpoint: `${origin}/auth`,
        token_endpoint: `${origin}/token`,
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
    if (broken.hang === 'fhir') {
      return never();
    }
    return fhir(ctx);
  });

  async function fhir(ctx) {
    const outcome = (status, code, text) => {
      ctx.status = status;
      ctx.type = 'application/fhir+json';
      ctx.body = { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, diagnostics: text }] };
    };
    const [scheme, value] = (ctx.get('authorization') || '').split(' ');
    const token = scheme && scheme.toLowerCase() === 'bearer' && value
      ? await provider.AccessToken.find(value) : undefined;
    if (!token || token.isExpired) {
      ctx.set('WWW-Authenticate', value ? 'Bearer error="invalid_token"' : 'Bearer');
      return outcome(401, 'login', 'a valid access token is required');
    }
    const granted = new Set(token.scope.split(' '));
    const patientID = token.extra?.patient;
    const allowed = (type, letter) => [...granted].some((s) => {
      const m = /^patient\/(\*|[A-Za-z]+)\.([cruds]+|read|\*)$/.exec(s);
      return m && (m[1] === '*' || m[1] === type)
        && (m[2] === '*' || m[2] === 'read' || m[2].includes(letter));
    });
    let m;
    if ((m = /^\/fhir\/Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(ctx.path)) && ctx.method === 'GET') {
      if (!allowed('Patient', 'r') || m[1] !== patientID) {
        return outcome(403, 'forbidden', 'the token does not grant this Patient');
      }
      const chart = charts.get(m[1]);
      if (!chart) {
        return outcome(404, 'not-found', 'no such Patient');
      }
      ctx.type = 'application/fhir+json';
      ctx.body = chart.patient;
      return undefined;
    }
    if (ctx.path === '/fhir/Condition' && ctx.method === 'GET') {
      const subject = String(ctx.query.patient || '').replace(/^Patient\//, '');
      if (!allowed('Condition', 's') || subject !== patientID) {
        return outcome(403, 'forbidden', 'the token does not grant a search of this patient\'s Conditions');
      }
      const statuses = ctx.query['clinical-status'] ? String(ctx.query['clinical-status']).split(',') : null;
      const found = (charts.get(subject)?.conditions || []).filter((c) => !statuses
        || statuses.includes(c.clinicalStatus?.coding?.[0]?.code));
      ctx.type = 'application/fhir+json';
      ctx.body = {
        resourceType: 'Bundle',
        type: 'searchset',
        total: found.length,
        link: [{ relation: 'self', url: fhirBase + ctx.url.slice('/fhir'.length) }],
        entry: found.map((c) => ({ fullUrl: `${fhirBase}/Condition/${c.id}`, resource: c, search: { mode: 'match' } })),
      };
      return undefined;
    }
    return outcome(404, 'not-supported', 'this EHR serves Patient reads and Condition searches');
  }

  // The authorization request: the launch must be one the EHR started, and
  // aud must name this EHR's FHIR base (SMART App Launch 2.2).
  provider.use(async (ctx, next) => {
    if (ctx.path === '/auth' && ctx.method === 'GET' && ctx.query.client_id) {
      const { launch, aud } = ctx.query;
      if (!launch || !(launch in (config.launches || {})) || aud !== fhirBase) {
        ctx.status = 400;
        ctx.type = 'text/plain';
        ctx.body = 'this EHR did not start that launch, or aud is not its FHIR base';
        return undefined;
      }
      if (ctx.query.code_challenge) {
        launchOf.set(ctx.query.code_challenge, launch);
      }
    }
    return next();
  });

  // The token response: `patient` from the launch, and the breaks a test asks for.
  provider.use(async (ctx, next) => {
    if (ctx.path !== '/token') {
      return next();
    }
    if (broken.hang === 'token') {
      return never();
    }
    await next();
    const body = ctx.body;
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
  process.stdout.write(JSON.stringify({ issuer: origin, fhir: fhirBase }) + '\n');
});

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => process.exit(0));
}
