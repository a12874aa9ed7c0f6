/** Bad command line or unreadable input: exit status 2 with a clear message. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
