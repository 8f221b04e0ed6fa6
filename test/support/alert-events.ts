import { randomUUID } from 'node:crypto';

/**
 * An alert event as `twin audit export` writes it and the alert history stores it (AlertEvent): a reference-
 * model reading below the band, a minute ago, of `plant-a`'s operator `olga`; `overrides` change any field.
 * The import, rebuild and tenancy tests build theirs from this one.
 */
export function alertEvent(overrides: Record<string, unknown> = {}) {
  return {
    id: randomUUID(),
    time: new Date(Date.now() - 60_000).toISOString(),
    kind: 'alert',
    model: 'reactor-yield',
    version: '1.0.0',
    rule: 'below_min',
    severity: 'warning',
    principal: 'olga',
    plant: 'plant-a',
    inputs: { temp: 300, pressure: 1, flow: 50 },
    prediction: 60,
    interval: null,
    thresholds: { min: 72, max: 95 },
    requestId: randomUUID(),
    ...overrides,
  };
}
