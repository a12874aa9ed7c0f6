// Commands are loaded when they run: `quittance verify` (an auditor's offline tool) must not
// load the service's database drivers, queues, logger and AWS SDK.
import { exitWhenOutputCloses } from './closed-output';
import { ADMIN_USAGE } from './commands/admin';
import { UsageError } from './usage';

const MONITOR_USAGE = `  monitor --url BASE_URL --key API_KEY --publisher PUBLISHER.json --state STATE.json [--once] [--json] [--tsa-trust TSA.pem] [--interval-s 60]
                         watch that a merchant's log only grows (SPEC §12): exit 1 on a fork, rewrite or rollback
`;

const USAGE = `usage: quittance <command> [options]

commands:
  serve                  run the API (what npm start does); configured by environment
  worker                 run the background jobs on Redis (REDIS_URL); the API runs them without it
  stack [--apis 2] [--workers 1]
                         the production shape here: API processes and workers on this machine's PostgreSQL and Redis
  verify RECEIPT.json --jwks SNAPSHOT.json [--publisher PUBLISHER.json] [--proof PROOF.json] [--tsa-trust TSA.pem] [--json]
                         verify receipts offline against a key snapshot (and an inclusion proof)
  verify BUNDLE.zip --publisher PUBLISHER.json [--tsa-trust TSA.pem] [--json]
                         verify an export bundle or order evidence offline
${MONITOR_USAGE}${ADMIN_USAGE}`;

/** A subcommand's own usage, for `quittance monitor --help` and `quittance admin … --help`. */
const asksForHelp = (args: string[]) => args.includes('--help') || args.includes('-h');
function usageOf(section: string): number {
  process.stdout.write(`usage:\n${section}`);
  return 0;
}

/** Entry point of the `quittance` command; returns the exit status. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command !== 'serve' && command !== 'worker' && command !== 'stack') exitWhenOutputCloses();
  try {
    switch (command) {
      case 'serve':
        return await (await import('./commands/serve')).serveCommand(rest);
      case 'verify':
        return await (await import('./commands/verify')).verifyCommand(rest);
      case 'monitor':
        if (asksForHelp(rest)) return usageOf(MONITOR_USAGE);
        return await (await import('./commands/monitor')).monitorCommand(rest);
      case 'admin':
        if (asksForHelp(rest)) return usageOf(ADMIN_USAGE);
        return await (await import('./commands/admin')).adminCommand(rest);
      case 'stack':
        return await (await import('./commands/stack')).stackCommand(rest);
      case 'worker':
        if (rest.length > 0)
          throw new UsageError('worker takes no arguments (configure it by environment)');
        // Long-running as serve is, with the same bound on its heap (heap-growth.ts).
        (await import('./heap-growth')).boundHeapGrowth();
        return await (await import('@quittance/api')).runWorker();
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
    // One readable line for an operator; the stack only when asked for.
    process.stderr.write(
      process.env.QUITTANCE_DEBUG
        ? `${(error as Error).stack}\n`
        : `quittance: ${(error as Error).message}\n`,
    );
    // A file or a server that could not be read (inputs.ts, http.ts, by name: they load with
    // their commands) is exit 2, as for verify and monitor.
    const name = (error as Error)?.name;
    return name === 'UnreadableInput' || name === 'ServerUnreadable' ? 2 : 1;
  }
}
