import { App } from './app.js';
import { ConfigError, parseDashboardConfig, type DashboardConfig } from './config.js';
import './styles.css';

/** config.json next to index.html (written by the DashboardStack; served as `{}` by the local twin). */
async function loadDashboardConfig(): Promise<DashboardConfig> {
  const response = await fetch('./config.json', { cache: 'no-store', credentials: 'omit' });
  if (response.status === 404) return { apiUrl: '' };
  if (!response.ok) throw new ConfigError(`config.json answered ${response.status}`);
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    throw new ConfigError('config.json is not valid JSON');
  }
  return parseDashboardConfig(body);
}

const root = document.getElementById('app');
if (root) {
  loadDashboardConfig()
    .then((config) => new App(root, config).start())
    .catch((error: unknown) => {
      const message = document.createElement('p');
      message.className = 'fatal';
      message.setAttribute('role', 'alert');
      message.textContent = `The dashboard cannot start: ${(error as Error).message}`;
      root.replaceChildren(message);
      root.removeAttribute('aria-busy');
    });
}
