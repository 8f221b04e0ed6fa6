import * as z from 'zod';
import { InvalidRequestError, type FieldIssue } from '../errors.js';
import type { AlertEvent, AlertStateStore, ApiKeyStore, AuditLog, AuditRecord, ImportMark, ModelStore, UserStore } from '../ports.js';
import { modelVisibleTo } from '../models/owner-rules.js';
import { canSeePlant, isPlatformAdmin, plantScope } from '../auth/access.js';
import { plantSchema } from '../auth/users-service.js';
import { identifier, maxFeatures, modelNameSchema, semverSchema } from '../manifest.js';
import { ForbiddenError } from '../errors.js';
import type { Principal } from '../auth/tokens.js';
import type { ModelOwner } from '../models/tenancy.js';

const maxRangeDays = 31;

export const auditQuerySchema = z.strictObject({
  principal: z.string().min(1).max(160).optional(),
  action: z.string().regex(/^[a-z]+\.[a-z]+$/, 'must look like twin.predict').optional(),
  outcome: z
    .union([z.enum(['success', 'failure']), z.string().regex(/^[1-5]\d\d$/, 'must be success, failure or an HTTP status').transform(Number)])
    .optional(),
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
  /** `native`: only what this deployment wrote; `imported`: only records imported from edge boxes. */
  origin: z.enum(['native', 'imported']).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(2048).optional(),
});
export type AuditQueryRequest = z.infer<typeof auditQuerySchema>;

/**
 * An imported time: any ISO 8601 spelling with an offset, stored as its instant's one spelling (`toISOString`).
 * A record is keyed, filed by day and ordered by the text of its time: `…Z`, `….000Z`, `+00:00` and `+14:00`
 * spellings of one instant were stored as that many records, and a `+14:00` one under the day and hour it spelt.
 */
const isoTime = z.iso.datetime({ offset: true }).transform((time) => new Date(time).toISOString());

/** How far ahead of the importing server's clock an imported time may be: an edge box's clock running fast. */
export const maxImportAheadMs = 86_400_000;

/**
 * Text of an imported record that `twin audit` and `twin alerts tail` print to a terminal, which obeys it: no
 * control characters (C0, DEL, C1), line or paragraph separators, or bidirectional overrides (a line break forged
 * table rows, an escape sequence erased lines or set the clipboard). What this deployment writes in these fields
 * never holds them (paths arrive percent-encoded; names, codes and versions are its own). `subject`, `userAgent`
 * and `sourceIp` are not printed there and keep what it does write (a failed login's claimed name, a user agent
 * with a tab), so its own exports import whole.
 */
const text = (max: number, min = 0) =>
  z
    .string()
    .min(min)
    .max(max)
    .regex(/^[^\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069]*$/u, 'must hold no control characters (line breaks, escapes, bidirectional overrides)');

// A record's plant is a plant name as users carry them (plantSchema), its alert's model a model name: anything
// else names no plant or model that can exist, yet would be stored and keyed (an alert's history partition).
const auditRecordSchema = z.strictObject({
  time: isoTime,
  requestId: text(128, 1),
  principal: text(160, 1),
  principalType: z.enum(['user', 'key', 'anonymous']),
  subject: z.string().max(128).optional(),
  role: text(32).optional(),
  plant: plantSchema.optional(),
  keyId: text(32).optional(),
  action: text(64),
  method: text(16),
  resource: text(512),
  outcome: z.number().int().min(100).max(599),
  errorCode: text(64).optional(),
  sourceIp: z.string().max(64).optional(),
  userAgent: z.string().max(256).optional(),
  modelVersion: text(64).optional(),
});

const alertEventSchema = z.strictObject({
  id: text(64, 1),
  time: isoTime,
  kind: z.enum(['alert', 'resolved']),
  model: modelNameSchema,
  // A model's version and feature names, as its manifest has them (the dashboard and CLI print both).
  version: semverSchema.max(64),
  rule: z.enum(['below_min', 'above_max']),
  severity: z.enum(['warning', 'critical', 'info']),
  principal: text(160, 1),
  plant: plantSchema.optional(),
  inputs: z.record(identifier, z.number()).refine((inputs) => Object.keys(inputs).length <= maxFeatures, `at most ${maxFeatures} inputs (a model's features)`),
  prediction: z.number(),
  interval: z.tuple([z.number(), z.number()]).nullable(),
  thresholds: z.object({ min: z.number(), max: z.number() }),
  requestId: text(128),
});

/** Names an edge box in the import mark (its host name, or the id its operators use). */
export const edgeIdSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/, 'must be 1-64 letters, digits, dot, dash, colon or underscore');

