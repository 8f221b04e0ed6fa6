import { z } from 'zod';
import { InvalidRequestError } from '../errors.js';
import type { AuditLog, AuditRecord } from '../ports.js';
import { plantScope } from '../auth/access.js';
import type { Principal } from '../auth/tokens.js';

const maxRangeDays = 31;

export const auditQuerySchema = z.strictObject({
  principal: z.string().min(1).max(160).optional(),
  action: z.string().regex(/^[a-z]+\.[a-z]+$/, 'must look like twin.predict').optional(),
  outcome: z
    .union([z.enum(['success', 'failure']), z.string().regex(/^[1-5]\d\d$/, 'must be success, failure or an HTTP status').transform(Number)])
    .optional(),
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(2048).optional(),
});
export type AuditQueryRequest = z.infer<typeof auditQuerySchema>;

/** Querying the audit log: newest first, filtered, paginated, limited to the caller's plant. */
export class AuditService {
  constructor(
    private readonly log: AuditLog,
    private readonly options: { now?: () => number } = {},
  ) {}

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
      from: new Date(from).toISOString(),
      to: new Date(to).toISOString(),
      limit: request.limit,
      ...(request.cursor ? { cursor: request.cursor } : {}),
    });
    return { items: result.items, next_cursor: result.nextCursor ?? null };
  }
}
