/**
 * A reader that stops reading a command's output (`quittance verify BUNDLE.zip --json | head`)
 * closes the pipe, and the next write failed with EPIPE: an unhandled 'error' and a stack
 * trace (an outside check). The shell's own tools die of SIGPIPE there; the command exits as
 * they do, at once and without a word, with 141 (128 + SIGPIPE): it gave no verdict, so
 * neither 0 nor 1 would be true. Not for the long-running commands, whose logs are pino's.
 */
export function exitWhenOutputCloses(): void {
  // stdout only: a warning on a closed stderr must not turn a verdict into 141.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(SIGPIPE_STATUS);
    throw error;
  });
}

export const SIGPIPE_STATUS = 128 + 13;