/**
 * POST /api/v1/audit/import: what `twin audit export` wrote at the edge, and which box it came from. A
 * record's own `imported` field is refused (strict schemas): only the server sets the mark.
 */
export const auditImportSchema = z
  .strictObject({
    edge: edgeIdSchema.default('unnamed'),
    audit: z.array(auditRecordSchema).max(1000).default([]),
    alerts: z.array(alertEventSchema).max(1000).default([]),
  })
  .refine((b) => b.audit.length + b.alerts.length > 0, { message: 'give audit records or alerts to import', path: ['audit'] });
export type AuditImport = z.infer<typeof auditImportSchema>;

/** What an import did with each kind: stored, already there (a duplicate), or past its retention (not written). */
export interface AuditImportResult {
  audit: { stored: number; duplicate: number; expired: number };
  alerts: { stored: number; duplicate: number; expired: number };
}

/**
 * Refuses (400, naming each) records and alerts dated more than {@link maxImportAheadMs} after `now`: their
 * retention runs from their time, so a record dated in year 9999 was never to expire, and an alert dated ahead
 * stood first in its plant's alert list for good.
 */
function checkNotAhead(body: AuditImport, now: number): void {
  const limit = now + maxImportAheadMs;
  const issues: FieldIssue[] = [];
  let total = 0;
  for (const [list, items] of [['audit', body.audit], ['alerts', body.alerts]] as const) {
    items.forEach((item, i) => {
      if (Date.parse(item.time) <= limit) return;
      total += 1;
      if (issues.length < 20) issues.push({ field: `${list}.${i}.time`, rule: 'not_future', message: `${list}.${i}.time ${item.time} is more than a day after the server's clock` });
    });
  }
  if (total > 0) throw new InvalidRequestError(`${issues[0]!.message}${total > 1 ? ` (and ${total - 1} more)` : ''}`, issues, total);
}

/** Querying the audit log: newest first, filtered, paginated, limited to the caller's plant; and importing edge records. */
export class AuditService {
  constructor(
    private readonly log: AuditLog,
    private readonly options: {
      now?: () => number;
      /** Who belongs to which plant, for the import check (without it only platform admins import). */
      directory?: { users: UserStore; keys: ApiKeyStore };
      /** Whose models are whose, for the import check of alerts (a plant's model has only its plant's alerts). */
      models?: Pick<ModelStore, 'getOwner'>;
      /** How long records and alert events are kept (their stores' TTL): an imported one already past it is not written. */
      retention?: { auditDays: number; alertDays: number };
    } = {},
    private readonly alerts?: AlertStateStore,
  ) {}

  /**
   * Imports records exported from an edge twin. Each is stored with an import mark (who imported it, from
   * which edge box, when), so it never passes for a record this deployment wrote. A plant admin speaks only
   * for its own plant: every record's plant must be its plant, and every principal a record names must be a
   * user (or a key of a user) of that plant, or anonymous; a platform admin may import any record. Anything
   * refused refuses the whole import, before anything is written. Records are keyed by principal, time and
   * request id (alerts by id), so importing the same export twice stores nothing twice.
   */
  async import(principal: Principal, body: AuditImport): Promise<AuditImportResult> {
    const now = this.options.now?.() ?? Date.now();
    checkNotAhead(body, now);
    await this.checkImportable(principal, body);
    await this.checkAlertModels(body.alerts);
    const mark: ImportMark = { by: principal.id, edge: body.edge, at: new Date(now).toISOString() };
    const result: AuditImportResult = { audit: { stored: 0, duplicate: 0, expired: 0 }, alerts: { stored: 0, duplicate: 0, expired: 0 } };
    // Past its retention a record would be stored unreadable and then deleted by the TTL: counted, not written.
    const retention = this.options.retention;
    const expired = (time: string, days: number | undefined) => days !== undefined && Date.parse(time) + days * 86_400_000 <= now;
    for (const record of body.audit) {
      if (expired(record.time, retention?.auditDays)) result.audit.expired++;
      else result.audit[await this.log.write({ ...(record as AuditRecord), imported: mark })]++;
    }
    if (body.alerts.length > 0 && !this.alerts) throw new ForbiddenError('This deployment keeps no alert history');
    for (const event of body.alerts) {
      if (expired(event.time, retention?.alertDays)) result.alerts.expired++;
      else result.alerts[await this.alerts!.recordEvent({ ...(event as AlertEvent), imported: mark })]++;
    }
    return result;
  }

