/**
 * The `skip` of a test that needs something the machine may lack (sshd, Chromium, an ssh client):
 * false when it is there. When it is not, the test runs anyway and fails with the reason — a green
 * run must hold what it claims — unless DEPLOY_TESTS_ALLOW_SKIP=1 asks for the skip.
 */
export function skipUnlessAllowed(reason: string | null, env: NodeJS.ProcessEnv = process.env): string | false {
  return reason && env.DEPLOY_TESTS_ALLOW_SKIP === '1' ? `${reason} (DEPLOY_TESTS_ALLOW_SKIP=1)` : false;
}
