// Gitea commit statuses: each deploy marks its commit pending, then success or failure, under the
// context `deploy/<app>@<host>`, so a push in Gitea shows whether it reached the host.
import { isCommitId } from './commit-id.ts';
import type { GiteaSink, RunFacts, SinkRequest } from './notification-config.ts';

/** Gitea's states: a run's status mapped onto them. */
export function commitState(facts: Pick<RunFacts, 'event' | 'status'>): 'pending' | 'success' | 'failure' | 'error' | 'warning' {
  if (facts.event === 'run.start') return 'pending';
  if (facts.status === 'success') return 'success';
  if (facts.status === 'failure') return 'failure';
  if (facts.status === 'skipped') return 'warning';
  return 'error'; // cancelled, interrupted
}

/**
 * POST /api/v1/repos/{owner}/{repo}/statuses/{sha} with `token` auth; undefined for a run with no
 * pushed repository or no full commit id (a CLI deploy of whatever the branch holds).
 */
export function commitStatusRequest(sink: GiteaSink, facts: RunFacts, repository: string | null): SinkRequest | undefined {
  const [owner, repo, ...more] = (repository ?? '').split('/');
  if (!owner || !repo || more.length > 0 || !facts.commit || !isCommitId(facts.commit)) return undefined;
  const state = commitState(facts);
  const description = state === 'pending' ? `deploying (run #${facts.run_id})` : `${facts.status}${facts.failed_step ? ` at ${facts.failed_step}` : ''} (run #${facts.run_id})`;
  return {
    method: 'POST',
    url: `${sink.url}/api/v1/repos/${encodeURIComponent(owner)}/${encodeURIComponent(repo)}/statuses/${facts.commit}`,
    headers: { 'content-type': 'application/json', authorization: `token ${sink.token}` },
    body: JSON.stringify({ state, context: `deploy/${facts.app}@${facts.host}`, description, ...(facts.run_url ? { target_url: facts.run_url } : {}) }),
  };
}
