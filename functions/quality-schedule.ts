import { scheduled } from './middleware/scheduled.js';

/**
 * The scheduled quality evaluation (infra/routes.ts `schedules`): EventBridge invokes it in AWS, a timer in the
 * local twin. Every model's coverage, error and input drift against their bands (docs/models.md, "Quality alerts").
 */
export const handler = scheduled('quality.evaluate', (services) => services.quality.evaluate());
