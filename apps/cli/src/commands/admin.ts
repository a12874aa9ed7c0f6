import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { jsonOf, printable, request as send } from '../http';
import { UsageError } from '../usage';

export const ADMIN_USAGE = `  admin merchants create MERCHANT_ID --jurisdiction EU|US|BR|OTHER [--name NAME]
  admin api-keys create MERCHANT_ID --role merchant|agent|auditor [--agent-id AGENT_ID]
  admin api-keys revoke PREFIX
  admin signing-keys rotate MERCHANT_ID
  admin signing-keys revoke KID --reason REASON [--revoked-at RFC3339]
  admin chain-check MERCHANT_ID
      options: --url URL (default $QUITTANCE_URL or http://127.0.0.1:$PORT)
               --token TOKEN (default $QUITTANCE_ADMIN_TOKEN or the data folder's admin-token)
`;

/** `quittance admin …`: a thin client of the admin API, so it works while the server runs. */
export async function adminCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv);
  const [group, action, target] = positionals;
  const request = toRequest(group, action, target, values);
  const url = (
    values.url ??
    process.env.QUITTANCE_URL ??
    `http://127.0.0.1:${process.env.PORT ?? 8787}`
  ).replace(/\/+$/, '');
  const token = values.token ?? (await defaultToken());
  const endpoint = `${url}/admin/v1${request.path}`;
  // Bounded (time, size) like every request of the CLI; a failure on the way is exit 2.
  const answer = await send(endpoint, {
    method: request.method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(request.body ? { 'content-type': 'application/json' } : {}),
    },
    ...(request.body ? { body: JSON.stringify(request.body) } : {}),
  });
  if (!answer.text) {
    process.stdout.write(answer.ok ? `done (HTTP ${answer.status})\n` : `HTTP ${answer.status}\n`);
    return answer.ok ? 0 : 1;
  }
  let shown: string;
  try {
    shown = JSON.stringify(jsonOf(endpoint, answer), null, 2);
  } catch (error) {
    // The admin API answers JSON: a success that is not is no success.
    if (answer.ok) throw error;
    shown = `${answer.status} ${printable(answer.text)}`;
  }
  process.stdout.write(`${shown}\n`);
  return answer.ok ? 0 : 1;
}

type Values = ReturnType<typeof parse>['values'];

function toRequest(group?: string, action?: string, target?: string, values: Values = {}) {
  const need = (value: string | undefined, name: string) => {
    if (!value) throw new UsageError(`admin ${group} ${action ?? ''} needs ${name}`);
    return value;
  };
  const id = () => encodeURIComponent(need(target, 'an id'));
  switch (`${group} ${action}`) {
    case 'merchants create':
      return {
        method: 'POST',
        path: '/merchants',
        body: {
          merchantId: need(target, 'MERCHANT_ID'),
          jurisdiction: need(values.jurisdiction, '--jurisdiction'),
          ...(values.name ? { name: values.name } : {}),
        },
      };
    case 'api-keys create':
      return {
        method: 'POST',
        path: `/merchants/${id()}/api-keys`,
        body: {
          role: need(values.role, '--role'),
          ...(values['agent-id'] ? { agentId: values['agent-id'] } : {}),
        },
      };
    case 'api-keys revoke':
      return { method: 'DELETE', path: `/api-keys/${id()}` };
    case 'signing-keys rotate':
      return { method: 'POST', path: `/merchants/${id()}/signing-keys/rotate` };
    case 'signing-keys revoke':
      return {
        method: 'POST',
        path: `/signing-keys/${id()}/revoke`,
        body: {
          reason: need(values.reason, '--reason'),
          ...(values['revoked-at'] ? { revokedAt: values['revoked-at'] } : {}),
        },
      };
    default:
      if (group === 'chain-check')
        return {
          method: 'GET',
          path: `/merchants/${encodeURIComponent(need(action, 'MERCHANT_ID'))}/chain-check`,
        };
      throw new UsageError(
        `unknown admin command ${[group, action].filter(Boolean).join(' ') || '(none)'}`,
      );
  }
}

/**
 * QUITTANCE_ADMIN_TOKEN, else the token file of the data folder: QUITTANCE_DATA_DIR's, else
 * `npm start`'s (./.quittance) or `npm run stack`'s (./.quittance-stack), the first found.
 * The stack's was not looked for, so the README's admin commands failed after `npm run stack`
 * (an outside operator's check).
 */
async function defaultToken(): Promise<string> {
  if (process.env.QUITTANCE_ADMIN_TOKEN) return process.env.QUITTANCE_ADMIN_TOKEN;
  const folders = process.env.QUITTANCE_DATA_DIR
    ? [process.env.QUITTANCE_DATA_DIR]
    : ['./.quittance', './.quittance-stack'];
  const paths = folders.map((folder) => join(resolve(folder), 'admin-token'));
  for (const path of paths) {
    try {
      return (await readFile(path, 'utf8')).trim();
    } catch {
      // the next folder
    }
  }
  throw new UsageError(
    `no admin token: pass --token, set QUITTANCE_ADMIN_TOKEN, or run where ${paths.join(' or ')} exists`,
  );
}

function parse(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        url: { type: 'string' },
        token: { type: 'string' },
        jurisdiction: { type: 'string' },
        name: { type: 'string' },
        role: { type: 'string' },
        'agent-id': { type: 'string' },
        reason: { type: 'string' },
        'revoked-at': { type: 'string' },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}
