import { createWriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { BundleReader } from '@quittance/bundle';
import { ZipArchive } from 'archiver';

/** Every entry of a zip, by name (test bundles are small). */
export async function unzipAll(path: string): Promise<Map<string, Buffer>> {
  const reader = await BundleReader.open(path);
  try {
    const out = new Map<string, Buffer>();
    for (const name of reader.entries.keys()) out.set(name, await reader.read(name));
    return out;
  } finally {
    reader.close();
  }
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
