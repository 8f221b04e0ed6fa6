import type { z } from 'zod';
import type { Contracts, RouteKey } from '../../functions/contracts.js';

/**
 * The SDK's route types as inferred from the contracts (build time only): client/build/api-types.ts prints
 * them, resolved, into client/api-types.ts.
 */

type ContractOf<K extends RouteKey> = Contracts[K];
export type ResponseOf<K extends RouteKey> = z.output<ContractOf<K>['response']>;
export type BodyOf<K extends RouteKey> = ContractOf<K> extends { body: infer B extends z.ZodType }
  ? z.input<B>
  : ContractOf<K> extends { modelBody: infer M extends z.ZodType }
    ? z.input<M>
    : undefined;
export type QueryOf<K extends RouteKey> = ContractOf<K> extends { query: infer Q extends z.ZodType } ? Partial<Record<keyof z.input<Q>, string | number>> : undefined;
export type { RouteKey };
