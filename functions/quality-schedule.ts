import { scheduled } from './middleware/scheduled.js';
import { alertCap, quality } from './services/twin.js';

/**
 * The scheduled quality evaluation (functions/routes.ts `schedules`): EventBridge invokes it in AWS, a timer in the
 * local twin. Every model's coverage, error and input drift against their bands (docs/models.md, "Quality alerts"),
 * then the alert cap's summaries of the windows that are over ("Alert cap").
 */
export const handler = scheduled('quality.evaluate', async (services) => ({ ...(await services.get(quality).evaluate()), ...(await services.get(alertCap).summarise()) }));
