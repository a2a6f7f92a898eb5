/**
 * Facts: what components establish about an envelope on its way, as typed fields instead of a string-keyed
 * bag. A component declares the facts it provides and the ones it requires; `sluice lint` refuses an order
 * in which a component requires a fact that no earlier component provides (checkFactOrder below), so a
 * pipeline that could only quarantine every instance never starts.
 */
import type { KeyLevel } from '../anonymization/store.js';
import type { Image } from '../storage/metadata-index.js';

export interface Facts {
  /** Durably in the blob store under its SOP Instance UID (the `storage` sink): acknowledging it is safe. */
  readonly stored?: { readonly key: string };
  /** In the metadata index (the `index` sink); `created` is false when it replaced the same SOP instance. */
  readonly indexed?: { readonly image: Image; readonly created: boolean };
  /** The series types its series has now (`classify_series`). */
  readonly seriesTypes?: { readonly ids: readonly number[] };
  /** De-identified by the `anonymize` operator, with the key recorded for it (when keys are recorded). */
  readonly anonymized?: { readonly keyId?: number };
  /** Given its real identifiers back by `reverse_anonymize`, from this key matched at this level. */
  readonly reversed?: { readonly keyId: number; readonly level: KeyLevel };
  /** Queued in the forwarding outbox this many times (once per matching rule; once for `dicom_forward`). */
  readonly forwarded?: { readonly entries: number };
}

export type FactName = keyof Facts;

export const FACT_NAMES: readonly FactName[] = [
  'stored',
  'indexed',
  'seriesTypes',
  'anonymized',
  'reversed',
  'forwarded',
];

/** What a component declares about facts; both lists are empty when left out. */
export interface FactContract {
  readonly provides?: readonly FactName[];
  readonly requires?: readonly FactName[];
}

/** One component of a pipeline, in order, as the fact check sees it. */
export interface FactStep extends FactContract {
  readonly type: string;
  /** `operators[0]`, `sinks[2]`… */
  readonly path: string;
}

export interface FactProblem {
  /** The step that requires what no earlier step provides. */
  readonly step: FactStep;
  readonly fact: FactName;
  readonly message: string;
}

/**
 * Checks that every step's required facts are provided by a step before it. `providersOf` names the
 * component types that could provide a fact, for the message.
 */
export function checkFactOrder(
  steps: readonly FactStep[],
  providersOf: (fact: FactName) => readonly string[],
): FactProblem[] {
  const problems: FactProblem[] = [];
  const provided = new Set<FactName>();
  steps.forEach((step, i) => {
    for (const fact of step.requires ?? []) {
      if (provided.has(fact)) continue;
      const providers = providersOf(fact);
      const later = steps.slice(i + 1).find((s) => s.provides?.includes(fact));
      const hint = later
        ? `move it after ${later.type} (${later.path})`
        : `add ${providers.map((p) => `\`${p}\``).join(' or ') || 'a component that provides it'} before it`;
      problems.push({
        step,
        fact,
        message: `${step.type} requires the fact "${fact}", which no earlier component provides: ${hint}`,
      });
    }
    for (const fact of step.provides ?? []) provided.add(fact);
  });
  return problems;
}
