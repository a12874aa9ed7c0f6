import { verifyCommand } from './commands/verify';
import { UsageError } from './usage';

const USAGE = `usage: quittance <command> [options]

commands:
  verify RECEIPT.json --jwks SNAPSHOT.json [--publisher PUBLISHER.json] [--json]
                         verify receipts offline against a key snapshot
`;

/** Entry point of the `quittance` command; returns the exit status. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'verify':
        return await verifyCommand(rest);
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        process.stdout.write(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`quittance: ${error.message}\n\n${USAGE}`);
      return 2;
    }
    throw error;
  }
}
