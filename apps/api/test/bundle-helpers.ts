import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { exports as exportsTable } from '@quittance/db';
import { ZipArchive } from 'archiver';
import { eq } from 'drizzle-orm';
import { unzipSync } from 'fflate';

/** Every entry of a zip, by name, in the zip's order (test bundles are small). */
export async function unzipAll(path: string): Promise<Map<string, Buffer>> {
  const entries = unzipSync(new Uint8Array(await readFile(path)));
  return new Map(Object.entries(entries).map(([name, data]) => [name, Buffer.from(data)]));
}

/** Writes entries back into a zip, e.g. after tampering with one. */
export async function zipAll(path: string, entries: Iterable<[string, Buffer]>): Promise<void> {
  const zip = new ZipArchive({ zlib: { level: 1 } });
  const out = createWriteStream(path);
  const closed = new Promise<void>((resolve, reject) => {
    out.on('close', resolve);
    zip.on('error', reject);
  });
  zip.pipe(out);
  for (const [name, data] of entries) zip.append(data, { name });
  await zip.finalize();
  await closed;
}

/** Downloads an export's zip through the app into `path`. */
export async function download(
  app: { request: (path: string, init: RequestInit) => Response | Promise<Response> },
  key: string,
  exportId: string,
  path: string,
): Promise<Response> {
  const res = await app.request(`/api/v1/trust/exports/${exportId}/download`, {
    headers: { authorization: `Bearer ${key}` },
  });
  if (res.status === 200) await writeFile(path, Buffer.from(await res.arrayBuffer()));
  return res;
}

/** Copies an export's stored bundle (whatever the bundle store) into a temporary file. */
export async function storedBundle(
  services: Pick<import('../src/services').Services, 'db' | 'bundles'>,
  exportId: string,
): Promise<string> {
  const [row] = await services.db
    .select({ bundleKey: exportsTable.bundleKey })
    .from(exportsTable)
    .where(eq(exportsTable.id, exportId));
  if (!row?.bundleKey) throw new Error(`export ${exportId} has no stored bundle`);
  const path = join(await mkdtemp(join(tmpdir(), 'quittance-bundle-')), `${exportId}.zip`);
  await pipeline((await services.bundles.open(row.bundleKey)).stream, createWriteStream(path));
  return path;
}
