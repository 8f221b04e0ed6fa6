import { App } from 'aws-cdk-lib';
import { EnvironmentConfigError } from './environments.js';
import { addTwinserve } from './platform.js';

// `npx cdk synth|deploy --all -c env=<name>` (cdk.json runs this file): one environment's stacks.
const app = new App();
try {
  addTwinserve(app);
} catch (error) {
  if (!(error instanceof EnvironmentConfigError)) throw error;
  console.error(error.message);
  process.exit(1);
}
