// The page shell: header, token dialog, notices, the hash router and the one live feed of run changes.
import './style.css';
import { ApiError, api, streamRunChanges, type Pipelines, type RunChange } from './api.ts';
import { onTokenChange, readToken, saveToken } from './auth.ts';
import { h, replace } from './dom.ts';
import { renderTargets } from './views/targets.ts';
import { renderRuns } from './views/runs.ts';
import { renderRun } from './views/run.ts';

export interface ViewContext {
  /** Aborted when the page leaves the view: fetches and streams stop with it. */
  signal: AbortSignal;
  onRunChange: (listener: (change: RunChange) => void) => void;
  /** After the live feed was lost and is back: a view reloads what it may have missed. */
  onReconnect: (listener: () => void) => void;
  report: (error: unknown) => void;
  confirm: (title: string, text: string, action: string) => Promise<boolean>;
  pipelines: () => Promise<Pipelines>;
  /** The query of the hash (`#/runs?app=x`). */
  query: URLSearchParams;
}

const isAbort = (error: unknown) => (error as Error)?.name === 'AbortError';

const notices = h('div', { class: 'notices', role: 'status', 'aria-live': 'polite' });
const main = h('main', { id: 'view' });
const tokenState = h('span', { class: 'token-state' });

function tokenMessage(error: ApiError): HTMLElement {
  const what = error.write
    ? 'This action needs the API token (DEPLOY_API_TOKEN, the one deploy_server serve was started with).'
    : 'This page needs a token: the server answers reads only with one (DEPLOY_API_READ_TOKEN, or DEPLOY_API_TOKEN).';
  return h('div', { class: 'notice warn', 'data-notice': 'token' },
    h('strong', null, readToken() ? 'The token was refused. ' : 'No token. '), what, ' ',
    h('button', { type: 'button', onclick: openTokenDialog }, 'Enter the token'),
    h('span', { class: 'hint' }, ' It is kept in this tab’s session storage only and sent as an Authorization header, never in a URL.'),
    h('span', { class: 'hint' }, ` (server: ${error.message})`),
  );
}

function report(error: unknown): void {
  if (isAbort(error)) return;
  const notice = error instanceof ApiError && error.status === 401
    ? tokenMessage(error)
    : h('div', { class: 'notice error' }, h('strong', null, 'Error: '), error instanceof Error ? error.message : String(error));
  notice.append(h('button', { type: 'button', class: 'dismiss', 'aria-label': 'dismiss', onclick: () => notice.remove() }, '×'));
  const kind = notice.getAttribute('data-notice');
  if (kind) notices.querySelector(`[data-notice="${kind}"]`)?.remove();
  notices.append(notice);
}

// --- dialogs ---------------------------------------------------------------------------------------

const tokenInput = h('input', { type: 'password', name: 'token', autocomplete: 'off', placeholder: 'DEPLOY_API_TOKEN', 'aria-label': 'API token' });
const tokenDialog = h('dialog', { class: 'dialog', 'aria-label': 'API token' },
  h('form', { onsubmit: (event: SubmitEvent) => {
    event.preventDefault();
    saveToken(tokenInput.value.trim() || null);
    tokenDialog.close();
  } },
    h('h2', null, 'API token'),
    h('p', null, 'Reads and writes send it as ', h('code', null, 'Authorization: Bearer …'), '. It stays in this tab’s session storage.'),
    tokenInput,
    h('div', { class: 'actions' },
      h('button', { type: 'button', onclick: () => { saveToken(null); tokenDialog.close(); } }, 'Forget'),
      h('button', { type: 'button', onclick: () => tokenDialog.close() }, 'Close'),
      h('button', { type: 'submit', class: 'primary' }, 'Save'),
    ),
  ),
);

function openTokenDialog(): void {
  tokenInput.value = readToken() ?? '';
  tokenDialog.showModal();
  tokenInput.focus();
}

