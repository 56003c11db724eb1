// An OpenID provider (panva's oidc-provider) for tests/oidc.rs: clients with
// the client-credentials grant, and one resource server (resource indicators)
// so that access tokens are JWTs signed with the provider's RSA keys.
//
// Prints one JSON line {"issuer", "port"} once it listens on 127.0.0.1.
// Reads commands on stdin, one a line, and answers each with one JSON line:
//   rotate  a new signing key signs from now on; the old one stays published
//   stats   {"jwks": how many times the key set was fetched}
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import * as readline from 'node:readline';
import Provider from 'oidc-provider';

const RESOURCE = 'https://bawaba.test/api';
const AUDIENCE = 'bawaba-api';
const SCOPES = 'national_id:verify commercial_register:verify sms:send';

// Each client's extra claims: its center and the employee signed in.
const CLIENTS = {
  'center-idp': { center_id: 'SHR-ZAG-01', employee_id: 'EMP-2001' },
  'other-center-idp': { center_id: 'CAI-NSR-01', employee_id: 'EMP-2002' },
  'center-demo': { center_id: 'SHR-ZAG-01', employee_id: 'EMP-2003' },
  'ghost-idp': { center_id: 'SHR-ZAG-01', employee_id: 'EMP-2004' },
  'bad-operator-idp': { center_id: 'SHR-ZAG-01', employee_id: 'not an id' },
};

function newKey() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, kid: crypto.randomUUID(), use: 'sig', alg: 'RS256' };
}

function makeProvider(issuer, keys) {
  const provider = new Provider(issuer, {
    clients: Object.keys(CLIENTS).map((client_id) => ({
      client_id,
      client_secret: `${client_id}-secret`,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      scope: SCOPES,
    })),
    jwks: { keys },
    scopes: ['openid', ...SCOPES.split(' ')],
    cookies: { keys: ['tests-only-cookie-key'] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resource) => {
          if (resource !== RESOURCE) throw new Error('unknown resource');
          return {
            scope: SCOPES,
            audience: AUDIENCE,
            accessTokenTTL: 300,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    extraTokenClaims: (_ctx, token) => CLIENTS[token.clientId],
  });
  provider.on('server_error', (_ctx, err) => console.error('provider error', err));
  return provider;
}

let keys = [newKey()];
let handler;
let jwksFetches = 0;
const server = http.createServer((req, res) => {
  if (req.url === '/jwks') jwksFetches += 1;
  handler(req, res);
});

server.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  handler = makeProvider(issuer, keys).callback();
  process.stdout.write(`${JSON.stringify({ issuer, port })}\n`);
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    const command = line.trim();
    if (command === 'rotate') {
      keys = [newKey(), ...keys];
      handler = makeProvider(issuer, keys).callback();
      process.stdout.write(`${JSON.stringify({ rotated: keys[0].kid })}\n`);
    } else if (command === 'stats') {
      process.stdout.write(`${JSON.stringify({ jwks: jwksFetches })}\n`);
    } else {
      process.stdout.write(`${JSON.stringify({ error: `unknown command ${command}` })}\n`);
    }
  });
  rl.on('close', () => process.exit(0));
});
