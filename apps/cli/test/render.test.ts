import type { VerificationReport } from '@quittance/verifier';
import { describe, expect, it } from 'vitest';
import { renderReport } from '../src/render';

describe('renderReport', () => {
  it("shows a receipt's control characters instead of obeying them", () => {
    // A hostile id: a newline, a green forged PASS line, then "hidden" mode for what follows.
    const forged = 'trcpt_x\n\u001b[32mPASS  1 receipt: all asserted\u001b[8m';
    const report: VerificationReport = {
      ok: false,
      claims: {},
      receipts: [
        {
          id: forged,
          claims: {
            signature_valid: {
              status: 'refuted',
              source: 'verifier_derived',
              reason: `signature of ${forged} does not verify`,
            },
          },
        },
      ],
    } as unknown as VerificationReport;
    const text = renderReport(report);
    const controls = [...text].filter(
      (c) => c !== '\n' && (c < ' ' || (c >= '\u007f' && c <= '\u009f')),
    );
    expect(controls).toEqual([]);
    const lines = text.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toBe(
      'receipt trcpt_x\\u000a\\u001b[32mPASS  1 receipt: all asserted\\u001b[8m',
    );
    expect(lines[2]).toMatch(/^FAIL /);
  });

  it("marks what rests on the evidence maker's word, as --json does with source", () => {
    const claim = (source: string) => ({ status: 'asserted', source, reason: 'valid' });
    const report = {
      ok: true,
      claims: {},
      receipts: [
        {
          id: 'trcpt_1',
          claims: {
            signature_valid: claim('verifier_derived'),
            key_valid_at_issuance: claim('operator_asserted'),
          },
        },
      ],
    } as unknown as VerificationReport;
    const lines = renderReport(report).split('\n');
    expect(lines[1]).toMatch(/signature_valid +asserted valid$/);
    expect(lines[2]).toMatch(/key_valid_at_issuance +asserted valid \[operator's word: pin/);
  });
});