  /** Refuses (403, naming the record) records of another plant, or naming principals the importer may not speak for. */
  private async checkImportable(principal: Principal, body: AuditImport): Promise<void> {
    const items = [...body.audit.map((r, i) => ({ where: `audit.${i}`, plant: r.plant, principal: r.principal })), ...body.alerts.map((e, i) => ({ where: `alerts.${i}`, plant: e.plant, principal: e.principal }))];
    const foreign = items.find((r) => !canSeePlant(principal, r.plant));
    if (foreign) {
      throw new ForbiddenError(`You may import records of your own plant only (found plant ${foreign.plant ?? 'none'})`, [
        { field: `${foreign.where}.plant`, rule: 'own_plant', message: 'a record of another plant (or of none)' },
      ]);
    }
    if (isPlatformAdmin(principal)) return;
    if (!this.options.directory) throw new ForbiddenError('Only a platform admin may import records here');
    const plantOf = new Map<string, string | undefined>();
    const issues: FieldIssue[] = [];
    for (const item of items) {
      if (item.principal === 'anonymous') continue;
      if (!plantOf.has(item.principal)) plantOf.set(item.principal, await this.principalPlant(item.principal));
      if (plantOf.get(item.principal) !== principal.plant) {
        issues.push({ field: `${item.where}.principal`, rule: 'own_plant_principal', message: `${item.principal} is not a principal of your plant` });
        if (issues.length >= 10) break;
      }
    }
    if (issues.length > 0) throw new ForbiddenError(`You may import records of your own plant's principals only (${issues[0]!.message})`, issues);
  }

  /**
   * Refuses (403, naming each) alerts of a plant's model that name another plant: no principal of that plant could
   * have raised them. A plant admin's alerts are of its own plant (above), so this is what keeps it from writing
   * into another plant's model's history (the model's partition, which platform principals read). A name this
   * deployment does not know (a model only an edge box has) is no plant's.
   */
  private async checkAlertModels(alerts: AuditImport['alerts']): Promise<void> {
    const models = this.options.models;
    if (!models || alerts.length === 0) return;
    const owners = new Map<string, Promise<ModelOwner | undefined>>();
    const issues: FieldIssue[] = [];
    for (const [i, event] of alerts.entries()) {
      if (!owners.has(event.model)) owners.set(event.model, models.getOwner(event.model));
      if (modelVisibleTo(await owners.get(event.model), { plant: event.plant })) continue;
      issues.push({ field: `alerts.${i}.model`, rule: 'model_plant', message: `alerts.${i}.model: ${event.model} is not a model the alert's plant (${event.plant ?? 'none'}) can use` });
      if (issues.length >= 10) break;
    }
    if (issues.length > 0) throw new ForbiddenError(`An alert names a model its plant cannot use (${issues[0]!.message})`, issues);
  }

  /** The plant of a user, or of a key's owner; undefined for a platform principal or one this deployment does not know. */
  private async principalPlant(name: string): Promise<string | undefined> {
    const { users, keys } = this.options.directory!;
    const keyId = /^key:([a-z2-7]{12})$/.exec(name)?.[1];
    const username = keyId ? (await keys.get(keyId))?.owner : name;
    if (!username || username.length > 64) return undefined;
    return (await users.get(username))?.plant;
  }

  async query(principal: Principal, request: AuditQueryRequest): Promise<{ items: AuditRecord[]; next_cursor: string | null }> {
    const now = this.options.now?.() ?? Date.now();
    const to = request.to ? Date.parse(request.to) : now;
    const from = request.from ? Date.parse(request.from) : to - 86_400_000;
    if (from > to) throw new InvalidRequestError('from must not be after to', [{ field: 'from', rule: 'before_to', message: 'from must not be after to' }]);
    if (to - from > maxRangeDays * 86_400_000) {
      throw new InvalidRequestError(`the time range may span at most ${maxRangeDays} days`, [
        { field: 'from', rule: 'max_range', message: `at most ${maxRangeDays} days between from and to` },
      ]);
    }
    const plant = plantScope(principal);
    const result = await this.log.query({
      ...(request.principal ? { principal: request.principal } : {}),
      ...(request.action ? { action: request.action } : {}),
      ...(request.outcome !== undefined ? { outcome: request.outcome } : {}),
      ...(plant !== undefined ? { plant } : {}),
      ...(request.origin ? { origin: request.origin } : {}),
      from: new Date(from).toISOString(),
      to: new Date(to).toISOString(),
      limit: request.limit,
      ...(request.cursor ? { cursor: request.cursor } : {}),
    });
    return { items: result.items, next_cursor: result.nextCursor ?? null };
  }
}
