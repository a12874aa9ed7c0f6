import { readFile } from 'node:fs/promises';
import { UsageError } from './usage';

/** Reads a JSON file, or throws a {@link UsageError} that names the file and the problem. */
export async function readJsonFile(path: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new UsageError(
      `cannot read ${what} ${path}: ${(error as NodeJS.ErrnoException).code ?? error}`,
    );
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${what} ${path} is not JSON: ${(error as Error).message}`);
  }
}

/** A receipts file: one receipt, an array, an API answer `{receipts: [...]}`, or JSON Lines. */
export async function readReceiptsFile(path: string): Promise<unknown[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new UsageError(
      `cannot read receipt file ${path}: ${(error as NodeJS.ErrnoException).code ?? error}`,
    );
  }
  try {
    const value = JSON.parse(text);
    if (Array.isArray(value)) return value;
    // The API's list and by-order answers: { receipts: [...] }.
    if (value && typeof value === 'object' && Array.isArray(value.receipts)) return value.receipts;
    return [value];
  } catch {
    const lines = text.split('\n').filter((line) => line.trim() !== '');
    try {
      return lines.map((line) => JSON.parse(line));
    } catch (error) {
      throw new UsageError(
        `receipt file ${path} is neither JSON nor JSON Lines: ${(error as Error).message}`,
      );
    }
  }
}
