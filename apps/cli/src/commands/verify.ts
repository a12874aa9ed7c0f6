import { parseArgs } from 'node:util';
import { UsageError } from '../usage';

export const VERIFY_USAGE = `usage:
  quittance verify RECEIPT.json --jwks SNAPSHOT.json [--publisher PUBLISHER.json] [--proof PROOF.json] [--tsa-trust TSA.pem] [--json]
      verify receipts offline against a key snapshot (and an inclusion proof)
  quittance verify BUNDLE.zip --publisher PUBLISHER.json [--tsa-trust TSA.pem] [--json]
      verify an export bundle or order evidence offline
exit status: 0 when no claim is refuted, 1 when one is, 2 when the input cannot be read
`;

/** `quittance verify`: exit 0 when no claim is refuted, 1 when one is, 2 on unreadable input. */
export async function verifyCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseOrThrow(argv);
  if (values.help) {
    process.stdout.write(VERIFY_USAGE);
    return 0;
  }
  if (positionals.length !== 1)
    throw new UsageError('verify takes exactly one RECEIPT.json or BUNDLE.zip');
  // Loaded only now: `verify --help` and a usage error need none of the verifier.
  const { verifyFile } = await import('./verify-file');
  return verifyFile(positionals[0] as string, values);
}

function parseOrThrow(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        jwks: { type: 'string' },
        publisher: { type: 'string' },
        'tsa-trust': { type: 'string' },
        proof: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}