const confirmTitle = h('h2');
const confirmText = h('p');
const confirmButton = h('button', { type: 'button', class: 'primary', 'data-confirm': 'yes' });
const confirmDialog = h('dialog', { class: 'dialog', 'aria-labelledby': 'confirm-title' },
  confirmTitle, confirmText,
  h('div', { class: 'actions' },
    h('button', { type: 'button', 'data-confirm': 'no', onclick: () => confirmDialog.close('no') }, 'Cancel'),
    confirmButton,
  ),
);
confirmTitle.id = 'confirm-title';
confirmButton.addEventListener('click', () => confirmDialog.close('yes'));

function confirmAction(title: string, text: string, action: string): Promise<boolean> {
  confirmTitle.textContent = title;
  confirmText.textContent = text;
  confirmButton.textContent = action;
  confirmDialog.returnValue = '';
  confirmDialog.showModal();
  return new Promise((resolve) => confirmDialog.addEventListener('close', () => resolve(confirmDialog.returnValue === 'yes'), { once: true }));
}

// --- the live feed of run changes ------------------------------------------------------------------

const changeListeners = new Set<(change: RunChange) => void>();
const reconnectListeners = new Set<() => void>();
let feed: AbortController | null = null;

async function followRunChanges(): Promise<void> {
  feed?.abort();
  const controller = new AbortController();
  feed = controller;
  let connections = 0;
  while (!controller.signal.aborted) {
    try {
      await streamRunChanges({
        onOpen: () => {
          if (connections++ > 0) for (const listener of reconnectListeners) listener();
        },
        onEvent: (change) => changeListeners.forEach((listener) => listener(change)),
      }, controller.signal);
    } catch (error) {
      if (isAbort(error)) return;
      // Without a (good) token there is nothing to follow until one is given.
      if (error instanceof ApiError && error.status === 401) return;
    }
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

// --- router ----------------------------------------------------------------------------------------

let pipelinesCache: Promise<Pipelines> | null = null;
let current: AbortController | null = null;

function route(): void {
  current?.abort();
  const controller = new AbortController();
  current = controller;
  changeListeners.clear();
  reconnectListeners.clear();
  notices.replaceChildren();
  const [path, search = ''] = location.hash.replace(/^#/, '').split('?');
  const context: ViewContext = {
    signal: controller.signal,
    onRunChange: (listener) => changeListeners.add(listener),
    onReconnect: (listener) => reconnectListeners.add(listener),
    report,
    confirm: confirmAction,
    pipelines: () => {
      pipelinesCache ??= api.pipelines().catch((error) => {
        pipelinesCache = null;
        throw error;
      });
      return pipelinesCache;
    },
    query: new URLSearchParams(search),
  };
  const runMatch = /^\/runs\/(\d+)$/.exec(path);
  const view = runMatch ? renderRun(context, Number(runMatch[1])) : path === '/runs' ? renderRuns(context) : renderTargets(context);
  for (const link of document.querySelectorAll('nav a')) {
    link.toggleAttribute('aria-current', link.getAttribute('href') === (runMatch || path === '/runs' ? '#/runs' : '#/'));
  }
  replace(main, view);
  window.scrollTo(0, 0);
}

function showTokenState(): void {
  tokenState.textContent = readToken() ? 'token set' : 'no token';
  tokenState.className = `token-state ${readToken() ? 'set' : 'unset'}`;
}

document.body.append(
  h('header', { class: 'top' },
    h('a', { class: 'brand', href: '#/' }, 'deploy_server'),
    h('nav', null, h('a', { href: '#/' }, 'Targets'), h('a', { href: '#/runs' }, 'Runs')),
    h('button', { type: 'button', class: 'token', onclick: openTokenDialog, 'data-action': 'token', title: 'API token' }, tokenState),
  ),
  notices,
  main,
  tokenDialog,
  confirmDialog,
);
showTokenState();
onTokenChange(() => {
  showTokenState();
  pipelinesCache = null;
  void followRunChanges();
  route();
});
window.addEventListener('hashchange', route);
void followRunChanges();
route();
