import { describe, expect, it } from 'vitest';
import { readVerifierPage } from '../src/page-file';

describe('readVerifierPage (what the API serves at /verify)', () => {
  it('gives the built page, or builds it when dist/verify.html is missing', async () => {
    const page = await readVerifierPage();
    expect(page).toMatch(/^<!doctype html>/);
    expect(page).toContain("connect-src 'none'");
    // One file: the script and the stylesheet are inline, nothing is loaded from elsewhere.
    expect(page).not.toMatch(/<script[^>]+src=|<link[^>]+stylesheet/);
  }, 60_000);
});
