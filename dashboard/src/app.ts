import { ApiClient } from './api.js';
import type { DashboardConfig } from './config.js';
import type { Session } from './session.js';
import { DashboardView } from './ui/dashboard-view.js';
import { renderLoginView } from './ui/login-view.js';

/** The longest delay setTimeout honours (about 24.8 days); longer ones fire at once. */
const maxTimeout = 2 ** 31 - 1;

/**
 * Sign-in state. The session (and so the token) exists only here; ending it drops the token, stops every
 * loop of the dashboard and returns to the sign-in page with the reason.
 */
export class App {
  private readonly api: ApiClient;
  private session: Session | undefined;
  private dashboard: DashboardView | undefined;
  private expiryTimer: number | undefined;

  constructor(
    private readonly root: HTMLElement,
    config: DashboardConfig,
  ) {
    this.api = new ApiClient(
      config.apiUrl,
      () => this.session?.token,
      () => this.endSession('Your session has ended: the API no longer accepts it. Sign in again.'),
    );
  }

  start(): void {
    this.showLogin();
  }

  private showLogin(notice?: string): void {
    renderLoginView(this.root, { api: this.api, onSignedIn: (session) => this.startSession(session), ...(notice ? { notice } : {}) });
    this.root.removeAttribute('aria-busy');
  }

  private startSession(session: Session): void {
    this.session = session;
    window.clearTimeout(this.expiryTimer);
    this.expiryTimer = window.setTimeout(
      () => this.endSession('Your session expired. Sign in again.'),
      Math.min(maxTimeout, Math.max(0, session.expiresAt - Date.now())),
    );
    this.dashboard = new DashboardView({
      api: this.api,
      session,
      container: this.root,
      onSignOut: () => this.endSession('You signed out.'),
    });
    void this.dashboard.start();
  }

  private endSession(notice: string): void {
    if (!this.session) return;
    this.session = undefined;
    window.clearTimeout(this.expiryTimer);
    this.dashboard?.dispose();
    this.dashboard = undefined;
    this.showLogin(notice);
  }
}
