import type { ApiClient } from '../api.js';
import { ApiError, NetworkError } from '../errors.js';
import { sessionFromLogin, type Session } from '../session.js';
import type { LoginResponse } from '../types.js';
import { h, replace } from './dom.js';

/** What a failed sign-in tells the user. Never which of username or password was wrong (the API does not say). */
export function loginErrorMessage(error: unknown): string {
  if (error instanceof NetworkError) return `Cannot reach the API (${error.url}). Check the connection and try again.`;
  if (error instanceof ApiError) {
    if (error.status === 401) return 'Wrong username or password.';
    if (error.status === 429) return `Too many sign-in attempts. Try again in ${error.retryAfterSeconds ?? 60} s.`;
    if (error.status === 503) return 'Sign-in is unavailable right now. Try again in a minute.';
    if (error.status === 400) return 'Enter a username and a password.';
    return `Sign-in failed: ${error.message}`;
  }
  return 'Sign-in failed unexpectedly. Reload the page and try again.';
}

export interface LoginViewOptions {
  api: ApiClient;
  /** Shown above the form: "Your session expired", "You signed out". */
  notice?: string;
  onSignedIn: (session: Session) => void;
}

/** The sign-in page: username and password, POST /api/v1/auth/login. */
export function renderLoginView(container: HTMLElement, options: LoginViewOptions): void {
  const username = h('input', { id: 'login-username', name: 'username', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false' });
  const password = h('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const error = h('p', { id: 'login-error', class: 'form-error', role: 'alert' });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h(
    'form',
    { class: 'login-form', 'aria-describedby': 'login-error', novalidate: true },
    h('div', { class: 'field' }, h('label', { for: 'login-username' }, 'Username'), username),
    h('div', { class: 'field' }, h('label', { for: 'login-password' }, 'Password'), password),
    error,
    submit,
  );

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const user = username.value.trim();
    if (!user || !password.value) {
      error.textContent = 'Enter a username and a password.';
      (user ? password : username).focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = 'Signing in…';
    form.setAttribute('aria-busy', 'true');
    error.textContent = '';
    options.api
      .post<LoginResponse>('/api/v1/auth/login', { username: user, password: password.value }, { auth: false })
      .then((response) => {
        password.value = '';
        options.onSignedIn(sessionFromLogin(response, user));
      })
      .catch((e: unknown) => {
        error.textContent = loginErrorMessage(e);
        password.value = '';
        password.focus();
      })
      .finally(() => {
        submit.disabled = false;
        submit.textContent = 'Sign in';
        form.removeAttribute('aria-busy');
      });
  });

  replace(
    container,
    h(
      'main',
      { id: 'main', class: 'login-page' },
      h(
        'div',
        { class: 'login-card' },
        h('h1', {}, 'Twinserve'),
        h('p', { class: 'muted' }, 'Process digital twin dashboard. Sign in to predict and monitor.'),
        options.notice ? h('p', { class: 'notice', role: 'status' }, options.notice) : null,
        form,
      ),
    ),
  );
  username.focus();
}
